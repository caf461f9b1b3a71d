"""The echo wire format: one JSON object per line, both ways. Encoding and parsing, no I/O.

A customer sends ``{"from": "ann", "text": "hello", "id": "m-1"}`` (plus ``"key"`` when the
channel has a shared key). For every non-blank line the channel answers exactly one line, in
order: ``{"ack": …}`` once the message is stored, or ``{"error": …}`` when it is refused.
Agents' replies arrive on the same connection at any time as ``{"reply": …}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "ALLOWED_FIELDS",
    "REQUIRED_FIELDS",
    "CustomerLine",
    "LineSplitter",
    "TooLong",
    "WireError",
    "ack_line",
    "customer_line",
    "encode",
    "error_line",
    "parse_customer_line",
    "parse_object",
    "reply_line",
]

REQUIRED_FIELDS = ("from", "text", "id")
ALLOWED_FIELDS = (*REQUIRED_FIELDS, "key")
EXAMPLE = '{"from": "ann", "text": "hello", "id": "m-1"}'


class WireError(ValueError):
    """A line that does not follow the format; ``str()`` says what is wrong, for the sender."""


@attrs.frozen
class CustomerLine:
    """One parsed customer line. ``key`` is the shared key the sender presented, if any."""

    sender: str
    text: str
    id: str
    key: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class TooLong:
    """Stands for a line longer than the limit; its bytes were dropped, not kept."""

    size: int
    limit: int

    def message(self) -> str:
        return (
            f"line of {self.size} bytes exceeds max_line_bytes={self.limit}; "
            "send shorter lines (one JSON object per line)"
        )


class LineSplitter:
    """Cuts a byte stream into lines without their ending (``\\n`` or ``\\r\\n``).

    Memory stays bounded: once a line passes ``max_bytes`` its bytes are dropped and only
    counted, and the line comes out as :class:`TooLong` when its newline arrives. Bytes after
    the last newline wait for more data; at end of stream they are an unfinished line.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._dropped = 0  # bytes of the current line already dropped for being too long

    def feed(self, data: bytes) -> list[bytes | TooLong]:
        """The lines completed by ``data``, in order."""
        out: list[bytes | TooLong] = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            self._add(data[start:end])
            out.append(self._finish())
            start = end + 1
        self._add(data[start:])
        return out

    def _add(self, chunk: bytes) -> None:
        # A line may hold max_bytes plus the "\r" of a "\r\n" ending before it is too long.
        if self._dropped or len(self._buffer) + len(chunk) > self.max_bytes + 1:
            self._dropped += len(self._buffer) + len(chunk)
            self._buffer.clear()
        else:
            self._buffer += chunk

    def _finish(self) -> bytes | TooLong:
        line = bytes(self._buffer).removesuffix(b"\r")
        dropped, self._dropped = self._dropped, 0
        self._buffer.clear()
        if dropped or len(line) > self.max_bytes:
            return TooLong(size=dropped or len(line), limit=self.max_bytes)
        return line


# Encoding -----------------------------------------------------------------------------------


def encode(obj: Mapping[str, Any]) -> bytes:
    """One line: compact JSON (UTF-8, non-ASCII kept as is) and a newline."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def customer_line(sender: str, text: str, id: str, *, key: str | None = None) -> bytes:
    """What a customer sends."""
    obj = {"from": sender, "text": text, "id": id}
    if key is not None:
        obj["key"] = key
    return encode(obj)


def ack_line(message_id: str, contact_id: str, *, duplicate: bool, new_contact: bool) -> bytes:
    """The channel's answer once a line is stored: Trunkline's message and contact ids."""
    return encode(
        {
            "ack": message_id,
            "contact": contact_id,
            "duplicate": duplicate,
            "new_contact": new_contact,
        }
    )


def error_line(message: str, *, retry: bool = False) -> bytes:
    """The channel's answer to a line it refused; ``retry`` says sending again may work."""
    obj: dict[str, Any] = {"error": message}
    if retry:
        obj["retry"] = True
    return encode(obj)


def reply_line(body: str, message_id: str) -> bytes:
    """An agent's reply, pushed to the customer's connection."""
    return encode({"reply": body, "message_id": message_id})


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


def parse_object(line: bytes) -> dict[str, Any]:
    """Any line of the protocol as a JSON object; raises WireError naming the problem."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"not UTF-8 (byte {exc.start}); send UTF-8 JSON, e.g. {EXAMPLE}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WireError(
            f"not JSON ({exc.msg} at column {exc.colno}); send one JSON object per line, "
            f"e.g. {EXAMPLE}"
        ) from None
    if not isinstance(obj, dict):
        raise WireError(f"expected a JSON object, got {_kind(obj)}; e.g. {EXAMPLE}")
    return obj


def parse_customer_line(line: bytes) -> CustomerLine:
    """A customer's line, checked field by field; raises WireError naming the problem."""
    obj = parse_object(line)
    for name in obj:
        if name not in ALLOWED_FIELDS:
            raise WireError(f'unknown field "{name}" (allowed: {", ".join(ALLOWED_FIELDS)})')
    for name in REQUIRED_FIELDS:
        if name not in obj:
            raise WireError(f'missing field "{name}" (required: {", ".join(REQUIRED_FIELDS)})')
    for name in ALLOWED_FIELDS:
        if name in obj and not isinstance(obj[name], str):
            raise WireError(f'field "{name}" must be a string, got {_kind(obj[name])}')
    for name in ("from", "id"):
        if not obj[name].strip():
            raise WireError(f'field "{name}" must not be empty')
    if not obj["text"].strip():
        raise WireError('field "text" must not be empty: there is nothing to deliver')
    return CustomerLine(sender=obj["from"], text=obj["text"], id=obj["id"], key=obj.get("key"))
