"""Canned responses: a workspace's ready-made replies, with placeholders filled in per contact.

A workspace lists them in its configuration (``[[workspaces.<id>.canned]]``: a ``shortcut``,
a ``title`` and a ``text``); the agent desktop offers them from the reply box. A placeholder
such as ``{{customer.name}}`` is replaced by plain text: no template language, nothing is
evaluated, and a value is never searched for placeholders itself. A placeholder that is
unknown, or has no value for this contact, is left as written and reported as ``missing``,
so the agent sees what to fill in; it is never an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

__all__ = ["PLACEHOLDERS", "CannedResponse", "Rendered", "render"]

# The placeholders a canned response may use, and what each stands for.
PLACEHOLDERS: Mapping[str, str] = {
    "customer.name": "the customer's name",
    "customer.address": "the address the customer wrote from, as they gave it",
    "agent.name": "the name of the agent who replies",
    "agent.id": "the id of the agent who replies",
    "contact.id": "the contact's id",
    "contact.subject": "the contact's subject",
    "queue.name": "the name of the contact's queue",
    "workspace.name": "the workspace's name",
}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
_SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]*")
MAX_SHORTCUT = 40
MAX_TEXT = 10_000  # as long as a reply may be


def _shortcut(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _SHORTCUT.fullmatch(value) or len(value) > MAX_SHORTCUT:
        raise ValueError(
            f'shortcut "{value}": use 1 to {MAX_SHORTCUT} lower-case letters, digits, '
            '"-" or "_", starting with a letter or digit (such as "refund-policy")'
        )


def _text(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError("text: must not be empty")
    if len(value) > MAX_TEXT:
        raise ValueError(f"text: {len(value)} characters, more than a reply may have ({MAX_TEXT})")


@attrs.frozen
class CannedResponse:
    """One ready-made reply: the agent types ``/`` and part of the shortcut, title or text."""

    shortcut: str = attrs.field(validator=_shortcut)
    text: str = attrs.field(validator=_text)
    title: str = ""

    def json(self) -> dict[str, str]:
        return {"shortcut": self.shortcut, "title": self.title or self.shortcut, "text": self.text}


@attrs.frozen
class Rendered:
    """A text with its placeholders filled in, and those left as written (in order, once)."""

    text: str
    missing: tuple[str, ...] = ()


def render(text: str, values: Mapping[str, str]) -> Rendered:
    """``text`` with each ``{{name}}`` that ``values`` gives a non-empty value for replaced.

    The others stay as written and are listed in ``missing``; a value's own braces are
    kept as they are (one pass, no evaluation).
    """
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name, "")
        if value:
            return value
        if name not in missing:
            missing.append(name)
        return match.group(0)

    return Rendered(_PLACEHOLDER.sub(fill, text), tuple(missing))
