"""Events to and from plain JSON data: the one wire format of the event log.

An event becomes a JSON object with its fields and a ``"type"`` naming its class; enums
become their values, mappings become objects, tuples become arrays. Stores that keep JSON
and tools that read a log (``trunkline explain --events``) use these functions, built on
cattrs, so the format has one definition.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import IO, Any, TypeVar

import cattrs

from .errors import TrunklineError
from .events import EVENT_TYPES, Event

__all__ = [
    "CodecError",
    "dump_event",
    "dump_value",
    "load_event",
    "load_value",
    "read_events",
    "write_event",
]


class CodecError(TrunklineError):
    """A stored or transmitted event that cannot be read back."""


_T = TypeVar("_T")
_converter = cattrs.Converter()
_converter.register_unstructure_hook(MappingProxyType, lambda value: dict(value))
_converter.register_unstructure_hook(enum.Enum, lambda value: value.value)


def dump_value(value: Any) -> Any:
    """Any model value (a Contact, a Message…) as JSON-ready data, the way events hold it."""
    return _converter.unstructure(value)


def load_value(data: Any, cls: type[_T]) -> _T:
    """A model value back from :func:`dump_value`'s data."""
    return _converter.structure(data, cls)


def dump_event(event: Event) -> dict[str, Any]:
    """The event as JSON-ready data, with its ``type``."""
    data: dict[str, Any] = _converter.unstructure(event)
    data["type"] = event.type
    return data


def load_event(data: Mapping[str, Any]) -> Event:
    """An event back from :func:`dump_event`'s data; CodecError names what is wrong."""
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise CodecError(f"unknown event type {kind!r} (known: {', '.join(sorted(EVENT_TYPES))})")
    fields = {k: v for k, v in data.items() if k != "type"}
    try:
        event: Event = _converter.structure(fields, cls)
    except Exception as exc:  # cattrs reports a group of causes; name them in one line
        causes = "; ".join(_causes(exc))
        raise CodecError(f"event {kind}: {causes}") from None
    return event


def write_event(stream: IO[str], event: Event) -> None:
    """Append one event as a JSON line."""
    stream.write(json.dumps(dump_event(event), separators=(",", ":")) + "\n")


def read_events(lines: Iterable[str], source: str = "<events>") -> Iterator[Event]:
    """Events from JSON lines; a bad line raises CodecError with its number."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield load_event(json.loads(line))
        except (json.JSONDecodeError, CodecError, AttributeError) as exc:
            raise CodecError(f"{source}:{number}: {exc}") from None


def _causes(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        found = []
        for inner in exc.exceptions:
            found += _causes(inner)
        return found
    if isinstance(exc, KeyError):
        return [f"missing field {exc.args[0]!r}"]
    return [f"{type(exc).__name__}: {exc}"]
