"""What a visitor is told about their contact while it is open: their place in line, the name
of the agent who took it, and whether anyone can answer now.

:class:`Progress` belongs to one channel. It learns of changes from the stored events (the
plugin's ``trunkline_contact_event`` hook hands each one to :meth:`Progress.observe`) and of
the visitors' contacts from their sessions (:meth:`Progress.track`, on hello and on each
acknowledged message, so a place in line never overtakes the message's ``ack``). An event that
moves a line only marks the positions due; the channel's task (:meth:`Progress.run`) works them
out at most once every :data:`POSITION_EVERY` seconds, reading each queue's line from the
routing engine once (``waiting``) for all of this channel's visitors waiting in it, and
pushes a ``position`` frame only to a visitor whose place changed. No event is answered by a
scan over all contacts, and a channel with no visitor waiting reads nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from trunkline import AgentStatus, Contact, ContactState, PluginRuntime
from trunkline import events as ev
from trunkline.routing import RoutingEngine

from . import protocol

if TYPE_CHECKING:
    from .adapter import WebChatChannel

__all__ = ["AVAILABILITY_EVERY", "POSITION_EVERY", "Progress"]

log = logging.getLogger("trunkline_webchat")

POSITION_EVERY = 1.0  # seconds: places in line are worked out at most this often
AVAILABILITY_EVERY = 30.0  # seconds: business hours are looked at again at least this often

# Events after which a place in line may have changed.
_LINE_EVENTS = (
    ev.ContactQueued,
    ev.ContactEscalated,
    ev.ContactOffered,
    ev.OfferRejected,
    ev.OfferTimedOut,
    ev.OfferRescinded,
    ev.ExclusionEnded,
    ev.OfferAccepted,
    ev.ContactTransferred,
    ev.ContactAbandoned,
    ev.ContactRefused,
    ev.ContactClosed,
)
_GONE = (ev.ContactClosed, ev.ContactAbandoned, ev.ContactRefused)


class Progress:
    """Positions, agents and availability for one web-chat channel's visitors."""

    def __init__(self, channel: WebChatChannel) -> None:
        self.channel = channel
        self.runtime: PluginRuntime | None = None
        self.contacts: dict[str, str] = {}  # open contact id -> its visitor
        self.positions: dict[str, int] = {}  # contact id -> the place last told (while waiting)
        self.available: bool | None = None  # last told (with offline_form only)
        self._names: dict[str, str] = {}
        self._serving: tuple[str, ...] = ()  # the agents of the channel's queue
        self._queue: str | None = None
        self._lines = False  # a line moved since positions were last worked out
        self._wanted = False  # something is due (set before run's first wait, too)
        self._due: anyio.Event | None = None  # made by run: an Event needs a running loop

    # Learning ------------------------------------------------------------------------------

    def attach(self, runtime: PluginRuntime) -> None:
        """Know the runtime (on the first event or hello): agents' names, the channel's queue."""
        if self.runtime is runtime:
            return
        self.runtime = runtime
        workspace = runtime.config.workspaces.get(self.channel.workspace)
        if workspace is None:
            return
        self._names = {a.id: a.name or a.id for a in workspace.agents}
        queue = next((c.queue for c in workspace.channels if c.name == self.channel.instance), None)
        self._queue = queue or next((q.id for q in workspace.queues), None)
        self._serving = tuple(a.id for a in workspace.agents if self._queue in a.queues)

    def track(self, contact_id: str, visitor: str) -> None:
        """A visitor's open contact: tell them its progress from now on."""
        if self.contacts.get(contact_id) != visitor:
            self.contacts[contact_id] = visitor
            self._mark_lines()

    def observe(self, event: ev.Event, runtime: PluginRuntime) -> None:
        """One stored event: O(1), it only notes what is due."""
        if event.workspace != self.channel.workspace:
            return
        self.attach(runtime)
        if isinstance(event, ev.AgentStatusChanged):
            if self.channel.settings.offline_form and event.agent_id in self._serving:
                self._wake()
            return
        if not isinstance(event, _LINE_EVENTS) or not self.contacts:
            return
        contact_id = ev.contact_id_of(event)
        if contact_id is not None and contact_id in self.contacts:
            if isinstance(event, ev.OfferAccepted):
                self.positions.pop(contact_id, None)
                name = self._names.get(event.agent_id, event.agent_id)
                self.channel.push(self.contacts[contact_id], protocol.agent(name))
            elif isinstance(event, _GONE):
                del self.contacts[contact_id]
                self.positions.pop(contact_id, None)
        self._mark_lines()

    def _mark_lines(self) -> None:
        self._lines = True
        self._wake()

    def _wake(self) -> None:
        self._wanted = True
        if self._due is not None:
            self._due.set()

    # Telling -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Work out and push what is due, at most once every POSITION_EVERY seconds."""
        while True:
            self._due = anyio.Event()
            if not self._wanted:
                with anyio.move_on_after(AVAILABILITY_EVERY):
                    await self._due.wait()
            self._wanted = False
            try:
                self._update()
            except Exception:  # never let a visitor's progress stop the channel
                log.exception("%s: could not tell visitors their progress", self.channel.what)
            await anyio.sleep(POSITION_EVERY)

    def _router(self) -> RoutingEngine | None:
        runtime = self.runtime
        desk = None if runtime is None else runtime.desks.get(self.channel.workspace)
        if desk is None or not desk.owned:
            return None  # another node routes the workspace
        return desk.engine

    def _update(self) -> None:
        router = self._router()
        if router is None:
            return
        if self._lines:
            self._lines = False
            self._push_positions(router)
        if self.channel.settings.offline_form and self.runtime is not None:
            available, reason = self.availability(router, self.runtime.clock.now())
            if available != self.available:
                self.available = available
                self.channel.push_all(protocol.availability(available, reason))

    def _push_positions(self, router: RoutingEngine) -> None:
        by_queue: dict[str, list[str]] = {}
        places: dict[str, int] = {}
        for contact_id in self.contacts:
            view = router.contacts.get(contact_id)
            if view is None or view.queue is None:
                continue
            if view.state is ContactState.OFFERED:
                places[contact_id] = 0
            elif view.state is ContactState.QUEUED:
                by_queue.setdefault(view.queue, []).append(contact_id)
        for queue, mine in by_queue.items():
            line = {v.contact.id: n for n, v in enumerate(router.waiting(queue), start=1)}
            for contact_id in mine:
                if contact_id in line:
                    places[contact_id] = line[contact_id]
        for contact_id, place in places.items():
            if self.positions.get(contact_id) != place:
                self.positions[contact_id] = place
                self.channel.push(self.contacts[contact_id], protocol.position(place))

    def availability(self, router: RoutingEngine, now: float) -> tuple[bool, str | None]:
        """Can anyone answer now: is the channel's queue open (its business hours), and is
        one of its agents available? ``(False, "closed")`` or ``(False, "no_agents")`` if not."""
        queue = router.queues.get(self._queue or "")
        if queue is not None and queue.hours:
            schedule = router.schedules.get(queue.hours)
            if schedule is not None and not schedule.is_open(now):
                return False, "closed"
        for agent_id in self._serving:
            run = router.agents.get(agent_id)
            if run is not None and run.status is AgentStatus.AVAILABLE:
                return True, None
        return False, "no_agents"

    # A welcome -----------------------------------------------------------------------------

    def welcome(
        self, runtime: PluginRuntime, visitor: str, contact: Contact | None
    ) -> dict[str, Any]:
        """What a ``welcome`` adds for the visitor now: ``position`` while their open contact
        waits, ``agent`` while one handles it, ``available`` (and ``reason``) with
        ``offline_form``."""
        self.attach(runtime)
        extra: dict[str, Any] = {}
        router = self._router()
        if router is None:
            return extra
        if contact is not None:
            self.track(contact.id, visitor)
            view = router.contacts.get(contact.id)
            if view is not None and view.state is ContactState.OFFERED:
                extra["position"] = 0
            elif view is not None and view.state is ContactState.QUEUED and view.queue:
                place = self.positions.get(contact.id)
                if place is None:  # not worked out yet (a restart): once, for this contact
                    line = [v.contact.id for v in router.waiting(view.queue)]
                    if contact.id in line:
                        place = self.positions[contact.id] = line.index(contact.id) + 1
                if place is not None:
                    extra["position"] = place
            elif view is not None and view.agent_id is not None:
                extra["agent"] = self._names.get(view.agent_id, view.agent_id)
        if self.channel.settings.offline_form:
            available, reason = self.availability(router, runtime.clock.now())
            extra["available"] = available
            if not available:
                extra["reason"] = reason
        return extra
