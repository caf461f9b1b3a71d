"""The web-chat channel adapter: its settings, the visitors' open sockets, replies pushed to them.

The channel has no server of its own. Core's HTTP server mounts the routes of
:mod:`trunkline_webchat.routes` (through ``trunkline_register_routes``), and what visitors send
there reaches the runtime through :meth:`WebChatChannel.receive`, which is the inbound handler
``run`` was given: ``run`` only marks the channel ready and waits. ``send`` pushes an agent's
reply to every socket the visitor has open; with none open it still succeeds, because the
reply is in the store and the widget gets it when it comes back. Nothing here imports Starlette.
"""

from __future__ import annotations

import collections
import logging
import math
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import anyio
import anyio.abc
import attrs

import trunkline
from trunkline import (
    Ack,
    Address,
    Capabilities,
    InboundHandler,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    Receipt,
    Secret,
    Signal,
    TemporaryFailure,
)
from trunkline.ratelimit import RateLimiter

from . import protocol
from .files import KNOWN_TYPES, FileStore, channel_directory, earlier_layout_files
from .progress import Progress
from .protocol import ADDRESS_KIND

__all__ = [
    "ADDRESS_KIND",
    "Connection",
    "WebChatChannel",
    "WebChatSettings",
]

log = logging.getLogger("trunkline_webchat")

RATE_WINDOW = 10.0  # seconds over which rate_limit messages are counted
ADDRESS_WINDOW = 60.0  # seconds over which the address_*_per_minute limits count
RECENT = 1000  # receipts remembered by dedupe key
MAX_SOCKETS = 10  # open sockets per visitor (tabs); one more is refused

_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


# Settings -----------------------------------------------------------------------------------


def _at_least(minimum: int) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


def _title(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip() or len(value) > 100:
        raise ValueError("title must be 1 to 100 characters")


def _origins(instance: Any, attribute: attrs.Attribute[tuple[str, ...]], value: Any) -> None:
    for origin in value:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise ValueError(
                f"allowed_origins: {origin!r} is not an origin; write scheme://host[:port] with "
                'no path or trailing slash, e.g. "https://shop.example.com", or "*" for any site'
            )


def _types(instance: Any, attribute: attrs.Attribute[tuple[str, ...]], value: Any) -> None:
    if not value:
        raise ValueError("attachment_types must name at least one type")
    for kind in value:
        if kind not in KNOWN_TYPES:
            raise ValueError(
                f"attachment_types: {kind!r} cannot be recognised by its content "
                f"(known: {', '.join(KNOWN_TYPES)})"
            )


def _not_blank(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty")


PRECHAT = ("off", "optional", "required")  # how the pre-chat form asks for a field


def _prechat(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in PRECHAT:
        raise ValueError(
            f"{attribute.name}: {value!r} is not one of {', '.join(map(repr, PRECHAT))} "
            "(off: not asked; optional: asked; required: the chat starts once it is given)"
        )


def _text_of(most: int, *, empty: bool) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
        if len(value) > most or (not empty and not value.strip()):
            least = 0 if empty else 1
            raise ValueError(f"{attribute.name} must be {least} to {most} characters")

    return check


@attrs.frozen
class WebChatSettings:
    """Settings of a web-chat channel (``[workspaces.<w>.channels.<name>.settings]``).

    ``title`` heads the chat panel. ``allowed_origins`` are the sites the widget may be
    embedded on (``scheme://host[:port]``; ``"*"`` for any); empty means the chat's own origin
    only. ``max_text_length`` bounds a message in characters, ``max_attachment_bytes`` a file;
    ``attachment_types`` are the accepted file types, recognised by content. Files are kept in
    ``files_dir`` (relative to the working directory), under ``<workspace>/<channel>/``.
    ``rate_limit`` is the number of messages (and uploads) a visitor may send in 10 seconds.

    A visitor chooses their own id, so limits per client address (``request.client.host``:
    behind a reverse proxy, see ``[web] proxy_headers``) bound what one machine can do with
    fresh ids: ``address_sockets_per_minute`` sockets opened, ``address_messages_per_minute``
    messages and ``address_uploads_per_minute`` uploads. Two caps bound the whole workspace,
    counted across its web-chat channels (:mod:`trunkline_webchat.caps`):
    ``max_new_chats_per_minute`` contacts started and ``max_upload_storage_bytes`` of files
    kept on disk.

    ``greeting`` is shown at the top of the chat when it opens (empty: none).
    ``prechat_name`` and ``prechat_email`` ask for the visitor's name and email before the
    chat starts (``"off"``, ``"optional"`` or ``"required"``). With ``offline_form``, a visitor
    with no conversation open gets a form (name, email, message; ``offline_message`` above it)
    instead of the chat while the channel's queue is closed or none of its agents is available.

    ``identity_secret`` (a secret, ``{ env = "VAR" }``) turns on identity verification: the
    host site signs its user's id with it (hex of HMAC-SHA256), and a visitor whose ``hello``
    carries the id and that hash is known by the id, with one conversation on every device.
    """

    title: str = attrs.field(default="Chat with us", validator=_title)
    allowed_origins: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_origins)
    max_text_length: int = attrs.field(default=2000, validator=_at_least(1))
    max_attachment_bytes: int = attrs.field(default=5 * 1024 * 1024, validator=_at_least(1))
    attachment_types: tuple[str, ...] = attrs.field(
        default=("image/png", "image/jpeg", "application/pdf", "text/plain"),
        converter=tuple,
        validator=_types,
    )
    files_dir: str = attrs.field(default="webchat-files", validator=_not_blank)
    rate_limit: int = attrs.field(default=10, validator=_at_least(1))
    # Per client address: enough for an office behind one NAT address.
    address_sockets_per_minute: int = attrs.field(default=30, validator=_at_least(1))
    address_messages_per_minute: int = attrs.field(default=300, validator=_at_least(1))
    address_uploads_per_minute: int = attrs.field(default=30, validator=_at_least(1))
    # Per workspace, across its web-chat channels.
    max_new_chats_per_minute: int = attrs.field(default=120, validator=_at_least(1))
    max_upload_storage_bytes: int = attrs.field(default=10 * 1024**3, validator=_at_least(1))
    greeting: str = attrs.field(default="", validator=_text_of(500, empty=True))
    prechat_name: str = attrs.field(default="off", validator=_prechat)
    prechat_email: str = attrs.field(default="off", validator=_prechat)
    offline_form: bool = False
    offline_message: str = attrs.field(
        default="We are away right now. Leave a message and your email, and we will answer you.",
        validator=_text_of(500, empty=False),
    )
    identity_secret: Secret | None = trunkline.secret()


# Pieces the routes use ----------------------------------------------------------------------


class Connection(Protocol):
    """One open visitor socket, as the adapter sees it (the routes implement it).

    Neither method blocks: a frame is queued for the socket's writer, and a socket that does
    not keep up is closed (the widget reconnects and resumes from the store).
    """

    def push(self, frame: Mapping[str, Any]) -> None:
        """Queue a frame for the visitor."""

    def close(self, code: int, reason: str) -> None:
        """Close the socket with a WebSocket close code once queued frames are written."""


# The adapter --------------------------------------------------------------------------------


class WebChatChannel:
    """A web-chat channel. See the module docstring and :mod:`trunkline_webchat.routes`."""

    name: ClassVar[str] = "webchat"
    kind: str = "chat"
    capabilities: Capabilities = Capabilities(
        inbound=True,
        outbound=True,
        attachments=True,
        typing_indicators=True,
        dedupe_key=True,
        max_body_length=2000,
    )
    Settings: ClassVar[type[WebChatSettings]] = WebChatSettings

    def __init__(self, settings: WebChatSettings, *, instance: str, workspace: str) -> None:
        self.settings = settings
        self.instance = instance
        self.workspace = workspace
        # A message longer than max_text_length is refused inbound, and core's default
        # rendering cuts a longer reply to it.
        self.capabilities = attrs.evolve(
            type(self).capabilities, max_body_length=settings.max_text_length
        )
        self.files_dir = Path(settings.files_dir).absolute()
        self.files = FileStore(channel_directory(self.files_dir, workspace, instance))
        self.rates = RateLimiter(settings.rate_limit, RATE_WINDOW)
        # Keyed by the client's address, whatever visitor ids it sends.
        self.address_sockets = RateLimiter(settings.address_sockets_per_minute, ADDRESS_WINDOW)
        self.address_messages = RateLimiter(settings.address_messages_per_minute, ADDRESS_WINDOW)
        self.address_uploads = RateLimiter(settings.address_uploads_per_minute, ADDRESS_WINDOW)
        self.what = f'web-chat channel "{instance}"'
        self.last_contact: collections.OrderedDict[str, str] = collections.OrderedDict()
        self.progress = Progress(self)
        self._inbound: InboundHandler | None = None
        self._sockets: dict[str, set[Connection]] = {}
        self._receipts: collections.OrderedDict[str, Receipt] = collections.OrderedDict()

    @property
    def ready(self) -> bool:
        """True while the channel runs (between ``run``'s start and its end)."""
        return self._inbound is not None

    # The adapter protocol -----------------------------------------------------------------

    async def run(
        self,
        inbound: InboundHandler,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Take messages from the routes until cancelled; ready at once (nothing to connect).
        Meanwhile, tell waiting visitors their place in line as it changes (``progress``)."""
        self._inbound = inbound
        try:
            task_status.started()
            await self._warn_of_earlier_layout()
            await self.progress.run()
        finally:
            self._inbound = None

    async def send(self, to: Address, message: OutboundMessage) -> Receipt:
        """Push the reply to every socket the visitor has open; none open is still success.

        The same ``dedupe_key`` is pushed once per process (the last 1000 keys are
        remembered); the widget also drops a message whose id it already shows.
        """
        if to.kind != ADDRESS_KIND:
            raise PermanentSendError(
                f'{self.what}: cannot reach {to} (expected an address of kind "{ADDRESS_KIND}")'
            )
        key = message.dedupe_key
        if key is not None and key in self._receipts:
            return self._receipts[key]
        frame = {
            "type": "message",
            "message": {
                "id": message.message_id,
                "direction": "outbound",
                "body": message.body,
                "created_at": time.time(),
                "attachments": [protocol.attachment_json(a) for a in message.attachments],
            },
        }
        self.push(to.value, frame)
        receipt = Receipt()
        if key is not None:
            self._receipts[key] = receipt
            if len(self._receipts) > RECENT:
                self._receipts.popitem(last=False)
        return receipt

    async def signal(self, to: Address, signal: Signal) -> None:
        """Show the visitor that an agent is typing (on every socket they have open)."""
        if to.kind == ADDRESS_KIND and signal.kind == "typing" and signal.who == "agent":
            self.push(to.value, protocol.typing())

    async def read_attachment(self, sha256: str) -> bytes | None:
        """The content of a file a visitor sent to this channel, for the agent desktop; None
        if this channel does not keep it (another channel's file is not read)."""
        if await self.files.describe(sha256) is None:
            return None
        try:
            return await anyio.to_thread.run_sync(self.files.path(sha256).read_bytes)
        except OSError:
            return None

    async def aclose(self) -> None:
        """Close every visitor's socket ("going away": the widget reconnects later)."""
        for sockets in list(self._sockets.values()):
            for connection in list(sockets):
                connection.close(1001, "the chat is restarting")
        self._sockets.clear()

    async def _warn_of_earlier_layout(self) -> None:
        """Files kept straight in files_dir (before files were kept per workspace and channel)
        stay where they are and are no longer served: say so once, with what to do."""
        found = await anyio.to_thread.run_sync(earlier_layout_files, self.files_dir)
        if found:
            log.warning(
                "%s: files kept the earlier way, shared by every channel, are no longer "
                "served: %d in %s; move this channel's into %s (see the web-chat channel's "
                "documentation, Attachments)",
                self.what,
                found,
                self.files_dir,
                self.files.directory,
            )

    # For the routes -----------------------------------------------------------------------

    async def receive(self, message: InboundMessage) -> Ack:
        """Hand a visitor's message to the runtime; the Ack means it is stored."""
        inbound = self._inbound
        if inbound is None:
            raise TemporaryFailure(f"{self.what} is not running")
        ack = await inbound(message)
        self.last_contact[message.sender.value] = ack.contact_id
        self.last_contact.move_to_end(message.sender.value)
        if len(self.last_contact) > RECENT:
            self.last_contact.popitem(last=False)
        return ack

    def connect(self, visitor: str, connection: Connection) -> bool:
        """Register an open socket for ``visitor``; False when they have too many open."""
        sockets = self._sockets.setdefault(visitor, set())
        if len(sockets) >= MAX_SOCKETS:
            return False
        sockets.add(connection)
        return True

    def disconnect(self, visitor: str, connection: Connection) -> None:
        sockets = self._sockets.get(visitor)
        if sockets is not None:
            sockets.discard(connection)
            if not sockets:
                del self._sockets[visitor]

    def push_all(self, frame: Mapping[str, Any]) -> int:
        """Queue ``frame`` on every open socket of every visitor; return how many."""
        sockets = [c for visitor in list(self._sockets) for c in self._sockets[visitor]]
        for connection in sockets:
            connection.push(frame)
        return len(sockets)

    def connected(self, visitor: str) -> int:
        """How many sockets ``visitor`` has open."""
        return len(self._sockets.get(visitor, ()))

    def push(self, visitor: str, frame: Mapping[str, Any]) -> int:
        """Queue ``frame`` on each of the visitor's sockets; return how many."""
        sockets = list(self._sockets.get(visitor, ()))
        for connection in sockets:
            connection.push(frame)
        return len(sockets)

    def max_frame_bytes(self) -> int:
        """The largest frame a widget may send: a message of max_text_length characters, each
        escaped as JSON at worst (``\\uXXXX``), with room for ids and attachments."""
        return self.settings.max_text_length * 6 + 4096


def retry_after(seconds: float) -> float:
    """Seconds to tell a widget to wait, rounded up to a tenth."""
    return math.ceil(seconds * 10) / 10
