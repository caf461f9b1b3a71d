"""How one SQL engine spells what the stores need: placeholders, a few types, JSON and LIMIT.

Every statement of :mod:`trunkline.sql` is written once, with ``?`` placeholders and the
``{blob}``/``{real}`` type names; a :class:`Dialect` adapts it to the engine.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Dialect", "Statement"]

Statement = tuple[str, tuple[Any, ...]]
"""One statement and its parameters."""


@attrs.frozen
class Dialect:
    """How one SQL engine spells what the stores need."""

    name: str
    blob: str  # the binary type: BLOB or BYTEA
    real: str  # a double: REAL or DOUBLE PRECISION
    placeholder: str = "?"  # psycopg uses %s
    # Lower-casing text as Python's str.lower does (search): SQLite's own LOWER knows ASCII
    # only, so its store registers a function of this name on each connection.
    lower: str = "LOWER"
    # A text field of a JSON column: {column}, and the keys as {dotted} (a.b) or {braced} ({a,b}).
    json_text: str = "json_extract({column}, '$.{dotted}')"
    # What a LIMIT parameter takes for "no limit": SQLite's -1 (it refuses NULL), PostgreSQL's
    # NULL (it refuses a negative one).
    no_limit: int | None = -1

    def field(self, column: str, *keys: str) -> str:
        """The SQL for the text at ``keys`` of the JSON in ``column``, lower-cased."""
        text = self.json_text.format(
            column=column, dotted=".".join(keys), braced="{" + ",".join(keys) + "}"
        )
        return f"{self.lower}({text})"

    def sql(self, text: str) -> str:
        """``text`` written with ``?`` placeholders and ``{blob}``/``{real}`` types, adapted."""
        text = text.replace("{blob}", self.blob).replace("{real}", self.real)
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)
