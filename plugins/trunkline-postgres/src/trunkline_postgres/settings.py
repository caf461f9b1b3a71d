"""The ``[store]`` settings of the PostgreSQL backend, checked when the configuration loads.

Kept apart from :mod:`~trunkline_postgres.store` so that checking a configuration
(``trunkline check-config``) never imports psycopg.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

import trunkline
from trunkline import Secret

__all__ = ["MAX_SCHEMA_LENGTH", "PostgresSettings"]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]*")
MAX_SCHEMA_LENGTH = 40  # its NOTIFY channel, "trunkline_appends.<schema>", must stay under 64


def _at_least(minimum: int) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


def _pool_size(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < instance.min_connections:
        raise ValueError(
            f"max_connections ({value}) must be at least min_connections "
            f"({instance.min_connections})"
        )


def _not_negative(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative (0: no limit), got {value}")


def _schema_name(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not _SCHEMA_NAME.fullmatch(value) or len(value) > MAX_SCHEMA_LENGTH:
        raise ValueError(
            f'schema "{value}" is not a plain lower-case name of at most {MAX_SCHEMA_LENGTH} '
            'characters (letters a-z, digits and "_", not starting with a digit)'
        )


@attrs.frozen
class PostgresSettings:
    """``[store]`` keys of the PostgreSQL backend.

    ``dsn`` is a libpq connection URL or string, given as ``{ env = "VARIABLE" }`` so that
    its password is never written in the configuration file. ``min_connections`` and
    ``max_connections`` size each node's pool; ``statement_timeout`` (seconds, 0: none) bounds
    every statement, the wait for a workspace's append lock included. ``schema`` holds
    Trunkline's tables and is created when missing.
    """

    dsn: Secret | None = trunkline.secret()
    min_connections: int = attrs.field(default=2, validator=_at_least(1))
    max_connections: int = attrs.field(default=20, validator=_pool_size)
    statement_timeout: float = attrs.field(default=30.0, validator=_not_negative)
    schema: str = attrs.field(default="public", validator=_schema_name)

    def __attrs_post_init__(self) -> None:
        if self.dsn is None:
            raise ValueError(
                "dsn is required: give the connection string from the environment, as "
                'dsn = { env = "TRUNKLINE_DSN" } with '
                "TRUNKLINE_DSN=postgresql://user:password@host:5432/database"
            )
