"""Live figures of a workspace (waiting, longest wait, service level, agents by state),
folded from its events: what the demo's terminal view and the web wallboard show.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from . import events as ev
from .model import Agent, AgentState, AgentStatus, Queue

__all__ = ["LiveStats", "QueueStats"]


@attrs.define
class QueueStats:
    """One queue's figures so far, folded from events."""

    queue: Queue
    waiting: dict[str, float] = attrs.field(factory=dict)  # contact id -> queued at
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answer_time_total: float = 0.0
    within_threshold: int = 0  # answered within the service-level threshold
    counted: int = 0  # contacts that count for service level

    def longest_wait(self, now: float) -> float:
        """How long the contact waiting longest has waited (0 when nobody waits)."""
        return max((now - t for t in self.waiting.values()), default=0.0)

    @property
    def service_level(self) -> float | None:
        return self.within_threshold / self.counted if self.counted else None

    @property
    def average_speed_of_answer(self) -> float | None:
        return self.answer_time_total / self.answered if self.answered else None


@attrs.define
class _AgentTally:
    status: AgentStatus = AgentStatus.OFFLINE
    offers: set[str] = attrs.field(factory=set)
    active: set[str] = attrs.field(factory=set)
    wrap_up: set[str] = attrs.field(factory=set)

    @property
    def state(self) -> AgentState:
        # The same precedence as the routing engine: a ringing offer shows above all else.
        if self.offers:
            return AgentState.OFFERED
        if self.active:
            return AgentState.BUSY
        if self.wrap_up:
            return AgentState.WRAP_UP
        return AgentState.IDLE


class LiveStats:
    """Wallboard figures for one workspace, fed one event at a time with :meth:`apply`.

    A contact waits from ``ContactQueued`` until an agent accepts it (ringing counts as
    waiting) or the customer abandons. Service level follows the usual rule: a contact counts
    when answered, or when abandoned after waiting longer than the queue's threshold; it is
    within service level when answered within the threshold.
    """

    def __init__(self, queues: Iterable[Queue], agents: Iterable[Agent]) -> None:
        self.queues: dict[str, QueueStats] = {q.id: QueueStats(q) for q in queues}
        self.agents: dict[str, _AgentTally] = {a.id: _AgentTally() for a in agents}
        self.received = 0
        self._queue_of: dict[str, str] = {}  # open contact id -> queue id
        self._queued_at: dict[str, float] = {}  # open contact id -> first queued at
        self._offers: dict[str, tuple[str, str]] = {}  # open offer id -> (contact id, agent id)

    def apply(self, event: ev.Event) -> None:
        match event:
            case ev.ContactReceived():
                self.received += 1
            case ev.ContactQueued(contact_id=cid, queue=qid) if qid in self.queues:
                self._queue_of[cid] = qid
                queued_at = self._queued_at.setdefault(cid, event.at)
                self.queues[qid].waiting[cid] = queued_at
            case ev.ContactOffered(offer=offer):
                if (stats := self.queues.get(offer.queue)) is not None:
                    stats.offered += 1
                self._offers[offer.id] = (offer.contact_id, offer.agent_id)
                self._agent(offer.agent_id).offers.add(offer.id)
            case ev.OfferAccepted(offer_id=oid, contact_id=cid, agent_id=aid):
                self._close_offer(oid)
                self._agent(aid).active.add(cid)
                if (stats := self._stats_of(cid)) is not None:
                    stats.waiting.pop(cid, None)
                    answer_time = event.at - self._queued_at.get(cid, event.at)
                    stats.answered += 1
                    stats.answer_time_total += answer_time
                    stats.counted += 1
                    if answer_time <= stats.queue.service_level_threshold:
                        stats.within_threshold += 1
            case (
                ev.OfferRejected(offer_id=oid)
                | ev.OfferTimedOut(offer_id=oid)
                | ev.OfferRescinded(offer_id=oid)
            ):
                self._close_offer(oid)
            case ev.ContactTransferred(contact_id=cid, from_agent=aid):
                self._agent(aid).active.discard(cid)
            case ev.ContactEnded(contact_id=cid, agent_id=aid):
                tally = self._agent(aid)
                tally.active.discard(cid)
                tally.wrap_up.add(cid)
            case ev.WrapUpEnded(contact_id=cid, agent_id=aid):
                self._agent(aid).wrap_up.discard(cid)
            case ev.ContactAbandoned(contact_id=cid, waited=waited):
                if (stats := self._stats_of(cid)) is not None:
                    stats.waiting.pop(cid, None)
                    stats.abandoned += 1
                    if waited > stats.queue.service_level_threshold:
                        stats.counted += 1
                self._forget(cid)
            case ev.ContactClosed(contact_id=cid) | ev.ContactRefused(contact_id=cid):
                self._forget(cid)
            case ev.AgentStatusChanged(agent_id=aid, status=status):
                self._agent(aid).status = status
            case _:
                pass

    def _agent(self, agent_id: str) -> _AgentTally:
        return self.agents.setdefault(agent_id, _AgentTally())

    def _stats_of(self, contact_id: str) -> QueueStats | None:
        qid = self._queue_of.get(contact_id)
        return None if qid is None else self.queues[qid]

    def _close_offer(self, offer_id: str) -> None:
        if (entry := self._offers.pop(offer_id, None)) is not None:
            self._agent(entry[1]).offers.discard(offer_id)

    def _forget(self, contact_id: str) -> None:
        """The contact is gone: drop what was kept about it, including a ringing offer."""
        for oid, (cid, _) in list(self._offers.items()):
            if cid == contact_id:
                self._close_offer(oid)
        if (stats := self._stats_of(contact_id)) is not None:
            stats.waiting.pop(contact_id, None)
        self._queue_of.pop(contact_id, None)
        self._queued_at.pop(contact_id, None)

    # Reading --------------------------------------------------------------------------------

    def agent_counts(self) -> dict[str, int]:
        """Agents by state (idle, offered, busy, wrap-up) while available, else by status.

        An agent on break or offline counts under that status even while finishing a contact:
        that is what a supervisor asks first ("who is on break?").
        """
        counts = dict.fromkeys([*AgentState, AgentStatus.BREAK, AgentStatus.OFFLINE], 0)
        for tally in self.agents.values():
            key = tally.state if tally.status is AgentStatus.AVAILABLE else tally.status
            counts[key] += 1
        return {str(key): n for key, n in counts.items()}

    @property
    def service_level(self) -> float | None:
        """Service level over all queues, each contact judged by its own queue's threshold."""
        counted = sum(q.counted for q in self.queues.values())
        within = sum(q.within_threshold for q in self.queues.values())
        return within / counted if counted else None
