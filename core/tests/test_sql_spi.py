"""The SQL store SPI, ``trunkline.sql``: a store written against it alone is a whole store.

``PlainStore`` below is what a third party would write for another engine, following the
table of "Writing an SQL store" (docs/storage.md) and nothing else: SQLite through one plain
connection, no threads, no cache. It passes the store conformance suite, so the primitives
the page lists are all a store has to provide. The modules of 0.1, ``trunkline.sqlite`` and
``trunkline.sqlstore``, still work and warn.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

import trunkline.sql
from trunkline.deprecation import TrunklineDeprecationWarning
from trunkline.sql import Batch, Dialect, Plan, SqlStore, migrate, run_plan
from trunkline.store import Store
from trunkline.testing.store_suite import StoreConformance

T = TypeVar("T")


class PlainStore(SqlStore):
    """SQLite through one connection, written against the SPI's documented primitives only."""

    name = "plain"
    dialect = Dialect(name="plain", blob="BLOB", real="REAL", lower="unicode_lower")
    engine = "plain SQLite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        assert self._conn is not None, "not open"
        return self._conn

    async def open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.create_function("unicode_lower", 1, lambda t: t.lower() if isinstance(t, str) else t)
        made = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'trunkline_schema'")
        version = None
        if made.fetchone() is not None:
            version = conn.execute("SELECT version FROM trunkline_schema").fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        migrate(version, conn.execute, self.dialect, upgrade=self.upgrade)
        conn.execute("COMMIT")
        self._conn = conn

    async def aclose(self) -> None:
        self.conn.close()

    async def last_seq(self, workspace: str) -> int:
        rows = await self._query(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE workspace = ?", (workspace,)
        )
        return int(rows[0][0])

    async def _query(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self.conn.execute(statement, params).fetchall()
        except sqlite3.Error as exc:
            raise self._failure("read", exc) from exc

    async def _transaction(self, plan: Plan[T], doing: str, *, commit: bool = True) -> T:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = run_plan(plan, lambda s, p: conn.execute(self.dialect.sql(s), p).fetchall())
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if commit else "ROLLBACK")
        return result

    async def _commit(self, group: list[Batch]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        seqs = dict(conn.execute("SELECT workspace, MAX(seq) FROM events GROUP BY workspace"))
        for batch in group:
            before = dict(seqs)
            conn.execute("SAVEPOINT batch")
            try:
                for statement, params in self._number(batch, seqs):
                    conn.execute(self._sql(statement), params)
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK TO batch")
                seqs, batch.error = before, exc
            conn.execute("RELEASE batch")
        conn.execute("COMMIT")


class TestAStoreWrittenAgainstTheSpiAlone(StoreConformance):
    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = tmp_path / "plain.db"

    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[Store]:
        store = PlainStore(self.path)
        await store.open()
        try:
            yield store
        finally:
            await store.aclose()

    reopen = open_store


def test_the_plain_store_is_a_store_and_gets_every_test_of_the_suite() -> None:
    assert isinstance(PlainStore(Path("unused")), Store)
    assert TestAStoreWrittenAgainstTheSpiAlone.not_applicable == {}


@pytest.mark.anyio
async def test_a_failing_read_names_the_engine_and_what_it_could_not_do(tmp_path: Path) -> None:
    store = PlainStore(tmp_path / "plain.db")
    await store.open()
    store.conn.execute("DROP TABLE messages")
    with pytest.raises(
        trunkline.TemporaryFailure, match=r"^the plain SQLite store could not read: "
    ):
        await store.messages("w", "ct1")
    await store.aclose()


# The modules of 0.1 -------------------------------------------------------------------------


def test_trunkline_sqlite_still_gives_the_sqlite_store_and_warns_at_the_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "trunkline.sqlite", raising=False)
    with pytest.warns(TrunklineDeprecationWarning) as warned:
        from trunkline.sqlite import SqliteStore, StoreCorrupted
    (warning,) = warned
    assert str(warning.message) == (
        "the module trunkline.sqlite is deprecated and will be removed in Trunkline 0.3; "
        "import SqliteStore from trunkline.sql"
    )
    assert warning.filename == __file__  # the importing line, not the import machinery
    assert (SqliteStore, StoreCorrupted) == (
        trunkline.sql.SqliteStore,
        trunkline.sql.StoreCorrupted,
    )


def test_trunkline_sqlstore_still_has_every_name_it_had_and_warns_at_the_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "trunkline.sqlstore", raising=False)
    with pytest.warns(
        TrunklineDeprecationWarning, match=r"trunkline\.sqlstore .* 0\.3; use trunkline\.sql"
    ):
        import trunkline.sqlstore as old
    names_of_0_1 = {
        "ANONYMISE_CONTACT", "ANONYMISE_EVENT", "ANONYMISE_MESSAGE", "CONTACT", "CONTACTS_OF",
        "CONTACT_EVENTS", "CUSTOMER_BY_ADDRESS", "LAST_SEQS", "LOAD_SNAPSHOT", "MESSAGES",
        "MIGRATIONS", "OPEN_CONTACT", "OUTBOX_DUE", "READ_EVENTS", "RETAINABLE",
        "RETENTION_CHUNK", "SAVE_SNAPSHOT", "SCHEMA_VERSION", "SEEN", "SELECT_CONTACTS", "SEQ",
        "Dialect", "Migration", "SchemaError", "Statement", "anonymised_event_json",
        "anonymised_value_json", "decode_row", "encode", "event_rows", "in_list", "many",
        "migrate", "numbered", "one", "outbox_entries", "retention_counts", "retention_deletes",
        "retention_selects", "search_pattern", "search_statements", "stored_events",
    }  # fmt: skip
    assert names_of_0_1 <= set(old.__all__)
    assert all(hasattr(old, name) for name in old.__all__)
    assert old.event_rows is trunkline.sql.event_rows
    assert old.MIGRATIONS is trunkline.sql.MIGRATIONS
