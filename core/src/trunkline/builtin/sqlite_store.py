"""Built-in plugin: registers the SQLite store (``[store] backend = "sqlite"``).

Light on purpose: the store itself, :class:`trunkline.sql.SqliteStore`, is imported when a
store is built, not when plugins are listed (``trunkline --help`` stays fast).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..hookspecs import hookimpl
from ..store import Store, StoreFactory

if TYPE_CHECKING:
    from ..sql import SqliteStore

__all__ = ["SqliteSettings"]


@attrs.frozen
class SqliteSettings:
    """``[store]`` keys of the SQLite backend."""

    path: str = "trunkline.db"
    busy_timeout: float = 5.0  # seconds to wait for another process's lock
    check_on_open: bool = True  # PRAGMA quick_check when opening: damage found at once


class _SqliteStoreFactory:
    name = "sqlite"
    Settings = SqliteSettings

    def __call__(self, settings: Mapping[str, Any] | SqliteSettings) -> Store:
        return self._build(settings)

    def _build(self, settings: Mapping[str, Any] | SqliteSettings) -> SqliteStore:
        from ..sql import SqliteStore

        checked = settings if isinstance(settings, SqliteSettings) else SqliteSettings(**settings)
        return SqliteStore(
            checked.path, busy_timeout=checked.busy_timeout, check_on_open=checked.check_on_open
        )

    async def check(self, settings: Mapping[str, Any] | SqliteSettings) -> None:
        """Raise what opening the store would raise (``trunkline check-config``); the file
        and its directories are not created, nothing is written."""
        await self._build(settings).check()


@hookimpl
def trunkline_register_stores() -> list[StoreFactory]:
    return [_SqliteStoreFactory()]
