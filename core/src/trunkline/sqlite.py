"""The SQLite store, the embedded default of ``trunkline serve`` and the demo.

Durability: the database runs in WAL mode with ``synchronous = FULL``, so a commit returns only
after the write-ahead log is fsynced; ``append`` returns only after its commit, and the runtime
acknowledges senders only after ``append``. Group commit: while one commit is being made,
every ``append`` that arrives waits, and the next commit takes all of them at once, so
concurrent writers share the cost of one fsync. Each append is a savepoint of its own inside
the shared transaction: one that fails (a redelivery racing on its idempotency key) does not
take the others down.

SQLite's calls block, so they run in worker threads (``anyio.to_thread``): the writing
connection is used by one thread at a time, and a few reading connections serve lookups in
parallel (WAL lets readers go on while the writer commits).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from . import sqlstore as sql
from .channels import TemporaryFailure
from .errors import TrunklineError
from .events import Event
from .model import Address, Contact, Customer, Message
from .retention import RetentionReport
from .store import SEARCH_LIMIT, OutboxEntry, SearchResult, Snapshot, StoredEvent

__all__ = ["SqliteStore", "StoreCorrupted"]

DIALECT = sql.Dialect(name="sqlite", blob="BLOB", real="REAL", lower="trunkline_lower")
SEARCH_CUSTOMERS, SEARCH_CONTACTS = sql.search_statements(DIALECT)


def _lower(text: str | None) -> str | None:
    """SQL ``trunkline_lower``: Python's lower-casing, for every script, not only ASCII."""
    return text.lower() if isinstance(text, str) else None


READERS = 4  # reading connections: WAL lets them read while the writer commits


class StoreCorrupted(TrunklineError):
    """The database file is damaged or is not a Trunkline database: nothing is guessed."""


class _Batch:
    """One ``append`` call waiting for (or leading) a group commit."""

    __slots__ = ("error", "events", "lead", "rows", "seq", "wake")

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events
        # Encoded now, outside the commit: the commit only numbers and writes them.
        self.rows = [sql.event_rows(event) for event in events]
        self.wake = anyio.Event()
        self.lead = False  # woken to lead the next commit rather than because it is done
        self.seq = 0
        self.error: BaseException | None = None


class SqliteStore:
    """The event log and its lookups in one SQLite file."""

    name = "sqlite"

    def __init__(
        self, path: str | Path, *, busy_timeout: float = 5.0, check_on_open: bool = True
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.check_on_open = check_on_open
        self.upgrade = False  # set by `trunkline db upgrade` before open()
        self._writer: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []  # idle reading connections
        self._inline: sqlite3.Connection | None = None  # point lookups, on the event loop
        self._write_limiter = anyio.CapacityLimiter(1)
        self._read_limiter = anyio.CapacityLimiter(READERS)
        self._seqs: dict[str, int] = {}
        self._queue: list[_Batch] = []
        self._leading = False
        self.commits = 0  # transactions made (each one fsync): for tests and benchmarks

    # Opening and closing ------------------------------------------------------------------

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self._open, limiter=self._write_limiter)

    def _connect(self, busy_timeout: float | None = None) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout if busy_timeout is None else busy_timeout,
            isolation_level=None,  # transactions are begun and committed by hand
            check_same_thread=False,  # used from worker threads, one at a time
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # fsync the WAL at every commit
        conn.create_function(DIALECT.lower, 1, _lower, deterministic=True)
        return conn

    @property
    def where(self) -> str:
        """How errors name the store: ``store "PATH"``, the path as configured."""
        return f'store "{self.path}"'

    def _open(self) -> None:
        opened: list[sqlite3.Connection] = []
        try:
            with self._explained():
                self._make_directory()
                writer = self._connect()
                opened.append(writer)
                if self.check_on_open:
                    self._quick_check(writer)
                version = self._version(writer)
                writer.execute("BEGIN IMMEDIATE")
                try:
                    sql.migrate(version, writer.execute, DIALECT, upgrade=self.upgrade)
                    writer.execute("COMMIT")
                except BaseException:
                    writer.execute("ROLLBACK")
                    raise
                self._seqs = {w: int(seq) for w, seq in writer.execute(sql.LAST_SEQS)}
                for _ in range(READERS):
                    opened.append(self._connect())
                opened.append(self._connect(busy_timeout=0.0))
        except BaseException:
            for conn in opened:
                conn.close()
            raise
        self._writer, *self._readers, self._inline = opened

    async def check(self) -> None:
        """Raise what :meth:`open` would raise, without creating or changing anything.

        ``trunkline check-config`` calls it: a file that exists is opened read-only and
        checked as ``open`` checks it (damage, another application's database, the schema
        version); a file that does not exist yet must be creatable (its nearest existing
        directory is a directory this user may write in; missing ones are created by
        ``open``).
        """
        await anyio.to_thread.run_sync(self._check)

    def _check(self) -> None:
        path = self.path
        with self._explained():
            if path.is_dir():
                raise self._is_a_directory()
            if not path.exists():
                self._creatable()
                return
            uri = f"{path.absolute().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout)
            try:
                if self.check_on_open:
                    self._quick_check(conn)
                version = self._version(conn)
                sql.migrate(version, lambda statement: None, DIALECT, upgrade=self.upgrade)
            finally:
                conn.close()

    @contextlib.contextmanager
    def _explained(self) -> Iterator[None]:
        """Every failure to open as one :class:`TrunklineError` that names the file and says
        what to do (a damaged file: :class:`StoreCorrupted`)."""
        where = self.where
        try:
            yield
        except TrunklineError:
            raise
        except sql.SchemaError as exc:
            raise TrunklineError(f"{where}: {exc}") from None
        except sqlite3.OperationalError as exc:
            if self.path.is_dir():
                raise self._is_a_directory() from None
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise TrunklineError(
                    f"{where}: is locked by another process ({text}, after waiting "
                    f"{self.busy_timeout:g} s): stop the other process, or raise "
                    "[store] busy_timeout"
                ) from None
            if "unable to open" in text or "readonly" in text or "read-only" in text:
                raise TrunklineError(
                    f"{where}: cannot be opened for writing ({text}): check that this user "
                    "may read and write the file and its directory"
                ) from None
            raise self._corrupted(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._corrupted(exc) from None
        except OSError as exc:
            raise TrunklineError(
                f"{where}: {exc.strerror or exc}: check that this user may read and write the "
                "file and its directory"
            ) from None

    def _corrupted(self, exc: Exception) -> StoreCorrupted:
        return StoreCorrupted(
            f"{self.where}: cannot be used: {exc}. Nothing was read or changed; restore the "
            "file from a backup, or move it aside to start empty"
        )

    def _is_a_directory(self) -> TrunklineError:
        return TrunklineError(
            f"{self.where}: is a directory, not a database file: point [store] path at a "
            f'file, e.g. "{self.path / "trunkline.db"}"'
        )

    def _quick_check(self, conn: sqlite3.Connection) -> None:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise StoreCorrupted(
                f"{self.where}: the file is damaged ({'; '.join(problems)}); nothing was read. "
                "Restore it from a backup, or move it aside to start empty"
            )

    def _make_directory(self) -> None:
        """Create the file's missing directories, as the documentation promises."""
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._creatable()  # says why, when it can tell
            raise TrunklineError(
                f'{self.where}: cannot create its directory "{parent}": '
                f"{exc.strerror or exc}; create it yourself, or point [store] path elsewhere"
            ) from None

    def _creatable(self) -> None:
        """Raise unless the file's missing directories (and the file) could be created."""
        existing = self.path.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise TrunklineError(
                f'{self.where}: cannot create its directory "{self.path.parent}": '
                f'"{existing}" is a file, not a directory; point [store] path elsewhere, or '
                f'move "{existing}" aside'
            )
        if not os.access(existing, os.W_OK | os.X_OK):
            raise TrunklineError(
                f'{self.where}: cannot create it: this user may not write in "{existing}"; '
                "point [store] path at a directory it may write in, or change the permissions"
            )

    def _version(self, conn: sqlite3.Connection) -> int | None:
        found = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'trunkline_schema'"
        ).fetchall()
        if not found:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise StoreCorrupted(
                    f"{self.where}: the file is an SQLite database, but not Trunkline's; point "
                    "[store] path at another file (nothing in it was changed)"
                )
            return None
        row = conn.execute("SELECT version FROM trunkline_schema").fetchone()
        if row is None:
            raise StoreCorrupted(
                f"{self.where}: the schema version row is missing; restore the file from a "
                "backup, or move it aside to start empty"
            )
        return int(row[0])

    async def aclose(self) -> None:
        def close() -> None:
            for conn in [self._writer, self._inline, *self._readers]:
                if conn is not None:
                    conn.close()
            self._writer, self._inline, self._readers = None, None, []

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(close, limiter=self._write_limiter)

    # Appending: group commit --------------------------------------------------------------

    async def append(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        batch = _Batch(events)
        # Shielded: once queued, the batch is committed or failed whatever the caller does,
        # and a waiter chosen to lead the next commit must not be cancelled out of it.
        with anyio.CancelScope(shield=True):
            self._queue.append(batch)
            if self._leading:
                await batch.wake.wait()
                if not batch.lead:
                    return self._result(batch)
            self._leading = True
            group, self._queue = self._queue, []
            try:
                await anyio.to_thread.run_sync(self._commit, group, limiter=self._write_limiter)
            finally:
                for done in group:
                    done.wake.set()
                if self._queue:  # arrived meanwhile: the first of them leads the next commit
                    self._queue[0].lead = True
                    self._queue[0].wake.set()
                else:
                    self._leading = False
        return self._result(batch)

    @staticmethod
    def _result(batch: _Batch) -> int:
        if batch.error is not None:
            raise TemporaryFailure(f"the SQLite store could not append: {batch.error}")
        return batch.seq

    def _commit(self, group: list[_Batch]) -> None:
        """Write a group of appends in one transaction: one fsync for all of them.

        The fast path writes them straight; if any statement fails (a redelivery racing on
        its idempotency key, say), the transaction is rolled back and written again with a
        savepoint per append, so only the failing append fails.
        """
        conn = self._writer
        if conn is None:
            for batch in group:
                batch.error = RuntimeError("the store is closed")
            return
        before = dict(self._seqs)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for batch in group:
                    self._write(conn, batch)
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK")
                self._seqs = dict(before)
                conn.execute("BEGIN IMMEDIATE")
                for batch in group:
                    self._write_alone(conn, batch)
            conn.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:  # the commit itself failed: disk full, I/O error…
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            self._seqs = before
            for batch in group:
                batch.error = batch.error or exc

    def _write(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        seqs = self._seqs
        for event, rows in zip(batch.events, batch.rows, strict=True):
            seq = seqs.get(event.workspace, 0) + 1
            seqs[event.workspace] = seq
            for statement, params in sql.numbered(rows, seq):
                conn.execute(statement, params)
            batch.seq = seq

    def _write_alone(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        """Write one append as a savepoint, so a failing one is undone alone."""
        before = dict(self._seqs)
        conn.execute("SAVEPOINT batch")
        try:
            self._write(conn, batch)
            conn.execute("RELEASE batch")
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            self._seqs = before
            batch.error = exc

    # Reading ------------------------------------------------------------------------------

    async def _query(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        def run() -> list[Any]:
            if not self._readers:
                raise TemporaryFailure("the SQLite store is not open")
            conn = self._readers.pop()  # the limiter leaves one idle for each caller
            try:
                return conn.execute(statement, params).fetchall()
            finally:
                self._readers.append(conn)

        try:
            return await anyio.to_thread.run_sync(run, limiter=self._read_limiter)
        except sqlite3.Error as exc:
            raise TemporaryFailure(f"the SQLite store could not read: {exc}") from exc

    async def read(
        self, workspace: str, after: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        rows = await self._query(
            sql.READ_EVENTS, (workspace, after, -1 if limit is None else limit)
        )
        return sql.stored_events(rows)

    async def last_seq(self, workspace: str) -> int:
        return self._seqs.get(workspace, 0)

    async def _lookup(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        """A point lookup by a unique key, read on the event loop itself.

        Such a read touches a few cached pages of one index: tens of microseconds, less than
        handing it to a worker thread and back costs (measured: the web-chat intake, three
        lookups a message, went from 1,400 to 2,800 messages/s). A WAL reader does not wait
        for the writer; should SQLite still say it is busy (recovering the WAL, say), the
        lookup goes to a worker thread rather than make the loop wait.
        """
        conn = self._inline
        if conn is not None:
            try:
                return conn.execute(statement, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise TemporaryFailure(f"the SQLite store could not read: {exc}") from exc
            except sqlite3.Error as exc:
                raise TemporaryFailure(f"the SQLite store could not read: {exc}") from exc
        return await self._query(statement, params)

    async def seen(self, workspace: str, idempotency_key: str) -> tuple[str, str] | None:
        rows = await self._lookup(sql.SEEN, (workspace, idempotency_key))
        return (rows[0][0], rows[0][1]) if rows else None

    async def customer_by_address(self, workspace: str, address: Address) -> Customer | None:
        rows = await self._lookup(sql.CUSTOMER_BY_ADDRESS, (workspace, address.kind, address.value))
        customer: Customer | None = sql.one(rows, Customer)
        return customer

    async def open_contact(self, workspace: str, thread_key: str) -> Contact | None:
        contact: Contact | None = sql.one(
            await self._lookup(sql.OPEN_CONTACT, (workspace, thread_key)), Contact
        )
        return contact

    async def contact(self, workspace: str, contact_id: str) -> Contact | None:
        contact: Contact | None = sql.one(
            await self._lookup(sql.CONTACT, (workspace, contact_id)), Contact
        )
        return contact

    async def contacts_of(
        self, workspace: str, customer_id: str, limit: int = 50
    ) -> Sequence[Contact]:
        contacts: list[Contact] = sql.many(
            await self._query(sql.CONTACTS_OF, (workspace, customer_id, limit)), Contact
        )
        return contacts

    async def messages(self, workspace: str, contact_id: str) -> Sequence[Message]:
        messages: list[Message] = sql.many(
            await self._query(sql.MESSAGES, (workspace, contact_id)), Message
        )
        return messages

    async def contact_events(self, workspace: str, contact_id: str) -> Sequence[StoredEvent]:
        return sql.stored_events(await self._query(sql.CONTACT_EVENTS, (workspace, contact_id)))

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
        return sql.outbox_entries(await self._query(sql.OUTBOX_DUE, (now, limit)))

    # Retention ----------------------------------------------------------------------------

    async def retain(
        self, workspace: str, before: float, mode: str, *, dry_run: bool = False
    ) -> RetentionReport:
        def run() -> RetentionReport:
            assert self._writer is not None
            conn = self._writer
            ids = [row[0] for row in conn.execute(sql.RETAINABLE, (workspace, before))]
            messages = events = 0
            conn.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(ids), sql.RETENTION_CHUNK):
                    chunk = ids[start : start + sql.RETENTION_CHUNK]
                    params = (workspace, *chunk)
                    count_messages, count_events = sql.retention_counts(chunk)
                    messages += conn.execute(count_messages, params).fetchone()[0]
                    events += conn.execute(count_events, params).fetchone()[0]
                    if dry_run:
                        continue
                    if mode == "delete":
                        for statement, values in sql.retention_deletes(workspace, chunk):
                            conn.execute(statement, values)
                        continue
                    select_events, select_messages = sql.retention_selects(chunk)
                    for seq, data in conn.execute(select_events, params).fetchall():
                        new = sql.anonymised_event_json(data)
                        conn.execute(sql.ANONYMISE_EVENT, (new, workspace, seq))
                    for mid, data in conn.execute(select_messages, params).fetchall():
                        new = sql.anonymised_value_json(data, Message)
                        conn.execute(sql.ANONYMISE_MESSAGE, (new, workspace, mid))
                    select = sql.SELECT_CONTACTS + sql.in_list(chunk)
                    for cid, data in conn.execute(select, params).fetchall():
                        new = sql.anonymised_value_json(data, Contact)
                        conn.execute(sql.ANONYMISE_CONTACT, (new, workspace, cid))
                conn.execute("ROLLBACK" if dry_run else "COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return RetentionReport(
                workspace=workspace,
                mode=mode,
                before=before,
                contacts=len(ids),
                messages=messages,
                events=events,
                dry_run=dry_run,
            )

        try:
            return await anyio.to_thread.run_sync(run, limiter=self._write_limiter)
        except sqlite3.Error as exc:
            raise TemporaryFailure(f"the SQLite store could not apply retention: {exc}") from exc

    # Snapshots ----------------------------------------------------------------------------

    async def load_snapshot(self, workspace: str) -> Snapshot | None:
        rows = await self._query(sql.LOAD_SNAPSHOT, (workspace,))
        if not rows:
            return None
        seq, fingerprint, data = rows[0]
        return Snapshot(seq=int(seq), fingerprint=fingerprint, data=bytes(data))

    async def save_snapshot(self, workspace: str, snapshot: Snapshot) -> None:
        def save() -> None:
            assert self._writer is not None
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                self._writer.execute(
                    sql.SAVE_SNAPSHOT,
                    (workspace, snapshot.seq, snapshot.fingerprint, snapshot.data),
                )
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise

        try:
            await anyio.to_thread.run_sync(save, limiter=self._write_limiter)
        except sqlite3.Error as exc:
            raise TemporaryFailure(f"the SQLite store could not save a snapshot: {exc}") from exc
