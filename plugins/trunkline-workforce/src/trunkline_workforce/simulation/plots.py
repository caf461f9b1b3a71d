"""Charts of a simulation: a PNG, and a self-contained HTML page (inline SVG and tables).

matplotlib is imported here only, and only when a chart is asked for; it comes with the
``trunkline-workforce[plots]`` extra.
"""

from __future__ import annotations

import html as _html
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ScenarioError
from .run import Run

__all__ = ["figure", "page", "write_plots"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the installation
        raise ScenarioError(
            "charts need matplotlib: pip install 'trunkline-workforce[plots]'"
        ) from None
    return plt


def figure(run: Run, data: Mapping[str, Any]) -> Any:
    """A matplotlib figure: contacts per interval, service level, waiting and held.

    The bins are the rows of ``data["intervals"]``, ``scenario.interval`` seconds each (the
    ``--interval`` of ``trunkline simulate``, or ``simulation.interval`` of a scenario file).
    """
    plt = _pyplot()
    rows = data["intervals"]
    interval = run.scenario.interval
    hours = [row["start"] / 3600.0 for row in rows]
    width = interval / 3600.0 * 0.9
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    top.bar(hours, [r["answered"] for r in rows], width=width, align="edge", label="answered")
    top.bar(
        hours,
        [r["abandoned"] for r in rows],
        width=width,
        align="edge",
        bottom=[r["answered"] for r in rows],
        label="abandoned",
    )
    top.set_ylabel("contacts per interval")
    top.legend(loc="upper right")
    top.set_title(
        f"Simulation of {data['contacts']:,} contacts (seed {run.scenario.seed}), "
        f"in {interval:g} s intervals"
    )
    points = [(h, r["service_level"]) for h, r in zip(hours, rows, strict=True)]
    shown = [(h, v) for h, v in points if v is not None]
    middle.plot([h for h, _ in shown], [v for _, v in shown], marker="o", label="service level")
    targets: dict[float, list[str]] = {}
    for queue_id in run.queues:
        targets.setdefault(run.scenario.queue(queue_id).service_level_target, []).append(queue_id)
    for target, queue_ids in targets.items():
        label = f"target {target:.0%}"
        if len(run.queues) > 1:
            label += f" ({', '.join(queue_ids)})"
        middle.axhline(target, linestyle="--", linewidth=1, color="grey", label=label)
    middle.set_ylim(0, 1.05)
    middle.set_ylabel("service level")
    middle.legend(loc="lower right")
    sampled = [(h + run.scenario.interval / 3600.0, r) for h, r in zip(hours, rows, strict=True)]
    sampled = [(h, r) for h, r in sampled if r["waiting"] is not None]
    bottom.plot([h for h, _ in sampled], [r["waiting"] for _, r in sampled], label="waiting")
    held = [r["handling"] for _, r in sampled]
    bottom.plot([h for h, _ in sampled], held, label="held by agents")
    bottom.set_ylabel("contacts at interval end")
    bottom.set_xlabel("hours since the start")
    bottom.legend(loc="upper right")
    fig.tight_layout()
    return fig


def page(run: Run, data: Mapping[str, Any], svg: str) -> str:
    """The HTML report: the chart, the estimates beside the model, and the interval table."""
    esc = _html.escape

    def fmt(value: Any, percent: bool = False) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value * 100:.1f}" if percent else f"{value:,.2f}"
        return esc(str(value))

    comparison = data["comparison"]
    model = comparison.get("model")
    rows = []
    for name, est in data["estimates"].items():
        percent = name != "asa"
        label = "ASA (s)" if name == "asa" else f"{name.replace('_', ' ')} (%)"
        cells = [
            esc(label),
            fmt(est["value"], percent),
            f"{fmt(est['ci_low'], percent)} – {fmt(est['ci_high'], percent)}",
        ]
        figure_ = (comparison.get("figures") or {}).get(name)
        if model:
            cells.append(fmt(figure_["model"], percent) if figure_ else "–")
            cells.append(("yes" if figure_["within"] else "no") if figure_ else "–")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = ["figure", "simulated", "95% CI"] + ([esc(model), "model in CI"] if model else [])
    note = "" if model else f"<p>No Erlang comparison: {esc(str(comparison['reason']))}.</p>"
    interval_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                fmt(r["start"] / 3600.0),
                fmt(r["arrivals"]),
                fmt(r["answered"]),
                fmt(r["abandoned"]),
                fmt(r["service_level"], True),
                fmt(r["asa"]),
                fmt(r["waiting"]),
                fmt(r["handling"]),
            )
        )
        + "</tr>"
        for r in data["intervals"]
    )
    title = f"Trunkline simulation: {data['contacts']:,} contacts"
    interval = float(data["scenario"]["interval"])

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}}
table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}}
svg{{max-width:100%;height:auto}}</style></head>
<body><h1>{esc(title)}</h1>
<p>Workspace {esc(data["scenario"]["workspace"])}, {data["scenario"]["agents"]} agents,
seed {data["scenario"]["seed"]}; {data["measured"]:,} contacts measured after a warm-up of
{fmt(float(data["scenario"]["warmup"]))} s; {fmt(data["wall_seconds"])} s of wall time.</p>
<h2>Service level, wait and abandonment</h2>
<table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{"".join(rows)}</table>{note}
<h2>Chart</h2>{svg}
<h2>Intervals</h2>
<p>Contacts by the interval in which they arrived: intervals of {interval:g} s
(<code>--interval</code>, or <code>simulation.interval</code> in a scenario file). Waiting and
held are counted at each interval's end.</p>
<table><tr><th>start (h)</th><th>arrivals (contacts)</th><th>answered (contacts)</th>
<th>abandoned (contacts)</th><th>service level (%)</th><th>ASA (s)</th>
<th>waiting at end (contacts)</th><th>held at end (contacts)</th></tr>{interval_rows}</table>
</body></html>
"""


def write_plots(
    run: Run, data: Mapping[str, Any], *, png: str | None = None, html: str | None = None
) -> None:
    """Write the PNG chart and/or the HTML page."""
    plt = _pyplot()
    fig = figure(run, data)
    try:
        if png:
            fig.savefig(Path(png), format="png", dpi=100)
        if html:
            buffer = io.StringIO()
            fig.savefig(buffer, format="svg")
            svg = buffer.getvalue()
            svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype
            Path(html).write_text(page(run, data, svg), encoding="utf-8")
    finally:
        plt.close(fig)
