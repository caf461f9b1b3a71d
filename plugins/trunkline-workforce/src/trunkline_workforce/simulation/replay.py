"""Replay: a recorded event log run again under another configuration, side by side.

The log says what the world did — when each contact arrived and with what routing data,
how long its conversation and wrap-up took, when a customer gave up, when each agent was
available — and the engine decided the rest. A replay keeps the world and lets the engine
decide again under the changed configuration (another strategy, more agents, other
thresholds):

- every recorded contact arrives at its recorded time, with its recorded contact data
  (channel kind, priority, skills, attributes, customer) into its recorded queue;
- an answered contact keeps its recorded talk and wrap-up times; a contact that was never
  answered but is answered in the replay draws them from the queue's recorded ones;
- a customer who abandoned keeps the patience they showed (the wait before leaving). A
  customer who was answered showed only that they would wait *at least* as long as they did:
  their patience is that wait plus an exponential draw whose mean is estimated from the whole
  log (total waiting time over abandonments, the maximum-likelihood estimate under censoring);
- agents known to the log follow their recorded status changes; agents only in the changed
  configuration are available from the first arrival to the last.

The same replay under the *recorded* configuration is shown too: the gap between it and the
recorded figures is the replay's own error, to weigh the difference the change makes.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from trunkline import AgentStatus, Contact, WorkspaceConfig
from trunkline import events as ev

from ..errors import ScenarioError
from .distributions import Empirical, Fixed
from .run import Run, simulate
from .scenario import Arrival, ArrivalSource, Scenario

__all__ = ["Recording", "read_log", "replay", "side_by_side"]

FIGURES = (
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "asa",
    "aht",
    "abandonment_rate",
    "wait_probability",
    "occupancy",
)


@attrs.define
class Recording:
    """What a log says about the world: arrivals, durations, and agents' availability."""

    workspace: str
    arrivals: list[Arrival]
    contacts: list[Contact]
    status_changes: list[tuple[float, str, AgentStatus, str | None]]
    handle_times: dict[str, list[float]]  # queue -> recorded talk times
    wrap_times: dict[str, list[float]]  # queue -> recorded wrap-up times
    mean_patience: float | None
    start: float
    end: float
    events: list[ev.Event]


def read_log(events: Iterable[ev.Event], workspace: str, seed: int = 0) -> Recording:
    """Fold a workspace's events into a :class:`Recording`."""
    rng = random.Random(seed)
    received: dict[str, Contact] = {}
    queued: dict[str, tuple[float, str]] = {}  # contact -> (first queued at, queue)
    accepted: dict[str, float] = {}
    ended: dict[str, float] = {}
    talk: dict[str, float] = {}
    wrap: dict[str, float] = {}
    abandoned: dict[str, float] = {}
    status: list[tuple[float, str, AgentStatus, str | None]] = []
    kept: list[ev.Event] = []
    for event in events:
        if event.workspace != workspace:
            continue
        kept.append(event)
        match event:
            case ev.ContactReceived(contact=contact):
                received.setdefault(contact.id, contact)
            case ev.ContactQueued(contact_id=cid, queue=qid):
                queued.setdefault(cid, (event.at, qid))
            case ev.OfferAccepted(contact_id=cid):
                accepted.setdefault(cid, event.at)
            case ev.ContactEnded(contact_id=cid):
                if cid in accepted and cid not in ended:
                    ended[cid] = event.at
                    talk[cid] = event.at - accepted[cid]
            case ev.WrapUpEnded(contact_id=cid):
                if cid in ended and cid not in wrap:
                    wrap[cid] = event.at - ended[cid]
            case ev.ContactAbandoned(contact_id=cid):
                if cid not in accepted:
                    abandoned[cid] = event.at
            case ev.AgentStatusChanged(agent_id=aid, status=st, reason=reason):
                status.append((event.at, aid, st, reason))
            case _:
                pass
    if not queued:
        raise ScenarioError(f'workspace "{workspace}": the log holds no queued contacts')
    waited_total = 0.0
    for cid, (at, _) in queued.items():
        if cid in abandoned:
            waited_total += abandoned[cid] - at
        elif cid in accepted:
            waited_total += accepted[cid] - at
    mean_patience = waited_total / len(abandoned) if abandoned else None
    handle_times: dict[str, list[float]] = defaultdict(list)
    wrap_times: dict[str, list[float]] = defaultdict(list)
    arrivals: list[Arrival] = []
    contacts: list[Contact] = []
    start = min(at for at, _ in queued.values())
    for cid, (at, qid) in sorted(queued.items(), key=lambda item: item[1][0]):
        found = received.get(cid)
        if found is None:
            continue  # received before the log's retained part began
        contact = found
        if cid in abandoned:
            patience: float | None = abandoned[cid] - at
        elif cid in accepted:
            wait = accepted[cid] - at
            patience = (
                math.inf if mean_patience is None else wait + rng.expovariate(1.0 / mean_patience)
            )
        else:
            patience = math.inf  # still waiting when the log ends
        if cid in talk:
            handle_times[qid].append(talk[cid])
        if cid in wrap:
            wrap_times[qid].append(wrap[cid])
        contacts.append(contact)
        arrivals.append(
            Arrival(
                at=at - start,
                queue=qid,
                kind=contact.channel_kind,
                priority=contact.priority,
                skills=contact.required_skills,
                attributes=contact.attributes,
                language=contact.language,
                customer=contact.customer_id,
                handle=talk.get(cid),
                patience=patience,
                wrap_up=wrap.get(cid),
            )
        )
    end = max(e.at for e in kept)
    return Recording(
        workspace=workspace,
        arrivals=arrivals,
        contacts=contacts,
        status_changes=status,
        handle_times=dict(handle_times),
        wrap_times=dict(wrap_times),
        mean_patience=mean_patience,
        start=start,
        end=end,
        events=kept,
    )


def scenario_for(recording: Recording, workspace: WorkspaceConfig, seed: int = 0) -> Scenario:
    """The replay of ``recording`` under ``workspace``'s queues, agents and routing."""
    queues = {q.id for q in workspace.queues}
    missing = sorted({str(a.queue) for a in recording.arrivals if a.queue not in queues})
    if missing:
        raise ScenarioError(
            f'the changed configuration lacks queue "{missing[0]}", which the log routes to'
        )
    every_handle = [t for times in recording.handle_times.values() for t in times]
    fallback = Empirical(tuple(every_handle)) if every_handle else Fixed(0.0)
    sources = []
    by_queue: dict[str, list[Arrival]] = defaultdict(list)
    for arrival in recording.arrivals:
        assert arrival.queue is not None
        by_queue[arrival.queue].append(arrival)
    for qid, arrivals in sorted(by_queue.items()):
        handle = recording.handle_times.get(qid)
        wraps = recording.wrap_times.get(qid)
        sources.append(
            ArrivalSource(
                queue=qid,
                kind=arrivals[0].kind or "voice",
                arrivals=tuple(arrivals),
                handle=Empirical(tuple(handle)) if handle else fallback,
                wrap_up=Empirical(tuple(wraps)) if wraps else None,
            )
        )
    return Scenario(
        workspace=workspace,
        sources=tuple(sources),
        seed=seed,
        start=recording.start,
        interval=900.0,
    )


def replay(
    recording: Recording,
    workspace: WorkspaceConfig,
    *,
    strategies: Mapping[str, Any] | None = None,
    hooks: Any = None,
    seed: int = 0,
) -> Run:
    """Run the recorded world under ``workspace``'s configuration."""
    scenario = scenario_for(recording, workspace, seed)
    known = {a.id for a in workspace.agents}
    logged = {aid for _, aid, _, _ in recording.status_changes}
    changes = [c for c in recording.status_changes if c[1] in known]
    last = max(a.at for a in recording.arrivals)
    timeline = [(at, aid, st) for at, aid, st, _ in changes]
    for aid in sorted(known - logged):  # only in the changed configuration: there all along
        timeline.append((recording.start, aid, AgentStatus.AVAILABLE))
        timeline.append((recording.start + last, aid, AgentStatus.OFFLINE))
    timeline.sort(key=lambda item: item[0])
    return simulate(scenario, strategies=strategies, hooks=hooks, status_changes=timeline)


def recorded_figures(recording: Recording, workspace: WorkspaceConfig) -> dict[str, Any]:
    """The production metrics of the log itself, folded by :class:`trunkline.metrics.Metrics`."""
    from trunkline.metrics import Metrics

    metrics = Metrics(workspace.queues, workspace.agents)
    for event in recording.events:
        metrics.apply(event)
    figures: dict[str, Any] = metrics.figures(recording.end)
    return figures


def side_by_side(columns: Mapping[str, Mapping[str, Any]], queues: Sequence[str]) -> dict[str, Any]:
    """``{"workspace": {figure: {column: value}}, "queues": {q: {figure: {column: value}}}}``."""

    def pick(block: Mapping[str, Any] | None) -> dict[str, Any]:
        return {name: (block or {}).get(name) for name in FIGURES}

    out: dict[str, Any] = {
        "workspace": {
            name: {col: pick(fig.get("workspace"))[name] for col, fig in columns.items()}
            for name in FIGURES
        },
        "queues": {},
    }
    for qid in queues:
        out["queues"][qid] = {
            name: {
                col: pick((fig.get("queues") or {}).get(qid))[name] for col, fig in columns.items()
            }
            for name in FIGURES
        }
    return out
