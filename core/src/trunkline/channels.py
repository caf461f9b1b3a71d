"""The channel adapter protocol: what a channel plugin implements, and what it is handed.

A channel describes itself (``name``, ``kind``, ``capabilities``, a ``Settings`` class); core
reads that description and never branches on which channel it is. Inbound, the adapter turns
what its provider sends into :class:`InboundMessage` values and awaits the runtime's handler:
when the handler returns an :class:`Ack`, the message is durably stored and the adapter may
acknowledge its sender (SMTP 250, HTTP 2xx). Outbound, the runtime calls ``send`` from its
outbox; ``send`` raises :class:`PermanentSendError` when retrying cannot help.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import anyio.abc
import attrs

from .errors import TrunklineError
from .model import Address, Attachment, attachment_tuple

__all__ = [
    "Ack",
    "Capabilities",
    "ChannelAdapter",
    "InboundHandler",
    "InboundMalformed",
    "InboundMessage",
    "InboundRejected",
    "LiveChannel",
    "OutboundMessage",
    "PermanentSendError",
    "ReadsAttachments",
    "Receipt",
    "Ring",
    "Secret",
    "SendsSignals",
    "SessionReports",
    "Signal",
    "TemporaryFailure",
    "check_inbound",
    "check_text",
    "is_secret",
    "secret",
]

SECRET_METADATA_KEY = "trunkline.secret"


@attrs.frozen(repr=False)
class Secret:
    """A value that must never be printed or logged: its repr and str are masked."""

    _value: str

    def get(self) -> str:
        """The secret itself. Call this only where the value is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


def secret(*, default: Secret | None = None) -> Any:
    """Declare a secret field on an adapter's ``Settings`` class.

    In the configuration file a secret is never written literally: it is given as
    ``{ env = "VARIABLE" }`` and read from the environment when the file is loaded.
    """
    return attrs.field(default=default, repr=False, metadata={SECRET_METADATA_KEY: True})


def is_secret(field: attrs.Attribute[Any]) -> bool:
    """True when an attrs field was declared with :func:`secret`."""
    return bool(field.metadata.get(SECRET_METADATA_KEY))


@attrs.frozen
class Capabilities:
    """What a channel can do. Core and the conformance suite gate behaviour on these flags."""

    inbound: bool = True
    outbound: bool = True
    attachments: bool = False
    rich_text: bool = False
    typing_indicators: bool = False
    delivery_receipts: bool = False
    dedupe_key: bool = False  # ``send`` honours OutboundMessage.dedupe_key
    max_body_length: int | None = None
    live: bool = False  # a contact is a session the runtime steers: see :class:`LiveChannel`


@attrs.frozen
class InboundMessage:
    """What a channel hands the runtime for each thing a customer sends.

    ``provider_id`` is the provider's own id for the message (a Message-ID, a webhook event
    id); the runtime uses it to recognise a redelivery. ``thread_hint`` is whatever the
    provider offers to group messages into one conversation (an email thread, a chat id).
    ``received_at`` is when the customer sent it by the provider's clock, if the provider says:
    it is stored as the message's ``sent_at`` and never sets the routing time, which is the
    runtime's clock (a late or retried delivery is routed when it arrives).

    ``sender_name`` is the name the customer goes by, as the provider gives it (an email's
    From display name, the name a chat visitor typed), or ``""`` when it says none. It names
    the :class:`~trunkline.Customer` the runtime creates for a sender it does not know yet;
    a known customer keeps the name they have (a message never renames anyone).

    A delivery report (an email bounce, a carrier's "undelivered") is stored like any message
    and, with ``fails_message`` set to the id of the outbound message it reports and
    ``failure`` saying why, also marks that message failed: the runtime appends
    ``MessageFailed`` with the report, if the message is an outbound one of the contact the
    report joins (anything else is ignored, so a forged report cannot fail another's message).
    """

    channel: str
    sender: Address
    body: str = ""
    subject: str = ""
    provider_id: str | None = None
    thread_hint: str | None = None
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=attachment_tuple)
    attributes: Mapping[str, Any] = attrs.field(factory=dict)
    received_at: float | None = None
    fails_message: str | None = None
    failure: str = ""
    sender_name: str = ""


@attrs.frozen
class Ack:
    """The runtime's answer to an inbound message: it is stored durably.

    ``duplicate`` is true when the message was a redelivery of one already stored; the
    channel acknowledges it all the same, so the provider stops retrying.
    """

    contact_id: str
    message_id: str
    duplicate: bool = False
    new_contact: bool = False


class InboundRejected(TrunklineError):
    """The message was refused for good (a filter said so); the sender should not retry."""


class InboundMalformed(InboundRejected):
    """The message cannot be stored as sent: one of its strings no store can keep.

    Raised by :func:`check_inbound` (the runtime calls it before anything else) for a lone
    UTF-16 surrogate anywhere (it has no UTF-8 encoding: a JSON ``"\\ud800"`` escape, or a
    byte that is not UTF-8 read with ``surrogateescape``) and for a NUL character in a field
    the stores look messages up by (sender, provider id, thread hint). Sending it again cannot
    help, so channels answer it as bad input: HTTP 400, an SMTP 5xx, an error frame; never a
    retry. It is an :class:`InboundRejected`, so a channel that knows only that still refuses
    it for good; a channel that tells refusals apart catches this one first (a filter's
    refusal is HTTP 403, bad input 400).

    ``field`` names the :class:`InboundMessage` field (``"sender"``, ``"sender_name"``,
    ``"provider_id"``, ``"thread_hint"``, ``"subject"``, ``"body"``, ``"attachments"``,
    ``"attributes"``, ``"failure"``, ``"fails_message"``), or what a channel passed to
    :func:`check_text`; ``problem`` is what is wrong with it, without the field's name, so a
    channel can name the field its own way (``field "id" contains …``). The message never
    repeats the bad string.
    """

    def __init__(self, message: str, *, field: str, problem: str) -> None:
        super().__init__(message)
        self.field = field
        self.problem = problem


class TemporaryFailure(TrunklineError):
    """The runtime cannot store the message now; the sender should retry (SMTP 4xx, HTTP 503)."""


# Inbound strings a store can keep ----------------------------------------------------------

# The fields the stores key messages by (an address, an idempotency key, a thread key): a NUL
# cannot be part of one (PostgreSQL's text refuses it). Elsewhere a NUL is kept, JSON-escaped.
_KEY_FIELDS = frozenset({"sender", "provider_id", "thread_hint", "fails_message"})
_LABELS = {"provider_id": "provider id", "thread_hint": "thread hint"}


def _problem(value: str, key: bool) -> str | None:
    """What makes ``value`` impossible to store, or None; fast for the usual ASCII text."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            point = ord(value[exc.start])
            where = f"at character {exc.start + 1}"
            if 0xDC80 <= point <= 0xDCFF:  # how surrogateescape carries a byte that is not UTF-8
                where += f": the byte 0x{point - 0xDC00:02X}, which is not UTF-8"
            return (
                f"contains a lone UTF-16 surrogate U+{point:04X} ({where}), which has no "
                "UTF-8 encoding and cannot be stored; send valid Unicode text (UTF-8)"
            )
    if key and "\x00" in value:
        return (
            f"contains a NUL character (at character {value.index(chr(0)) + 1}), which cannot "
            "be part of a key the store looks messages up by; leave it out"
        )
    return None


def check_text(value: str, field: str, *, key: bool = False) -> None:
    """Raise :class:`InboundMalformed` when ``value`` cannot be stored.

    For channels that look a provider's value up before they build the message (an email's
    ``In-Reply-To`` in the channel's own database): the same check, and the same answer, as
    :func:`check_inbound`. ``field`` names the value in the error (``"the References
    header"``); ``key`` also refuses a NUL, as in a value the store looks messages up by.
    """
    problem = _problem(value, key)
    if problem is not None:
        raise InboundMalformed(f"{field} {problem}", field=field, problem=problem)


def _check_field(value: str, field: str, label: str | None = None) -> None:
    problem = _problem(value, field in _KEY_FIELDS)
    if problem is not None:
        label = label or f"the {_LABELS.get(field, field)}"
        raise InboundMalformed(f"{label} {problem}", field=field, problem=problem)


def _check_data(attributes: Mapping[str, Any]) -> None:
    """Every string (names and values) inside ``attributes``, however deeply nested."""
    stack: list[tuple[Any, str]] = [(value, str(name)) for name, value in attributes.items()]
    for name in attributes:
        if isinstance(name, str):
            _check_field(name, "attributes", "the name of an attribute")
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _check_field(value, "attributes", f'the attribute "{_printable(path)}"')
        elif isinstance(value, Mapping):
            for name, item in value.items():
                if isinstance(name, str):
                    _check_field(name, "attributes", f'a name inside "{_printable(path)}"')
                stack.append((item, f"{path}.{name}"))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(value))


def _printable(path: str) -> str:
    """An attribute's path fit for the error, which must not carry what it refuses."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def check_inbound(message: InboundMessage) -> None:
    """Raise :class:`InboundMalformed` when a string of ``message`` cannot be stored.

    The runtime calls it first thing in :meth:`~trunkline.Runtime.receive`, so every channel
    gets the same check; a channel calls it itself only to refuse early. Every string is
    checked: the sender and their name, provider id, thread hint, subject, body, attachments'
    names and types, the attributes (keys and values, nested too) and a delivery report's fields. It
    costs one pass over the text, in C, for ASCII.
    """
    _check_field(message.sender.kind, "sender", "the sender's address kind")
    _check_field(message.sender.value, "sender")
    _check_field(message.sender_name, "sender_name", "the sender's name")
    for field in ("provider_id", "thread_hint", "fails_message"):
        value = getattr(message, field)
        if value is not None:
            _check_field(value, field)
    _check_field(message.subject, "subject")
    _check_field(message.body, "body")
    _check_field(message.failure, "failure")
    for number, attachment in enumerate(message.attachments, start=1):
        _check_field(attachment.filename, "attachments", f"the name of attachment {number}")
        _check_field(attachment.content_type, "attachments", f"the type of attachment {number}")
    if message.attributes:
        _check_data(message.attributes)


@attrs.frozen
class OutboundMessage:
    """A message the runtime asks a channel to deliver."""

    message_id: str
    contact_id: str
    body: str
    subject: str = ""
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=attachment_tuple)
    dedupe_key: str | None = None  # same key, same message: channels that can, send it once
    thread_hint: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Receipt:
    """What a channel returns from ``send``: the provider's id for the sent message."""

    provider_id: str | None = None


class PermanentSendError(TrunklineError):
    """Raised by ``send`` when retrying cannot help (bad address, message refused)."""


@attrs.frozen
class Signal:
    """Something that passes and is not stored: someone is typing.

    ``who`` is ``"customer"`` (a channel tells the runtime) or ``"agent"`` (the agent desktop
    tells the runtime, which tells the contact's channel if it has ``typing_indicators``).
    """

    workspace: str
    contact_id: str
    kind: str = "typing"
    who: str = "customer"
    agent_id: str | None = None
    value: str = ""  # what the signal carries, if anything: the digits of a ``"dtmf"`` signal


InboundHandler = Callable[[InboundMessage], Awaitable[Ack]]
"""The callable a channel's ``run`` receives: await it for each inbound message."""


@runtime_checkable
class ChannelAdapter(Protocol):
    """What a channel plugin provides; ``trunkline_register_channels`` returns such classes.

    The runtime builds one instance per configured channel with
    ``Adapter(settings, instance="support-mail", workspace="acme")``.
    """

    name: ClassVar[str]  # the adapter's name, used as ``adapter = "…"`` in configuration
    Settings: ClassVar[type[Any]]  # an attrs class; mark secrets with trunkline.secret()

    # Usually class attributes; an instance may specialise them from its settings.
    kind: str  # the channel kind: voice, email, chat, sms, fax, social, …
    capabilities: Capabilities

    instance: str
    workspace: str

    def __init__(self, settings: Any, *, instance: str, workspace: str) -> None:
        """Build the channel from its checked ``Settings``; connect nothing until ``run``."""

    async def run(
        self,
        inbound: InboundHandler,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Receive from the provider until cancelled; call ``task_status.started()`` when ready."""

    async def send(self, to: Address, message: OutboundMessage) -> Receipt:
        """Deliver one message; raise PermanentSendError when retrying cannot help."""

    async def aclose(self) -> None:
        """Release connections; called once when the runtime stops."""

    # Optional parts, each a protocol of its own below: :class:`SendsSignals` (``signal``)
    # and :class:`ReadsAttachments` (``read_attachment``).


@runtime_checkable
class SendsSignals(Protocol):
    """A channel that shows the customer what an agent does (``typing_indicators``)."""

    async def signal(self, to: Address, signal: Signal) -> None:
        """Deliver an agent's typing indicator to the customer; never stored, never retried."""


@runtime_checkable
class ReadsAttachments(Protocol):
    """A channel that keeps the files customers send, so the agent desktop can open them;
    without it agents see a file's name and size only."""

    async def read_attachment(self, sha256: str) -> bytes | None:
        """The content of a file a customer sent on this channel; None when it is not kept."""


@attrs.frozen
class Ring:
    """One offer of a live contact to one agent: the runtime asks the channel to ring them.

    ``offer_id`` names the engine's offer (one contact may ring several agents at once, each
    with an offer of its own); ``caller`` is the customer's address and ``timeout`` the
    queue's offer timeout in seconds, after which the engine times the offer out itself.
    """

    workspace: str
    offer_id: str
    contact_id: str
    agent_id: str
    caller: Address
    timeout: float


@runtime_checkable
class SessionReports(Protocol):
    """What a live channel tells the runtime about its sessions; handed to ``bind``.

    Each report is mapped onto the engine's offer and contact lifecycle, so routing, metrics,
    ``explain`` and the simulator see a call as any other contact:

    ===================  ========================================================
    report               becomes
    ===================  ========================================================
    ``answered``         the offer is accepted (the first of several wins)
    ``declined``         the offer is rejected (the agent may get it again later)
    ``no_answer``        the offer is rejected with reason ``"no-answer"``
    ``hung_up``          abandonment while waiting, the contact's end once connected
    ``dtmf``             a passing :class:`Signal` of kind ``"dtmf"``
    ===================  ========================================================

    Reports about an offer or a contact that is already settled are ignored, so a channel may
    report what it sees without tracking the engine's state.
    """

    async def answered(self, ring: Ring) -> None:
        """The agent's endpoint answered this ring."""

    async def declined(self, ring: Ring, reason: str = "") -> None:
        """The agent's endpoint refused this ring (busy, decline)."""

    async def no_answer(self, ring: Ring) -> None:
        """The agent's endpoint gave up ringing before the engine's offer timeout."""

    async def hung_up(self, workspace: str, contact_id: str) -> None:
        """The customer's side of the session ended."""

    async def dtmf(self, workspace: str, contact_id: str, digits: str) -> None:
        """The customer pressed keys."""


@runtime_checkable
class LiveChannel(Protocol):
    """A channel whose contacts are live sessions (``capabilities.live``): a call, a video.

    A session arrives as an :class:`InboundMessage` like any other contact (its ``provider_id``
    the session's id); the contact the :class:`Ack` names is the session from then on. The
    runtime calls ``bind`` once before ``run``, then steers each session from the events it
    stores: ``offer`` when the engine offers the contact (one call per ring of a ring-N
    offer), ``rescind`` when an offer is withdrawn or times out, ``connect`` when an offer is
    accepted, ``hold``/``resume``, ``transfer`` when the contact goes back to a queue, and
    ``hangup`` when the contact ends or is abandoned from the centre's side. A method may be
    called for a session the channel no longer has: it does nothing then.
    """

    def bind(self, sessions: SessionReports) -> None:
        """Keep ``sessions`` to report answers, declines and hang-ups through."""

    async def offer(self, ring: Ring) -> None:
        """Ring the agent's endpoint; report ``answered``, ``declined`` or ``no_answer``."""

    async def rescind(self, ring: Ring) -> None:
        """Stop ringing this agent: another answered first, the offer timed out, or it ended."""

    async def connect(self, ring: Ring) -> None:
        """The offer was accepted: join the customer and this agent."""

    async def hold(self, contact_id: str) -> None:
        """Put the customer on hold (they hear hold audio); the agent stays on the session."""

    async def resume(self, contact_id: str) -> None:
        """Take the customer off hold."""

    async def transfer(self, contact_id: str) -> None:
        """The contact went back to a queue: release the agent, keep the customer waiting."""

    async def hangup(self, contact_id: str, reason: str) -> None:
        """End the session from the centre's side."""
