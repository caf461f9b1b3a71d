"""Events turned into rows: the statements that append an event and keep the lookups in step.

Each statement changes one table and reads no other, so a store may reorder statements of
different tables (the PostgreSQL store gathers them table by table for ``executemany``).
"""

from __future__ import annotations

import json
from typing import Any

from .. import events as ev
from ..codec import dump_event
from ..events import contact_id_of
from ..model import Message
from .dialect import Statement

__all__ = ["SEQ", "encode", "event_rows", "numbered"]

encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder: no set-up per call


class _Seq:
    """Stands for the event's sequence number in rows encoded before it is known."""

    def __repr__(self) -> str:
        return "SEQ"


SEQ: Any = _Seq()


def numbered(rows: list[Statement], seq: int) -> list[Statement]:
    """``rows`` from ``event_rows(event)`` with the sequence number filled in."""
    return [(text, tuple(seq if p is SEQ else p for p in params)) for text, params in rows]


def event_rows(event: ev.Event, seq: int | None = None) -> list[Statement]:
    """The statements that append ``event`` as number ``seq`` and keep the lookups in step.

    Without ``seq`` the rows hold :data:`SEQ` in its place (fill it in with :func:`numbered`):
    a store can encode events as they arrive and number them when it commits.
    """
    if seq is None:
        seq = SEQ
    w = event.workspace
    data = dump_event(event)  # the parts below reuse its pieces: each value is encoded once
    rows: list[Statement] = [
        (
            "INSERT INTO events (workspace, seq, at, type, contact_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (w, seq, event.at, event.type, contact_id_of(event), encode(data)),
        )
    ]
    match event:
        case ev.CustomerCreated(customer=customer):
            rows.append(
                (
                    "INSERT INTO customers (workspace, id, data) VALUES (?, ?, ?) "
                    "ON CONFLICT (workspace, id) DO UPDATE SET data = excluded.data",
                    (w, customer.id, encode(data["customer"])),
                )
            )
            for address in customer.addresses:
                rows.append(
                    (
                        "INSERT INTO addresses (workspace, kind, value, customer_id) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (workspace, kind, value) "
                        "DO UPDATE SET customer_id = excluded.customer_id",
                        (w, address.kind, address.value, customer.id),
                    )
                )
        case ev.ContactReceived(contact=contact):
            rows.append(
                (
                    "INSERT INTO contacts (workspace, id, data, customer_id, thread_key, open, "
                    "created_at) VALUES (?, ?, ?, ?, ?, 1, ?) "
                    "ON CONFLICT (workspace, id) DO NOTHING",
                    (
                        w,
                        contact.id,
                        encode(data["contact"]),
                        contact.customer_id,
                        contact.thread_key,
                        event.at,
                    ),
                )
            )
        case ev.MessageReceived(message=message, idempotency_key=key):
            rows.append(_message_row(w, message, seq, encode(data["message"])))
            if key is not None:
                rows.append(
                    (
                        "INSERT INTO idempotency (workspace, key, contact_id, message_id) "
                        "VALUES (?, ?, ?, ?)",
                        (w, key, message.contact_id, message.id),
                    )
                )
        case (
            ev.ContactClosed(contact_id=cid)
            | ev.ContactAbandoned(contact_id=cid)
            | ev.ContactRefused(contact_id=cid)
        ):
            rows.append(
                (
                    "UPDATE contacts SET open = 0, closed_at = ? WHERE workspace = ? AND id = ?",
                    (event.at, w, cid),
                )
            )
        case ev.OutboundQueued(message=message, to=to):
            encoded = encode(data["message"])
            rows.append(_message_row(w, message, seq, encoded))
            rows.append(
                (
                    "INSERT INTO outbox (workspace, message_id, data, to_kind, to_value, "
                    "attempts, due_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
                    (w, message.id, encoded, to.kind, to.value, event.at),
                )
            )
        case ev.SendAttemptFailed(message_id=mid, attempt=attempt, retry_at=retry_at):
            rows.append(
                (
                    "UPDATE outbox SET attempts = ?, due_at = ? "
                    "WHERE workspace = ? AND message_id = ?",
                    (attempt, retry_at, w, mid),
                )
            )
        case ev.MessageSent(message_id=mid) | ev.MessageFailed(message_id=mid):
            rows.append(("DELETE FROM outbox WHERE workspace = ? AND message_id = ?", (w, mid)))
        case _:
            pass
    return rows


def _message_row(workspace: str, message: Message, seq: int, encoded: str) -> Statement:
    return (
        "INSERT INTO messages (workspace, id, contact_id, seq, data) VALUES (?, ?, ?, ?, ?)",
        (workspace, message.id, message.contact_id, seq, encoded),
    )
