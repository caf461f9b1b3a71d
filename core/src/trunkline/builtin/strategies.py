"""Built-in plugin: the routing strategies core ships. More arrive with the full engine."""

from __future__ import annotations

from collections.abc import Sequence

from ..hookspecs import hookimpl
from ..model import Contact, Queue
from ..routing import AgentView, Strategy


class LongestIdle:
    """Offer to the agent who has been idle longest (ties: fewest handled, then agent id)."""

    name = "longest-idle"

    def pick(self, candidates: Sequence[AgentView], contact: Contact, queue: Queue) -> AgentView:
        return min(candidates, key=lambda view: (view.idle_since, view.handled, view.agent.id))


@hookimpl
def trunkline_register_strategies() -> list[Strategy]:
    return [LongestIdle()]
