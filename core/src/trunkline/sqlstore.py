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
from .events import contact_id_of
from .model import Address, Message
from .store import OutboxEntry, StoredEvent

__all__ = [
    "ANONYMISE_CONTACT",
    "ANONYMISE_EVENT",
    "ANONYMISE_MESSAGE",
    "CONTACT",
    "CONTACTS_OF",
    "CONTACT_EVENTS",
    "CUSTOMER_BY_ADDRESS",
    "LAST_SEQS",
    "LOAD_SNAPSHOT",
    "MESSAGES",
    "MIGRATIONS",
    "OPEN_CONTACT",
    "OUTBOX_DUE",
    "READ_EVENTS",
    "RETAINABLE",
    "RETENTION_CHUNK",
    "SAVE_SNAPSHOT",
    "SCHEMA_VERSION",
    "SEEN",
    "SELECT_CONTACTS",
    "SEQ",
    "Dialect",
    "Migration",
    "SchemaError",
    "Statement",
    "anonymised_event_json",
    "anonymised_value_json",
    "decode_row",
    "encode",
    "event_rows",
    "in_list",
    "many",
    "migrate",
    "numbered",
    "one",
    "outbox_entries",
    "retention_counts",
    "retention_deletes",
    "retention_selects",
    "search_pattern",
    "search_statements",
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
    # Lower-casing text as Python's str.lower does (search): SQLite's own LOWER knows ASCII
    # only, so its store registers a function of this name on each connection.
    lower: str = "LOWER"
    # A text field of a JSON column: {column}, and the keys as {dotted} (a.b) or {braced} ({a,b}).
    json_text: str = "json_extract({column}, '$.{dotted}')"

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
                customer_id TEXT NOT NULL DEFAULT '',
                thread_key TEXT, open INTEGER NOT NULL, created_at {real} NOT NULL,
                closed_at {real}, retained INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (workspace, id))""",
            """CREATE INDEX contacts_thread ON contacts (workspace, thread_key) WHERE open = 1""",
            """CREATE INDEX contacts_closed ON contacts (workspace, closed_at)""",
            """CREATE INDEX contacts_customer ON contacts (workspace, customer_id, created_at)""",
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


class _Seq:
    """Stands for the event's sequence number in rows encoded before it is known."""

    def __repr__(self) -> str:
        return "SEQ"


SEQ: Any = _Seq()


def numbered(rows: list[Statement], seq: int) -> list[Statement]:
    """``rows`` from ``event_rows(event)`` with the sequence number filled in."""
    return [(text, tuple(seq if p is SEQ else p for p in params)) for text, params in rows]


def event_rows(event: ev.Event, seq: int | None = None) -> list[Statement]:
    """The statements that append ``event`` as number ``seq`` and keep the lookups in step.

    Without ``seq`` the rows hold :data:`SEQ` in its place (fill it in with :func:`numbered`):
    a store can encode events as they arrive and number them when it commits.
    """
    if seq is None:
        seq = SEQ
    w = event.workspace
    data = dump_event(event)  # the parts below reuse its pieces: each value is encoded once
    rows: list[Statement] = [
        (
            "INSERT INTO events (workspace, seq, at, type, contact_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (w, seq, event.at, event.type, contact_id_of(event), encode(data)),
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
                    "INSERT INTO contacts (workspace, id, data, customer_id, thread_key, open, "
                    "created_at) VALUES (?, ?, ?, ?, ?, 1, ?) "
                    "ON CONFLICT (workspace, id) DO NOTHING",
                    (
                        w,
                        contact.id,
                        encode(data["contact"]),
                        contact.customer_id,
                        contact.thread_key,
                        event.at,
                    ),
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


# Retention (see trunkline.retention) -----------------------------------------------------------

RETAINABLE = (
    "SELECT id FROM contacts WHERE workspace = ? AND open = 0 AND retained = 0 "
    "AND closed_at < ? ORDER BY closed_at"
)
RETENTION_CHUNK = 500  # contacts per statement (IN lists stay short)


def in_list(ids: Sequence[str]) -> str:
    return "(" + ", ".join("?" * len(ids)) + ")"


def retention_counts(ids: Sequence[str]) -> list[str]:
    """Counting statements for a dry run: messages, events."""
    where = f"workspace = ? AND contact_id IN {in_list(ids)}"
    return [
        f"SELECT count(*) FROM messages WHERE {where}",
        f"SELECT count(*) FROM events WHERE {where}",
    ]


def retention_deletes(workspace: str, ids: Sequence[str]) -> list[Statement]:
    """Statements deleting the contacts ``ids`` everywhere."""
    where = f"workspace = ? AND contact_id IN {in_list(ids)}"
    params = (workspace, *ids)
    return [
        (
            "DELETE FROM outbox WHERE workspace = ? AND message_id IN "
            f"(SELECT id FROM messages WHERE {where})",
            (workspace, *params),
        ),
        (f"DELETE FROM idempotency WHERE {where}", params),
        (f"DELETE FROM messages WHERE {where}", params),
        # The workspace's newest event stays (a contact's last event is its closing, which
        # quotes nobody): the log's numbering must never go back.
        (
            f"DELETE FROM events WHERE {where} AND seq < "
            "(SELECT MAX(seq) FROM events WHERE workspace = ?)",
            (*params, workspace),
        ),
        (f"DELETE FROM contacts WHERE workspace = ? AND id IN {in_list(ids)}", params),
    ]


def retention_selects(ids: Sequence[str]) -> tuple[str, str]:
    """The event rows and message rows of the contacts ``ids``, to anonymise."""
    where = f"workspace = ? AND contact_id IN {in_list(ids)}"
    return (
        f"SELECT seq, data FROM events WHERE {where}",
        f"SELECT id, data FROM messages WHERE {where}",
    )


ANONYMISE_EVENT = "UPDATE events SET data = ? WHERE workspace = ? AND seq = ?"
ANONYMISE_MESSAGE = "UPDATE messages SET data = ? WHERE workspace = ? AND id = ?"
ANONYMISE_CONTACT = "UPDATE contacts SET data = ?, retained = 1 WHERE workspace = ? AND id = ?"
SELECT_CONTACTS = "SELECT id, data FROM contacts WHERE workspace = ? AND id IN "


def anonymised_event_json(data: str) -> str:
    from .retention import anonymise_event

    return encode(dump_event(anonymise_event(load_event(json.loads(data)))))


def anonymised_value_json(data: str, cls: type[Any]) -> str:
    from .codec import dump_value
    from .retention import anonymise_contact_or_message

    return encode(dump_value(anonymise_contact_or_message(decode_row(data, cls))))


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
