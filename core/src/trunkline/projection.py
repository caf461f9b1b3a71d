"""The lookups every store keeps beside its log, folded from the same events.

Stores append events and hand each one to a :class:`Lookups` (or keep equivalent tables), so
the memory store and durable stores answer ``seen``, ``customer_by_address``,
``open_contact``, ``messages`` and ``outbox_due`` the same way.
"""

from __future__ import annotations

import attrs

from . import events as ev
from .model import Address, Contact, Customer, Message
from .store import OutboxEntry

__all__ = ["Lookups"]


@attrs.define
class Lookups:
    """In-memory projection of the event log for the inbound and outbound paths."""

    idempotency: dict[tuple[str, str], tuple[str, str]] = attrs.field(factory=dict)
    customers: dict[tuple[str, Address], Customer] = attrs.field(factory=dict)
    contacts: dict[tuple[str, str], Contact] = attrs.field(factory=dict)
    open_threads: dict[tuple[str, str], str] = attrs.field(factory=dict)
    messages: dict[tuple[str, str], list[Message]] = attrs.field(factory=dict)
    outbox: dict[str, OutboxEntry] = attrs.field(factory=dict)

    def apply(self, event: ev.Event) -> None:
        w = event.workspace
        match event:
            case ev.CustomerCreated(customer=customer):
                for address in customer.addresses:
                    self.customers[(w, address)] = customer
            case ev.ContactReceived(contact=contact):
                self.contacts[(w, contact.id)] = contact
                if contact.thread_key is not None:
                    self.open_threads[(w, contact.thread_key)] = contact.id
            case ev.MessageReceived(message=message, idempotency_key=key):
                self.messages.setdefault((w, message.contact_id), []).append(message)
                if key is not None:
                    self.idempotency[(w, key)] = (message.contact_id, message.id)
            case (
                ev.ContactClosed(contact_id=cid)
                | ev.ContactAbandoned(contact_id=cid)
                | ev.ContactRefused(contact_id=cid)
            ):
                closed = self.contacts.get((w, cid))
                key = None if closed is None else closed.thread_key
                if key is not None and self.open_threads.get((w, key)) == cid:
                    del self.open_threads[(w, key)]
            case ev.OutboundQueued(message=message, to=to):
                self.messages.setdefault((w, message.contact_id), []).append(message)
                self.outbox[message.id] = OutboxEntry(message=message, to=to, due_at=event.at)
            case ev.SendAttemptFailed(message_id=mid, attempt=attempt, retry_at=retry_at):
                entry = self.outbox.get(mid)
                if entry is not None:
                    self.outbox[mid] = attrs.evolve(entry, attempts=attempt, due_at=retry_at)
            case ev.MessageSent(message_id=mid) | ev.MessageFailed(message_id=mid):
                self.outbox.pop(mid, None)
            case _:
                pass

    def open_contact(self, workspace: str, thread_key: str) -> Contact | None:
        contact_id = self.open_threads.get((workspace, thread_key))
        return None if contact_id is None else self.contacts.get((workspace, contact_id))

    def outbox_due(self, now: float, limit: int) -> list[OutboxEntry]:
        due = [entry for entry in self.outbox.values() if entry.due_at <= now]
        due.sort(key=lambda entry: (entry.due_at, entry.message.id))
        return due[:limit]
