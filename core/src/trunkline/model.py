"""The contact-center model: workspaces, customers, contacts, messages, queues, agents, offers.

Values are frozen attrs classes; change them with ``attrs.evolve``. Run-time state that the
system derives (an agent's state, a queue's waiting line) is not stored here: it is a
projection of the event log, kept by the routing engine (see :mod:`trunkline.events`).
"""

from __future__ import annotations

import enum
import itertools
import uuid
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .errors import NestedValueError
from .servicelevel import ABANDONS

__all__ = [
    "MAX_PROFICIENCY",
    "MIN_PROFICIENCY",
    "Address",
    "Agent",
    "AgentState",
    "AgentStatus",
    "Attachment",
    "Contact",
    "ContactState",
    "Customer",
    "Direction",
    "EscalationStep",
    "Message",
    "Offer",
    "Queue",
    "RoutingSettings",
    "Workspace",
    "new_id",
]

MIN_PROFICIENCY = 1
MAX_PROFICIENCY = 5


def new_id(prefix: str) -> str:
    """A new unique identifier such as ``ct_3f2a…`` (prefix, underscore, 32 hex digits)."""
    return f"{prefix}_{uuid.uuid4().hex}"


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # One shared empty mapping: a million waiting contacts should not carry a million empty dicts.
    return MappingProxyType(dict(value)) if value else _EMPTY


def _addresses(value: Iterable[Address]) -> tuple[Address, ...]:
    return tuple(value)


def attachment_tuple(value: Iterable[Attachment]) -> tuple[Attachment, ...]:
    """attrs converter: any iterable of attachments to a tuple."""
    return tuple(value)


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _skill_levels(value: Mapping[str, int] | None) -> Mapping[str, int]:
    if not value:
        return _EMPTY
    levels = dict(value)
    for skill, level in levels.items():
        if not isinstance(level, int) or not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
            raise NestedValueError(
                f"skill {skill!r}: level {level!r} is not a whole number from "
                f"{MIN_PROFICIENCY} to {MAX_PROFICIENCY}",
                at=(str(skill),),
            )
    return MappingProxyType(levels)


class Direction(enum.StrEnum):
    """Who started the contact."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ContactState(enum.StrEnum):
    """Where a contact is in its life."""

    QUEUED = "queued"  # waiting in a queue for an agent
    OFFERED = "offered"  # reserved for an agent who has not answered yet
    ACTIVE = "active"  # an agent accepted it and is handling it
    WRAP_UP = "wrap-up"  # the conversation ended; the agent is finishing notes
    CLOSED = "closed"  # done
    ABANDONED = "abandoned"  # the customer left before an agent answered
    REFUSED = "refused"  # the queue would not take it (full, closed, no agents), with a reason


class AgentStatus(enum.StrEnum):
    """What the person says they are doing. Set by the agent or a supervisor."""

    OFFLINE = "offline"
    AVAILABLE = "available"
    BREAK = "break"


class AgentState(enum.StrEnum):
    """What the system sees the agent doing. Derived, never set directly."""

    IDLE = "idle"
    OFFERED = "offered"
    BUSY = "busy"
    WRAP_UP = "wrap-up"


@attrs.frozen
class Workspace:
    """A tenant. Everything belongs to exactly one workspace; nothing crosses workspaces."""

    id: str
    name: str = ""


@attrs.frozen
class Address:
    """One way to reach a customer on some channel.

    ``kind`` says what the value is (``"email"``, ``"e164"``, ``"slack"``, ``"x"``,
    ``"webchat"``, ``"memory"``…); channels choose it, core never interprets it.
    """

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@attrs.frozen
class Customer:
    """A person or organisation that contacts the centre, known by one or more addresses."""

    id: str
    workspace: str
    addresses: tuple[Address, ...] = attrs.field(default=(), converter=_addresses)
    name: str = ""


@attrs.frozen
class Attachment:
    """A file carried by a message, stored by the SHA-256 of its content."""

    filename: str
    content_type: str
    size: int
    sha256: str


@attrs.frozen
class Message:
    """One item inside a contact: an email, a chat line, an SMS, a fax, a post, a call leg.

    ``created_at`` is when Trunkline received (or wrote) it, by the runtime's clock: routing,
    waits and service level run from there. ``sent_at`` is when the customer sent it, by the
    provider's clock, when the channel said (``InboundMessage.received_at``): for history and
    for reports that want the customer's time; it may lie well before ``created_at`` when the
    provider delivered late or retried, or be off when its clock drifts.
    """

    id: str
    workspace: str
    contact_id: str
    direction: Direction
    channel: str  # the channel instance name from the configuration
    body: str = ""
    sender: Address | None = None
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=attachment_tuple)
    provider_id: str | None = None  # the provider's own id, used to recognise redeliveries
    created_at: float = 0.0
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    sent_at: float | None = None


@attrs.frozen
class Contact:
    """One interaction to be handled, from arrival to close.

    ``created_at`` is when the runtime received it, by its own clock (routing, waits and
    service level run from there); the customer's time is its first message's ``sent_at``.
    """

    id: str
    workspace: str
    channel: str  # channel instance name
    channel_kind: str  # voice, email, chat, sms, fax, social… (the adapter's ``kind``)
    direction: Direction
    customer_id: str
    address: Address
    subject: str = ""
    attributes: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    priority: int = 0
    required_skills: Mapping[str, int] = attrs.field(factory=dict, converter=_skill_levels)
    language: str | None = None
    thread_key: str | None = None
    queue: str | None = None
    created_at: float = 0.0


def _one_of(*allowed: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in allowed:
            raise ValueError(
                f"{attribute.name}: {value!r} is not one of {', '.join(map(repr, allowed))}"
            )

    return check


def _not_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name}: must not be negative, got {value!r}")


def _delay(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:  # also refuses NaN, which would never compare as due
        raise ValueError(
            f"{attribute.name}: must be 0 or more seconds (inf: never again), got {value!r}"
        )


def _optional_skill_levels(value: Mapping[str, int] | None) -> Mapping[str, int] | None:
    return None if value is None else _skill_levels(value)


def _seconds(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:  # NaN too
        raise ValueError(f"{attribute.name}: must be 0 or more seconds, got {value!r}")


def _share(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not 0 <= value <= 1:  # NaN too
        raise ValueError(
            f"{attribute.name}: must be a share from 0 to 1 (0.8 for 80 %), got {value!r}"
        )


def _steps(value: Iterable[EscalationStep]) -> tuple[EscalationStep, ...]:
    steps = tuple(value)
    for number, (before, after) in enumerate(itertools.pairwise(steps), start=1):
        if not after.after > before.after:
            raise NestedValueError(
                f"escalation: each step must come later than the one before "
                f"(after = {after.after:g} follows after = {before.after:g})",
                at=(str(number), "after"),
            )
    return steps


@attrs.frozen
class EscalationStep:
    """One step of a queue's escalation, taken ``after`` seconds in the queue.

    Steps are cumulative, like the rings of a bullseye. Who may serve is the requirement and
    the minimum skill levels in force, the queue's to begin with: ``requirement`` replaces the
    requirement in force *and* drops the minimums in force (the step's requirement says who
    may serve from now on), ``skills`` replaces the minimums in force (``{}`` drops them), and
    a step that sets neither keeps both. ``queues`` and ``groups`` add the agents of those
    queues and groups, ``priority`` sets the contact's priority, and ``overflow`` moves it to
    another queue. A contact's own ``required_skills`` apply at every step. A contact keeps
    its place in line (its arrival time) across steps.
    """

    after: float = attrs.field(validator=_not_negative)
    requirement: str | None = None
    skills: Mapping[str, int] | None = attrs.field(default=None, converter=_optional_skill_levels)
    queues: tuple[str, ...] = attrs.field(default=(), converter=_names)
    groups: tuple[str, ...] = attrs.field(default=(), converter=_names)
    priority: int | None = None
    overflow: str | None = None


@attrs.frozen
class Queue:
    """A line of contacts waiting for agents with the right skills.

    Who may serve it: the agents who list the queue in ``queues``, meeting ``skills`` (minimum
    proficiency per skill) and ``requirement`` (an expression over the contact and the agent's
    skills, such as ``language == "de" and billing >= 3``). ``escalation`` widens that over
    time. The order of the line: priority, then arrival, where one priority step is worth
    ``priority_step`` seconds of waiting; ``order`` is ``"fifo"`` or ``"lifo"``.

    An agent who rejects an offer is not offered the same contact again for ``reject_delay``
    seconds, and one who lets an offer time out for ``no_answer_delay`` seconds (``0``: at
    once; ``inf``: never again); other agents are offered it meanwhile.

    ``service_level_threshold`` is the answer time (seconds) that counts as in service level;
    ``service_level_target`` is the share of contacts that should meet it (0.8 for
    "80 % in 20 s"). ``service_level_abandons`` (``"ignored"``, ``"missed"`` or ``"met"``) says
    how contacts abandoned within the threshold count, and abandons after less than
    ``service_level_short_abandon`` seconds do not count at all (see
    :mod:`trunkline.servicelevel`). See ``docs/routing.md`` for every key with a worked example.

    The wallboard raises an alert for the queue while its service level is under
    ``alert_service_level`` (``None``: the target; ``0``: never), while its longest wait is over
    ``alert_longest_wait`` seconds, and while its abandonment rate is over
    ``alert_abandonment`` (a share; ``0`` for either: never).
    """

    id: str
    workspace: str
    name: str = ""
    skills: Mapping[str, int] = attrs.field(factory=dict, converter=_skill_levels)
    requirement: str = ""
    priority: int = 0
    priority_step: float = attrs.field(default=60.0, validator=_not_negative)
    order: str = attrs.field(default="fifo", validator=_one_of("fifo", "lifo"))
    strategy: str = "longest-idle"
    seed: int = 0
    offer_timeout: float = attrs.field(default=20.0, validator=_not_negative)
    offer_to: int = attrs.field(default=1)
    reject_delay: float = attrs.field(default=30.0, validator=_delay)
    no_answer_delay: float = attrs.field(default=30.0, validator=_delay)
    wrap_up: float = attrs.field(default=0.0, validator=_not_negative)
    max_length: int = attrs.field(default=0, validator=_not_negative)
    when_no_agents: str = attrs.field(default="join", validator=_one_of("join", "refuse"))
    leave_when_no_agents: bool = False
    hours: str = ""
    when_closed: str = attrs.field(
        default="refuse", validator=_one_of("refuse", "queue", "overflow")
    )
    closed_queue: str = attrs.field(default="")
    escalation: tuple[EscalationStep, ...] = attrs.field(default=(), converter=_steps)
    sticky: float = attrs.field(default=0.0, validator=_not_negative)
    rejoin_window: float = attrs.field(default=0.0, validator=_not_negative)
    service_level_threshold: float = 20.0
    service_level_target: float = 0.8
    service_level_abandons: str = attrs.field(default="ignored", validator=_one_of(*ABANDONS))
    service_level_short_abandon: float = attrs.field(default=0.0, validator=_seconds)
    alert_service_level: float | None = attrs.field(default=None, validator=_share)
    alert_longest_wait: float = attrs.field(default=0.0, validator=_seconds)
    alert_abandonment: float = attrs.field(default=0.0, validator=_share)

    @offer_to.validator
    def _check_offer_to(self, attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"offer_to: must be at least 1, got {value!r}")

    @closed_queue.validator
    def _check_closed_queue(self, attribute: attrs.Attribute[str], value: str) -> None:
        if self.when_closed == "overflow" and not value:
            raise ValueError('when_closed = "overflow" needs closed_queue, the queue to send to')


@attrs.frozen
class Agent:
    """A person who handles contacts.

    ``skills`` maps skill names to proficiency 1–5. ``capacity`` gives how many contacts of each
    channel kind the agent may hold at once (``{"voice": 1, "chat": 4, "email": 5}``); a kind that
    is missing means the agent takes none of it. Which kinds cannot be held together is the
    workspace's :class:`RoutingSettings` ``blocks``. ``queues`` are the queues the agent serves;
    ``groups`` are named pools of agents that a queue's escalation can add.
    """

    id: str
    workspace: str
    name: str = ""
    skills: Mapping[str, int] = attrs.field(factory=dict, converter=_skill_levels)
    capacity: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen_mapping)
    queues: tuple[str, ...] = attrs.field(default=(), converter=_names)
    groups: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def has_skills(self, required: Mapping[str, int]) -> bool:
        """True when the agent meets every minimum level in ``required``."""
        return all(self.skills.get(skill, 0) >= level for skill, level in required.items())


@attrs.frozen
class Offer:
    """A contact reserved for one agent until ``expires_at`` (a TaskRouter reservation)."""

    id: str
    workspace: str
    contact_id: str
    agent_id: str
    queue: str
    created_at: float
    expires_at: float


def _blocks(value: Mapping[str, Iterable[str]] | None) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({kind: tuple(kinds) for kind, kinds in (value or {}).items()})


@attrs.frozen
class RoutingSettings:
    """Workspace-wide routing rules.

    ``blocks`` are cross-channel rules: ``{"voice": ("chat", "email")}`` means an agent holding a
    voice contact is offered no chat or email, and one holding a chat or email is offered no
    voice (the kinds never mix). ``auto_break_after`` puts an agent on break, with
    ``auto_break_reason``, after that many offers in a row time out (0: never).
    """

    blocks: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_blocks)
    auto_break_after: int = attrs.field(default=0, validator=_not_negative)
    auto_break_reason: str = "missed offers"
