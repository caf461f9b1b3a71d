"""The event types: every change in Trunkline is one of these, appended to the log.

Events are the source of truth. The routing state, customer history and metrics are all
projections of the log, so replaying it rebuilds them. Events are frozen attrs classes with
keyword-only fields; ``event.type`` is the class name, stable across releases.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from .model import Address, AgentStatus, Contact, Customer, Message, Offer

__all__ = [
    "EVENT_TYPES",
    "AgentStatusChanged",
    "ContactAbandoned",
    "ContactClosed",
    "ContactEnded",
    "ContactEscalated",
    "ContactHeld",
    "ContactOffered",
    "ContactQueued",
    "ContactReceived",
    "ContactRefused",
    "ContactResumed",
    "ContactTransferred",
    "CustomerCreated",
    "Event",
    "ExclusionEnded",
    "MessageFailed",
    "MessageReceived",
    "MessageSent",
    "NoteAdded",
    "OfferAccepted",
    "OfferRejected",
    "OfferRescinded",
    "OfferTimedOut",
    "OutboundQueued",
    "SendAttemptFailed",
    "SurveyAnswered",
    "SurveySent",
    "WrapUpEnded",
    "contact_id_of",
]


@attrs.frozen(kw_only=True)
class Event:
    """Base of every event: which workspace it belongs to and when it happened (seconds)."""

    workspace: str
    at: float

    type: ClassVar[str] = "Event"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.type = cls.__name__
        EVENT_TYPES[cls.__name__] = cls


EVENT_TYPES: dict[str, type[Event]] = {}


# Customers and contacts -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CustomerCreated(Event):
    """Identity resolution found no customer for an address and created one."""

    customer: Customer


@attrs.frozen(kw_only=True)
class ContactReceived(Event):
    """A new contact entered the system (inbound) or was started by an agent (outbound)."""

    contact: Contact


@attrs.frozen(kw_only=True)
class MessageReceived(Event):
    """A message arrived on a contact, new or already open.

    ``idempotency_key`` is the provider's id for it; a redelivery with the same key is
    acknowledged without being stored twice.
    """

    message: Message
    idempotency_key: str | None = None


@attrs.frozen(kw_only=True)
class ContactQueued(Event):
    """The contact joined a queue and waits for an agent.

    ``since`` is its place in line: the time it first arrived, kept across escalation and
    overflow, or given back when a customer who abandoned returns within the queue's
    ``rejoin_window``. While ``preferred_agent`` is set (a returning customer's last agent, or
    the target of a transfer), only that agent is offered the contact, until
    ``preferred_until``.
    """

    contact_id: str
    queue: str
    priority: int
    since: float | None = None
    level: int = 0
    preferred_agent: str | None = None
    preferred_until: float | None = None


@attrs.frozen(kw_only=True)
class ContactEscalated(Event):
    """The contact moved to escalation ``level`` of its queue (0: the queue itself).

    Reached from a preferred agent's window (``reason`` says which) or a step's timeout.
    """

    contact_id: str
    level: int
    priority: int
    reason: str = ""


@attrs.frozen(kw_only=True)
class ContactRefused(Event):
    """The queue would not take the contact, or it left because no agent could serve it."""

    contact_id: str
    queue: str
    reason: str


@attrs.frozen(kw_only=True)
class ContactOffered(Event):
    """The router reserved the contact for one agent.

    ``level`` is the escalation level that was in force and ``rule`` what chose the agent: the
    strategy's name, ``"preferred"`` for a returning customer's or a transfer's agent,
    ``"transfer"`` for the agent a waiting contact was transferred to, or ``"plugin:<name>"``.
    ``trunkline explain`` tells the rest by replaying the log.
    """

    offer: Offer
    level: int = 0
    rule: str = ""


@attrs.frozen(kw_only=True)
class OfferAccepted(Event):
    """The agent took the contact; it is now theirs."""

    offer_id: str
    contact_id: str
    agent_id: str


@attrs.frozen(kw_only=True)
class OfferRejected(Event):
    """The agent declined; the contact goes back to its queue without that agent, who may be
    offered it again after the queue's ``reject_delay`` (see :class:`ExclusionEnded`)."""

    offer_id: str
    contact_id: str
    agent_id: str
    reason: str = ""


@attrs.frozen(kw_only=True)
class OfferRescinded(Event):
    """The offer was withdrawn: another agent accepted first, the customer left, or the
    waiting contact was transferred elsewhere."""

    offer_id: str
    contact_id: str
    agent_id: str


@attrs.frozen(kw_only=True)
class OfferTimedOut(Event):
    """The agent did not answer in time; the contact goes back without that agent, who may be
    offered it again after the queue's ``no_answer_delay`` (see :class:`ExclusionEnded`)."""

    offer_id: str
    contact_id: str
    agent_id: str


@attrs.frozen(kw_only=True)
class ExclusionEnded(Event):
    """The agent who declined the contact may be offered it again.

    An agent who rejected an offer, or let it time out, is kept from that contact for its
    queue's ``reject_delay`` or ``no_answer_delay``; this records that the time is over while
    the contact still waits, so a replay ends the exclusion exactly when routing did.
    """

    contact_id: str
    agent_id: str


@attrs.frozen(kw_only=True)
class ContactTransferred(Event):
    """The agent handling the contact passed it on, to a queue and possibly to one agent.

    The contact keeps its id and its history; a :class:`ContactQueued` follows.
    """

    contact_id: str
    from_agent: str
    queue: str
    to_agent: str | None = None


@attrs.frozen(kw_only=True)
class ContactEnded(Event):
    """The conversation ended; the agent enters wrap-up (possibly of zero length)."""

    contact_id: str
    agent_id: str
    wrap_up_until: float


@attrs.frozen(kw_only=True)
class WrapUpEnded(Event):
    """The agent finished wrap-up for a contact and the capacity it held is free again."""

    contact_id: str
    agent_id: str


@attrs.frozen(kw_only=True)
class ContactClosed(Event):
    """The contact is done, with an optional disposition code."""

    contact_id: str
    disposition: str | None = None


@attrs.frozen(kw_only=True)
class ContactAbandoned(Event):
    """The customer left before an agent accepted; ``waited`` is seconds since arrival."""

    contact_id: str
    waited: float
    queue: str | None = None


@attrs.frozen(kw_only=True)
class NoteAdded(Event):
    """Someone of the centre wrote a private note on the contact: for colleagues only.

    A note is never sent to the customer (it does not reach the outbox); agents and
    supervisors of the workspace read it with the contact. ``author`` is the user name of
    who wrote it and ``agent_id`` the agent they work as, if any.
    """

    contact_id: str
    note_id: str
    author: str
    text: str
    agent_id: str | None = None


@attrs.frozen(kw_only=True)
class ContactHeld(Event):
    """The agent put a live contact (a call) on hold: the customer hears hold audio."""

    contact_id: str
    agent_id: str


@attrs.frozen(kw_only=True)
class ContactResumed(Event):
    """The agent took a held live contact off hold."""

    contact_id: str
    agent_id: str


# Surveys (CSAT) ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SurveySent(Event):
    """After close, the customer was asked to rate the contact on its own channel.

    ``message_id`` is the outbound question; ``expires_at`` is when an answer stops counting.
    """

    contact_id: str
    message_id: str
    scale: int
    expires_at: float


@attrs.frozen(kw_only=True)
class SurveyAnswered(Event):
    """The customer rated the contact: ``score`` from 1 to ``scale`` (5 by default)."""

    contact_id: str
    score: int
    scale: int
    agent_id: str | None = None
    queue: str | None = None


# Agents -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AgentStatusChanged(Event):
    """The agent (or a supervisor) set a status: offline, available, or break with a reason."""

    agent_id: str
    status: AgentStatus
    reason: str | None = None


# Outbound ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OutboundQueued(Event):
    """A message to a customer was written to the outbox; it is sent after this is durable."""

    message: Message
    to: Address


@attrs.frozen(kw_only=True)
class SendAttemptFailed(Event):
    """A send failed for a reason that may pass; it is tried again at ``retry_at``."""

    message_id: str
    attempt: int
    error: str
    retry_at: float


@attrs.frozen(kw_only=True)
class MessageSent(Event):
    """The channel accepted the message; ``provider_id`` is the channel's own id for it."""

    message_id: str
    provider_id: str | None = None


@attrs.frozen(kw_only=True)
class MessageFailed(Event):
    """The message cannot be delivered; agents see this."""

    message_id: str
    error: str


def contact_id_of(event: Event) -> str | None:
    """The contact an event concerns, kept in its own column for retention and lookups."""
    value = getattr(event, "contact_id", None)
    if isinstance(value, str):
        return value
    if isinstance(event, ContactReceived):
        return event.contact.id
    if isinstance(event, ContactOffered):
        return event.offer.contact_id
    if isinstance(event, MessageReceived | OutboundQueued):
        return event.message.contact_id
    return None
