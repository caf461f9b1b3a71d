"""Fixtures for the PostgreSQL store's tests: a real server, a fresh database, a schema per test.

The server is the one every machine of the project runs at 127.0.0.1:5432 (trust auth), or
the one ``TRUNKLINE_TEST_POSTGRES`` names (a connection URL to an administrative database).
The session gets a database of its own, ``trunkline_test_<hex>``, dropped at the end; each
test gets a fresh schema in it (the store's ``schema`` setting), which is much quicker than a
database per test. When no server answers, the tests are skipped, except under CI (``CI=true``),
where they fail: the server is part of the machine.
"""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from trunkline import Runtime, load_plugins
from trunkline.testing import build_runtime
from trunkline_postgres.store import WORKSPACE_LOCKS, PostgresStore, workspace_lock_key

CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    f"postgresql://{getpass.getuser()}@127.0.0.1:5432/postgres",
)


def _unreachable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    """A connection URL to an administrative database of the test server."""
    given = os.environ.get("TRUNKLINE_TEST_POSTGRES")
    errors = []
    for dsn in (given,) if given else CANDIDATES:
        try:
            with psycopg.connect(dsn, connect_timeout=5):
                return dsn
        except psycopg.Error as exc:
            errors.append(" ".join(str(exc).split()))
    where = "TRUNKLINE_TEST_POSTGRES" if given else "127.0.0.1:5432"
    _unreachable(
        f"no PostgreSQL server to test against at {where} ({'; '.join(errors)}); start it "
        "with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
        "or set TRUNKLINE_TEST_POSTGRES to a connection URL"
    )
    raise AssertionError("unreachable")  # pragma: no cover


@pytest.fixture(scope="session")
def database(admin_dsn: str) -> Iterator[str]:
    """A fresh database for the session's tests (its connection URL); dropped at the end."""
    name = f"trunkline_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def schema(database: str) -> Iterator[str]:
    """A schema name no earlier test used; dropped with everything in it afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def fresh_database(admin_dsn: str) -> Iterator[str]:
    """A database of the test's own, for what the default schema (public) must show."""
    name = f"trunkline_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # psycopg's async API runs on asyncio only


@asynccontextmanager
async def opened(dsn: str, schema: str = "public", **options: Any) -> AsyncIterator[PostgresStore]:
    """An opened store (a "node") with a small pool, closed afterwards."""
    options = {"min_connections": 1, "max_connections": 5, **options}
    store = PostgresStore(dsn, schema=schema, **options)
    await store.open()
    try:
        yield store
    finally:
        await store.aclose()


@asynccontextmanager
async def node(
    database: str, schema: str, name: str, config: Mapping[str, Any]
) -> AsyncIterator[Runtime]:
    """A running runtime on the shared database, as the ``trunkline serve`` node ``name``."""
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    store = PostgresStore(database, schema=schema, min_connections=1, max_connections=5)
    runtime = build_runtime(pm, config, store=store)  # it opens and closes the store
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRUNKLINE_NODE", name)
        async with runtime.running():
            yield runtime


def database_name(dsn: str) -> str:
    return str(conninfo_to_dict(dsn)["dbname"])


@contextmanager
def holding_the_append_lock(dsn: str, schema: str, workspace: str) -> Iterator[Any]:
    """Another session holds the workspace's append lock until the block ends."""
    with psycopg.connect(dsn) as conn:  # not autocommit: the lock lives until rollback
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            (WORKSPACE_LOCKS, workspace_lock_key(schema, workspace)),
        )
        yield conn
        conn.rollback()


def backends_waiting_for_the_lock(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        ).fetchall()
    return [pid for (pid,) in rows]
