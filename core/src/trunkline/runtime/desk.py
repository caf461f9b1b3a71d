"""One writer per workspace: the :class:`Desk`, its decisions and its commit pipeline.

A desk holds a workspace's routing engine and the lock that makes it single-writer. What is
decided under the lock is queued (:meth:`Desk.submit`) for the desk's committer, which appends
many decisions at a time, in order, and tells the runtime what was stored. A failed append
fails those decisions and rebuilds the engine from the store. :meth:`Desk.rebuild` (the
latest snapshot, then the log after it) is the one rebuild: at start-up, after a failed
append, and when a node takes a workspace over from another.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import anyio
import attrs

from .. import events as ev
from ..channels import TemporaryFailure
from ..config import WorkspaceConfig
from ..model import Contact
from ..plugins import PluginManager
from ..routing import Command, EnqueueContact, Router, RoutingEngine, Strategy
from ..routing.engine import SNAPSHOT_FORMAT
from ..store import Snapshot, StoredEvent

if TYPE_CHECKING:
    from .protocols import PluginRuntime
    from .steps import DecisionStep

__all__ = ["Desk", "EngineFactory", "Ledger", "Pending", "default_engine"]

log = logging.getLogger("trunkline.runtime")

REPLAY_CHUNK = 10_000  # events read at a time when rebuilding from the store

EngineFactory = Callable[[WorkspaceConfig, Mapping[str, Strategy], PluginManager], RoutingEngine]


def default_engine(
    workspace: WorkspaceConfig, strategies: Mapping[str, Strategy], pm: PluginManager
) -> Router:
    """Build the routing engine core ships for a workspace."""
    return Router(
        workspace.workspace.id,
        workspace.queues,
        workspace.agents,
        strategies=strategies,
        hooks=pm.routing_hooks,
        skills=workspace.skills,
        settings=workspace.routing,
        schedules=workspace.hours,
    )


class Pending:
    """Events decided under a desk's lock, waiting for the committer to make them durable."""

    __slots__ = ("done", "engine", "error", "events")

    def __init__(self, events: Sequence[ev.Event], engine: RoutingEngine | None = None) -> None:
        self.events = events
        # The engine the events were applied to when decided; None when the desk did not
        # route then. Only that engine has them: another (a takeover's rebuild) must still
        # apply them from the log.
        self.engine = engine
        self.done = anyio.Event()
        self.error: BaseException | None = None

    def finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self.done.set()

    async def stored(self) -> None:
        """Wait until the events are durable; raise TemporaryFailure if they never will be."""
        await self.done.wait()
        if self.error is not None:
            raise self.error


@attrs.define
class Ledger:
    """What every desk of a runtime shares: the runtime (its store, clock and configuration),
    how to build an engine, the decision steps, and who hears of each append."""

    runtime: PluginRuntime
    engine_factory: EngineFactory
    strategies: Mapping[str, Strategy]
    decision_steps: Sequence[DecisionStep] = ()
    stored: Callable[[Sequence[ev.Event]], None] = lambda events: None  # after each append
    follows: tuple[type[ev.Event], ...] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.follows = tuple({t for step in self.decision_steps for t in step.follows})

    def new_engine(self, workspace: WorkspaceConfig) -> RoutingEngine:
        return self.engine_factory(workspace, self.strategies, self.runtime.pm)

    def fingerprint(self, workspace: WorkspaceConfig) -> str:
        """Names the configuration a snapshot was taken under: another one replays instead."""
        text = repr(
            (
                SNAPSHOT_FORMAT,
                workspace.queues,
                workspace.agents,
                workspace.skills,
                workspace.routing,
                sorted(workspace.hours.items()),
                sorted(self.strategies),
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()


@attrs.define
class Desk:
    """One workspace's routing: its engine, the lock that makes it single-writer, a wake-up,
    and the queue of decisions its committer appends."""

    ledger: Ledger = attrs.field(repr=False)
    config: WorkspaceConfig
    engine: RoutingEngine = attrs.field(init=False)
    lock: anyio.Lock = attrs.field(factory=anyio.Lock)
    wake: anyio.Event | None = None
    unsnapshotted: int = 0  # events appended since the last routing snapshot
    # Shared stores (several nodes): only the holder of the workspace's lease routes it.
    owned: bool = True
    applied: int = 0  # every event up to this sequence number is in the engine
    own: list[tuple[int, int]] = attrs.field(factory=list)  # own appends past ``applied``
    scope: anyio.CancelScope | None = None  # the routing timers, while owned
    pending: list[Pending] = attrs.field(factory=list)  # decided, waiting to be appended
    has_pending: anyio.Event = attrs.field(factory=anyio.Event)
    closing: bool = False  # the runtime stops: the committer drains and ends
    closed: bool = False  # the committer has ended

    def __attrs_post_init__(self) -> None:
        self.engine = self.ledger.new_engine(self.config)

    @property
    def id(self) -> str:
        return self.config.workspace.id

    def poke(self) -> None:
        if self.wake is not None:
            self.wake.set()

    # Rebuilding ---------------------------------------------------------------------------

    async def rebuild(self, *, fresh: bool = False) -> None:
        """A fresh engine: the latest snapshot if it fits, then the log after it, in chunks.

        The caller holds the lock, or nothing runs yet (start-up: ``fresh``, the desk's engine
        was just built and has seen nothing, so it is used rather than built again)."""
        ledger, store = self.ledger, self.ledger.runtime.store
        engine = self.engine if fresh else ledger.new_engine(self.config)
        after = 0
        snapshot = await store.load_snapshot(self.id)
        if snapshot is not None and snapshot.fingerprint == ledger.fingerprint(self.config):
            try:
                await anyio.to_thread.run_sync(engine.restore, snapshot.data)
                after = snapshot.seq
            except Exception:
                log.warning(
                    'workspace "%s": the routing snapshot could not be loaded; replaying the '
                    "whole log",
                    self.id,
                    exc_info=True,
                )
                engine = ledger.new_engine(self.config)
        replayed = 0
        while True:
            chunk = await store.read(self.id, after, REPLAY_CHUNK)
            for stored in chunk:
                engine.apply(stored.event)
            replayed += len(chunk)
            if chunk:
                after = chunk[-1].seq
            if len(chunk) < REPLAY_CHUNK:
                break
        self.engine, self.unsnapshotted, self.applied, self.own = engine, replayed, after, []

    def catch_up(self, chunk: Sequence[StoredEvent]) -> list[Contact]:
        """Apply what other nodes appended (``chunk``, read after :attr:`applied`), skipping
        this node's own appends; the contacts they received. The caller holds the lock."""
        received: list[Contact] = []
        for stored in chunk:
            if not any(first <= stored.seq <= last for first, last in self.own):
                self.engine.apply(stored.event)
                if isinstance(stored.event, ev.ContactReceived):
                    received.append(stored.event.contact)
        if chunk:
            self.applied = chunk[-1].seq
            self.own = [(a, b) for a, b in self.own if b > self.applied]
        return received

    # Deciding -----------------------------------------------------------------------------

    async def decide(self, command: Command, now: float) -> list[ev.Event]:
        """The engine's decision on ``command``, with what the decision steps add to it (a
        survey after a close). The caller holds the lock and submits the result as one
        batch, so a close and its survey are appended together or not at all."""
        events = self.engine.handle(command, now)
        follows = self.ledger.follows
        if not follows or not any(isinstance(e, follows) for e in events):
            return events
        out: list[ev.Event] = []
        for i, event in enumerate(events):
            out.append(event)
            for step in self.ledger.decision_steps:
                if isinstance(event, step.follows):
                    out += await self._follow(step, event, events[:i])
        return out

    async def _follow(
        self, step: DecisionStep, event: ev.Event, before: Sequence[ev.Event]
    ) -> Sequence[ev.Event]:
        try:
            return await step.follow(event, before, self, self.ledger.runtime)
        except Exception:
            log.exception('decision step "%s" failed on %s; ignored', step.name, event.type)
            return ()

    async def route(self, contacts: Sequence[Contact], now: float) -> Pending:
        """Queue those of ``contacts`` the engine holds unrouted (received by another node,
        or before a take-over) and submit the decisions; the caller holds the lock."""
        waiting = {c.id for c in self.engine.unrouted()}
        events: list[ev.Event] = []
        for contact in contacts:
            if contact.id in waiting:
                events += await self.decide(EnqueueContact(contact), now)
        return self.submit(events)

    # Committing ---------------------------------------------------------------------------

    def submit(self, events: Sequence[ev.Event]) -> Pending:
        """Queue events decided under the lock for the committer; the caller releases the
        lock, then awaits ``stored()``.

        Decisions are made one at a time under the lock, but their appends are grouped: all
        that queue up while one append is being made go into the next one, a single atomic
        append. So a busy workspace shares the cost of a durable commit among many contacts,
        and the order of the log is the order of the decisions.
        """
        pending = Pending(events, self.engine if self.owned else None)
        if not events:
            pending.finish()
            return pending
        if self.closed:
            pending.finish(TemporaryFailure("the runtime is stopping; send again"))
            return pending
        self.pending.append(pending)
        self.has_pending.set()
        return pending

    async def commit(self, events: Sequence[ev.Event]) -> None:
        """Submit ``events`` under the lock and wait until they are stored."""
        async with self.lock:
            pending = self.submit(events)
        await pending.stored()

    async def committer(self) -> None:
        """Append what the desk decided, in order, many decisions at a time.

        Shielded from cancellation: it stops when the desk is closing and nothing is left.
        """
        try:
            with anyio.CancelScope(shield=True):
                await self._commit_loop()
        finally:
            self.closed = True
            stopping = TemporaryFailure("the runtime is stopping; send again")
            for pending in self.pending:
                pending.finish(stopping)
            self.pending = []

    async def _commit_loop(self) -> None:
        while True:
            if not self.pending:
                if self.closing:
                    return
                await self.has_pending.wait()
                self.has_pending = anyio.Event()
                continue
            await self._append_pending()
            if not self.closing:
                every = self.ledger.runtime.config.store.snapshot_every
                if every and self.owned and self.unsnapshotted >= every:
                    async with self.lock:  # new decisions wait: the engine matches the log
                        while self.pending:
                            await self._append_pending()
                        if self.unsnapshotted >= every and not self.own:
                            await self._snapshot(self.applied)

    async def _append_pending(self) -> None:
        batch, self.pending = self.pending, []
        if not batch:
            return
        events = [event for pending in batch for event in pending.events]
        with anyio.CancelScope(shield=True):  # once begun, an append is seen to its end
            try:
                seq = await self.ledger.runtime.store.append(events)
            except Exception as exc:
                await self._recover(batch, exc)
                return
            if self.owned:
                # The events of each decision are consecutive, in the batch's order. Those its
                # engine applied are this desk's own; those decided while the desk did not
                # route (the lease was taken over before the append returned) are left to the
                # tail to apply, as another node's would be.
                first = seq - len(events) + 1
                for pending in batch:
                    last = first + len(pending.events) - 1
                    if pending.events and pending.engine is self.engine:
                        if first - 1 == self.applied:
                            self.applied = last
                        else:  # another node appended in between: the tail applies it later
                            self.own.append((first, last))
                    first = last + 1
                self.unsnapshotted += len(events)
                self.poke()
            self.ledger.stored(events)
            for pending in batch:
                pending.finish()

    async def _recover(self, batch: list[Pending], exc: Exception) -> None:
        """An append failed: its decisions, and every one made since on top of them, fail;
        the engine is rebuilt from the store before anything new is decided."""
        async with self.lock:
            failed = batch + self.pending
            self.pending = []
            if self.owned:
                await self.rebuild()
        error = (
            exc
            if isinstance(exc, TemporaryFailure)
            else TemporaryFailure(f"the store refused the append: {exc}")
        )
        for pending in failed:
            pending.finish(error)

    async def _snapshot(self, seq: int) -> None:
        """Save the engine's state as of ``seq`` (the caller holds the lock)."""
        self.unsnapshotted = 0
        try:
            data = await anyio.to_thread.run_sync(self.engine.snapshot)
            await self.ledger.runtime.store.save_snapshot(
                self.id,
                Snapshot(seq=seq, fingerprint=self.ledger.fingerprint(self.config), data=data),
            )
        except Exception:
            log.exception('workspace "%s": the routing snapshot failed; the log is intact', self.id)
