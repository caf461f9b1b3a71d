"""The switchboard: the routing engine with a clock, an event log and subscribers.

For applications that embed routing with no server: create queues and agents, submit
contacts, answer offers, move the clock, and subscribe to the events. The engine underneath
is the production :class:`~trunkline.routing.Router`; the switchboard only adds the small
loop every embedder would write (time, timers, the log, callbacks).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import events as ev
from .hours import Schedule
from .model import (
    Address,
    Agent,
    AgentStatus,
    Contact,
    Direction,
    EscalationStep,
    Offer,
    Queue,
    RoutingSettings,
)
from .routing import (
    AbandonContact,
    AcceptOffer,
    CloseContact,
    Command,
    EndContact,
    EnqueueContact,
    Explanation,
    RejectOffer,
    Router,
    RoutingHooks,
    SetAgentStatus,
    Strategy,
    Tick,
    TransferContact,
    explain_from_log,
)

__all__ = ["Switchboard"]

Subscriber = Callable[[ev.Event], object]


def builtin_strategies() -> dict[str, Strategy]:
    """The strategies core ships, without loading any plugin."""
    from .builtin.strategies import trunkline_register_strategies

    return {strategy.name: strategy for strategy in trunkline_register_strategies()}


class Switchboard:
    """Routing for one workspace inside your application.

    Time is virtual by default: it starts at ``start`` and moves only with :meth:`advance`,
    which fires every timer (offer timeouts, wrap-ups, escalation steps) at its own instant.
    Pass ``clock=time.time`` to use real time instead and call :meth:`tick` when
    :meth:`next_deadline` comes.
    """

    def __init__(
        self,
        workspace: str = "default",
        *,
        skills: Iterable[str] = (),
        clock: Callable[[], float] | None = None,
        start: float = 0.0,
        strategies: Mapping[str, Strategy] | None = None,
        settings: RoutingSettings | None = None,
        schedules: Mapping[str, Schedule] | None = None,
        hooks: RoutingHooks | None = None,
    ) -> None:
        self.workspace = workspace
        self._clock = clock
        self._now = start
        self._strategies = dict(strategies) if strategies is not None else builtin_strategies()
        self._config: tuple[list[Queue], list[Agent]] = ([], [])
        self.router = Router(
            workspace,
            [],
            [],
            strategies=self._strategies,
            hooks=hooks,
            skills=tuple(skills),
            settings=settings,
            schedules=schedules,
        )
        self._hooks = hooks
        self.log: list[ev.Event] = []
        self._subscribers: list[Subscriber] = []
        self._ids = itertools.count(1)

    # Time ---------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self._clock() if self._clock is not None else self._now

    def advance(self, seconds: float) -> list[ev.Event]:
        """Move virtual time forward, firing each timer at its own instant on the way."""
        if self._clock is not None:
            raise RuntimeError("advance() moves virtual time; this switchboard reads a clock")
        if seconds < 0:
            raise ValueError(f"time cannot go back ({seconds} s)")
        until = self._now + seconds
        events: list[ev.Event] = []
        while (deadline := self.router.next_deadline()) is not None and deadline <= until:
            self._now = max(self._now, deadline)
            events += self._do(Tick())
        self._now = until
        return events

    def next_deadline(self) -> float | None:
        """When the next timer is due (call :meth:`tick` then, with a real clock)."""
        return self.router.next_deadline()

    def tick(self) -> list[ev.Event]:
        """Fire the timers that are due now."""
        return self._do(Tick())

    # Configuration ------------------------------------------------------------------------

    def add_queue(
        self, queue_id: str, *, escalation: Sequence[EscalationStep] = (), **settings: Any
    ) -> Queue:
        """Add a queue; ``settings`` are :class:`~trunkline.model.Queue`'s fields."""
        queue = Queue(id=queue_id, workspace=self.workspace, escalation=escalation, **settings)
        self.router.add_queue(queue)
        self._config[0].append(queue)
        return queue

    def add_agent(
        self,
        agent_id: str,
        *,
        skills: Mapping[str, int] | None = None,
        capacity: Mapping[str, int] | None = None,
        queues: Sequence[str] = (),
        groups: Sequence[str] = (),
        name: str = "",
    ) -> Agent:
        """Add an agent, offline until :meth:`set_status` makes them available."""
        agent = Agent(
            id=agent_id,
            workspace=self.workspace,
            name=name,
            skills=skills or {},
            capacity=capacity or {"chat": 1},
            queues=tuple(queues),
            groups=tuple(groups),
        )
        self.router.add_agent(agent)
        self._config[1].append(agent)
        return agent

    # Events -------------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _do(self, command: Command) -> list[ev.Event]:
        events = self.router.handle(command, self.now)
        self.log += events
        for event in events:
            for callback in list(self._subscribers):
                callback(event)
        return events

    # Contacts and agents ------------------------------------------------------------------

    def submit(
        self,
        queue: str,
        *,
        kind: str = "chat",
        customer: str | None = None,
        priority: int = 0,
        language: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        required_skills: Mapping[str, int] | None = None,
        subject: str = "",
        contact_id: str | None = None,
        channel: str = "app",
    ) -> Contact:
        """A new inbound contact for ``queue``; it is routed at once if an agent is free."""
        cid = contact_id or f"ct-{next(self._ids)}"
        customer = customer or f"cu-{cid}"
        contact = Contact(
            id=cid,
            workspace=self.workspace,
            channel=channel,
            channel_kind=kind,
            direction=Direction.INBOUND,
            customer_id=customer,
            address=Address(channel, customer),
            subject=subject,
            attributes=attributes or {},
            priority=priority,
            required_skills=required_skills or {},
            language=language,
            queue=queue,
            created_at=self.now,
        )
        self._do(EnqueueContact(contact))
        return contact

    def set_status(
        self, agent_id: str, status: AgentStatus | str, reason: str | None = None
    ) -> list[ev.Event]:
        return self._do(SetAgentStatus(agent_id, AgentStatus(status), reason))

    def offers(self, agent_id: str | None = None) -> list[Offer]:
        """The open offers, of one agent or of everyone."""
        return [o for o in self.router.offers.values() if agent_id in (None, o.agent_id)]

    def accept(self, offer_id: str) -> list[ev.Event]:
        return self._do(AcceptOffer(offer_id))

    def reject(self, offer_id: str, reason: str = "") -> list[ev.Event]:
        return self._do(RejectOffer(offer_id, reason))

    def end(self, contact_id: str) -> list[ev.Event]:
        """The conversation is over; the agent's wrap-up starts."""
        return self._do(EndContact(contact_id))

    def close(self, contact_id: str, disposition: str | None = None) -> list[ev.Event]:
        """Wrap-up is done."""
        return self._do(CloseContact(contact_id, disposition))

    def abandon(self, contact_id: str) -> list[ev.Event]:
        """The customer left."""
        return self._do(AbandonContact(contact_id))

    def transfer(
        self, contact_id: str, *, queue: str | None = None, agent: str | None = None
    ) -> list[ev.Event]:
        return self._do(TransferContact(contact_id, queue, agent))

    # Reading ------------------------------------------------------------------------------

    def waiting(self, queue: str) -> list[str]:
        """Ids of the contacts waiting in a queue, first in line first."""
        return [view.contact.id for view in self.router.waiting(queue)]

    def explain(self, contact_id: str, *agent_ids: str) -> Explanation:
        """Why the contact went where it went (or waits), and why not to ``agent_ids``."""
        return explain_from_log(self.log, self._fresh_router, contact_id, agent_ids)

    def _fresh_router(self) -> Router:
        queues, agents = self._config
        return Router(
            self.workspace,
            queues,
            agents,
            strategies=self._strategies,
            hooks=self._hooks,
            skills=self.router.skills,
            settings=self.router.settings,
            schedules=self.router.schedules,
        )
