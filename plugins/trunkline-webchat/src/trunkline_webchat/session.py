"""One visitor's socket, frame by frame: who they are, hello and history, messages acknowledged
once stored.

:class:`ChatSession` holds what the protocol needs and no web framework: the routes feed it the
text of each frame and give it a :class:`~trunkline_webchat.adapter.Connection` to answer on.
A message is acknowledged only after the runtime returned its Ack, that is, once it is durably
stored; the widget's own id for it travels as the provider id (prefixed with the visitor's
address, so one visitor's ids can never collide with another's), so a resend after a reconnect
is recognised as a redelivery and acknowledged with the same message id.

Who a visitor is, :func:`visitor_address`, is decided here alone (the upload route asks it
too). A visitor's credential is a token the server issued, and only its hash is their address,
the one agents see; a visitor signed in to the host site is known by the site's HMAC of their
user id instead (identity verification), on every device.

A message counts towards the visitor's ``rate_limit`` and their address's
``address_messages_per_minute``; one that would start a new contact also towards the
workspace's ``max_new_chats_per_minute`` (:mod:`~trunkline_webchat.caps`), which a visitor
whose contact is open never meets.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Sequence

from trunkline import (
    Address,
    Attachment,
    Contact,
    InboundMalformed,
    InboundMessage,
    InboundRejected,
    Message,
    PluginRuntime,
    Signal,
    TemporaryFailure,
)

from . import protocol
from .adapter import Connection, WebChatChannel, retry_after
from .caps import caps_of
from .protocol import ADDRESS_KIND, Details, Hello, Identity, ProtocolError, Send, Typing

__all__ = [
    "HISTORY_CONTACTS",
    "HISTORY_MESSAGES",
    "ChatSession",
    "IdentityRefused",
    "conversation",
    "new_token",
    "open_contact",
    "visitor_address",
    "visitor_name",
]

log = logging.getLogger("trunkline_webchat")

HISTORY_CONTACTS = 20  # the visitor's latest contacts on the channel shown in a welcome
HISTORY_MESSAGES = 200  # and at most this many of their latest messages
RETRY_AFTER = 1.0  # seconds a widget waits before resending a message not stored
TYPING_EVERY = 1.0  # seconds: more frequent typing frames are dropped
OFFLINE_SUBJECT = "Message left while the chat was offline"


# Who the visitor is -------------------------------------------------------------------------


class IdentityRefused(ProtocolError):
    """A signed-in visitor's identity that cannot be trusted: a hash that does not match, or a
    channel with no ``identity_secret`` to check it with. Nothing is stored for it."""


def new_token() -> str:
    """A new visitor credential: 256 random bits, URL-safe (the format of protocol.TOKEN)."""
    return secrets.token_urlsafe(32)


def visitor_address(
    channel: WebChatChannel, *, token: str | None = None, identity: Identity | None = None
) -> str:
    """The value of the visitor's address (``Address("webchat", value)``), which agents see,
    from their credential: a ``token`` or a signed-in visitor's ``identity`` (one of them).

    A token's address is its SHA-256 in hex: nothing is stored, so the same token finds the
    same conversation on every node and after a restart, and the address, shown to agents,
    cannot be turned back into the token. A verified identity's address is ``u-`` and 40 hex
    digits of the SHA-256 of the user id alone, the same on every device; it is no credential,
    as only the site can compute the hash that proves the id. Raises :class:`IdentityRefused`.
    """
    if identity is None:
        if token is None:
            raise ValueError("visitor_address needs a token or an identity")
        return hashlib.sha256(token.encode("ascii")).hexdigest()
    setting = channel.settings.identity_secret
    if setting is None:
        raise IdentityRefused(
            'this chat does not verify identities: leave "identity" out (or set the channel\'s '
            "identity_secret, the key your site signs user ids with)"
        )
    expected = hmac.new(
        setting.get().encode("utf-8"), identity.id.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, identity.hash):
        log.warning(
            "%s: refused a signed-in visitor whose hash does not match their user id (is the "
            "site's key the channel's identity_secret?)",
            channel.what,
        )
        raise IdentityRefused(
            '"identity.hash" does not match "identity.id": your site must send hex(HMAC-SHA256('
            "identity_secret, id)), computed on its server with the chat's identity_secret"
        )
    return "u-" + hashlib.sha256(identity.id.encode("utf-8")).hexdigest()[:40]


def visitor_name(visitor: str) -> str:
    """The name agents see for a visitor who gave none: "Visitor" and four digits derived from
    their address, the same every time (never the address itself, nor the token)."""
    number = int(hashlib.sha256(visitor.encode("utf-8")).hexdigest()[:8], 16)
    return f"Visitor {1000 + number % 9000}"


class ChatSession:
    """The protocol on one socket; see :mod:`trunkline_webchat.protocol` for the frames."""

    def __init__(
        self,
        channel: WebChatChannel,
        runtime: PluginRuntime,
        connection: Connection,
        *,
        address: str = "",
    ) -> None:
        self.channel = channel
        self.runtime = runtime
        self.connection = connection
        self.address = address  # the client's, as the HTTP server sees it
        self.visitor: str | None = None
        self.name: str | None = None
        self.email: str | None = None
        self.user_id: str | None = None  # the host site's id of a signed-in visitor
        self._typed_at = -TYPING_EVERY
        self._acked = False  # a message of this socket was stored (so its chat was open)

    async def handle(self, text: str) -> None:
        """Act on one frame's text and answer it; never raises for a visitor's mistake."""
        try:
            frame = protocol.parse(text)
            if isinstance(frame, Hello):
                await self._hello(frame)
            elif self.visitor is None:
                raise ProtocolError(
                    'say hello first: {"type": "hello", "token": "<the token your last welcome '
                    'gave>"}, or with no token to be given one',
                    id=getattr(frame, "id", None),
                )
            elif isinstance(frame, Send):
                await self._message(self.visitor, frame)
            elif isinstance(frame, Typing):
                await self._typing(self.visitor)
            elif isinstance(frame, Details):
                self._details(frame)
        except ProtocolError as exc:
            self.connection.push(protocol.error(str(exc), id=exc.id))

    def leave(self) -> None:
        """The socket is closed: stop pushing to it."""
        if self.visitor is not None:
            self.channel.disconnect(self.visitor, self.connection)

    # The frames ---------------------------------------------------------------------------

    async def _hello(self, hello: Hello) -> None:
        issued = None  # a token given to this visitor now, to keep for the next hello
        if hello.identity is not None:
            visitor = visitor_address(self.channel, identity=hello.identity)
        elif hello.token is not None:
            visitor = visitor_address(self.channel, token=hello.token)
        elif self.visitor is None:
            issued = new_token()
            visitor = visitor_address(self.channel, token=issued)
        else:
            visitor = ""  # no credential: not the visitor this socket belongs to
        if self.visitor is not None and visitor != self.visitor:
            raise ProtocolError("this socket already belongs to another visitor; open a new one")
        if self.visitor is None:
            if not self.channel.connect(visitor, self.connection):
                self.connection.close(1008, "too many open chats for this visitor")
                return
            self.visitor = visitor
        if hello.identity is not None:
            self.user_id = hello.identity.id
            self.name = hello.identity.name or self.name
            self.email = hello.identity.email or self.email
        self.name = hello.name or self.name
        messages = await conversation(self.runtime, self.channel, visitor)
        after = _after(messages, hello.resume_after)
        contact = await open_contact(self.runtime, self.channel, visitor)
        welcome = protocol.welcome(visitor, after, is_open=contact is not None, token=issued)
        welcome.update(self.channel.progress.welcome(self.runtime, visitor, contact))
        self.connection.push(welcome)

    async def _message(self, visitor: str, send: Send) -> None:
        limit = self.channel.settings.max_text_length
        if len(send.text) > limit:
            raise ProtocolError(
                f"the message is {len(send.text)} characters long; at most {limit} are accepted",
                id=send.id,
            )
        wait = self.channel.rates.take(visitor)
        if not wait:
            wait = self.channel.address_messages.take(self.address)
            if wait:
                self.channel.rates.give_back(visitor)  # refused by the address, not counted
        if wait:
            self.connection.push(
                protocol.error("slow down", id=send.id, retry_after=retry_after(wait))
            )
            return
        attachments = await self._attachments(send)
        if send.offline and self.email is None:
            raise ProtocolError(
                'a message left offline needs an email address to answer: send {"type": '
                '"details", "email": "…"} first',
                id=send.id,
            )
        caps = caps_of(self.runtime, self.channel.workspace)
        cap = self.channel.settings.max_new_chats_per_minute
        wait = caps.room_for_new_chats(cap)
        if wait and await open_contact(self.runtime, self.channel, visitor) is None:
            seconds = retry_after(wait)
            self.connection.push(
                protocol.error(
                    f"too many new chats are starting (more than {cap} a minute); send "
                    f"the message again in {seconds:g} seconds",
                    id=send.id,
                    retry_after=seconds,
                )
            )
            return
        message = InboundMessage(
            channel=self.channel.instance,
            sender=Address(ADDRESS_KIND, visitor),
            body=send.text,
            subject=OFFLINE_SUBJECT if send.offline else "",
            provider_id=f"{visitor}:{send.id}",
            thread_hint=visitor,
            attachments=attachments,
            attributes=self._attributes(send),
            sender_name=self.name or visitor_name(visitor),
        )
        try:
            with caps.starting(maybe_new=not self._acked):
                ack = await self.channel.receive(message)
        except TemporaryFailure as exc:
            log.warning(
                "%s: a message was not stored, the widget retries: %s", self.channel.what, exc
            )
            self.connection.push(protocol.retry(send.id, RETRY_AFTER))
            return
        except InboundMalformed as exc:  # the same every time: an error, never a retry
            said = f'"text" {exc.problem}' if exc.field == "body" else str(exc)
            self.connection.push(protocol.error(said, id=send.id))
            return
        except InboundRejected as exc:
            self.connection.push(protocol.error(f"refused: {exc}", id=send.id))
            return
        except Exception:
            log.exception("%s: the runtime failed on a message", self.channel.what)
            self.connection.push(protocol.retry(send.id, RETRY_AFTER))
            return
        self._acked = True
        if ack.new_contact:
            caps.started()
        self.connection.push(protocol.ack(send.id, ack.message_id, duplicate=ack.duplicate))
        self.channel.progress.track(ack.contact_id, visitor)  # its place in line, after the ack

    def _attributes(self, send: Send) -> dict[str, object]:
        """What a new contact is told of the visitor: the name and email they gave, the site's
        user id of a signed-in visitor, and whether they wrote in the offline form."""
        attributes: dict[str, object] = {}
        if self.user_id is not None:
            attributes["user_id"] = self.user_id
        if self.name:
            attributes["name"] = self.name
        if self.email:
            attributes["email"] = self.email
        if send.offline:
            attributes["offline"] = True
        return attributes

    def _details(self, details: Details) -> None:
        """The pre-chat (or offline) form's answers: checked against what the channel asks."""
        settings = self.channel.settings
        for field, mode, value in (
            ("name", settings.prechat_name, details.name),
            ("email", settings.prechat_email, details.email),
        ):
            if mode == "required" and value is None:
                raise ProtocolError(
                    f'this chat asks for your {field} before it starts: send {{"type": '
                    f'"details", "{field}": "…"}}'
                )
        self.name = details.name or self.name
        self.email = details.email or self.email

    async def _attachments(self, send: Send) -> tuple[Attachment, ...]:
        found = []
        for sha256 in send.attachments:
            attachment = await self.channel.files.describe(sha256)
            if attachment is None:
                raise ProtocolError(
                    f"no uploaded file has the SHA-256 {sha256}; upload it to files first",
                    id=send.id,
                )
            found.append(attachment)
        return tuple(found)

    async def _typing(self, visitor: str) -> None:
        now = time.monotonic()
        if now - self._typed_at < TYPING_EVERY:
            return
        self._typed_at = now
        contact = await open_contact(self.runtime, self.channel, visitor)
        if contact is not None:
            await self.runtime.signal(
                Signal(self.channel.workspace, contact.id, kind="typing", who="customer")
            )


# Looking the conversation up ----------------------------------------------------------------


def thread_key(channel: WebChatChannel, visitor: str) -> str:
    """The thread key the runtime gives a visitor's messages when no plugin chooses one."""
    return f"{channel.instance}:{visitor}"


async def open_contact(
    runtime: PluginRuntime, channel: WebChatChannel, visitor: str
) -> Contact | None:
    """The visitor's open contact on the channel, if they have one."""
    store = runtime.store
    contact = await store.open_contact(channel.workspace, thread_key(channel, visitor))
    if contact is not None:
        return contact
    # A trunkline_thread_key hook may have chosen another key: ask by the visitor's last one.
    remembered = channel.last_contact.get(visitor)
    if remembered is None:
        return None
    last = await store.contact(channel.workspace, remembered)
    if last is None or last.thread_key is None:
        return None
    still = await store.open_contact(channel.workspace, last.thread_key)
    return still if still is not None and still.id == last.id else None


async def conversation(
    runtime: PluginRuntime, channel: WebChatChannel, visitor: str
) -> list[Message]:
    """The visitor's messages on this channel, both directions, oldest first: those of their
    open contact and of their latest closed ones (at most :data:`HISTORY_MESSAGES`)."""
    store = runtime.store
    workspace = channel.workspace
    address = Address(ADDRESS_KIND, visitor)
    contacts: dict[str, Contact] = {}
    current = await open_contact(runtime, channel, visitor)
    if current is not None:
        contacts[current.id] = current
    customer = await store.customer_by_address(workspace, address)
    if customer is not None:
        for contact in await store.contacts_of(workspace, customer.id, limit=HISTORY_CONTACTS):
            if contact.channel == channel.instance and contact.address == address:
                contacts[contact.id] = contact
    messages: list[Message] = []
    for contact in sorted(contacts.values(), key=lambda c: c.created_at):
        messages.extend(await store.messages(workspace, contact.id))
    return messages[-HISTORY_MESSAGES:]


def _after(messages: Sequence[Message], resume_after: str | None) -> Sequence[Message]:
    """The messages after the one with id ``resume_after``; all when it is None or unknown."""
    if resume_after is not None:
        for index, message in enumerate(messages):
            if message.id == resume_after:
                return messages[index + 1 :]
    return messages
