"""The strategy protocol: how a queue orders the agents who could take a contact.

A strategy gives each eligible agent a *key*; the engine keeps, per pool of agents and per
queue, an index of the eligible agents ordered by that key and offers to the smallest. Keys
are recomputed whenever the agent's routing state changes (status, load, an offer, a contact
ended), so a key may use anything an :class:`AgentView` shows. Strategies are plugins
(``trunkline_register_strategies``); a queue names one with ``strategy = "<name>"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..model import Agent, AgentState, AgentStatus, Queue

__all__ = ["AgentView", "QueueView", "Strategy"]


class AgentView(Protocol):
    """What strategies, explanations and observers may read about an agent's routing state."""

    @property
    def agent(self) -> Agent: ...
    @property
    def order(self) -> int:
        """The agent's position in the configuration (0 for the first agent)."""
        ...

    @property
    def status(self) -> AgentStatus: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def state(self) -> AgentState: ...
    @property
    def idle_since(self) -> float:
        """When the agent last became free of every contact, or became available."""
        ...

    @property
    def ready_since(self) -> float:
        """When the agent last became ready for another contact: became available, finished
        a contact, had an offer end, or accepted one with room left."""
        ...

    @property
    def handled(self) -> int:
        """Contacts accepted since the engine started."""
        ...

    @property
    def offered(self) -> int:
        """Offers made to the agent since the engine started."""
        ...

    @property
    def last_offer(self) -> int:
        """A number that grows with every offer the engine makes: when this agent last had one
        (0: never). Round-robin orders by it."""
        ...

    @property
    def held(self) -> Mapping[str, int]:
        """Contacts held per channel kind: offered, active, or in wrap-up."""
        ...

    @property
    def load(self) -> int:
        """Contacts held, all kinds together."""
        ...

    @property
    def occupancy(self) -> float:
        """``load`` over the agent's total capacity (0.0 to 1.0)."""
        ...


class QueueView(Protocol):
    """What strategies may read about the queue they order agents for."""

    @property
    def queue(self) -> Queue: ...
    @property
    def skills(self) -> frozenset[str]:
        """The skills the queue's requirement and minimums name (best-skill sums these)."""
        ...


class Strategy(Protocol):
    """Orders eligible agents for a queue; the agent with the smallest key is offered first.

    ``key`` must be cheap (it runs for every agent state change, once per queue the agent
    serves) and deterministic: no wall clock, no unseeded randomness, so that replaying the
    event log reproduces every decision.
    """

    name: str

    def key(self, agent: AgentView, queue: QueueView) -> Any:
        """A comparable value; smaller is offered first. Equal keys go to the agent listed
        first in the configuration. A strategy whose key does not depend on ``queue`` may say
        so with a class attribute ``per_queue = False``: the engine then computes it once per
        agent change instead of once per queue the agent serves. A strategy whose key, when
        it changes, is never smaller than the keys of the other eligible agents (a time of
        readiness, say) may declare ``monotonic = True``: its indexes are then ordered dicts
        with O(1) updates."""
        ...
