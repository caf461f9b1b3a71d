"""What ``trunkline simulate`` does once click has parsed its options: run, then print.

Kept out of :mod:`trunkline_workforce.cli` so ``trunkline --help`` imports none of the simulator.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ScenarioError
from .run import Run, simulate_parallel
from .scenario import Scenario, load_scenario, single_queue
from .summary import summary

__all__ = [
    "render",
    "render_replay",
    "replay_command",
    "scenario_from_flags",
    "simulate_command",
    "write_json",
]

FLAGS = ("arrivals", "interval", "aht", "agents", "abandons", "short_abandon")


def scenario_from_flags(
    *,
    arrivals: float | None,
    interval: float | None,
    aht: float | None,
    agents: int | None,
    patience: float | None,
    target: float,
    contacts: int,
    seed: int | None,
    warmup: float | None,
    strategy: str,
    abandons: str | None = None,
    short_abandon: float | None = None,
) -> Scenario:
    """The single-queue scenario of ``trunkline simulate --arrivals … --agents …``."""
    given = {"arrivals": arrivals, "interval": interval, "aht": aht, "agents": agents}
    missing = [f"--{name}" for name, value in given.items() if value is None]
    if missing:
        raise ScenarioError(
            f"give a SCENARIO file, or all of --arrivals, --interval, --aht and --agents "
            f"(missing: {', '.join(missing)})"
        )
    assert arrivals is not None
    assert interval is not None
    assert aht is not None
    assert agents is not None
    return single_queue(
        arrivals=arrivals,
        interval=interval,
        aht=aht,
        agents=agents,
        patience=patience,
        target=target,
        contacts=contacts,
        seed=0 if seed is None else seed,
        warmup=10 * aht if warmup is None else warmup,
        strategy=strategy,
        abandons="ignored" if abandons is None else abandons,
        short_abandon=0.0 if short_abandon is None else short_abandon,
    )


def simulate_command(
    scenario_file: str | None,
    flags: Mapping[str, Any],
    *,
    workers: int = 1,
    pm: Callable[[], Any],
    load: Callable[[str], Any],
) -> tuple[Run, dict[str, Any]]:
    """Build the scenario (from a file, or from the flags), run it, and summarise it.

    ``pm`` gives the plugin manager (strategies and routing hooks come from plugins), ``load``
    builds the configuration pieces a scenario file needs (adapters, strategies, sections).
    """
    if scenario_file is not None:
        clash = [f"--{name}" for name in FLAGS if flags.get(name) is not None]
        if clash:
            raise ScenarioError(f"give a SCENARIO file or {', '.join(clash)}, not both")
        scenario = load_scenario(scenario_file, **load(scenario_file), seed=flags.get("seed"))
    else:
        scenario = scenario_from_flags(**flags)
    manager = pm()
    strategies = {s.name: s for s in manager.collect("trunkline_register_strategies")}
    known = scenario.workspace.queues
    for queue in known:
        if queue.strategy not in strategies:
            raise ScenarioError(
                f'queue "{queue.id}": unknown strategy "{queue.strategy}" '
                f"(known: {', '.join(sorted(strategies))})"
            )
    run = simulate_parallel(scenario, workers, strategies=strategies, hooks=manager.routing_hooks)
    _measured_something(run, from_flags=scenario_file is None)
    return run, summary(run)


def _measured_something(run: Run, *, from_flags: bool) -> None:
    """Refuse a run that measures no contact: its figures would all be empty."""
    r = run.records
    warmup = run.scenario.warmup
    answered, abandoned = r.answered, r.abandoned
    if any(
        t >= warmup and (answered[i] == answered[i] or abandoned[i] == abandoned[i])  # not NaN
        for i, t in enumerate(r.queued)
    ):
        return
    total = len(r)
    during = sum(1 for t in r.queued if t < warmup)
    if not total:
        raise ScenarioError(
            "the run has no contacts (its arrivals bring nobody), so 0 would be measured: "
            "check simulation.arrivals"
        )
    if from_flags:
        fix = "give more --contacts or a shorter --warmup"
    else:
        fix = "give more simulation.contacts or simulation.duration, or a shorter simulation.warmup"
    if during == total:
        raise ScenarioError(
            f"the run has {total:,} contacts and the warm-up ({warmup:g} s) takes {during:,} of "
            f"them, so 0 would be measured: {fix}"
        )
    raise ScenarioError(
        f"the run has {total:,} contacts, the warm-up ({warmup:g} s) takes {during:,} of "
        f"them, and none of the other {total - during:,} was answered or abandoned, so 0 "
        "would be measured: check the arrivals, the agents and their shifts"
    )


def render(data: Mapping[str, Any]) -> str:
    """The summary as a few readable lines (what ``simulate`` prints without ``--json``)."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    fmt: dict[str, Callable[[float | None], str]] = {
        "wait_probability": pct,
        "asa": secs,
        "service_level": pct,
        "abandonment": pct,
    }
    speed = data["contacts_per_second"]
    lines = [
        f"simulated {data['contacts']:,} contacts ({data['measured']:,} measured after warm-up) "
        f"over {data['simulated_seconds'] / 3600:.1f} h in {data['wall_seconds']:.1f} s"
        + (f" ({speed:,.0f} contacts/s)" if speed else ""),
    ]
    comparison = data["comparison"]
    model = comparison.get("model")
    header = f"{'figure':<17} {'simulated':>10} {'95% CI':>21}"
    if model:
        header += f" {model:>10}"
    lines.append(header)
    for name, est in data["estimates"].items():
        if est["value"] is None:
            continue
        show = fmt[name]
        ci = f"{show(est['ci_low'])} – {show(est['ci_high'])}" if est["ci_low"] is not None else "-"
        line = f"{name.replace('_', ' '):<17} {show(est['value']):>10} {ci:>21}"
        if model and name in comparison["figures"]:
            figure = comparison["figures"][name]
            mark = "" if figure["within"] else "  (outside the CI)"
            line += f" {show(figure['model']):>10}{mark}"
        lines.append(line)
    if not model:
        lines.append(f"no Erlang comparison: {comparison['reason']}")
    metrics = data.get("metrics")
    if metrics and metrics.get("workspace"):
        ws = metrics["workspace"]
        extra = [
            ("AHT", secs(ws.get("aht"))),
            ("occupancy", pct(ws.get("occupancy"))),
        ]
        lines.append("   ".join(f"{label} {value}" for label, value in extra))
    return "\n".join(lines)


def write_json(data: Mapping[str, Any]) -> str:
    """JSON with infinities and NaN as null, so every consumer can read it."""
    return json.dumps(_finite(data), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def replay_command(
    events: Sequence[Any],
    recorded: Any,
    changed: Any,
    *,
    workspace: str | None,
    seed: int,
    pm: Any,
) -> dict[str, Any]:
    """Replay a workspace's log under its recorded and its changed configuration.

    ``recorded`` and ``changed`` are checked configurations (``trunkline.config.Config``).
    """
    from trunkline.config import choose_workspace

    from .replay import read_log, recorded_figures, replay, side_by_side

    workspace = choose_workspace(recorded.workspaces, workspace)
    if workspace not in changed.workspaces:
        raise ScenarioError(f'the changed configuration has no workspace "{workspace}"')
    before, after = recorded.workspaces[workspace], changed.workspaces[workspace]
    strategies = {s.name: s for s in pm.collect("trunkline_register_strategies")}
    recording = read_log(events, workspace, seed)
    columns = {
        "recorded": recorded_figures(recording, before),
        "replayed": _figures(
            replay(recording, before, strategies=strategies, hooks=pm.routing_hooks, seed=seed)
        ),
        "changed": _figures(
            replay(recording, after, strategies=strategies, hooks=pm.routing_hooks, seed=seed)
        ),
    }
    queues = [q.id for q in after.queues]
    return {
        "workspace": workspace,
        "contacts": len(recording.arrivals),
        "hours": (recording.end - recording.start) / 3600.0,
        "mean_patience": recording.mean_patience,
        "columns": list(columns),
        "figures": side_by_side(columns, queues),
    }


def _figures(run: Run) -> dict[str, Any]:
    assert run.metrics is not None
    figures: dict[str, Any] = run.metrics.figures(run.scenario.start + run.end)
    return figures


def render_replay(data: Mapping[str, Any]) -> str:
    """The side-by-side table ``trunkline replay`` prints without ``--json``."""
    percent = {"service_level", "abandonment_rate", "wait_probability", "occupancy"}
    seconds = {"asa", "aht"}

    def show(name: str, value: Any) -> str:
        if value is None:
            return "-"
        if name in percent:
            return f"{value:.1%}"
        if name in seconds:
            return f"{value:.1f} s"
        return f"{value:,}"

    lines = [
        f'workspace "{data["workspace"]}": {data["contacts"]:,} recorded contacts over '
        f"{data['hours']:.1f} h",
        f"{'':<18}" + "".join(f"{col:>12}" for col in data["columns"]),
    ]
    for name, values in data["figures"]["workspace"].items():
        cells = "".join(f"{show(name, values[col]):>12}" for col in data["columns"])
        lines.append(f"{name.replace('_', ' '):<18}{cells}")
    return "\n".join(lines)
