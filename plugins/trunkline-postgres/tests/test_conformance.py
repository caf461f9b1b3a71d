"""The PostgreSQL store passes Trunkline's store conformance suite, on a real server.

Each test gets a fresh schema in the session's database; ``reopen`` opens a second store on
the same schema, as a restarted node would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from trunkline.store import Store
from trunkline.testing.store_suite import StoreConformance

from .conftest import opened


class TestPostgresStore(StoreConformance):
    @pytest.fixture(autouse=True)
    def _database(self, database: str, schema: str) -> None:
        self.dsn = database
        self.schema = schema

    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[Store]:
        async with opened(self.dsn, self.schema) as store:
            yield store

    reopen = open_store
