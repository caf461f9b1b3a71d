"""Routing engine figures: decisions per second, decision latency and memory per contact.

Run: ``uv run python benchmarks/bench_routing.py`` (``--quick`` for a short run).

Cases: 1k and 10k agents over 1k queues, each agent in K=10 or K=50 random queues, in two
situations:

- **backlog**: every queue has contacts waiting and every agent is busy. A decision is the
  ``EndContact`` that frees an agent, who then takes the best contact across its K queues.
- **idle**: every agent is idle and contacts arrive one at a time. A decision is the
  ``EnqueueContact`` of a contact, offered at once to the best agent of its queue.

The latency of a decision is the wall time of the whole ``Router.handle`` call that makes it,
events included. Commands that make no decision (accepting, refilling the backlog) run
between decisions, untimed. The baseline, in the same run, is a bare ``heapq`` push and pop on
a heap of the same size as the engine's line (the backlog per queue, or the idle agents per
queue). Memory per waiting contact is the growth of the process's resident memory while 1M
contacts wait, divided by 1M (the contacts themselves included).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import random
import statistics
import sys
import time

from trunkline.builtin.strategies import trunkline_register_strategies
from trunkline.model import Address, Agent, AgentStatus, Contact, Direction, Queue
from trunkline.routing import AcceptOffer, EndContact, EnqueueContact, Router, SetAgentStatus

W = "bench"
QUEUES = 1000
STRATEGIES = {s.name: s for s in trunkline_register_strategies()}


def build(agents: int, per_agent: int, seed: int = 1) -> Router:
    rng = random.Random(seed)
    queues = [Queue(id=f"q{n}", workspace=W, offer_timeout=1e9) for n in range(QUEUES)]
    staff = [
        Agent(
            id=f"a{n}",
            workspace=W,
            capacity={"chat": 1},
            queues=tuple(f"q{q}" for q in rng.sample(range(QUEUES), per_agent)),
        )
        for n in range(agents)
    ]
    return Router(W, queues, staff, strategies=STRATEGIES, skills=())


class Contacts:
    """Makes chat contacts for random queues (each only a few hundred bytes)."""

    def __init__(self, seed: int = 2) -> None:
        self.rng = random.Random(seed)
        self.count = 0

    def __call__(self, queue: str | None = None) -> Contact:
        self.count += 1
        cid = f"c{self.count}"
        return Contact(
            id=cid,
            workspace=W,
            channel="web",
            channel_kind="chat",
            direction=Direction.INBOUND,
            customer_id=cid,
            address=Address("web", cid),
            queue=queue or f"q{self.rng.randrange(QUEUES)}",
        )


class DispatchTimer:
    """Times the engine's dispatch step alone: finding the match and making the offer."""

    def __init__(self, router: Router) -> None:
        self.samples: list[int] = []
        self.last = 0
        inner = router._dispatch
        clock = time.perf_counter_ns

        def timed() -> None:
            start = clock()
            inner()
            self.last = clock() - start

        router._dispatch = timed  # type: ignore[method-assign]


def percentile(sorted_ns: list[int], p: float) -> float:
    index = min(len(sorted_ns) - 1, int(p / 100 * len(sorted_ns)))
    return sorted_ns[index] / 1000  # µs


def heap_baseline(size: int, ops: int) -> tuple[float, float]:
    """ns per push+pop pair on a heap of ``size`` (mean, p99)."""
    rng = random.Random(3)
    heap = [(rng.random(), n) for n in range(max(1, size))]
    heapq.heapify(heap)
    samples = []
    clock = time.perf_counter_ns
    for n in range(ops):
        entry = (rng.random(), size + n)
        start = clock()
        heapq.heappush(heap, entry)
        heapq.heappop(heap)
        samples.append(clock() - start)
    samples.sort()
    return statistics.fmean(samples), samples[int(0.99 * len(samples))]


Samples = tuple[list[int], list[int], int]  # whole commands, dispatch alone, line size


def run_backlog(agents: int, per_agent: int, decisions: int) -> Samples:
    router = build(agents, per_agent)
    make = Contacts()
    now = 0.0
    backlog = 100 * QUEUES  # 100 contacts waiting per queue
    for aid in router.agents:  # everyone busy first...
        router.handle(SetAgentStatus(aid, AgentStatus.AVAILABLE), now)
    handled: dict[str, str] = {}  # agent -> contact in hand
    for aid, run in router.agents.items():
        contact = make(run.agent.queues[0])
        events = router.handle(EnqueueContact(contact), now)
        router.handle(AcceptOffer(events[-1].offer.id), now)  # type: ignore[attr-defined]
        handled[aid] = contact.id
    for _ in range(backlog):  # ...then the backlog builds up
        now += 0.001
        router.handle(EnqueueContact(make()), now)
    agent_ids = list(router.agents)
    rng = random.Random(4)
    samples = []
    timer = DispatchTimer(router)
    clock = time.perf_counter_ns
    gc.collect()
    gc.freeze()
    for _ in range(decisions):
        now += 0.001
        aid = rng.choice(agent_ids)
        start = clock()
        events = router.handle(EndContact(handled[aid]), now)
        samples.append(clock() - start)
        timer.samples.append(timer.last)
        offer = events[-1].offer  # type: ignore[attr-defined]
        router.handle(AcceptOffer(offer.id), now)
        handled[aid] = offer.contact_id
        router.handle(EnqueueContact(make()), now)  # keep the backlog level
    gc.unfreeze()
    return samples, timer.samples, backlog // QUEUES


def run_idle(agents: int, per_agent: int, decisions: int) -> Samples:
    router = build(agents, per_agent)
    make = Contacts()
    now = 0.0
    for aid in router.agents:
        now += 0.001
        router.handle(SetAgentStatus(aid, AgentStatus.AVAILABLE), now)
    samples = []
    timer = DispatchTimer(router)
    clock = time.perf_counter_ns
    gc.collect()
    gc.freeze()
    made = 0
    while made < decisions:
        now += 0.001
        contact = make()
        start = clock()
        events = router.handle(EnqueueContact(contact), now)
        elapsed = clock() - start
        offered = [e for e in events if e.type == "ContactOffered"]
        if not offered:  # a queue nobody serves: not a decision
            continue
        samples.append(elapsed)
        timer.samples.append(timer.last)
        made += 1
        router.handle(AcceptOffer(offered[0].offer.id), now)  # type: ignore[attr-defined]
        router.handle(EndContact(contact.id), now)  # the agent is idle again
    gc.unfreeze()
    idle_per_queue = agents * per_agent // QUEUES
    return samples, timer.samples, idle_per_queue


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def memory_per_waiting_contact(count: int) -> float:
    router = build(1000, 10)  # everyone offline: contacts only wait
    make = Contacts()
    gc.collect()
    before = rss_bytes()
    now = 0.0
    for _ in range(count):
        now += 0.0001
        router.handle(EnqueueContact(make()), now)
    gc.collect()
    after = rss_bytes()
    assert sum(len(router.waiting(f"q{n}")) for n in range(3)) > 0
    return (after - before) / count


def summary(samples: list[int]) -> dict[str, float]:
    samples.sort()
    return {
        "per_s": 1e9 / statistics.fmean(samples),
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "p999": percentile(samples, 99.9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer decisions, 100k contacts")
    args = parser.parse_args()
    decisions = 5_000 if args.quick else 50_000
    waiting = 100_000 if args.quick else 1_000_000
    out = print
    out(f"routing engine, Python {sys.version.split()[0]}, {decisions:,} decisions per case")
    out("decision = the dispatch step (match + offer event); command = the whole handle() call")
    out(
        f"{'case':<26} {'decis/s':>9} {'p50':>6} {'p99':>6} {'p99.9':>7} | "
        f"{'cmds/s':>7} {'p50':>6} {'p99':>6} {'p99.9':>7} | heapq push+pop (same size)"
    )
    results = {}
    for agents in (1_000, 10_000):
        for per_agent in (10, 50):
            for name, runner in (("backlog", run_backlog), ("idle", run_idle)):
                commands, dispatch, line = runner(agents, per_agent, decisions)
                d, c = summary(dispatch), summary(commands)
                base_mean, base_p99 = heap_baseline(line, 20_000)
                results[(name, agents, per_agent)] = d
                out(
                    f"{name + f' {agents // 1000}k agents K={per_agent}':<26} "
                    f"{d['per_s']:>9,.0f} {d['p50']:>6.1f} {d['p99']:>6.1f} {d['p999']:>7.1f} | "
                    f"{c['per_s']:>7,.0f} {c['p50']:>6.1f} {c['p99']:>6.1f} {c['p999']:>7.1f} | "
                    f"{base_mean:>4.0f} ns, p99 {base_p99 / 1000:.2f} µs; decision "
                    f"{1e9 / d['per_s'] / base_mean:.0f}x"
                )
    out("(latencies in µs)")
    for name in ("backlog", "idle"):
        for per_agent in (10, 50):
            small = results[(name, 1_000, per_agent)]["p99"]
            big = results[(name, 10_000, per_agent)]["p99"]
            out(f"decision p99 at 10k / 1k agents, {name} K={per_agent}: {big / small:.2f}x")
    per_contact = memory_per_waiting_contact(waiting)
    out(f"memory per waiting contact ({waiting:,} waiting): {per_contact:,.0f} bytes")


if __name__ == "__main__":
    main()
