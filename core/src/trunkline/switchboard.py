"""The switchboard: the routing engine with a clock, an event log and subscribers.

For applications that embed routing with no server: create queues and agents, submit
contacts, answer offers, move the clock, and subscribe to the events. The engine underneath
is the production :class:`~trunkline.routing.Router`; the switchboard only adds the small
loop every embedder would write (time, timers, the log, callbacks).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from . import events as ev
from .hours import Schedule
from .model import (
    Address,
    Agent,
    AgentStatus,
    Contact,
    ContactState,
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
    RoutingError,
    RoutingHooks,
    SetAgentStatus,
    Strategy,
    Tick,
    TransferContact,
    explain_from_log,
)

__all__ = ["OpenContact", "Switchboard"]

Subscriber = Callable[[ev.Event], object]
SNAPSHOT_FORMAT = 1
_OWN_ID = re.compile(r"ct-([0-9]+)")  # the ids submit() makes up


@attrs.frozen
class OpenContact:
    """One open contact as routing sees it now (:meth:`Switchboard.contact`).

    ``agent_id`` is the agent handling it (active or in wrap-up); ``offers`` are its open
    offers; ``priority`` is the queue's and the contact's together; ``level`` is the escalation
    level in force; ``waiting_since`` is its place in line (the time it arrived, kept across
    escalation and overflow); ``preferred_agent`` is set while it waits for one agent only
    (sticky routing, or a transfer to an agent).
    """

    contact: Contact
    state: ContactState
    queue: str | None
    agent_id: str | None
    offers: tuple[Offer, ...]
    priority: int
    level: int
    waiting_since: float
    preferred_agent: str | None


def builtin_strategies() -> dict[str, Strategy]:
    """The strategies core ships, without loading any plugin."""
    from .builtin.strategies import trunkline_register_strategies

    return {strategy.name: strategy for strategy in trunkline_register_strategies()}


class Switchboard:
    """Routing for one workspace inside your application.

    Time is virtual by default: it starts at ``start`` and moves only with :meth:`advance`,
    which fires every timer (offer timeouts, wrap-ups, escalation steps) at its own instant,
    or with :meth:`step`, which stops at the next timer so that you can react to it. Pass
    ``clock=time.time`` to use real time instead and call :meth:`tick` when
    :meth:`next_deadline` comes.

    Every event is handed to the subscribers and kept in :attr:`log` (unless
    ``keep_log=False``) until :meth:`drain` takes it. :meth:`restore` rebuilds a new
    switchboard from stored events, or from a :meth:`snapshot` and the events after it.
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
        keep_log: bool = True,
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
        self._keep_log = keep_log
        self._history: list[ev.Event] = []  # restored events: explain replays them too
        self._complete = keep_log  # history + log hold every event since the base
        self._base: bytes | None = None  # the router snapshot restored from, if any
        self._events = 0  # events made or restored: restore() only into a new switchboard
        self._subscribers: list[Subscriber] = []
        self._next_id = 1

    # Time ---------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self._clock() if self._clock is not None else self._now

    def advance(self, seconds: float) -> list[ev.Event]:
        """Move virtual time forward, firing each timer at its own instant on the way.

        Nothing can react between two timers: use it when nobody answers in between (a
        simulation, a test of timeouts). To answer an offer before the next timer, use
        :meth:`step`.
        """
        self._virtual("advance")
        if seconds < 0:
            raise ValueError(f"time cannot go back ({seconds} s)")
        until = self._now + seconds
        events: list[ev.Event] = []
        while (deadline := self.router.next_deadline()) is not None and deadline <= until:
            self._now = max(self._now, deadline)
            events += self._do(Tick())
        self._now = until
        return events

    def step(self, within: float | None = None) -> list[ev.Event]:
        """Move virtual time to the next timer and fire the timers due then, and no later.

        Returns their events, so that you can react (accept the new offer, say) before the
        next timer. With ``within``, time moves at most that many seconds: when no timer is
        due by then it moves exactly ``within`` and nothing fires. With no timer set and no
        ``within``, time stays and the result is empty.
        """
        self._virtual("step")
        if within is not None and within < 0:
            raise ValueError(f"time cannot go back ({within} s)")
        deadline = self.router.next_deadline()
        if deadline is None or (within is not None and deadline > self._now + within):
            if within is not None:
                self._now += within
            return []
        self._now = max(self._now, deadline)
        return self._do(Tick())

    def next_deadline(self) -> float | None:
        """When the next timer is due (call :meth:`tick` then, with a real clock)."""
        return self.router.next_deadline()

    def tick(self) -> list[ev.Event]:
        """Fire the timers that are due now."""
        return self._do(Tick())

    def _virtual(self, method: str) -> None:
        if self._clock is not None:
            raise RuntimeError(
                f"{method}() moves virtual time; this switchboard reads a clock: call tick() "
                "when next_deadline() comes"
            )

    # Configuration ------------------------------------------------------------------------

    def add_queue(
        self,
        queue_id: str,
        *,
        name: str = "",
        skills: Mapping[str, int] | None = None,
        requirement: str = "",
        priority: int = 0,
        priority_step: float = 60.0,
        order: Literal["fifo", "lifo"] = "fifo",
        strategy: str = "longest-idle",
        seed: int = 0,
        offer_timeout: float = 20.0,
        offer_to: int = 1,
        reject_delay: float = 30.0,
        no_answer_delay: float = 30.0,
        wrap_up: float = 0.0,
        max_length: int = 0,
        when_no_agents: Literal["join", "refuse"] = "join",
        leave_when_no_agents: bool = False,
        hours: str = "",
        when_closed: Literal["refuse", "queue", "overflow"] = "refuse",
        closed_queue: str = "",
        escalation: Sequence[EscalationStep] = (),
        sticky: float = 0.0,
        rejoin_window: float = 0.0,
        service_level_threshold: float = 20.0,
        service_level_target: float = 0.8,
        service_level_abandons: Literal["ignored", "missed", "met"] = "ignored",
        service_level_short_abandon: float = 0.0,
        alert_service_level: float | None = None,
        alert_longest_wait: float = 0.0,
        alert_abandonment: float = 0.0,
    ) -> Queue:
        """Add a queue; the settings are :class:`~trunkline.model.Queue`'s fields."""
        queue = Queue(
            id=queue_id,
            workspace=self.workspace,
            name=name,
            skills=skills or {},
            requirement=requirement,
            priority=priority,
            priority_step=priority_step,
            order=order,
            strategy=strategy,
            seed=seed,
            offer_timeout=offer_timeout,
            offer_to=offer_to,
            reject_delay=reject_delay,
            no_answer_delay=no_answer_delay,
            wrap_up=wrap_up,
            max_length=max_length,
            when_no_agents=when_no_agents,
            leave_when_no_agents=leave_when_no_agents,
            hours=hours,
            when_closed=when_closed,
            closed_queue=closed_queue,
            escalation=tuple(escalation),
            sticky=sticky,
            rejoin_window=rejoin_window,
            service_level_threshold=service_level_threshold,
            service_level_target=service_level_target,
            service_level_abandons=service_level_abandons,
            service_level_short_abandon=service_level_short_abandon,
            alert_service_level=alert_service_level,
            alert_longest_wait=alert_longest_wait,
            alert_abandonment=alert_abandonment,
        )
        self.router.add_queue(queue)
        self._config[0].append(queue)
        return queue

    def add_agent(
        self,
        agent_id: str,
        *,
        name: str = "",
        skills: Mapping[str, int] | None = None,
        capacity: Mapping[str, int] | None = None,
        queues: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Agent:
        """Add an agent, offline until :meth:`set_status` makes them available.

        ``capacity`` left out is one chat at a time (``{"chat": 1}``), the kind :meth:`submit`
        makes by default; ``capacity={}`` takes nothing, as in the configuration file.
        """
        agent = Agent(
            id=agent_id,
            workspace=self.workspace,
            name=name,
            skills=skills or {},
            capacity={"chat": 1} if capacity is None else capacity,
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

    def drain(self) -> list[ev.Event]:
        """The events made since the last drain, in order; the switchboard forgets them.

        For a long-running application: store what it returns (see ``trunkline.codec``) and
        the switchboard's memory stays bounded. :meth:`explain` then needs the stored events.
        """
        events, self.log = self.log, []
        if events or self._history:
            self._history = []
            self._complete = False
        return events

    def _do(self, command: Command) -> list[ev.Event]:
        events = self.router.handle(command, self.now)
        self._events += len(events)
        if self._keep_log:
            self.log += events
        for event in events:
            for callback in list(self._subscribers):
                callback(event)
        return events

    # Restoring ----------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The routing state and the time, compact, for :meth:`restore` in a new switchboard.

        Restore it into a switchboard with the same queues and agents; it does not hold the
        log, so keep the events made after it too.
        """
        queues, agents = self._config
        state = {
            "format": SNAPSHOT_FORMAT,
            "workspace": self.workspace,
            "now": self.now,
            "next_id": self._next_id,
            "queues": [q.id for q in queues],
            "agents": [a.id for a in agents],
            "router": json.loads(zlib.decompress(self.router.snapshot())),
        }
        return zlib.compress(json.dumps(state, separators=(",", ":")).encode())

    def restore(self, events: Iterable[ev.Event] = (), *, snapshot: bytes | None = None) -> None:
        """Rebuild the routing state from stored events, or from a snapshot and the events after.

        Call it on a new switchboard, configured with the queues and agents the events name,
        before any command. Afterwards :attr:`now` is the last event's time (or the
        snapshot's), :meth:`explain` works for the restored contacts, and every command
        decides as if this switchboard had made those events. Restored events are not
        handed to subscribers nor put in :attr:`log`: you have them already.

        An event that does not fit (an unknown agent, queue, contact or offer, another
        workspace) raises :class:`~trunkline.routing.RoutingError` naming it, and nothing is
        restored: the switchboard is as it was.
        """
        if self._events or self._base is not None:
            raise RoutingError(
                f'switchboard "{self.workspace}": restore into a new switchboard, before any '
                f"command (this one has {self._events} events already)"
            )
        router = self._fresh_router()
        now, next_id, base = self._now, self._next_id, None
        if snapshot is not None:
            base, now_at, next_id = self._load_snapshot(router, snapshot)
            now = max(now, now_at)
        history: list[ev.Event] = []
        count = 0
        for count, event in enumerate(events, start=1):
            try:
                router.check(event)
            except RoutingError as exc:
                raise RoutingError(
                    f"stored event {count}: {exc}. Add the missing agents and queues before "
                    "restore(), then restore the whole log again; nothing was restored"
                ) from None
            router.apply(event)
            if self._keep_log:
                history.append(event)
            now = max(now, event.at)
            if isinstance(event, ev.ContactReceived):
                own = _OWN_ID.fullmatch(event.contact.id)
                if own is not None:
                    next_id = max(next_id, int(own[1]) + 1)
        self.router, self._history, self._base = router, history, base
        self._now, self._next_id, self._events = now, next_id, count

    def _load_snapshot(self, router: Router, data: bytes) -> tuple[bytes, float, int]:
        try:
            state = json.loads(zlib.decompress(data))
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
            if state.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"format {state.get('format')!r}")
            now, next_id = float(state["now"]), int(state["next_id"])
            queues, agents, engine = state["queues"], state["agents"], state["router"]
        except (ValueError, KeyError, TypeError, AttributeError, zlib.error) as exc:
            raise RoutingError(
                f"snapshot: not a switchboard snapshot of format {SNAPSHOT_FORMAT} ({exc}); "
                "take it with Switchboard.snapshot()"
            ) from None
        if state.get("workspace") != self.workspace:
            raise RoutingError(
                f'snapshot: of workspace "{state.get("workspace")}", not "{self.workspace}"'
            )
        missing = []
        for what, ids, known in (
            ("queue", queues, router.queues),
            ("agent", agents, router.agents),
        ):
            unknown = [i for i in ids if i not in known]
            if unknown:
                plural = "s" if len(unknown) > 1 else ""
                names = _some(f'"{i}"' for i in unknown)
                missing.append(f"unknown {what}{plural} {names} (known: {_some(known)})")
        if missing:
            raise RoutingError(
                f"snapshot: {'; '.join(missing)}. Add the missing agents and queues before "
                "restore(); nothing was restored"
            )
        engine_data = zlib.compress(json.dumps(engine, separators=(",", ":")).encode())
        try:
            router.restore(engine_data)
        except RoutingError as exc:
            raise RoutingError(f"snapshot: {exc}; nothing was restored") from None
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise RoutingError(
                f"snapshot: does not fit this configuration ({type(exc).__name__}: {exc}); "
                "nothing was restored"
            ) from None
        return engine_data, now, next_id

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
        if contact_id is None:
            contact_id = f"ct-{self._next_id}"
            self._next_id += 1
        customer = customer or f"cu-{contact_id}"
        contact = Contact(
            id=contact_id,
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

    def contact(self, contact_id: str) -> OpenContact | None:
        """One open contact's state now; ``None`` once it is closed, abandoned or refused."""
        view = self.router.contacts.get(contact_id)
        if view is None:
            return None
        return OpenContact(
            contact=view.contact,
            state=view.state,
            queue=view.queue,
            agent_id=view.agent_id,
            offers=tuple(self.router.offers[o] for o in view.offers),
            priority=view.priority,
            level=view.level,
            waiting_since=view.since,
            preferred_agent=view.preferred,
        )

    def waiting(self, queue: str) -> list[str]:
        """Ids of the contacts waiting in a queue, first in line first."""
        return [view.contact.id for view in self.router.waiting(queue)]

    def explain(
        self, contact_id: str, *agent_ids: str, events: Iterable[ev.Event] | None = None
    ) -> Explanation:
        """Why the contact went where it went (or waits), and why not to ``agent_ids``.

        It replays the switchboard's events since it began (or since the snapshot it was
        restored from). They are kept, unless :meth:`drain` took them or ``keep_log=False``:
        then pass ``events``, every event taken out since then (the ones you restored, then
        those from :meth:`drain` or a subscriber), in order; those still in :attr:`log` follow.
        """
        if events is None:
            if not self._complete:
                why = "keeps no log (keep_log=False)" if not self._keep_log else "was drained"
                raise RoutingError(
                    f'explain "{contact_id}": the switchboard\'s log {why}; pass the stored '
                    "events: explain(contact_id, events=...)"
                )
            events = self._history
        return explain_from_log([*events, *self.log], self._fresh_router, contact_id, agent_ids)

    def _fresh_router(self) -> Router:
        """A router with this configuration, in the state the switchboard began from."""
        queues, agents = self._config
        router = Router(
            self.workspace,
            queues,
            agents,
            strategies=self._strategies,
            hooks=self._hooks,
            skills=self.router.skills,
            settings=self.router.settings,
            schedules=self.router.schedules,
        )
        if self._base:
            router.restore(self._base)
        return router


def _some(names: Iterable[str], most: int = 10) -> str:
    """Names for an error message: the first few (a centre may have 10,000 agents)."""
    listed = list(names)
    if len(listed) > most:
        return f"{', '.join(listed[:most])} and {len(listed) - most} more"
    return ", ".join(listed) or "none"
