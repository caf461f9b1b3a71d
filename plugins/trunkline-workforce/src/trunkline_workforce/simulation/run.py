"""The discrete-event loop: the production :class:`~trunkline.routing.Router` in virtual time.

Nothing here decides who gets which contact. The simulator plays the world around the
engine — customers arriving and giving up, agents answering, talking, wrapping up and
coming and going — and hands the engine exactly the commands production hands it
(``EnqueueContact``, ``AcceptOffer``, ``EndContact``, ``CloseContact``, ``AbandonContact``,
``SetAgentStatus``, ``Tick``), at virtual times, and reads back the events it emits. The
events also feed :class:`trunkline.metrics.Metrics`, so a simulation reports the same
figures as a running workspace.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from trunkline import Address, AgentStatus, Contact, Direction
from trunkline import events as ev
from trunkline.routing import (
    AbandonContact,
    AcceptOffer,
    CloseContact,
    EndContact,
    EnqueueContact,
    Router,
    RoutingHooks,
    SetAgentStatus,
    Strategy,
    Tick,
)

from .scenario import Arrival, ArrivalSource, Scenario

__all__ = ["Records", "Run", "simulate"]

# What the heap holds: (time, sequence, kind, reference).
_ARRIVE, _ACCEPT, _END, _CLOSE, _ABANDON, _STATUS, _TICK, _SAMPLE, _COMEBACK = range(9)
# Where each contact is.
_WAITING, _ACTIVE, _WRAP, _DONE = range(4)
_NAN = math.nan
_BREAK, _AVAILABLE = AgentStatus.BREAK, AgentStatus.AVAILABLE
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@attrs.define
class Records:
    """One row per contact, in arrival order (columns are arrays of floats; NaN = never).

    Times are seconds since the simulation's start.
    """

    queued: array[float] = attrs.field(factory=lambda: array("d"))
    first_offer: array[float] = attrs.field(factory=lambda: array("d"))
    answered: array[float] = attrs.field(factory=lambda: array("d"))
    abandoned: array[float] = attrs.field(factory=lambda: array("d"))
    ended: array[float] = attrs.field(factory=lambda: array("d"))
    closed: array[float] = attrs.field(factory=lambda: array("d"))
    refused: array[float] = attrs.field(factory=lambda: array("d"))
    queue: array[int] = attrs.field(factory=lambda: array("i"))  # index into Run.queues

    def __len__(self) -> int:
        return len(self.queued)


@attrs.define
class Run:
    """What :func:`simulate` returns: the records, the production metrics and the timings."""

    scenario: Scenario
    records: Records
    queues: tuple[str, ...]
    metrics: Any  # trunkline.metrics.Metrics, fed every event
    end: float  # simulated seconds at the last event
    wall: float  # seconds of wall-clock time the loop took
    commands: int
    events: int
    samples: list[tuple[float, int, int]]  # (time, waiting, agents busy) at each interval

    @property
    def contacts_per_second(self) -> float:
        return len(self.records) / self.wall if self.wall > 0 else math.inf


def _arrivals(source: ArrivalSource, rng: random.Random) -> Iterator[Arrival | float]:
    """Arrival times (relative seconds) of one source, forever or until its recording ends."""
    if source.arrivals is not None:
        yield from source.arrivals
        return
    if source.rate is not None:
        rate, t = source.rate, 0.0
        expo = rng.expovariate
        while True:
            t += expo(rate)
            yield t
    assert source.profile is not None
    profile, width = source.profile, source.interval
    if not any(profile):
        return  # nobody ever comes (and no interval would ever yield)
    t, slot = 0.0, 0
    while True:
        rate = profile[slot % len(profile)] / width
        end = (slot + 1) * width
        if rate > 0:
            while True:
                t += rng.expovariate(rate)
                if t >= end:
                    break
                yield t
        t, slot = end, slot + 1  # memoryless: start afresh at the boundary


def simulate(
    scenario: Scenario,
    *,
    strategies: Mapping[str, Strategy] | None = None,
    hooks: RoutingHooks | None = None,
    router: Callable[..., Router] = Router,
    observe: Callable[[ev.Event], object] | None = None,
    metrics: bool = True,
    status_changes: Sequence[tuple[float, str, AgentStatus]] | None = None,
) -> Run:
    """Run ``scenario`` to its end and return the records and metrics.

    ``strategies`` default to the built-in ones; pass the plugin manager's (and ``hooks``) to
    simulate with plugin strategies and routing hooks. ``observe`` sees every event.
    ``status_changes`` (absolute times) replace the scenario's shifts: a replay passes the
    agents' recorded availability.
    """
    from trunkline.switchboard import builtin_strategies

    ws = scenario.workspace
    w = ws.workspace.id
    engine = router(
        w,
        ws.queues,
        ws.agents,
        strategies=builtin_strategies() if strategies is None else strategies,
        hooks=hooks,
        skills=ws.skills,
        settings=ws.routing,
        schedules=ws.hours,
    )
    figures = None
    if metrics:
        from trunkline.metrics import Metrics

        figures = Metrics(ws.queues, ws.agents)
    apply_metrics = figures.apply if figures is not None else _ignore
    handle = engine.handle
    rng = random.Random(scenario.seed)
    origin = scenario.start
    queue_ids = tuple(q.id for q in ws.queues)
    queue_index = {qid: n for n, qid in enumerate(queue_ids)}
    records = Records()
    queued, first_offer, answered = records.queued, records.first_offer, records.answered
    abandoned, ended, closed = records.abandoned, records.ended, records.closed
    refused, queue_of = records.refused, records.queue
    handle_time: list[float] = []
    wrap_time: list[float] = []
    answer_time: list[float] = []
    state = bytearray()
    samples: list[tuple[float, int, int]] = []

    heap: list[tuple[float, int, int, Any]] = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    streams = [_arrivals(s, rng) for s in scenario.sources]
    for n, stream in enumerate(streams):
        first = next(stream, None)
        if first is not None:
            seq += 1
            push(heap, (_at(first) + origin, seq, _ARRIVE, (n, first)))

    if status_changes is not None:
        for at, aid, status in status_changes:
            seq += 1
            push(heap, (at, seq, _STATUS, (aid, status)))
    elif scenario.shifts:
        for shift in scenario.shifts:
            for aid in shift.agents:
                seq += 1
                push(heap, (origin + shift.start, seq, _STATUS, (aid, AgentStatus.AVAILABLE)))
                seq += 1
                push(heap, (origin + shift.end, seq, _STATUS, (aid, AgentStatus.OFFLINE)))
    else:
        for agent in ws.agents:
            for event in handle(SetAgentStatus(agent.id, AgentStatus.AVAILABLE), origin):
                apply_metrics(event)
                if observe is not None:
                    observe(event)
    seq += 1
    push(heap, (origin + scenario.interval, seq, _SAMPLE, None))

    limit = scenario.contacts if scenario.contacts is not None else math.inf
    stop = origin + scenario.duration if scenario.duration is not None else math.inf
    made = commands = events = 0
    waiting = busy = 0
    tick_at = math.inf
    address = Address("sim", "customer")
    sources = scenario.sources
    accept_cmd, end_cmd, close_cmd = AcceptOffer, EndContact, CloseContact
    Offered, Accepted, Ended = ev.ContactOffered, ev.OfferAccepted, ev.ContactEnded
    WrapEnded, Abandoned, Refused = ev.WrapUpEnded, ev.ContactAbandoned, ev.ContactRefused
    StatusChanged = ev.AgentStatusChanged
    comeback = scenario.break_return
    inbound = Direction.INBOUND
    started = time.perf_counter()
    now = origin

    while heap:
        now, _, kind, ref = pop(heap)
        if kind == _ARRIVE:
            n, arrival = ref
            source = sources[n]
            if made >= limit or now >= stop:
                continue
            i = made
            made += 1
            rec = arrival if isinstance(arrival, Arrival) else None
            qid = (rec.queue if rec is not None and rec.queue else None) or source.queue
            kind_ = (rec.kind if rec is not None and rec.kind else None) or source.kind
            priority = source.priority
            if rec is not None and rec.priority is not None:
                priority = rec.priority
            contact = Contact(
                id=str(i),
                workspace=w,
                channel=kind_,
                channel_kind=kind_,
                direction=inbound,
                customer_id="" if rec is None else rec.customer,
                address=address,
                attributes=_EMPTY if rec is None or rec.attributes is None else rec.attributes,
                priority=priority,
                required_skills=source.skills if rec is None or rec.skills is None else rec.skills,
                language=None if rec is None else rec.language,
                queue=qid,
                created_at=now,
            )
            handle_time.append(
                rec.handle
                if rec is not None and rec.handle is not None
                else source.handle.sample(rng)
            )
            wrap = rec.wrap_up if rec is not None and rec.wrap_up is not None else None
            if wrap is None and source.wrap_up is not None:
                wrap = source.wrap_up.sample(rng)
            wrap_time.append(_NAN if wrap is None else wrap)
            answer_time.append(0.0 if source.answer is None else source.answer.sample(rng))
            patience = rec.patience if rec is not None and rec.patience is not None else None
            if patience is None and source.patience is not None:
                patience = source.patience.sample(rng)
            queued.append(now - origin)
            for column in (first_offer, answered, abandoned, ended, closed, refused):
                column.append(_NAN)
            queue_of.append(queue_index[qid])
            state.append(_WAITING)
            waiting += 1
            if patience is not None and patience < math.inf:
                seq += 1
                push(heap, (now + patience, seq, _ABANDON, i))
            nxt = next(streams[n], None)
            if nxt is not None:
                seq += 1
                push(heap, (_at(nxt) + origin, seq, _ARRIVE, (n, nxt)))
            out = handle(EnqueueContact(contact), now)
        elif kind == _END:
            if state[ref] != _ACTIVE:
                continue
            out = handle(end_cmd(str(ref)), now)
        elif kind == _ACCEPT:
            if ref not in engine.offers:
                continue
            out = handle(accept_cmd(ref), now)
        elif kind == _CLOSE:
            if state[ref] != _WRAP:
                continue
            out = handle(close_cmd(str(ref)), now)
        elif kind == _ABANDON:
            if state[ref] != _WAITING:
                continue
            out = handle(AbandonContact(str(ref)), now)
        elif kind == _TICK:
            if now != tick_at:
                continue
            tick_at = math.inf
            out = handle(Tick(), now)
        elif kind == _STATUS:
            out = handle(SetAgentStatus(ref[0], ref[1]), now)
        elif kind == _COMEBACK:
            if engine.agents[ref].status is not _BREAK:  # gone offline, or back already
                continue
            out = handle(SetAgentStatus(ref, _AVAILABLE), now)
        else:  # _SAMPLE
            samples.append((now - origin, waiting, busy))
            if heap:  # something can still change
                seq += 1
                push(heap, (now + scenario.interval, seq, _SAMPLE, None))
            continue
        commands += 1
        # The events of one command, and of the commands they cause at the same instant.
        k = 0
        while k < len(out):
            event = out[k]
            k += 1
            apply_metrics(event)
            tp = type(event)
            if tp is Offered:
                offer = event.offer  # type: ignore[attr-defined]
                i = int(offer.contact_id)
                if first_offer[i] != first_offer[i]:  # NaN: the first offer
                    first_offer[i] = now - origin
                delay = answer_time[i]
                if delay > 0:
                    seq += 1
                    push(heap, (now + delay, seq, _ACCEPT, offer.id))
                else:
                    commands += 1
                    out.extend(handle(accept_cmd(offer.id), now))
            elif tp is Accepted:
                i = int(event.contact_id)  # type: ignore[attr-defined]
                answered[i] = now - origin
                state[i] = _ACTIVE
                waiting -= 1
                busy += 1
                seq += 1
                push(heap, (now + handle_time[i], seq, _END, i))
            elif tp is Ended:
                i = int(event.contact_id)  # type: ignore[attr-defined]
                ended[i] = now - origin
                state[i] = _WRAP
                wrap = wrap_time[i]
                if wrap == wrap and wrap < event.wrap_up_until - now:  # type: ignore[attr-defined]
                    seq += 1
                    push(heap, (now + wrap, seq, _CLOSE, i))
            elif tp is WrapEnded:
                i = int(event.contact_id)  # type: ignore[attr-defined]
                closed[i] = now - origin
                state[i] = _DONE
                busy -= 1
            elif tp is Abandoned:
                i = int(event.contact_id)  # type: ignore[attr-defined]
                abandoned[i] = now - origin
                state[i] = _DONE
                waiting -= 1
            elif tp is Refused:
                i = int(event.contact_id)  # type: ignore[attr-defined]
                refused[i] = now - origin
                if state[i] == _WAITING:
                    waiting -= 1
                state[i] = _DONE
            elif (
                tp is StatusChanged and comeback and kind != _STATUS and event.status is _BREAK  # type: ignore[attr-defined]
            ):
                # The engine put the agent on break (missed offers): the person comes back.
                seq += 1
                push(heap, (now + comeback, seq, _COMEBACK, event.agent_id))  # type: ignore[attr-defined]
        events += len(out)
        if observe is not None:
            for event in out:
                observe(event)
        due = engine.next_deadline()
        if due is not None and max(due, now) != tick_at:
            tick_at = max(due, now)
            seq += 1
            push(heap, (tick_at, seq, _TICK, None))
    wall = time.perf_counter() - started
    return Run(
        scenario=scenario,
        records=records,
        queues=queue_ids,
        metrics=figures,
        end=now - origin,
        wall=wall,
        commands=commands,
        events=events,
        samples=samples,
    )


def _ignore(event: ev.Event) -> None:
    pass


def _reduce_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _proxy, (dict(proxy),)


def _proxy(data: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(data)


def _at(arrival: Arrival | float) -> float:
    return arrival.at if isinstance(arrival, Arrival) else arrival


# Independent replications in several processes ------------------------------------------------

_JOB: tuple[list[Scenario], Mapping[str, Strategy] | None, RoutingHooks | None] | None = None


def _replicate(k: int) -> tuple[Records, Any, float, float, int, int, list[Any]]:
    assert _JOB is not None
    parts, strategies, hooks = _JOB
    run = simulate(parts[k], strategies=strategies, hooks=hooks)
    return run.records, run.metrics, run.end, run.wall, run.commands, run.events, run.samples


def simulate_parallel(
    scenario: Scenario,
    workers: int,
    *,
    strategies: Mapping[str, Strategy] | None = None,
    hooks: RoutingHooks | None = None,
) -> Run:
    """Split ``scenario.contacts`` into ``workers`` independent replications, one process each.

    Replication ``k`` runs ``contacts / workers`` contacts (the first ones take the remainder)
    with seed ``scenario.seed + k`` and its own warm-up, from an empty center, like a separate
    day. The records are concatenated in replication order, the metrics added up, and the
    interval samples summed; ``wall`` is the wall time of the whole, processes included.
    With one worker this is :func:`simulate`.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.reduction import ForkingPickler

    from ..errors import ScenarioError

    if workers < 1:
        raise ScenarioError(f"workers: must be at least 1, got {workers}")
    if workers == 1:
        return simulate(scenario, strategies=strategies, hooks=hooks)
    if scenario.contacts is None or scenario.duration is not None:
        raise ScenarioError(
            "workers split the contacts between replications: give contacts, not duration"
        )
    if any(s.arrivals is not None for s in scenario.sources):
        raise ScenarioError("workers cannot split recorded arrivals (a CSV): use one worker")
    share, extra = divmod(scenario.contacts, workers)
    parts = [
        attrs.evolve(scenario, contacts=share + (k < extra), seed=scenario.seed + k)
        for k in range(workers)
    ]
    global _JOB
    _JOB = (parts, strategies, hooks)
    # The model's mappings are read-only proxies; results cross processes as plain dicts.
    ForkingPickler.register(MappingProxyType, _reduce_proxy)
    started = time.perf_counter()
    try:
        # Forked workers inherit the plugin manager and strategies instead of pickling them.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = list(pool.map(_replicate, range(workers)))
    finally:
        _JOB = None
    wall = time.perf_counter() - started
    records = Records()
    metrics = None
    end = 0.0
    commands = events = 0
    samples: dict[float, list[int]] = {}
    for part in results:
        part_records, part_metrics, part_end, _, part_commands, part_events, part_samples = part
        for field in attrs.fields(Records):
            getattr(records, field.name).extend(getattr(part_records, field.name))
        if metrics is None:
            metrics = part_metrics
            metrics.settle(scenario.start + part_end)
        else:
            metrics.merge(part_metrics, now=scenario.start + part_end)
        end = max(end, part_end)
        commands += part_commands
        events += part_events
        for t, waiting, held in part_samples:
            total = samples.setdefault(t, [0, 0])
            total[0] += waiting
            total[1] += held
    return Run(
        scenario=scenario,
        records=records,
        queues=tuple(q.id for q in scenario.workspace.queues),
        metrics=metrics,
        end=end,
        wall=wall,
        commands=commands,
        events=events,
        samples=[(t, w, h) for t, (w, h) in sorted(samples.items())],
    )
