"""The routing engine: a pure state machine that matches waiting contacts to agents.

Commands go in, events come out. The engine does no I/O and never sleeps: the caller passes
the current time with each command and asks :meth:`Router.next_deadline` when to send the
next :class:`Tick`. The engine's state is a projection of the events it emitted, so
``Router.apply`` over a stored log rebuilds it exactly (restart = replay).

This is the minimal engine: skills match, priority then arrival order, one offer at a time
per agent, accept / reject / time out, wrap-up, and strategies chosen per queue. The runtime
only relies on :class:`RoutingEngine`, so a fuller engine can replace this one.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from . import events as ev
from .errors import TrunklineError
from .model import (
    Agent,
    AgentState,
    AgentStatus,
    Contact,
    ContactState,
    Offer,
    Queue,
    new_id,
)

__all__ = [
    "AbandonContact",
    "AcceptOffer",
    "AgentView",
    "Classification",
    "CloseContact",
    "Command",
    "ContactView",
    "EndContact",
    "EnqueueContact",
    "RejectOffer",
    "Router",
    "RoutingEngine",
    "RoutingError",
    "RoutingHooks",
    "SetAgentStatus",
    "Strategy",
    "Tick",
]


class RoutingError(TrunklineError):
    """A command that cannot apply: an unknown agent, an offer that is no longer open…"""


@attrs.frozen
class Classification:
    """What ``trunkline_classify`` returns: routing data to set on a new contact."""

    attributes: Mapping[str, Any] = attrs.field(factory=dict)
    priority: int | None = None
    required_skills: Mapping[str, int] | None = None
    language: str | None = None
    queue: str | None = None


# Commands ---------------------------------------------------------------------------------


@attrs.frozen
class EnqueueContact:
    """Put a contact (already received) in its queue, ``contact.queue``."""

    contact: Contact


@attrs.frozen
class SetAgentStatus:
    """The person sets their status: offline, available, or break with a reason."""

    agent_id: str
    status: AgentStatus
    reason: str | None = None


@attrs.frozen
class AcceptOffer:
    offer_id: str


@attrs.frozen
class RejectOffer:
    offer_id: str
    reason: str = ""


@attrs.frozen
class EndContact:
    """The agent ends the conversation; wrap-up starts."""

    contact_id: str


@attrs.frozen
class CloseContact:
    """The agent finishes wrap-up, with an optional disposition code."""

    contact_id: str
    disposition: str | None = None


@attrs.frozen
class AbandonContact:
    """The customer left (hung up, closed the chat). Waiting contacts are abandoned;
    a contact an agent is handling ends as if the agent had ended it."""

    contact_id: str


@attrs.frozen
class Tick:
    """Time passed: expire offers and wrap-ups whose deadline is due."""


Command = (
    EnqueueContact
    | SetAgentStatus
    | AcceptOffer
    | RejectOffer
    | EndContact
    | CloseContact
    | AbandonContact
    | Tick
)


# Views and strategy protocol --------------------------------------------------------------


class AgentView(Protocol):
    """What strategies and observers may read about an agent's routing state."""

    @property
    def agent(self) -> Agent: ...
    @property
    def status(self) -> AgentStatus: ...
    @property
    def state(self) -> AgentState: ...
    @property
    def idle_since(self) -> float: ...
    @property
    def handled(self) -> int: ...


class Strategy(Protocol):
    """Chooses one agent among equally good candidates. Registered by plugins by ``name``."""

    name: str

    def pick(self, candidates: Sequence[AgentView], contact: Contact, queue: Queue) -> AgentView:
        """Return one of ``candidates`` (never empty)."""
        ...


class RoutingHooks(Protocol):
    """The slice of the plugin manager the engine calls (synchronous, isolated calls)."""

    def call_each(self, hook_name: str, /, **kwargs: Any) -> list[Any]: ...
    def call_first(self, hook_name: str, /, **kwargs: Any) -> Any: ...


class RoutingEngine(Protocol):
    """What the runtime needs from an engine; the full engine of a later release fits it."""

    def handle(self, command: Command, now: float) -> list[ev.Event]: ...
    def apply(self, event: ev.Event) -> None: ...
    def next_deadline(self) -> float | None: ...


# Projection state -------------------------------------------------------------------------


@attrs.define
class _AgentRun:
    agent: Agent
    status: AgentStatus = AgentStatus.OFFLINE
    reason: str | None = None
    idle_since: float = 0.0
    handled: int = 0
    offers: set[str] = attrs.field(factory=set)
    active: dict[str, str] = attrs.field(factory=dict)  # contact id -> channel kind
    wrap_up: dict[str, float] = attrs.field(factory=dict)  # contact id -> until

    @property
    def state(self) -> AgentState:
        if self.offers:
            return AgentState.OFFERED
        if self.active:
            return AgentState.BUSY
        if self.wrap_up:
            return AgentState.WRAP_UP
        return AgentState.IDLE

    def can_take(self, kind: str) -> bool:
        if self.status is not AgentStatus.AVAILABLE or self.offers or self.wrap_up:
            return False
        load = sum(1 for k in self.active.values() if k == kind)
        return load < int(self.agent.capacity.get(kind, 0))


@attrs.define
class ContactView:
    """The engine's view of a contact: its state, queue, place in line and agent."""

    contact: Contact
    state: ContactState = ContactState.QUEUED
    queue: str | None = None
    priority: int = 0
    queued_at: float = 0.0
    agent_id: str | None = None
    offer_id: str | None = None
    declined: set[str] = attrs.field(factory=set)
    line_entry: int = -1  # the sequence number of its live entry in the queue's heap


class Router:
    """The minimal routing engine for one workspace. Not thread-safe: one writer."""

    def __init__(
        self,
        workspace: str,
        queues: Iterable[Queue],
        agents: Iterable[Agent],
        *,
        strategies: Mapping[str, Strategy],
        hooks: RoutingHooks | None = None,
    ) -> None:
        self.workspace = workspace
        self.queues: dict[str, Queue] = {q.id: q for q in queues}
        self.agents: dict[str, _AgentRun] = {a.id: _AgentRun(a) for a in agents}
        self.strategies = dict(strategies)
        for queue in self.queues.values():
            if queue.strategy not in self.strategies:
                known = ", ".join(sorted(self.strategies)) or "none"
                raise RoutingError(
                    f'queue "{queue.id}": unknown strategy "{queue.strategy}" (known: {known})'
                )
        self.hooks = hooks
        self.contacts: dict[str, ContactView] = {}
        self.offers: dict[str, Offer] = {}
        self._waiting: dict[str, list[tuple[int, float, int, str]]] = {q: [] for q in self.queues}
        self._seq = itertools.count()

    # Reading ------------------------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentView:
        return self._agent(agent_id)

    def agent_views(self) -> list[AgentView]:
        return list(self.agents.values())

    def waiting(self, queue_id: str) -> list[ContactView]:
        """The contacts waiting in a queue, first in line first."""
        entries = sorted(self._waiting.get(queue_id, ()))
        return [self.contacts[e[3]] for e in entries if self._live(e)]

    def next_deadline(self) -> float | None:
        deadlines = [offer.expires_at for offer in self.offers.values()]
        deadlines += [t for run in self.agents.values() for t in run.wrap_up.values()]
        return min(deadlines, default=None)

    # Commands -----------------------------------------------------------------------------

    def handle(self, command: Command, now: float) -> list[ev.Event]:
        """Decide what ``command`` means at ``now``, apply the events, then route."""
        out: list[ev.Event] = []
        emit = self._emitter(out)
        w = self.workspace
        match command:
            case EnqueueContact(contact=contact):
                queue = contact.queue
                if queue not in self.queues:
                    raise RoutingError(f'contact "{contact.id}": unknown queue "{queue}"')
                if contact.id not in self.contacts:
                    emit(ev.ContactReceived(workspace=w, at=now, contact=contact))
                emit(
                    ev.ContactQueued(
                        workspace=w,
                        at=now,
                        contact_id=contact.id,
                        queue=queue,
                        priority=contact.priority,
                    )
                )
            case SetAgentStatus(agent_id=agent_id, status=status, reason=reason):
                self._agent(agent_id)
                emit(
                    ev.AgentStatusChanged(
                        workspace=w, at=now, agent_id=agent_id, status=status, reason=reason
                    )
                )
            case AcceptOffer(offer_id=offer_id):
                offer = self._offer(offer_id)
                emit(
                    ev.OfferAccepted(
                        workspace=w,
                        at=now,
                        offer_id=offer_id,
                        contact_id=offer.contact_id,
                        agent_id=offer.agent_id,
                    )
                )
            case RejectOffer(offer_id=offer_id, reason=reason):
                offer = self._offer(offer_id)
                emit(
                    ev.OfferRejected(
                        workspace=w,
                        at=now,
                        offer_id=offer_id,
                        contact_id=offer.contact_id,
                        agent_id=offer.agent_id,
                        reason=reason,
                    )
                )
            case EndContact(contact_id=contact_id):
                view = self._contact(contact_id, ContactState.ACTIVE)
                self._end(view, now, emit)
            case CloseContact(contact_id=contact_id, disposition=disposition):
                view = self._contact(contact_id, ContactState.WRAP_UP)
                assert view.agent_id is not None
                emit(
                    ev.WrapUpEnded(
                        workspace=w, at=now, contact_id=contact_id, agent_id=view.agent_id
                    )
                )
                emit(
                    ev.ContactClosed(
                        workspace=w, at=now, contact_id=contact_id, disposition=disposition
                    )
                )
            case AbandonContact(contact_id=contact_id):
                view = self._contact(contact_id)
                if view.state in (ContactState.QUEUED, ContactState.OFFERED):
                    emit(
                        ev.ContactAbandoned(
                            workspace=w,
                            at=now,
                            contact_id=contact_id,
                            waited=now - view.queued_at,
                        )
                    )
                elif view.state is ContactState.ACTIVE:
                    self._end(view, now, emit)
            case Tick():
                self._expire(now, emit)
            case _:  # pragma: no cover - exhaustiveness guard
                raise RoutingError(f"unknown command {command!r}")
        self._expire(now, emit)
        self._dispatch(now, emit)
        return out

    def _emitter(self, out: list[ev.Event]) -> Any:
        def emit(event: ev.Event) -> None:
            self.apply(event)
            out.append(event)

        return emit

    def _end(self, view: ContactView, now: float, emit: Any) -> None:
        assert view.agent_id is not None
        assert view.queue is not None
        until = now + self.queues[view.queue].wrap_up
        w = self.workspace
        emit(
            ev.ContactEnded(
                workspace=w,
                at=now,
                contact_id=view.contact.id,
                agent_id=view.agent_id,
                wrap_up_until=until,
            )
        )
        if until <= now:
            emit(
                ev.WrapUpEnded(
                    workspace=w, at=now, contact_id=view.contact.id, agent_id=view.agent_id
                )
            )
            emit(ev.ContactClosed(workspace=w, at=now, contact_id=view.contact.id))

    def _expire(self, now: float, emit: Any) -> None:
        w = self.workspace
        for offer in sorted(self.offers.values(), key=lambda o: (o.expires_at, o.id)):
            if offer.expires_at <= now:
                emit(
                    ev.OfferTimedOut(
                        workspace=w,
                        at=now,
                        offer_id=offer.id,
                        contact_id=offer.contact_id,
                        agent_id=offer.agent_id,
                    )
                )
        for run in sorted(self.agents.values(), key=lambda r: r.agent.id):
            for contact_id, until in sorted(run.wrap_up.items()):
                if until <= now:
                    emit(
                        ev.WrapUpEnded(
                            workspace=w, at=now, contact_id=contact_id, agent_id=run.agent.id
                        )
                    )
                    emit(ev.ContactClosed(workspace=w, at=now, contact_id=contact_id))

    def _dispatch(self, now: float, emit: Any) -> None:
        """Offer waiting contacts, best first across all queues, to free agents."""
        if not any(
            run.status is AgentStatus.AVAILABLE and not run.offers for run in self.agents.values()
        ):
            return
        line: list[tuple[int, float, int, str]] = []
        for heap in self._waiting.values():
            self._prune(heap)
            line.extend(heap)
        line.sort()
        for *_, contact_id in line:
            view = self.contacts[contact_id]
            if view.state is not ContactState.QUEUED:
                continue  # offered earlier in this same pass
            run = self._choose(view)
            if run is None:
                continue
            assert view.queue is not None
            queue = self.queues[view.queue]
            offer = Offer(
                id=new_id("of"),
                workspace=self.workspace,
                contact_id=contact_id,
                agent_id=run.agent.id,
                queue=queue.id,
                created_at=now,
                expires_at=now + queue.offer_timeout,
            )
            emit(ev.ContactOffered(workspace=self.workspace, at=now, offer=offer))

    def _choose(self, view: ContactView) -> _AgentRun | None:
        assert view.queue is not None
        queue = self.queues[view.queue]
        contact = view.contact
        required = {**queue.skills, **contact.required_skills}
        candidates = [
            run
            for run in self.agents.values()
            if queue.id in run.agent.queues
            and run.agent.id not in view.declined
            and run.can_take(contact.channel_kind)
            and run.agent.has_skills(required)
        ]
        if not candidates:
            return None
        scores: dict[str, float] = {}
        if self.hooks is not None:
            agents = [run.agent for run in candidates]
            for keep in self.hooks.call_each(
                "trunkline_filter_agents", contact=contact, queue=queue, agents=agents
            ):
                allowed = set(keep)
                candidates = [run for run in candidates if run.agent.id in allowed]
            if not candidates:
                return None
            agents = [run.agent for run in candidates]
            for result in self.hooks.call_each(
                "trunkline_score_agents", contact=contact, queue=queue, agents=agents
            ):
                for agent_id, score in result.items():
                    scores[agent_id] = scores.get(agent_id, 0.0) + float(score)
            picked = self.hooks.call_first(
                "trunkline_pick_agent", contact=contact, queue=queue, agents=agents, scores=scores
            )
            by_id = {run.agent.id: run for run in candidates}
            if picked in by_id:
                return by_id[picked]
        if scores:
            best = max(scores.get(run.agent.id, 0.0) for run in candidates)
            candidates = [run for run in candidates if scores.get(run.agent.id, 0.0) == best]
        chosen = self.strategies[queue.strategy].pick(candidates, contact, queue)
        return self.agents[chosen.agent.id]

    # Projection ---------------------------------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        """Fold one event into the state. Events of other kinds are ignored."""
        match event:
            case ev.ContactReceived(contact=contact):
                self.contacts.setdefault(contact.id, ContactView(contact, queued_at=event.at))
            case ev.ContactQueued(contact_id=cid, queue=queue, priority=priority):
                view = self.contacts[cid]
                view.state, view.queue, view.priority = ContactState.QUEUED, queue, priority
                view.queued_at = event.at
                self._push(view)
            case ev.ContactOffered(offer=offer):
                view = self.contacts[offer.contact_id]
                view.state, view.offer_id, view.agent_id = (
                    ContactState.OFFERED,
                    offer.id,
                    offer.agent_id,
                )
                self.offers[offer.id] = offer
                self.agents[offer.agent_id].offers.add(offer.id)
            case ev.OfferAccepted(offer_id=oid, contact_id=cid, agent_id=aid):
                self.offers.pop(oid, None)
                view = self.contacts[cid]
                view.state, view.offer_id = ContactState.ACTIVE, None
                run = self.agents[aid]
                run.offers.discard(oid)
                run.active[cid] = view.contact.channel_kind
                run.handled += 1
            case (
                ev.OfferRejected(offer_id=oid, contact_id=cid, agent_id=aid)
                | ev.OfferTimedOut(offer_id=oid, contact_id=cid, agent_id=aid)
            ):
                self.offers.pop(oid, None)
                self.agents[aid].offers.discard(oid)
                view = self.contacts[cid]
                view.state, view.offer_id, view.agent_id = ContactState.QUEUED, None, None
                view.declined.add(aid)
                self._push(view)
            case ev.ContactEnded(contact_id=cid, agent_id=aid, wrap_up_until=until):
                run = self.agents[aid]
                run.active.pop(cid, None)
                run.wrap_up[cid] = until
                self.contacts[cid].state = ContactState.WRAP_UP
            case ev.WrapUpEnded(contact_id=cid, agent_id=aid):
                run = self.agents[aid]
                run.wrap_up.pop(cid, None)
                if not run.active and not run.wrap_up:
                    run.idle_since = event.at
            case ev.ContactClosed(contact_id=cid) | ev.ContactAbandoned(contact_id=cid):
                view = self.contacts.pop(cid)
                if view.offer_id is not None:
                    offer = self.offers.pop(view.offer_id)
                    self.agents[offer.agent_id].offers.discard(offer.id)
            case ev.AgentStatusChanged(agent_id=aid, status=status, reason=reason):
                run = self.agents[aid]
                if status is AgentStatus.AVAILABLE and run.status is not AgentStatus.AVAILABLE:
                    run.idle_since = event.at
                run.status, run.reason = status, reason
            case _:
                pass

    def _push(self, view: ContactView) -> None:
        assert view.queue is not None
        view.line_entry = next(self._seq)
        entry = (-view.priority, view.queued_at, view.line_entry, view.contact.id)
        heapq.heappush(self._waiting[view.queue], entry)

    def _live(self, entry: tuple[int, float, int, str]) -> bool:
        view = self.contacts.get(entry[3])
        return (
            view is not None and view.state is ContactState.QUEUED and view.line_entry == entry[2]
        )

    def _prune(self, heap: list[tuple[int, float, int, str]]) -> None:
        """Drop entries of contacts that left the line (lazy deletion)."""
        live = [e for e in heap if self._live(e)]
        if len(live) != len(heap):
            heap[:] = live
            heapq.heapify(heap)

    # Lookups ------------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> _AgentRun:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise RoutingError(
                f'unknown agent "{agent_id}" in workspace "{self.workspace}"'
            ) from None

    def _offer(self, offer_id: str) -> Offer:
        try:
            return self.offers[offer_id]
        except KeyError:
            raise RoutingError(
                f'offer "{offer_id}" is not open (accepted, rejected or expired)'
            ) from None

    def _contact(self, contact_id: str, state: ContactState | None = None) -> ContactView:
        view = self.contacts.get(contact_id)
        if view is None:
            raise RoutingError(
                f'contact "{contact_id}" is not open in workspace "{self.workspace}"'
            )
        if state is not None and view.state is not state:
            raise RoutingError(f'contact "{contact_id}" is {view.state.value}, not {state.value}')
        return view
