"""Retention: contacts closed longer ago than a workspace keeps them are deleted or anonymised.

Compliance rules (GDPR's storage limitation, say) ask that conversations are not kept longer
than needed. A workspace sets ``[workspaces.<id>.retention] days = N`` and a ``mode``:

- ``"anonymise"`` keeps the contacts, their messages and their events for reports, but blanks
  what identifies the customer or says what they wrote: addresses, names, bodies, subjects,
  attachments, free attributes and the text of private notes;
- ``"delete"`` removes the contacts, their messages and every event about them from the log.

Only contacts closed, abandoned or refused before the cut-off are touched; open ones never.
Stores implement ``retain``; ``trunkline db retention`` runs it, with ``--dry-run`` to report
first. The log after retention is still a valid log: replaying it gives the routing state of
the contacts that remain.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

from . import events as ev
from .model import Address, Contact, Customer, Message

__all__ = [
    "RetentionReport",
    "RetentionSettings",
    "anonymise_contact_or_message",
    "anonymise_customer",
    "anonymise_event",
    "anonymised_address",
]


def _mode(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("anonymise", "delete"):
        raise ValueError(f"mode: {value!r} is not one of 'anonymise', 'delete'")


def _days(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise ValueError(f"days: must not be negative, got {value}")


@attrs.frozen
class RetentionSettings:
    """How long a workspace keeps closed contacts (``days``, 0: for ever) and what happens
    to them then (``mode``)."""

    days: int = attrs.field(default=0, validator=_days)
    mode: str = attrs.field(default="anonymise", validator=_mode)


@attrs.frozen
class RetentionReport:
    """What retention did (or, in a dry run, would do) in one workspace."""

    workspace: str
    mode: str
    before: float  # the cut-off: contacts closed before it
    contacts: int
    messages: int
    events: int
    dry_run: bool = False

    def line(self) -> str:
        verb = "would " + ("delete" if self.mode == "delete" else "anonymise")
        if not self.dry_run:
            verb = "deleted" if self.mode == "delete" else "anonymised"
        return (
            f'workspace "{self.workspace}": {verb} {self.contacts} contacts, '
            f"{self.messages} messages, {self.events} events"
        )


def anonymised_address(address: Address) -> Address:
    """The same kind, and a value that no longer identifies anyone (a short one-way hash)."""
    digest = hashlib.sha256(f"{address.kind}:{address.value}".encode()).hexdigest()[:16]
    return Address(address.kind, f"anonymised-{digest}")


def _contact(contact: Contact) -> Contact:
    return attrs.evolve(
        contact, address=anonymised_address(contact.address), subject="", attributes={}
    )


def _message(message: Message) -> Message:
    return attrs.evolve(
        message,
        body="",
        sender=None if message.sender is None else anonymised_address(message.sender),
        attachments=(),
        metadata={},
    )


def anonymise_event(event: ev.Event) -> ev.Event:
    """The event with what identifies the customer or quotes them blanked."""
    match event:
        case ev.ContactReceived(contact=contact):
            return attrs.evolve(event, contact=_contact(contact))
        case ev.MessageReceived(message=message):
            return attrs.evolve(event, message=_message(message))
        case ev.OutboundQueued(message=message, to=to):
            return attrs.evolve(event, message=_message(message), to=anonymised_address(to))
        case ev.CustomerCreated(customer=customer):
            return attrs.evolve(event, customer=anonymise_customer(customer))
        case ev.NoteAdded():
            return attrs.evolve(event, text="")  # a note may quote the customer
        case _:
            return event


def anonymise_contact_or_message(value: Contact | Message) -> Contact | Message:
    return _contact(value) if isinstance(value, Contact) else _message(value)


def anonymise_customer(customer: Customer) -> Customer:
    return attrs.evolve(
        customer, name="", addresses=tuple(anonymised_address(a) for a in customer.addresses)
    )
