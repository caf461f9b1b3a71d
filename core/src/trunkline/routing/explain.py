"""Explanations: why a contact went to an agent, and why not to another.

Decisions are not logged with every candidate (that would cost the hot path); the engine is
deterministic instead, so an explanation replays the event log up to the decision and looks
at the state the engine saw then: every agent of the contact's pools, each filter passed or
failed, the strategy's keys, and the escalation level in force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .. import events as ev
from ..model import AgentStatus, ContactState
from .engine import Router, RoutingError
from .state import AgentRun, ContactView

__all__ = ["AgentVerdict", "Explanation", "explain_contact", "explain_from_log"]


@attrs.frozen
class AgentVerdict:
    """One agent, judged for one contact: the checks passed, and the reasons it failed."""

    agent_id: str
    passed: tuple[str, ...]
    failed: tuple[str, ...]
    key: Any = None  # the strategy's key, for an eligible agent
    rank: int | None = None  # 1 for the agent the strategy puts first

    @property
    def eligible(self) -> bool:
        return not self.failed

    def line(self) -> str:
        if self.failed:
            return f"{self.agent_id}: not eligible: {'; '.join(self.failed)}"
        return f"{self.agent_id}: eligible, rank {self.rank} (key {self.key!r})"


@attrs.frozen
class Explanation:
    """What the engine saw when it routed (or could not route) a contact."""

    contact_id: str
    queue: str | None
    state: str
    level: int
    level_text: str
    requirement: str
    pools: tuple[str, ...]
    strategy: str
    verdicts: tuple[AgentVerdict, ...]
    chosen: tuple[str, ...] = ()
    rule: str = ""
    at: float | None = None

    def why_not(self, agent_id: str) -> AgentVerdict:
        """The verdict on one agent (also for an agent outside the contact's pools)."""
        for verdict in self.verdicts:
            if verdict.agent_id == agent_id:
                return verdict
        raise KeyError(agent_id)

    def render(self) -> str:
        """Plain text, as ``trunkline explain`` prints it."""
        lines = [f"contact {self.contact_id} in queue {self.queue} ({self.state})"]
        if self.at is not None:
            lines.append(f"decision at t={self.at:.3f}")
        lines.append(f"level {self.level}: {self.level_text}")
        lines.append(f"requirement: {self.requirement}")
        lines.append(f"pools: {', '.join(self.pools) or 'none'}; strategy: {self.strategy}")
        if self.chosen:
            lines.append(f"offered to: {', '.join(self.chosen)} (rule: {self.rule})")
        else:
            lines.append("offered to: nobody yet")
        lines.extend(f"  {verdict.line()}" for verdict in self.verdicts)
        return "\n".join(lines)


def explain_contact(
    router: Router,
    contact_id: str,
    agent_ids: Iterable[str] = (),
    *,
    chosen: tuple[str, ...] = (),
    rule: str = "",
    at: float | None = None,
) -> Explanation:
    """Judge every agent of the contact's pools, plus ``agent_ids``, in the router's state now.

    Meant for a contact that is waiting; for one already offered use :func:`explain_from_log`,
    which rewinds to the moment of the offer.
    """
    view = router.contacts.get(contact_id)
    if view is None or view.queue is None:
        raise RoutingError(
            f'contact "{contact_id}" is not waiting in workspace "{router.workspace}"'
        )
    state = router.queue_view(view.queue)
    level = state.levels[view.level]
    pools = level.pools
    pool_names: tuple[str, ...]
    if view.preferred is not None:
        considered = [router.agents[view.preferred]]
        pool_names = (f'agent "{view.preferred}" (preferred until t={view.preferred_until:g})',)
    else:
        considered = [run for pool in pools for run in pool.members]
        pool_names = tuple(pool.label for pool in pools)
    for agent_id in agent_ids:
        if agent_id not in router.agents:
            raise RoutingError(f'unknown agent "{agent_id}" in workspace "{router.workspace}"')
        considered.append(router.agents[agent_id])
    runs = list({run.agent.id: run for run in considered}.values())
    strategy = router.strategies[state.queue.strategy]
    judged = []
    for run in runs:
        passed, failed = _judge(router, view, run)
        key = strategy.key(run, state) if not failed else None
        judged.append((run, passed, failed, key))
    ranked = sorted((j for j in judged if not j[2]), key=lambda j: (j[3], j[0].order))
    ranks = {j[0].agent.id: n for n, j in enumerate(ranked, start=1)}
    verdicts = tuple(
        AgentVerdict(
            agent_id=run.agent.id,
            passed=tuple(passed),
            failed=tuple(failed),
            key=key,
            rank=ranks.get(run.agent.id),
        )
        for run, passed, failed, key in judged
    )
    step = level.step
    if view.preferred is not None:
        level_text = "a returning customer's (or a transfer's) preferred agent"
    elif step is None:
        level_text = f'the queue "{state.queue.id}" itself'
    else:
        level_text = f"escalation step {level.index}, after {step.after:g}s in the queue"
    return Explanation(
        contact_id=contact_id,
        queue=view.queue,
        state=view.state.value,
        level=view.level,
        level_text=level_text,
        requirement=_requirement_text(router, view),
        pools=pool_names,
        strategy=state.queue.strategy,
        verdicts=verdicts,
        chosen=chosen,
        rule=rule,
        at=at,
    )


def _requirement_text(router: Router, view: ContactView) -> str:
    state = router.queue_view(view.queue)  # type: ignore[arg-type]
    parts = []
    text = state.levels[view.level].requirement.text
    if text.strip() not in ("", "true"):
        parts.append(text)
    minimums = dict(state.queue.skills)
    for skill, floor in view.contact.required_skills.items():
        minimums[skill] = max(floor, minimums.get(skill, 0))
    parts += [f"{skill} >= {floor}" for skill, floor in sorted(minimums.items())]
    return " and ".join(parts) or "none"


def _judge(router: Router, view: ContactView, run: AgentRun) -> tuple[list[str], list[str]]:
    passed: list[str] = []
    failed: list[str] = []
    kind = view.contact.channel_kind
    state = router.queue_view(view.queue)  # type: ignore[arg-type]
    level = state.levels[view.level]
    if view.preferred is not None:
        if run.agent.id == view.preferred:
            passed.append("is the preferred agent")
        else:
            failed.append(f'the contact waits for its preferred agent "{view.preferred}"')
    elif any(pool in run.pools for pool in level.pools):
        names = [pool.label for pool in level.pools if pool in run.pools]
        passed.append(f"serves {', '.join(names)}")
    else:
        failed.append(f"not in {', '.join(pool.label for pool in level.pools)}")
    if run.status is AgentStatus.AVAILABLE:
        passed.append("available")
    elif run.status is AgentStatus.BREAK:
        failed.append(f"on break ({run.reason})" if run.reason else "on break")
    else:
        failed.append("offline")
    if run.offer is not None:
        failed.append(f'has an open offer ("{run.offer}")')
    capacity = run.capacity.get(kind, 0)
    held = run.held.get(kind, 0)
    if capacity == 0:
        failed.append(f"takes no {kind} contacts (capacity)")
    elif held >= capacity:
        failed.append(f"holds {held} of {capacity} {kind} contacts")
    else:
        passed.append(f"has room for {kind} ({held} of {capacity})")
    blockers = sorted(k for k in router.conflicts.get(kind, ()) if run.held.get(k))
    if blockers:
        failed.append(f"holds {', '.join(blockers)}, which cannot be mixed with {kind}")
    if view.has_declined(run.agent.id):
        failed.append("declined this contact before")
    if view.preferred is None:
        requirement = level.requirement
        reasons = requirement.explain(view.contact, run.skills)
        minimums = dict(state.queue.skills)
        for skill, floor in view.contact.required_skills.items():
            minimums[skill] = max(floor, minimums.get(skill, 0))
        for skill, floor in sorted(minimums.items()):
            have = run.skills.get(skill, 0)
            if have < floor:
                reasons.append(f"{skill} >= {floor} (agent has {have})")
        if reasons:
            failed.extend(reasons)
        else:
            passed.append(f"meets the requirement ({_requirement_text(router, view)})")
    return passed, failed


def explain_from_log(
    events: Iterable[ev.Event],
    make_router: Callable[[], Router],
    contact_id: str,
    agent_ids: Iterable[str] = (),
) -> Explanation:
    """Replay ``events`` into a new router up to the contact's last offer, and explain it.

    When the contact was never offered, the whole log is replayed and the contact is
    explained as it waits (or the error says how it ended).
    """
    log = list(events)
    offers = [
        i
        for i, e in enumerate(log)
        if isinstance(e, ev.ContactOffered) and e.offer.contact_id == contact_id
    ]
    router = make_router()
    if offers:
        first = offers[-1]
        while first > 0 and _same_batch(log[first - 1], log[offers[-1]], contact_id):
            first -= 1
        for event in log[:first]:
            router.apply(event)
        batch = [
            e
            for e in log[first : offers[-1] + 1]
            if isinstance(e, ev.ContactOffered) and e.offer.contact_id == contact_id
        ]
        last = batch[-1]
        return explain_contact(
            router,
            contact_id,
            agent_ids,
            chosen=tuple(e.offer.agent_id for e in batch),
            rule=last.rule,
            at=last.at,
        )
    ended = None
    for event in log:
        router.apply(event)
        if getattr(event, "contact_id", None) == contact_id and isinstance(
            event, ev.ContactAbandoned | ev.ContactRefused
        ):
            ended = event
    if ended is not None and contact_id not in router.contacts:
        how = (
            f"refused: {ended.reason}"
            if isinstance(ended, ev.ContactRefused)
            else f"abandoned after {ended.waited:.1f}s"
        )
        raise RoutingError(f'contact "{contact_id}" was never offered: {how}')
    view = router.contacts.get(contact_id)
    if view is None:
        raise RoutingError(f'contact "{contact_id}" is not in the event log')
    if view.state is not ContactState.QUEUED:
        raise RoutingError(f'contact "{contact_id}" is {view.state.value}')
    return explain_contact(router, contact_id, agent_ids)


def _same_batch(event: ev.Event, offered: ev.Event, contact_id: str) -> bool:
    """Offers of one decision to several agents are consecutive events at the same time."""
    return (
        isinstance(event, ev.ContactOffered)
        and event.offer.contact_id == contact_id
        and event.at == offered.at
    )
