"""Built-in plugin: the routing strategies core ships, registered like any plugin's.

Each strategy gives an eligible agent a key; the smallest key is offered first. Ties fall to
the agent listed first in the configuration, so every strategy is deterministic.
"""

from __future__ import annotations

import zlib
from typing import Any

from ..hookspecs import hookimpl
from ..routing import AgentView, QueueView, Strategy

__all__ = [
    "BestSkill",
    "FewestContacts",
    "LeastOccupied",
    "LongestIdle",
    "Random",
    "RoundRobin",
    "TopDown",
]


class LongestIdle:
    """The agent who has waited longest for a contact: since they became available, finished
    one, or took one with room left for more (so multitaskers take turns with free agents)."""

    name = "longest-idle"
    per_queue = False  # the key ignores the queue: computed once per agent change
    monotonic = True  # a new key is always the latest readiness: an O(1) ordered index

    def key(self, agent: AgentView, queue: QueueView) -> Any:
        return agent.ready_since


class RoundRobin:
    """Take turns: the agent whose last offer is oldest (never offered: first)."""

    name = "round-robin"
    per_queue = False  # the key ignores the queue: computed once per agent change

    def key(self, agent: AgentView, queue: QueueView) -> Any:
        return (agent.last_offer, agent.order)


class LeastOccupied:
    """The agent using the smallest share of their capacity, then the longest idle."""

    name = "least-occupied"
    per_queue = False  # the key ignores the queue: computed once per agent change

    def key(self, agent: AgentView, queue: QueueView) -> Any:
        return (agent.occupancy, agent.idle_since, agent.order)


class FewestContacts:
    """The agent who has accepted the fewest contacts, then the longest idle."""

    name = "fewest-contacts"
    per_queue = False  # the key ignores the queue: computed once per agent change

    def key(self, agent: AgentView, queue: QueueView) -> Any:
        return (agent.handled, agent.idle_since, agent.order)


class BestSkill:
    """The agent with the highest total proficiency in the queue's skills, then longest idle."""

    name = "best-skill"

    def key(self, agent: AgentView, queue: QueueView) -> Any:
        skills = agent.agent.skills
        return (-sum(skills.get(s, 0) for s in queue.skills), agent.idle_since, agent.order)


class TopDown:
    """Always the first agent in configuration order who is free (Asterisk's ``linear``)."""

    name = "top-down"
    per_queue = False  # the key ignores the queue: computed once per agent change

    def key(self, agent: AgentView, queue: QueueView) -> Any:
        return agent.order


class Random:
    """A seeded draw, fresh after each offer: the queue's ``seed`` makes runs repeatable."""

    name = "random"

    def key(self, agent: AgentView, queue: QueueView) -> Any:
        token = f"{queue.queue.seed}:{agent.agent.id}:{agent.offered}".encode()
        return (zlib.crc32(token), agent.order)


@hookimpl
def trunkline_register_strategies() -> list[Strategy]:
    return [
        LongestIdle(),
        RoundRobin(),
        LeastOccupied(),
        FewestContacts(),
        BestSkill(),
        TopDown(),
        Random(),
    ]
