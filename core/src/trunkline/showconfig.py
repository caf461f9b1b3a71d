"""``trunkline show-config``: a configuration as it takes effect, with its secrets masked.

What is shown is the file with the active distribution's defaults merged under it (the data
the checker checked), as TOML, each value that only the defaults set marked with a comment,
or as JSON. Masked as ``"***"``: every value read from the environment (the fields that
settings classes mark secret, given as ``{ env = "VARIABLE" }``) and the values of fields
marked :data:`~trunkline.config.MASKED` (such as trunkline-web's password and token hashes),
which are not secrets but help nobody who reads a pasted configuration.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .config import KeyPath, LoadedConfig

__all__ = ["MASK", "masked", "render_json", "render_toml", "toml_document"]

MASK = "***"


def _at(data: Any, path: KeyPath) -> Any:
    for key in path:
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def masked(loaded: LoadedConfig) -> dict[str, Any]:
    """The merged data with every secret and hash replaced by :data:`MASK`."""
    hidden = set(loaded.secrets) | set(loaded.masked)

    def walk(value: Any, path: KeyPath) -> Any:
        if path in hidden:
            return MASK
        if isinstance(value, Mapping):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, str(i))) for i, v in enumerate(value)]
        return value

    result: dict[str, Any] = walk(loaded.data, ())
    return result


def render_json(loaded: LoadedConfig) -> str:
    """The configuration in effect as one JSON object (dates and times as ISO 8601 text)."""
    return json.dumps(masked(loaded), indent=2, ensure_ascii=False, default=str) + "\n"


def render_toml(loaded: LoadedConfig, *, name: str, defaults_source: str | None) -> str:
    """The configuration in effect as a TOML document with a heading comment.

    ``name`` is the file as the user gave it; ``defaults_source`` names where the defaults
    come from (``distribution "acme"``), None when none apply.
    """
    secrets = set(loaded.secrets)

    def comment(path: KeyPath) -> str | None:
        notes = []
        if path in secrets:
            notes.append(f"secret, from ${_at(loaded.data, path)['env']}")
        if defaults_source and _from_defaults(loaded, path):
            notes.append(f"default of {defaults_source}")
        return "; ".join(notes) or None

    over = f": the file over the defaults of {defaults_source}" if defaults_source else ""
    heading = f'# {name} as it takes effect{over}. Secrets are shown as "{MASK}".\n'
    body = toml_document(masked(loaded), comment=comment)
    return heading + ("\n" if body else "") + body


def _from_defaults(loaded: LoadedConfig, path: KeyPath) -> bool:
    def holds(data: Any, keys: KeyPath) -> bool:
        for key in keys:
            if not isinstance(data, Mapping) or key not in data:
                return False
            data = data[key]
        return True

    return holds(loaded.defaults, path) and not holds(loaded.file_data, path)


# A small TOML writer: tables for mappings, inline values for lists (their mappings inline).

_INLINE_AT_MOST = 4  # entries of a map written inline
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")


def toml_document(
    data: Mapping[str, Any], *, comment: Callable[[KeyPath], str | None] | None = None
) -> str:
    """``data`` as a TOML document that reads back equal. ``comment(path)`` may add a comment
    to the line of the value at ``path``."""
    lines: list[str] = []

    def note(path: KeyPath) -> str | None:
        return comment(path) if comment is not None else None

    def inline(path: KeyPath, value: Any) -> bool:
        """A small map of plain values deep in the file, such as ``skills = { en = 2 }``,
        reads best on one line; sections and anything with a comment get a table."""
        return (
            isinstance(value, Mapping)
            and len(path) >= 3
            and 0 < len(value) <= _INLINE_AT_MOST
            and not any(isinstance(v, Mapping | list) for v in value.values())
            and not any(note((*path, k)) for k in value)
        )

    def table(path: KeyPath, node: Mapping[str, Any]) -> None:
        values = [
            (k, v) for k, v in node.items() if not isinstance(v, Mapping) or inline((*path, k), v)
        ]
        tables = [
            (k, v) for k, v in node.items() if isinstance(v, Mapping) and not inline((*path, k), v)
        ]
        if path and (values or not tables):
            if lines:
                lines.append("")
            lines.append("[" + ".".join(_key(k) for k in path) + "]")
        for key, value in values:
            line = f"{_key(key)} = {_value(value)}"
            said = note((*path, key))
            lines.append(f"{line}  # {said}" if said else line)
        for key, value in tables:
            table((*path, key), value)

    table((), data)
    return "".join(line + "\n" for line in lines)
