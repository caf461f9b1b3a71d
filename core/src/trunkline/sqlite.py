"""Deprecated: the SQLite store is :class:`trunkline.sql.SqliteStore` (removed in 0.3)."""

from __future__ import annotations

from .deprecation import warn_deprecated_module
from .sql import SqliteStore, StoreCorrupted

__all__ = ["SqliteStore", "StoreCorrupted"]

warn_deprecated_module(
    "trunkline.sqlite", instead="import SqliteStore from trunkline.sql", removal="0.3"
)
