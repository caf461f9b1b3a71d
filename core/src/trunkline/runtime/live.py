"""Live sessions: the runtime steers the channels whose contacts are calls (``live``).

The engine knows nothing of calls. This module maps both ways between the engine's stored
events and a live channel's session (see :class:`~trunkline.channels.LiveChannel`): an offer
rings the agent, an accepted offer connects them, a rescinded or timed-out offer stops the
ringing, a transfer releases the agent, an end or an abandonment hangs up; and the channel's
reports (answered, declined, no answer, the customer hung up, keys pressed) become the desk
commands any agent desktop sends. Routing, metrics, ``explain`` and the simulator therefore
need no voice-specific code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream

from .. import events as ev
from ..channels import ChannelAdapter, LiveChannel, Ring, Signal
from ..errors import PluginError, TrunklineError

if TYPE_CHECKING:
    from .desk import Desk
    from .protocols import PluginRuntime

__all__ = ["LiveSessions", "live_channels"]

log = logging.getLogger("trunkline.runtime")


_SESSION_METHODS = ("bind", "offer", "rescind", "connect", "hold", "resume", "transfer", "hangup")


def live_channels(channels: Mapping[str, ChannelAdapter]) -> dict[str, LiveChannel]:
    """The channels that declare ``live``, each checked to implement :class:`LiveChannel`."""
    found: dict[str, LiveChannel] = {}
    for name, adapter in channels.items():
        if not adapter.capabilities.live:
            continue
        if not isinstance(adapter, LiveChannel):
            missing = [
                method
                for method in _SESSION_METHODS
                if not callable(getattr(adapter, method, None))
            ]
            raise PluginError(
                f'channel "{name}" (adapter "{adapter.name}") declares live but has no '
                + ", ".join(f"{m}()" for m in missing)
            )
        found[name] = adapter
    return found


class LiveSessions:
    """The :class:`~trunkline.channels.SessionReports` the live channels are bound to, and the
    task that turns stored events into calls on them."""

    def __init__(self, runtime: PluginRuntime, desk: Callable[[str], Desk]) -> None:
        self.runtime = runtime
        self._desk = desk
        self.channels = live_channels(runtime.channels)
        self._rings: dict[str, Ring] = {}  # open offers of live contacts, by offer id
        self._channel_of: dict[str, str] = {}  # live contact id -> channel instance
        for channel in self.channels.values():
            channel.bind(self)

    # Events -> the channels ---------------------------------------------------------------

    async def run(
        self,
        receive: MemoryObjectReceiveStream[ev.Event],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Steer the sessions from each stored event until cancelled."""
        task_status.started()
        async with receive:
            async for event in receive:
                try:
                    await self._steer(event)
                except Exception:  # a failing channel must not stop the others' calls
                    log.exception("a live channel failed on %s", event.type)

    async def _steer(self, event: ev.Event) -> None:
        match event:
            case ev.ContactReceived(contact=contact) if contact.channel in self.channels:
                self._channel_of[contact.id] = contact.channel
            case ev.ContactOffered(offer=offer):
                channel = self._channel(offer.contact_id)
                found = await self.runtime.store.contact(event.workspace, offer.contact_id)
                if channel is None or found is None:
                    return
                ring = Ring(
                    workspace=event.workspace,
                    offer_id=offer.id,
                    contact_id=offer.contact_id,
                    agent_id=offer.agent_id,
                    caller=found.address,
                    timeout=max(0.0, offer.expires_at - offer.created_at),
                )
                self._rings[offer.id] = ring
                await channel.offer(ring)
            case ev.OfferAccepted(offer_id=offer_id, contact_id=contact_id):
                accepted = self._rings.pop(offer_id, None)
                channel = self._channel(contact_id)
                if accepted is not None and channel is not None:
                    await channel.connect(accepted)
            case (
                ev.OfferRejected(offer_id=offer_id)
                | ev.OfferTimedOut(offer_id=offer_id)
                | ev.OfferRescinded(offer_id=offer_id)
            ):
                settled = self._rings.pop(offer_id, None)
                channel = self._channel(settled.contact_id) if settled is not None else None
                if settled is not None and channel is not None:
                    await channel.rescind(settled)
            case ev.ContactHeld(contact_id=contact_id):
                await self._call(contact_id, lambda c: c.hold(contact_id))
            case ev.ContactResumed(contact_id=contact_id):
                await self._call(contact_id, lambda c: c.resume(contact_id))
            case ev.ContactTransferred(contact_id=contact_id):
                await self._call(contact_id, lambda c: c.transfer(contact_id))
            case ev.ContactEnded(contact_id=contact_id):
                await self._call(contact_id, lambda c: c.hangup(contact_id, "ended"))
            case ev.ContactAbandoned(contact_id=contact_id):
                await self._call(contact_id, lambda c: c.hangup(contact_id, "abandoned"))
            case ev.ContactClosed(contact_id=contact_id):
                await self._call(contact_id, lambda c: c.hangup(contact_id, "closed"))
                self._channel_of.pop(contact_id, None)
            case _:
                pass

    def _channel(self, contact_id: str) -> LiveChannel | None:
        name = self._channel_of.get(contact_id)
        return self.channels.get(name) if name is not None else None

    async def _call(self, contact_id: str, call: Callable[[LiveChannel], Awaitable[None]]) -> None:
        channel = self._channel(contact_id)
        if channel is not None:
            await call(channel)

    # The channels' reports -> desk commands -----------------------------------------------

    async def answered(self, ring: Ring) -> None:
        await self._settle(self.runtime.accept(ring.workspace, ring.offer_id), ring.offer_id)

    async def declined(self, ring: Ring, reason: str = "") -> None:
        reject = self.runtime.reject(ring.workspace, ring.offer_id, reason or "declined")
        await self._settle(reject, ring.offer_id)

    async def no_answer(self, ring: Ring) -> None:
        await self._settle(self.runtime.reject(ring.workspace, ring.offer_id, "no-answer"), "")

    def _agent(self, workspace: str, contact_id: str) -> str | None:
        """The agent a contact is connected to, by the engine (None while it waits)."""
        view = self._desk(workspace).engine.contacts.get(contact_id)
        return view.agent_id if view is not None else None

    async def hung_up(self, workspace: str, contact_id: str) -> None:
        if self._agent(workspace, contact_id) is not None:
            command = self.runtime.end_contact(workspace, contact_id)
        else:
            command = self.runtime.abandon(workspace, contact_id)
        await self._settle(command, contact_id)

    async def dtmf(self, workspace: str, contact_id: str, digits: str) -> None:
        signal = Signal(workspace, contact_id, kind="dtmf", who="customer", value=digits)
        await self.runtime.signal(signal)

    async def _settle(self, command: Awaitable[list[ev.Event]], what: str) -> None:
        """Run a command a report asks for; a report of what is already settled (an offer
        another phone won, a contact that ended meanwhile) is no error."""
        try:
            await command
        except TrunklineError as error:
            log.debug("live report on %s ignored: %s", what, error)

    # Hold, from the desk ------------------------------------------------------------------

    async def hold(self, workspace: str, contact_id: str, *, held: bool = True) -> ev.Event:
        """Put a connected live contact on hold (or take it off) and store it."""
        agent = self._agent(workspace, contact_id)
        if agent is None or contact_id not in self._channel_of:
            raise TrunklineError(f'contact "{contact_id}" is not a connected live session')
        kind = ev.ContactHeld if held else ev.ContactResumed
        event = kind(
            workspace=workspace, at=self.runtime.clock.now(), contact_id=contact_id, agent_id=agent
        )
        await self._desk(workspace).commit([event])
        return event
