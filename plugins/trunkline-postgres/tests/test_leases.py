"""Workspace leases between nodes: one holder at a time, judged by the database's clock.

Each test opens two stores on one schema, as two ``trunkline serve`` processes would.
"""

from __future__ import annotations

import time

import anyio
import psycopg
import pytest

from trunkline_postgres.store import PostgresStore

from .conftest import opened

pytestmark = pytest.mark.anyio

W = "acme"


async def test_only_one_of_two_nodes_gets_a_workspaces_lease(database: str, schema: str) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        assert await a.try_lease(W, "node-a", 10) is True
        assert await b.try_lease(W, "node-b", 10) is False


async def test_two_nodes_racing_for_a_free_lease_get_it_once(database: str, schema: str) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        won: list[str] = []

        async def race(store: PostgresStore, node: str) -> None:
            if await store.try_lease(W, node, 10):
                won.append(node)

        async with anyio.create_task_group() as tg:
            for n in range(5):
                tg.start_soon(race, a, f"a{n}")
                tg.start_soon(race, b, f"b{n}")
        assert len(won) == 1


async def test_renewing_keeps_the_lease(database: str, schema: str) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        assert await a.try_lease(W, "node-a", 0.5)
        for _ in range(3):
            await anyio.sleep(0.3)
            assert await a.try_lease(W, "node-a", 0.5)  # renewed before it expires
            assert not await b.try_lease(W, "node-b", 0.5)


async def test_an_expired_lease_goes_to_the_other_node(database: str, schema: str) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        assert await a.try_lease(W, "node-a", 0.5)
        assert not await b.try_lease(W, "node-b", 0.5)
        await anyio.sleep(0.7)  # node-a died: no renewal
        assert await b.try_lease(W, "node-b", 0.5)
        assert not await a.try_lease(W, "node-a", 0.5)  # a node that comes back must wait


async def test_releasing_hands_the_lease_over_at_once(database: str, schema: str) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        assert await a.try_lease(W, "node-a", 60)
        await b.release_lease(W, "node-b")  # not the holder: nothing happens
        assert not await b.try_lease(W, "node-b", 60)
        await a.release_lease(W, "node-a")
        assert await b.try_lease(W, "node-b", 60)


async def test_leases_are_per_workspace(database: str, schema: str) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        assert await a.try_lease("acme", "node-a", 60)
        assert await b.try_lease("globex", "node-b", 60)
        assert not await a.try_lease("globex", "node-a", 60)


async def test_the_lease_is_judged_by_the_database_clock(
    database: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        assert await a.try_lease(W, "node-a", 30)
        # A node whose own clock runs an hour ahead still sees the lease held...
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 3600)
        assert not await b.try_lease(W, "node-b", 30)
        # ...because the expiry is the database's now plus the ttl.
        with psycopg.connect(database) as conn:
            row = conn.execute(
                f"SELECT expires_at - extract(epoch from clock_timestamp())::double precision "
                f"FROM {schema}.leases WHERE workspace = %s",
                (W,),
            ).fetchone()
        assert row is not None
        assert 25 < row[0] <= 30
