"""Wake-ups between nodes: an append on one node wakes the others' ``wait_for_appends``.

A store starts listening at its first ``wait_for_appends``; the tests make that first call
(``listen``) before the appends they expect to hear.
"""

from __future__ import annotations

import anyio
import psycopg
import pytest

from trunkline.testing.store_suite import contact_events
from trunkline_postgres.store import CHANNEL, PostgresStore

from .conftest import opened

pytestmark = pytest.mark.anyio

W = "acme"


async def listen(store: PostgresStore, *workspaces: str) -> None:
    """The first wait: it starts listening, and nothing was appended yet."""
    assert await store.wait_for_appends(list(workspaces) or [W], 0.2) == set()


async def test_an_append_on_node_b_wakes_node_a_within_a_second(database: str, schema: str) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        await listen(a)
        woken: list[set[str]] = []

        async def wait() -> None:
            woken.append(await a.wait_for_appends([W, "globex"], 5.0))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(0.1)  # A is waiting
            started = anyio.current_time()
            await b.append(contact_events(1, workspace=W))
        assert woken == [{W}]
        assert anyio.current_time() - started < 1.0


async def test_appends_between_two_waits_are_reported_by_the_next_at_once(
    database: str, schema: str
) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        await listen(a)
        await b.append(contact_events(1, workspace=W))  # while A is busy elsewhere
        with anyio.fail_after(1.0):
            assert await a.wait_for_appends([W], 5.0) == {W}
        assert await a.wait_for_appends([W], 0.2) == set()  # reported once


async def test_a_nodes_own_appends_do_not_wake_it(database: str, schema: str) -> None:
    async with opened(database, schema) as a:
        await listen(a)
        for n in range(5):
            await a.append(contact_events(n, workspace=W))
        assert await a.wait_for_appends([W], 0.5) == set()


async def test_an_append_to_an_unrelated_workspace_does_not_wake_it(
    database: str, schema: str
) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        await listen(a)
        await b.append(contact_events(1, workspace="globex"))
        assert await a.wait_for_appends([W], 0.5) == set()
        # Asked about it later, the append is reported: it was heard, and kept.
        assert await a.wait_for_appends(["globex"], 0.5) == {"globex"}


async def test_patience_elapses_with_an_empty_set(database: str, schema: str) -> None:
    async with opened(database, schema) as a:
        await listen(a)
        started = anyio.current_time()
        assert await a.wait_for_appends([W], 0.5) == set()
        assert 0.4 < anyio.current_time() - started < 2.0


async def test_a_batch_over_two_workspaces_wakes_both(database: str, schema: str) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        await listen(a, W, "globex")
        await b.append(contact_events(1, workspace=W) + contact_events(2, workspace="globex"))
        found: set[str] = set()
        with anyio.fail_after(2.0):
            while found != {W, "globex"}:
                found |= await a.wait_for_appends([W, "globex"], 1.0)


async def test_a_lost_listen_connection_is_reopened_and_reports_what_it_may_have_missed(
    database: str, schema: str
) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        await listen(a)
        with psycopg.connect(database, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query ILIKE 'LISTEN%%'"
            ).fetchall()
        assert killed == [(True,)]
        await b.append(contact_events(1, workspace=W))  # made while nobody listened
        with anyio.fail_after(2.0):
            assert await a.wait_for_appends([W], 5.0) == {W}
        # Listening again: the next append is heard as usual.
        async with anyio.create_task_group() as tg:
            woken: list[set[str]] = []

            async def wait() -> None:
                woken.append(await a.wait_for_appends([W], 5.0))

            tg.start_soon(wait)
            await anyio.sleep(0.1)
            await b.append(contact_events(2, workspace=W))
        assert woken == [{W}]


async def test_renewing_leases_closes_a_listen_connection_nobody_reads(
    database: str, schema: str
) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        a.listen_idle = 0.2
        await listen(a)
        await anyio.sleep(0.3)
        assert await a.try_lease(W, "node-a", 10)  # the heartbeat of a node that waits no more
        with psycopg.connect(database) as admin:
            listening = admin.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query ILIKE 'LISTEN%%'"
            ).fetchone()
        assert listening == (0,)
        await b.append(contact_events(1, workspace=W))
        # Waiting again listens again, and reports what may have been missed meanwhile.
        assert await a.wait_for_appends([W], 1.0) == {W}


async def test_the_default_schema_notifies_on_trunkline_appends_with_the_workspace(
    fresh_database: str,
) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as outsider:
        outsider.execute(f"LISTEN {CHANNEL}")
        async with opened(fresh_database) as store:
            assert store.schema == "public"
            await store.append(contact_events(1, workspace=W))
        heard = [(n.channel, n.payload) for n in outsider.notifies(timeout=2.0, stop_after=1)]
    assert heard == [("trunkline_appends", W)]
