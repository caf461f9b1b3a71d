"""The routing engine: a pure state machine that matches waiting contacts to agents.

Commands go in, events come out. The engine does no I/O and never sleeps: the caller passes
the current time with each command and asks :meth:`Router.next_deadline` when to send the
next :class:`~trunkline.routing.commands.Tick`. The state is a projection of the events the
engine emitted, so :meth:`Router.apply` over a stored log rebuilds it exactly, and the same
commands at the same times give the same events (restart = replay; the simulator and
``trunkline explain`` rely on it).

How a decision is made (see ``docs/routing.md``): after every command the engine restores
its invariant — no eligible agent is left idle while a contact it could serve waits. A
contact that starts waiting is offered to the best eligible agent of its pools in its
queue's strategy order; an agent that becomes free takes the best contact, by priority-
adjusted waiting time, across every queue and group it serves.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, cast

from .. import events as ev
from ..deprecation import warn_deprecated
from ..errors import TrunklineError
from ..hours import Schedule
from ..model import (
    Agent,
    AgentStatus,
    Contact,
    ContactState,
    EscalationStep,
    Offer,
    Queue,
    RoutingSettings,
)
from ..requirements import (
    AgentPredicate,
    RequirementError,
    combine,
    minimums_predicate,
    parse_requirement,
)
from .commands import (
    AbandonContact,
    AcceptOffer,
    CloseContact,
    Command,
    EndContact,
    EnqueueContact,
    RejectOffer,
    SetAgentStatus,
    Tick,
    TransferContact,
)
from .state import AgentIndex, AgentRun, ContactView, Level, Line, OrderedIndex, Pool, QueueState
from .strategy import AgentView, Strategy

__all__ = ["Router", "RoutingEngine", "RoutingError", "RoutingHooks"]


class RoutingError(TrunklineError):
    """A command that cannot apply, or a routing configuration that cannot work."""


class RoutingHooks(Protocol):
    """The plugin hooks the engine consults when it chooses an agent (synchronous and isolated:
    a raising plugin is skipped). ``PluginManager.routing_hooks`` is one; a test or an app may
    pass its own."""

    def active(self) -> bool:
        """True when any of the hooks below would do something (else the engine skips them)."""
        ...

    def filter_agents(
        self, contact: Contact, queue: Queue, agents: Sequence[Agent]
    ) -> list[Sequence[str]]:
        """Each plugin's ids of the agents to keep (``trunkline_filter_agents``)."""
        ...

    def score_agents(
        self, contact: Contact, queue: Queue, agents: Sequence[Agent]
    ) -> list[Mapping[str, float]]:
        """Each plugin's scores per agent id (``trunkline_score_agents``)."""
        ...

    def pick_agent(
        self,
        contact: Contact,
        queue: Queue,
        agents: Sequence[Agent],
        scores: Mapping[str, float],
    ) -> str | None:
        """The agent a plugin picks, overriding the strategy (``trunkline_pick_agent``)."""
        ...


class RoutingEngine(Protocol):
    """What the runtime, the cluster, the web API and the demo need from a routing engine.

    :class:`Router` is the engine core ships; an ``engine_factory`` may build another, which
    then serves every consumer through these members alone.
    """

    # Driving: commands in, events out; the state is a projection of the events.
    def handle(self, command: Command, now: float) -> list[ev.Event]: ...
    def apply(self, event: ev.Event) -> None: ...
    def next_deadline(self) -> float | None: ...

    # Snapshots: the state as bytes, and back (start-up skips replaying the log before it).
    def snapshot(self) -> bytes: ...
    def restore(self, data: bytes) -> None: ...

    # Reading.
    @property
    def queues(self) -> Mapping[str, Queue]: ...
    @property
    def agents(self) -> Mapping[str, AgentRun]: ...
    @property
    def contacts(self) -> Mapping[str, ContactView]: ...
    @property
    def offers(self) -> Mapping[str, Offer]: ...
    @property
    def schedules(self) -> Mapping[str, Schedule]: ...
    def waiting(self, queue_id: str) -> list[ContactView]: ...
    def queue_agents(self, queue_id: str) -> list[AgentRun]: ...
    def unrouted(self) -> list[Contact]: ...


def _routing_hooks(hooks: Any) -> RoutingHooks | None:
    """The engine's hooks; a plugin manager passed as before 0.2 (``hooks=pm``) still works,
    with a deprecation warning, through its ``routing_hooks``."""
    routing = getattr(hooks, "routing_hooks", None)
    if routing is None:
        return cast("RoutingHooks | None", hooks)
    warn_deprecated(
        "Router(hooks=pm) with a plugin manager",
        instead="pass hooks=pm.routing_hooks",
        removal="0.3",
        stacklevel=3,
    )
    return cast(RoutingHooks, routing)


_OFFER, _WRAP, _STEP, _PREFERRED, _EXCLUDE = range(5)
_WAITING = (ContactState.QUEUED, ContactState.OFFERED)
SNAPSHOT_FORMAT = 2
_MISSING: Any = object()
_INF = math.inf


class Router:
    """The routing engine of one workspace. Not thread-safe: exactly one writer."""

    def __init__(
        self,
        workspace: str,
        queues: Iterable[Queue],
        agents: Iterable[Agent],
        *,
        strategies: Mapping[str, Strategy],
        hooks: RoutingHooks | None = None,
        skills: Iterable[str] | None = None,
        settings: RoutingSettings | None = None,
        schedules: Mapping[str, Schedule] | None = None,
    ) -> None:
        queues, agents = list(queues), list(agents)
        self.workspace = workspace
        self.strategies = dict(strategies)
        self.hooks = _routing_hooks(hooks)
        self.settings = settings or RoutingSettings()
        self.schedules = dict(schedules or {})
        if skills is None:
            found = {s for a in agents for s in a.skills} | {s for q in queues for s in q.skills}
            skills = sorted(found)
        self.skills = tuple(skills)
        self.conflicts = _conflicts(self.settings.blocks)
        self.queues: dict[str, Queue] = {}
        self.agents: dict[str, AgentRun] = {}
        self.contacts: dict[str, ContactView] = {}
        self.offers: dict[str, Offer] = {}
        self._queues: dict[str, QueueState] = {}
        self._pools: dict[str, Pool] = {}
        self._seq = _Counter()
        self._offer_clock = 0  # grows with every offer: round-robin's memory
        self._deadlines: list[tuple[float, int, int, Any, Any]] = []
        self._last_agent: dict[str, str] = {}  # customer id -> agent who last accepted
        self._rejoin: dict[tuple[str, str], tuple[float, float]] = {}  # -> (since, until)
        self._rejoin_limit = 1024
        self._dirty_agents: dict[str, AgentRun] = {}
        self._stale: dict[str, AgentRun] = {}  # agents whose index entries lag their state
        self._dirty_contacts: list[ContactView] = []
        self._out: list[ev.Event] = []
        self._now = 0.0
        self._at = 0.0  # the time of the event being applied
        for queue in queues:
            self._add_queue(queue)
        for queue in queues:
            self._check_queue(queue)
        for agent in agents:
            self.add_agent(agent)
        self._commands: dict[type[Any], Callable[[Any, float], None]] = {
            EnqueueContact: self._do_enqueue,
            SetAgentStatus: self._do_status,
            AcceptOffer: self._do_accept,
            RejectOffer: self._do_reject,
            EndContact: self._do_end,
            CloseContact: self._do_close,
            AbandonContact: self._do_abandon,
            TransferContact: self._do_transfer,
            Tick: self._do_tick,
        }
        self._appliers: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.ContactReceived: self._on_received,
            ev.ContactQueued: self._on_queued,
            ev.ContactEscalated: self._on_escalated,
            ev.ContactOffered: self._on_offered,
            ev.OfferAccepted: self._on_accepted,
            ev.OfferRejected: self._on_declined,
            ev.OfferTimedOut: self._on_declined,
            ev.OfferRescinded: self._on_rescinded,
            ev.ExclusionEnded: self._on_exclusion_ended,
            ev.ContactTransferred: self._on_transferred,
            ev.ContactEnded: self._on_ended,
            ev.WrapUpEnded: self._on_wrap_up_ended,
            ev.ContactClosed: self._on_closed,
            ev.ContactAbandoned: self._on_abandoned,
            ev.ContactRefused: self._on_refused,
            ev.AgentStatusChanged: self._on_status,
        }

    # Configuration ------------------------------------------------------------------------

    def add_queue(self, queue: Queue) -> None:
        """Add a queue while running (configuration is not part of the event log)."""
        if queue.id in self.queues:
            raise RoutingError(f'queue "{queue.id}" exists already')
        self._add_queue(queue)
        try:
            self._check_queue(queue)
        except RoutingError:
            del self.queues[queue.id], self._queues[queue.id]
            raise
        for pool in {
            p.id: p for level in self._queues[queue.id].levels for p in level.pools
        }.values():
            index = pool.indexes[queue.id]
            for run in pool.members:
                run.indexes.append(index)
                run.indexed = False  # put it into the new index too, at the next sync
                self._stale[run.agent.id] = run

    def add_agent(self, agent: Agent) -> None:
        """Add an agent (offline) while running."""
        if agent.id in self.agents:
            raise RoutingError(f'agent "{agent.id}" exists already')
        for skill in agent.skills:
            if skill not in self.skills:
                raise RoutingError(
                    f'agent "{agent.id}": unknown skill "{skill}" (known: '
                    f"{', '.join(self.skills) or 'none'})"
                )
        for qid in agent.queues:
            if qid not in self.queues:
                raise RoutingError(
                    f'agent "{agent.id}": unknown queue "{qid}" (known: '
                    f"{', '.join(sorted(self.queues)) or 'none'})"
                )
        run = AgentRun(agent, len(self.agents))
        self.agents[agent.id] = run
        ids = [f"queue:{q}" for q in agent.queues] + [f"group:{g}" for g in agent.groups]
        for pool_id in dict.fromkeys(ids):
            pool = self._pool(pool_id)
            pool.members.append(run)
            run.pools.append(pool)
            run.lines.extend(pool.lines.values())
            run.indexes.extend(pool.indexes.values())

    def _pool(self, pool_id: str) -> Pool:
        pool = self._pools.get(pool_id)
        if pool is None:
            pool = self._pools[pool_id] = Pool(pool_id)
        return pool

    def _add_queue(self, queue: Queue) -> None:
        if queue.strategy not in self.strategies:
            known = ", ".join(sorted(self.strategies)) or "none"
            raise RoutingError(
                f'queue "{queue.id}": unknown strategy "{queue.strategy}" (known: {known})'
            )
        for skill in queue.skills:
            if skill not in self.skills:
                raise RoutingError(
                    f'queue "{queue.id}": unknown skill "{skill}" (known: '
                    f"{', '.join(self.skills) or 'none'})"
                )
        requirement = self._parse(queue, queue.requirement or "true")
        minimums: Mapping[str, int] = queue.skills
        pools = [self._pool(f"queue:{queue.id}")]
        skills = set(queue.skills) | requirement.skills_used
        levels: list[Level] = []
        state = QueueState(queue, levels, frozenset())
        levels.append(Level(0, requirement, tuple(pools), None, minimums))
        for number, step in enumerate(queue.escalation, start=1):
            # A step's requirement says who may serve from now on: it replaces the requirement
            # and the minimums in force; its skills, if given, are the minimums from now on.
            if step.requirement is not None:
                requirement = self._parse(queue, step.requirement, number)
                skills |= requirement.skills_used
                minimums = {}
            if step.skills is not None:
                for skill in step.skills:
                    if skill not in self.skills:
                        raise RoutingError(
                            f'queue "{queue.id}" escalation step {number}: unknown skill '
                            f'"{skill}" (known: {", ".join(self.skills) or "none"})'
                        )
                minimums = step.skills
                skills |= set(minimums)
            pools += [self._pool(f"queue:{q}") for q in step.queues]
            pools += [self._pool(f"group:{g}") for g in step.groups]
            pools = list({p.id: p for p in pools}.values())
            levels.append(Level(number, requirement, tuple(pools), step, minimums))
        state.skills = frozenset(skills)
        index_type = (
            OrderedIndex
            if getattr(self.strategies[queue.strategy], "monotonic", False)
            else AgentIndex
        )
        for pool in pools:
            pool.indexes[queue.id] = index_type(pool, state)
        self.queues[queue.id] = queue
        self._queues[queue.id] = state

    def _parse(self, queue: Queue, text: str, step: int | None = None) -> Any:
        try:
            return parse_requirement(text, skills=self.skills)
        except RequirementError as exc:
            where = f'queue "{queue.id}"' + (f" escalation step {step}" if step else "")
            raise RoutingError(f"{where}: {exc}") from None

    def _check_queue(self, queue: Queue) -> None:
        def known(qid: str, what: str) -> None:
            if qid not in self.queues:
                raise RoutingError(
                    f'queue "{queue.id}": {what} names unknown queue "{qid}" (known: '
                    f"{', '.join(sorted(self.queues))})"
                )

        if queue.hours and queue.hours not in self.schedules:
            raise RoutingError(
                f'queue "{queue.id}": unknown business hours "{queue.hours}" (known: '
                f"{', '.join(sorted(self.schedules)) or 'none'})"
            )
        if queue.when_closed == "overflow":
            known(queue.closed_queue, "closed_queue")
        for number, step in enumerate(queue.escalation, start=1):
            for qid in step.queues:
                known(qid, f"escalation step {number}")
            if step.overflow is not None:
                known(step.overflow, f"escalation step {number} overflow")

    # Reading ------------------------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentView:
        return self._agent(agent_id)

    def agent_views(self) -> list[AgentView]:
        return list(self.agents.values())

    def queue_view(self, queue_id: str) -> QueueState:
        return self._queues[queue_id]

    def queue_agents(self, queue_id: str) -> list[AgentRun]:
        """The agents who serve a queue (its first step's), whatever their status."""
        return list(self._queues[queue_id].levels[0].pools[0].members)

    def waiting(self, queue_id: str) -> list[ContactView]:
        """The contacts waiting (not offered) in a queue, first in line first."""
        views = [
            v
            for v in self.contacts.values()
            if v.queue == queue_id and v.state is ContactState.QUEUED and v.seq != -1
        ]
        views.sort(key=lambda v: (v.score, v.seq))
        return views

    def unrouted(self) -> list[Contact]:
        """Contacts received but never queued: intake on another node, not routed yet."""
        return [v.contact for v in self.contacts.values() if v.queue is None]

    def next_deadline(self) -> float | None:
        """When the next :class:`Tick` is due: an offer, a wrap-up, an escalation step, a
        preferred agent's window or a declined agent's exclusion."""
        heap = self._deadlines
        while heap and not self._due_valid(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # Commands -----------------------------------------------------------------------------

    def handle(self, command: Command, now: float) -> list[ev.Event]:
        """Decide what ``command`` means at ``now``; apply and return the events."""
        out: list[ev.Event] = []
        self._out, self._now = out, now
        self._dirty_agents.clear()
        self._dirty_contacts.clear()
        decide = self._commands.get(type(command))
        if decide is None:
            raise RoutingError(f"unknown command {command!r}")
        decide(command, now)
        self._expire(now)
        self._dispatch()
        if self._stale:
            self._sync_indexes()
        return out

    # One method per command: ``handle`` finds it by the command's type (a dictionary look-up
    # rather than a chain of ``case`` patterns; the simulator sends millions of commands).

    def _do_enqueue(self, command: EnqueueContact, now: float) -> None:
        self._enqueue(command.contact, now)

    def _do_status(self, command: SetAgentStatus, now: float) -> None:
        run = self._agent(command.agent_id)
        self._emit(
            ev.AgentStatusChanged(
                workspace=self.workspace,
                at=now,
                agent_id=command.agent_id,
                status=command.status,
                reason=command.reason,
            )
        )
        if command.status is AgentStatus.OFFLINE:
            self._after_logoff(run)

    def _do_accept(self, command: AcceptOffer, now: float) -> None:
        offer = self._offer(command.offer_id)
        self._answer(ev.OfferAccepted, offer)
        others = self.contacts[offer.contact_id].offers
        if others:
            for other in list(others):
                self._answer(ev.OfferRescinded, self.offers[other])

    def _do_reject(self, command: RejectOffer, now: float) -> None:
        self._answer(ev.OfferRejected, self._offer(command.offer_id), reason=command.reason)

    def _do_end(self, command: EndContact, now: float) -> None:
        view = self._contact(command.contact_id, ContactState.ACTIVE)
        if command.agent_id is not None:
            self._handled_by(view, command.agent_id)
        self._end(view, now)

    def _do_close(self, command: CloseContact, now: float) -> None:
        view = self._contact(command.contact_id, ContactState.WRAP_UP)
        assert view.agent_id is not None
        if command.agent_id is not None:
            self._handled_by(view, command.agent_id)
        self._close(command.contact_id, view.agent_id, command.disposition)

    def _handled_by(self, view: ContactView, agent_id: str) -> None:
        if view.agent_id != agent_id:
            raise RoutingError(
                f'contact "{view.contact.id}" is handled by agent "{view.agent_id}", '
                f'not "{agent_id}"'
            )

    def _do_abandon(self, command: AbandonContact, now: float) -> None:
        contact_id = command.contact_id
        view = self._contact(contact_id)
        if view.state in _WAITING:
            for offer_id in list(view.offers):
                self._answer(ev.OfferRescinded, self.offers[offer_id])
            self._emit(
                ev.ContactAbandoned(
                    workspace=self.workspace,
                    at=now,
                    contact_id=contact_id,
                    waited=now - view.since,
                    queue=view.queue,
                )
            )
        elif view.state is ContactState.ACTIVE:
            self._end(view, now)

    def _do_transfer(self, command: TransferContact, now: float) -> None:
        view = self._contact(command.contact_id)
        if view.state is ContactState.ACTIVE:
            self._transfer(view, command.queue, command.agent)
        elif view.state in _WAITING and view.queue is not None:
            self._transfer_waiting(view, command.queue, command.agent)
        else:
            where = view.state.value if view.queue is not None else "in no queue yet"
            raise RoutingError(f'contact "{command.contact_id}" is {where}, not waiting or active')

    def _do_tick(self, command: Tick, now: float) -> None:
        pass

    def _emit(self, event: ev.Event) -> None:
        applier = self._appliers.get(type(event))  # :meth:`apply`, inlined: the hottest call
        if applier is not None:
            self._at = event.at
            applier(event)
        self._out.append(event)

    def _answer(self, kind: Callable[..., ev.Event], offer: Offer, **extra: Any) -> None:
        """Emit an event that closes an offer: accepted, rejected, rescinded or timed out."""
        self._emit(
            kind(
                workspace=self.workspace,
                at=self._now,
                offer_id=offer.id,
                contact_id=offer.contact_id,
                agent_id=offer.agent_id,
                **extra,
            )
        )

    # Arrival ------------------------------------------------------------------------------

    def _enqueue(self, contact: Contact, now: float) -> None:
        w = self.workspace
        existing = self.contacts.get(contact.id)
        if existing is not None and existing.queue is not None:
            raise RoutingError(f'contact "{contact.id}" is already in queue "{existing.queue}"')
        qid = contact.queue
        if qid is None or qid not in self.queues:
            known = ", ".join(sorted(self.queues)) or "none"
            raise RoutingError(f'contact "{contact.id}": unknown queue "{qid}" (known: {known})')
        if existing is None:
            self._emit(ev.ContactReceived(workspace=w, at=now, contact=contact))
        queue = self.queues[qid]
        refusal = None
        if queue.hours and not self.schedules[queue.hours].is_open(now):
            closed = f'queue "{qid}" is closed ({self.schedules[queue.hours].describe()})'
            if queue.when_closed == "refuse":
                refusal = closed
            elif queue.when_closed == "overflow":
                qid = queue.closed_queue
                queue = self.queues[qid]
        if refusal is None:
            refusal = self._refusal(self._queues[qid], contact)
        if refusal is not None:
            self._emit(
                ev.ContactRefused(
                    workspace=w, at=now, contact_id=contact.id, queue=qid, reason=refusal
                )
            )
            return
        since = now
        customer = contact.customer_id
        if queue.rejoin_window and customer:
            kept = self._rejoin.pop((customer, qid), None)
            if kept is not None and kept[1] >= now:
                since = kept[0]
        preferred = until = None
        if queue.sticky and customer:
            last = self._last_agent.get(customer)
            run = None if last is None else self.agents.get(last)
            if run is not None and run.status is not AgentStatus.OFFLINE and self._serves(run, qid):
                preferred, until = last, now + queue.sticky
        self._emit(
            ev.ContactQueued(
                workspace=w,
                at=now,
                contact_id=contact.id,
                queue=qid,
                priority=contact.priority + queue.priority,
                since=since,
                preferred_agent=preferred,
                preferred_until=until,
            )
        )

    def _refusal(self, state: QueueState, contact: Contact) -> str | None:
        queue = state.queue
        if queue.max_length and state.waiting >= queue.max_length:
            return f'queue "{queue.id}" is full ({queue.max_length} waiting)'
        if queue.when_no_agents == "refuse" and not self._servable(state, contact):
            return f'queue "{queue.id}" has no logged-in agent who could serve this contact'
        return None

    def _servable(self, state: QueueState, contact: Contact) -> bool:
        """True when some logged-in agent of the queue's first level could take the contact."""
        level = state.levels[0]
        predicate = self._bind(state, level, contact)
        kind = contact.channel_kind
        for pool in level.pools:
            if pool.logged_in:
                for run in pool.members:
                    if (
                        run.status is not AgentStatus.OFFLINE
                        and run.capacity.get(kind, 0) > 0
                        and predicate(run.skills)
                    ):
                        return True
        return False

    def _serves(self, run: AgentRun, qid: str) -> bool:
        ids = {p.id for level in self._queues[qid].levels for p in level.pools}
        return any(p.id in ids for p in run.pools)

    # Agents leaving, ending, transferring -------------------------------------------------

    def _after_logoff(self, run: AgentRun) -> None:
        """An agent went offline: preferred contacts fall back; empty queues may be left."""
        w, now = self.workspace, self._now
        for view in list(run.preferred.values()):
            self._fall_back(view, f'preferred agent "{run.agent.id}" went offline')
        leaving: dict[str, ContactView] = {}
        for pool in run.pools:
            if pool.logged_in:
                continue
            for line in list(pool.lines.values()):
                for _, _, view in line.ordered():
                    queue = self.queues[view.queue]  # type: ignore[index]
                    if queue.leave_when_no_agents and not any(
                        ln.pool.logged_in for ln in view.lines
                    ):
                        leaving[view.contact.id] = view
        for view in leaving.values():
            self._emit(
                ev.ContactRefused(
                    workspace=w,
                    at=now,
                    contact_id=view.contact.id,
                    queue=view.queue or "",
                    reason=f'queue "{view.queue}" has no logged-in agent left',
                )
            )

    def _end(self, view: ContactView, now: float) -> None:
        assert view.agent_id is not None
        assert view.queue is not None
        until = now + self.queues[view.queue].wrap_up
        w, cid = self.workspace, view.contact.id
        self._emit(
            ev.ContactEnded(
                workspace=w, at=now, contact_id=cid, agent_id=view.agent_id, wrap_up_until=until
            )
        )
        if until <= now:
            self._close(cid, view.agent_id)

    def _close(self, contact_id: str, agent_id: str, disposition: str | None = None) -> None:
        """Wrap-up is over (closed by the agent, or its time is up): the contact closes."""
        w, now = self.workspace, self._now
        self._emit(ev.WrapUpEnded(workspace=w, at=now, contact_id=contact_id, agent_id=agent_id))
        self._emit(
            ev.ContactClosed(workspace=w, at=now, contact_id=contact_id, disposition=disposition)
        )

    def _transfer(self, view: ContactView, queue_id: str | None, agent_id: str | None) -> None:
        assert view.agent_id is not None
        assert view.queue is not None
        qid = queue_id or view.queue
        if qid not in self.queues:
            raise RoutingError(
                f'transfer of "{view.contact.id}": unknown queue "{qid}" (known: '
                f"{', '.join(sorted(self.queues))})"
            )
        if agent_id is not None:
            target = self._agent(agent_id)
            if target.status is AgentStatus.OFFLINE:
                raise RoutingError(
                    f'transfer of "{view.contact.id}": agent "{agent_id}" is offline'
                )
            if agent_id == view.agent_id:
                raise RoutingError(
                    f'transfer of "{view.contact.id}": agent "{agent_id}" has it already'
                )
        w, now = self.workspace, self._now
        self._emit(
            ev.ContactTransferred(
                workspace=w,
                at=now,
                contact_id=view.contact.id,
                from_agent=view.agent_id,
                queue=qid,
                to_agent=agent_id,
            )
        )
        self._emit(
            ev.ContactQueued(
                workspace=w,
                at=now,
                contact_id=view.contact.id,
                queue=qid,
                priority=view.contact.priority + self.queues[qid].priority,
                since=now,
                preferred_agent=agent_id,
                preferred_until=_INF if agent_id is not None else None,
            )
        )

    def _transfer_waiting(
        self, view: ContactView, queue_id: str | None, agent_id: str | None
    ) -> None:
        """A supervisor moves a waiting contact: to another queue, to one agent, or both.

        The named agent is offered it at once, whatever the strategy would pick, or the
        transfer is refused; should they decline, the contact is back in line where it was
        (the offer changed neither its priority nor its waiting time). A move to another
        queue keeps its waiting time, as an overflow does. Open offers are withdrawn first.
        Everything is checked before anything is emitted: a refused transfer changes nothing.
        """
        cid = view.contact.id
        qid = queue_id or view.queue
        assert qid is not None
        if qid not in self.queues:
            raise RoutingError(
                f'transfer of "{cid}": unknown queue "{qid}" (known: '
                f"{', '.join(sorted(self.queues))})"
            )
        if agent_id is None and qid == view.queue:
            raise RoutingError(
                f'transfer of "{cid}": it waits in queue "{qid}" already; name another queue '
                "or an agent"
            )
        target = None
        if agent_id is not None:
            target = self._agent(agent_id)
            problem = self._cannot_offer(target, view)
            if problem is not None:
                raise RoutingError(
                    f'transfer of "{cid}": agent "{agent_id}" {problem}; a waiting contact goes '
                    "only to an agent who can take it now"
                )
        for offer_id in list(view.offers):
            self._answer(ev.OfferRescinded, self.offers[offer_id])
        if qid != view.queue:
            self._emit(
                ev.ContactQueued(
                    workspace=self.workspace,
                    at=self._now,
                    contact_id=cid,
                    queue=qid,
                    priority=view.contact.priority + self.queues[qid].priority,
                    since=view.since,
                )
            )
        if target is not None:
            self._make_offers(view, [target], "transfer")

    def _cannot_offer(self, run: AgentRun, view: ContactView) -> str | None:
        """Why ``run`` cannot be offered the waiting contact now (None: it can)."""
        if run.status is AgentStatus.OFFLINE:
            return "is offline"
        if run.status is not AgentStatus.AVAILABLE:
            reason = f' ("{run.reason}")' if run.reason else ""
            return f"is on {run.status.value}{reason}"
        if run.offer is not None:
            if run.offer in view.offers:
                return "is being offered it already"
            return f'has an open offer ("{run.offer}")'
        kind = view.contact.channel_kind
        room = run.capacity.get(kind, 0)
        if not room:
            has = ", ".join(f"{k} {n}" for k, n in sorted(run.capacity.items())) or "none"
            return f"takes no {kind} contacts (capacity: {has})"
        held = run.held.get(kind, 0)
        if held >= room:
            return f"has no room for another {kind} contact (holds {held} of {room})"
        for other in sorted(self.conflicts.get(kind, ())):
            if run.held.get(other):
                return f"holds a {other} contact, which rules out {kind} at the same time"
        return None

    # Timers -------------------------------------------------------------------------------

    def _deadline(self, at: float, kind: int, ref: Any, token: Any) -> None:
        heapq.heappush(self._deadlines, (at, next(self._seq), kind, ref, token))

    def _due_valid(self, entry: tuple[float, int, int, Any, Any]) -> bool:
        _, _, kind, ref, token = entry
        if kind == _OFFER:
            return ref in self.offers
        if kind == _WRAP:
            run, cid = ref
            held = run.wrap_up.get(cid)
            return held is not None and held[1] == token
        if kind == _EXCLUDE:
            view, aid = ref
            declined = view.declined
            kept = None if declined is None else declined.get(aid)
            return (
                kept is not None
                and kept[0] == token
                and view.state in _WAITING
                and self.contacts.get(view.contact.id) is view
            )
        view = ref
        return view.seq == token and view.state is ContactState.QUEUED

    def _expire(self, now: float) -> None:
        heap, w = self._deadlines, self.workspace
        ending: list[tuple[float, int, int, Any, Any]] | None = None  # exclusions over (below)
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if not self._due_valid(entry):
                continue
            _, _, kind, ref, _ = entry
            if kind == _OFFER:
                offer = self.offers[ref]
                self._answer(ev.OfferTimedOut, offer)
                run = self.agents[offer.agent_id]
                limit = self.settings.auto_break_after
                if limit and run.missed >= limit and run.status is AgentStatus.AVAILABLE:
                    self._emit(
                        ev.AgentStatusChanged(
                            workspace=w,
                            at=now,
                            agent_id=run.agent.id,
                            status=AgentStatus.BREAK,
                            reason=self.settings.auto_break_reason,
                        )
                    )
            elif kind == _WRAP:
                run, cid = ref
                self._close(cid, run.agent.id)
            elif kind == _PREFERRED:
                self._fall_back(ref, f'preferred agent "{ref.preferred}" was not free in time')
            elif kind == _EXCLUDE:
                if ending is None:
                    ending = []
                ending.append(entry)
            else:
                self._escalate(ref, now)
        if ending:
            # Ended in an order the state alone decides (not the timers' push order, which a
            # restored snapshot cannot repeat when two fall due at the same instant), and after
            # the other timers: only the next dispatch reads them.
            ending.sort(key=lambda e: (e[0], e[3][0].contact.id, e[3][1]))
            for entry in ending:
                if self._due_valid(entry):
                    view, aid = entry[3]
                    self._emit(
                        ev.ExclusionEnded(
                            workspace=w, at=now, contact_id=view.contact.id, agent_id=aid
                        )
                    )

    def _fall_back(self, view: ContactView, reason: str) -> None:
        """A contact waiting for its preferred agent goes to normal routing (level 0)."""
        self._emit(
            ev.ContactEscalated(
                workspace=self.workspace,
                at=self._now,
                contact_id=view.contact.id,
                level=0,
                priority=view.priority,
                reason=reason,
            )
        )

    def _escalate(self, view: ContactView, now: float) -> None:
        """Move a waiting contact to the last escalation level that is due."""
        assert view.queue is not None
        levels = self._queues[view.queue].levels
        level = view.level
        while level + 1 < len(levels) and view.joined_at + _after(levels[level + 1].step) <= now:
            level += 1
        if level == view.level:
            return
        step = levels[level].step
        assert step is not None
        w = self.workspace
        if step.overflow is not None:
            target = self.queues[step.overflow]
            self._emit(
                ev.ContactQueued(
                    workspace=w,
                    at=now,
                    contact_id=view.contact.id,
                    queue=target.id,
                    priority=view.contact.priority + target.priority,
                    since=view.since,
                )
            )
            return
        priority = view.priority
        for passed in levels[view.level + 1 : level + 1]:
            if passed.step is not None and passed.step.priority is not None:
                priority = passed.step.priority
        self._emit(
            ev.ContactEscalated(
                workspace=w,
                at=now,
                contact_id=view.contact.id,
                level=level,
                priority=priority,
                reason=f"escalation step {level} after {step.after:g}s",
            )
        )

    # Dispatch -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Restore the invariant: no eligible agent idles while a contact it could serve waits.

        Only the contacts that started waiting and the agents that became eligible during this
        command can form new pairs. The usual command brings one of them; a burst (a timer
        freeing several agents, a returned offer beside a free agent) is served best contact
        first, each contact going to the agent its queue's strategy prefers.
        """
        while self._dirty_contacts or self._dirty_agents:
            contacts = [v for v in self._dirty_contacts if v.seq != -1]
            agents = [r for r in self._dirty_agents.values() if r.eligible]
            self._dirty_contacts.clear()
            self._dirty_agents.clear()
            hooked = self._hooked()
            if not agents and len(contacts) == 1:
                self._route_contact(contacts[0], hooked)
            elif len(agents) == 1 and not contacts and not hooked:
                best = self._best_contact(agents[0])
                if best is not None:
                    self._route_contact(best[2], hooked, agents[0])
            elif agents or contacts:
                self._route_burst(contacts, agents, hooked)

    def _hooked(self) -> bool:
        hooks = self.hooks
        return hooks is not None and hooks.active()

    def _route_burst(
        self, contacts: list[ContactView], agents: list[AgentRun], hooked: bool
    ) -> None:
        tie = itertools.count()
        heap: list[tuple[float, int, int, ContactView, AgentRun | None]] = [
            (view.score, view.seq, next(tie), view, None) for view in contacts
        ]
        refused: dict[str, set[int]] = {}  # agent -> contacts a plugin kept from it

        heapq.heapify(heap)

        def push_best(run: AgentRun) -> None:
            best = self._best_contact(run, refused.get(run.agent.id))
            if best is not None:
                heapq.heappush(heap, (best[0], best[1], next(tie), best[2], run))

        for free in agents:
            push_best(free)
        while heap:
            _, seq, _, view, run = heapq.heappop(heap)
            if run is not None and not run.eligible:
                continue
            if view.seq != seq:  # offered meanwhile
                if run is not None:
                    push_best(run)
                continue
            routed = self._route_contact(view, hooked)
            if run is not None and run.eligible:
                if not routed:
                    refused.setdefault(run.agent.id, set()).add(seq)
                push_best(run)

    def _route_contact(self, view: ContactView, hooked: bool, only: AgentRun | None = None) -> bool:
        """Offer a waiting contact to the best eligible agents; False when there are none.

        ``only`` is given when the engine knows that agent is the sole eligible one.
        """
        if view.preferred is not None:
            run = self.agents[view.preferred]
            if self._can_serve(run, view):
                self._make_offers(view, [run], "preferred")
                return True
            return False
        state = self._queues[view.queue]  # type: ignore[index]
        if hooked:
            chosen, rule = self._choose_with_hooks(view, state, list(self._candidates(view, state)))
        elif only is not None and state.queue.offer_to == 1:
            chosen, rule = [only], state.queue.strategy
        else:
            chosen = self._best_agents(view, state, state.queue.offer_to)
            rule = state.queue.strategy
        if not chosen:
            return False
        self._make_offers(view, chosen, rule)
        return True

    def _can_serve(self, run: AgentRun, view: ContactView) -> bool:
        kind = view.contact.channel_kind
        return (
            run.eligible
            and self._can_take(run, kind)
            and not view.has_declined(run.agent.id)
            and (view.predicate is None or view.predicate(run.skills))
        )

    def _can_take(self, run: AgentRun, kind: str) -> bool:
        held = run.held
        if not held:
            return kind in run.capacity
        if held.get(kind, 0) >= run.capacity.get(kind, 0):
            return False
        conflicts = self.conflicts.get(kind)
        return not conflicts or not any(held.get(k) for k in conflicts)

    def _best_agents(self, view: ContactView, state: QueueState, n: int) -> list[AgentRun]:
        """The ``n`` eligible agents first in the strategy's order across the contact's pools."""
        if self._stale:
            self._sync_indexes()
        qid = state.queue.id
        level = state.levels[view.level]
        if n == 1 and len(level.pools) == 1:
            index = level.pools[0].indexes[qid]
            top = index.top()
            if top is None:
                return []
            if self._can_serve(top, view):
                return [top]
        found: dict[str, tuple[Any, int, AgentRun]] = {}
        for pool in level.pools:
            taken = 0
            for entry in pool.indexes[qid].ordered():
                run = entry[2]
                if run.agent.id in found or not self._can_serve(run, view):
                    continue
                found[run.agent.id] = entry
                taken += 1
                if taken == n:
                    break
        best = sorted(found.values(), key=lambda e: (e[0], e[1]))[:n]
        return [e[2] for e in best]

    def _candidates(self, view: ContactView, state: QueueState) -> Iterator[AgentRun]:
        """Every eligible agent who could serve the contact, in the strategy's order."""
        if self._stale:
            self._sync_indexes()
        qid = state.queue.id
        entries: dict[str, tuple[Any, int, AgentRun]] = {}
        for pool in state.levels[view.level].pools:
            for entry in pool.indexes[qid].ordered():
                if entry[2].agent.id not in entries and self._can_serve(entry[2], view):
                    entries[entry[2].agent.id] = entry
        for entry in sorted(entries.values(), key=lambda e: (e[0], e[1])):
            yield entry[2]

    def _choose_with_hooks(
        self, view: ContactView, state: QueueState, candidates: list[AgentRun]
    ) -> tuple[list[AgentRun], str]:
        assert self.hooks is not None
        contact, queue = view.contact, state.queue
        if not candidates:
            return [], ""
        for keep in self.hooks.filter_agents(contact, queue, [r.agent for r in candidates]):
            allowed = set(keep)
            candidates = [r for r in candidates if r.agent.id in allowed]
        if not candidates:
            return [], ""
        agents = [r.agent for r in candidates]
        scores: dict[str, float] = {}
        for result in self.hooks.score_agents(contact, queue, agents):
            for agent_id, score in result.items():
                scores[agent_id] = scores.get(agent_id, 0.0) + float(score)
        picked = self.hooks.pick_agent(contact, queue, agents, scores)
        by_id = {r.agent.id: r for r in candidates}
        if picked in by_id:
            return [by_id[picked]], "plugin"
        rule = queue.strategy
        if scores:
            top = max(scores.get(r.agent.id, 0.0) for r in candidates)
            candidates = [r for r in candidates if scores.get(r.agent.id, 0.0) == top]
            rule = f"scores, then {queue.strategy}"
        return candidates[: queue.offer_to], rule

    def _best_contact(
        self, run: AgentRun, skip: set[int] | None = None
    ) -> tuple[float, int, ContactView] | None:
        """The best waiting contact ``run`` could serve, across all its pools' lines."""
        best: tuple[float, int, ContactView] | None = None
        aid = run.agent.id
        for view in run.preferred.values():
            if view.state is ContactState.QUEUED and self._can_take(run, view.contact.channel_kind):
                if skip and view.seq in skip:
                    continue
                if best is None or (view.score, view.seq) < (best[0], best[1]):
                    best = (view.score, view.seq, view)
        skills = run.skills
        if run.held:
            takes: dict[str, bool] = {k: self._can_take(run, k) for k in run.capacity}
        else:
            takes = run.capacity  # type: ignore[assignment]  # holds nothing: any kind it takes
        for line in run.lines:
            if not line.live or not takes.get(line.kind):
                continue
            if not (line.always or line.predicate(skills)):
                continue
            entry: tuple[float, int, ContactView] | None
            if skip:
                entry = next(
                    (e for e in line.ordered() if e[1] not in skip and not e[2].has_declined(aid)),
                    None,
                )
            elif not line.declines:
                entry = line.head  # the usual case: nobody in this line declined anyone
            else:
                entry = line.first(aid)
            if entry is not None and (
                best is None or entry[0] < best[0] or (entry[0] == best[0] and entry[1] < best[1])
            ):
                best = entry
        return best

    def _make_offers(self, view: ContactView, runs: Sequence[AgentRun], rule: str) -> None:
        queue = self.queues[view.queue]  # type: ignore[index]
        now, w = self._now, self.workspace
        for n, run in enumerate(runs, start=view.offers_made):
            offer = Offer(
                id=f"{view.contact.id}:o{n}",
                workspace=w,
                contact_id=view.contact.id,
                agent_id=run.agent.id,
                queue=queue.id,
                created_at=now,
                expires_at=now + queue.offer_timeout,
            )
            self._emit(
                ev.ContactOffered(workspace=w, at=now, offer=offer, level=view.level, rule=rule)
            )

    # Projection ---------------------------------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        """Fold one event into the state. Events the engine does not route by are ignored.

        ``apply`` trusts the event: it is the replay loop. For events from elsewhere (a log
        stored by another configuration, say) call :meth:`check` first; ``apply`` alone
        raises :class:`RoutingError` on an unknown id, possibly half-way through the event.
        """
        applier = self._appliers.get(type(event))
        if applier is not None:
            self._at = event.at
            try:
                applier(event)
            except (KeyError, ValueError) as exc:
                try:
                    problem = self._misfit(event) or f"{type(exc).__name__}: {exc}"
                except Exception:
                    problem = f"{type(exc).__name__}: {exc}"
                raise RoutingError(
                    f"{event.type} at t={event.at:g}: {problem}; the router may hold part of "
                    "the event now (Router.check says whether an event fits before apply)"
                ) from None

    def check(self, event: ev.Event) -> None:
        """Raise :class:`RoutingError` when :meth:`apply` cannot fold ``event`` in.

        The message names the event and what does not fit: another workspace, or an agent,
        queue, contact or offer this router does not know or that is not in the state the
        event needs. Nothing changes either way.
        """
        problem = self._misfit(event)
        if problem is not None:
            raise RoutingError(f"{event.type} at t={event.at:g}: {problem}")

    def _misfit(self, event: ev.Event) -> str | None:
        if event.workspace != self.workspace:
            return f'belongs to workspace "{event.workspace}", not "{self.workspace}"'
        if type(event) not in self._appliers or isinstance(
            event, ev.ContactReceived | ev.ContactClosed
        ):
            return None
        if isinstance(event, ev.AgentStatusChanged | ev.WrapUpEnded):
            return self._unknown_agent(event.agent_id)
        if isinstance(event, ev.ContactOffered):
            offer = event.offer
            problem = self._unknown_contact(offer.contact_id) or self._unknown_agent(offer.agent_id)
            if problem is None:
                view, run = self.contacts[offer.contact_id], self.agents[offer.agent_id]
                if view.state not in _WAITING:
                    problem = f'contact "{offer.contact_id}" is {view.state.value}, not waiting'
                elif run.offer is not None:
                    problem = f'agent "{offer.agent_id}" has an open offer ("{run.offer}")'
            return problem
        contact_id: str = getattr(event, "contact_id", "")
        problem = self._unknown_contact(contact_id)
        if problem is not None:
            return problem
        view = self.contacts[contact_id]
        if isinstance(event, ev.ContactQueued):
            return (
                self._unknown_queue(event.queue)
                or self._unknown_level(event.queue, event.level)
                or (event.preferred_agent and self._unknown_agent(event.preferred_agent))
                or None
            )
        if isinstance(event, ev.ContactEscalated):
            return self._unknown_level(view.queue, event.level)
        if isinstance(
            event, ev.OfferAccepted | ev.OfferRejected | ev.OfferTimedOut | ev.OfferRescinded
        ):
            if event.offer_id not in view.offers:
                open_ = ", ".join(f'"{o}"' for o in view.offers) or "none"
                return (
                    f'offer "{event.offer_id}" of contact "{contact_id}" is not open '
                    f"(open: {open_})"
                )
            return self._unknown_agent(event.agent_id)
        if isinstance(event, ev.ContactTransferred | ev.ContactEnded):
            agent_id = (
                event.from_agent if isinstance(event, ev.ContactTransferred) else event.agent_id
            )
            problem = self._unknown_agent(agent_id)
            if problem is None and contact_id not in self.agents[agent_id].active:
                problem = (
                    f'agent "{agent_id}" is not handling contact "{contact_id}" '
                    f"(it is {view.state.value})"
                )
            return problem
        return None

    def _unknown_agent(self, agent_id: str) -> str | None:
        if agent_id in self.agents:
            return None
        return f'unknown agent "{agent_id}" (known: {_some(self.agents)})'

    def _unknown_queue(self, queue_id: str) -> str | None:
        if queue_id in self.queues:
            return None
        return f'unknown queue "{queue_id}" (known: {_some(self.queues)})'

    def _unknown_contact(self, contact_id: str) -> str | None:
        if contact_id in self.contacts:
            return None
        return f'unknown contact "{contact_id}" (not received, or closed already)'

    def _unknown_level(self, queue_id: str | None, level: int) -> str | None:
        if queue_id is None:
            return "the contact is in no queue"
        levels = len(self._queues[queue_id].levels)
        if 0 <= level < levels:
            return None
        return f'queue "{queue_id}" has no escalation level {level} (it has 0 to {levels - 1})'

    def _on_received(self, event: ev.ContactReceived) -> None:
        if event.contact.id not in self.contacts:
            self.contacts[event.contact.id] = ContactView(event.contact, event.at)

    def _on_queued(self, event: ev.ContactQueued) -> None:
        view = self.contacts[event.contact_id]
        self._unplace(view)
        self._count_out(view)
        view.queue = event.queue
        view.state = ContactState.QUEUED
        view.priority = event.priority
        view.since = event.at if event.since is None else event.since
        view.joined_at = event.at
        view.level = event.level
        view.agent_id = None
        view.declined = None
        view.preferred = event.preferred_agent
        view.preferred_until = _INF if event.preferred_until is None else event.preferred_until
        self._count_in(view)
        self._place(view)

    def _on_escalated(self, event: ev.ContactEscalated) -> None:
        view = self.contacts[event.contact_id]
        self._unplace(view)
        view.level = event.level
        view.priority = event.priority
        view.preferred = None
        if view.state is ContactState.QUEUED:
            self._place(view)

    def _on_offered(self, event: ev.ContactOffered) -> None:
        offer = event.offer
        view = self.contacts[offer.contact_id]
        run = self.agents[offer.agent_id]
        if view.state is ContactState.QUEUED:
            self._unplace(view)
            view.state = ContactState.OFFERED
        view.offers.append(offer.id)
        view.offers_made += 1
        self.offers[offer.id] = offer
        kind = view.contact.channel_kind
        run.offer = offer.id
        run.held[kind] = run.held.get(kind, 0) + 1
        run.offered += 1
        self._offer_clock += 1
        run.last_offer = self._offer_clock
        self._deadline(offer.expires_at, _OFFER, offer.id, None)
        self._reindex(run)

    def _on_accepted(self, event: ev.OfferAccepted) -> None:
        self.offers.pop(event.offer_id, None)
        view = self.contacts[event.contact_id]
        view.offers.remove(event.offer_id)
        self._count_out(view)
        view.state = ContactState.ACTIVE
        view.agent_id = event.agent_id
        run = self.agents[event.agent_id]
        run.offer = None
        run.active[view.contact.id] = view.contact.channel_kind
        run.handled += 1
        run.missed = 0
        if view.contact.customer_id:
            self._last_agent[view.contact.customer_id] = run.agent.id
        self._reindex(run)

    def _release(self, run: AgentRun, kind: str, at: float | None) -> None:
        """Free one unit of ``kind``. ``at`` is given when a contact finished (not an offer):
        an agent free of every contact from then on has been idle since ``at``."""
        count = run.held.get(kind, 0) - 1
        if count > 0:
            run.held[kind] = count
        else:
            run.held.pop(kind, None)
        if at is not None and not run.active and not run.wrap_up and run.offer is None:
            run.idle_since = at
        self._reindex(run, at)

    def _on_rescinded(self, event: ev.OfferRescinded) -> None:
        self.offers.pop(event.offer_id, None)
        view = self.contacts[event.contact_id]
        view.offers.remove(event.offer_id)
        run = self.agents[event.agent_id]
        run.offer = None
        self._release(run, view.contact.channel_kind, None)

    def _on_declined(self, event: ev.OfferRejected | ev.OfferTimedOut) -> None:
        offer = self.offers.pop(event.offer_id, None)
        view = self.contacts[event.contact_id]
        view.offers.remove(event.offer_id)
        queue = self.queues.get(offer.queue if offer is not None else view.queue or "")
        rejected = isinstance(event, ev.OfferRejected)
        delay = _INF if queue is None else queue.reject_delay if rejected else queue.no_answer_delay
        if delay > 0:  # the agent is kept from this contact until then (0: not at all)
            until = event.at + delay
            if view.declined is None:
                view.declined = {}
            view.declined[event.agent_id] = (until, "rejected" if rejected else "missed")
            if until < _INF:
                self._deadline(until, _EXCLUDE, (view, event.agent_id), until)
        if view.preferred == event.agent_id:
            view.preferred = None  # the preferred agent declined: normal routing from here
        run = self.agents[event.agent_id]
        run.offer = None
        if isinstance(event, ev.OfferTimedOut):
            run.missed += 1
        if view.state is ContactState.OFFERED and not view.offers:
            view.state = ContactState.QUEUED
            self._place(view)
        self._release(run, view.contact.channel_kind, None)

    def _on_exclusion_ended(self, event: ev.ExclusionEnded) -> None:
        view = self.contacts.get(event.contact_id)
        declined = None if view is None else view.declined
        if view is None or declined is None or declined.pop(event.agent_id, None) is None:
            return
        placed = view.seq != -1
        if not declined:
            if placed:  # its lines count contacts that skip someone: it skips nobody now
                for line in view.lines:
                    line.declines -= 1
            view.declined = None
        if placed and view.state is ContactState.QUEUED:
            self._dirty_contacts.append(view)  # the agent may take it now

    def _on_transferred(self, event: ev.ContactTransferred) -> None:
        view = self.contacts[event.contact_id]
        run = self.agents[event.from_agent]
        kind = run.active.pop(event.contact_id)
        view.agent_id = None
        view.state = ContactState.QUEUED
        self._release(run, kind, event.at)

    def _on_ended(self, event: ev.ContactEnded) -> None:
        run = self.agents[event.agent_id]
        kind = run.active.pop(event.contact_id)
        run.wrap_up[event.contact_id] = (kind, event.wrap_up_until)
        self.contacts[event.contact_id].state = ContactState.WRAP_UP
        if event.wrap_up_until > event.at:
            self._deadline(event.wrap_up_until, _WRAP, (run, event.contact_id), event.wrap_up_until)

    def _on_wrap_up_ended(self, event: ev.WrapUpEnded) -> None:
        run = self.agents[event.agent_id]
        held = run.wrap_up.pop(event.contact_id, None)
        if held is not None:
            # A timer that fires late still ends the wrap-up when it was due.
            self._release(run, held[0], min(event.at, held[1]))

    def _on_closed(self, event: ev.ContactClosed) -> None:
        self.contacts.pop(event.contact_id, None)

    def _on_abandoned(self, event: ev.ContactAbandoned) -> None:
        view = self.contacts.pop(event.contact_id)
        self._unplace(view)
        self._count_out(view)
        view.state = ContactState.ABANDONED
        queue = self.queues.get(view.queue or "")
        customer = view.contact.customer_id
        if queue is not None and queue.rejoin_window and customer:
            rejoin = self._rejoin
            if len(rejoin) >= self._rejoin_limit:  # forget the expired, amortised O(1)
                for key in [k for k, (_, until) in rejoin.items() if until < event.at]:
                    del rejoin[key]
                self._rejoin_limit = max(1024, 2 * len(rejoin))
            rejoin[(customer, queue.id)] = (view.since, event.at + queue.rejoin_window)

    def _on_refused(self, event: ev.ContactRefused) -> None:
        view = self.contacts.pop(event.contact_id)
        self._unplace(view)
        self._count_out(view)
        view.state = ContactState.REFUSED

    def _on_status(self, event: ev.AgentStatusChanged) -> None:
        run = self.agents[event.agent_id]
        was_on = run.status is not AgentStatus.OFFLINE
        is_on = event.status is not AgentStatus.OFFLINE
        if was_on != is_on:
            for pool in run.pools:
                pool.logged_in += 1 if is_on else -1
        if event.status is AgentStatus.AVAILABLE and run.status is not AgentStatus.AVAILABLE:
            run.missed = 0
            if run.offer is None and not run.active and not run.wrap_up:
                run.idle_since = event.at
        if (event.status, event.reason) != (run.status, run.reason):
            run.status_since = event.at
        run.status, run.reason = event.status, event.reason
        self._reindex(run)

    # Placement and indexes ----------------------------------------------------------------

    def _count_in(self, view: ContactView) -> None:
        """Count the contact as waiting in its queue (queued or offered; ``max_length``)."""
        state = self._queues[view.queue]  # type: ignore[index]
        state.waiting += 1
        view.counted = state

    def _count_out(self, view: ContactView) -> None:
        if view.counted is not None:
            view.counted.waiting -= 1
            view.counted = None

    def _bind(self, state: QueueState, level: Level, contact: Contact) -> AgentPredicate:
        minimums = dict(level.minimums)
        for skill, floor in contact.required_skills.items():
            minimums[skill] = max(floor, minimums.get(skill, 0))
        predicate = level.requirement.bind(contact)
        return combine(predicate, minimums_predicate(minimums)) if minimums else predicate

    def _place(self, view: ContactView, seq: int | None = None) -> None:
        """Put a queued contact in the lines of its level's pools (or its preferred agent's).

        ``seq`` is given only when a snapshot is restored: the contact keeps its number.
        """
        state = self._queues[view.queue]  # type: ignore[index]
        seq = view.seq = next(self._seq) if seq is None else seq
        score = -view.since if state.queue.order == "lifo" else view.since
        if view.priority:
            score -= view.priority * state.queue.priority_step
        view.score = score
        self._dirty_contacts.append(view)
        if view.preferred is not None:
            self.agents[view.preferred].preferred[view.contact.id] = view
            view.predicate = None
            if view.preferred_until < _INF:
                self._deadline(view.preferred_until, _PREFERRED, view, seq)
            return
        level = state.levels[view.level]
        predicate = view.predicate = self._bind(state, level, view.contact)
        kind = view.contact.channel_kind
        entry = (score, seq, view)
        lines = []
        key = (kind, predicate.key)
        for pool in level.pools:
            line = pool.lines.get(key)
            if line is None:
                line = pool.lines[key] = Line(pool, kind, predicate)
                for member in pool.members:
                    member.lines.append(line)
            line.push(entry)
            lines.append(line)
        view.lines = tuple(lines)
        if view.level + 1 < len(state.levels):
            step = state.levels[view.level + 1].step
            assert step is not None
            self._deadline(view.joined_at + step.after, _STEP, view, seq)

    def _unplace(self, view: ContactView) -> None:
        if view.seq == -1:
            return
        view.seq = -1
        for line in view.lines:
            line.leave(view)
        view.lines = ()
        if view.preferred is not None:
            self.agents[view.preferred].preferred.pop(view.contact.id, None)

    def _reindex(self, run: AgentRun, at: float | None = None) -> None:
        """The agent's routing state changed: recompute eligibility now, the indexes later.

        An agent freed and offered a contact within one command (the usual case with a
        backlog) never touches its indexes; the rest is settled by :meth:`_sync_indexes`
        before any index is read and at the end of every command.
        """
        eligible = False
        if run.status is AgentStatus.AVAILABLE and run.offer is None:
            if not run.held:
                eligible = bool(run.capacity)
            else:
                for kind in run.capacity:
                    if self._can_take(run, kind):
                        eligible = True
                        break
        if eligible:
            self._dirty_agents[run.agent.id] = run
            run.ready_since = self._at if at is None else at
        run.eligible = eligible
        self._stale[run.agent.id] = run

    def _sync_indexes(self) -> None:
        """Bring every stale agent's entries in its indexes up to date with its state."""
        strategies = self.strategies
        stale = list(self._stale.values())
        if len(stale) > 1:  # in readiness order, so ordered indexes only ever append
            stale.sort(key=lambda r: (r.ready_since, r.order))
        for run in stale:
            if run.eligible:
                shared: dict[str, Any] = {}  # strategies whose key ignores the queue
                for index in run.indexes:
                    name = index.queue.queue.strategy
                    key = shared.get(name, _MISSING)
                    if key is _MISSING:
                        strategy = strategies[name]
                        key = strategy.key(run, index.queue)
                        if not getattr(strategy, "per_queue", True):
                            shared[name] = key
                    index.put(run, key)
                run.indexed = True
            elif run.indexed:
                for index in run.indexes:
                    index.drop(run)
                run.indexed = False
        self._stale.clear()

    # Snapshots ----------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The routing state as compact JSON, for :meth:`restore` in a fresh router.

        Only state that events built is kept (agents' runtime figures, open contacts, offers,
        the memories of sticky routing and rejoining); indexes, lines and timers are rebuilt
        from it. The configuration is not included: restore into a router built from the
        same configuration (the runtime checks a fingerprint of it).
        """
        from ..codec import dump_value  # cattrs only when snapshots are taken

        if self._stale:
            self._sync_indexes()
        agents = [
            [
                run.agent.id,
                run.status.value,
                run.reason,
                run.idle_since,
                run.ready_since,
                run.handled,
                run.offered,
                run.last_offer,
                run.missed,
                run.offer,
                run.active,
                run.wrap_up,
                run.held,
                run.status_since,
            ]
            for run in self.agents.values()
        ]
        contacts = [
            [
                dump_value(v.contact),
                v.state.value,
                v.queue,
                v.priority,
                v.since,
                v.joined_at,
                v.level,
                v.preferred,
                v.preferred_until,
                v.seq,
                v.offers,
                v.offers_made,
                None
                if v.declined is None
                else [[aid, until, how] for aid, (until, how) in v.declined.items()],
                v.agent_id,
                v.counted is not None,
            ]
            for v in self.contacts.values()
        ]
        state = {
            "format": SNAPSHOT_FORMAT,
            "seq": self._seq.value,
            "offer_clock": self._offer_clock,
            "agents": agents,
            "contacts": contacts,
            "offers": [dump_value(offer) for offer in self.offers.values()],
            "last_agent": self._last_agent,
            "rejoin": [[c, q, since, until] for (c, q), (since, until) in self._rejoin.items()],
        }
        return zlib.compress(json.dumps(state, separators=(",", ":")).encode())

    def restore(self, data: bytes) -> None:
        """Load a :meth:`snapshot` into this router, which must not have routed yet."""
        from ..codec import load_value

        if self.contacts or self.offers:
            raise RoutingError("restore a snapshot into a fresh router only")
        state = json.loads(zlib.decompress(data))
        if state.get("format") != SNAPSHOT_FORMAT:
            raise RoutingError(f"snapshot format {state.get('format')!r} is not {SNAPSHOT_FORMAT}")
        self._seq.value = state["seq"]
        self._offer_clock = state["offer_clock"]
        for row in state["agents"]:
            (aid, status, reason, idle, ready, handled, offered, last, missed, offer) = row[:10]
            run = self.agents[aid]
            run.status, run.reason = AgentStatus(status), reason
            run.idle_since, run.ready_since = idle, ready
            run.handled, run.offered, run.last_offer, run.missed = handled, offered, last, missed
            run.offer = offer
            run.active = dict(row[10])
            run.wrap_up = {cid: (kind, until) for cid, (kind, until) in row[11].items()}
            run.held = dict(row[12])
            run.status_since = row[13] if len(row) > 13 else 0.0  # older snapshots lack it
            if run.status is not AgentStatus.OFFLINE:
                for pool in run.pools:
                    pool.logged_in += 1
            for cid, (_, until) in run.wrap_up.items():
                self._deadline(until, _WRAP, (run, cid), until)
        for offer_data in state["offers"]:
            offer = load_value(offer_data, Offer)
            self.offers[offer.id] = offer
            self._deadline(offer.expires_at, _OFFER, offer.id, None)
        for row in state["contacts"]:
            view = ContactView(load_value(row[0], Contact), row[4])
            view.state = ContactState(row[1])
            view.queue, view.priority, view.since, view.joined_at, view.level = row[2:7]
            view.preferred, view.preferred_until = row[7], row[8]
            view.offers, view.offers_made = list(row[10]), row[11]
            if row[12] is not None:
                view.declined = {aid: (until, how) for aid, until, how in row[12]}
                for aid, (until, _) in view.declined.items():
                    if until < _INF:
                        self._deadline(until, _EXCLUDE, (view, aid), until)
            view.agent_id = row[13]
            self.contacts[view.contact.id] = view
            if row[14]:
                self._count_in(view)
            if view.state is ContactState.QUEUED and row[9] != -1:
                self._place(view, seq=row[9])
        self._last_agent = dict(state["last_agent"])
        self._rejoin = {(c, q): (since, until) for c, q, since, until in state["rejoin"]}
        for run in self.agents.values():
            at = run.ready_since
            self._at = at
            self._reindex(run, at)  # eligibility and indexes, the readiness time unchanged
        self._dirty_agents.clear()
        self._dirty_contacts.clear()
        self._sync_indexes()

    # Lookups ------------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> AgentRun:
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


class _Counter:
    """Numbers 1, 2, 3…: placements, deadlines and index entries in the order they happen."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def __next__(self) -> int:
        self.value += 1
        return self.value


def _conflicts(blocks: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """Symmetric closure of the blocks rule: kinds that may never be held together."""
    pairs: dict[str, set[str]] = {}
    for kind, others in blocks.items():
        for other in others:
            pairs.setdefault(kind, set()).add(other)
            pairs.setdefault(other, set()).add(kind)
    return {kind: frozenset(others) for kind, others in pairs.items()}


def _some(names: Iterable[str], most: int = 10) -> str:
    """Names for an error message: the first few, sorted (a centre may have 10,000 agents)."""
    ordered = sorted(names)
    if len(ordered) > most:
        return f"{', '.join(ordered[:most])} and {len(ordered) - most} more"
    return ", ".join(ordered) or "none"


def _after(step: EscalationStep | None) -> float:
    return 0.0 if step is None else step.after
