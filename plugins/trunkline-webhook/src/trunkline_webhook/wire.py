"""The webhook's JSON bodies and signatures, both ways. Encoding, parsing and HMAC; no I/O.

A sender POSTs ``{"sender": "ann", "text": "hello", "id": "m-1"}`` (plus the optional
``thread``, ``subject`` and ``attributes``) to ``/v1/messages``. A reply is POSTed to the
callback URL as ``{"to", "contact_id", "message_id", "text", "subject", "dedupe_key"}``.

With a shared secret, each request is signed with the time it is sent, as Slack and Stripe
do: ``X-Trunkline-Timestamp: <seconds since the epoch>`` and ``X-Trunkline-Signature:
v1=<hex>``, the HMAC-SHA256 of ``b"<timestamp>." + body`` (the raw body bytes, so a receiver
checks exactly the bytes it got). A receiver refuses a timestamp too far from its clock, so a
request captured on the way cannot be sent again later. The old form, ``sha256=<hex>`` of the
body alone, is still understood where a channel allows it (``legacy_signatures``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import attrs

from trunkline import Address, OutboundMessage

__all__ = [
    "ADDRESS_KIND",
    "ALLOWED_FIELDS",
    "CONTENT_TYPE",
    "IDEMPOTENCY_HEADER",
    "REQUIRED_FIELDS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE",
    "InboundBody",
    "WireError",
    "callback_body",
    "content_type_problem",
    "encode",
    "legacy_sign",
    "message_body",
    "parse_message",
    "sign",
    "signature_headers",
    "signature_problem",
]

ADDRESS_KIND = "webhook"  # a sender is Address("webhook", <"sender">)
SIGNATURE_HEADER = "X-Trunkline-Signature"
TIMESTAMP_HEADER = "X-Trunkline-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CONTENT_TYPE = "application/json"
SIGNATURE_PREFIX = "v1="  # HMAC-SHA256 of "<timestamp>." + body
LEGACY_PREFIX = "sha256="  # the old form: HMAC-SHA256 of the body alone, no timestamp
TOLERANCE = 300  # seconds a signed timestamp may be from the receiver's clock, either way
MAX_TIMESTAMP_DIGITS = 12  # whole seconds since the epoch: 10 digits until the year 2286

REQUIRED_FIELDS = ("sender", "text")
ALLOWED_FIELDS = (*REQUIRED_FIELDS, "id", "thread", "subject", "attributes")
EXAMPLE = '{"sender": "ann", "text": "hello", "id": "m-1"}'


class WireError(ValueError):
    """A body that does not follow the format; ``str()`` says what is wrong, for the sender.

    ``field`` names the offending field when there is one, so a sender's code can point at it.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@attrs.frozen
class InboundBody:
    """One parsed ``POST /v1/messages`` body, every field checked."""

    sender: str
    text: str
    id: str | None = None
    thread: str | None = None
    subject: str = ""
    attributes: Mapping[str, Any] = attrs.field(factory=dict)


# Encoding -----------------------------------------------------------------------------------


def encode(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON in UTF-8, non-ASCII kept as is: what the channel and its helpers send."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def message_body(
    sender: str,
    text: str,
    *,
    id: str | None = None,
    thread: str | None = None,
    subject: str = "",
    attributes: Mapping[str, Any] | None = None,
) -> bytes:
    """What a sender POSTs to ``/v1/messages``; optional fields are left out when unset."""
    obj: dict[str, Any] = {"sender": sender, "text": text}
    if id is not None:
        obj["id"] = id
    if thread is not None:
        obj["thread"] = thread
    if subject:
        obj["subject"] = subject
    if attributes:
        obj["attributes"] = dict(attributes)
    return encode(obj)


def callback_body(to: Address, message: OutboundMessage) -> bytes:
    """What the channel POSTs to the callback URL for one reply."""
    return encode(
        {
            "to": to.value,
            "contact_id": message.contact_id,
            "message_id": message.message_id,
            "text": message.body,
            "subject": message.subject,
            "dedupe_key": message.dedupe_key,
        }
    )


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    """The ``X-Trunkline-Signature`` value for ``body`` sent at ``timestamp`` (whole seconds
    since the epoch): ``v1=`` and the hex HMAC-SHA256 of ``b"<timestamp>." + body``."""
    signed = str(timestamp).encode() + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def legacy_sign(secret: str, body: bytes) -> str:
    """The old ``X-Trunkline-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the body
    alone. It has no timestamp, so a captured request can be replayed; receivers accept it
    only with ``legacy_signatures = true``."""
    return LEGACY_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Both headers that sign ``body``: ``X-Trunkline-Timestamp`` (now, unless given) and
    ``X-Trunkline-Signature``. Sign each attempt when it is sent: a retry signed minutes
    earlier is outside the receiver's window."""
    when = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(when), SIGNATURE_HEADER: sign(secret, body, timestamp=when)}


def _matches(given: str, expected: str) -> bool:
    """Constant time; the hex digits may be upper or lower case."""
    candidate = given.strip().lower().encode("latin-1", errors="replace")
    return hmac.compare_digest(candidate, expected.encode())


def signature_problem(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    now: float,
    tolerance: float = TOLERANCE,
    legacy: bool = False,
) -> str | None:
    """Why the headers ``signature`` and ``timestamp`` do not vouch for ``body`` under
    ``secret`` at the receiver's time ``now``, or None when they do.

    The signature must match (compared in constant time), and the timestamp be at most
    ``tolerance`` seconds from ``now``, either way. With ``legacy``, the old form (``sha256=``
    over the body alone, no timestamp needed) is accepted too. The message never contains
    the secret or the expected signature.
    """
    expected_form = (
        f"{TIMESTAMP_HEADER}: <seconds since the epoch> and {SIGNATURE_HEADER}: "
        f"{SIGNATURE_PREFIX}<hex HMAC-SHA256 of the timestamp, a dot and the body, "
        "with the shared secret>"
    )
    if signature is None:
        return f'missing header "{SIGNATURE_HEADER}": this channel requires {expected_form}'
    if signature.strip().lower().startswith(LEGACY_PREFIX):
        if legacy:
            if _matches(signature, legacy_sign(secret, body)):
                return None
            return (
                f'wrong "{SIGNATURE_HEADER}": it does not match the body signed with the '
                f"shared secret (expected {LEGACY_PREFIX}<hex HMAC-SHA256 of the exact bytes "
                "sent>)"
            )
        return (
            f'"{SIGNATURE_HEADER}: {LEGACY_PREFIX}…" is the old form, without a timestamp, '
            f"and this channel refuses it (it can be replayed): send {expected_form}, or set "
            "legacy_signatures = true in the channel's settings while senders move over"
        )
    if timestamp is None:
        return f'missing header "{TIMESTAMP_HEADER}": this channel requires {expected_form}'
    text = timestamp.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_TIMESTAMP_DIGITS):
        return (
            f'"{TIMESTAMP_HEADER}" must be whole seconds since the epoch (e.g. '
            f"{int(time.time())}), got {timestamp[:40]!r}"
        )
    if not _matches(signature, sign(secret, body, timestamp=int(text))):
        return (
            f'wrong "{SIGNATURE_HEADER}": it does not match the timestamp and body signed with '
            f'the shared secret (expected {SIGNATURE_PREFIX}<hex HMAC-SHA256 of "{text}." and '
            "the exact bytes sent>)"
        )
    skew = int(text) - now
    if abs(skew) > tolerance:
        side = "behind" if skew < 0 else "ahead of"
        return (
            f'"{TIMESTAMP_HEADER}" is {abs(skew):.0f} s {side} this server\'s clock, more than '
            f"the {tolerance:g} s allowed (signature_tolerance): sign each request, retries "
            "too, when you send it, and keep your clock in sync (NTP)"
        )
    return None


def content_type_problem(header: str | None) -> str | None:
    """Why a request's ``Content-Type`` is not JSON in UTF-8, or None when it is.

    ``application/json`` is required, with no parameter but ``charset=utf-8``; anything else,
    a missing header too, is refused (HTTP 415): a form or a text body is not a message.
    """
    if header is None:
        return f'missing header "Content-Type": send {CONTENT_TYPE}'
    media, _, parameters = header.partition(";")
    if media.strip().lower() != CONTENT_TYPE:
        return f'Content-Type "{header.strip()[:80]}" is not JSON: send {CONTENT_TYPE}'
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if not name.strip():
            continue
        if name.strip().lower() != "charset" or value.strip().strip('"').lower() != "utf-8":
            return (
                f'Content-Type "{header.strip()[:80]}": only charset=utf-8 is understood; '
                f"send {CONTENT_TYPE} in UTF-8"
            )
    return None


# Parsing ------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise WireError(f'field "{key}" appears twice; send each field once', field=key)
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise WireError(f"{name} is not JSON; send numbers as finite values")


def _load(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"not UTF-8 (byte {exc.start}); send UTF-8 JSON, e.g. {EXAMPLE}") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise WireError(
            f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"send one JSON object, e.g. {EXAMPLE}"
        ) from None
    except RecursionError:
        raise WireError("JSON nested too deeply; send a flat object") from None
    except WireError:
        raise
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise WireError(f"not usable JSON ({exc})") from None


def _optional_string(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(f'field "{name}" must be a string, got {_kind(value)}', field=name)
    return value


def _required_string(obj: Mapping[str, Any], name: str) -> str:
    value = _optional_string(obj, name)
    if value is None:
        raise WireError(
            f'missing field "{name}" (required: {", ".join(REQUIRED_FIELDS)})', field=name
        )
    return value


def parse_message(body: bytes) -> InboundBody:
    """A ``POST /v1/messages`` body, checked field by field; raises WireError naming the problem.

    Optional fields may be absent or ``null``. Unknown fields are refused, so a misspelt
    field is not silently ignored.
    """
    obj = _load(body)
    if not isinstance(obj, dict):
        raise WireError(f"expected a JSON object, got {_kind(obj)}; e.g. {EXAMPLE}")
    for name in obj:
        if name not in ALLOWED_FIELDS:
            raise WireError(
                f'unknown field "{name}" (allowed: {", ".join(ALLOWED_FIELDS)})', field=name
            )
    sender = _required_string(obj, "sender")
    text = _required_string(obj, "text")
    if not sender.strip():
        raise WireError('field "sender" must not be empty', field="sender")
    if not text.strip():
        raise WireError('field "text" must not be empty: there is nothing to deliver', field="text")
    message_id = _optional_string(obj, "id")
    if message_id is not None and not message_id.strip():
        raise WireError('field "id" must not be empty (leave it out instead)', field="id")
    thread = _optional_string(obj, "thread")
    subject = _optional_string(obj, "subject") or ""
    attributes = obj.get("attributes")
    if attributes is None:
        attributes = {}
    elif not isinstance(attributes, dict):
        raise WireError(
            f'field "attributes" must be an object, got {_kind(attributes)}', field="attributes"
        )
    return InboundBody(
        sender=sender,
        text=text,
        id=message_id,
        thread=thread or None,
        subject=subject,
        attributes=attributes,
    )
