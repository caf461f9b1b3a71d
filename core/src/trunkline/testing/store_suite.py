"""The store conformance suite: the tests every store backend runs against itself.

A backend's test module subclasses :class:`StoreConformance` and provides ``open_store``, an
async context manager yielding an opened store on a fresh database; ``reopen`` (optional)
yields a second store on the *same* database, for the durability tests (left out, not
skipped, for a store without it). Example::

    class TestMyStore(StoreConformance):
        @asynccontextmanager
        async def open_store(self):
            store = MyStore(dsn)
            await store.open()
            try:
                yield store
            finally:
                await store.aclose()
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar, TypeVar

import anyio
import attrs
import pytest

from .. import events as ev
from ..channels import TemporaryFailure
from ..model import Address, Contact, Customer, Direction, Message
from ..store import Snapshot, Store

__all__ = ["StoreConformance", "contact_events"]

W = "store-suite"


def contact_events(
    n: int, *, at: float = 1.0, key: str | None = None, workspace: str = W
) -> list[ev.Event]:
    """A new customer writing in: CustomerCreated, ContactReceived, MessageReceived."""
    address = Address("test", f"customer-{n}")
    customer = Customer(id=f"cu{n}", workspace=workspace, addresses=(address,))
    contact = Contact(
        id=f"ct{n}",
        workspace=workspace,
        channel="web",
        channel_kind="chat",
        direction=Direction.INBOUND,
        customer_id=customer.id,
        address=address,
        thread_key=f"thread-{n}",
        attributes={"n": n},
        created_at=at,
    )
    message = Message(
        id=f"ms{n}",
        workspace=workspace,
        contact_id=contact.id,
        direction=Direction.INBOUND,
        channel="web",
        body=f"hello {n}",
        sender=address,
        provider_id=key,
        created_at=at,
    )
    return [
        ev.CustomerCreated(workspace=workspace, at=at, customer=customer),
        ev.ContactReceived(workspace=workspace, at=at, contact=contact),
        ev.MessageReceived(workspace=workspace, at=at, message=message, idempotency_key=key),
    ]


def reply(n: int, at: float = 2.0) -> ev.OutboundQueued:
    message = Message(
        id=f"out{n}",
        workspace=W,
        contact_id=f"ct{n}",
        direction=Direction.OUTBOUND,
        channel="web",
        body=f"reply {n}",
        created_at=at,
    )
    return ev.OutboundQueued(workspace=W, at=at, message=message, to=Address("test", f"c{n}"))


_Test = TypeVar("_Test")
_DURABLE = "_trunkline_needs_reopen"


def _durable(test: _Test) -> _Test:
    """Mark a test that reopens the store: it exists only for stores that provide reopen()."""
    setattr(test, _DURABLE, True)
    return test


class StoreConformance:
    """Behaviour every :class:`~trunkline.store.Store` must show.

    A backend without ``reopen`` (one that keeps nothing between openings, like the memory
    store) does not get the durability tests at all, rather than skipping them on every run;
    ``not_applicable`` lists them.
    """

    not_applicable: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.reopen is not StoreConformance.reopen:
            return
        cls.not_applicable = {}
        for name in dir(cls):
            if name.startswith("test_") and getattr(getattr(cls, name), _DURABLE, False):
                cls.not_applicable[name] = "the store keeps nothing between openings (no reopen)"
                setattr(cls, name, None)  # not collected

    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[Store]:
        raise NotImplementedError("a store's test class provides open_store()")
        yield  # pragma: no cover

    @asynccontextmanager
    async def reopen(self) -> AsyncIterator[Store]:
        """A second store on the same database. Optional: without it the durability tests
        are left out."""
        raise NotImplementedError("reopen() is optional and not implemented")
        yield  # pragma: no cover

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    # The log ------------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_appends_are_numbered_and_read_back_in_order(self) -> None:
        async with self.open_store() as store:
            assert await store.append(contact_events(1)) == 3
            assert await store.append(contact_events(2)) == 6
            assert await store.last_seq(W) == 6
            stored = await store.read(W)
            assert [s.seq for s in stored] == [1, 2, 3, 4, 5, 6]
            assert [s.event for s in stored] == contact_events(1) + contact_events(2)
            assert [s.seq for s in await store.read(W, after=2, limit=3)] == [3, 4, 5]
            assert await store.read("another-workspace") == []

    @pytest.mark.anyio
    async def test_concurrent_appends_all_land_with_distinct_numbers(self) -> None:
        async with self.open_store() as store:
            results: list[int] = []

            async def write(n: int) -> None:
                results.append(await store.append(contact_events(n)))

            async with anyio.create_task_group() as tg:
                for n in range(50):
                    tg.start_soon(write, n)
            assert sorted(results) == [3 * k for k in range(1, 51)]
            stored = await store.read(W)
            assert len(stored) == 150
            assert {
                s.event.contact.id for s in stored if isinstance(s.event, ev.ContactReceived)
            } == {f"ct{n}" for n in range(50)}

    # Lookups ------------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_lookups_follow_the_log(self) -> None:
        async with self.open_store() as store:
            await store.append(contact_events(1, key="web:m1"))
            customer = await store.customer_by_address(W, Address("test", "customer-1"))
            assert customer is not None
            assert customer.id == "cu1"
            contact = await store.open_contact(W, "thread-1")
            assert contact is not None
            assert contact.attributes == {"n": 1}
            assert await store.contact(W, "ct1") == contact
            assert await store.seen(W, "web:m1") == ("ct1", "ms1")
            assert await store.seen(W, "web:m2") is None
            assert [m.body for m in await store.messages(W, "ct1")] == ["hello 1"]
            await store.append([ev.ContactClosed(workspace=W, at=5, contact_id="ct1")])
            assert await store.open_contact(W, "thread-1") is None
            assert await store.contact(W, "ct1") == contact  # closed, still there

    @pytest.mark.anyio
    async def test_a_customers_contacts_are_their_history_newest_first(self) -> None:
        async with self.open_store() as store:
            await store.append(contact_events(1, at=1.0))
            second = contact_events(2, at=5.0)
            customer = second[0].customer  # type: ignore[attr-defined]
            again = attrs.evolve(second[1].contact, customer_id="cu1")  # type: ignore[attr-defined]
            await store.append([ev.ContactReceived(workspace=W, at=5.0, contact=again)])
            assert [c.id for c in await store.contacts_of(W, "cu1")] == ["ct2", "ct1"]
            assert [c.id for c in await store.contacts_of(W, "cu1", limit=1)] == ["ct2"]
            assert await store.contacts_of(W, customer.id) == []
            assert await store.contacts_of("elsewhere", "cu1") == []

    @pytest.mark.anyio
    async def test_abandoned_and_refused_contacts_close_their_thread(self) -> None:
        async with self.open_store() as store:
            await store.append(contact_events(1) + contact_events(2))
            await store.append(
                [
                    ev.ContactAbandoned(workspace=W, at=3, contact_id="ct1", waited=2),
                    ev.ContactRefused(workspace=W, at=3, contact_id="ct2", queue="q", reason="x"),
                ]
            )
            assert await store.open_contact(W, "thread-1") is None
            assert await store.open_contact(W, "thread-2") is None

    @pytest.mark.anyio
    async def test_the_outbox_follows_sends_and_retries(self) -> None:
        async with self.open_store() as store:
            await store.append([*contact_events(1), reply(1, at=2.0)])
            (due,) = await store.outbox_due(2.0)
            assert (due.message.body, due.to, due.attempts) == ("reply 1", Address("test", "c1"), 0)
            assert await store.outbox_due(1.0) == []
            await store.append(
                [
                    ev.SendAttemptFailed(
                        workspace=W, at=3, message_id="out1", attempt=1, error="x", retry_at=9
                    )
                ]
            )
            assert await store.outbox_due(8.0) == []
            assert [e.attempts for e in await store.outbox_due(9.0)] == [1]
            await store.append([ev.MessageSent(workspace=W, at=9, message_id="out1")])
            assert await store.outbox_due(100.0) == []
            assert [m.body for m in await store.messages(W, "ct1")] == ["hello 1", "reply 1"]

    @pytest.mark.anyio
    async def test_a_contacts_events_are_its_timeline_in_order(self) -> None:
        async with self.open_store() as store:
            await store.append(contact_events(1) + contact_events(2))
            note = ev.NoteAdded(
                workspace=W, at=3, contact_id="ct1", note_id="nt1", author="ada", text="VIP"
            )
            await store.append([note, reply(1, at=4.0)])
            await store.append([ev.ContactClosed(workspace=W, at=5, contact_id="ct1")])
            timeline = await store.contact_events(W, "ct1")
            assert [type(s.event).__name__ for s in timeline] == [
                "ContactReceived",
                "MessageReceived",
                "NoteAdded",
                "OutboundQueued",
                "ContactClosed",
            ]
            assert [s.seq for s in timeline] == [2, 3, 7, 8, 9]
            assert timeline[2].event == note
            assert [s.seq for s in await store.contact_events(W, "ct2")] == [5, 6]
            assert await store.contact_events("elsewhere", "ct1") == []

    async def _searchable(self, store: Store) -> None:
        """Three customers in W (one with a name and two addresses) and one elsewhere."""
        named = Customer(
            id="cu1",
            workspace=W,
            addresses=(Address("email", "Zoe.Quinn@Example.com"), Address("e164", "+4930123")),
            name="Zoë Quinn",
        )
        events = contact_events(1, at=1.0)
        events[0] = ev.CustomerCreated(workspace=W, at=1.0, customer=named)
        first = attrs.evolve(
            events[1].contact,  # type: ignore[attr-defined]
            address=named.addresses[0],
            subject="Refund for order 100%_off",
        )
        events[1] = ev.ContactReceived(workspace=W, at=1.0, contact=first)
        again = attrs.evolve(
            first, id="ct1b", address=named.addresses[1], subject="Call back", created_at=7.0
        )
        later = [ev.ContactReceived(workspace=W, at=7.0, contact=again)]
        await store.append(events + later + contact_events(2, at=3.0) + contact_events(3, at=5.0))
        await store.append(contact_events(4, workspace="elsewhere"))

    @pytest.mark.anyio
    async def test_search_finds_customers_and_their_contacts_by_name_address_subject_or_id(
        self,
    ) -> None:
        async with self.open_store() as store:
            await self._searchable(store)
            by_name = await store.search(W, "zoË")  # any case, any script
            assert [c.id for c in by_name.customers] == ["cu1"]
            assert [c.id for c in by_name.contacts] == ["ct1b", "ct1"]  # newest first
            by_address = await store.search(W, "example.COM")
            assert [c.id for c in by_address.customers] == ["cu1"]
            assert [c.id for c in by_address.contacts] == ["ct1b", "ct1"]
            phone = await store.search(W, "+4930")
            assert [c.id for c in phone.contacts] == ["ct1b", "ct1"]
            by_subject = await store.search(W, "REFUND")
            assert (by_subject.customers, [c.id for c in by_subject.contacts]) == ((), ["ct1"])
            assert [c.id for c in (await store.search(W, "ct2")).contacts] == ["ct2"]
            by_customer_id = await store.search(W, "cu3")
            assert [c.id for c in by_customer_id.customers] == ["cu3"]
            assert [c.id for c in by_customer_id.contacts] == ["ct3"]
            customers = await store.search(W, "customer-")
            assert [c.id for c in customers.customers] == ["cu2", "cu3"]
            assert [c.id for c in customers.contacts] == ["ct3", "ct2"]
            assert [c.id for c in (await store.search(W, "customer-", limit=1)).contacts] == ["ct3"]

    @pytest.mark.anyio
    async def test_search_takes_its_text_literally_and_stays_in_its_workspace(self) -> None:
        async with self.open_store() as store:
            await self._searchable(store)
            assert [c.id for c in (await store.search(W, "100%_off")).contacts] == ["ct1"]
            nothing = (await store.search(W, "100%off"), await store.search(W, "order_1"))
            assert [r.contacts for r in nothing] == [(), ()]
            assert (await store.search(W, "")).contacts == ()
            assert (await store.search(W, "%%")).contacts == ()
            assert [c.id for c in (await store.search(W, "_")).contacts] == ["ct1"]
            elsewhere = await store.search(W, "customer-4")
            assert (elsewhere.customers, elsewhere.contacts) == ((), ())
            assert [c.id for c in (await store.search("elsewhere", "customer-4")).contacts] == [
                "ct4"
            ]
            assert (await store.search("elsewhere", "zoe")).customers == ()

    # Failures -----------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_a_failing_append_fails_alone_and_loses_nothing(self) -> None:
        async with self.open_store() as store:
            await store.append(contact_events(1, key="web:dup"))
            outcomes: dict[int, Any] = {}

            async def write(n: int, key: str) -> None:
                try:
                    outcomes[n] = await store.append(contact_events(n, key=key))
                except TemporaryFailure as exc:
                    outcomes[n] = exc

            async with anyio.create_task_group() as tg:
                tg.start_soon(write, 2, "web:other")
                tg.start_soon(write, 3, "web:dup")  # the same provider id again
                tg.start_soon(write, 4, "web:third")
            assert isinstance(outcomes[3], TemporaryFailure)
            assert isinstance(outcomes[2], int)
            assert isinstance(outcomes[4], int)
            assert await store.seen(W, "web:dup") == ("ct1", "ms1")
            contacts = [
                s.event.contact.id
                for s in await store.read(W)
                if isinstance(s.event, ev.ContactReceived)
            ]
            assert sorted(contacts) == ["ct1", "ct2", "ct4"]
            assert [s.seq for s in await store.read(W)] == list(range(1, 10))

    # Snapshots and durability -------------------------------------------------------------

    @pytest.mark.anyio
    async def test_the_latest_snapshot_is_kept(self) -> None:
        async with self.open_store() as store:
            assert await store.load_snapshot(W) is None
            await store.save_snapshot(W, Snapshot(seq=3, fingerprint="f1", data=b"\x00one"))
            await store.save_snapshot(W, Snapshot(seq=9, fingerprint="f2", data=b"\x00two"))
            assert await store.load_snapshot(W) == Snapshot(
                seq=9, fingerprint="f2", data=b"\x00two"
            )

    @_durable
    @pytest.mark.anyio
    async def test_everything_appended_is_there_after_reopening(self) -> None:
        async with self.open_store() as store:
            await store.append([*contact_events(1, key="web:1"), reply(1)])
            await store.save_snapshot(W, Snapshot(seq=2, fingerprint="f", data=b"s"))
        async with self.reopen() as again:
            assert [s.seq for s in await again.read(W)] == [1, 2, 3, 4]
            assert await again.last_seq(W) == 4
            assert await again.seen(W, "web:1") == ("ct1", "ms1")
            assert [e.message.id for e in await again.outbox_due(10.0)] == ["out1"]
            assert await again.append(contact_events(2)) == 7
            assert (await again.load_snapshot(W)) == Snapshot(seq=2, fingerprint="f", data=b"s")

    # Retention ----------------------------------------------------------------------------

    async def _two_old_one_new(self, store: Store) -> None:
        await store.append(contact_events(1, key="web:1", at=10.0))
        await store.append(contact_events(2, key="web:2", at=10.0))
        await store.append(contact_events(3, key="web:3", at=10.0))
        await store.append([ev.ContactClosed(workspace=W, at=20.0, contact_id="ct1")])
        await store.append([ev.ContactAbandoned(workspace=W, at=30.0, contact_id="ct2", waited=1)])
        await store.append([ev.ContactClosed(workspace=W, at=500.0, contact_id="ct3")])

    @pytest.mark.anyio
    async def test_deleting_the_newest_contacts_never_turns_the_numbering_back(self) -> None:
        async with self.open_store() as store:
            await store.append(contact_events(1, at=10.0))
            await store.append([ev.ContactClosed(workspace=W, at=20.0, contact_id="ct1")])
            last = await store.last_seq(W)
            await store.retain(W, 100.0, "delete")
            assert await store.messages(W, "ct1") == []
            assert await store.append(contact_events(2)) == last + 3

    @_durable
    @pytest.mark.anyio
    async def test_deleting_the_newest_contacts_never_turns_the_numbering_back_on_reopening(
        self,
    ) -> None:
        async with self.open_store() as store:
            await store.append(contact_events(1, at=10.0))
            await store.append([ev.ContactClosed(workspace=W, at=20.0, contact_id="ct1")])
            last = await store.last_seq(W)
            await store.retain(W, 100.0, "delete")
        async with self.reopen() as again:
            assert await again.append(contact_events(3)) == last + 3

    @pytest.mark.anyio
    async def test_a_dry_run_of_retention_counts_and_changes_nothing(self) -> None:
        async with self.open_store() as store:
            await self._two_old_one_new(store)
            before = await store.read(W)
            report = await store.retain(W, 100.0, "delete", dry_run=True)
            assert (report.contacts, report.messages, report.events) == (2, 2, 6)
            assert report.line() == (
                f'workspace "{W}": would delete 2 contacts, 2 messages, 6 events'
            )
            assert await store.read(W) == before

    @pytest.mark.anyio
    async def test_retention_anonymises_old_contacts_and_keeps_the_rest(self) -> None:
        async with self.open_store() as store:
            await self._two_old_one_new(store)
            report = await store.retain(W, 100.0, "anonymise")
            assert (report.contacts, report.events) == (2, 6)
            assert [m.body for m in await store.messages(W, "ct1")] == [""]
            assert [m.body for m in await store.messages(W, "ct3")] == ["hello 3"]
            old = await store.contact(W, "ct1")
            assert old is not None
            assert old.address.value.startswith("anonymised-")
            assert old.attributes == {}
            for stored in await store.read(W):
                event = stored.event
                if isinstance(event, ev.MessageReceived) and event.message.contact_id != "ct3":
                    assert event.message.body == ""
                    assert event.message.sender is not None
                    assert event.message.sender.value.startswith("anonymised-")
            again = await store.retain(W, 100.0, "anonymise")
            assert again.contacts == 0  # retained once only
            assert [s.seq for s in await store.read(W)] == list(range(1, 13))

    @pytest.mark.anyio
    async def test_retention_deletes_old_contacts_from_the_log_and_lookups(self) -> None:
        async with self.open_store() as store:
            await self._two_old_one_new(store)
            await store.retain(W, 100.0, "delete")
            assert await store.contact(W, "ct1") is None
            assert await store.messages(W, "ct2") == []
            assert await store.seen(W, "web:1") is None
            assert await store.seen(W, "web:3") == ("ct3", "ms3")
            left = await store.read(W)
            assert {ev.contact_id_of(s.event) for s in left} - {None} == {"ct3"}
            last = await store.last_seq(W)
            assert await store.append(contact_events(4)) == last + 3  # numbering goes on
            after = [s.seq for s in await store.read(W, after=last)]
            assert after == [last + 1, last + 2, last + 3]
