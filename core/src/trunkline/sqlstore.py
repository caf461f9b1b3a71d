"""Deprecated: what SQL stores share is :mod:`trunkline.sql` (removed in 0.3).

Every name this module had is re-exported from its new home; a store subclasses
:class:`trunkline.sql.SqlStore` rather than calling them one by one.
"""

from __future__ import annotations

from .deprecation import warn_deprecated_module
from .sql import dialect, queries, retention, rows, schema
from .sql.dialect import *  # noqa: F403
from .sql.queries import *  # noqa: F403
from .sql.retention import *  # noqa: F403
from .sql.rows import *  # noqa: F403
from .sql.schema import *  # noqa: F403

__all__ = [
    *dialect.__all__,
    *schema.__all__,
    *rows.__all__,
    *queries.__all__,
    *retention.__all__,
]

warn_deprecated_module(
    "trunkline.sqlstore", instead="use trunkline.sql (subclass its SqlStore)", removal="0.3"
)
