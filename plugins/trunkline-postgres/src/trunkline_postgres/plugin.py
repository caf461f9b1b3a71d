"""Entry point of the PostgreSQL plugin (``trunkline.plugins`` → ``postgres``): its hooks.

Only ``trunkline`` and the settings are imported at module level. ``trunkline --help`` imports
every plugin's entry-point module and ``trunkline check-config`` collects every store's
settings, so the store, and with it psycopg, is imported only when a store is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trunkline import Secret, hookimpl

from .settings import PostgresSettings

if TYPE_CHECKING:
    from trunkline.store import StoreFactory

    from .store import PostgresStore


class PostgresStoreFactory:
    """Builds a :class:`~trunkline_postgres.store.PostgresStore` from ``[store]``."""

    name = "postgres"
    Settings = PostgresSettings

    def __call__(self, settings: Mapping[str, Any]) -> PostgresStore:
        from .store import PostgresStore

        checked: PostgresSettings
        if isinstance(settings, PostgresSettings):
            checked = settings
        else:  # a plain mapping, from code: a dsn may be given as a string
            given = dict(settings)
            if isinstance(given.get("dsn"), str):
                given["dsn"] = Secret(given["dsn"])
            checked = PostgresSettings(**given)
        assert checked.dsn is not None  # PostgresSettings refuses a missing dsn
        return PostgresStore(
            checked.dsn,
            min_connections=checked.min_connections,
            max_connections=checked.max_connections,
            statement_timeout=checked.statement_timeout,
            schema=checked.schema,
        )


@hookimpl
def trunkline_register_stores() -> list[StoreFactory]:
    return [PostgresStoreFactory()]
