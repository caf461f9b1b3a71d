"""The PostgreSQL store: one event log shared by several ``trunkline serve`` processes (nodes).

It runs the SQL of :mod:`trunkline.sqlstore` (the schema, its migrations, events turned into
rows) through psycopg 3's asyncio API and a connection pool, and adds what several nodes need:

- **Gapless numbering across nodes.** An append's transaction takes a transaction-scoped
  advisory lock per workspace it writes to (in one global order, so two appends never wait
  for each other in a cycle), then reads each workspace's last ``seq`` in a statement of its
  own (under READ COMMITTED a statement sees everything committed before it began, so it sees
  the previous holder's rows), then inserts. The lock is held until the commit is flushed, so
  numbers are 1, 2, 3… with no gap or duplicate whichever node appends, and each append's
  events are consecutive. A failing append stores nothing and uses no number.
- **Durability and group commit.** ``synchronous_commit`` is left on: a commit returns after
  the WAL is flushed, and ``append`` returns after its commit. While one commit is being made,
  the appends that arrive wait, and the next transaction takes all of them, as the SQLite
  store does: one lock, one flush and one notification per workspace for the whole group.
  When one append of a group is refused (a redelivered provider id, say), the group is
  written again with a savepoint per append, so it fails alone.
- **Wake-ups.** The transaction sends ``pg_notify('trunkline_appends', workspace)`` for each
  workspace it appended to, delivered at commit. ``wait_for_appends`` listens on a
  connection of its own and skips notifications sent by this store's pooled connections.
- **Leases** in the ``leases`` table, judged by the database's clock.

psycopg's async API runs on asyncio only (``trunkline serve`` runs on asyncio). Connections
belong to the event loop they were made in: ``open`` connects once to create or check the
schema, and the pool is made at first use in the loop that uses it. This is the only module of
the plugin that imports psycopg: the entry point imports it when a store is built.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import psycopg
import psycopg.conninfo
from psycopg import sql as pgsql
from psycopg_pool import AsyncConnectionPool

from trunkline import Address, Contact, Customer, Message, Secret, TemporaryFailure, TrunklineError
from trunkline import sqlstore as sql
from trunkline.events import Event
from trunkline.retention import RetentionReport
from trunkline.store import SEARCH_LIMIT, OutboxEntry, SearchResult, Snapshot, StoredEvent

__all__ = ["DIALECT", "PostgresStore", "workspace_lock_key"]

log = logging.getLogger("trunkline_postgres")

DIALECT = sql.Dialect(
    name="postgres",
    blob="BYTEA",
    real="DOUBLE PRECISION",
    placeholder="%s",
    json_text="({column}::jsonb #>> '{braced}')",
)
SEARCH_CUSTOMERS, SEARCH_CONTACTS = (DIALECT.sql(s) for s in sql.search_statements(DIALECT))

CHANNEL = "trunkline_appends"  # the NOTIFY channel of the default schema
CONNECT_TIMEOUT = 10  # seconds, unless the dsn sets connect_timeout
POOL_TIMEOUT = 30.0  # seconds an operation waits for a free pooled connection
APPEND_LANES = 1  # group commits under way at once per store; more measured no faster
LISTEN_IDLE = 60.0  # seconds without a wait after which try_lease closes the listen connection

# Advisory lock keys. The two-integer form (namespace, key) and the one-bigint form are
# separate key spaces in PostgreSQL, so the migration lock never collides with a workspace's.
MIGRATION_LOCK = 0x54524B4C_4D494752  # "TRKLMIGR": one node at a time creates or upgrades
WORKSPACE_LOCKS = 0x54524B4C  # "TRKL": the namespace of the per-workspace append locks

LOCK_MIGRATION = "SELECT pg_advisory_xact_lock(%s)"
LOCK_WORKSPACE = "SELECT pg_advisory_xact_lock(%s, %s)"
LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM events WHERE workspace = %s"
LAST_SEQS = (  # a subquery each: MAX(seq) of one workspace is one step down its index
    "SELECT w, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE workspace = w) "
    "FROM unnest(%s::text[]) AS w"
)
NOTIFY = "SELECT pg_notify(%s, %s)"
SCHEMA_VERSION_TABLE = "SELECT to_regclass('trunkline_schema') IS NOT NULL"
READ_VERSION = "SELECT version FROM trunkline_schema"
NOW = "extract(epoch from clock_timestamp())::double precision"  # the database's clock
TRY_LEASE = (
    "INSERT INTO leases (workspace, node, expires_at) "
    f"VALUES (%s, %s, {NOW} + %s::double precision) "
    "ON CONFLICT (workspace) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at "
    f"WHERE leases.node = excluded.node OR leases.expires_at <= {NOW} "
    "RETURNING node"
)
RELEASE_LEASE = "DELETE FROM leases WHERE workspace = %s AND node = %s"


# Helpers ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _pg(statement: str) -> str:
    """A shared statement (written with ``?``) in PostgreSQL's spelling."""
    return DIALECT.sql(statement)


def workspace_lock_key(schema: str, workspace: str) -> int:
    """The advisory lock key of a workspace's appends: the same on every node.

    A signed 32-bit hash of the schema and the workspace (Python's ``hash`` differs between
    processes, so it cannot be used). Two workspaces that collide only share a lock.
    """
    digest = hashlib.blake2b(f"{schema}\0{workspace}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


_TABLE = re.compile(r"(?:INSERT INTO|UPDATE|DELETE FROM) (\w+) ")


def _runs(statements: Sequence[sql.Statement]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Statements as runs of one text with many parameter rows, for ``executemany``.

    Each statement of :func:`trunkline.sqlstore.event_rows` changes one table and reads no
    other, and no table refers to another, so statements on different tables may be
    reordered: they are gathered table by table, keeping their order within a table, and a
    run of the same text becomes one ``executemany`` (half the cost of one ``execute`` a
    row). A statement of another shape keeps everything in the order given.
    """
    tables: dict[str, list[sql.Statement]] = {}
    for one in statements:
        found = _TABLE.match(one[0])
        if found is None:
            tables = {"": list(statements)}
            break
        tables.setdefault(found[1], []).append(one)
    runs: list[tuple[str, list[tuple[Any, ...]]]] = []
    for in_order in tables.values():
        for statement, params in in_order:
            if runs and runs[-1][0] == _pg(statement):
                runs[-1][1].append(params)
            else:
                runs.append((_pg(statement), [params]))
    return runs


# Failures of the connection rather than of one append's rows: no retry on it makes sense.
_CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


class _Batch:
    """One ``append`` call waiting for (or leading) a group commit."""

    __slots__ = ("done", "error", "events", "seq", "taken", "wake")

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events
        self.wake = anyio.Event()  # set when done, or to nudge it to lead the next commit
        self.taken = False  # in a commit under way
        self.done = False
        self.seq = 0
        self.error: BaseException | None = None


class _Target:
    """Where a dsn points, for messages: host, port, database and user, never the password."""

    def __init__(self, dsn: str) -> None:
        try:
            params = psycopg.conninfo.conninfo_to_dict(dsn)
        except psycopg.Error:
            raise TrunklineError(
                "PostgreSQL store: the dsn is not a valid connection string (expected "
                "postgresql://user:password@host:port/database or host=… port=… dbname=…)"
            ) from None
        self.password = str(params.get("password") or "")
        self.host = str(params.get("host") or params.get("hostaddr") or "") or os.environ.get(
            "PGHOST", "the local socket"
        )
        self.port = str(params.get("port") or os.environ.get("PGPORT", "5432"))
        self.database = str(params.get("dbname") or os.environ.get("PGDATABASE", "") or "")
        self.user = str(params.get("user") or os.environ.get("PGUSER", "") or "")
        self.connect_timeout = "connect_timeout" in params or "PGCONNECT_TIMEOUT" in os.environ

    def __str__(self) -> str:
        where = f"PostgreSQL store {self.host}:{self.port}"
        if self.database:
            where += f"/{self.database}"
        return where

    def reason(self, exc: BaseException) -> str:
        """``exc`` on one line, with the password blanked should a message ever hold it."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self.password:
            text = text.replace(self.password, "********")
        return text


# The store ----------------------------------------------------------------------------------


class PostgresStore:
    """The event log and its lookups in a PostgreSQL database several nodes share."""

    name = "postgres"

    def __init__(
        self,
        dsn: str | Secret,
        *,
        min_connections: int = 2,
        max_connections: int = 20,
        statement_timeout: float = 30.0,
        schema: str = "public",
    ) -> None:
        self._dsn = dsn if isinstance(dsn, Secret) else Secret(dsn)
        self.target = _Target(self._dsn.get())
        self.min_connections = min_connections
        self.max_connections = max_connections
        self.statement_timeout = statement_timeout
        self.schema = schema
        self.channel = CHANNEL if schema == "public" else f"{CHANNEL}.{schema}"
        self.upgrade = False  # set by `trunkline db upgrade` before open()
        self.append_lanes = APPEND_LANES
        self.commits = 0  # append transactions committed: for tests and benchmarks
        self._queue: list[_Batch] = []
        self._leaders = 0
        self._opened = False
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        self._pool_home: anyio.lowlevel.EventLoopToken | None = None
        self._pool_lock = anyio.Lock()
        self._listener_home: anyio.lowlevel.EventLoopToken | None = None
        self._own_pids: set[int] = set()  # backends of our pool: their notifications are ours
        self._listener: psycopg.AsyncConnection[Any] | None = None
        self._listen_lock = anyio.Lock()
        self._listened = False  # the listen connection was up at least once
        self._heard: set[str] = set()  # workspaces notified and not yet reported
        self._missed = False  # the listen connection was lost: appends may have gone unheard
        self._last_wait = 0.0  # when the latest wait_for_appends ended (anyio's clock)
        self.listen_idle = LISTEN_IDLE

    # Opening and closing ------------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"autocommit": True}  # transactions are begun by hand
        if not self.target.connect_timeout:
            kwargs["connect_timeout"] = CONNECT_TIMEOUT
        return kwargs

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """The connection that creates or upgrades the schema: no statement timeout, since
        an upgrade of a large database may take long, as may waiting for another node's."""
        conn = await psycopg.AsyncConnection.connect(self._dsn.get(), **self._connect_kwargs())
        await self._configure(conn, statement_timeout=0.0)
        return conn

    async def _configure(
        self, conn: psycopg.AsyncConnection[Any], statement_timeout: float | None = None
    ) -> None:
        """Every connection works in the store's schema, with its statement timeout."""
        seconds = self.statement_timeout if statement_timeout is None else statement_timeout
        timeout = f"{round(seconds * 1000)}ms"
        await conn.execute(
            "SELECT set_config('search_path', %s, false), "
            "set_config('statement_timeout', %s, false)",
            (self.schema, timeout),
        )
        self._own_pids.add(conn.info.backend_pid)

    def _cannot_connect(self, exc: BaseException) -> TrunklineError:
        who = f' as user "{self.target.user}"' if self.target.user else ""
        return TrunklineError(
            f"{self.target}: cannot connect{who}: {self.target.reason(exc)}. Check that "
            f"PostgreSQL is running on {self.target.host} port {self.target.port} and accepts "
            "connections from this host (listen_addresses, pg_hba.conf), and the dsn's host, "
            "port, database, user and password"
        )

    async def open(self) -> None:
        try:
            conn = await self._connect()
        except psycopg.Error as exc:
            raise self._cannot_connect(exc) from None
        try:
            async with conn:
                await self._migrate(conn)
        except sql.SchemaError as exc:
            raise TrunklineError(f"{self.target}: {exc}") from None
        except psycopg.errors.DuplicateTable as exc:
            raise TrunklineError(
                f'{self.target}: schema "{self.schema}" already has tables of another '
                f"application ({self.target.reason(exc)}). Nothing was changed; give Trunkline "
                'a schema of its own: schema = "trunkline" in [store]'
            ) from None
        except psycopg.Error as exc:
            raise TrunklineError(
                f"{self.target}: could not check or create the schema: "
                f"{self.target.reason(exc)}. Nothing was changed"
            ) from None
        self._opened = True

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Create or check the schema in one transaction, one node at a time."""
        async with conn.transaction():
            await conn.execute(LOCK_MIGRATION, (MIGRATION_LOCK,))
            if self.schema != "public":
                await conn.execute(
                    pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        pgsql.Identifier(self.schema)
                    )
                )
            version = await self._version(conn)
            statements: list[str] = []
            sql.migrate(version, statements.append, DIALECT, upgrade=self.upgrade)
            for statement in statements:
                await conn.execute(statement)

    async def _version(self, conn: psycopg.AsyncConnection[Any]) -> int | None:
        found = await (await conn.execute(SCHEMA_VERSION_TABLE)).fetchone()
        if found is None or not found[0]:
            return None
        row = await (await conn.execute(READ_VERSION)).fetchone()
        if row is None:
            raise TrunklineError(
                f"{self.target}: the table trunkline_schema has no version row; nothing was "
                "changed. Restore the database from a backup, or point the store elsewhere"
            )
        return int(row[0])

    async def aclose(self) -> None:
        self._opened = False
        here = anyio.lowlevel.current_token()
        with anyio.CancelScope(shield=True):
            listener, self._listener = self._listener, None
            if listener is not None and self._listener_home == here:
                await listener.close()
            pool, self._pool = self._pool, None
            if pool is not None and self._pool_home == here:
                await pool.close()

    async def _connections(self, doing: str) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        """The pool, opened at first use in the event loop that uses it.

        Connections belong to the event loop they were made in. ``trunkline db`` opens the
        store in one ``anyio.run`` and uses it in another, so the pool is made where it is
        used; ``open`` has already connected once, to check the schema.
        """
        if not self._opened:
            raise TemporaryFailure(f"the PostgreSQL store could not {doing}: it is not open")
        here = anyio.lowlevel.current_token()
        if self._pool is not None and self._pool_home == here:
            return self._pool
        async with self._pool_lock:
            if self._pool is None or self._pool_home != here:
                if self._pool is not None:
                    log.warning(
                        "%s: used from another event loop than before; "
                        "its connections there are dropped",
                        self.target,
                    )
                pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
                    self._dsn.get(),
                    min_size=self.min_connections,
                    max_size=self.max_connections,
                    kwargs=self._connect_kwargs(),
                    configure=self._configure,
                    check=AsyncConnectionPool.check_connection,  # dropped ones are replaced
                    timeout=POOL_TIMEOUT,
                    name="trunkline",
                    open=False,
                )
                await pool.open(wait=False)  # the first operations wait for connections
                self._pool, self._pool_home = pool, here
        return self._pool

    # Appending: group commit -------------------------------------------------------------

    async def append(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        if not self._opened:
            raise TemporaryFailure("the PostgreSQL store could not append: it is not open")
        batch = _Batch(events)
        # Shielded: once queued, the batch is committed or failed whatever the caller does,
        # and a waiter nudged to lead the next commit must not be cancelled out of it.
        with anyio.CancelScope(shield=True):
            self._queue.append(batch)
            while not batch.done:
                if not batch.taken and self._leaders < self.append_lanes:
                    await self._lead()
                else:
                    batch.wake = anyio.Event()
                    await batch.wake.wait()
        if batch.error is not None:
            raise TemporaryFailure(
                f"the PostgreSQL store could not append: {self.target.reason(batch.error)}"
            ) from batch.error
        return batch.seq

    async def _lead(self) -> None:
        """Commit every queued append in one transaction, then wake them."""
        self._leaders += 1
        group, self._queue = self._queue, []
        for batch in group:
            batch.taken = True
        try:
            await self._commit(group)
        finally:
            self._leaders -= 1
            for batch in group:
                batch.done = True
                batch.wake.set()
            if self._queue:  # arrived meanwhile: the first of them leads the next commit
                self._queue[0].wake.set()

    async def _commit(self, group: list[_Batch]) -> None:
        """Write a group of appends in one transaction: one commit and flush for all.

        The fast path writes them straight. When that fails for something one append may
        carry (a redelivered provider id, a value PostgreSQL refuses), it is rolled back
        and written again with a savepoint per append, so only the failing append fails.
        When the connection fails, every append of the group fails.
        """
        try:
            pool = await self._connections("append")
            async with pool.connection() as conn:
                try:
                    await self._write(conn, group, isolated=False)
                except _CONNECTION_ERRORS:
                    raise
                except Exception:
                    await self._write(conn, group, isolated=True)
            self.commits += 1
        except Exception as exc:  # nothing of the group was stored: each append is told
            for batch in group:
                batch.error = batch.error or exc

    async def _write(
        self, conn: psycopg.AsyncConnection[Any], group: list[_Batch], *, isolated: bool
    ) -> None:
        workspaces = sorted(
            {event.workspace for batch in group for event in batch.events},
            key=lambda w: (self._lock_key(w), w),
        )
        async with conn.transaction():
            # Locks in key order, so two appends never wait for each other in a cycle; then
            # the last numbers, in statements begun after every lock was granted (each
            # statement sees what was committed before it began).
            seqs: dict[str, int] = {}
            if len(workspaces) == 1:  # the usual case, in the cheapest statements
                (workspace,) = workspaces
                await conn.execute(LOCK_WORKSPACE, (WORKSPACE_LOCKS, self._lock_key(workspace)))
                row = await (await conn.execute(LAST_SEQ, (workspace,))).fetchone()
                seqs[workspace] = int(row[0]) if row is not None else 0
            else:
                async with conn.pipeline():  # still one after the other, in one round trip
                    for workspace in workspaces:
                        await conn.execute(
                            LOCK_WORKSPACE, (WORKSPACE_LOCKS, self._lock_key(workspace))
                        )
                rows = await (await conn.execute(LAST_SEQS, (workspaces,))).fetchall()
                seqs.update((workspace, int(seq)) for workspace, seq in rows)
            if not isolated:
                statements = [s for batch in group for s in self._rows(batch, seqs)]
                async with conn.pipeline():  # the rows and notifications in one round trip
                    await self._execute(conn, statements)
                    for workspace in workspaces:
                        await conn.execute(NOTIFY, (self.channel, workspace))
                return
            appended: set[str] = set()
            for batch in group:
                before = dict(seqs)
                try:
                    async with conn.transaction():  # a savepoint
                        await self._execute(conn, self._rows(batch, seqs))
                except _CONNECTION_ERRORS:
                    raise
                except Exception as exc:
                    seqs = before
                    batch.error = exc
                else:
                    appended.update(event.workspace for event in batch.events)
            for workspace in sorted(appended):
                await conn.execute(NOTIFY, (self.channel, workspace))

    def _lock_key(self, workspace: str) -> int:
        return workspace_lock_key(self.schema, workspace)

    @staticmethod
    def _rows(batch: _Batch, seqs: dict[str, int]) -> list[sql.Statement]:
        """The statements of one append, numbering its events on from ``seqs``."""
        statements: list[sql.Statement] = []
        for event in batch.events:
            seq = seqs[event.workspace] = seqs[event.workspace] + 1
            statements += sql.event_rows(event, seq)
            batch.seq = seq
        return statements

    @staticmethod
    async def _execute(conn: psycopg.AsyncConnection[Any], statements: list[sql.Statement]) -> None:
        for statement, rows in _runs(statements):
            if len(rows) == 1:
                await conn.execute(statement, rows[0])
            else:
                async with conn.cursor() as cursor:
                    await cursor.executemany(statement, rows)

    # Reading ------------------------------------------------------------------------------

    async def _query(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        pool = await self._connections("read")
        try:
            async with pool.connection() as conn:
                return await (await conn.execute(statement, params)).fetchall()
        except psycopg.Error as exc:
            raise TemporaryFailure(
                f"the PostgreSQL store could not read: {self.target.reason(exc)}"
            ) from exc

    async def read(
        self, workspace: str, after: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        rows = await self._query(_pg(sql.READ_EVENTS), (workspace, after, limit))
        return sql.stored_events(rows)

    async def last_seq(self, workspace: str) -> int:
        # From the database, not a cache: other nodes append too.
        rows = await self._query(LAST_SEQ, (workspace,))
        return int(rows[0][0])

    async def seen(self, workspace: str, idempotency_key: str) -> tuple[str, str] | None:
        rows = await self._query(_pg(sql.SEEN), (workspace, idempotency_key))
        return (rows[0][0], rows[0][1]) if rows else None

    async def customer_by_address(self, workspace: str, address: Address) -> Customer | None:
        rows = await self._query(
            _pg(sql.CUSTOMER_BY_ADDRESS), (workspace, address.kind, address.value)
        )
        customer: Customer | None = sql.one(rows, Customer)
        return customer

    async def open_contact(self, workspace: str, thread_key: str) -> Contact | None:
        contact: Contact | None = sql.one(
            await self._query(_pg(sql.OPEN_CONTACT), (workspace, thread_key)), Contact
        )
        return contact

    async def contact(self, workspace: str, contact_id: str) -> Contact | None:
        contact: Contact | None = sql.one(
            await self._query(_pg(sql.CONTACT), (workspace, contact_id)), Contact
        )
        return contact

    async def contacts_of(
        self, workspace: str, customer_id: str, limit: int = 50
    ) -> Sequence[Contact]:
        contacts: list[Contact] = sql.many(
            await self._query(_pg(sql.CONTACTS_OF), (workspace, customer_id, limit)), Contact
        )
        return contacts

    async def messages(self, workspace: str, contact_id: str) -> Sequence[Message]:
        messages: list[Message] = sql.many(
            await self._query(_pg(sql.MESSAGES), (workspace, contact_id)), Message
        )
        return messages

    async def contact_events(self, workspace: str, contact_id: str) -> Sequence[StoredEvent]:
        rows = await self._query(_pg(sql.CONTACT_EVENTS), (workspace, contact_id))
        return sql.stored_events(rows)

    async def search(self, workspace: str, text: str, limit: int = SEARCH_LIMIT) -> SearchResult:
        if not text:
            return SearchResult()
        like = sql.search_pattern(text)
        customers = await self._query(SEARCH_CUSTOMERS, (workspace, text, like, like, limit))
        contacts = await self._query(
            SEARCH_CONTACTS, (workspace, text, text, like, like, workspace, text, like, like, limit)
        )
        return SearchResult(
            customers=tuple(sql.many(customers, Customer)),
            contacts=tuple(sql.many(contacts, Contact)),
        )

    async def outbox_due(self, now: float, limit: int = 100) -> Sequence[OutboxEntry]:
        return sql.outbox_entries(await self._query(_pg(sql.OUTBOX_DUE), (now, limit)))

    # Retention ----------------------------------------------------------------------------

    async def retain(
        self, workspace: str, before: float, mode: str, *, dry_run: bool = False
    ) -> RetentionReport:
        pool = await self._connections("apply retention")
        with anyio.CancelScope(shield=True):
            try:
                async with pool.connection() as conn:
                    report = await self._retain(conn, workspace, before, mode, dry_run)
            except psycopg.Error as exc:
                raise TemporaryFailure(
                    f"the PostgreSQL store could not apply retention: {self.target.reason(exc)}"
                ) from exc
        return report

    async def _retain(
        self,
        conn: psycopg.AsyncConnection[Any],
        workspace: str,
        before: float,
        mode: str,
        dry_run: bool,
    ) -> RetentionReport:
        """The SQLite store's retention, statement for statement, in one transaction."""

        async def rows(statement: str, params: tuple[Any, ...]) -> list[Any]:
            return await (await conn.execute(DIALECT.sql(statement), params)).fetchall()

        messages = events = 0
        async with conn.transaction() as transaction:
            ids = [row[0] for row in await rows(sql.RETAINABLE, (workspace, before))]
            for start in range(0, len(ids), sql.RETENTION_CHUNK):
                chunk = ids[start : start + sql.RETENTION_CHUNK]
                params = (workspace, *chunk)
                count_messages, count_events = sql.retention_counts(chunk)
                messages += int((await rows(count_messages, params))[0][0])
                events += int((await rows(count_events, params))[0][0])
                if dry_run:
                    continue
                if mode == "delete":
                    for statement, values in sql.retention_deletes(workspace, chunk):
                        await conn.execute(DIALECT.sql(statement), values)
                    continue
                select_events, select_messages = sql.retention_selects(chunk)
                for seq, data in await rows(select_events, params):
                    new = sql.anonymised_event_json(data)
                    await conn.execute(_pg(sql.ANONYMISE_EVENT), (new, workspace, seq))
                for mid, data in await rows(select_messages, params):
                    new = sql.anonymised_value_json(data, Message)
                    await conn.execute(_pg(sql.ANONYMISE_MESSAGE), (new, workspace, mid))
                for cid, data in await rows(sql.SELECT_CONTACTS + sql.in_list(chunk), params):
                    new = sql.anonymised_value_json(data, Contact)
                    await conn.execute(_pg(sql.ANONYMISE_CONTACT), (new, workspace, cid))
            if dry_run:
                raise psycopg.Rollback(transaction)
        return RetentionReport(
            workspace=workspace,
            mode=mode,
            before=before,
            contacts=len(ids),
            messages=messages,
            events=events,
            dry_run=dry_run,
        )

    # Snapshots ----------------------------------------------------------------------------

    async def load_snapshot(self, workspace: str) -> Snapshot | None:
        rows = await self._query(_pg(sql.LOAD_SNAPSHOT), (workspace,))
        if not rows:
            return None
        seq, fingerprint, data = rows[0]
        return Snapshot(seq=int(seq), fingerprint=fingerprint, data=bytes(data))

    async def save_snapshot(self, workspace: str, snapshot: Snapshot) -> None:
        pool = await self._connections("save a snapshot")
        with anyio.CancelScope(shield=True):
            try:
                async with pool.connection() as conn:
                    await conn.execute(
                        _pg(sql.SAVE_SNAPSHOT),
                        (workspace, snapshot.seq, snapshot.fingerprint, snapshot.data),
                    )
            except psycopg.Error as exc:
                raise TemporaryFailure(
                    f"the PostgreSQL store could not save a snapshot: {self.target.reason(exc)}"
                ) from exc

    # Leases -------------------------------------------------------------------------------

    async def try_lease(self, workspace: str, node: str, ttl: float) -> bool:
        pool = await self._connections("take a lease")
        await self._close_idle_listener()
        try:
            async with pool.connection() as conn:
                row = await (await conn.execute(TRY_LEASE, (workspace, node, ttl))).fetchone()
        except psycopg.Error as exc:
            raise TemporaryFailure(
                f"the PostgreSQL store could not take the lease of workspace {workspace!r}: "
                f"{self.target.reason(exc)}"
            ) from exc
        return row is not None

    async def release_lease(self, workspace: str, node: str) -> None:
        pool = await self._connections("release a lease")
        with anyio.CancelScope(shield=True):
            try:
                async with pool.connection() as conn:
                    await conn.execute(RELEASE_LEASE, (workspace, node))
            except psycopg.Error as exc:
                raise TemporaryFailure(
                    f"the PostgreSQL store could not release the lease of workspace "
                    f"{workspace!r}: {self.target.reason(exc)}"
                ) from exc

    # Wake-ups -----------------------------------------------------------------------------

    async def wait_for_appends(self, workspaces: Sequence[str], patience: float) -> set[str]:
        """Workspaces of ``workspaces`` another store appended to, or empty after ``patience``.

        Notifications heard between calls are kept, so an append made just after the caller
        last read is reported by the next call at once. The first call starts listening;
        appends before it are not reported. When the listen connection is lost, the call
        that gets it back reports every workspace asked about: what happened meanwhile was
        not heard, and a wake-up too many only costs a read.
        """
        wanted = set(workspaces)
        deadline = anyio.current_time() + max(patience, 0.0)
        found: set[str] = set()
        with anyio.move_on_after(patience):
            async with self._listen_lock:  # one waiter at a time reads the connection
                found = self._take(wanted)
                while not found:
                    conn = await self._listening()
                    if conn is None:  # cannot listen now: wait out the patience
                        await anyio.sleep(deadline - anyio.current_time())
                        break
                    if self._missed:  # heard nothing while the connection was down
                        self._missed = False
                        found = wanted
                        break
                    remaining = deadline - anyio.current_time()
                    if remaining <= 0:
                        break
                    try:
                        # Whole packets: stopping inside one would drop the rest of it.
                        async for notify in conn.notifies(timeout=remaining, stop_after=1):
                            if notify.pid not in self._own_pids:
                                self._heard.add(notify.payload)
                    except psycopg.Error as exc:
                        log.warning(
                            "%s: the connection listening for appends was lost (%s); reconnecting",
                            self.target,
                            self.target.reason(exc),
                        )
                        await self._drop_listener()
                        continue
                    found = self._take(wanted)
        self._last_wait = anyio.current_time()
        return found

    async def _close_idle_listener(self) -> None:
        """Stop listening when nobody has waited for ``listen_idle`` seconds.

        A listening connection that is never read holds PostgreSQL's notification queue back
        for every session, until NOTIFY fails everywhere. A node that owns no workspace stops
        waiting but keeps renewing leases, so the renewal closes the idle listener; the next
        wait opens it again and reports every workspace asked about.
        """
        if self._listener is None or self._listen_lock.locked():
            return
        if anyio.current_time() - self._last_wait >= self.listen_idle:
            log.info("%s: nobody waits for appends; closing the listen connection", self.target)
            await self._drop_listener()

    def _take(self, wanted: Iterable[str]) -> set[str]:
        found = self._heard.intersection(wanted)
        self._heard -= found
        return found

    async def _listening(self) -> psycopg.AsyncConnection[Any] | None:
        """The listen connection, (re)connected and listening; None when it cannot be."""
        here = anyio.lowlevel.current_token()
        if self._listener is not None and self._listener_home != here:
            self._listener = None  # made in another event loop: it cannot be used here
            self._missed = True
        if self._listener is not None and not self._listener.closed:
            return self._listener
        if self._listener is not None:
            await self._drop_listener()
        if not self._opened:
            raise TemporaryFailure(
                "the PostgreSQL store could not wait for appends: it is not open"
            )
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            conn = await psycopg.AsyncConnection.connect(self._dsn.get(), **self._connect_kwargs())
            await conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(self.channel)))
        except psycopg.Error as exc:
            if conn is not None:
                await conn.close()
            if self._listened:
                self._missed = True
            log.warning(
                "%s: cannot listen for appends (%s); retrying at the next wait",
                self.target,
                self.target.reason(exc),
            )
            return None
        self._listener, self._listener_home = conn, here
        self._listened = True
        return conn

    async def _drop_listener(self) -> None:
        conn, self._listener = self._listener, None
        self._missed = True
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await conn.close()
