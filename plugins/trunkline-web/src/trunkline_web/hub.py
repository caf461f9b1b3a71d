"""The WebSocket hub: stored events and typing signals, routed to the agents and supervisors
who should see them.

One task reads the runtime's event stream and hands each event to the connections it
concerns (an offer to its agent, a message to the contact's agent and to supervisors
monitoring it); supervisors get the whole board at most once a second while anything
changes, and every few seconds while contacts wait (their longest wait grows without an
event), with an ``alert`` message first for each queue alert raised or cleared since the
last board. Each connection has a bounded outgoing queue: a client that does not keep up is
disconnected rather than allowed to hold memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from trunkline import PluginRuntime, Signal
from trunkline import events as ev
from trunkline.metrics import Metrics
from trunkline_web.auth import User
from trunkline_web.names import CustomerNames
from trunkline_web.views import (
    agent_json,
    author_name,
    contact_json,
    message_json,
    note_json,
    offer_json,
    queue_json,
    router_of,
)

__all__ = ["SIGNED_OUT", "Connection", "Hub"]

log = logging.getLogger("trunkline.web")

OUTGOING = 1000  # messages queued for one client before it is dropped as too slow
BOARD_EVERY = 1.0  # seconds between two boards sent to supervisors
SIGNED_OUT = 4401  # the close code of a socket whose sign-in ended (like HTTP's 401)
BOARD_REFRESH = 5.0  # seconds between boards while contacts wait, even with no event
# Each agent of the board carries these of its figures since start (trunkline.metrics).
BOARD_AGENT_FIGURES = ("handled", "aht", "occupancy")

_OUTCOMES: dict[type[ev.Event], str] = {
    ev.OfferAccepted: "accepted",
    ev.OfferRejected: "rejected",
    ev.OfferTimedOut: "timed_out",
    ev.OfferRescinded: "rescinded",
}


@attrs.define(eq=False)
class Connection:
    """One client's WebSocket, seen from the hub: who it is and its outgoing queue."""

    user: User
    send: MemoryObjectSendStream[dict[str, Any]]
    receive: MemoryObjectReceiveStream[dict[str, Any]]
    monitoring: set[str] = attrs.field(factory=set)  # contact ids (supervisors)
    dropped: bool = False
    # How it signed in: "session:<id>" or "token:<hash>" (trunkline_web.auth.Auth.by_credential).
    credential: str = ""
    closing: tuple[int, str] | None = None  # the close code and reason, once it is ended

    @classmethod
    def open(cls, user: User, credential: str = "") -> Connection:
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](OUTGOING)
        return cls(user, send, receive, credential=credential)

    def end(self, code: int, reason: str) -> None:
        """Close the socket once what is queued for it is sent; nothing more is queued."""
        if self.closing is None:
            self.closing = (code, reason)
        self.dropped = True
        self.send.close()

    def push(self, message: dict[str, Any]) -> None:
        if self.dropped:
            return
        try:
            self.send.send_nowait(message)
        except anyio.WouldBlock:
            log.warning("web: %s does not keep up; disconnecting", self.user.username)
            self.dropped = True
            self.send.close()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.dropped = True


class Hub:
    """Routes events to connections. ``run`` is a task of the web server."""

    def __init__(self, runtime: PluginRuntime) -> None:
        self.runtime = runtime
        self.agents: dict[tuple[str, str], set[Connection]] = {}
        self.supervisors: dict[str, set[Connection]] = {}
        self.metrics = {
            wid: Metrics(w.queues, w.agents) for wid, w in runtime.config.workspaces.items()
        }
        self.names = CustomerNames(runtime.store)  # for the contacts pushed, and the API's
        self._changed: set[str] = set()
        self._board_due = anyio.Event()
        # The alerts last sent to each workspace's supervisors: (queue, kind) -> alert.
        self._alerts: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}

    # Connections --------------------------------------------------------------------------

    def join(self, connection: Connection) -> None:
        user = connection.user
        if user.role == "agent":
            self.agents.setdefault((user.workspace, user.agent), set()).add(connection)
        else:
            self.supervisors.setdefault(user.workspace, set()).add(connection)

    def leave(self, connection: Connection) -> None:
        user = connection.user
        self.agents.get((user.workspace, user.agent), set()).discard(connection)
        self.supervisors.get(user.workspace, set()).discard(connection)
        connection.send.close()

    def disconnect(self, which: Callable[[Connection], bool], reason: str) -> int:
        """End every connection ``which`` picks (its sign-in ended: signed out, password
        changed, user removed), with close code 4401 and ``reason``; how many."""
        ended = 0
        for connections in (*self.agents.values(), *self.supervisors.values()):
            for connection in list(connections):
                if which(connection):
                    connection.end(SIGNED_OUT, reason)
                    ended += 1
        return ended

    def board(self, workspace: str) -> dict[str, Any]:
        router = router_of(self.runtime.desk(workspace))
        now = self.runtime.clock.now()
        metrics = self.metrics[workspace]
        figures = metrics.figures(now)
        agents = []
        for agent_id in router.agents:
            agent = agent_json(router, agent_id)
            mine = figures["agents"].get(agent_id, {})
            agent.update({key: mine.get(key) for key in BOARD_AGENT_FIGURES})
            agent.update(_time_in_state(agent, mine))
            agents.append(agent)
        queues = [
            queue_json(router, figures["queues"].get(q), q, now, metrics) for q in router.queues
        ]
        return {
            "type": "board",
            "at": now,
            "totals": figures["workspace"],
            "queues": queues,
            "agents": agents,
            "alerts": [alert for queue in queues for alert in queue["alerts"]],
        }

    # Routing ------------------------------------------------------------------------------

    async def run(self) -> None:
        events = self.runtime.subscribe()
        signals = self.runtime.subscribe_signals()
        async with events, signals, anyio.create_task_group() as tg:
            tg.start_soon(self._signals, signals)
            tg.start_soon(self._boards)
            async for event in events:
                try:
                    await self._know_name(event)
                    self._route(event)
                except Exception:
                    log.exception("web: could not pass on %s", event.type)

    def _to_agent(self, workspace: str, agent_id: str | None, message: dict[str, Any]) -> None:
        if agent_id is None:
            return
        for connection in list(self.agents.get((workspace, agent_id), ())):
            connection.push(message)

    def _to_monitors(self, workspace: str, contact_id: str, message: dict[str, Any]) -> None:
        for connection in list(self.supervisors.get(workspace, ())):
            if contact_id in connection.monitoring:
                connection.push(message)

    async def _know_name(self, event: ev.Event) -> None:
        """Know the name of the customer whose contact ``event`` makes us push, first."""
        if isinstance(event, ev.CustomerCreated):
            self.names.learn(event.customer)
            return
        if isinstance(event, ev.ContactOffered):
            contact_id: object = event.offer.contact_id
        else:
            contact_id = getattr(event, "contact_id", None)
        desk = self.runtime.desks.get(event.workspace)
        if not isinstance(contact_id, str) or desk is None or not desk.owned:
            return
        view = router_of(desk).contacts.get(contact_id)
        if view is not None:
            await self.names.read(event.workspace, [view.contact])

    def _name(self, workspace: str, contact: Any) -> str:
        return self.names.get(workspace, contact.customer_id)

    def _route(self, event: ev.Event) -> None:
        w = event.workspace
        metrics = self.metrics.get(w)
        if metrics is None:
            return
        metrics.apply(event)
        self._changed.add(w)
        self._board_due.set()
        desk = self.runtime.desks.get(w)
        if desk is None or not desk.owned:
            return
        router = router_of(desk)
        match event:
            case ev.ContactOffered(offer=offer):
                view = router.contacts.get(offer.contact_id)
                if view is not None:
                    self._to_agent(
                        w,
                        offer.agent_id,
                        {
                            "type": "offer",
                            "offer": offer_json(offer),
                            "contact": contact_json(
                                view.contact, router, self._name(w, view.contact)
                            ),
                        },
                    )
                self._agent_changed(w, router, offer.agent_id)  # its state is now "offered"
            case ev.OfferAccepted() | ev.OfferRejected() | ev.OfferTimedOut() | ev.OfferRescinded():
                closed = {
                    "type": "offer_closed",
                    "offer_id": event.offer_id,
                    "contact_id": event.contact_id,
                    "outcome": _OUTCOMES[type(event)],
                }
                self._to_agent(w, event.agent_id, closed)
                if isinstance(event, ev.OfferAccepted):
                    self._contact_changed(w, router, event.contact_id, event.agent_id)
                self._agent_changed(w, router, event.agent_id)
            case ev.MessageReceived(message=message) | ev.OutboundQueued(message=message):
                view = router.contacts.get(message.contact_id)
                update = {
                    "type": "message",
                    "contact_id": message.contact_id,
                    "message": message_json(message),
                }
                self._to_agent(w, None if view is None else view.agent_id, update)
                self._to_monitors(w, message.contact_id, update)
            case (
                ev.ContactEnded(contact_id=cid, agent_id=aid)
                | ev.WrapUpEnded(contact_id=cid, agent_id=aid)
            ):
                self._contact_changed(w, router, cid, aid)
                self._agent_changed(w, router, aid)
            case ev.ContactTransferred(contact_id=cid, from_agent=aid):
                self._contact_changed(w, router, cid, aid)
                self._agent_changed(w, router, aid)
            case ev.AgentStatusChanged(agent_id=aid):
                self._agent_changed(w, router, aid)
            case ev.NoteAdded():
                self._note_added(w, router, event)
            case _:
                pass

    def _contact_changed(self, w: str, router: Any, contact_id: str, agent_id: str) -> None:
        view = router.contacts.get(contact_id)
        if view is not None:
            payload = contact_json(view.contact, router, self._name(w, view.contact))
        else:  # closed: the engine forgot it; say so with what the agent knew
            payload = {"id": contact_id, "state": "closed", "agent_id": agent_id}
        self._to_agent(w, agent_id, {"type": "contact", "contact": payload})

    def _note_added(self, w: str, router: Any, note: ev.NoteAdded) -> None:
        """A note goes where the contact's messages go: its agent and its monitors."""
        name = author_name(self.runtime, w, note.author, note.agent_id)
        update = {"type": "note", "contact_id": note.contact_id, "note": note_json(note, name)}
        view = router.contacts.get(note.contact_id)
        self._to_agent(w, None if view is None else view.agent_id, update)
        self._to_monitors(w, note.contact_id, update)

    def _agent_changed(self, w: str, router: Any, agent_id: str) -> None:
        if agent_id in router.agents:
            self._to_agent(w, agent_id, {"type": "agent", "agent": agent_json(router, agent_id)})

    async def _signals(self, signals: MemoryObjectReceiveStream[Signal]) -> None:
        async for signal in signals:
            if signal.who != "customer":
                continue
            desk = self.runtime.desks.get(signal.workspace)
            if desk is None or not desk.owned:
                continue
            view = router_of(desk).contacts.get(signal.contact_id)
            message = {"type": signal.kind, "contact_id": signal.contact_id, "who": "customer"}
            self._to_agent(signal.workspace, None if view is None else view.agent_id, message)

    async def _boards(self) -> None:
        """Send each workspace's board to its supervisors, at most once a second, and every
        BOARD_REFRESH seconds while contacts wait (longest waits grow, alerts may rise)."""
        while True:
            with anyio.move_on_after(BOARD_REFRESH):
                await self._board_due.wait()
            self._board_due = anyio.Event()
            changed, self._changed = self._changed | self._waiting(), set()
            for workspace in changed:
                connections = self.supervisors.get(workspace)
                if connections and self.runtime.desks[workspace].owned:
                    board = self.board(workspace)
                    for message in self._alert_changes(workspace, board):
                        for connection in list(connections):
                            connection.push(message)
                    for connection in list(connections):
                        connection.push(board)
            await anyio.sleep(BOARD_EVERY)

    def _waiting(self) -> set[str]:
        """Workspaces with supervisors watching and a contact waiting or ringing."""
        return {
            w
            for w, connections in self.supervisors.items()
            if connections and any(q.unanswered for q in self.metrics[w].queues.values())
        }

    def _alert_changes(self, workspace: str, board: dict[str, Any]) -> list[dict[str, Any]]:
        """An ``alert`` message for each alert raised or cleared since the last board."""
        now = {(a["queue"], a["kind"]): a for a in board["alerts"]}
        before = self._alerts.get(workspace, {})
        self._alerts[workspace] = now
        messages = [
            {"type": "alert", "state": "raised", "at": board["at"], "alert": alert}
            for key, alert in now.items()
            if key not in before
        ]
        messages += [
            {"type": "alert", "state": "cleared", "at": board["at"], "alert": alert}
            for key, alert in before.items()
            if key not in now
        ]
        return messages


def _time_in_state(agent: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
    """``state_since`` and ``time_in_state`` of an agent's row, from its figures, when they
    follow what the engine says the agent does (after a restart they may not know yet)."""
    shown = agent["state"] if agent["status"] == "available" else agent["status"]
    mine = figures.get("state") if figures.get("status") == "available" else figures.get("status")
    if shown != mine or figures.get("state_since") is None:
        return {"state_since": None, "time_in_state": None}
    return {key: figures[key] for key in ("state_since", "time_in_state")}
