"""Bad input and bad days: each failure is refused clearly, and nothing half-done is stored.

An append that fails raises ``TemporaryFailure`` and stores nothing of its batch, and what was
stored before stays intact; an error at start names where the store points (never the
password) and what to check.
"""

from __future__ import annotations

import socket
from typing import Any

import anyio
import psycopg
import pytest

from trunkline import Address, TemporaryFailure, TrunklineError
from trunkline.testing.store_suite import contact_events
from trunkline_postgres.store import PostgresStore

from .conftest import backends_waiting_for_the_lock, holding_the_append_lock, opened

pytestmark = pytest.mark.anyio

W = "acme"


def closed_port() -> int:
    with socket.socket() as sock:  # free a moment ago, and nobody listens on it
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Appends ------------------------------------------------------------------------------------


async def test_a_provider_id_redelivered_through_another_node_is_refused_and_stores_nothing(
    database: str, schema: str
) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:
        assert await a.append(contact_events(1, key="web:m1", workspace=W)) == 3
        with pytest.raises(TemporaryFailure, match=r"could not append: .*idempotency"):
            await b.append(contact_events(2, key="web:m1", workspace=W))
        assert [s.seq for s in await b.read(W)] == [1, 2, 3]
        assert await b.seen(W, "web:m1") == ("ct1", "ms1")
        assert await b.customer_by_address(W, Address("test", "customer-2")) is None
        assert await b.contact(W, "ct2") is None
        assert await b.append(contact_events(3, workspace=W)) == 6  # no number was used up


async def test_a_value_postgresql_refuses_fails_its_own_append_only(
    database: str, schema: str
) -> None:
    async with opened(database, schema) as store:
        outcomes: dict[int, Any] = {}

        async def write(n: int, key: str) -> None:
            try:
                outcomes[n] = await store.append(contact_events(n, key=key, workspace=W))
            except TemporaryFailure as exc:
                outcomes[n] = exc

        async with anyio.create_task_group() as tg:  # one group commit for all of them
            for n in range(10):
                tg.start_soon(write, n, "web:\x00nul" if n == 4 else f"web:{n}")
        assert isinstance(outcomes.pop(4), TemporaryFailure)
        assert all(isinstance(seq, int) for seq in outcomes.values())
        assert [s.seq for s in await store.read(W)] == list(range(1, 28))
        assert await store.contact(W, "ct4") is None


async def test_an_append_whose_connection_dies_fails_and_stores_nothing(
    database: str, schema: str
) -> None:
    async with opened(database, schema) as store:
        outcome: list[Any] = []

        async def write() -> None:
            try:
                outcome.append(await store.append(contact_events(1, workspace=W)))
            except TemporaryFailure as exc:
                outcome.append(exc)

        with holding_the_append_lock(database, schema, W):
            async with anyio.create_task_group() as tg:
                tg.start_soon(write)
                for _ in range(250):  # until the append waits for the lock
                    if waiting := backends_waiting_for_the_lock(database):
                        break
                    await anyio.sleep(0.02)
                assert waiting, "the append never waited for the lock"
                with psycopg.connect(database, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
        (failure,) = outcome
        assert isinstance(failure, TemporaryFailure)
        assert await store.read(W) == []
        assert await store.append(contact_events(2, workspace=W)) == 3  # a new connection


async def test_an_append_waiting_past_the_statement_timeout_fails_and_stores_nothing(
    database: str, schema: str
) -> None:
    async with opened(database, schema, statement_timeout=0.3) as store:
        with (
            holding_the_append_lock(database, schema, W),
            pytest.raises(TemporaryFailure, match="statement timeout"),
        ):
            await store.append(contact_events(1, workspace=W))
        assert await store.read(W) == []


async def test_pooled_connections_dropped_between_appends_are_replaced(
    database: str, schema: str
) -> None:
    async with opened(database, schema, min_connections=2) as store:
        await store.append(contact_events(1, workspace=W))
        with psycopg.connect(database, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert await store.append(contact_events(2, workspace=W)) == 6
        assert await store.last_seq(W) == 6


async def test_a_store_not_opened_says_so(database: str) -> None:
    store = PostgresStore(database)
    with pytest.raises(TemporaryFailure, match="could not append: it is not open"):
        await store.append(contact_events(1, workspace=W))
    with pytest.raises(TemporaryFailure, match="could not read: it is not open"):
        await store.read(W)


# Opening ------------------------------------------------------------------------------------


async def test_an_unreachable_server_is_named_with_what_to_check_and_never_the_password() -> None:
    port = closed_port()
    store = PostgresStore(f"postgresql://trunkline:s3cret-pw@127.0.0.1:{port}/contacts")
    with pytest.raises(TrunklineError) as failure:
        await store.open()
    message = str(failure.value)
    assert message.startswith(
        f'PostgreSQL store 127.0.0.1:{port}/contacts: cannot connect as user "trunkline": '
    )
    assert "Connection refused" in message
    assert f"Check that PostgreSQL is running on 127.0.0.1 port {port}" in message
    assert "s3cret-pw" not in message
    assert "s3cret-pw" not in repr(store.__dict__)


def test_a_malformed_dsn_is_refused_without_repeating_it() -> None:
    with pytest.raises(TrunklineError, match="the dsn is not a valid connection string") as bad:
        PostgresStore("host=db password=s3cret-pw what")
    assert "s3cret-pw" not in str(bad.value)


def set_version(dsn: str, schema: str, version: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"UPDATE {schema}.trunkline_schema SET version = %s", (version,))


def get_version(dsn: str, schema: str) -> list[tuple[int]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT version FROM {schema}.trunkline_schema").fetchall()


async def test_a_database_with_a_newer_schema_is_refused_and_left_alone(
    database: str, schema: str
) -> None:
    async with opened(database, schema):
        pass
    set_version(database, schema, 99)
    with pytest.raises(TrunklineError) as refused:
        await PostgresStore(database, schema=schema).open()
    assert str(refused.value).endswith(
        "the database has schema version 99, newer than this Trunkline knows (1): upgrade "
        "Trunkline, or point it at another database"
    )
    assert get_version(database, schema) == [(99,)]


async def test_an_older_schema_asks_for_trunkline_db_upgrade(database: str, schema: str) -> None:
    async with opened(database, schema):
        pass
    set_version(database, schema, 0)
    with pytest.raises(TrunklineError, match=r"run `trunkline db upgrade` first"):
        await PostgresStore(database, schema=schema).open()


async def test_tables_of_another_application_are_left_alone(database: str, schema: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.events (id serial PRIMARY KEY, what text)")
    with pytest.raises(TrunklineError) as refused:
        await PostgresStore(database, schema=schema).open()
    assert f'schema "{schema}" already has tables of another application' in str(refused.value)
    assert 'schema = "trunkline" in [store]' in str(refused.value)
    with psycopg.connect(database) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.trunkline_schema",)).fetchone()
    assert found == (None,)  # nothing was created


async def test_nodes_opening_a_fresh_database_at_once_create_the_schema_once(
    database: str, schema: str
) -> None:
    stores = [PostgresStore(database, schema=schema, min_connections=1) for _ in range(4)]
    try:
        async with anyio.create_task_group() as tg:
            for store in stores:
                tg.start_soon(store.open)
        assert get_version(database, schema) == [(1,)]
        assert await stores[0].append(contact_events(1, workspace=W)) == 3
        assert await stores[3].last_seq(W) == 3
    finally:
        for store in stores:
            await store.aclose()
