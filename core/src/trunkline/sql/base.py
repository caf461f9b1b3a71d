"""``SqlStore``: what every SQL store does the same way, on top of a few primitives of its own.

The shared schema's reads, snapshots, retention and the group commit of appends are written
here once. A store for one engine subclasses :class:`SqlStore` and provides, in that engine's
driver, how to read (:meth:`~SqlStore._query`), how to run a plan in one write transaction
(:meth:`~SqlStore._transaction`) and how to write one group of appends in one transaction
(:meth:`~SqlStore._commit`); plus opening, closing and :meth:`~SqlStore.last_seq`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import anyio

from ..channels import TemporaryFailure
from ..events import Event
from ..model import Address, Contact, Customer, Message
from ..retention import RetentionReport
from ..store import SEARCH_LIMIT, OutboxEntry, SearchResult, Snapshot, StoredEvent
from . import queries as q
from .dialect import Dialect, Statement
from .plan import Plan, single
from .retention import retention_plan
from .rows import event_rows, numbered

__all__ = ["Batch", "SqlStore"]

T = TypeVar("T")


class Batch:
    """One ``append`` call: its events, their rows, and its place in a group commit.

    The rows are encoded when the append arrives, outside the commit, with the sequence
    number left open (:data:`~trunkline.sql.rows.SEQ`); :meth:`SqlStore._number` fills it in.
    """

    __slots__ = ("done", "error", "events", "rows", "seq", "taken", "wake")

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events
        self.rows = [event_rows(event) for event in events]
        self.wake = anyio.Event()  # set when done, or to nudge it to lead the next commit
        self.taken = False  # in a commit under way
        self.done = False
        self.seq = 0  # the number of its last event, once written
        self.error: BaseException | None = None


class SqlStore(ABC):
    """The event log and its lookups in an SQL database of the shared schema.

    Subclasses set :attr:`dialect` and :attr:`engine` and implement the abstract methods.
    Every statement here is written with ``?`` placeholders and handed to the primitives in
    the dialect's spelling.
    """

    name: str  # the backend's name in [store] backend
    dialect: ClassVar[Dialect]
    engine: ClassVar[str]  # how messages name the engine: "the SQLite store could not read"

    def __init__(self) -> None:
        self.upgrade = False  # set by `trunkline db upgrade` before open()
        self.append_lanes = 1  # group commits under way at once
        self.commits = 0  # append transactions committed: for tests and benchmarks
        self._queue: list[Batch] = []
        self._leaders = 0
        self._spelled: dict[str, str] = {}
        customers, contacts = q.search_statements(self.dialect)
        self._search_customers, self._search_contacts = self._sql(customers), self._sql(contacts)

    # What a subclass provides ---------------------------------------------------------------

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def aclose(self) -> None: ...

    @abstractmethod
    async def last_seq(self, workspace: str) -> int: ...

    @abstractmethod
    async def _query(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        """The rows of one read (``statement`` in the dialect's spelling); a failure raises
        :class:`TemporaryFailure` (see :meth:`_failure`)."""

    async def _lookup(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        """A point lookup by a unique key (intake's hot path); by default a :meth:`_query`."""
        return await self._query(statement, params)

    @abstractmethod
    async def _transaction(self, plan: Plan[T], doing: str, *, commit: bool = True) -> T:
        """Run ``plan`` in one write transaction, committed (or rolled back when ``commit`` is
        false), and return its result. Its statements have ``?`` placeholders: spell each with
        ``self.dialect.sql``. A failure of the database raises :class:`TemporaryFailure`
        saying what the store could not do (``doing``)."""

    @abstractmethod
    async def _commit(self, group: list[Batch]) -> None:
        """Write a group of appends in one transaction, numbering each with :meth:`_number`.

        One whose rows the database refuses (a redelivered provider id) gets ``error`` and
        stores nothing, the others are written; raising fails the whole group.
        """

    def _reason(self, exc: BaseException) -> str:
        """``exc`` as messages show it (a store may blank a password in it)."""
        return str(exc)

    # Helpers for subclasses -----------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        """``statement`` in the dialect's spelling, adapted once."""
        try:
            return self._spelled[statement]
        except KeyError:
            spelled = self._spelled[statement] = self.dialect.sql(statement)
            return spelled

    def _failure(self, doing: str, exc: BaseException) -> TemporaryFailure:
        return TemporaryFailure(f"the {self.engine} store could not {doing}: {self._reason(exc)}")

    @staticmethod
    def _number(batch: Batch, seqs: dict[str, int]) -> list[Statement]:
        """The statements of one append, its events numbered on from ``seqs`` (updated)."""
        statements: list[Statement] = []
        for event, rows in zip(batch.events, batch.rows, strict=True):
            seq = seqs[event.workspace] = seqs.get(event.workspace, 0) + 1
            statements += numbered(rows, seq)
            batch.seq = seq
        return statements

    # Appending: group commit ----------------------------------------------------------------

    async def append(self, events: Sequence[Event]) -> int:
        """Append ``events``, durably, numbered on from the workspace's last; return the last
        number. While a commit is being made the appends that arrive wait, and the next
        commit takes all of them: concurrent writers share one transaction and one flush."""
        if not events:
            return 0
        batch = Batch(events)
        # Shielded: once queued, the batch is committed or failed whatever the caller does,
        # and a waiter nudged to lead the next commit must not be cancelled out of it.
        with anyio.CancelScope(shield=True):
            self._queue.append(batch)
            while not batch.done:
                if not batch.taken and self._leaders < self.append_lanes:
                    await self._lead()
                else:
                    batch.wake = anyio.Event()
                    await batch.wake.wait()
        if batch.error is not None:
            raise self._failure("append", batch.error) from batch.error
        return batch.seq

    async def _lead(self) -> None:
        """Commit every queued append in one transaction, then wake them."""
        self._leaders += 1
        group, self._queue = self._queue, []
        for batch in group:
            batch.taken = True
        try:
            await self._commit(group)
            self.commits += 1
        except Exception as exc:  # nothing of the group was stored: each append is told
            for batch in group:
                batch.error = batch.error or exc
        finally:
            self._leaders -= 1
            for batch in group:
                batch.done = True
                batch.wake.set()
            if self._queue:  # arrived meanwhile: the first of them leads the next commit
                self._queue[0].wake.set()

    # Reading --------------------------------------------------------------------------------

    async def read(
        self, workspace: str, after: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        limit = self.dialect.no_limit if limit is None else limit
        rows = await self._query(self._sql(q.READ_EVENTS), (workspace, after, limit))
        return q.stored_events(rows)

    async def seen(self, workspace: str, idempotency_key: str) -> tuple[str, str] | None:
        rows = await self._lookup(self._sql(q.SEEN), (workspace, idempotency_key))
        return (rows[0][0], rows[0][1]) if rows else None

    async def customer_by_address(self, workspace: str, address: Address) -> Customer | None:
        rows = await self._lookup(
            self._sql(q.CUSTOMER_BY_ADDRESS), (workspace, address.kind, address.value)
        )
        customer: Customer | None = q.one(rows, Customer)
        return customer

    async def open_contact(self, workspace: str, thread_key: str) -> Contact | None:
        rows = await self._lookup(self._sql(q.OPEN_CONTACT), (workspace, thread_key))
        contact: Contact | None = q.one(rows, Contact)
        return contact

    async def contact(self, workspace: str, contact_id: str) -> Contact | None:
        rows = await self._lookup(self._sql(q.CONTACT), (workspace, contact_id))
        contact: Contact | None = q.one(rows, Contact)
        return contact

    async def contacts_of(
        self, workspace: str, customer_id: str, limit: int = 50
    ) -> Sequence[Contact]:
        rows = await self._query(self._sql(q.CONTACTS_OF), (workspace, customer_id, limit))
        contacts: list[Contact] = q.many(rows, Contact)
        return contacts

    async def messages(self, workspace: str, contact_id: str) -> Sequence[Message]:
        rows = await self._query(self._sql(q.MESSAGES), (workspace, contact_id))
        messages: list[Message] = q.many(rows, Message)
        return messages

    async def contact_events(self, workspace: str, contact_id: str) -> Sequence[StoredEvent]:
        rows = await self._query(self._sql(q.CONTACT_EVENTS), (workspace, contact_id))
        return q.stored_events(rows)

    async def search(self, workspace: str, text: str, limit: int = SEARCH_LIMIT) -> SearchResult:
        if not text:
            return SearchResult()
        like = q.search_pattern(text)
        customers = await self._query(self._search_customers, (workspace, text, like, like, limit))
        contacts = await self._query(
            self._search_contacts,
            (workspace, text, text, like, like, workspace, text, like, like, limit),
        )
        return SearchResult(
            customers=tuple(q.many(customers, Customer)),
            contacts=tuple(q.many(contacts, Contact)),
        )

    async def outbox_due(self, now: float, limit: int = 100) -> Sequence[OutboxEntry]:
        return q.outbox_entries(await self._query(self._sql(q.OUTBOX_DUE), (now, limit)))

    # Retention and snapshots ----------------------------------------------------------------

    async def retain(
        self, workspace: str, before: float, mode: str, *, dry_run: bool = False
    ) -> RetentionReport:
        plan = retention_plan(workspace, before, mode, dry_run=dry_run)
        return await self._transaction(plan, "apply retention", commit=not dry_run)

    async def load_snapshot(self, workspace: str) -> Snapshot | None:
        rows = await self._query(self._sql(q.LOAD_SNAPSHOT), (workspace,))
        if not rows:
            return None
        seq, fingerprint, data = rows[0]
        return Snapshot(seq=int(seq), fingerprint=fingerprint, data=bytes(data))

    async def save_snapshot(self, workspace: str, snapshot: Snapshot) -> None:
        params = (workspace, snapshot.seq, snapshot.fingerprint, snapshot.data)
        await self._transaction(single(q.SAVE_SNAPSHOT, params), "save a snapshot")
