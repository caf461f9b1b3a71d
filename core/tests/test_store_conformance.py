"""The built-in stores pass the store conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from trunkline.builtin.memory_store import MemoryStore
from trunkline.sql import SqliteStore
from trunkline.store import Store
from trunkline.testing.store_suite import StoreConformance


class TestMemoryStore(StoreConformance):
    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[Store]:
        store = MemoryStore()
        await store.open()
        yield store
        await store.aclose()


class TestSqliteStore(StoreConformance):
    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = tmp_path / "trunkline.db"

    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[Store]:
        store = SqliteStore(self.path)
        await store.open()
        try:
            yield store
        finally:
            await store.aclose()

    reopen = open_store


def test_a_store_that_keeps_nothing_gets_no_durability_tests() -> None:
    assert TestMemoryStore.not_applicable == {
        "test_everything_appended_is_there_after_reopening": (
            "the store keeps nothing between openings (no reopen)"
        ),
        "test_deleting_the_newest_contacts_never_turns_the_numbering_back_on_reopening": (
            "the store keeps nothing between openings (no reopen)"
        ),
    }
    assert TestMemoryStore.test_everything_appended_is_there_after_reopening is None  # type: ignore[comparison-overlap]
    assert TestSqliteStore.not_applicable == {}
    assert callable(TestSqliteStore.test_everything_appended_is_there_after_reopening)
