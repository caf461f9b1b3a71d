"""The Store protocol: the append-only event log and the lookups the inbound path needs.

A store keeps events per workspace in order and answers from projections it maintains as
it appends: customers by address, the open contact for a thread key, the redelivery check
(idempotency keys) and the outbox. ``append`` returns only once the events are as durable
as the store promises; the runtime acknowledges senders after that, never before.

Stores are plugins: ``trunkline_register_stores`` returns :class:`StoreFactory` objects and
the configuration picks one by name (``store = "memory"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from .events import Event
from .model import Address, Contact, Customer, Message
from .retention import RetentionReport

__all__ = [
    "SEARCH_LIMIT",
    "OutboxEntry",
    "SearchResult",
    "SharedStore",
    "Snapshot",
    "Store",
    "StoreFactory",
    "StoredEvent",
]

SEARCH_LIMIT = 20  # customers, and contacts, a search answers with at most by default


@attrs.frozen
class StoredEvent:
    """An event with its position in its workspace's log (1, 2, 3…)."""

    seq: int
    event: Event


@attrs.frozen
class OutboxEntry:
    """A message waiting to be sent, with how often it was tried and when it is next due."""

    message: Message
    to: Address
    attempts: int = 0
    due_at: float = 0.0


@attrs.frozen
class SearchResult:
    """What :meth:`Store.search` found: customers (by id) and contacts (newest first)."""

    customers: tuple[Customer, ...] = ()
    contacts: tuple[Contact, ...] = ()


@attrs.frozen
class Snapshot:
    """A workspace's routing state as of event ``seq``, to restart without a full replay.

    ``fingerprint`` names the configuration and code it was taken with; a snapshot whose
    fingerprint does not match is ignored and the log is replayed from the start.
    """

    seq: int
    fingerprint: str
    data: bytes


@runtime_checkable
class Store(Protocol):
    """Where events live. Every method is async so durable stores can do I/O."""

    name: str

    async def open(self) -> None:
        """Connect, create or check the schema."""

    async def aclose(self) -> None:
        """Flush and disconnect."""

    async def append(self, events: Sequence[Event]) -> int:
        """Append events atomically; return the sequence number of the last one.

        Raises :class:`trunkline.channels.TemporaryFailure` when the events could not be made
        durable; nothing of the batch is then stored.
        """

    async def read(
        self, workspace: str, after: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        """The workspace's events with ``seq > after``, in order, at most ``limit`` of them."""

    async def last_seq(self, workspace: str) -> int:
        """The sequence number of the workspace's last event (0 when it has none)."""

    async def seen(self, workspace: str, idempotency_key: str) -> tuple[str, str] | None:
        """``(contact id, message id)`` stored under a provider's message id, if any."""

    async def customer_by_address(self, workspace: str, address: Address) -> Customer | None:
        """The customer an address belongs to."""

    async def open_contact(self, workspace: str, thread_key: str) -> Contact | None:
        """The contact not yet closed or abandoned that has this thread key."""

    async def contact(self, workspace: str, contact_id: str) -> Contact | None:
        """A contact by id, open or not."""

    async def contacts_of(
        self, workspace: str, customer_id: str, limit: int = 50
    ) -> Sequence[Contact]:
        """The customer's contacts, open or not, newest first: their history."""

    async def messages(self, workspace: str, contact_id: str) -> Sequence[Message]:
        """The messages of a contact, in order, both directions."""

    async def contact_events(self, workspace: str, contact_id: str) -> Sequence[StoredEvent]:
        """The events about one contact, in log order: its timeline (offers, transfers,
        notes…). An event is about a contact when :func:`trunkline.events.contact_id_of`
        names it."""

    async def search(self, workspace: str, text: str, limit: int = SEARCH_LIMIT) -> SearchResult:
        """The workspace's customers and contacts that ``text`` finds, at most ``limit`` of each.

        A customer is found by its id (exactly), or by its name or one of its addresses'
        values containing ``text``; a contact by its id (exactly), its subject or its
        address's value containing ``text``, or by being a contact of a customer found so.
        "Containing" ignores case (``str.lower``). Customers come ordered by id, contacts
        newest first. An empty ``text`` finds nothing.
        """

    async def outbox_due(self, now: float, limit: int = 100) -> Sequence[OutboxEntry]:
        """Outbound messages neither sent nor failed whose next attempt is due by ``now``."""

    async def load_snapshot(self, workspace: str) -> Snapshot | None:
        """The workspace's latest routing snapshot, if one was saved."""

    async def save_snapshot(self, workspace: str, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` as the workspace's latest (replacing the one before)."""

    async def retain(
        self, workspace: str, before: float, mode: str, *, dry_run: bool = False
    ) -> RetentionReport:
        """Delete or anonymise (``mode``) the contacts closed before ``before`` that were not
        retained yet, with their messages and events; with ``dry_run``, only count them.
        See :mod:`trunkline.retention`."""


@runtime_checkable
class SharedStore(Store, Protocol):
    """A store several ``trunkline serve`` processes (nodes) share, such as PostgreSQL.

    Each workspace is routed by one node at a time, the holder of its lease; every node takes
    inbound messages and appends them, and the holder is woken to route them.
    """

    async def try_lease(self, workspace: str, node: str, ttl: float) -> bool:
        """Take or renew the workspace's lease for ``ttl`` seconds; False while another node
        holds an unexpired one. Leases are judged by the store's clock, not the node's."""

    async def release_lease(self, workspace: str, node: str) -> None:
        """Give the lease up at once (a clean shutdown), if ``node`` holds it."""

    async def wait_for_appends(self, workspaces: Sequence[str], patience: float) -> set[str]:
        """Wait until some node appends to one of ``workspaces``, or ``patience`` seconds pass.

        Returns the workspaces appended to (possibly empty). Appends made by this store
        object itself need not wake it.
        """


class StoreFactory(Protocol):
    """Registered by plugins; builds a store from its configuration table.

    ``Settings`` is an attrs class: the ``[store]`` table's other keys are checked against it
    when the configuration is loaded (unknown keys refused, secrets from the environment).
    """

    name: str
    Settings: type[Any]

    def __call__(self, settings: Mapping[str, Any]) -> Store: ...
