"""Built-in plugin: the memory store, for tests and embedding. Nothing survives the process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..events import Event
from ..hookspecs import hookimpl
from ..model import Address, Contact, Customer, Message
from ..projection import Lookups
from ..store import OutboxEntry, StoredEvent, StoreFactory


class MemoryStore:
    """Keeps the log and its lookups in dictionaries. ``append`` is atomic per call."""

    name = "memory"

    def __init__(self) -> None:
        self.logs: dict[str, list[StoredEvent]] = {}
        self.lookups = Lookups()

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def append(self, events: Sequence[Event]) -> int:
        seq = 0
        for event in events:
            log = self.logs.setdefault(event.workspace, [])
            seq = len(log) + 1
            log.append(StoredEvent(seq=seq, event=event))
            self.lookups.apply(event)
        return seq

    async def read(self, workspace: str, after: int = 0) -> Sequence[StoredEvent]:
        return list(self.logs.get(workspace, [])[after:])

    async def seen(self, workspace: str, idempotency_key: str) -> tuple[str, str] | None:
        return self.lookups.idempotency.get((workspace, idempotency_key))

    async def customer_by_address(self, workspace: str, address: Address) -> Customer | None:
        return self.lookups.customers.get((workspace, address))

    async def open_contact(self, workspace: str, thread_key: str) -> Contact | None:
        return self.lookups.open_contact(workspace, thread_key)

    async def contact(self, workspace: str, contact_id: str) -> Contact | None:
        return self.lookups.contacts.get((workspace, contact_id))

    async def messages(self, workspace: str, contact_id: str) -> Sequence[Message]:
        return list(self.lookups.messages.get((workspace, contact_id), []))

    async def outbox_due(self, now: float, limit: int = 100) -> Sequence[OutboxEntry]:
        return self.lookups.outbox_due(now, limit)


class _MemoryStoreFactory:
    name = "memory"

    def __call__(self, settings: Mapping[str, Any]) -> MemoryStore:
        return MemoryStore()


@hookimpl
def trunkline_register_stores() -> list[StoreFactory]:
    return [_MemoryStoreFactory()]
