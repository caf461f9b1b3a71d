"""Deprecated: what SQL stores share is :mod:`trunkline.sql` (removed in 0.3).

Every name this module had is re-exported from its new home; a store subclasses
:class:`trunkline.sql.SqlStore` rather than calling them one by one.
"""

from __future__ import annotations

from .deprecation import warn_deprecated_module
from .sql.dialect import Dialect, Statement
from .sql.queries import (
    CONTACT,
    CONTACT_EVENTS,
    CONTACTS_OF,
    CUSTOMER_BY_ADDRESS,
    LAST_SEQS,
    LOAD_SNAPSHOT,
    MESSAGES,
    OPEN_CONTACT,
    OUTBOX_DUE,
    READ_EVENTS,
    SAVE_SNAPSHOT,
    SEEN,
    decode_row,
    many,
    one,
    outbox_entries,
    search_pattern,
    search_statements,
    stored_events,
)
from .sql.retention import (
    ANONYMISE_CONTACT,
    ANONYMISE_EVENT,
    ANONYMISE_MESSAGE,
    RETAINABLE,
    RETENTION_CHUNK,
    SELECT_CONTACTS,
    anonymised_event_json,
    anonymised_value_json,
    in_list,
    retention_counts,
    retention_deletes,
    retention_selects,
)
from .sql.rows import SEQ, encode, event_rows, numbered
from .sql.schema import MIGRATIONS, SCHEMA_VERSION, Migration, SchemaError, migrate

__all__ = [
    "ANONYMISE_CONTACT",
    "ANONYMISE_EVENT",
    "ANONYMISE_MESSAGE",
    "CONTACT",
    "CONTACTS_OF",
    "CONTACT_EVENTS",
    "CUSTOMER_BY_ADDRESS",
    "LAST_SEQS",
    "LOAD_SNAPSHOT",
    "MESSAGES",
    "MIGRATIONS",
    "OPEN_CONTACT",
    "OUTBOX_DUE",
    "READ_EVENTS",
    "RETAINABLE",
    "RETENTION_CHUNK",
    "SAVE_SNAPSHOT",
    "SCHEMA_VERSION",
    "SEEN",
    "SELECT_CONTACTS",
    "SEQ",
    "Dialect",
    "Migration",
    "SchemaError",
    "Statement",
    "anonymised_event_json",
    "anonymised_value_json",
    "decode_row",
    "encode",
    "event_rows",
    "in_list",
    "many",
    "migrate",
    "numbered",
    "one",
    "outbox_entries",
    "retention_counts",
    "retention_deletes",
    "retention_selects",
    "search_pattern",
    "search_statements",
    "stored_events",
]

warn_deprecated_module(
    "trunkline.sqlstore", instead="use trunkline.sql (subclass its SqlStore)", removal="0.3"
)
