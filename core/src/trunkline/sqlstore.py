"""What the SQL stores share: the schema, its migrations, and events turned into rows.

The event log is the source of truth; beside it each SQL store keeps lookup tables (customers
by address, open contacts by thread, messages, the outbox, idempotency keys) that it updates
in the same transaction as the events it appends, so a lookup never disagrees with the log.
SQLite (built in) and PostgreSQL (the ``trunkline-postgres`` plugin) run the same statements;
a :class:`Dialect` says how they differ (placeholders and a few type names).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from . import events as ev
from .codec import dump_event, load_event, load_value
from .model import Address, Message
from .store import OutboxEntry, StoredEvent

__all__ = [
    "CONTACT",
    "CUSTOMER_BY_ADDRESS",
    "LAST_SEQS",
    "LOAD_SNAPSHOT",
    "MESSAGES",
    "MIGRATIONS",
    "OPEN_CONTACT",
    "OUTBOX_DUE",
    "READ_EVENTS",
    "SAVE_SNAPSHOT",
    "SCHEMA_VERSION",
    "SEEN",
    "Dialect",
    "Migration",
    "SchemaError",
    "Statement",
    "contact_of",
    "decode_row",
    "encode",
    "event_rows",
    "many",
    "migrate",
    "one",
    "outbox_entries",
    "stored_events",
]

Statement = tuple[str, tuple[Any, ...]]


class SchemaError(Exception):
    """The database's schema is not the one this code knows (older or newer)."""


@attrs.frozen
class Dialect:
    """How one SQL engine spells what the stores need."""

    name: str
    blob: str  # the binary type: BLOB or BYTEA
    real: str  # a double: REAL or DOUBLE PRECISION
    placeholder: str = "?"  # psycopg uses %s

    def sql(self, text: str) -> str:
        """``text`` written with ``?`` placeholders and ``{blob}``/``{real}`` types, adapted."""
        text = text.replace("{blob}", self.blob).replace("{real}", self.real)
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


@attrs.frozen
class Migration:
    """The statements that take the schema from ``version - 1`` to ``version``."""

    version: int
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            """CREATE TABLE IF NOT EXISTS trunkline_schema (version INTEGER NOT NULL)""",
            """CREATE TABLE events (
                workspace TEXT NOT NULL, seq BIGINT NOT NULL, at {real} NOT NULL,
                type TEXT NOT NULL, contact_id TEXT, data TEXT NOT NULL,
                PRIMARY KEY (workspace, seq))""",
            """CREATE INDEX events_contact ON events (workspace, contact_id)""",
            """CREATE TABLE idempotency (
                workspace TEXT NOT NULL, key TEXT NOT NULL,
                contact_id TEXT NOT NULL, message_id TEXT NOT NULL,
                PRIMARY KEY (workspace, key))""",
            """CREATE TABLE customers (
                workspace TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
                PRIMARY KEY (workspace, id))""",
            """CREATE TABLE addresses (
                workspace TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
                customer_id TEXT NOT NULL, PRIMARY KEY (workspace, kind, value))""",
            """CREATE TABLE contacts (
                workspace TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
                thread_key TEXT, open INTEGER NOT NULL, created_at {real} NOT NULL,
                closed_at {real}, PRIMARY KEY (workspace, id))""",
            """CREATE INDEX contacts_thread ON contacts (workspace, thread_key) WHERE open = 1""",
            """CREATE INDEX contacts_closed ON contacts (workspace, closed_at)""",
            """CREATE TABLE messages (
                workspace TEXT NOT NULL, id TEXT NOT NULL, contact_id TEXT NOT NULL,
                seq BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (workspace, id))""",
            """CREATE INDEX messages_contact ON messages (workspace, contact_id, seq)""",
            """CREATE TABLE outbox (
                workspace TEXT NOT NULL, message_id TEXT NOT NULL, data TEXT NOT NULL,
                to_kind TEXT NOT NULL, to_value TEXT NOT NULL, attempts INTEGER NOT NULL,
                due_at {real} NOT NULL, PRIMARY KEY (workspace, message_id))""",
            """CREATE INDEX outbox_due ON outbox (due_at)""",
            """CREATE TABLE snapshots (
                workspace TEXT PRIMARY KEY, seq BIGINT NOT NULL, fingerprint TEXT NOT NULL,
                data {blob} NOT NULL)""",
            """CREATE TABLE leases (
                workspace TEXT PRIMARY KEY, node TEXT NOT NULL, expires_at {real} NOT NULL)""",
        ),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder: no set-up per call


def decode_row(data: str, cls: type[Any]) -> Any:
    """A model value (Contact, Customer, Message) back from its JSON column."""
    return load_value(json.loads(data), cls)


def contact_of(event: ev.Event) -> str | None:
    """The contact an event concerns, kept in its own column for retention and lookups."""
    for name in ("contact_id",):
        value = getattr(event, name, None)
        if isinstance(value, str):
            return value
    if isinstance(event, ev.ContactReceived):
        return event.contact.id
    if isinstance(event, ev.ContactOffered):
        return event.offer.contact_id
    if isinstance(event, ev.MessageReceived | ev.OutboundQueued):
        return event.message.contact_id
    return None


def event_rows(event: ev.Event, seq: int) -> list[Statement]:
    """The statements that append ``event`` as number ``seq`` and keep the lookups in step."""
    w = event.workspace
    data = dump_event(event)  # the parts below reuse its pieces: each value is encoded once
    rows: list[Statement] = [
        (
            "INSERT INTO events (workspace, seq, at, type, contact_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (w, seq, event.at, event.type, contact_of(event), encode(data)),
        )
    ]
    match event:
        case ev.CustomerCreated(customer=customer):
            rows.append(
                (
                    "INSERT INTO customers (workspace, id, data) VALUES (?, ?, ?) "
                    "ON CONFLICT (workspace, id) DO UPDATE SET data = excluded.data",
                    (w, customer.id, encode(data["customer"])),
                )
            )
            for address in customer.addresses:
                rows.append(
                    (
                        "INSERT INTO addresses (workspace, kind, value, customer_id) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (workspace, kind, value) "
                        "DO UPDATE SET customer_id = excluded.customer_id",
                        (w, address.kind, address.value, customer.id),
                    )
                )
        case ev.ContactReceived(contact=contact):
            rows.append(
                (
                    "INSERT INTO contacts (workspace, id, data, thread_key, open, created_at) "
                    "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (workspace, id) DO NOTHING",
                    (w, contact.id, encode(data["contact"]), contact.thread_key, event.at),
                )
            )
        case ev.MessageReceived(message=message, idempotency_key=key):
            rows.append(_message_row(w, message, seq, encode(data["message"])))
            if key is not None:
                rows.append(
                    (
                        "INSERT INTO idempotency (workspace, key, contact_id, message_id) "
                        "VALUES (?, ?, ?, ?)",
                        (w, key, message.contact_id, message.id),
                    )
                )
        case (
            ev.ContactClosed(contact_id=cid)
            | ev.ContactAbandoned(contact_id=cid)
            | ev.ContactRefused(contact_id=cid)
        ):
            rows.append(
                (
                    "UPDATE contacts SET open = 0, closed_at = ? WHERE workspace = ? AND id = ?",
                    (event.at, w, cid),
                )
            )
        case ev.OutboundQueued(message=message, to=to):
            encoded = encode(data["message"])
            rows.append(_message_row(w, message, seq, encoded))
            rows.append(
                (
                    "INSERT INTO outbox (workspace, message_id, data, to_kind, to_value, "
                    "attempts, due_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
                    (w, message.id, encoded, to.kind, to.value, event.at),
                )
            )
        case ev.SendAttemptFailed(message_id=mid, attempt=attempt, retry_at=retry_at):
            rows.append(
                (
                    "UPDATE outbox SET attempts = ?, due_at = ? "
                    "WHERE workspace = ? AND message_id = ?",
                    (attempt, retry_at, w, mid),
                )
            )
        case ev.MessageSent(message_id=mid) | ev.MessageFailed(message_id=mid):
            rows.append(("DELETE FROM outbox WHERE workspace = ? AND message_id = ?", (w, mid)))
        case _:
            pass
    return rows


def _message_row(workspace: str, message: Message, seq: int, encoded: str) -> Statement:
    return (
        "INSERT INTO messages (workspace, id, contact_id, seq, data) VALUES (?, ?, ?, ?, ?)",
        (workspace, message.id, message.contact_id, seq, encoded),
    )


# Reading ---------------------------------------------------------------------------------------

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
MESSAGES = "SELECT data FROM messages WHERE workspace = ? AND contact_id = ? ORDER BY seq"
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


def stored_events(rows: Iterable[Sequence[Any]]) -> list[StoredEvent]:
    return [StoredEvent(seq=int(seq), event=load_event(json.loads(data))) for seq, data in rows]


def outbox_entries(rows: Iterable[Sequence[Any]]) -> list[OutboxEntry]:
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
    return decode_row(rows[0][0], cls) if rows else None


def many(rows: Iterable[Sequence[Any]], cls: type[Any]) -> list[Any]:
    return [decode_row(row[0], cls) for row in rows]


def migrate(
    version: int | None,
    execute: Callable[[str], object],
    dialect: Dialect,
    *,
    upgrade: bool,
) -> int:
    """Bring a schema at ``version`` (None: an empty database) to :data:`SCHEMA_VERSION`.

    An empty database is created at once. An older one is upgraded only when ``upgrade`` is
    true (``trunkline db upgrade``); a newer one is refused. Returns the version reached.
    """
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaError(
            f"the database has schema version {version}, newer than this Trunkline knows "
            f"({SCHEMA_VERSION}): upgrade Trunkline, or point it at another database"
        )
    if version is not None and version < SCHEMA_VERSION and not upgrade:
        raise SchemaError(
            f"the database has schema version {version} and this Trunkline needs "
            f"{SCHEMA_VERSION}: run `trunkline db upgrade` first"
        )
    start = 0 if version is None else version
    for migration in MIGRATIONS:
        if migration.version > start:
            for statement in migration.statements:
                execute(dialect.sql(statement))
    if version is None:
        execute(dialect.sql(f"INSERT INTO trunkline_schema (version) VALUES ({SCHEMA_VERSION})"))
    elif start < SCHEMA_VERSION:
        execute(dialect.sql(f"UPDATE trunkline_schema SET version = {SCHEMA_VERSION}"))
    return SCHEMA_VERSION
