"""The runtime: channels, the inbound pipeline, one routing desk per workspace, the outbox.

Everything runs in one anyio task group. Per workspace a :class:`Desk` holds the routing
engine and a lock, so each workspace has exactly one writer. The inbound path is
normalise → filter → resolve the customer → thread → classify → durable append (with the
routing decision, in one batch) → acknowledge. Outbound messages are appended to the log
first (the outbox) and sent by a worker that retries with backoff.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from . import events as ev
from . import hookspecs
from .channels import (
    Ack,
    ChannelAdapter,
    InboundMessage,
    InboundRejected,
    OutboundMessage,
    PermanentSendError,
    SendsSignals,
    Signal,
    TemporaryFailure,
    check_inbound,
)
from .clock import Clock, SystemClock
from .config import Config, WorkspaceConfig
from .errors import PluginError, TrunklineError
from .model import (
    AgentStatus,
    Attachment,
    Contact,
    Customer,
    Direction,
    Message,
    new_id,
)
from .plugins import PluginManager
from .routing import (
    AbandonContact,
    AcceptOffer,
    Classification,
    CloseContact,
    Command,
    EndContact,
    EnqueueContact,
    RejectOffer,
    Router,
    RoutingEngine,
    SetAgentStatus,
    Strategy,
    Tick,
    TransferContact,
)
from .routing.engine import SNAPSHOT_FORMAT
from .services import Service
from .store import OutboxEntry, SharedStore, Snapshot, Store
from .survey import SurveySettings, answer_to_survey, survey_events

__all__ = ["Desk", "EngineFactory", "Runtime", "default_engine"]

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


class _Pending:
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
class Desk:
    """One workspace's routing: its engine, the lock that makes it single-writer, a wake-up."""

    config: WorkspaceConfig
    engine: RoutingEngine
    lock: anyio.Lock = attrs.field(factory=anyio.Lock)
    wake: anyio.Event | None = None
    unsnapshotted: int = 0  # events appended since the last routing snapshot
    # Shared stores (several nodes): only the holder of the workspace's lease routes it.
    owned: bool = True
    applied: int = 0  # every event up to this sequence number is in the engine
    own: list[tuple[int, int]] = attrs.field(factory=list)  # own appends past ``applied``
    scope: anyio.CancelScope | None = None  # the routing timers, while owned
    pending: list[_Pending] = attrs.field(factory=list)  # decided, waiting to be appended
    has_pending: anyio.Event = attrs.field(factory=anyio.Event)
    closing: bool = False  # the runtime stops: the committer drains and ends
    closed: bool = False  # the committer has ended

    def poke(self) -> None:
        if self.wake is not None:
            self.wake.set()


class Runtime:
    """A running contact centre. Use ``async with Runtime(...).running():`` or ``await run()``."""

    def __init__(
        self,
        config: Config,
        pm: PluginManager,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        engine_factory: EngineFactory = default_engine,
        web: bool = False,
    ) -> None:
        self.config = config
        self.pm = pm
        self.serve_web = web and config.web.enabled  # the HTTP server (serve and demo)
        self.web_port: int | None = None  # the port it listens on, once it does
        self._user_listeners: list[Callable[[Config], None]] = []  # the web server's sign-ins
        self.clock: Clock = clock or SystemClock()
        self.strategies: dict[str, Strategy] = {
            s.name: s for s in pm.collect(hookspecs.trunkline_register_strategies)
        }
        self.store: Store = store or self._make_store()
        self._engine_factory = engine_factory
        self.desks: dict[str, Desk] = {}
        self.channels: dict[str, ChannelAdapter] = {}  # by channel instance name
        self._channel_workspace: dict[str, str] = {}
        self._channel_queue: dict[str, str | None] = {}
        self._subscribers: list[MemoryObjectSendStream[ev.Event]] = []
        self._signal_subscribers: list[MemoryObjectSendStream[Signal]] = []
        self._outbox_wake: anyio.Event | None = None
        self._observer_send: MemoryObjectSendStream[ev.Event] | None = None
        self._tasks: anyio.abc.TaskGroup  # the task group of run(), once it runs
        self._conversations: dict[tuple[str, str], list[Any]] = {}  # thread -> [lock, users]
        self._build_channels()

    # Construction -------------------------------------------------------------------------

    def _make_store(self) -> Store:
        factories = {f.name: f for f in self.pm.collect(hookspecs.trunkline_register_stores)}
        backend = self.config.store.backend or "memory"
        if backend not in factories:
            known = ", ".join(sorted(factories)) or "none"
            raise TrunklineError(f'store backend "{backend}" is not installed (known: {known})')
        store: Store = factories[backend](self.config.store.options)
        return store

    def _build_channels(self) -> None:
        adapters = {a.name: a for a in self.pm.collect(hookspecs.trunkline_register_channels)}
        for wid, workspace in self.config.workspaces.items():
            for channel in workspace.channels:
                if channel.name in self.channels:
                    raise TrunklineError(
                        f'channel "{channel.name}" is configured twice; channel names are global'
                    )
                adapter = adapters[channel.adapter](
                    channel.settings, instance=channel.name, workspace=wid
                )
                self.channels[channel.name] = adapter
                self._channel_workspace[channel.name] = wid
                self._channel_queue[channel.name] = channel.queue

    def channel(self, name: str) -> Any:
        """The adapter instance of a configured channel (typed loosely for test drivers)."""
        return self.channels[name]

    # Running ------------------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the store, rebuild routing state from it, start channels; run until cancelled."""
        await self.store.open()
        try:
            shared = isinstance(self.store, SharedStore)
            for wid, workspace in self.config.workspaces.items():
                if shared:  # routed only once this node holds the lease (see cluster.py)
                    engine = self._engine_factory(workspace, self.strategies, self.pm)
                    self.desks[wid] = Desk(config=workspace, engine=engine, owned=False)
                else:
                    self.desks[wid] = await self._rebuild(workspace)
            self.pm.hook.trunkline_configure.call_historic(kwargs={"config": self.config})
            send, receive = anyio.create_memory_object_stream[ev.Event](math.inf)
            self._observer_send = send
            # The committers outlive the rest: channels finishing requests in flight while
            # they stop can still have them stored; then the committers drain and stop.
            async with anyio.create_task_group() as committers:
                for desk in self.desks.values():
                    committers.start_soon(self._committer, desk)
                await committers.start(self._run_parts, shared, receive)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                self.pm.hook.trunkline_unconfigure(config=self.config)
                await self.store.aclose()
                if self._observer_send is not None:
                    self._observer_send.close()
                    self._observer_send = None
                for stream in self._subscribers:
                    stream.close()
                for signals in self._signal_subscribers:
                    signals.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Runtime]:
        """Run in the background for the duration of the ``async with`` block."""
        async with anyio.create_task_group() as tg:
            await tg.start(self.run)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()

    async def _run_parts(
        self,
        shared: bool,
        receive: MemoryObjectReceiveStream[ev.Event],
        *,
        task_status: anyio.abc.TaskStatus[None],
    ) -> None:
        """Observers, routing timers, the plugins' services, the outbox and the channels."""
        try:
            async with anyio.create_task_group() as tg:
                self._tasks = tg
                tg.start_soon(self._observe, receive)
                if not shared:  # else the cluster's coordinator routes what it holds a lease on
                    for desk in self.desks.values():
                        self.start_routing(desk)
                for service in self._services():
                    await tg.start(service.run)
                tg.start_soon(self._outbox_worker)
                for name, adapter in self.channels.items():
                    await tg.start(self._supervise_channel, name, adapter)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                for name, adapter in self.channels.items():
                    try:
                        await adapter.aclose()
                    except Exception:
                        log.exception('channel "%s" failed to close', name)
                for desk in self.desks.values():
                    desk.closing = True
                    desk.has_pending.set()

    def _services(self) -> list[Service]:
        """What plugins run beside the channels (``trunkline_register_services``)."""
        found: list[Service] = []
        for services in self.pm.call_each(hookspecs.trunkline_register_services, runtime=self):
            for service in services:
                if not isinstance(service, Service):
                    raise PluginError(
                        f"trunkline_register_services returned {service!r}, "
                        "not a trunkline.services.Service"
                    )
                found.append(service)
        return found

    def start_routing(self, desk: Desk) -> None:
        """Run the desk's timers (offers, wrap-ups, escalation) until :meth:`stop_routing`."""
        desk.owned = True
        desk.scope = anyio.CancelScope()

        async def ticker(scope: anyio.CancelScope) -> None:
            with scope:
                await self._ticker(desk)

        self._tasks.start_soon(ticker, desk.scope)

    def stop_routing(self, desk: Desk) -> None:
        desk.owned = False
        if desk.scope is not None:
            desk.scope.cancel()
            desk.scope = None

    async def _rebuild(self, workspace: WorkspaceConfig) -> Desk:
        """A fresh engine: the latest snapshot if it fits, then the log after it, in chunks."""
        wid = workspace.workspace.id
        engine = self._engine_factory(workspace, self.strategies, self.pm)
        after = 0
        snapshot = await self.store.load_snapshot(wid)
        if snapshot is not None and snapshot.fingerprint == self._fingerprint(workspace):
            try:
                await anyio.to_thread.run_sync(engine.restore, snapshot.data)
                after = snapshot.seq
            except Exception:
                log.warning(
                    'workspace "%s": the routing snapshot could not be loaded; replaying the '
                    "whole log",
                    wid,
                    exc_info=True,
                )
                engine = self._engine_factory(workspace, self.strategies, self.pm)
        replayed = 0
        while True:
            chunk = await self.store.read(wid, after, REPLAY_CHUNK)
            for stored in chunk:
                engine.apply(stored.event)
            replayed += len(chunk)
            if chunk:
                after = chunk[-1].seq
            if len(chunk) < REPLAY_CHUNK:
                break
        return Desk(config=workspace, engine=engine, unsnapshotted=replayed, applied=after)

    async def _supervise_channel(
        self, name: str, adapter: ChannelAdapter, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        """Run a channel. A failure to start stops the runtime; a crash after it started is
        logged with the channel's name and the channel is restarted with backoff."""
        status = _StartedFlag(task_status)
        delay = 0.5
        while True:
            try:
                await adapter.run(self.receive, task_status=status)
                return
            except Exception:
                if not status.done:
                    raise
                log.exception(
                    'channel "%s" (adapter "%s") crashed; restarting in %.1fs',
                    name,
                    adapter.name,
                    delay,
                )
            await anyio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _ticker(self, desk: Desk) -> None:
        while True:
            desk.wake = anyio.Event()
            deadline = desk.engine.next_deadline()
            await self.clock.sleep_until(deadline, desk.wake)
            if deadline is not None and self.clock.now() >= deadline:
                try:
                    await self.command(desk.config.workspace.id, Tick())
                except TemporaryFailure:
                    log.exception("routing timers: the store refused; trying again shortly")
                    await anyio.sleep(self.config.outbox.poll_interval)

    async def _observe(self, receive: MemoryObjectReceiveStream[ev.Event]) -> None:
        async with receive:
            async for event in receive:
                await self.pm.acall_each(
                    hookspecs.trunkline_contact_event, event=event, runtime=self
                )

    # Committing events --------------------------------------------------------------------

    def desk(self, workspace: str) -> Desk:
        try:
            return self.desks[workspace]
        except KeyError:
            raise TrunklineError(f'unknown workspace "{workspace}"') from None

    async def command(self, workspace: str, command: Command) -> list[ev.Event]:
        """Send a routing command to a workspace's engine and commit what it decides."""
        desk = self.desk(workspace)
        async with desk.lock:
            if not desk.owned:
                raise TemporaryFailure(
                    f'workspace "{workspace}" is routed by another node; send routing commands '
                    "to the node that holds its lease"
                )
            events = await self.decide(desk, command, self.clock.now())
            pending = self.submit(desk, events)
        await pending.stored()
        return events

    async def decide(self, desk: Desk, command: Command, now: float) -> list[ev.Event]:
        """The engine's decision on ``command``, with what the runtime adds to it: a survey
        after each close that earns one. The caller holds ``desk.lock`` and submits the
        result as one batch, so a close and its survey are appended together or not at all.
        """
        events = desk.engine.handle(command, now)
        survey = desk.config.survey
        if survey is None or not any(isinstance(e, ev.ContactClosed) for e in events):
            return events
        out: list[ev.Event] = []
        for i, event in enumerate(events):
            out.append(event)
            if isinstance(event, ev.ContactClosed):
                out += await self._survey_after(survey, event, events[:i])
        return out

    async def _survey_after(
        self, settings: SurveySettings, closed: ev.ContactClosed, before: Sequence[ev.Event]
    ) -> list[ev.Event]:
        """The survey for a contact that closes, if it earns one: an inbound contact that an
        agent handled (its wrap-up ends in the same decision), on a channel that can send and
        that the survey is for. Never raises: a survey must not stop a close."""
        agent_id = next(
            (
                e.agent_id
                for e in reversed(before)
                if isinstance(e, ev.WrapUpEnded | ev.ContactEnded)
                and e.contact_id == closed.contact_id
            ),
            None,
        )
        if agent_id is None:
            return []
        try:
            contact = await self.store.contact(closed.workspace, closed.contact_id)
        except Exception:
            log.exception("survey: contact %s could not be read; no survey", closed.contact_id)
            return []
        adapter = None if contact is None else self.channels.get(contact.channel)
        if (
            contact is None
            or adapter is None
            or contact.direction is not Direction.INBOUND
            or not adapter.capabilities.outbound
            or (settings.channels and contact.channel not in settings.channels)
        ):
            return []
        return survey_events(
            settings, contact, agent_id=agent_id, queue=contact.queue, now=closed.at
        )

    def submit(self, desk: Desk, events: Sequence[ev.Event]) -> _Pending:
        """Queue events decided under ``desk.lock`` for the desk's committer; the caller
        releases the lock, then awaits ``stored()``.

        Decisions are made one at a time under the lock, but their appends are grouped: all
        that queue up while one append is being made go into the next one, a single atomic
        append. So a busy workspace shares the cost of a durable commit among many contacts,
        and the order of the log is the order of the decisions.
        """
        pending = _Pending(events, desk.engine if desk.owned else None)
        if not events:
            pending.finish()
            return pending
        if desk.closed:
            pending.finish(TemporaryFailure("the runtime is stopping; send again"))
            return pending
        desk.pending.append(pending)
        desk.has_pending.set()
        return pending

    async def _committer(self, desk: Desk) -> None:
        """Append what the desk decided, in order, many decisions at a time.

        Shielded from cancellation: it stops when the desk is closing and nothing is left.
        """
        try:
            with anyio.CancelScope(shield=True):
                await self._commit_loop(desk)
        finally:
            desk.closed = True
            stopping = TemporaryFailure("the runtime is stopping; send again")
            for pending in desk.pending:
                pending.finish(stopping)
            desk.pending = []

    async def _commit_loop(self, desk: Desk) -> None:
        while True:
            if not desk.pending:
                if desk.closing:
                    return
                await desk.has_pending.wait()
                desk.has_pending = anyio.Event()
                continue
            await self._append_pending(desk)
            if not desk.closing:
                every = self.config.store.snapshot_every
                if every and desk.owned and desk.unsnapshotted >= every:
                    async with desk.lock:  # new decisions wait: the engine matches the log
                        while desk.pending:
                            await self._append_pending(desk)
                        if desk.unsnapshotted >= every and not desk.own:
                            await self._snapshot(desk, desk.applied)

    async def _append_pending(self, desk: Desk) -> None:
        batch, desk.pending = desk.pending, []
        if not batch:
            return
        events = [event for pending in batch for event in pending.events]
        with anyio.CancelScope(shield=True):  # once begun, an append is seen to its end
            try:
                seq = await self.store.append(events)
            except Exception as exc:
                await self._recover(desk, batch, exc)
                return
            if desk.owned:
                # The events of each decision are consecutive, in the batch's order. Those its
                # engine applied are this desk's own; those decided while the desk did not
                # route (the lease was taken over before the append returned) are left to the
                # tail to apply, as another node's would be.
                first = seq - len(events) + 1
                for pending in batch:
                    last = first + len(pending.events) - 1
                    if pending.events and pending.engine is desk.engine:
                        if first - 1 == desk.applied:
                            desk.applied = last
                        else:  # another node appended in between: the tail applies it later
                            desk.own.append((first, last))
                    first = last + 1
                desk.unsnapshotted += len(events)
                desk.poke()
            self._publish(events)
            wake = self._outbox_wake
            if wake is not None and any(isinstance(e, ev.OutboundQueued) for e in events):
                wake.set()  # a survey question decided with a close: send it now
            for pending in batch:
                pending.finish()

    async def _recover(self, desk: Desk, batch: list[_Pending], exc: Exception) -> None:
        """An append failed: its decisions, and every one made since on top of them, fail;
        the engine is rebuilt from the store before anything new is decided."""
        async with desk.lock:
            failed = batch + desk.pending
            desk.pending = []
            if desk.owned:
                rebuilt = await self._rebuild(desk.config)
                desk.engine, desk.unsnapshotted = rebuilt.engine, rebuilt.unsnapshotted
                desk.applied, desk.own = rebuilt.applied, []
        error = (
            exc
            if isinstance(exc, TemporaryFailure)
            else TemporaryFailure(f"the store refused the append: {exc}")
        )
        for pending in failed:
            pending.finish(error)

    def _publish(self, events: Sequence[ev.Event]) -> None:
        """Hand stored events to the observers and the subscribers."""
        observers = self._observer_send
        for event in events:
            if observers is not None:
                try:
                    observers.send_nowait(event)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    observers = None  # stopping: the observers are gone, the events are stored
            for stream in list(self._subscribers):
                try:
                    stream.send_nowait(event)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    self._subscribers.remove(stream)

    async def _snapshot(self, desk: Desk, seq: int) -> None:
        """Save the engine's state as of ``seq`` (the caller holds the desk's lock)."""
        desk.unsnapshotted = 0
        wid = desk.config.workspace.id
        try:
            data = await anyio.to_thread.run_sync(desk.engine.snapshot)
            await self.store.save_snapshot(
                wid, Snapshot(seq=seq, fingerprint=self._fingerprint(desk.config), data=data)
            )
        except Exception:
            log.exception('workspace "%s": the routing snapshot failed; the log is intact', wid)

    def _fingerprint(self, workspace: WorkspaceConfig) -> str:
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

    def subscribe(self) -> MemoryObjectReceiveStream[ev.Event]:
        """A stream of every event from now on, after it is stored. Close it when done."""
        send, receive = anyio.create_memory_object_stream[ev.Event](math.inf)
        self._subscribers.append(send)
        return receive

    # Users of the web pages and the API -------------------------------------------------------

    def update_users(self, config: Config) -> None:
        """Take the users of ``config`` (its ``[workspaces.<id>.users]`` tables) while running,
        as ``trunkline serve`` does on ``SIGHUP``. A user whose entry changed in any way (a new
        password, token or role) or who is gone is signed out at once: their sessions end and
        their sockets close. Nothing else of ``config`` is taken (a restart does); a workspace
        it lacks keeps no users."""
        self.config = attrs.evolve(
            self.config,
            workspaces={
                wid: attrs.evolve(
                    workspace,
                    users=config.workspaces[wid].users if wid in config.workspaces else {},
                )
                for wid, workspace in self.config.workspaces.items()
            },
        )
        for listener in list(self._user_listeners):
            listener(self.config)

    def on_update_users(self, listener: Callable[[Config], None]) -> Callable[[], None]:
        """Call ``listener(config)`` after each :meth:`update_users`; returns the way to stop."""
        self._user_listeners.append(listener)
        return lambda: self._user_listeners.remove(listener)

    # Signals (typing indicators): passed on, never stored -----------------------------------

    def subscribe_signals(self) -> MemoryObjectReceiveStream[Signal]:
        """A stream of every :class:`~trunkline.channels.Signal` from now on."""
        send, receive = anyio.create_memory_object_stream[Signal](math.inf)
        self._signal_subscribers.append(send)
        return receive

    async def signal(self, signal: Signal) -> None:
        """Pass a signal on: to subscribers (the agent desktop) and, for an agent's, to the
        contact's channel when it can show typing indicators. Best effort: never raises for
        a customer who left or a channel that cannot."""
        for stream in list(self._signal_subscribers):
            try:
                stream.send_nowait(signal)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._signal_subscribers.remove(stream)
        if signal.who != "agent":
            return
        contact = await self.store.contact(signal.workspace, signal.contact_id)
        adapter = None if contact is None else self.channels.get(contact.channel)
        if (
            contact is None
            or not isinstance(adapter, SendsSignals)
            or not adapter.capabilities.typing_indicators
        ):
            return
        try:
            await adapter.signal(contact.address, signal)
        except Exception:
            log.debug("channel %s: the typing signal was not delivered", contact.channel)

    # Inbound ------------------------------------------------------------------------------

    async def receive(self, message: InboundMessage) -> Ack:
        """The inbound pipeline. Returns only once the message is stored durably.

        Raises :class:`InboundMalformed` when a string of the message cannot be stored (see
        :func:`~trunkline.channels.check_inbound`), :class:`InboundRejected` when a filter
        refuses the message and :class:`TemporaryFailure` when it cannot be stored now (the
        sender should retry).
        """
        if message.channel not in self.channels:
            raise InboundRejected(f'unknown channel "{message.channel}"')
        # Before any lookup: a string no store can encode would fail there, look like the
        # store's failure, and have the sender retry for ever.
        check_inbound(message)
        workspace = self._channel_workspace[message.channel]
        desk = self.desk(workspace)
        # Route at the runtime's clock, never the provider's: a message delivered late (a
        # retry, a drifting clock) would otherwise get offers that expired before they were
        # made. The provider's time is kept on the message as the customer's (``sent_at``).
        now = self.clock.now()
        sent_at = _provider_time(message)
        reason = await self.pm.acall_first(
            hookspecs.trunkline_inbound_filter, message=message, workspace=workspace
        )
        if reason:
            raise InboundRejected(str(reason))
        key = f"{message.channel}:{message.provider_id}" if message.provider_id else None
        customer = await self.pm.acall_first(
            hookspecs.trunkline_resolve_customer,
            workspace=workspace,
            address=message.sender,
            message=message,
            store=self.store,
        )
        if customer is None:
            customer = await self.store.customer_by_address(workspace, message.sender)
        thread_key = await self.pm.acall_first(
            hookspecs.trunkline_thread_key,
            message=message,
            workspace=workspace,
            customer=customer or _placeholder(workspace, message),
        )
        if thread_key is None:
            thread_key = f"{message.channel}:{message.thread_hint or message.sender}"

        # One conversation at a time: its lookups, classification and append must not
        # interleave with another message of the same thread (a redelivery has the same
        # thread too). Other conversations go ahead; the workspace's lock is held only
        # around the engine and the append.
        async with self._conversation(workspace, thread_key):
            if key is not None and (seen := await self.store.seen(workspace, key)):
                return Ack(contact_id=seen[0], message_id=seen[1], duplicate=True)
            out: list[ev.Event] = []
            known = customer is not None  # only a known customer can have been surveyed
            if customer is None:
                customer = Customer(
                    id=new_id("cu"),
                    workspace=workspace,
                    addresses=(message.sender,),
                    name=message.sender_name,
                )
                out.append(ev.CustomerCreated(workspace=workspace, at=now, customer=customer))
            contact = await self.store.open_contact(workspace, thread_key)
            answer: ev.SurveyAnswered | None = None
            survey = desk.config.survey
            if contact is None and known and survey is not None and not message.fails_message:
                # A known customer's reply on a thread with no open contact: it may rate the
                # contact that closed there. Then it joins that contact and opens none.
                answered = await answer_to_survey(
                    self.store, workspace, customer.id, thread_key, message.body, now
                )
                if answered is not None:
                    contact, answer = answered
            new_contact = contact is None
            if contact is None:
                contact = self._new_contact(workspace, message, customer, thread_key, now)
                classification = await self._classify(contact, message)
                contact = self._apply_classification(contact, classification)
                out.append(ev.ContactReceived(workspace=workspace, at=now, contact=contact))
            stored = Message(
                id=new_id("ms"),
                workspace=workspace,
                contact_id=contact.id,
                direction=Direction.INBOUND,
                channel=message.channel,
                body=message.body,
                sender=message.sender,
                attachments=message.attachments,
                provider_id=message.provider_id,
                created_at=now,
                metadata={"subject": message.subject} if message.subject else {},
                sent_at=sent_at,
            )
            out.append(
                ev.MessageReceived(workspace=workspace, at=now, message=stored, idempotency_key=key)
            )
            if answer is not None:
                out.append(answer)
            if message.fails_message and not new_contact:
                out += await self._delivery_failed(workspace, contact.id, message, now)
            try:
                async with desk.lock:
                    if desk.owned:
                        for event in out:
                            desk.engine.apply(event)
                        if new_contact:
                            out += await self.decide(desk, EnqueueContact(contact), now)
                    pending = self.submit(desk, out)
                await pending.stored()
            except TemporaryFailure:
                # Another node may have stored the same provider id first: then it is a
                # redelivery, acknowledged as such; otherwise the sender must retry.
                if key is not None and (seen := await self.store.seen(workspace, key)):
                    return Ack(contact_id=seen[0], message_id=seen[1], duplicate=True)
                raise
        return Ack(contact_id=contact.id, message_id=stored.id, new_contact=new_contact)

    async def _delivery_failed(
        self, workspace: str, contact_id: str, report: InboundMessage, now: float
    ) -> list[ev.Event]:
        """``MessageFailed`` for the outbound message a delivery report names, if it is one of
        this contact's (see :class:`InboundMessage`); nothing otherwise."""
        messages = await self.store.messages(workspace, contact_id)
        if not any(
            m.id == report.fails_message and m.direction is Direction.OUTBOUND for m in messages
        ):
            log.warning(
                'channel "%s": a delivery report names %s, not an outbound message of %s; '
                "stored as a message only",
                report.channel,
                report.fails_message,
                contact_id,
            )
            return []
        error = report.failure or "the channel reported it undelivered"
        return [
            ev.MessageFailed(
                workspace=workspace, at=now, message_id=str(report.fails_message), error=error
            )
        ]

    @asynccontextmanager
    async def _conversation(self, workspace: str, thread_key: str) -> AsyncIterator[None]:
        """A lock per conversation, kept only while someone holds or waits for it."""
        slot = (workspace, thread_key)
        entry = self._conversations.get(slot)
        if entry is None:
            entry = self._conversations[slot] = [anyio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self._conversations[slot]

    def _new_contact(
        self,
        workspace: str,
        message: InboundMessage,
        customer: Customer | None,
        thread_key: str,
        now: float,
    ) -> Contact:
        return Contact(
            id=new_id("ct"),
            workspace=workspace,
            channel=message.channel,
            channel_kind=self.channels[message.channel].kind,
            direction=Direction.INBOUND,
            customer_id=customer.id if customer is not None else "",
            address=message.sender,
            subject=message.subject,
            attributes=message.attributes,
            thread_key=thread_key,
            created_at=now,
        )

    async def _classify(self, contact: Contact, message: InboundMessage) -> Classification:
        merged = Classification()
        for result in await self.pm.acall_each(
            hookspecs.trunkline_classify, contact=contact, message=message
        ):
            if not isinstance(result, Classification):
                log.error("trunkline_classify returned %r, not a Classification; ignored", result)
                continue
            merged = Classification(
                attributes={**merged.attributes, **result.attributes},
                priority=result.priority if result.priority is not None else merged.priority,
                required_skills=result.required_skills
                if result.required_skills is not None
                else merged.required_skills,
                language=result.language or merged.language,
                queue=result.queue or merged.queue,
            )
        return merged

    def _apply_classification(self, contact: Contact, c: Classification) -> Contact:
        contact = attrs.evolve(
            contact,
            attributes={**contact.attributes, **c.attributes},
            priority=c.priority if c.priority is not None else contact.priority,
            required_skills=c.required_skills
            if c.required_skills is not None
            else contact.required_skills,
            language=c.language or contact.language,
        )
        queues = {q.id: q for q in self.desk(contact.workspace).config.queues}
        queue = c.queue if c.queue in queues else None
        if c.queue and queue is None:
            log.error(
                'classification chose unknown queue "%s" for contact %s; ignored',
                c.queue,
                contact.id,
            )
        if queue is None:
            picked = self.pm.call_first(
                hookspecs.trunkline_select_queue, contact=contact, queues=queues
            )
            queue = picked if picked in queues else None
        if queue is None:
            queue = self._channel_queue.get(contact.channel) or next(iter(queues), None)
        if queue is None:
            raise InboundRejected(f'workspace "{contact.workspace}" has no queue to route to')
        return attrs.evolve(contact, queue=queue)

    # Agents -------------------------------------------------------------------------------

    async def set_agent_status(
        self, workspace: str, agent_id: str, status: AgentStatus | str, reason: str | None = None
    ) -> list[ev.Event]:
        return await self.command(workspace, SetAgentStatus(agent_id, AgentStatus(status), reason))

    async def accept(self, workspace: str, offer_id: str) -> list[ev.Event]:
        return await self.command(workspace, AcceptOffer(offer_id))

    async def reject(self, workspace: str, offer_id: str, reason: str = "") -> list[ev.Event]:
        return await self.command(workspace, RejectOffer(offer_id, reason))

    async def end_contact(self, workspace: str, contact_id: str) -> list[ev.Event]:
        return await self.command(workspace, EndContact(contact_id))

    async def close_contact(
        self, workspace: str, contact_id: str, disposition: str | None = None
    ) -> list[ev.Event]:
        return await self.command(workspace, CloseContact(contact_id, disposition))

    async def transfer(
        self, workspace: str, contact_id: str, queue: str | None = None, agent: str | None = None
    ) -> list[ev.Event]:
        return await self.command(workspace, TransferContact(contact_id, queue, agent))

    async def abandon(self, workspace: str, contact_id: str) -> list[ev.Event]:
        return await self.command(workspace, AbandonContact(contact_id))

    # Private notes ------------------------------------------------------------------------

    async def add_note(
        self,
        workspace: str,
        contact_id: str,
        text: str,
        *,
        author: str,
        agent_id: str | None = None,
    ) -> ev.NoteAdded:
        """Store a private note on a contact (open or not) as :class:`~trunkline.events.NoteAdded`.

        A note is for the centre only: nothing reaches the outbox or the customer's channel.
        Raises :class:`TrunklineError` for an unknown contact or an empty text.
        """
        if not text.strip():
            raise TrunklineError("a note needs some text")
        if await self.store.contact(workspace, contact_id) is None:
            raise TrunklineError(f'unknown contact "{contact_id}" in workspace "{workspace}"')
        desk = self.desk(workspace)
        note = ev.NoteAdded(
            workspace=workspace,
            at=self.clock.now(),
            contact_id=contact_id,
            note_id=new_id("nt"),
            author=author,
            agent_id=agent_id,
            text=text,
        )
        async with desk.lock:
            pending = self.submit(desk, [note])
        await pending.stored()
        return note

    # Outbound -----------------------------------------------------------------------------

    async def reply(
        self,
        workspace: str,
        contact_id: str,
        body: str,
        *,
        subject: str = "",
        attachments: Sequence[Attachment] = (),
    ) -> Message:
        """Write a message to the contact's customer into the outbox; the worker sends it.

        A body longer than the channel's ``max_body_length`` is refused with a
        :class:`TrunklineError` naming the limit, and nothing is stored: what is stored, shown
        to agents and in the customer's history is what the channel delivers.
        """
        contact = await self.store.contact(workspace, contact_id)
        if contact is None:
            raise TrunklineError(f'unknown contact "{contact_id}" in workspace "{workspace}"')
        adapter = self.channels.get(contact.channel)
        limit = None if adapter is None else adapter.capabilities.max_body_length
        if limit is not None and len(body) > limit:
            raise TrunklineError(
                f"the reply is {len(body)} characters long; channel "
                f'"{contact.channel}" carries at most {limit}: shorten it or split it'
            )
        message = Message(
            id=new_id("ms"),
            workspace=workspace,
            contact_id=contact_id,
            direction=Direction.OUTBOUND,
            channel=contact.channel,
            body=body,
            attachments=tuple(attachments),
            created_at=self.clock.now(),
            metadata={"subject": subject} if subject else {},
        )
        desk = self.desk(workspace)
        queued = ev.OutboundQueued(
            workspace=workspace, at=message.created_at, message=message, to=contact.address
        )
        async with desk.lock:
            pending = self.submit(desk, [queued])
        await pending.stored()
        if self._outbox_wake is not None:
            self._outbox_wake.set()
        return message

    async def _outbox_worker(self) -> None:
        settings = self.config.outbox
        while True:
            self._outbox_wake = anyio.Event()
            deadline = self.clock.now() + settings.poll_interval
            try:
                for entry in await self.store.outbox_due(self.clock.now()):
                    desk = self.desks.get(entry.message.workspace)
                    if desk is not None and desk.owned:  # one node sends each workspace's
                        await self._send(entry)
                # Sleep until the next retry is due, but poll anyway: another node may add work.
                upcoming = await self.store.outbox_due(math.inf, limit=1)
                if upcoming:
                    deadline = min(deadline, upcoming[0].due_at)
            except Exception:
                log.exception("outbox: a round of sending failed; trying again shortly")
            await self.clock.sleep_until(deadline, self._outbox_wake)

    async def _send(self, entry: OutboxEntry) -> None:
        message = entry.message
        workspace = message.workspace
        adapter = self.channels.get(message.channel)
        attempt = entry.attempts + 1
        now = self.clock.now()
        event: ev.Event
        if adapter is None:
            event = ev.MessageFailed(
                workspace=workspace,
                at=now,
                message_id=message.id,
                error=f'channel "{message.channel}" is not configured',
            )
        else:
            outbound = OutboundMessage(
                message_id=message.id,
                contact_id=message.contact_id,
                body=message.body,
                subject=str(message.metadata.get("subject", "")),
                attachments=message.attachments,
                dedupe_key=message.id,
            )
            rendered = self.pm.call_first(
                hookspecs.trunkline_render_outbound,
                message=outbound,
                capabilities=adapter.capabilities,
                channel=message.channel,
            )
            outbound = (
                rendered if isinstance(rendered, OutboundMessage) else _fit(outbound, adapter)
            )
            try:
                receipt = await adapter.send(entry.to, outbound)
            except PermanentSendError as exc:
                event = ev.MessageFailed(
                    workspace=workspace, at=now, message_id=message.id, error=str(exc)
                )
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    'channel "%s": send of %s failed (attempt %d): %s',
                    message.channel,
                    message.id,
                    attempt,
                    error,
                )
                settings = self.config.outbox
                if attempt >= settings.max_attempts:
                    event = ev.MessageFailed(
                        workspace=workspace,
                        at=now,
                        message_id=message.id,
                        error=f"gave up after {attempt} attempts: {error}",
                    )
                else:
                    delay = min(settings.backoff * 2 ** (attempt - 1), settings.max_backoff)
                    event = ev.SendAttemptFailed(
                        workspace=workspace,
                        at=now,
                        message_id=message.id,
                        attempt=attempt,
                        error=error,
                        retry_at=now + delay,
                    )
            else:
                event = ev.MessageSent(
                    workspace=workspace,
                    at=now,
                    message_id=message.id,
                    provider_id=receipt.provider_id,
                )
        desk = self.desk(workspace)
        async with desk.lock:
            pending = self.submit(desk, [event])
        await pending.stored()


def _fit(message: OutboundMessage, adapter: ChannelAdapter) -> OutboundMessage:
    """Core's default rendering: drop what the channel cannot carry, cut what is too long."""
    caps = adapter.capabilities
    if not caps.attachments and message.attachments:
        message = attrs.evolve(message, attachments=())
    if caps.max_body_length is not None and len(message.body) > caps.max_body_length:
        message = attrs.evolve(message, body=message.body[: caps.max_body_length])
    return message


def _provider_time(message: InboundMessage) -> float | None:
    """The message's ``received_at`` if it is a time at all; a channel's bad value is logged
    and dropped rather than costing the customer's message."""
    value = message.received_at
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    log.warning(
        'channel "%s": received_at %r is not a time in seconds since the epoch; ignored',
        message.channel,
        value,
    )
    return None


def _placeholder(workspace: str, message: InboundMessage) -> Customer:
    """A customer not yet created, so thread-key hooks always receive one."""
    return Customer(
        id="", workspace=workspace, addresses=(message.sender,), name=message.sender_name
    )


class _StartedFlag(anyio.abc.TaskStatus[None]):
    """Passes ``started()`` on the first time only, and remembers that it happened."""

    def __init__(self, inner: anyio.abc.TaskStatus[None]) -> None:
        self.inner = inner
        self.done = False

    def started(self, value: None = None) -> None:
        if not self.done:
            self.done = True
            self.inner.started(value)
