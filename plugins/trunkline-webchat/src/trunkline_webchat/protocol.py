"""The customer WebSocket's frames, both ways: parsing what a widget sends, building answers.

Every frame is one JSON object with a ``"type"``. A widget sends ``hello`` first (with the
``token`` an earlier ``welcome`` gave it, or a signed-in visitor's ``identity``), then
``message``, ``typing`` and ``details`` (the pre-chat or offline form's name and email); the
server answers ``welcome``, ``ack``, ``retry``, ``error`` and pushes ``message``, ``typing``,
``position`` (the place in line), ``agent`` (who took the chat) and ``availability``.
Parsing is strict, as in the house's other wire formats: an unknown type or field, a field of
the wrong type, a key given twice or JSON that is not standard (``NaN``) is a
:class:`ProtocolError` whose text says what to send instead. No I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from trunkline import Attachment, InboundMalformed, Message, check_text

__all__ = [
    "ADDRESS_KIND",
    "CLIENT_ID",
    "EMAIL",
    "HMAC_HEX",
    "MAX_ATTACHMENTS",
    "MAX_EMAIL_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_USER_ID_LENGTH",
    "SHA256",
    "TOKEN",
    "Details",
    "Hello",
    "Identity",
    "ProtocolError",
    "Send",
    "Typing",
    "ack",
    "agent",
    "availability",
    "encode",
    "error",
    "message_json",
    "parse",
    "parse_identity",
    "position",
    "retry",
    "typing",
    "welcome",
]

ADDRESS_KIND = "webchat"  # a visitor is Address("webchat", <hash>): see session.visitor_address

# The visitor's credential, which the server issues (secrets.token_urlsafe(32): 256 random
# bits) and stores only hashed. Another string of these characters is a token of an unknown
# format, such as a visitor id of an older widget: it is replaced by a new one, not refused.
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_-]{1,256}")
HMAC_HEX = re.compile(r"[0-9a-fA-F]{64}")  # hex(HMAC-SHA256(identity_secret, user id))
MAX_USER_ID_LENGTH = 255  # characters of a signed-in visitor's user id on the host site
CLIENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_ATTACHMENTS = 10  # files in one message
MAX_NAME_LENGTH = 100  # characters of the visitor's name, given in hello or details
MAX_EMAIL_LENGTH = 254  # characters of an email address (RFC 5321's path limit)
# An email address as a form checks one: something, an @, a domain with a dot; no spaces.
EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")

_FIELDS: dict[str, tuple[set[str], set[str]]] = {  # type -> (required, optional) fields
    "hello": (set(), {"token", "identity", "resume_after", "name"}),
    "message": ({"id"}, {"text", "attachments", "offline"}),
    "typing": (set(), set()),
    "details": (set(), {"name", "email"}),
}


class ProtocolError(ValueError):
    """A frame that does not follow the protocol; ``str()`` says what is wrong, for the widget.

    ``id`` is the frame's client message id when it had a readable one, so the widget can tell
    which of its messages was refused.
    """

    def __init__(self, message: str, *, id: str | None = None) -> None:
        super().__init__(message)
        self.id = id


@attrs.frozen
class Identity:
    """A visitor signed in to the host site, as the site vouches for them: their user ``id``
    there and ``hash``, hex(HMAC-SHA256(identity_secret, id)), which only the site can compute;
    and, if the site says, their ``name`` and ``email``."""

    id: str
    hash: str = attrs.field(repr=False)  # a credential: never in a log line
    name: str | None = None
    email: str | None = None


@attrs.frozen
class Hello:
    """``{"type": "hello", "token"?, "identity"?, "resume_after"?, "name"?}``: who is there,
    and from where to resume (the id of the last message the widget has in order; ``None`` for
    all). ``token`` is the credential a ``welcome`` issued (``None``: issue one); ``identity``
    a signed-in visitor's, instead of a token."""

    token: str | None = attrs.field(default=None, repr=False)  # a credential: never logged
    resume_after: str | None = None
    name: str | None = None
    identity: Identity | None = None


@attrs.frozen
class Send:
    """``{"type": "message", "id", "text"?, "attachments"?}``: a customer's message.

    ``id`` is the widget's own id for it, the same on every resend; ``attachments`` are the
    SHA-256 of files uploaded before; ``offline`` marks a message left in the offline form.
    """

    id: str
    text: str = ""
    attachments: tuple[str, ...] = ()
    offline: bool = False  # left in the offline form: the chat had nobody to answer


@attrs.frozen
class Typing:
    """``{"type": "typing"}``: the visitor is typing."""


@attrs.frozen
class Details:
    """``{"type": "details", "name"?, "email"?}``: who the visitor says they are, from the
    pre-chat or the offline form; kept on the contact their next message opens."""

    name: str | None = None
    email: str | None = None


Frame = Hello | Send | Typing | Details


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON")


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f'the key "{key}" is given twice')
        obj[key] = value
    return obj


def parse(text: str) -> Frame:
    """One frame from the widget's text, checked; raises :class:`ProtocolError`."""
    try:
        data = json.loads(text, object_pairs_hook=_no_repeats, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise ProtocolError(
            f'not JSON ({exc}); send one JSON object per frame, e.g. {{"type": "typing"}}'
        ) from None
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object with a type, got {_json_kind(data)}")
    client_id = data.get("id") if isinstance(data.get("id"), str) else None
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        known = ", ".join(_FIELDS)
        said = "no type" if kind is None else f"type {json.dumps(kind)[:40]}"
        raise ProtocolError(f"unknown frame: {said} (known types: {known})", id=client_id)
    required, optional = _FIELDS[kind]
    if kind == "hello" and "visitor" in data:
        raise ProtocolError(
            '"hello" no longer takes a "visitor" id: send the "token" the last welcome gave you, '
            "or none to be given one (a visitor id from before starts a new conversation)"
        )
    missing = sorted(required - data.keys())
    if missing:
        raise ProtocolError(f'"{kind}" needs the field "{missing[0]}"', id=client_id)
    unknown = sorted(data.keys() - required - optional - {"type"})
    if unknown:
        allowed = ", ".join(sorted({"type", *required, *optional}))
        raise ProtocolError(
            f'"{kind}" has no field "{unknown[0][:40]}" (fields: {allowed})', id=client_id
        )
    if kind == "hello":
        return _hello(data)
    if kind == "message":
        send = _send(data)
        offline = data.get("offline", False)
        if not isinstance(offline, bool):
            raise ProtocolError('"offline" must be true or false', id=send.id)
        return attrs.evolve(send, offline=offline) if offline else send
    if kind == "details":
        return _details(data)
    return Typing()


def _hello(data: Mapping[str, Any]) -> Hello:
    token = data.get("token")
    if token is not None and (not isinstance(token, str) or not _TOKEN_LIKE.fullmatch(token)):
        raise ProtocolError(
            '"token" must be the token the last welcome gave you (43 letters, digits, "-" or '
            '"_"), or null to be given one'
        )
    identity = data.get("identity")
    if identity is not None and token is not None:
        raise ProtocolError(
            'send "token" or "identity", not both: a signed-in visitor is known by the identity'
        )
    after = data.get("resume_after")
    if after is not None and (not isinstance(after, str) or len(after) > 64):
        raise ProtocolError('"resume_after" must be a message id or null')
    return Hello(
        token=token if token is not None and TOKEN.fullmatch(token) else None,
        resume_after=after,
        name=_name(data.get("name"), '"name"'),
        identity=None if identity is None else parse_identity(identity),
    )


def parse_identity(data: Any) -> Identity:
    """A signed-in visitor's ``identity`` (``{"id", "hash", "name"?, "email"?}``), checked;
    raises :class:`ProtocolError`. Whether the hash is right is the session's to check."""
    fields = {"id", "hash", "name", "email"}
    if not isinstance(data, dict) or not {"id", "hash"} <= data.keys() or data.keys() - fields:
        raise ProtocolError(
            '"identity" must be {"id": "<the user id on your site>", "hash": "<hex of '
            'HMAC-SHA256(identity_secret, id)>"}, with "name" and "email" if you like'
        )
    user = data["id"]
    if not isinstance(user, str) or not 1 <= len(user) <= MAX_USER_ID_LENGTH:
        raise ProtocolError(
            f'"identity.id" must be a string of 1 to {MAX_USER_ID_LENGTH} characters: the '
            "user's id on your site"
        )
    try:
        check_text(user, '"identity.id"', key=True)
    except InboundMalformed as exc:
        raise ProtocolError(str(exc)) from None
    signature = data["hash"]
    if not isinstance(signature, str) or not HMAC_HEX.fullmatch(signature):
        raise ProtocolError(
            '"identity.hash" must be 64 hex digits: hex(HMAC-SHA256(identity_secret, id)), '
            "computed on your site's server"
        )
    return Identity(
        id=user,
        hash=signature.lower(),
        name=_name(data.get("name"), '"identity.name"'),
        email=_email(data.get("email"), '"identity.email"'),
    )


def _name(name: Any, field: str) -> str | None:
    """A name the visitor (or the site) gave, its spaces tidied; None when blank."""
    if name is None:
        return None
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
        raise ProtocolError(f"{field} must be a string of at most {MAX_NAME_LENGTH} characters")
    try:  # refused now, not on every message the name would go with
        check_text(name, field)
    except InboundMalformed as exc:
        raise ProtocolError(str(exc)) from None
    return " ".join(name.split()) or None


def _send(data: Mapping[str, Any]) -> Send:
    client_id = data["id"]
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise ProtocolError(
            '"id" must be 1 to 64 letters, digits, ".", "-" or "_": the widget\'s own id for '
            "the message, the same on every resend"
        )
    text = data.get("text", "")
    if not isinstance(text, str):
        raise ProtocolError('"text" must be a string', id=client_id)
    attachments = data.get("attachments", [])
    if not isinstance(attachments, list) or not all(
        isinstance(a, str) and SHA256.fullmatch(a) for a in attachments
    ):
        raise ProtocolError(
            '"attachments" must be a list of SHA-256 hashes (64 lowercase hex digits) of files '
            "uploaded to files",
            id=client_id,
        )
    if len(attachments) > MAX_ATTACHMENTS:
        raise ProtocolError(
            f"{len(attachments)} attachments; at most {MAX_ATTACHMENTS} in one message",
            id=client_id,
        )
    if not text.strip() and not attachments:
        raise ProtocolError("the message is empty: send text, attachments or both", id=client_id)
    return Send(id=client_id, text=text, attachments=tuple(dict.fromkeys(attachments)))


def _details(data: Mapping[str, Any]) -> Details:
    return Details(name=_name(data.get("name"), '"name"'), email=_email(data.get("email")))


def _email(email: Any, field: str = '"email"') -> str | None:
    if email is None:
        return None
    if not isinstance(email, str):
        raise ProtocolError(f'{field} must be a string, such as "ana@example.com"')
    address: str = email.strip()
    if not address:
        return None
    if len(address) > MAX_EMAIL_LENGTH or not EMAIL.fullmatch(address):
        shown = json.dumps(address[:60], ensure_ascii=False)
        raise ProtocolError(
            f"{field} {shown} is not an email address; write it as name@example.com "
            f"(at most {MAX_EMAIL_LENGTH} characters)"
        )
    return address


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return "a number"


# The server's frames ----------------------------------------------------------------------


def encode(frame: Mapping[str, Any]) -> str:
    """A frame as the text sent on the socket (compact JSON)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "sha256": attachment.sha256,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
    }


def message_json(message: Message, visitor: str | None = None) -> dict[str, Any]:
    """A stored message as the widget shows it. An inbound message carries ``client_id``, the
    widget's id it was sent with, so a widget that missed the ack recognises it."""
    data: dict[str, Any] = {
        "id": message.id,
        "direction": message.direction.value,
        "body": message.body,
        "created_at": message.created_at,
        "attachments": [attachment_json(a) for a in message.attachments],
    }
    prefix = f"{visitor}:"
    provider_id = message.provider_id
    if provider_id is not None and visitor is not None and provider_id.startswith(prefix):
        data["client_id"] = provider_id[len(prefix) :]
    return data


def welcome(
    visitor: str, messages: Iterable[Message], *, is_open: bool, token: str | None = None
) -> dict[str, Any]:
    """The answer to ``hello``: the visitor's address value (what agents see, no credential),
    the conversation, ``open`` (whether the visitor has an open contact: files are uploaded
    only then) and ``token`` when the server has just issued the visitor one."""
    frame: dict[str, Any] = {"type": "welcome", "visitor": visitor}
    if token is not None:
        frame["token"] = token
    frame["messages"] = [message_json(m, visitor) for m in messages]
    frame["open"] = is_open
    return frame


def ack(client_id: str, message_id: str, *, duplicate: bool) -> dict[str, Any]:
    return {"type": "ack", "id": client_id, "message_id": message_id, "duplicate": duplicate}


def retry(client_id: str, after: float) -> dict[str, Any]:
    return {"type": "retry", "id": client_id, "retry_after": after}


def error(message: str, *, id: str | None = None, **extra: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error"}
    if id is not None:
        frame["id"] = id
    frame["error"] = message
    frame.update(extra)
    return frame


def typing() -> dict[str, Any]:
    return {"type": "typing"}


def position(place: int) -> dict[str, Any]:
    """The visitor's place in line: 1 is next, 0 is being put through to an agent now."""
    return {"type": "position", "position": place}


def agent(name: str) -> dict[str, Any]:
    """An agent took the chat: their display name."""
    return {"type": "agent", "name": name}


def availability(available: bool, reason: str | None) -> dict[str, Any]:
    """Whether anyone can answer now; ``reason`` ``"closed"`` or ``"no_agents"`` when not."""
    frame: dict[str, Any] = {"type": "availability", "available": available}
    if not available:
        frame["reason"] = reason
    return frame
