"""Event-fold figures: events per second folded by Metrics (live) and ReportFold (history).

Run: ``uv run python benchmarks/bench_fold.py`` (``--quick`` for a short run).

The events are recorded once from a simulated M/M/N day (the queue of ``bench_simulate.py``:
one queue, 90% occupancy, AHT 180 s), then folded again and again: the best of ``--repeat``
runs is printed, so the figure is the fold's own cost (its dispatch on the event's type and the
counters it keeps), not the routing engine's. ``Metrics.apply`` is on the simulator's hot path:
every event of every simulated contact goes through it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from trunkline import events as ev
from trunkline.metrics import Metrics
from trunkline.reports import ReportFold, ReportOptions
from trunkline_workforce.simulation import simulate, single_queue

AHT = 180.0
LOAD = 0.9


def record(agents: int, contacts: int) -> tuple[list[ev.Event], object]:
    sc = single_queue(
        arrivals=LOAD * agents * 3600 / AHT,
        interval=3600.0,
        aht=AHT,
        agents=agents,
        contacts=contacts,
        seed=1,
    )
    events: list[ev.Event] = []
    simulate(sc, observe=events.append, metrics=False)
    return events, sc.workspace


def best(repeat: int, fold: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fold()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer contacts")
    parser.add_argument("--repeat", type=int, default=7, help="folds timed; the best is shown")
    args = parser.parse_args()
    contacts = 20_000 if args.quick else 100_000
    events, workspace = record(50, contacts)
    queues, agents = workspace.queues, workspace.agents  # type: ignore[attr-defined]
    now = events[-1].at

    def live() -> None:
        apply = Metrics(queues, agents).apply
        for event in events:
            apply(event)

    def history() -> None:
        apply = ReportFold(queues, ReportOptions(now=now)).apply
        for event in events:
            apply(event)

    print(f"{len(events):,} events of {contacts:,} simulated contacts (50 agents)")
    print(f"{'fold':>10} {'best s':>8} {'events/s':>12}")
    for name, fold in (("Metrics", live), ("ReportFold", history)):
        wall = best(args.repeat, fold)
        print(f"{name:>10} {wall:>8.3f} {len(events) / wall:>12,.0f}")


if __name__ == "__main__":
    main()
