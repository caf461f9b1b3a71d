"""The SQL stores' reads: the statements of each lookup, and their rows turned back into values.

Statements are written with ``?`` placeholders (:meth:`Dialect.sql` adapts them); search,
which reads JSON fields, is built per dialect by :func:`search_statements`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..codec import load_event, load_value
from ..model import Address, Message
from ..store import OutboxEntry, StoredEvent
from .dialect import Dialect

__all__ = [
    "CONTACT",
    "CONTACTS_OF",
    "CONTACT_EVENTS",
    "CUSTOMER_BY_ADDRESS",
    "LAST_SEQS",
    "LOAD_SNAPSHOT",
    "MESSAGES",
    "OPEN_CONTACT",
    "OUTBOX_DUE",
    "READ_EVENTS",
    "SAVE_SNAPSHOT",
    "SEEN",
    "decode_row",
    "many",
    "one",
    "outbox_entries",
    "search_pattern",
    "search_statements",
    "stored_events",
]

READ_EVENTS = "SELECT seq, data FROM events WHERE workspace = ? AND seq > ? ORDER BY seq LIMIT ?"
SEEN = "SELECT contact_id, message_id FROM idempotency WHERE workspace = ? AND key = ?"
CUSTOMER_BY_ADDRESS = (
    "SELECT c.data FROM addresses a JOIN customers c "
    "ON c.workspace = a.workspace AND c.id = a.customer_id "
    "WHERE a.workspace = ? AND a.kind = ? AND a.value = ?"
)
OPEN_CONTACT = (
    "SELECT data FROM contacts WHERE workspace = ? AND thread_key = ? AND open = 1 "
    "ORDER BY created_at DESC LIMIT 1"
)
CONTACT = "SELECT data FROM contacts WHERE workspace = ? AND id = ?"
CONTACTS_OF = (
    "SELECT data FROM contacts WHERE workspace = ? AND customer_id = ? "
    "ORDER BY created_at DESC LIMIT ?"
)
MESSAGES = "SELECT data FROM messages WHERE workspace = ? AND contact_id = ? ORDER BY seq"
CONTACT_EVENTS = "SELECT seq, data FROM events WHERE workspace = ? AND contact_id = ? ORDER BY seq"
OUTBOX_DUE = (
    "SELECT data, to_kind, to_value, attempts, due_at FROM outbox "
    "WHERE due_at <= ? ORDER BY due_at, message_id LIMIT ?"
)
LAST_SEQS = "SELECT workspace, MAX(seq) FROM events GROUP BY workspace"
LOAD_SNAPSHOT = "SELECT seq, fingerprint, data FROM snapshots WHERE workspace = ?"
SAVE_SNAPSHOT = (
    "INSERT INTO snapshots (workspace, seq, fingerprint, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (workspace) DO UPDATE SET seq = excluded.seq, "
    "fingerprint = excluded.fingerprint, data = excluded.data"
)


# Search (Store.search) -----------------------------------------------------------------------
#
# Customers and contacts are found by scanning the workspace's rows (LIKE "%text%" uses no
# index): simple and the same on every SQL store; a trigram index is the way to make it fast.


def search_pattern(text: str) -> str:
    """``text`` lower-cased as a ``LIKE`` pattern for "contains"; ``\\`` escapes, so its own
    ``%`` and ``_`` match themselves."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_statements(dialect: Dialect) -> tuple[str, str]:
    """The statements finding customers and contacts (with ``?`` placeholders).

    Customers take ``(workspace, text, pattern, pattern, limit)``; contacts take
    ``(workspace, text, text, pattern, pattern, workspace, text, pattern, pattern, limit)``.
    """
    like = "LIKE ? ESCAPE '\\'"
    customer = (
        f"(c.id = ? OR {dialect.field('c.data', 'name')} {like} OR EXISTS (SELECT 1 FROM "
        "addresses a WHERE a.workspace = c.workspace AND a.customer_id = c.id "
        f"AND {dialect.lower}(a.value) {like}))"
    )
    customers = (
        f"SELECT c.data FROM customers c WHERE c.workspace = ? AND {customer} ORDER BY c.id LIMIT ?"
    )
    contacts = (
        "SELECT data FROM contacts WHERE workspace = ? AND (id = ? OR customer_id = ? "
        f"OR {dialect.field('data', 'subject')} {like} "
        f"OR {dialect.field('data', 'address', 'value')} {like} "
        f"OR customer_id IN (SELECT c.id FROM customers c WHERE c.workspace = ? AND {customer})) "
        "ORDER BY created_at DESC LIMIT ?"
    )
    return customers, contacts


# Rows back into values ------------------------------------------------------------------------


def decode_row(data: str, cls: type[Any]) -> Any:
    """A model value (Contact, Customer, Message) back from its JSON column."""
    return load_value(json.loads(data), cls)


def stored_events(rows: Iterable[Sequence[Any]]) -> list[StoredEvent]:
    """``(seq, data)`` rows of the events table as stored events."""
    return [StoredEvent(seq=int(seq), event=load_event(json.loads(data))) for seq, data in rows]


def outbox_entries(rows: Iterable[Sequence[Any]]) -> list[OutboxEntry]:
    """Rows of :data:`OUTBOX_DUE` as outbox entries."""
    return [
        OutboxEntry(
            message=decode_row(data, Message),
            to=Address(kind, value),
            attempts=int(attempts),
            due_at=float(due_at),
        )
        for data, kind, value, attempts, due_at in rows
    ]


def one(rows: Sequence[Sequence[Any]], cls: type[Any]) -> Any:
    """The value in the first row's first column, or None without a row."""
    return decode_row(rows[0][0], cls) if rows else None


def many(rows: Iterable[Sequence[Any]], cls: type[Any]) -> list[Any]:
    """The value in each row's first column."""
    return [decode_row(row[0], cls) for row in rows]
