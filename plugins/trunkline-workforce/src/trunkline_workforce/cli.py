"""The commands ``trunkline erlang``, ``trunkline simulate`` and ``trunkline replay``.

Only click and :mod:`trunkline.cli` are imported here: ``trunkline --help`` imports this module
to list the commands, so the workforce maths and the simulator are imported inside each
command's function, when it runs. Input a command cannot use ends as the built-in commands'
does, with ``trunkline: error: <what is wrong>`` and status 2.
"""

from __future__ import annotations

from typing import Any

import click

from trunkline import TrunklineError
from trunkline.cli import build, config_sources, fail, plugin_manager, with_store

__all__ = ["COMMANDS", "erlang", "replay", "simulate"]


@click.command("erlang")
@click.option("--arrivals", type=float, required=True, metavar="N", help="Contacts per interval.")
@click.option("--interval", type=float, required=True, metavar="SECONDS", help="The interval.")
@click.option("--aht", type=float, required=True, metavar="SECONDS", help="Average handle time.")
@click.option("--agents", type=int, metavar="N", help="Agents; omitted: the fewest needed.")
@click.option("--patience", type=float, metavar="SECONDS", help="Mean patience: Erlang A.")
@click.option("--target", type=float, default=20.0, metavar="SECONDS", help="Answer target [20].")
@click.option("--service-level", type=float, metavar="SHARE", help="Goal without --agents [0.8].")
@click.option(
    "--abandonment", type=float, metavar="SHARE", help="Goal without --agents: most abandoning."
)
@click.option(
    "--abandons",
    default="ignored",
    metavar="HOW",
    help="Abandons within --target: ignored, missed or met [ignored].",
)
@click.option(
    "--short-abandon", type=float, default=0.0, metavar="SECONDS", help="Abandons not counted [0]."
)
@click.option("--shrinkage", type=float, metavar="SHARE", help="Also print the staff to schedule.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def erlang(
    arrivals: float,
    interval: float,
    aht: float,
    agents: int | None,
    patience: float | None,
    target: float,
    service_level: float | None,
    abandonment: float | None,
    abandons: str,
    short_abandon: float,
    shrinkage: float | None,
    as_json: bool,
) -> None:
    """Erlang C (or Erlang A with --patience) figures for one interval, or the agents needed."""
    import json
    import math

    from . import erlang as wfm

    goal = None
    definition: dict[str, Any] = {
        "target": target,
        "abandons": abandons,
        "short_abandon": short_abandon,
    }
    try:
        if agents is None:
            goal = 0.8 if service_level is None and abandonment is None else service_level
            figures = wfm.agents_for(
                arrivals=arrivals,
                interval=interval,
                aht=aht,
                service_level=goal,
                abandonment=abandonment,
                patience=patience,
                **definition,
            )
        elif service_level is not None:
            raise wfm.ErlangError("--service-level is the goal without --agents: give one")
        elif abandonment is not None:
            raise wfm.ErlangError("--abandonment is a goal without --agents: give one")
        elif patience is None:
            figures = wfm.erlang_c(
                arrivals=arrivals, interval=interval, aht=aht, agents=agents, **definition
            )
        else:
            figures = wfm.erlang_a(
                arrivals=arrivals,
                interval=interval,
                aht=aht,
                agents=agents,
                patience=patience,
                **definition,
            )
        scheduled = None if shrinkage is None else wfm.with_shrinkage(figures.agents, shrinkage)
    except wfm.ErlangError as exc:
        fail(exc)
    data = {
        "model": figures.model,
        "arrivals": arrivals,
        "interval": interval,
        "aht": aht,
        **figures.as_dict(),
        "service_level_goal": goal,
        "abandonment_goal": abandonment,
        "shrinkage": shrinkage,
        "scheduled_agents": scheduled,
    }
    if as_json:
        click.echo(json.dumps(data, allow_nan=False))
        return

    def seconds(value: float) -> str:
        return f"{value:.1f} s" if math.isfinite(value) else "unbounded (too few agents)"

    model = "Erlang C (no abandonment)"
    if patience is not None:
        model = f"Erlang A (patience {patience:g} s)"
    goals = []
    if goal is not None:
        goals.append(f"{goal * 100:g}% within {target:g} s")
    if abandonment is not None:
        goals.append(f"at most {abandonment * 100:g}% abandoning")
    staffing = f"{figures.agents}" + (f" (the fewest for {' and '.join(goals)})" if goals else "")
    served = f"{figures.service_level:.1%} within {target:g} s"
    notes = []
    if abandons != "ignored":
        notes.append(f"abandons within {target:g} s count as {abandons}")
    if short_abandon > 0:
        notes.append(f"abandons sooner than {short_abandon:g} s do not count")
    if notes:
        served += f" ({'; '.join(notes)})"
    rows = [
        ("model", model),
        ("traffic", f"{figures.traffic:.2f} Erlangs"),
        ("agents", staffing),
        ("wait probability", f"{figures.wait_probability:.1%}"),
        ("service level", served),
        ("ASA", seconds(figures.asa)),
        ("average wait", seconds(figures.average_wait)),
        ("abandonment", f"{figures.abandonment:.1%}"),
        ("occupancy", f"{figures.occupancy:.1%}"),
    ]
    if scheduled is not None and shrinkage is not None:
        rows.append(("scheduled agents", f"{scheduled} (shrinkage {shrinkage * 100:g}%)"))
    for label, value in rows:
        click.echo(f"{label:<17} {value}")


@click.command("simulate")
@click.argument("scenario_file", required=False, type=click.Path(dir_okay=False))
@click.option("--arrivals", type=float, default=None, help="Contacts arriving per interval.")
@click.option("--interval", type=float, default=None, help="The interval, in seconds.")
@click.option("--aht", type=float, default=None, help="Average handle time, in seconds.")
@click.option("--agents", type=int, default=None, help="Agents, all available all the time.")
@click.option("--patience", type=float, default=None, help="Mean patience (s): abandonment.")
@click.option("--target", type=float, default=20.0, show_default=True, help="Answer target (s).")
@click.option(
    "--abandons",
    default=None,
    metavar="HOW",
    help="Abandons within --target: ignored, missed, met.",
)
@click.option("--short-abandon", type=float, default=None, help="Abandons not counted (s) [0].")
@click.option(
    "--contacts", type=int, default=100_000, show_default=True, help="Contacts to simulate."
)
@click.option("--seed", type=int, default=None, help="Seed for the random draws [0].")
@click.option("--warmup", type=float, default=None, help="Seconds not measured [10 × AHT].")
@click.option("--strategy", default="longest-idle", show_default=True, help="Routing strategy.")
@click.option("--workers", type=int, default=1, show_default=True, help="Processes (replications).")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Write a PNG chart.")
@click.option("--html", type=click.Path(dir_okay=False), default=None, help="Write an HTML report.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def simulate(
    scenario_file: str | None,
    plot: str | None,
    html: str | None,
    as_json: bool,
    workers: int,
    **flags: Any,
) -> None:
    """Run the routing engine in virtual time: a single queue from flags, or a SCENARIO file.

    Prints the simulated wait probability, ASA, service level and abandonment with 95%
    confidence intervals, beside Erlang C (or Erlang A) where the model applies.
    """
    from .errors import ScenarioError
    from .simulation.commands import render, simulate_command, write_json

    try:
        run, data = simulate_command(
            scenario_file,
            flags,
            workers=workers,
            pm=plugin_manager,
            load=lambda _: config_sources(plugin_manager()),
        )
        if plot or html:
            from .simulation.plots import write_plots

            write_plots(run, data, png=plot, html=html)
    except (ScenarioError, TrunklineError) as exc:
        fail(exc)
    click.echo(write_json(data) if as_json else render(data))


@click.command("replay")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option(
    "--with",
    "changed_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="The changed configuration to replay the log under.",
)
@click.option("--workspace", default=None, help="The workspace (default: the only one).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the random draws.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def replay(
    config_file: str,
    changed_file: str,
    workspace: str | None,
    seed: int,
    as_json: bool,
) -> None:
    """Replay CONFIG_FILE's recorded log under another configuration and compare.

    Prints the recorded figures, the replay under the recorded configuration (the replay's
    own error) and the replay under the changed one, side by side.
    """
    from .errors import ScenarioError
    from .simulation.commands import render_replay, replay_command, write_json

    try:
        changed = build(changed_file, pm=plugin_manager())
    except TrunklineError as exc:
        fail(exc)

    async def work(config: Any, store: Any) -> Any:
        names = [workspace] if workspace is not None else sorted(config.workspaces)
        events: list[Any] = []
        for name in names:
            after = 0
            while batch := await store.read(name, after, 10_000):
                events.extend(stored.event for stored in batch)
                after = batch[-1].seq
        return config, events

    recorded, events = with_store(config_file, work)
    try:
        data = replay_command(
            events, recorded, changed, workspace=workspace, seed=seed, pm=plugin_manager()
        )
    except (ScenarioError, TrunklineError) as exc:
        fail(exc)
    click.echo(write_json(data) if as_json else render_replay(data))


#: What the plugin contributes through ``trunkline_register_commands``.
COMMANDS = (erlang, simulate, replay)
