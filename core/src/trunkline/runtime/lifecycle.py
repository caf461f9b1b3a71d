"""The runtime's life: construction, ``run``/``running``, the plugins' services, the channels'
supervision, and each owned workspace's routing timers.

Everything runs in one anyio task group. The :class:`Runtime` composes the parts, each owned
by its module: the desks and their commit pipeline (:mod:`.desk`), the inbound pipeline
(:mod:`.inbound`), the desk commands (:mod:`.commands`), the outbox (:mod:`.outbox`) and the
event bus (:mod:`.bus`). Its public methods are what :class:`~trunkline.PluginRuntime` lists,
plus what core's own parts use (the cluster's take-over and release of a workspace).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream

from .. import events as ev
from .. import hookspecs
from ..channels import Ack, ChannelAdapter, InboundMessage, Signal, TemporaryFailure
from ..clock import Clock, SystemClock
from ..config import Config
from ..errors import PluginError, TrunklineError
from ..model import AgentStatus, Attachment, Message
from ..plugins import PluginManager
from ..routing import Command, Strategy, Tick
from ..services import Service
from ..store import SharedStore, Store
from .bus import Bus
from .commands import Commands
from .desk import Desk, EngineFactory, Ledger, default_engine
from .inbound import Inbound
from .live import LiveSessions
from .outbox import Outbox
from .steps import DecisionStep, InboundStep

__all__ = ["Runtime"]

log = logging.getLogger("trunkline.runtime")


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
        serve: bool = False,
    ) -> None:
        self.config = config
        self.pm = pm
        #: Start the services that listen on the network (``Service.listens``: the HTTP server
        #: of trunkline-web, …), as ``trunkline serve`` and ``demo`` do; an embedding app
        #: leaves it off and runs only the rest.
        self.serve = serve
        #: Where each started service can be reached, by service name, as it announced it
        #: with ``task_status.started("http://host:port/")``.
        self.addresses: dict[str, str] = {}
        self._reload_listeners: list[Callable[[Config], None]] = []
        self.clock: Clock = clock or SystemClock()
        self.strategies: dict[str, Strategy] = {
            s.name: s for s in pm.collect(hookspecs.trunkline_register_strategies)
        }
        self.store: Store = store or self._make_store()
        self.desks: dict[str, Desk] = {}
        self.channels: dict[str, ChannelAdapter] = {}  # by channel instance name
        self._channel_workspace: dict[str, str] = {}
        self._channel_queue: dict[str, str | None] = {}
        self._tasks: anyio.abc.TaskGroup  # the task group of run(), once it runs
        self._build_channels()
        self.bus = Bus(self)
        self.outbox = Outbox(self, self.desk)
        self.ledger = Ledger(
            self,
            engine_factory,
            self.strategies,
            decision_steps=self._steps(hookspecs.trunkline_register_decision_steps, DecisionStep),
            stored=self._stored,
        )
        self.inbound = Inbound(
            self,
            self.desk,
            workspaces=self._channel_workspace,
            queues=self._channel_queue,
            steps=self._steps(hookspecs.trunkline_register_inbound_steps, InboundStep),
        )
        self.commands = Commands(self, self.desk, self.outbox)
        self.live = LiveSessions(self, self.desk)

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

    def _steps(self, hook: Callable[..., Any], kind: type[Any]) -> list[Any]:
        """The steps plugins register with ``hook``, each checked to be a ``kind``."""
        found = self.pm.collect(hook)
        for step in found:
            if not isinstance(step, kind):
                raise PluginError(
                    f"{hook.__name__} returned {step!r}, not a trunkline.{kind.__name__}"
                )
        return found

    def channel(self, name: str) -> Any:
        """The adapter instance of a configured channel (typed loosely for test drivers)."""
        return self.channels[name]

    def desk(self, workspace: str) -> Desk:
        try:
            return self.desks[workspace]
        except KeyError:
            raise TrunklineError(f'unknown workspace "{workspace}"') from None

    # Running ------------------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the store, rebuild routing state from it, start channels; run until cancelled."""
        await self.store.open()
        try:
            shared = isinstance(self.store, SharedStore)
            for wid, workspace in self.config.workspaces.items():
                desk = self.desks[wid] = Desk(self.ledger, workspace)
                if shared:  # routed only once this node holds the lease (see cluster.py)
                    desk.owned = False
                else:
                    await desk.rebuild(fresh=True)
            self.pm.hook.trunkline_configure.call_historic(kwargs={"config": self.config})
            receive = self.bus.open()
            # The committers outlive the rest: channels finishing requests in flight while
            # they stop can still have them stored; then the committers drain and stop.
            async with anyio.create_task_group() as committers:
                for desk in self.desks.values():
                    committers.start_soon(desk.committer)
                await committers.start(self._run_parts, shared, receive)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                self.pm.hook.trunkline_unconfigure(config=self.config)
                await self.store.aclose()
                self.bus.close()

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
                tg.start_soon(self.bus.observe, receive)
                if not shared:  # else the cluster's coordinator routes what it holds a lease on
                    for desk in self.desks.values():
                        self.start_routing(desk)
                for service in self._services():
                    if service.listens and not self.serve:
                        continue
                    address = await tg.start(service.run)
                    if isinstance(address, str):
                        self.addresses[service.name] = address
                tg.start_soon(self.outbox.run)
                if self.live.channels:
                    await tg.start(self.live.run, self.bus.subscribe())
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

    def _stored(self, events: Sequence[ev.Event]) -> None:
        """After each append: the bus hands the events on, the outbox sends what they queued."""
        self.bus.publish(events)
        self.outbox.stored(events)

    # Routing a workspace ------------------------------------------------------------------

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

    async def take_over(self, desk: Desk) -> None:
        """Route a workspace from now on (this node got its lease): rebuild its engine from
        the store, start its timers, and route the contacts it holds that nobody routed."""
        async with desk.lock:
            await desk.rebuild()
            self.start_routing(desk)
            pending = await desk.route(desk.engine.unrouted(), self.clock.now())
        await pending.stored()

    def release(self, desk: Desk) -> None:
        """Stop routing a workspace (another node routes it now)."""
        self.stop_routing(desk)

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

    # Reloading the plugins' settings while running ------------------------------------------

    def reload(self, config: Config) -> None:
        """Take the plugins' tables of ``config`` (``config.tables`` and each workspace's
        ``tables``, such as trunkline-web's users) while running, as ``trunkline serve`` does on
        ``SIGHUP``, then tell the listeners (:meth:`on_reload`). Nothing else of ``config`` is
        taken (a restart does); a workspace ``config`` lacks keeps its tables' defaults."""
        self.config = attrs.evolve(
            self.config,
            tables=config.tables,
            workspaces={
                wid: attrs.evolve(
                    workspace,
                    tables=config.workspaces[wid].tables if wid in config.workspaces else {},
                )
                for wid, workspace in self.config.workspaces.items()
            },
        )
        for listener in list(self._reload_listeners):
            listener(self.config)

    def on_reload(self, listener: Callable[[Config], None]) -> Callable[[], None]:
        """Call ``listener(config)`` after each :meth:`reload`; returns the way to stop."""
        self._reload_listeners.append(listener)
        return lambda: self._reload_listeners.remove(listener)

    # The event bus ------------------------------------------------------------------------

    def subscribe(self) -> MemoryObjectReceiveStream[ev.Event]:
        """A stream of every event from now on, after it is stored. Close it when done."""
        return self.bus.subscribe()

    def subscribe_signals(self) -> MemoryObjectReceiveStream[Signal]:
        """A stream of every :class:`~trunkline.channels.Signal` from now on (passed on,
        never stored)."""
        return self.bus.subscribe_signals()

    async def signal(self, signal: Signal) -> None:
        """Pass a signal on (see :meth:`Bus.signal <trunkline.runtime.bus.Bus.signal>`)."""
        await self.bus.signal(signal)

    # Inbound ------------------------------------------------------------------------------

    async def receive(self, message: InboundMessage) -> Ack:
        """The inbound pipeline (:mod:`trunkline.runtime.inbound`): returns only once the
        message is stored durably. Raises :class:`InboundMalformed`, :class:`InboundRejected`
        (refused for good) or :class:`TemporaryFailure` (the sender should retry)."""
        return await self.inbound.receive(message)

    # Desk commands (:mod:`trunkline.runtime.commands`) -------------------------------------

    async def command(self, workspace: str, command: Command) -> list[ev.Event]:
        """Send a routing command to a workspace's engine and commit what it decides."""
        return await self.commands.command(workspace, command)

    async def set_agent_status(
        self, workspace: str, agent_id: str, status: AgentStatus | str, reason: str | None = None
    ) -> list[ev.Event]:
        return await self.commands.set_agent_status(workspace, agent_id, status, reason)

    async def accept(self, workspace: str, offer_id: str) -> list[ev.Event]:
        return await self.commands.accept(workspace, offer_id)

    async def reject(self, workspace: str, offer_id: str, reason: str = "") -> list[ev.Event]:
        return await self.commands.reject(workspace, offer_id, reason)

    async def end_contact(self, workspace: str, contact_id: str) -> list[ev.Event]:
        return await self.commands.end_contact(workspace, contact_id)

    async def close_contact(
        self, workspace: str, contact_id: str, disposition: str | None = None
    ) -> list[ev.Event]:
        return await self.commands.close_contact(workspace, contact_id, disposition)

    async def transfer(
        self, workspace: str, contact_id: str, queue: str | None = None, agent: str | None = None
    ) -> list[ev.Event]:
        return await self.commands.transfer(workspace, contact_id, queue, agent)

    async def abandon(self, workspace: str, contact_id: str) -> list[ev.Event]:
        return await self.commands.abandon(workspace, contact_id)

    async def hold(self, workspace: str, contact_id: str) -> ev.Event:
        """Put a connected live contact (a call) on hold; its channel plays hold audio."""
        return await self.live.hold(workspace, contact_id)

    async def resume(self, workspace: str, contact_id: str) -> ev.Event:
        """Take a held live contact off hold."""
        return await self.live.hold(workspace, contact_id, held=False)

    async def add_note(
        self,
        workspace: str,
        contact_id: str,
        text: str,
        *,
        author: str,
        agent_id: str | None = None,
    ) -> ev.NoteAdded:
        """Store a private note on a contact (see :meth:`Commands.add_note
        <trunkline.runtime.commands.Commands.add_note>`)."""
        return await self.commands.add_note(
            workspace, contact_id, text, author=author, agent_id=agent_id
        )

    async def reply(
        self,
        workspace: str,
        contact_id: str,
        body: str,
        *,
        subject: str = "",
        attachments: Sequence[Attachment] = (),
    ) -> Message:
        """Write a message to the contact's customer into the outbox; the worker sends it
        (see :meth:`Commands.reply <trunkline.runtime.commands.Commands.reply>`)."""
        return await self.commands.reply(
            workspace, contact_id, body, subject=subject, attachments=attachments
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
