"""The SQL store SPI: what the SQLite store and any other SQL store are made of.

A store for another SQL engine subclasses :class:`SqlStore`, gives it a :class:`Dialect` and
the few primitives its driver does differently (a read, a write transaction, the commit of a
group of appends); the schema and its migrations, events turned into rows, every read,
snapshots, retention and group commit are shared. The PostgreSQL store of
``trunkline-postgres`` is built so; the built-in :class:`SqliteStore` too. See "Writing an
SQL store" in the documentation.

Modules, one job each: :mod:`~trunkline.sql.dialect` (how engines spell statements),
:mod:`~trunkline.sql.schema` (tables, migrations), :mod:`~trunkline.sql.rows` (events to
rows), :mod:`~trunkline.sql.queries` (reads), :mod:`~trunkline.sql.retention` (retention as a
plan), :mod:`~trunkline.sql.plan` (statements run by any driver), :mod:`~trunkline.sql.base`
(:class:`SqlStore`) and :mod:`~trunkline.sql.sqlite` (:class:`SqliteStore`). A plugin imports
the names below from ``trunkline.sql`` itself, not from these modules.
"""

from __future__ import annotations

from .base import Batch, SqlStore
from .dialect import Dialect, Statement
from .plan import Plan, arun_plan, run_plan, single
from .retention import retention_plan
from .rows import SEQ, encode, event_rows, numbered
from .schema import MIGRATIONS, SCHEMA_VERSION, Migration, SchemaError, migrate
from .sqlite import SqliteStore, StoreCorrupted

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SEQ",
    "Batch",
    "Dialect",
    "Migration",
    "Plan",
    "SchemaError",
    "SqlStore",
    "SqliteStore",
    "Statement",
    "StoreCorrupted",
    "arun_plan",
    "encode",
    "event_rows",
    "migrate",
    "numbered",
    "retention_plan",
    "run_plan",
    "single",
]
