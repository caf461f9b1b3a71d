"""What ``trunkline simulate --json`` prints: one JSON-able dict per run (see
``docs/simulation.md`` for every field)."""

from __future__ import annotations

import math
from typing import Any

from trunkline.servicelevel import ServiceLevel

from .estimates import _Tally, compare, estimate
from .run import Run

__all__ = ["intervals", "summary"]


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def summary(run: Run) -> dict[str, Any]:
    """The run as JSON: scenario, speed, estimates with CIs, Erlang comparison, metrics."""
    sc = run.scenario
    r = run.records
    estimates = estimate(run)
    measured = sum(
        1
        for i in range(len(r))
        if r.queued[i] >= sc.warmup
        and (r.answered[i] == r.answered[i] or r.abandoned[i] == r.abandoned[i])
    )
    return {
        "scenario": {
            "workspace": sc.workspace.workspace.id,
            "queues": list(run.queues),
            "agents": len(sc.workspace.agents),
            "seed": sc.seed,
            "contacts": sc.contacts,
            "duration": sc.duration,
            "warmup": sc.warmup,
            "interval": sc.interval,
            "sources": [
                {
                    "queue": s.queue,
                    "kind": s.kind,
                    "rate_per_hour": None if s.rate is None else s.rate * 3600.0,
                    "profile": None if s.profile is None else list(s.profile),
                    "recorded": None if s.arrivals is None else len(s.arrivals),
                    "handle": s.handle.describe(),
                    "patience": None if s.patience is None else s.patience.describe(),
                    "wrap_up": None if s.wrap_up is None else s.wrap_up.describe(),
                }
                for s in sc.sources
            ],
        },
        "contacts": len(r),
        "measured": measured,
        "refused": sum(1 for x in r.refused if x == x),
        "unfinished": sum(
            1
            for i in range(len(r))
            if r.closed[i] != r.closed[i]
            and r.abandoned[i] != r.abandoned[i]
            and r.refused[i] != r.refused[i]
        ),
        "simulated_seconds": run.end,
        "wall_seconds": run.wall,
        "contacts_per_second": _number(run.contacts_per_second),
        "commands": run.commands,
        "events": run.events,
        "estimates": {name: e.as_dict() for name, e in estimates.items()},
        "comparison": compare(run, estimates),
        "metrics": None if run.metrics is None else run.metrics.figures(sc.start + run.end),
        "intervals": intervals(run),
    }


def intervals(run: Run) -> list[dict[str, Any]]:
    """Per ``scenario.interval`` of arrival time: arrivals, answered, abandoned, service level
    (by each queue's definition), ASA, and the contacts waiting and held by agents, sampled at
    the interval's end."""
    sc = run.scenario
    r = run.records
    width = sc.interval
    rules = [ServiceLevel.of(sc.queue(q)) for q in run.queues]
    rows: dict[int, _Tally] = {}  # ``left`` counts arrivals here
    for i in range(len(r)):
        queued = r.queued[i]
        row = rows.get(int(queued // width))
        if row is None:
            row = rows[int(queued // width)] = _Tally()
        row.left += 1
        answered, left = r.answered[i], r.abandoned[i]
        if answered == answered:
            wait = answered - queued
            row.answered += 1
            row.answer_time += wait
            rules[r.queue[i]].answered(row, wait)
        elif left == left:
            row.abandoned += 1
            rules[r.queue[i]].abandoned(row, left - queued)
    sampled = {round(t / width) - 1: (waiting, busy) for t, waiting, busy in run.samples}
    out = []
    for k in range(max([*rows, *sampled], default=-1) + 1):
        row = rows.get(k) or _Tally()
        waiting, busy = sampled.get(k, (None, None))
        out.append(
            {
                "start": k * width,
                "arrivals": row.left,
                "answered": row.answered,
                "abandoned": row.abandoned,
                "service_level": row.figure("service_level"),
                "asa": row.figure("asa"),
                "waiting": waiting,
                "handling": busy,
            }
        )
    return out
