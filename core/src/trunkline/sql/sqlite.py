"""The SQLite store, the embedded default of ``trunkline serve`` and the demo.

Durability: the database runs in WAL mode with ``synchronous = FULL``, so a commit returns only
after the write-ahead log is fsynced; ``append`` returns only after its commit, and the runtime
acknowledges senders only after ``append``. Group commit (:class:`~trunkline.sql.SqlStore`'s):
while one commit is being made, every ``append`` that arrives waits, and the next commit takes
all of them at once, so concurrent writers share the cost of one fsync. Each append is a
savepoint of its own inside the shared transaction: one that fails (a redelivery racing on its
idempotency key) does not take the others down.

SQLite's calls block, so they run in worker threads (``anyio.to_thread``): the writing
connection is used by one thread at a time, and a few reading connections serve lookups in
parallel (WAL lets readers go on while the writer commits).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from ..channels import TemporaryFailure
from ..errors import TrunklineError
from .base import Batch, SqlStore
from .dialect import Dialect
from .plan import Plan, run_plan
from .queries import LAST_SEQS
from .schema import SchemaError, migrate

__all__ = ["DIALECT", "SqliteStore", "StoreCorrupted"]

T = TypeVar("T")

DIALECT = Dialect(name="sqlite", blob="BLOB", real="REAL", lower="trunkline_lower")


def _lower(text: str | None) -> str | None:
    """SQL ``trunkline_lower``: Python's lower-casing, for every script, not only ASCII."""
    return text.lower() if isinstance(text, str) else None


READERS = 4  # reading connections: WAL lets them read while the writer commits


class StoreCorrupted(TrunklineError):
    """The database file is damaged or is not a Trunkline database: nothing is guessed."""


class SqliteStore(SqlStore):
    """The event log and its lookups in one SQLite file."""

    name = "sqlite"
    dialect = DIALECT
    engine = "SQLite"

    def __init__(
        self, path: str | Path, *, busy_timeout: float = 5.0, check_on_open: bool = True
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.check_on_open = check_on_open
        self._writer: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []  # idle reading connections
        self._inline: sqlite3.Connection | None = None  # point lookups, on the event loop
        self._write_limiter = anyio.CapacityLimiter(1)
        self._read_limiter = anyio.CapacityLimiter(READERS)
        self._seqs: dict[str, int] = {}

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
                    migrate(version, writer.execute, DIALECT, upgrade=self.upgrade)
                    writer.execute("COMMIT")
                except BaseException:
                    writer.execute("ROLLBACK")
                    raise
                self._seqs = {w: int(seq) for w, seq in writer.execute(LAST_SEQS)}
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
                migrate(version, lambda statement: None, DIALECT, upgrade=self.upgrade)
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
        except SchemaError as exc:
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

    # Appending -----------------------------------------------------------------------------

    async def _commit(self, group: list[Batch]) -> None:
        await anyio.to_thread.run_sync(self._commit_group, group, limiter=self._write_limiter)

    def _commit_group(self, group: list[Batch]) -> None:
        """Write a group of appends in one transaction: one fsync for all of them.

        The fast path writes them straight; if any statement fails (a redelivery racing on
        its idempotency key, say), the transaction is rolled back and written again with a
        savepoint per append, so only the failing append fails.
        """
        conn = self._writer
        if conn is None:
            raise RuntimeError("the store is closed")
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
        except sqlite3.Error:  # the commit itself failed: disk full, I/O error…
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            self._seqs = before
            raise

    def _write(self, conn: sqlite3.Connection, batch: Batch) -> None:
        # The rows need no adapting: their statements are written in SQLite's spelling.
        for statement, params in self._number(batch, self._seqs):
            conn.execute(statement, params)

    def _write_alone(self, conn: sqlite3.Connection, batch: Batch) -> None:
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

    async def last_seq(self, workspace: str) -> int:
        return self._seqs.get(workspace, 0)  # this process is the file's only writer

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
            raise self._failure("read", exc) from exc

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
                    raise self._failure("read", exc) from exc
            except sqlite3.Error as exc:
                raise self._failure("read", exc) from exc
        return await self._query(statement, params)

    # Writing a plan (retention, snapshots) --------------------------------------------------

    async def _transaction(self, plan: Plan[T], doing: str, *, commit: bool = True) -> T:
        def run() -> T:
            conn = self._writer
            if conn is None:
                raise TemporaryFailure(f"the SQLite store could not {doing}: it is not open")
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = run_plan(plan, lambda text, params: conn.execute(text, params).fetchall())
                conn.execute("COMMIT" if commit else "ROLLBACK")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                    conn.execute("ROLLBACK")
                raise
            return result

        try:
            return await anyio.to_thread.run_sync(run, limiter=self._write_limiter)
        except sqlite3.Error as exc:
            raise self._failure(doing, exc) from exc
