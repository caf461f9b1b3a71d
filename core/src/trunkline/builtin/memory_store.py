"""Built-in plugin: the memory store, for tests and embedding. Nothing survives the process."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..channels import TemporaryFailure
from ..events import (
    ContactAbandoned,
    ContactClosed,
    ContactRefused,
    Event,
    MessageReceived,
    contact_id_of,
)
from ..hookspecs import hookimpl
from ..model import Address, Contact, Customer, Message
from ..projection import Lookups
from ..retention import RetentionReport, anonymise_event
from ..store import SEARCH_LIMIT, OutboxEntry, SearchResult, Snapshot, StoredEvent, StoreFactory


class MemoryStore:
    """Keeps the log and its lookups in dictionaries. ``append`` is atomic per call."""

    name = "memory"

    def __init__(self) -> None:
        self.logs: dict[str, list[StoredEvent]] = {}
        self.lookups = Lookups()
        self.snapshots: dict[str, Snapshot] = {}
        self.seqs: dict[str, int] = {}
        self.retained: set[tuple[str, str]] = set()
        self.timelines: dict[tuple[str, str], list[StoredEvent]] = {}  # events by contact

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def append(self, events: Sequence[Event]) -> int:
        for event in events:  # all or nothing: a provider's id is stored once
            if (
                isinstance(event, MessageReceived)
                and event.idempotency_key is not None
                and (event.workspace, event.idempotency_key) in self.lookups.idempotency
            ):
                raise TemporaryFailure(
                    f'idempotency key "{event.idempotency_key}" is stored already'
                )
        seq = 0
        for event in events:
            log = self.logs.setdefault(event.workspace, [])
            seq = self.seqs[event.workspace] = self.seqs.get(event.workspace, 0) + 1
            stored = StoredEvent(seq=seq, event=event)
            log.append(stored)
            self.lookups.apply(event)
            self._index(stored)
        return seq

    def _index(self, stored: StoredEvent) -> None:
        contact_id = contact_id_of(stored.event)
        if contact_id is not None:
            self.timelines.setdefault((stored.event.workspace, contact_id), []).append(stored)

    async def read(
        self, workspace: str, after: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        log = self.logs.get(workspace, [])
        start = bisect.bisect_right([s.seq for s in log], after)  # retention leaves gaps
        return list(log[start : None if limit is None else start + limit])

    async def last_seq(self, workspace: str) -> int:
        return self.seqs.get(workspace, 0)

    async def seen(self, workspace: str, idempotency_key: str) -> tuple[str, str] | None:
        return self.lookups.idempotency.get((workspace, idempotency_key))

    async def customer_by_address(self, workspace: str, address: Address) -> Customer | None:
        return self.lookups.customers.get((workspace, address))

    async def open_contact(self, workspace: str, thread_key: str) -> Contact | None:
        return self.lookups.open_contact(workspace, thread_key)

    async def contact(self, workspace: str, contact_id: str) -> Contact | None:
        return self.lookups.contacts.get((workspace, contact_id))

    async def contacts_of(
        self, workspace: str, customer_id: str, limit: int = 50
    ) -> Sequence[Contact]:
        found = [
            c
            for (w, _), c in self.lookups.contacts.items()
            if w == workspace and c.customer_id == customer_id
        ]
        found.sort(key=lambda c: c.created_at, reverse=True)
        return found[:limit]

    async def messages(self, workspace: str, contact_id: str) -> Sequence[Message]:
        return list(self.lookups.messages.get((workspace, contact_id), []))

    async def contact_events(self, workspace: str, contact_id: str) -> Sequence[StoredEvent]:
        return list(self.timelines.get((workspace, contact_id), []))

    async def search(self, workspace: str, text: str, limit: int = SEARCH_LIMIT) -> SearchResult:
        if not text:
            return SearchResult()
        needle = text.lower()
        customers = {c.id: c for (w, _), c in self.lookups.customers.items() if w == workspace}
        found = {
            c.id
            for c in customers.values()
            if c.id == text
            or needle in c.name.lower()
            or any(needle in a.value.lower() for a in c.addresses)
        }
        contacts = [
            c
            for (w, _), c in self.lookups.contacts.items()
            if w == workspace
            and (
                c.id == text
                or c.customer_id == text
                or c.customer_id in found
                or needle in c.subject.lower()
                or needle in c.address.value.lower()
            )
        ]
        contacts.sort(key=lambda c: c.created_at, reverse=True)
        return SearchResult(
            customers=tuple(customers[cid] for cid in sorted(found)[:limit]),
            contacts=tuple(contacts[:limit]),
        )

    async def outbox_due(self, now: float, limit: int = 100) -> Sequence[OutboxEntry]:
        return self.lookups.outbox_due(now, limit)

    async def retain(
        self, workspace: str, before: float, mode: str, *, dry_run: bool = False
    ) -> RetentionReport:
        log = self.logs.get(workspace, [])
        closed = {
            s.event.contact_id: s.event.at
            for s in log
            if isinstance(s.event, ContactClosed | ContactAbandoned | ContactRefused)
        }
        ids = {
            cid
            for cid, at in closed.items()
            if at < before and (workspace, cid) not in self.retained
        }
        touched = [s for s in log if contact_id_of(s.event) in ids]
        messages = sum(len(self.lookups.messages.get((workspace, cid), [])) for cid in ids)
        report = RetentionReport(
            workspace=workspace,
            mode=mode,
            before=before,
            contacts=len(ids),
            messages=messages,
            events=len(touched),
            dry_run=dry_run,
        )
        if dry_run or not ids:
            return report
        if mode == "delete":
            self.logs[workspace] = [s for s in log if contact_id_of(s.event) not in ids]
        else:
            self.logs[workspace] = [
                attrs.evolve(s, event=anonymise_event(s.event))
                if contact_id_of(s.event) in ids
                else s
                for s in log
            ]
            self.retained |= {(workspace, cid) for cid in ids}
        self.lookups = Lookups()  # rebuilt from what the log now says
        self.timelines = {}
        for stored in (s for entries in self.logs.values() for s in entries):
            self.lookups.apply(stored.event)
            self._index(stored)
        return report

    async def load_snapshot(self, workspace: str) -> Snapshot | None:
        return self.snapshots.get(workspace)

    async def save_snapshot(self, workspace: str, snapshot: Snapshot) -> None:
        self.snapshots[workspace] = snapshot


@attrs.frozen
class MemoryStoreSettings:
    """The memory store takes no settings."""


class _MemoryStoreFactory:
    name = "memory"
    Settings = MemoryStoreSettings

    def __call__(self, settings: Mapping[str, Any]) -> MemoryStore:
        return MemoryStore()


@hookimpl
def trunkline_register_stores() -> list[StoreFactory]:
    return [_MemoryStoreFactory()]
