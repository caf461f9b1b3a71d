"""Real-time contact-centre figures, folded from a workspace's events one at a time.

:class:`Metrics` is what the wallboard, ``GET /api/v1/workspaces/{w}/reports/summary``,
``GET /metrics`` (Prometheus), ``trunkline demo`` and the simulator show: per queue, per agent
and for the whole workspace, the contacts waiting, offered, answered and abandoned, service
level, ASA, AHT, talk and wrap time, abandonment rate, the probability of waiting, occupancy
and CSAT. ``docs/metrics.md`` defines every figure.

:meth:`Metrics.apply` costs O(1) per event (a dictionary lookup on the event's class, then a
few counter updates); everything else is computed when :meth:`Metrics.figures` is read.
What it keeps per contact is dropped when the contact closes, is abandoned or is refused.

Each queue also keeps its service level per interval for the last :data:`TREND_INTERVALS`
intervals of :data:`TREND_INTERVAL` seconds (:meth:`Metrics.service_level_trend`), and each
agent the time its current state began (``state_since`` in its figures): the wallboard's trend
chart and time in state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from . import events as ev
from .fold import Fold, handles
from .model import Agent, AgentState, AgentStatus, Queue
from .servicelevel import ServiceLevel

__all__ = [
    "SATISFIED",
    "TREND_INTERVAL",
    "TREND_INTERVALS",
    "AgentCounters",
    "AgentMetrics",
    "Metrics",
    "QueueCounters",
    "QueueMetrics",
    "contact_rates",
    "count_survey",
    "csat_rates",
    "handling_rates",
    "ratio",
]

SATISFIED = 0.8  # a survey answer counts as satisfied at score / scale >= this (4 of 5)
_AVAILABLE = AgentStatus.AVAILABLE
#: Seconds per interval of a queue's service-level trend: 15 minutes, aligned to UTC like the
#: reports' ``15m`` intervals.
TREND_INTERVAL = 900.0
#: Intervals the trend keeps: the current one and those before it (two hours).
TREND_INTERVALS = 8


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, or ``None`` (an average of nothing) when ``whole`` is 0."""
    return part / whole if whole else None


# The definitions, in one place: live figures and historical reports both derive their rates
# from the same counters with these (``c`` is any object carrying the counters named).


def handling_rates(c: Any) -> dict[str, float | None]:
    """``aht``, ``average_talk_time``, ``average_wrap_time`` from ``handle_time``, ``handled``,
    ``talk_time``, ``talked``, ``wrap_time``."""
    return {
        "aht": ratio(c.handle_time, c.handled),
        "average_talk_time": ratio(c.talk_time, c.talked),
        "average_wrap_time": ratio(c.wrap_time, c.handled),
    }


def contact_rates(c: Any) -> dict[str, float | None]:
    """A queue's rates: service level, ASA, the :func:`handling_rates`, abandonment rate and
    wait probability, from ``within``, ``counted`` (the service level's numerator and
    denominator, as :class:`~trunkline.servicelevel.ServiceLevel` counts them),
    ``answer_time``, ``answered``, ``abandoned``, ``at_once`` and the handling counters."""
    settled = c.answered + c.abandoned
    return {
        "service_level": ratio(c.within, c.counted),
        "asa": ratio(c.answer_time, c.answered),
        **handling_rates(c),
        "abandonment_rate": ratio(c.abandoned, settled),
        "wait_probability": ratio(settled - c.at_once, settled),
    }


def csat_rates(c: Any) -> dict[str, float | int | None]:
    """``csat`` (the satisfied share), ``csat_responses`` and ``average_score`` (of 5)."""
    return {
        "csat": ratio(c.satisfied, c.surveys),
        "csat_responses": c.surveys,
        "average_score": ratio(c.score_total, c.surveys),
    }


def count_survey(c: Any, score: int, scale: int) -> None:
    """Add one survey answer to ``c``'s ``surveys``, ``score_total`` and ``satisfied``."""
    share = score / scale
    c.surveys += 1
    c.score_total += share * 5
    if share >= SATISFIED:
        c.satisfied += 1


class QueueCounters:
    """The counters a queue's figures are derived from (:func:`contact_rates`,
    :func:`csat_rates`): live in :class:`QueueMetrics`, per row in a historical report."""

    __slots__ = (
        "abandoned",
        "abandoned_within",
        "answer_time",
        "answered",
        "answered_within",
        "at_once",
        "counted",
        "handle_time",
        "handled",
        "offered",
        "satisfied",
        "score_total",
        "short_abandoned",
        "surveys",
        "talk_time",
        "talked",
        "within",
        "wrap_time",
    )

    def __init__(self) -> None:
        self.offered = 0  # contacts that entered the queue
        self.answered = 0
        self.abandoned = 0
        self.within = 0  # contacts that meet service level (the queue's definition)
        self.counted = 0  # contacts that count for service level
        self.answered_within = 0  # answered within the service-level threshold
        self.abandoned_within = 0  # abandoned within it, short abandons excepted
        self.short_abandoned = 0  # abandoned sooner than service_level_short_abandon
        self.at_once = 0  # answered or abandoned contacts offered the instant they queued
        self.answer_time = 0.0
        self.talked = 0  # conversations ended (ContactEnded)
        self.talk_time = 0.0
        self.handled = 0  # wrap-ups ended (WrapUpEnded)
        self.wrap_time = 0.0
        self.handle_time = 0.0  # talk + wrap of the handled contacts
        self.surveys = 0
        self.satisfied = 0
        self.score_total = 0.0  # on a 5-point scale


class AgentCounters:
    """The counters an agent's figures are derived from (:func:`handling_rates`,
    :func:`csat_rates`, occupancy): live in :class:`AgentMetrics`, per row in a report."""

    __slots__ = (
        "answered",
        "available_time",
        "busy_time",
        "handle_time",
        "handled",
        "missed",
        "offers",
        "rejected",
        "satisfied",
        "score_total",
        "surveys",
        "talk_time",
        "talked",
        "wrap_time",
    )

    def __init__(self) -> None:
        self.busy_time = 0.0
        self.available_time = 0.0
        self.offers = 0
        self.answered = 0
        self.rejected = 0
        self.missed = 0
        self.talked = 0  # conversations of its that ended or were transferred
        self.talk_time = 0.0
        self.handled = 0
        self.wrap_time = 0.0
        self.handle_time = 0.0
        self.surveys = 0
        self.satisfied = 0
        self.score_total = 0.0  # on a 5-point scale


class _Interval:
    """Service level's counters for the contacts that started waiting in one interval."""

    __slots__ = ("abandoned_within", "answered_within", "counted", "short_abandoned", "within")

    def __init__(self) -> None:
        self.within = 0
        self.counted = 0
        self.answered_within = 0
        self.abandoned_within = 0
        self.short_abandoned = 0


class QueueMetrics(QueueCounters):
    """One queue's running totals. The workspace's are the sum of its queues' (see
    :meth:`Metrics.figures`); every rate is derived from these counters when read.
    ``offered`` counts overflow into the queue too."""

    __slots__ = ("offers", "queue", "ringing", "rule", "threshold", "trend", "unanswered")

    def __init__(self, queue: Queue) -> None:
        super().__init__()
        self.queue = queue
        self.threshold = queue.service_level_threshold
        self.rule = ServiceLevel.of(queue)
        # Contacts not answered yet (queued or ringing) -> the time they started waiting.
        self.unanswered: dict[str, float] = {}
        self.ringing = 0  # of those, the ones with an open offer
        self.offers = 0  # offers made to agents from this queue
        # Interval start -> its service level counters, the latest TREND_INTERVALS only.
        self.trend: dict[float, _Interval] = {}

    def _interval(self, start: float) -> _Interval | None:
        """The trend's counters for a contact that started waiting at ``start``; None when
        that is before the intervals kept."""
        key = math.floor(start / TREND_INTERVAL) * TREND_INTERVAL
        found = self.trend.get(key)
        if found is not None:
            return found
        trend = self.trend
        newest = max(trend, default=key)
        oldest = max(newest, key) - (TREND_INTERVALS - 1) * TREND_INTERVAL
        if key < oldest:
            return None
        found = trend[key] = _Interval()
        if key > newest:  # a new interval: forget those that fell out of the window
            for old in [k for k in trend if k < oldest]:
                del trend[old]
        return found

    # Read by the demo's view and the tests ---------------------------------------------------

    @property
    def waiting(self) -> int:
        """Contacts queued and not being offered to an agent right now."""
        return len(self.unanswered) - self.ringing

    def longest_wait(self, now: float) -> float:
        """How long the contact waiting longest (queued or ringing) has waited; 0 when none."""
        return max((now - t for t in self.unanswered.values()), default=0.0)

    @property
    def service_level(self) -> float | None:
        return ratio(self.within, self.counted)

    @property
    def asa(self) -> float | None:
        return ratio(self.answer_time, self.answered)

    @property
    def aht(self) -> float | None:
        return ratio(self.handle_time, self.handled)

    def _add(self, other: QueueMetrics) -> None:
        """Add another queue's counters to these (the workspace's totals)."""
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def _figures(self) -> dict[str, Any]:
        return {
            "waiting": self.waiting,
            "ringing": self.ringing,
            "offered": self.offered,
            "offers": self.offers,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "handled": self.handled,
            **contact_rates(self),
            "within_service_level": self.within,
            "counted_for_service_level": self.counted,
            "answered_within_threshold": self.answered_within,
            "abandoned_within_threshold": self.abandoned_within,
            "short_abandoned": self.short_abandoned,
            "answer_time_total": self.answer_time,
            "talk_time_total": self.talk_time,
            "wrap_time_total": self.wrap_time,
            "handle_time_total": self.handle_time,
            **csat_rates(self),
        }


_COUNTERS = (*QueueCounters.__slots__, "ringing", "offers")
_AGENT_COUNTERS = AgentCounters.__slots__


class AgentMetrics(AgentCounters):
    """One agent's status, what it holds, and its running totals.

    ``busy_time`` is time holding at least one contact (talking or in wrap-up);
    ``available_time`` is time with status available plus time busy in any other status.
    Both run up to ``last``, the agent's latest event; :meth:`Metrics.figures` adds the time
    since.
    """

    __slots__ = ("active", "last", "open_offers", "queues", "shown", "since", "status", "wrap_up")

    def __init__(self, queues: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.queues = queues
        self.status = AgentStatus.OFFLINE
        self.open_offers: set[str] = set()
        self.active: set[str] = set()
        self.wrap_up: set[str] = set()
        self.last: float | None = None
        # What a supervisor sees the agent doing (its state while available, else its status)
        # and since when; None until an event about the agent came.
        self.shown: AgentState | AgentStatus | None = None
        self.since: float | None = None

    @property
    def state(self) -> AgentState:
        # The same precedence as the routing engine: a ringing offer shows above all else.
        if self.open_offers:
            return AgentState.OFFERED
        if self.active:
            return AgentState.BUSY
        if self.wrap_up:
            return AgentState.WRAP_UP
        return AgentState.IDLE

    def _settle(self, at: float) -> None:
        """Note when what the agent is seen doing changes (after its status or load did)."""
        shown = self.state if self.status is _AVAILABLE else self.status
        if shown != self.shown:
            self.shown = shown
            self.since = at

    def _mark(self, at: float) -> None:
        """Count the time since the agent's last event, before its status or load changes."""
        last = self.last
        if last is None or at > last:
            if last is not None:
                if self.active or self.wrap_up:
                    self.busy_time += at - last
                    self.available_time += at - last
                elif self.status is _AVAILABLE:
                    self.available_time += at - last
            self.last = at

    def _times(self, now: float) -> tuple[float, float]:
        busy, available = self.busy_time, self.available_time
        if self.last is not None and now > self.last:
            if self.active or self.wrap_up:
                busy += now - self.last
                available += now - self.last
            elif self.status is _AVAILABLE:
                available += now - self.last
        return busy, available

    def _figures(self, now: float) -> dict[str, Any]:
        busy, available = self._times(now)
        return {
            "status": self.status.value,
            "state": self.state.value,
            "offers": self.offers,
            "answered": self.answered,
            "rejected": self.rejected,
            "missed": self.missed,
            "handled": self.handled,
            **handling_rates(self),
            "talk_time_total": self.talk_time,
            "wrap_time_total": self.wrap_time,
            "handle_time_total": self.handle_time,
            "busy_time": busy,
            "available_time": available,
            "occupancy": ratio(busy, available),
            "state_since": self.since,
            "time_in_state": None if self.since is None else max(0.0, now - self.since),
            **csat_rates(self),
        }


class _Contact:
    """What is followed of one open contact."""

    __slots__ = (
        "accepted_at",
        "agent",
        "at_once",
        "ended_at",
        "offered",
        "offers",
        "queue",
        "start",
        "talk",
        "waiting",
    )

    def __init__(self) -> None:
        self.queue: QueueMetrics | None = None  # where it waits, or was answered
        self.start = 0.0  # when it started waiting (first queued, kept across overflow)
        self.waiting = False  # queued or ringing, not answered yet
        self.offers: list[str] = []  # open offers (several with offer_to > 1)
        self.offered = False  # an offer was made since it started waiting
        self.at_once = False  # ...at the very instant it started waiting
        self.agent: AgentMetrics | None = None  # the agent handling it
        self.accepted_at: float | None = None
        self.ended_at: float | None = None
        self.talk = 0.0  # talk time so far, over every agent it was transferred between


class Metrics(Fold):
    """Figures of one workspace, fed one event at a time with :meth:`apply`.

    A contact waits from ``ContactQueued`` until an agent accepts it or the customer
    abandons; while an offer to an agent is open it is *ringing* rather than waiting, but its
    wait goes on. Service level follows each queue's definition
    (:class:`~trunkline.servicelevel.ServiceLevel`): by default a contact counts when
    answered, or when abandoned after waiting longer than its queue's
    ``service_level_threshold``, and it is within service level when answered within that
    threshold.
    """

    def __init__(self, queues: Iterable[Queue], agents: Iterable[Agent]) -> None:
        self.queues: dict[str, QueueMetrics] = {q.id: QueueMetrics(q) for q in queues}
        self.agents: dict[str, AgentMetrics] = {a.id: AgentMetrics(a.queues) for a in agents}
        self.received = 0  # contacts that entered the system (ContactReceived)
        self.offered = 0  # contacts that started waiting (overflow does not start again)
        self._contacts: dict[str, _Contact] = {}
        # Open offer id -> (contact id, agent, queue).
        self._offers: dict[str, tuple[str, AgentMetrics, QueueMetrics | None]] = {}

    # Contacts -------------------------------------------------------------------------------

    def _queue(self, queue_id: str, workspace: str) -> QueueMetrics:
        found = self.queues.get(queue_id)
        if found is None:  # not configured (any more): the default service level definition
            found = self.queues[queue_id] = QueueMetrics(Queue(id=queue_id, workspace=workspace))
        return found

    def _agent(self, agent_id: str) -> AgentMetrics:
        found = self.agents.get(agent_id)
        if found is None:
            found = self.agents[agent_id] = AgentMetrics()
        return found

    @handles(ev.ContactReceived)
    def _received(self, event: ev.ContactReceived) -> None:
        self.received += 1

    @handles(ev.ContactQueued)
    def _queued(self, event: ev.ContactQueued) -> None:
        cid = event.contact_id
        queue = self._queue(event.queue, event.workspace)
        contact = self._contacts.get(cid)
        if contact is None:
            contact = self._contacts[cid] = _Contact()
        if contact.waiting:  # overflow: it moves on and keeps its place
            before = contact.queue
            if before is not None:
                before.unanswered.pop(cid, None)
                if contact.offers:
                    before.ringing -= 1
            if contact.offers:
                queue.ringing += 1
        else:  # new, or transferred: it starts waiting
            contact.waiting = True
            contact.start = event.at
            contact.offered = contact.at_once = False
            self.offered += 1
        queue.unanswered[cid] = contact.start
        queue.offered += 1
        contact.queue = queue

    @handles(ev.ContactOffered)
    def _offered(self, event: ev.ContactOffered) -> None:
        offer = event.offer
        agent = self._agent(offer.agent_id)
        agent.offers += 1
        agent.open_offers.add(offer.id)
        agent._settle(event.at)
        queue = self.queues.get(offer.queue)
        if queue is not None:
            queue.offers += 1
        self._offers[offer.id] = (offer.contact_id, agent, queue)
        contact = self._contacts.get(offer.contact_id)
        if contact is None:
            return
        contact.offers.append(offer.id)
        if contact.waiting:
            if not contact.offered:
                contact.offered = True
                contact.at_once = event.at <= contact.start
            if len(contact.offers) == 1 and contact.queue is not None:
                contact.queue.ringing += 1

    def _close_offer(
        self, offer_id: str, at: float
    ) -> tuple[str, AgentMetrics, QueueMetrics | None] | None:
        entry = self._offers.pop(offer_id, None)
        if entry is None:
            return None
        cid, agent, _ = entry
        agent.open_offers.discard(offer_id)
        agent._settle(at)
        contact = self._contacts.get(cid)
        if contact is not None and offer_id in contact.offers:
            contact.offers.remove(offer_id)
            if not contact.offers and contact.waiting and contact.queue is not None:
                contact.queue.ringing -= 1
        return entry

    def _stop_waiting(self, cid: str, contact: _Contact) -> None:
        contact.waiting = False
        queue = contact.queue
        if queue is not None:
            queue.unanswered.pop(cid, None)
            if contact.offers:
                queue.ringing -= 1

    @handles(ev.OfferAccepted)
    def _accepted(self, event: ev.OfferAccepted) -> None:
        cid, at = event.contact_id, event.at
        entry = self._close_offer(event.offer_id, at)
        agent = self._agent(event.agent_id)
        agent.answered += 1
        agent._mark(at)
        agent.active.add(cid)
        agent._settle(at)
        contact = self._contacts.get(cid)
        if contact is None:  # it waited before these figures started
            contact = self._contacts[cid] = _Contact()
            contact.queue = None if entry is None else entry[2]
        elif contact.waiting:
            self._stop_waiting(cid, contact)
            queue = contact.queue
            if queue is not None:
                wait = at - contact.start
                queue.answered += 1
                queue.answer_time += wait
                queue.rule.answered(queue, wait)
                interval = queue._interval(contact.start)
                if interval is not None:
                    queue.rule.answered(interval, wait)
                if contact.at_once:
                    queue.at_once += 1
        contact.agent = agent
        contact.accepted_at = at
        contact.ended_at = None

    @handles(ev.OfferRejected)
    def _rejected(self, event: ev.OfferRejected) -> None:
        self._close_offer(event.offer_id, event.at)
        agent = self._agent(event.agent_id)
        agent.rejected += 1
        agent._settle(event.at)

    @handles(ev.OfferTimedOut)
    def _timed_out(self, event: ev.OfferTimedOut) -> None:
        self._close_offer(event.offer_id, event.at)
        agent = self._agent(event.agent_id)
        agent.missed += 1
        agent._settle(event.at)

    @handles(ev.OfferRescinded)
    def _rescinded(self, event: ev.OfferRescinded) -> None:
        self._close_offer(event.offer_id, event.at)

    def _talked(self, agent_id: str, cid: str, at: float, *, wrap_up: bool) -> _Contact | None:
        """The agent's conversation stopped at ``at``: ended (into wrap-up) or transferred.
        The contact, when these figures followed its answer."""
        agent = self._agent(agent_id)
        agent._mark(at)
        agent.active.discard(cid)
        if wrap_up:
            agent.wrap_up.add(cid)
        agent._settle(at)
        contact = self._contacts.get(cid)
        if contact is None or contact.accepted_at is None:
            return None
        talk = at - contact.accepted_at
        agent.talked += 1
        agent.talk_time += talk
        contact.talk += talk
        return contact

    @handles(ev.ContactTransferred)
    def _transferred(self, event: ev.ContactTransferred) -> None:
        contact = self._talked(event.from_agent, event.contact_id, event.at, wrap_up=False)
        if contact is not None:
            contact.agent = None
            contact.accepted_at = None

    @handles(ev.ContactEnded)
    def _ended(self, event: ev.ContactEnded) -> None:
        at = event.at
        contact = self._talked(event.agent_id, event.contact_id, at, wrap_up=True)
        if contact is not None:
            contact.ended_at = at
            queue = contact.queue
            if queue is not None:
                queue.talked += 1
                queue.talk_time += contact.talk

    @handles(ev.WrapUpEnded)
    def _wrapped(self, event: ev.WrapUpEnded) -> None:
        cid, at = event.contact_id, event.at
        agent = self._agent(event.agent_id)
        agent._mark(at)
        agent.wrap_up.discard(cid)
        agent._settle(at)
        contact = self._contacts.get(cid)
        if contact is None or contact.ended_at is None or contact.accepted_at is None:
            return
        wrap = at - contact.ended_at
        agent.handled += 1
        agent.wrap_time += wrap
        agent.handle_time += contact.ended_at - contact.accepted_at + wrap
        queue = contact.queue
        if queue is not None:
            queue.handled += 1
            queue.wrap_time += wrap
            queue.handle_time += contact.talk + wrap
        contact.ended_at = contact.accepted_at = None

    @handles(ev.ContactAbandoned)
    def _abandoned(self, event: ev.ContactAbandoned) -> None:
        cid = event.contact_id
        contact = self._contacts.get(cid)
        if contact is not None and contact.waiting:
            self._stop_waiting(cid, contact)
            queue = contact.queue
            if queue is not None:
                wait = event.at - contact.start
                queue.abandoned += 1
                queue.rule.abandoned(queue, wait)
                interval = queue._interval(contact.start)
                if interval is not None:
                    queue.rule.abandoned(interval, wait)
                if contact.at_once:
                    queue.at_once += 1
        self._forget(cid, event.at)

    @handles(ev.ContactClosed, ev.ContactRefused)
    def _gone(self, event: ev.ContactClosed | ev.ContactRefused) -> None:
        self._forget(event.contact_id, event.at)

    def _forget(self, cid: str, at: float) -> None:
        """The contact is gone: drop what was kept about it, including a ringing offer."""
        contact = self._contacts.pop(cid, None)
        if contact is None:
            return
        if contact.waiting:
            self._stop_waiting(cid, contact)
        for offer_id in contact.offers:
            entry = self._offers.pop(offer_id, None)
            if entry is not None:
                entry[1].open_offers.discard(offer_id)
                entry[1]._settle(at)

    # Agents and surveys -----------------------------------------------------------------------

    @handles(ev.AgentStatusChanged)
    def _status(self, event: ev.AgentStatusChanged) -> None:
        agent = self._agent(event.agent_id)
        agent._mark(event.at)
        agent.status = event.status
        agent._settle(event.at)

    @handles(ev.SurveyAnswered)
    def _survey(self, event: ev.SurveyAnswered) -> None:
        if event.scale <= 0:
            return
        targets: list[QueueMetrics | AgentMetrics] = []
        if event.queue is not None:
            targets.append(self._queue(event.queue, event.workspace))
        if event.agent_id is not None:
            targets.append(self._agent(event.agent_id))
        for target in targets:
            count_survey(target, event.score, event.scale)

    # Reading ----------------------------------------------------------------------------------

    def is_waiting(self, contact_id: str) -> bool:
        """True while the contact is queued or ringing: no agent has accepted it yet."""
        contact = self._contacts.get(contact_id)
        return contact is not None and contact.waiting

    def agent_counts(self, queue: str | None = None) -> dict[str, int]:
        """Agents by state (idle, offered, busy, wrap-up) while available, else by status.

        An agent on break or offline counts under that status even while finishing a contact:
        that is what a supervisor asks first ("who is on break?"). With ``queue``, only the
        agents who serve that queue (their configured ``queues``).
        """
        counts = dict.fromkeys([*AgentState, AgentStatus.BREAK, AgentStatus.OFFLINE], 0)
        for agent in self.agents.values():
            if queue is not None and queue not in agent.queues:
                continue
            key = agent.state if agent.status is _AVAILABLE else agent.status
            counts[key] += 1
        return {str(key): n for key, n in counts.items()}

    @property
    def service_level(self) -> float | None:
        """Service level over all queues, each contact judged by its own queue's definition."""
        counted = sum(q.counted for q in self.queues.values())
        within = sum(q.within for q in self.queues.values())
        return ratio(within, counted)

    def service_level_trend(self, queue_id: str, now: float) -> list[dict[str, Any]]:
        """The queue's service level per interval, oldest first: the :data:`TREND_INTERVALS`
        intervals of :data:`TREND_INTERVAL` seconds up to the one holding ``now`` (which is
        still running). Each contact counts in the interval in which it started waiting, by
        its queue's definition, once answered or abandoned (as in ``trunkline report``);
        ``service_level`` is ``None`` for an interval with no contact counted."""
        queue = self.queues.get(queue_id)
        trend = {} if queue is None else queue.trend
        last = math.floor(now / TREND_INTERVAL) * TREND_INTERVAL
        out = []
        for back in range(TREND_INTERVALS - 1, -1, -1):
            start = last - back * TREND_INTERVAL
            counts = trend.get(start)
            within, counted = (0, 0) if counts is None else (counts.within, counts.counted)
            out.append(
                {
                    "start": start,
                    "end": start + TREND_INTERVAL,
                    "service_level": ratio(within, counted),
                    "within_service_level": within,
                    "counted_for_service_level": counted,
                }
            )
        return out

    # Finished runs (simulation replications) -------------------------------------------------

    def settle(self, now: float) -> None:
        """Count every agent's time up to ``now`` and stop the clocks: the run is over.

        Later events restart an agent's clock from their own time, so nothing between ``now``
        and them is counted.
        """
        for agent in self.agents.values():
            agent.busy_time, agent.available_time = agent._times(now)
            agent.last = None

    def merge(self, other: Metrics, *, now: float) -> None:
        """Add the totals of another, independent run that ended at ``now``.

        This is how the simulator's replications (separate processes, each from an empty
        center) become one set of figures. Counters and times add up; what is open in
        ``other`` (waiting contacts, ringing offers) is counted but not followed further.
        """
        other.settle(now)
        self.received += other.received
        self.offered += other.offered
        for qid, theirs in other.queues.items():
            mine = self.queues.get(qid)
            if mine is None:
                self.queues[qid] = theirs
            else:
                mine._add(theirs)
        for aid, agent in other.agents.items():
            own = self.agents.get(aid)
            if own is None:
                self.agents[aid] = agent
                continue
            for name in _AGENT_COUNTERS:
                setattr(own, name, getattr(own, name) + getattr(agent, name))

    def figures(self, now: float) -> dict[str, Any]:
        """Every figure as JSON-ready data: ``{"workspace", "queues", "agents"}``.

        A figure that is not defined yet (an average of nothing) is ``None``. The fields are
        listed in ``docs/metrics.md``.
        """
        totals = QueueMetrics(Queue(id="", workspace=""))
        queues: dict[str, Any] = {}
        longest = 0.0
        for qid, queue in self.queues.items():
            totals._add(queue)
            wait = queue.longest_wait(now)
            longest = max(longest, wait)
            queues[qid] = {
                **queue._figures(),
                "longest_wait": wait,
                "service_level_threshold": queue.threshold,
                "service_level_abandons": queue.rule.abandons,
                "service_level_short_abandon": queue.rule.short_abandon,
                "agents": self.agent_counts(qid),
            }
        totals.offered = self.offered  # an overflow counts in two queues, once here
        agents = {aid: agent._figures(now) for aid, agent in self.agents.items()}
        busy = sum(a["busy_time"] for a in agents.values())
        available = sum(a["available_time"] for a in agents.values())
        workspace = {
            "received": self.received,
            **totals._figures(),
            "waiting": sum(q.waiting for q in self.queues.values()),
            "longest_wait": longest,
            "agents": self.agent_counts(),
            "busy_time": busy,
            "available_time": available,
            "occupancy": ratio(busy, available),
        }
        return {"workspace": workspace, "queues": queues, "agents": agents}
