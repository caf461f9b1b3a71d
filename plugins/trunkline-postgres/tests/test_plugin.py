"""The plugin as users meet it: found through its entry point, checked in the configuration
file, light in ``--help`` and ``check-config``, and run by ``trunkline db upgrade``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from trunkline import ConfigError, Secret, config_from_dict
from trunkline.testing.cli import TRUNKLINE, clean_env, imports_of, run
from trunkline_postgres.plugin import PostgresStoreFactory
from trunkline_postgres.settings import PostgresSettings
from trunkline_postgres.store import PostgresStore

HEAVY = ("trunkline_postgres.store", "psycopg", "psycopg_pool")
CONFIG = """
[store]
backend = "postgres"
dsn = {{ env = "TRUNKLINE_TEST_DSN" }}
schema = "{schema}"
max_connections = 4

[workspaces.acme.queues.support]
"""


# Discovery and imports ---------------------------------------------------------------------


def test_trunkline_plugins_lists_postgres_with_its_distribution_and_store() -> None:
    result = run([*TRUNKLINE, "plugins"])
    assert result.returncode == 0, result.stderr
    version = re.escape(metadata.version("trunkline-postgres"))
    line = rf"^\s+postgres\s+trunkline-postgres {version}\s+trunkline_postgres\.plugin$"
    assert re.search(line, result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^\s+postgres\s+from plugin postgres$", result.stdout, re.MULTILINE)


def test_help_imports_neither_the_store_nor_psycopg() -> None:
    result, imported = imports_of(["--help"], HEAVY)
    assert result.returncode == 0, result.stderr
    assert imported == []


def test_check_config_checks_the_store_settings_without_importing_psycopg(
    tmp_path: Path,
) -> None:
    config = tmp_path / "trunkline.toml"
    config.write_text(CONFIG.format(schema="trunkline"), encoding="utf-8")
    env = clean_env(TRUNKLINE_TEST_DSN="postgresql://trunkline:s3cret@db.example:5432/cc")
    result, imported = imports_of(["check-config", str(config)], HEAVY, env)
    assert result.returncode == 0, result.stderr
    assert ": OK: " in result.stdout
    assert imported == []
    assert "s3cret" not in result.stdout + result.stderr


# Settings ----------------------------------------------------------------------------------


def check(store: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Any:
    config = config_from_dict(
        {"store": {"backend": "postgres", **store}, "workspaces": {}},
        adapters={},
        strategies=(),
        env=env or {"DSN": "postgresql://u:pw@db/cc"},
        stores={"postgres": PostgresSettings},
    )
    return config.store.options


def test_the_settings_and_their_defaults() -> None:
    options = check({"dsn": {"env": "DSN"}})
    assert options == PostgresSettings(
        dsn=Secret("postgresql://u:pw@db/cc"),
        min_connections=2,
        max_connections=20,
        statement_timeout=30.0,
        schema="public",
    )
    assert "pw" not in repr(options)


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({}, "dsn is required: give the connection string from the environment"),
        (
            {"dsn": "postgresql://u:pw@db/cc"},
            'store.dsn: is a secret: write { env = "VARIABLE" }',
        ),
        ({"dsn": {"env": "NOT_SET"}}, "store.dsn: environment variable NOT_SET is not set"),
        (
            {"dsn": {"env": "DSN"}, "min_connections": 5, "max_connections": 4},
            "max_connections (4) must be at least min_connections (5)",
        ),
        ({"dsn": {"env": "DSN"}, "min_connections": 0}, "min_connections must be at least 1"),
        ({"dsn": {"env": "DSN"}, "statement_timeout": -1}, "statement_timeout must not be"),
        ({"dsn": {"env": "DSN"}, "schema": "Trunk-Line"}, 'schema "Trunk-Line" is not a plain'),
        ({"dsn": {"env": "DSN"}, "pool": 3}, "store.pool: unknown key"),
    ],
)
def test_bad_settings_are_refused_with_the_key_and_the_reason(
    store: Mapping[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        check(store)
    assert message in str(refused.value)
    assert "pw" not in str(refused.value)


def test_the_factory_builds_a_store_from_settings_or_a_plain_mapping() -> None:
    factory = PostgresStoreFactory()
    assert (factory.name, factory.Settings) == ("postgres", PostgresSettings)
    store = factory({"dsn": "postgresql://u:pw@db:6543/cc", "schema": "cc", "max_connections": 7})
    assert isinstance(store, PostgresStore)
    assert (store.schema, store.max_connections, store.min_connections) == ("cc", 7, 2)
    assert str(store.target) == "PostgreSQL store db:6543/cc"
    assert store.channel == "trunkline_appends.cc"


# The command line on a real database -------------------------------------------------------


def test_trunkline_db_upgrade_creates_the_schema_in_postgresql(
    tmp_path: Path, database: str, schema: str
) -> None:
    config = tmp_path / "trunkline.toml"
    config.write_text(CONFIG.format(schema=schema), encoding="utf-8")
    result = run([*TRUNKLINE, "db", "upgrade", str(config)], clean_env(TRUNKLINE_TEST_DSN=database))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("the postgres database is at schema version 1")


def test_trunkline_db_retention_runs_on_postgresql(
    tmp_path: Path, database: str, schema: str
) -> None:
    config = tmp_path / "trunkline.toml"
    config.write_text(
        CONFIG.format(schema=schema) + "\n[workspaces.acme.retention]\ndays = 30\n",
        encoding="utf-8",
    )
    env = clean_env(TRUNKLINE_TEST_DSN=database)
    result = run([*TRUNKLINE, "db", "retention", str(config), "--dry-run"], env)
    assert result.returncode == 0, result.stderr
    assert 'workspace "acme": would anonymise 0 contacts, 0 messages, 0 events' in result.stdout
