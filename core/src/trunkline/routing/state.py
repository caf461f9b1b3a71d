"""The engine's projection state and its indexes, kept exact as events are applied.

Agents sit in *pools*: one per queue (the agents who list it) and one per agent group. For
each pool a queue routes to, an :class:`AgentIndex` orders the pool's eligible agents by the
queue's strategy. Waiting contacts sit in :class:`Line`\\ s, one per pool and contact class
(channel kind plus the bound requirement), ordered by priority-adjusted arrival. Both are
binary heaps whose live membership is counted exactly; an entry that stopped being live is
dropped when it reaches the top, and a heap is rebuilt once it holds more dead entries than
live ones, so neither grows without bound however many queues an agent serves.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from typing import Any

from ..model import Agent, AgentState, AgentStatus, Contact, ContactState, EscalationStep, Queue
from ..requirements import AgentPredicate, Requirement

__all__ = [
    "AgentIndex",
    "AgentRun",
    "ContactView",
    "Level",
    "Line",
    "OrderedIndex",
    "Pool",
    "QueueState",
]

# A heap is rebuilt when it holds more than twice its live entries plus this slack.
_SLACK = 16


class AgentRun:
    """One agent's routing state. Implements :class:`~trunkline.routing.strategy.AgentView`."""

    __slots__ = (
        "active",
        "agent",
        "capacity",
        "eligible",
        "handled",
        "held",
        "idle_since",
        "indexed",
        "indexes",
        "last_offer",
        "lines",
        "missed",
        "offer",
        "offered",
        "order",
        "pools",
        "preferred",
        "ready_since",
        "reason",
        "skills",
        "status",
        "status_since",
        "total_capacity",
        "wrap_up",
    )

    def __init__(self, agent: Agent, order: int) -> None:
        self.agent = agent
        self.order = order
        self.skills: Mapping[str, int] = agent.skills
        self.capacity: dict[str, int] = {k: int(v) for k, v in agent.capacity.items() if v}
        self.total_capacity = sum(self.capacity.values())
        self.status = AgentStatus.OFFLINE
        self.reason: str | None = None
        self.status_since = 0.0  # when the status (or break reason) last changed; 0: never
        self.idle_since = 0.0
        self.ready_since = 0.0
        self.handled = 0
        self.offered = 0
        self.last_offer = 0
        self.missed = 0  # offers in a row that timed out
        self.offer: str | None = None  # the pending offer: one at a time per agent
        self.active: dict[str, str] = {}  # contact id -> channel kind
        self.wrap_up: dict[str, tuple[str, float]] = {}  # contact id -> (kind, until)
        self.held: dict[str, int] = {}  # kind -> contacts held (offered, active, wrap-up)
        self.pools: list[Pool] = []
        self.lines: list[Line] = []  # every line of every pool it is in (never shrinks)
        self.indexes: list[AgentIndex | OrderedIndex] = []
        self.preferred: dict[str, ContactView] = {}  # contacts waiting for this agent only
        self.eligible = False  # could be offered a contact now
        self.indexed = False  # has live entries in its indexes

    @property
    def state(self) -> AgentState:
        if self.offer is not None:
            return AgentState.OFFERED
        if self.active:
            return AgentState.BUSY
        if self.wrap_up:
            return AgentState.WRAP_UP
        return AgentState.IDLE

    @property
    def load(self) -> int:
        return sum(self.held.values())

    @property
    def occupancy(self) -> float:
        return self.load / self.total_capacity if self.total_capacity else 1.0

    def __repr__(self) -> str:
        return f"<AgentRun {self.agent.id} {self.status.value}/{self.state.value}>"


class ContactView:
    """The engine's view of a contact: its state, queue, place in line, offers and agent."""

    __slots__ = (
        "agent_id",
        "contact",
        "counted",
        "declined",
        "joined_at",
        "level",
        "lines",
        "offers",
        "offers_made",
        "predicate",
        "preferred",
        "preferred_until",
        "priority",
        "queue",
        "score",
        "seq",
        "since",
        "state",
    )

    def __init__(self, contact: Contact, at: float) -> None:
        self.contact = contact
        self.state = ContactState.QUEUED
        self.queue: str | None = None
        self.priority = 0
        self.since = at  # place in line: the time it arrived
        self.joined_at = at  # when it joined its current queue (escalation runs from here)
        self.level = 0
        self.preferred: str | None = None
        self.preferred_until = 0.0
        self.predicate: AgentPredicate | None = None
        self.score = 0.0
        self.seq = -1  # placement number; -1 while not placed in any line
        self.lines: tuple[Line, ...] = ()
        self.offers: list[str] = []
        self.offers_made = 0
        # Agents kept from it for a while: agent id -> (until, "rejected" or "missed").
        self.declined: dict[str, tuple[float, str]] | None = None
        self.agent_id: str | None = None
        self.counted: QueueState | None = None  # the queue whose waiting count includes it

    @property
    def queued_at(self) -> float:
        """Alias of ``since``: the contact's place in line."""
        return self.since

    def has_declined(self, agent_id: str) -> bool:
        """True while the agent is kept from this contact (they declined it, recently)."""
        return self.declined is not None and agent_id in self.declined

    def __repr__(self) -> str:
        return f"<ContactView {self.contact.id} {self.state.value} in {self.queue}>"


class Level:
    """One escalation level of a queue: who may serve, and what they must meet.

    ``requirement`` and ``minimums`` are those in force at this level: the queue's at level 0,
    then as each step replaced them (see :class:`~trunkline.model.EscalationStep`).
    """

    __slots__ = ("index", "minimums", "pools", "requirement", "step")

    def __init__(
        self,
        index: int,
        requirement: Requirement,
        pools: tuple[Pool, ...],
        step: EscalationStep | None,
        minimums: Mapping[str, int],
    ) -> None:
        self.index = index
        self.requirement = requirement
        self.pools = pools
        self.step = step
        self.minimums = minimums


class QueueState:
    """A queue with its parsed levels. Implements :class:`~trunkline.routing.strategy.QueueView`."""

    __slots__ = ("levels", "queue", "skills", "waiting")

    def __init__(self, queue: Queue, levels: list[Level], skills: frozenset[str]) -> None:
        self.queue = queue
        self.levels = levels
        self.skills = skills
        self.waiting = 0  # contacts queued or offered (max_length counts these)


class Pool:
    """Agents serving one queue (``queue:<id>``) or in one group (``group:<name>``)."""

    __slots__ = ("id", "indexes", "label", "lines", "logged_in", "members")

    def __init__(self, pool_id: str) -> None:
        self.id = pool_id
        kind, _, name = pool_id.partition(":")
        self.label = f'{kind} "{name}"'
        self.members: list[AgentRun] = []
        self.logged_in = 0  # members whose status is not offline
        self.lines: dict[tuple[str, Any], Line] = {}  # (kind, predicate key) -> line
        self.indexes: dict[str, AgentIndex | OrderedIndex] = {}  # queue id -> its eligible agents


class Line:
    """Waiting contacts of one class in one pool, best first: ``(score, seq, view)``.

    ``head`` is always the best live entry (``None`` when the line is empty): a contact that
    leaves from the head is cleared from the heap at once, so an agent looking for work reads
    one attribute per line instead of walking to the contact.
    """

    __slots__ = (
        "always",
        "declines",
        "head",
        "heap",
        "key",
        "kind",
        "live",
        "pool",
        "predicate",
    )

    def __init__(self, pool: Pool, kind: str, predicate: AgentPredicate) -> None:
        self.pool = pool
        self.kind = kind
        self.predicate = predicate
        self.always = predicate.constant is True  # every agent of the pool qualifies
        self.key = (kind, predicate.key)
        self.heap: list[tuple[float, int, ContactView]] = []
        self.head: tuple[float, int, ContactView] | None = None
        self.live = 0
        self.declines = 0  # live contacts that some agent declined (they skip that agent)

    def push(self, entry: tuple[float, int, ContactView]) -> None:
        self.live += 1
        if entry[2].declined is not None:
            self.declines += 1
        heap = self.heap
        if len(heap) > 2 * self.live + _SLACK:
            heap[:] = [e for e in heap if e[2].seq == e[1]]
            heapq.heapify(heap)
        heapq.heappush(heap, entry)
        head = self.head
        if head is None or entry[0] < head[0] or (entry[0] == head[0] and entry[1] < head[1]):
            self.head = entry

    def leave(self, view: ContactView) -> None:
        """A live contact left (its ``seq`` is already cleared); keep ``head`` live."""
        self.live -= 1
        if view.declined is not None:
            self.declines -= 1
        if self.live == 0:
            self.heap.clear()
            self.head = None
        elif self.head is not None and self.head[2] is view:
            heap = self.heap
            while heap[0][2].seq != heap[0][1]:
                heapq.heappop(heap)
            self.head = heap[0]

    def first(self, agent_id: str) -> tuple[float, int, ContactView] | None:
        """The best live entry whose contact has not declined ``agent_id``."""
        heap = self.heap
        while heap:
            top = heap[0]
            if top[2].seq != top[1]:
                heapq.heappop(heap)
                continue
            if top[2].declined is None or agent_id not in top[2].declined:
                return top
            for entry in self.ordered():
                if entry[2].declined is None or agent_id not in entry[2].declined:
                    return entry
            return None
        return None

    def ordered(self) -> Iterator[tuple[float, int, ContactView]]:
        """Live entries best first, without popping (a best-first walk of the heap's tree)."""
        return _walk(self.heap, lambda e: e[2].seq == e[1])


class AgentIndex:
    """Eligible agents of one pool, ordered by one queue's strategy key, then config order."""

    __slots__ = ("heap", "live", "pool", "queue")

    def __init__(self, pool: Pool, queue: QueueState) -> None:
        self.pool = pool
        self.queue = queue
        self.heap: list[tuple[Any, int, AgentRun]] = []
        self.live: dict[str, tuple[Any, int, AgentRun]] = {}

    def put(self, run: AgentRun, key: Any) -> None:
        live = self.live
        current = live.get(run.agent.id)
        if current is not None and current[0] == key:
            return
        entry = (key, run.order, run)
        live[run.agent.id] = entry
        heap = self.heap
        if len(heap) > 2 * len(live) + _SLACK:
            heap[:] = [e for e in heap if live.get(e[2].agent.id) is e]
            heapq.heapify(heap)
        heapq.heappush(heap, entry)

    def drop(self, run: AgentRun) -> None:
        self.live.pop(run.agent.id, None)

    def top(self) -> AgentRun | None:
        heap, live = self.heap, self.live
        while heap:
            entry = heap[0]
            if live.get(entry[2].agent.id) is entry:
                return entry[2]
            heapq.heappop(heap)
        return None

    def ordered(self) -> Iterator[tuple[Any, int, AgentRun]]:
        live = self.live
        return _walk(self.heap, lambda e: live.get(e[2].agent.id) is e)


class OrderedIndex:
    """Eligible agents of one pool for a strategy whose keys only grow (``monotonic``).

    Such a strategy gives an agent, whenever its key changes, a key at least as large as any
    in the index, so an insertion-ordered dict is the sorted order and every operation is
    O(1). A key that arrives out of order (a replay settling many agents at once) is still
    placed exactly, by a rebuild.
    """

    __slots__ = ("live", "pool", "queue")

    def __init__(self, pool: Pool, queue: QueueState) -> None:
        self.pool = pool
        self.queue = queue
        self.live: dict[str, tuple[Any, int, AgentRun]] = {}

    def put(self, run: AgentRun, key: Any) -> None:
        live = self.live
        aid = run.agent.id
        current = live.get(aid)
        if current is not None:
            if current[0] == key:
                return
            del live[aid]
        entry = (key, run.order, run)
        if live:
            last = next(reversed(live.values()))
            if (last[0], last[1]) > (key, run.order):
                live[aid] = entry
                self._rebuild()
                return
        live[aid] = entry

    def _rebuild(self) -> None:
        entries = sorted(self.live.values(), key=lambda e: (e[0], e[1]))
        self.live = {e[2].agent.id: e for e in entries}

    def drop(self, run: AgentRun) -> None:
        self.live.pop(run.agent.id, None)

    def top(self) -> AgentRun | None:
        for entry in self.live.values():
            return entry[2]
        return None

    def ordered(self) -> Iterator[tuple[Any, int, AgentRun]]:
        return iter(list(self.live.values()))


def _walk(heap: list[Any], valid: Any) -> Iterator[Any]:
    """Yield the valid entries of a binary heap in order, in O(k log k) for the first k."""
    if not heap:
        return
    frontier: list[tuple[Any, int]] = [(heap[0], 0)]
    size = len(heap)
    while frontier:
        entry, i = heapq.heappop(frontier)
        if valid(entry):
            yield entry
        left = 2 * i + 1
        if left < size:
            heapq.heappush(frontier, (heap[left], left))
            if left + 1 < size:
                heapq.heappush(frontier, (heap[left + 1], left + 1))
