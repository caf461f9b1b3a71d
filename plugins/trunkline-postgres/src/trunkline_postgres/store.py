"""The PostgreSQL store: one event log shared by several ``trunkline serve`` processes (nodes).

It is a :class:`trunkline.sql.SqlStore`: the shared schema, its migrations, events turned into
rows, the reads, snapshots, retention and group commit are core's. This module gives them
psycopg 3's asyncio API and a connection pool, and adds what several nodes need:

- **Gapless numbering across nodes.** An append's transaction takes a transaction-scoped
  advisory lock per workspace it writes to (in one global order, so two appends never wait
  for each other in a cycle), then reads each workspace's last ``seq`` in a statement of its
  own (under READ COMMITTED a statement sees everything committed before it began, so it sees
  the previous holder's rows), then inserts. The lock is held until the commit is flushed, so
  numbers are 1, 2, 3… with no gap or duplicate whichever node appends, and each append's
  events are consecutive. A failing append stores nothing and uses no number.
- **Durability and group commit.** ``synchronous_commit`` is left on: a commit returns after
  the WAL is flushed, and ``append`` returns after its commit. While one commit is being made,
  the appends that arrive wait, and the next transaction takes all of them (``SqlStore``'s
  group commit): one lock, one flush and one notification per workspace for the whole group.
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

import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import psycopg
import psycopg.conninfo
from psycopg import sql as pgsql
from psycopg_pool import AsyncConnectionPool

from trunkline import Secret, TemporaryFailure, TrunklineError
from trunkline.events import Event
from trunkline.sql import Batch, Dialect, Plan, SchemaError, SqlStore, Statement, arun_plan, migrate

__all__ = ["DIALECT", "PostgresStore", "workspace_lock_key"]

log = logging.getLogger("trunkline_postgres")

T = TypeVar("T")

DIALECT = Dialect(
    name="postgres",
    blob="BYTEA",
    real="DOUBLE PRECISION",
    placeholder="%s",
    json_text="({column}::jsonb #>> '{braced}')",
    no_limit=None,
)

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


def workspace_lock_key(schema: str, workspace: str) -> int:
    """The advisory lock key of a workspace's appends: the same on every node.

    A signed 32-bit hash of the schema and the workspace (Python's ``hash`` differs between
    processes, so it cannot be used). Two workspaces that collide only share a lock.
    """
    digest = hashlib.blake2b(f"{schema}\0{workspace}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


_TABLE = re.compile(r"(?:INSERT INTO|UPDATE|DELETE FROM) (\w+) ")


def _runs(
    statements: Sequence[Statement], spell: Callable[[str], str]
) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Statements as runs of one text with many parameter rows, for ``executemany``, each
    text in PostgreSQL's spelling (``spell``).

    Each statement of :func:`trunkline.sql.event_rows` changes one table and reads no
    other, and no table refers to another, so statements on different tables may be
    reordered: they are gathered table by table, keeping their order within a table, and a
    run of the same text becomes one ``executemany`` (half the cost of one ``execute`` a
    row). A statement of another shape keeps everything in the order given.
    """
    tables: dict[str, list[Statement]] = {}
    for one in statements:
        found = _TABLE.match(one[0])
        if found is None:
            tables = {"": list(statements)}
            break
        tables.setdefault(found[1], []).append(one)
    runs: list[tuple[str, list[tuple[Any, ...]]]] = []
    for in_order in tables.values():
        for statement, params in in_order:
            text = spell(statement)
            if runs and runs[-1][0] == text:
                runs[-1][1].append(params)
            else:
                runs.append((text, [params]))
    return runs


# Failures of the connection rather than of one append's rows: no retry on it makes sense.
_CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


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


class PostgresStore(SqlStore):
    """The event log and its lookups in a PostgreSQL database several nodes share."""

    name = "postgres"
    dialect = DIALECT
    engine = "PostgreSQL"

    def __init__(
        self,
        dsn: str | Secret,
        *,
        min_connections: int = 2,
        max_connections: int = 20,
        statement_timeout: float = 30.0,
        schema: str = "public",
    ) -> None:
        super().__init__()
        self._dsn = dsn if isinstance(dsn, Secret) else Secret(dsn)
        self.target = _Target(self._dsn.get())
        self.min_connections = min_connections
        self.max_connections = max_connections
        self.statement_timeout = statement_timeout
        self.schema = schema
        self.channel = CHANNEL if schema == "public" else f"{CHANNEL}.{schema}"
        self.append_lanes = APPEND_LANES
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

    def _reason(self, exc: BaseException) -> str:
        return self.target.reason(exc)  # never the password

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
        except SchemaError as exc:
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
            migrate(version, statements.append, DIALECT, upgrade=self.upgrade)
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
        if events and not self._opened:
            raise TemporaryFailure("the PostgreSQL store could not append: it is not open")
        return await super().append(events)

    async def _commit(self, group: list[Batch]) -> None:
        """Write a group of appends in one transaction: one commit and flush for all.

        The fast path writes them straight. When that fails for something one append may
        carry (a redelivered provider id, a value PostgreSQL refuses), it is rolled back
        and written again with a savepoint per append, so only the failing append fails.
        When the connection fails, every append of the group fails.
        """
        pool = await self._connections("append")
        async with pool.connection() as conn:
            try:
                await self._write(conn, group, isolated=False)
            except _CONNECTION_ERRORS:
                raise
            except Exception:
                await self._write(conn, group, isolated=True)

    async def _write(
        self, conn: psycopg.AsyncConnection[Any], group: list[Batch], *, isolated: bool
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
                statements = [s for batch in group for s in self._number(batch, seqs)]
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
                        await self._execute(conn, self._number(batch, seqs))
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

    async def _execute(
        self, conn: psycopg.AsyncConnection[Any], statements: list[Statement]
    ) -> None:
        for statement, rows in _runs(statements, self._sql):
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
            raise self._failure("read", exc) from exc

    async def last_seq(self, workspace: str) -> int:
        # From the database, not a cache: other nodes append too.
        rows = await self._query(LAST_SEQ, (workspace,))
        return int(rows[0][0])

    # Writing a plan (retention, snapshots) --------------------------------------------------

    async def _transaction(self, plan: Plan[T], doing: str, *, commit: bool = True) -> T:
        pool = await self._connections(doing)
        with anyio.CancelScope(shield=True):
            try:
                async with pool.connection() as conn, conn.transaction() as transaction:

                    async def execute(statement: str, params: tuple[Any, ...]) -> list[Any]:
                        cursor = await conn.execute(self.dialect.sql(statement), params)
                        return await cursor.fetchall() if cursor.description is not None else []

                    result = await arun_plan(plan, execute)
                    if not commit:
                        raise psycopg.Rollback(transaction)
            except psycopg.Error as exc:
                raise self._failure(doing, exc) from exc
        return result

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
