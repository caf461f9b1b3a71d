"""What plugins see of a running runtime: :class:`PluginRuntime` and :class:`DeskView`.

Hooks that hand over the runtime (``trunkline_register_routes``,
``trunkline_register_services``, ``trunkline_contact_event``, steps of the inbound pipeline)
promise these protocols, not the :class:`~trunkline.Runtime` class: the configuration, the
clock, the store, the channels, the event and signal streams, the desk commands, the inbound
entry and read access to each workspace's routing. How the runtime commits, snapshots and
rebuilds (its desks' locks, ``submit``, ``decide``, the timers) stays core's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream

    from .. import events as ev
    from ..channels import Ack, ChannelAdapter, InboundMessage, Signal
    from ..clock import Clock
    from ..config import Config, WorkspaceConfig
    from ..model import AgentStatus, Attachment, Message
    from ..plugins import PluginManager
    from ..routing import Command, RoutingEngine
    from ..store import Store

__all__ = ["DeskView", "PluginRuntime"]


class DeskView(Protocol):
    """One workspace's routing, read-only: its configuration, its engine (read it through
    :class:`~trunkline.routing.RoutingEngine`), and whether this node routes it (``owned``;
    on a store several nodes share, only the holder of the workspace's lease does)."""

    @property
    def config(self) -> WorkspaceConfig: ...
    @property
    def engine(self) -> RoutingEngine: ...
    @property
    def owned(self) -> bool: ...


class PluginRuntime(Protocol):
    """The running contact centre as plugins see it."""

    @property
    def config(self) -> Config: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def store(self) -> Store: ...
    @property
    def pm(self) -> PluginManager: ...
    @property
    def channels(self) -> Mapping[str, ChannelAdapter]:
        """The channel adapters, by channel instance name."""
        ...

    @property
    def desks(self) -> Mapping[str, DeskView]:
        """Each workspace's routing, by workspace id."""
        ...

    def desk(self, workspace: str) -> DeskView:
        """A workspace's routing; ``TrunklineError`` for an unknown workspace."""
        ...

    def channel(self, name: str) -> Any:
        """The adapter of a configured channel (typed loosely for test drivers)."""
        ...

    @property
    def addresses(self) -> Mapping[str, str]:
        """Where each started service can be reached, by service name, as it announced it."""
        ...

    def on_reload(self, listener: Callable[[Config], None]) -> Callable[[], None]:
        """Call ``listener(config)`` after each reload of the plugins' tables (``SIGHUP`` in
        ``trunkline serve``); returns the way to stop."""
        ...

    # The event bus
    def subscribe(self) -> MemoryObjectReceiveStream[ev.Event]:
        """Every event from now on, after it is stored. Close the stream when done."""
        ...

    def subscribe_signals(self) -> MemoryObjectReceiveStream[Signal]:
        """Every signal (typing indicator) from now on."""
        ...

    async def signal(self, signal: Signal) -> None:
        """Pass a signal on, to subscribers and, for an agent's, to the contact's channel."""
        ...

    # Inbound
    async def receive(self, message: InboundMessage) -> Ack:
        """The inbound pipeline: returns once the message is stored durably."""
        ...

    # Desk commands
    async def command(self, workspace: str, command: Command) -> list[ev.Event]:
        """Send a routing command to the workspace's engine; the events it decided, stored."""
        ...

    async def set_agent_status(
        self, workspace: str, agent_id: str, status: AgentStatus | str, reason: str | None = None
    ) -> list[ev.Event]: ...
    async def accept(self, workspace: str, offer_id: str) -> list[ev.Event]: ...
    async def reject(self, workspace: str, offer_id: str, reason: str = "") -> list[ev.Event]: ...
    async def end_contact(self, workspace: str, contact_id: str) -> list[ev.Event]: ...
    async def close_contact(
        self, workspace: str, contact_id: str, disposition: str | None = None
    ) -> list[ev.Event]: ...
    async def transfer(
        self, workspace: str, contact_id: str, queue: str | None = None, agent: str | None = None
    ) -> list[ev.Event]: ...
    async def abandon(self, workspace: str, contact_id: str) -> list[ev.Event]: ...
    async def hold(self, workspace: str, contact_id: str) -> ev.Event: ...
    async def resume(self, workspace: str, contact_id: str) -> ev.Event: ...
    async def add_note(
        self,
        workspace: str,
        contact_id: str,
        text: str,
        *,
        author: str,
        agent_id: str | None = None,
    ) -> ev.NoteAdded: ...
    async def reply(
        self,
        workspace: str,
        contact_id: str,
        body: str,
        *,
        subject: str = "",
        attachments: Sequence[Attachment] = (),
    ) -> Message: ...
