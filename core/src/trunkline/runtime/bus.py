"""The event bus: stored events to the observers (``trunkline_contact_event``) and the
subscribers, and signals (typing indicators), which pass and are never stored."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import events as ev
from .. import hookspecs
from ..channels import SendsSignals, Signal

if TYPE_CHECKING:
    from .protocols import PluginRuntime

__all__ = ["Bus"]

log = logging.getLogger("trunkline.runtime")


class Bus:
    """Fans stored events and passing signals out to whoever listens."""

    def __init__(self, runtime: PluginRuntime) -> None:
        self.runtime = runtime
        self._subscribers: list[MemoryObjectSendStream[ev.Event]] = []
        self._signal_subscribers: list[MemoryObjectSendStream[Signal]] = []
        self._observer_send: MemoryObjectSendStream[ev.Event] | None = None

    def open(self) -> MemoryObjectReceiveStream[ev.Event]:
        """The observers' stream, for :meth:`observe` (the runtime starts)."""
        send, receive = anyio.create_memory_object_stream[ev.Event](math.inf)
        self._observer_send = send
        return receive

    async def observe(self, receive: MemoryObjectReceiveStream[ev.Event]) -> None:
        """Hand each stored event to the ``trunkline_contact_event`` implementations."""
        async with receive:
            async for event in receive:
                await self.runtime.pm.acall_each(
                    hookspecs.trunkline_contact_event, event=event, runtime=self.runtime
                )

    def close(self) -> None:
        """The runtime stopped: every stream ends."""
        if self._observer_send is not None:
            self._observer_send.close()
            self._observer_send = None
        for stream in self._subscribers:
            stream.close()
        for signals in self._signal_subscribers:
            signals.close()

    def publish(self, events: Sequence[ev.Event]) -> None:
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

    def subscribe(self) -> MemoryObjectReceiveStream[ev.Event]:
        """A stream of every event from now on, after it is stored. Close it when done."""
        send, receive = anyio.create_memory_object_stream[ev.Event](math.inf)
        self._subscribers.append(send)
        return receive

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
        contact = await self.runtime.store.contact(signal.workspace, signal.contact_id)
        adapter = None if contact is None else self.runtime.channels.get(contact.channel)
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
