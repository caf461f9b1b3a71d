"""Retention in SQL: the contacts closed before a date deleted or anonymised, as one plan.

What is deleted or blanked is :mod:`trunkline.retention`'s to say; this module says it in the
shared schema's statements. :func:`retention_plan` is run by each SQL store in one write
transaction (rolled back for a dry run), in chunks so ``IN`` lists stay short.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..codec import dump_event, dump_value, load_event
from ..model import Contact, Message
from ..retention import RetentionReport, anonymise_contact_or_message, anonymise_event
from .dialect import Statement
from .plan import Plan
from .queries import decode_row
from .rows import encode

__all__ = [
    "ANONYMISE_CONTACT",
    "ANONYMISE_EVENT",
    "ANONYMISE_MESSAGE",
    "RETAINABLE",
    "RETENTION_CHUNK",
    "SELECT_CONTACTS",
    "anonymised_event_json",
    "anonymised_value_json",
    "in_list",
    "retention_counts",
    "retention_deletes",
    "retention_plan",
    "retention_selects",
]

RETAINABLE = (
    "SELECT id FROM contacts WHERE workspace = ? AND open = 0 AND retained = 0 "
    "AND closed_at < ? ORDER BY closed_at"
)
RETENTION_CHUNK = 500  # contacts per statement (IN lists stay short)
ANONYMISE_EVENT = "UPDATE events SET data = ? WHERE workspace = ? AND seq = ?"
ANONYMISE_MESSAGE = "UPDATE messages SET data = ? WHERE workspace = ? AND id = ?"
ANONYMISE_CONTACT = "UPDATE contacts SET data = ?, retained = 1 WHERE workspace = ? AND id = ?"
SELECT_CONTACTS = "SELECT id, data FROM contacts WHERE workspace = ? AND id IN "


def in_list(ids: Sequence[str]) -> str:
    """``(?, ?, …)``, one placeholder per id."""
    return "(" + ", ".join("?" * len(ids)) + ")"


def retention_counts(ids: Sequence[str]) -> list[str]:
    """Counting statements for a dry run: messages, events."""
    where = f"workspace = ? AND contact_id IN {in_list(ids)}"
    return [
        f"SELECT count(*) FROM messages WHERE {where}",
        f"SELECT count(*) FROM events WHERE {where}",
    ]


def retention_deletes(workspace: str, ids: Sequence[str]) -> list[Statement]:
    """Statements deleting the contacts ``ids`` everywhere."""
    where = f"workspace = ? AND contact_id IN {in_list(ids)}"
    params = (workspace, *ids)
    return [
        (
            "DELETE FROM outbox WHERE workspace = ? AND message_id IN "
            f"(SELECT id FROM messages WHERE {where})",
            (workspace, *params),
        ),
        (f"DELETE FROM idempotency WHERE {where}", params),
        (f"DELETE FROM messages WHERE {where}", params),
        # The workspace's newest event stays (a contact's last event is its closing, which
        # quotes nobody): the log's numbering must never go back.
        (
            f"DELETE FROM events WHERE {where} AND seq < "
            "(SELECT MAX(seq) FROM events WHERE workspace = ?)",
            (*params, workspace),
        ),
        (f"DELETE FROM contacts WHERE workspace = ? AND id IN {in_list(ids)}", params),
    ]


def retention_selects(ids: Sequence[str]) -> tuple[str, str]:
    """The event rows and message rows of the contacts ``ids``, to anonymise."""
    where = f"workspace = ? AND contact_id IN {in_list(ids)}"
    return (
        f"SELECT seq, data FROM events WHERE {where}",
        f"SELECT id, data FROM messages WHERE {where}",
    )


def anonymised_event_json(data: str) -> str:
    """An event's JSON column with the event anonymised."""
    return encode(dump_event(anonymise_event(load_event(json.loads(data)))))


def anonymised_value_json(data: str, cls: type[Any]) -> str:
    """A contact's or message's JSON column with the value anonymised."""
    return encode(dump_value(anonymise_contact_or_message(decode_row(data, cls))))


def retention_plan(
    workspace: str, before: float, mode: str, *, dry_run: bool = False
) -> Plan[RetentionReport]:
    """Delete (``mode="delete"``) or anonymise the contacts of ``workspace`` closed before
    ``before``, counting their messages and events; a dry run only counts.

    The store runs it in one write transaction, and rolls that back for a dry run.
    """
    ids = [row[0] for row in (yield RETAINABLE, (workspace, before))]
    messages = events = 0
    for start in range(0, len(ids), RETENTION_CHUNK):
        chunk = ids[start : start + RETENTION_CHUNK]
        params = (workspace, *chunk)
        count_messages, count_events = retention_counts(chunk)
        messages += int((yield count_messages, params)[0][0])
        events += int((yield count_events, params)[0][0])
        if dry_run:
            continue
        if mode == "delete":
            # Not `yield from` the list: the store sends each statement's rows back, and a
            # list's iterator takes no send.
            for statement in retention_deletes(workspace, chunk):  # noqa: UP028
                yield statement
            continue
        select_events, select_messages = retention_selects(chunk)
        for seq, data in (yield select_events, params):
            yield ANONYMISE_EVENT, (anonymised_event_json(data), workspace, seq)
        for mid, data in (yield select_messages, params):
            yield ANONYMISE_MESSAGE, (anonymised_value_json(data, Message), workspace, mid)
        for cid, data in (yield SELECT_CONTACTS + in_list(chunk), params):
            yield ANONYMISE_CONTACT, (anonymised_value_json(data, Contact), workspace, cid)
    return RetentionReport(
        workspace=workspace,
        mode=mode,
        before=before,
        contacts=len(ids),
        messages=messages,
        events=events,
        dry_run=dry_run,
    )
