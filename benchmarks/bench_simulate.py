"""Simulator figures: simulated contacts per second of wall time at 50, 500 and 5,000 agents.

Run: ``uv run python benchmarks/bench_simulate.py`` (``--quick`` for a short run).
``--coverage SEEDS`` instead checks the 95% intervals: how often, over that many seeds, they
hold the Erlang C value of the issue's worked example (100 calls per 30 min, AHT 180 s, 14
agents).

Each case is the M/M/N queue of ``trunkline simulate --arrivals … --agents N``: one queue, N
identical agents at 90% occupancy, exponential handle times (mean 180 s), Poisson arrivals,
no abandonment. A simulated contact is three engine commands (enqueue, accept, and end,
which also closes it: no wrap-up), seven events, and the production metrics fold of those events.

The target of issue 7 is 1,000,000 contacts in under 30 s at 500 agents. The baseline, in the
same run, is a hand-written M/M/N event loop (a heap of events and a FIFO deque, no engine,
no events, no metrics) on the same arrivals: the cost of the queue itself in CPython.
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from collections import deque

from trunkline_workforce.simulation import compare, estimate, simulate, single_queue
from trunkline_workforce.simulation.run import simulate_parallel

AHT = 180.0
LOAD = 0.9


def scenario(agents: int, contacts: int, seed: int = 1):  # type: ignore[no-untyped-def]
    return single_queue(
        arrivals=LOAD * agents * 3600 / AHT,
        interval=3600.0,
        aht=AHT,
        agents=agents,
        contacts=contacts,
        seed=seed,
        warmup=10 * AHT,
    )


def baseline(agents: int, contacts: int, seed: int = 1) -> tuple[float, float]:
    """A bare M/M/N loop: contacts per second and the share that waited."""
    rng = random.Random(seed)
    rate, mu = LOAD * agents / AHT, 1.0 / AHT
    heap: list[tuple[float, int]] = [(rng.expovariate(rate), 0)]
    line: deque[float] = deque()
    free, made, waited = agents, 0, 0
    started = time.perf_counter()
    while heap:
        now, kind = heapq.heappop(heap)
        if kind == 0:
            made += 1
            if made < contacts:
                heapq.heappush(heap, (now + rng.expovariate(rate), 0))
            if free:
                free -= 1
                heapq.heappush(heap, (now + rng.expovariate(mu), 1))
            else:
                waited += 1
                line.append(now)
        elif line:
            line.popleft()
            heapq.heappush(heap, (now + rng.expovariate(mu), 1))
        else:
            free += 1
    wall = time.perf_counter() - started
    return contacts / wall, waited / contacts


def coverage(seeds: int, contacts: int) -> None:
    """How often the simulated 95% interval holds the Erlang C value, over ``seeds`` runs."""
    example = {"arrivals": 100.0, "interval": 1800.0, "aht": 180.0, "agents": 14}
    held: dict[str, int] = {}
    values = []
    for seed in range(1, seeds + 1):
        sc = single_queue(**example, contacts=contacts, seed=seed, warmup=3600.0)
        figures = compare(simulate(sc, metrics=False))["figures"]
        values.append(figures["wait_probability"]["value"])
        for name, figure in figures.items():
            held[name] = held.get(name, 0) + figure["within"]
    model = figures["wait_probability"]["model"]
    print(f"{seeds} seeds of {contacts:,} contacts: the 95% interval held the Erlang C value")
    for name, n in held.items():
        print(f"  {name:<17} {n} of {seeds}")
    print(f"mean simulated wait probability {sum(values) / seeds:.4f} (Erlang C {model:.4f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer contacts")
    parser.add_argument("--coverage", type=int, default=0, metavar="SEEDS", help="check CIs")
    parser.add_argument("--contacts", type=int, default=100_000, help="per seed, --coverage")
    args = parser.parse_args()
    if args.coverage:
        coverage(args.coverage, args.contacts)
        return
    small = 20_000 if args.quick else 200_000
    target = 100_000 if args.quick else 1_000_000
    print(f"M/M/N at {LOAD:.0%} occupancy, AHT {AHT:g} s; contacts per second of wall time")
    print(
        f"{'agents':>6} {'contacts':>10} {'workers':>7} {'wall s':>8} {'contacts/s':>11} "
        f"{'baseline/s':>11} {'ratio':>6} {'P(wait)':>8}"
    )
    for agents, contacts in ((50, small), (500, target), (5000, small)):
        base, _ = baseline(agents, contacts)
        for workers in (1, 2):
            sc = scenario(agents, contacts)
            run = simulate(sc) if workers == 1 else simulate_parallel(sc, workers)
            pwait = estimate(run)["wait_probability"].value or 0.0
            speed = contacts / run.wall
            print(
                f"{agents:>6} {contacts:>10,} {workers:>7} {run.wall:>8.1f} {speed:>11,.0f} "
                f"{base:>11,.0f} {base / speed:>5.0f}× {pwait:>8.3f}"
            )


if __name__ == "__main__":
    main()
