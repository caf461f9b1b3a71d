"""The SQL stores' schema: its tables, its numbered migrations, and bringing a database up to it.

The event log is the source of truth; beside it each SQL store keeps lookup tables (customers
by address, open contacts by thread, messages, the outbox, idempotency keys) that it updates
in the same transaction as the events it appends (:mod:`trunkline.sql.rows`), so a lookup
never disagrees with the log.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from .dialect import Dialect

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "SchemaError", "migrate"]


class SchemaError(Exception):
    """The database's schema is not the one this code knows (older or newer)."""


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
