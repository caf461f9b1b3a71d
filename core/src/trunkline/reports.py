"""Historical reports: a pure fold over a workspace's stored events into rows of figures.

``trunkline report`` prints them; :func:`build_report` reads a store page by page, and
:func:`report_from_events` folds any sequence of events (a switchboard's log, a test's).

Two shapes (``docs/metrics.md`` defines every figure):

- **by interval**: one row per queue and interval (15 minutes, an hour or a day, aligned to
  UTC). Each contact counts once, in the interval in which it was first queued and in the
  queue where an agent first accepted it (or, never answered, where it was abandoned, or else
  the last queue it waited in): offered, answered, abandoned, service level, ASA, AHT, talk
  and wrap time, handled, FCR and CSAT.
- **by agent**: one row per agent (and per interval when one is asked for): offers, answered,
  rejected, missed, handled, talk and wrap time, AHT, occupancy, FCR and CSAT. Counts about a
  contact go to the contact's interval (when it was first queued); occupancy is time, cut at
  the interval boundaries.

**First-contact resolution (FCR).** A contact that an agent answered and that was closed is
*resolved on first contact* when the same customer (any channel) starts no new contact within
``fcr_days`` days after the close. While that window is still open at the report's ``now``
the contact is *pending* and left out of ``fcr``. Contacts received after ``--to`` still count
as new contacts: the fold reads the whole log.

**CSAT.** From ``SurveyAnswered`` events: a response is *satisfied* when ``score / scale`` is
at least 0.8 (4 or 5 on a 5-point scale); ``csat`` is the satisfied share, ``average_score``
the mean score on a 5-point scale. A customer who answers twice for one contact counts once,
with the last answer. A response goes to its contact's queue, agent and interval.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

import attrs

from . import events as ev
from .errors import TrunklineError
from .fold import Fold, handles
from .metrics import (
    AgentCounters,
    QueueCounters,
    contact_rates,
    count_survey,
    csat_rates,
    handling_rates,
    ratio,
)
from .model import AgentStatus, Queue
from .servicelevel import ServiceLevel
from .store import Store

__all__ = [
    "INTERVALS",
    "Report",
    "ReportFold",
    "ReportOptions",
    "build_report",
    "parse_time",
    "report_from_events",
]

INTERVALS: dict[str, float] = {"15m": 900.0, "hour": 3600.0, "day": 86400.0}
BY = ("interval", "agent")
PAGE = 5000  # events read from the store at a time
DAY = 86400.0
_DEFAULT_RULE = ServiceLevel.of(Queue(id="-", workspace="-"))


def parse_time(text: str, option: str = "--from") -> float:
    """Unix seconds from ISO 8601 (``2024-05-01``, ``2024-05-01T08:00:00Z``); UTC if no zone."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TrunklineError(
            f'{option} "{text}": not an ISO 8601 date or time (for example 2024-05-01 or '
            "2024-05-01T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso(seconds: float) -> str:
    """``2024-05-01T08:00:00Z`` for Unix seconds."""
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _by(_: Any, __: Any, value: str) -> None:
    if value not in BY:
        raise TrunklineError(f'unknown report shape "{value}" (known: {", ".join(BY)})')


def _interval(_: Any, __: Any, value: str | None) -> None:
    if value is not None and value not in INTERVALS:
        raise TrunklineError(f'unknown interval "{value}" (known: {", ".join(INTERVALS)})')


@attrs.frozen(kw_only=True)
class ReportOptions:
    """What to report. ``interval`` None: ``hour`` by interval, the whole range by agent.

    ``start``/``end`` (Unix seconds) keep the contacts first queued in ``[start, end)``;
    ``now`` decides which FCR windows have passed.
    """

    now: float
    by: str = attrs.field(default="interval", validator=_by)
    interval: str | None = attrs.field(default=None, validator=_interval)
    start: float | None = None
    end: float | None = None
    fcr_days: float = 7.0

    def __attrs_post_init__(self) -> None:
        if self.fcr_days < 0 or math.isnan(self.fcr_days):
            raise TrunklineError(f"--fcr-days {self.fcr_days:g}: must be 0 or more")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise TrunklineError(f"--to ({iso(self.end)}) must be after --from ({iso(self.start)})")

    @property
    def size(self) -> float | None:
        """Seconds per interval, or None for one row per agent over the whole range."""
        if self.interval is None:
            return INTERVALS["hour"] if self.by == "interval" else None
        return INTERVALS[self.interval]


# Accumulators ---------------------------------------------------------------------------------


_FCR = ("fcr_contacts", "fcr_pending", "resolved")


class _Row:
    """What a report's queue and agent rows add to the live figures' counters: FCR, and how
    rows add up and read. (No ``__slots__`` here: a row's are its counters' and ``_FCR``.)"""

    def __init__(self) -> None:
        super().__init__()  # the counters
        self.resolved = 0
        self.fcr_contacts = 0  # closed, answered contacts whose window has passed
        self.fcr_pending = 0

    def add(self, other: _Row) -> None:
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def survey(self, score: int, scale: int) -> None:
        count_survey(self, score, scale)

    def tail(self) -> dict[str, Any]:
        return {
            "fcr": ratio(self.resolved, self.fcr_contacts),
            "fcr_contacts": self.fcr_contacts,
            "fcr_pending": self.fcr_pending,
            **csat_rates(self),
        }


class _QueueRow(_Row, QueueCounters):
    __slots__ = _FCR

    def figures(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "handled": self.handled,
            **contact_rates(self),
            **self.tail(),
        }


class _AgentRow(_Row, AgentCounters):
    __slots__ = _FCR

    def figures(self) -> dict[str, Any]:
        return {
            "offers": self.offers,
            "answered": self.answered,
            "rejected": self.rejected,
            "missed": self.missed,
            "handled": self.handled,
            "talk_time_total": self.talk_time,
            "wrap_time_total": self.wrap_time,
            **handling_rates(self),
            "busy_time": self.busy_time,
            "available_time": self.available_time,
            "occupancy": ratio(self.busy_time, self.available_time),
            **self.tail(),
        }


QUEUE_COLUMNS = ("queue", "interval", "interval_end", *_QueueRow().figures())
AGENT_COLUMNS = ("agent", "interval", "interval_end", *_AgentRow().figures())


class _Contact:
    """One contact, as the report sees it."""

    __slots__ = (
        "abandoned_at",
        "accepted_at",
        "agent",
        "answered_at",
        "closed_at",
        "customer",
        "ended",
        "ended_at",
        "first_offer",
        "handled",
        "queue",
        "queued_at",
        "received_at",
        "survey",
        "talk",
        "wrap",
    )

    def __init__(self) -> None:
        self.customer: str | None = None
        self.received_at: float | None = None
        self.queue: str | None = None  # the queue it counts in
        self.queued_at: float | None = None  # first queued
        self.first_offer: float | None = None
        self.answered_at: float | None = None  # first accepted
        self.abandoned_at: float | None = None  # only when never answered
        self.agent: str | None = None  # the agent who handled it last
        self.accepted_at: float | None = None  # the current agent's accept
        self.ended_at: float | None = None  # the current agent's end
        self.talk = 0.0
        self.ended = False
        self.wrap = 0.0
        self.handled = False
        self.closed_at: float | None = None
        self.survey: tuple[int, int] | None = None


class _Agent:
    """An agent's status and load through the log, for occupancy."""

    __slots__ = ("held", "last", "status")

    def __init__(self) -> None:
        self.status = AgentStatus.OFFLINE
        self.held: set[str] = set()  # contacts active or in wrap-up
        self.last: float | None = None


# The fold -----------------------------------------------------------------------------------


class ReportFold(Fold):
    """Fold events in order with :meth:`apply`; :meth:`report` gives the rows."""

    def __init__(self, queues: Iterable[Queue], options: ReportOptions) -> None:
        self.options = options
        self.rules = {q.id: ServiceLevel.of(q) for q in queues}
        self.size = options.size
        self.start = -math.inf if options.start is None else options.start
        self.end = math.inf if options.end is None else options.end
        self.contacts: dict[str, _Contact] = {}
        self.received: dict[str, list[float]] = {}  # customer -> times of their contacts
        self.agents: dict[str, _Agent] = {}
        self.agent_rows: dict[tuple[str, float | None], _AgentRow] = {}
        self.surveys: list[ev.SurveyAnswered] = []  # for contacts the log does not hold
        self.last_at: float | None = None
        self._handler = self.handlers.get

    def apply(self, event: ev.Event) -> None:
        """Fold one event in; agents' time runs up to the latest event of any type."""
        self.last_at = event.at if self.last_at is None else max(self.last_at, event.at)
        # Fold.apply, inlined: a call through super() would add a frame to every event.
        handler = self._handler(type(event))
        if handler is not None:
            handler(self, event)

    # Where things count -------------------------------------------------------------------

    def _bucket(self, at: float) -> float | None:
        return None if self.size is None else math.floor(at / self.size) * self.size

    def _when(self, contact: _Contact | None, at: float) -> float | None:
        """The time a contact's figures count at (first queued), or None when out of range."""
        moment = at if contact is None or contact.queued_at is None else contact.queued_at
        return moment if self.start <= moment < self.end else None

    def _agent_row(self, agent_id: str, moment: float) -> _AgentRow:
        key = (agent_id, self._bucket(moment))
        row = self.agent_rows.get(key)
        if row is None:
            row = self.agent_rows[key] = _AgentRow()
        return row

    def _contact_agent_row(self, agent_id: str, contact_id: str, at: float) -> _AgentRow | None:
        moment = self._when(self.contacts.get(contact_id), at)
        return None if moment is None else self._agent_row(agent_id, moment)

    def _contact(self, contact_id: str) -> _Contact:
        found = self.contacts.get(contact_id)
        if found is None:
            found = self.contacts[contact_id] = _Contact()
        return found

    # Agents' time -------------------------------------------------------------------------

    def _agent(self, agent_id: str, at: float) -> _Agent:
        """The agent, with its time up to ``at`` counted (call before changing it)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = _Agent()
        if agent.last is not None and at > agent.last:
            self._span(agent_id, agent, agent.last, at)
        if agent.last is None or at > agent.last:
            agent.last = at
        return agent

    def _span(self, agent_id: str, agent: _Agent, t0: float, t1: float) -> None:
        busy = bool(agent.held)
        if not busy and agent.status is not AgentStatus.AVAILABLE:
            return
        lo, hi = max(t0, self.start), min(t1, self.end)
        while lo < hi:
            bucket = self._bucket(lo)
            upper = hi if bucket is None or self.size is None else min(hi, bucket + self.size)
            row = self._agent_row(agent_id, lo)
            row.available_time += upper - lo
            if busy:
                row.busy_time += upper - lo
            lo = upper

    # Events -------------------------------------------------------------------------------

    @handles(ev.ContactReceived)
    def _received(self, event: ev.ContactReceived) -> None:
        contact = self._contact(event.contact.id)
        contact.customer = event.contact.customer_id
        contact.received_at = event.at
        self.received.setdefault(contact.customer, []).append(event.at)

    @handles(ev.ContactQueued)
    def _queued(self, event: ev.ContactQueued) -> None:
        contact = self._contact(event.contact_id)
        if contact.queued_at is None:
            contact.queued_at = event.at
        if contact.answered_at is None and contact.abandoned_at is None:
            contact.queue = event.queue

    @handles(ev.ContactOffered)
    def _offered(self, event: ev.ContactOffered) -> None:
        offer = event.offer
        contact = self.contacts.get(offer.contact_id)
        if contact is not None and contact.first_offer is None:
            contact.first_offer = event.at
        row = self._contact_agent_row(offer.agent_id, offer.contact_id, event.at)
        if row is not None:
            row.offers += 1

    @handles(ev.OfferRejected)
    def _rejected(self, event: ev.OfferRejected) -> None:
        row = self._contact_agent_row(event.agent_id, event.contact_id, event.at)
        if row is not None:
            row.rejected += 1

    @handles(ev.OfferTimedOut)
    def _timed_out(self, event: ev.OfferTimedOut) -> None:
        row = self._contact_agent_row(event.agent_id, event.contact_id, event.at)
        if row is not None:
            row.missed += 1

    @handles(ev.OfferAccepted)
    def _accepted(self, event: ev.OfferAccepted) -> None:
        self._agent(event.agent_id, event.at).held.add(event.contact_id)
        contact = self._contact(event.contact_id)
        if contact.answered_at is None:
            contact.answered_at = event.at
        contact.agent = event.agent_id
        contact.accepted_at = event.at
        contact.ended_at = None
        row = self._contact_agent_row(event.agent_id, event.contact_id, event.at)
        if row is not None:
            row.answered += 1

    def _talked(self, agent_id: str, contact_id: str, at: float) -> _Contact | None:
        """The current agent's conversation stopped (ended or transferred) at ``at``."""
        contact = self.contacts.get(contact_id)
        if contact is None or contact.accepted_at is None:
            return None
        talk = at - contact.accepted_at
        contact.talk += talk
        row = self._contact_agent_row(agent_id, contact_id, at)
        if row is not None:
            row.talked += 1
            row.talk_time += talk
        return contact

    @handles(ev.ContactTransferred)
    def _transferred(self, event: ev.ContactTransferred) -> None:
        self._agent(event.from_agent, event.at).held.discard(event.contact_id)
        contact = self._talked(event.from_agent, event.contact_id, event.at)
        if contact is not None:
            contact.accepted_at = None

    @handles(ev.ContactEnded)
    def _ended(self, event: ev.ContactEnded) -> None:
        self._agent(event.agent_id, event.at)  # still held: in wrap-up
        contact = self._talked(event.agent_id, event.contact_id, event.at)
        if contact is not None:
            contact.ended = True
            contact.ended_at = event.at

    @handles(ev.WrapUpEnded)
    def _wrapped(self, event: ev.WrapUpEnded) -> None:
        self._agent(event.agent_id, event.at).held.discard(event.contact_id)
        contact = self.contacts.get(event.contact_id)
        if contact is None or contact.ended_at is None or contact.accepted_at is None:
            return
        wrap = event.at - contact.ended_at
        contact.wrap = wrap
        contact.handled = True
        row = self._contact_agent_row(event.agent_id, event.contact_id, event.at)
        if row is not None:
            row.handled += 1
            row.wrap_time += wrap
            row.handle_time += contact.ended_at - contact.accepted_at + wrap
        contact.accepted_at = contact.ended_at = None

    @handles(ev.ContactClosed)
    def _closed(self, event: ev.ContactClosed) -> None:
        self._contact(event.contact_id).closed_at = event.at

    @handles(ev.ContactAbandoned)
    def _abandoned(self, event: ev.ContactAbandoned) -> None:
        contact = self._contact(event.contact_id)
        if contact.answered_at is None and contact.abandoned_at is None:
            contact.abandoned_at = event.at
            if contact.queued_at is None:  # queued before the log starts (retention)
                contact.queued_at = event.at - event.waited
            if contact.queue is None:
                contact.queue = event.queue

    @handles(ev.AgentStatusChanged)
    def _status(self, event: ev.AgentStatusChanged) -> None:
        self._agent(event.agent_id, event.at).status = event.status

    @handles(ev.SurveyAnswered)
    def _survey(self, event: ev.SurveyAnswered) -> None:
        if event.scale <= 0:
            return
        contact = self.contacts.get(event.contact_id)
        if contact is not None and contact.queued_at is not None:
            contact.survey = (event.score, event.scale)
            if contact.agent is None:
                contact.agent = event.agent_id
            if contact.queue is None:
                contact.queue = event.queue
        else:
            self.surveys.append(event)

    # The rows -----------------------------------------------------------------------------

    def _fcr(self, contact: _Contact, row: _Row) -> None:
        """Count the contact's first-contact resolution, if it is eligible."""
        if contact.answered_at is None or contact.closed_at is None or contact.customer is None:
            return
        window = self.options.fcr_days * DAY
        closed = contact.closed_at
        if closed + window > self.options.now:
            row.fcr_pending += 1
            return
        row.fcr_contacts += 1
        times = self.received.get(contact.customer, [])
        after = bisect.bisect_right(times, closed)
        if after == len(times) or times[after] > closed + window:
            row.resolved += 1

    def report(self) -> Report:
        """The rows and totals of what was folded so far."""
        for times in self.received.values():
            times.sort()
        if self.last_at is not None:  # agents' time runs up to the last event
            for agent_id in list(self.agents):
                self._agent(agent_id, self.last_at)
        if self.options.by == "agent":
            return self._agent_report()
        return self._queue_report()

    def _included(self) -> Iterable[tuple[_Contact, float]]:
        for contact in self.contacts.values():
            if contact.queued_at is not None and self.start <= contact.queued_at < self.end:
                yield contact, contact.queued_at

    def _queue_report(self) -> Report:
        rows: dict[tuple[float | None, str], _QueueRow] = {}

        def row_of(queue: str, moment: float) -> _QueueRow:
            key = (self._bucket(moment), queue)
            found = rows.get(key)
            if found is None:
                found = rows[key] = _QueueRow()
            return found

        for contact, moment in self._included():
            queue = contact.queue or ""
            row = row_of(queue, moment)
            rule = self.rules.get(queue, _DEFAULT_RULE)
            row.offered += 1
            settled = False
            if contact.answered_at is not None:
                wait = contact.answered_at - moment
                row.answered += 1
                row.answer_time += wait
                rule.answered(row, wait)
                settled = True
            elif contact.abandoned_at is not None:
                row.abandoned += 1
                rule.abandoned(row, contact.abandoned_at - moment)
                settled = True
            if settled and contact.first_offer is not None and contact.first_offer <= moment:
                row.at_once += 1
            if contact.ended:
                row.talked += 1
                row.talk_time += contact.talk
            if contact.handled:
                row.handled += 1
                row.wrap_time += contact.wrap
                row.handle_time += contact.talk + contact.wrap
            self._fcr(contact, row)
            if contact.survey is not None:
                row.survey(*contact.survey)
        for event in self.surveys:
            if event.queue is not None and self.start <= event.at < self.end:
                row_of(event.queue, event.at).survey(event.score, event.scale)
        totals = _QueueRow()
        out = []
        for (bucket, queue), row in sorted(rows.items(), key=_order):
            totals.add(row)
            out.append({"queue": queue, **self._span_of(bucket), **row.figures()})
        return Report(self.options, QUEUE_COLUMNS, out, totals.figures())

    def _agent_report(self) -> Report:
        for contact, moment in self._included():
            if contact.agent is None:
                continue
            row = self._agent_row(contact.agent, moment)
            self._fcr(contact, row)
            if contact.survey is not None:
                row.survey(*contact.survey)
        for event in self.surveys:
            if event.agent_id is not None and self.start <= event.at < self.end:
                self._agent_row(event.agent_id, event.at).survey(event.score, event.scale)
        totals = _AgentRow()
        out = []
        for (agent, bucket), row in sorted(self.agent_rows.items(), key=_agent_order):
            totals.add(row)
            out.append({"agent": agent, **self._span_of(bucket), **row.figures()})
        columns = AGENT_COLUMNS if self.size is not None else _without_interval(AGENT_COLUMNS)
        return Report(self.options, columns, out, totals.figures())

    def _span_of(self, bucket: float | None) -> dict[str, Any]:
        if bucket is None or self.size is None:
            return {}
        return {"interval": iso(bucket), "interval_end": iso(bucket + self.size)}


def _order(item: tuple[tuple[float | None, str], Any]) -> tuple[float, str]:
    (bucket, queue), _ = item
    return (-math.inf if bucket is None else bucket, queue)


def _agent_order(item: tuple[tuple[str, float | None], Any]) -> tuple[str, float]:
    (agent, bucket), _ = item
    return (agent, -math.inf if bucket is None else bucket)


def _without_interval(columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for c in columns if c not in ("interval", "interval_end"))


# The result ---------------------------------------------------------------------------------


@attrs.frozen
class Report:
    """The rows (dicts with ``columns`` as keys) and the totals over all of them."""

    options: ReportOptions
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    totals: dict[str, Any]

    def json(self) -> dict[str, Any]:
        """``{"by", "interval", "from", "to", "now", "fcr_days", "rows", "totals"}``."""
        o = self.options
        return {
            "by": o.by,
            "interval": o.interval if o.interval is not None or o.by == "agent" else "hour",
            "from": None if o.start is None else iso(o.start),
            "to": None if o.end is None else iso(o.end),
            "now": iso(o.now),
            "fcr_days": o.fcr_days,
            "rows": self.rows,
            "totals": self.totals,
        }

    def write_csv(self, out: TextIO) -> None:
        """A header row, then one line per row; an undefined figure is an empty cell."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in self.columns])


def report_from_events(
    events: Iterable[ev.Event], queues: Iterable[Queue], options: ReportOptions
) -> Report:
    """Fold ``events`` (one workspace's, in order) into a report."""
    fold = ReportFold(queues, options)
    fold.apply_all(events)
    return fold.report()


async def build_report(
    store: Store,
    workspace: str,
    queues: Iterable[Queue],
    options: ReportOptions,
    *,
    page: int = PAGE,
) -> Report:
    """Read the workspace's whole log from ``store``, ``page`` events at a time, and fold it."""
    fold = ReportFold(queues, options)
    after = 0
    while True:
        chunk = await store.read(workspace, after, page)
        fold.apply_all(stored.event for stored in chunk)
        if len(chunk) < page:
            break
        after = chunk[-1].seq
    return fold.report()


async def run_report_command(
    config: Any,
    store: Store,
    workspace: str | None,
    by: str,
    interval: str | None,
    start: str | None,
    end: str | None,
    fcr_days: float,
    output_format: str,
    now: float | None,
) -> str:
    """``trunkline report``: the report of one workspace of ``config``, as CSV or JSON text."""
    import io
    import json
    import time

    from .config import choose_workspace

    workspace = choose_workspace(config.workspaces, workspace)
    options = ReportOptions(
        now=time.time() if now is None else now,
        by=by,
        interval=interval,
        start=None if start is None else parse_time(start, "--from"),
        end=None if end is None else parse_time(end, "--to"),
        fcr_days=fcr_days,
    )
    queues = config.workspaces[workspace].queues
    result = await build_report(store, workspace, queues, options)
    if output_format == "json":
        return json.dumps({"workspace": workspace, **result.json()}, indent=2) + "\n"
    text = io.StringIO()
    result.write_csv(text)
    return text.getvalue()
