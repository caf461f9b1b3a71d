"""The webhook's JSON bodies and signatures, both ways. Encoding, parsing and HMAC; no I/O.

A sender POSTs ``{"sender": "ann", "text": "hello", "id": "m-1"}`` (plus the optional
``thread``, ``subject`` and ``attributes``) to ``/v1/messages``. A reply is POSTed to the
callback URL as ``{"to", "contact_id", "message_id", "text", "subject", "dedupe_key"}``.
With a shared secret, each body is signed: ``X-Trunkline-Signature: sha256=<hex>``, the
HMAC-SHA256 of the raw body bytes, so a receiver checks exactly the bytes it got.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import attrs

from trunkline import Address, OutboundMessage

__all__ = [
    "ADDRESS_KIND",
    "ALLOWED_FIELDS",
    "IDEMPOTENCY_HEADER",
    "REQUIRED_FIELDS",
    "SIGNATURE_HEADER",
    "InboundBody",
    "WireError",
    "callback_body",
    "encode",
    "message_body",
    "parse_message",
    "sign",
    "signature_problem",
]

ADDRESS_KIND = "webhook"  # a sender is Address("webhook", <"sender">)
SIGNATURE_HEADER = "X-Trunkline-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_PREFIX = "sha256="

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


def sign(secret: str, body: bytes) -> str:
    """The ``X-Trunkline-Signature`` value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_problem(secret: str, body: bytes, header: str | None) -> str | None:
    """Why ``header`` does not vouch for ``body`` under ``secret``, or None when it does.

    The comparison takes constant time (:func:`hmac.compare_digest`); the hex digits may be
    upper or lower case. The message never contains the secret or the expected signature.
    """
    if header is None:
        return (
            f'missing header "{SIGNATURE_HEADER}": this channel requires '
            f"{SIGNATURE_PREFIX}<hex HMAC-SHA256 of the body with the shared secret>"
        )
    given = header.strip().lower().encode("latin-1", errors="replace")
    if not hmac.compare_digest(given, sign(secret, body).encode()):
        return (
            f'wrong "{SIGNATURE_HEADER}": it does not match the body signed with the shared '
            f"secret (expected {SIGNATURE_PREFIX}<hex HMAC-SHA256 of the exact bytes sent>)"
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
