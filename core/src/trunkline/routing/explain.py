"""Explanations: why a contact went to an agent, and why not to another.

Decisions are not logged with every candidate (that would cost the hot path); the engine is
deterministic instead, so an explanation replays the event log up to the decision and looks
at the state the engine saw then: every agent of the contact's pools, each filter passed or
failed, the strategy's keys, and the escalation level in force. A contact that nobody was
offered is explained too: why nobody was (no agent could serve it, those who could were busy
or away, the queue was closed), judged as it waited, or as it was when it left.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .. import events as ev
from ..model import AgentStatus, ContactState
from .engine import Router, RoutingError
from .state import AgentRun, ContactView, Level, QueueState

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
    """What the engine saw when it routed (or could not route) a contact.

    ``state`` is the contact's state then (``"abandoned"`` or ``"refused"`` for one that left
    before any offer, ``at`` being when), ``chosen`` the agents offered it and ``rule`` what
    chose them. With nobody chosen, ``reason`` says why: the queue's hours were closed, no
    agent could serve it, or those who could were busy, away or kept from it after declining.
    """

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
    reason: str = ""  # why nobody was offered it, when nobody was

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
            left = self.state in ("abandoned", "refused")  # never offered: when it left
            lines.append(f"{self.state if left else 'decision'} at t={self.at:.3f}")
        lines.append(f"level {self.level}: {self.level_text}")
        lines.append(f"requirement: {self.requirement}")
        lines.append(f"pools: {', '.join(self.pools) or 'none'}; strategy: {self.strategy}")
        if self.chosen:
            lines.append(f"offered to: {', '.join(self.chosen)} (rule: {self.rule})")
        elif self.state in ("queued", "offered"):
            lines.append(f"offered to: nobody yet: {self.reason}")
        else:
            lines.append(f"offered to: nobody: {self.reason}")
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
    which rewinds to the moment of the offer. With nobody ``chosen``, ``reason`` says why
    nobody is offered the contact; ``at`` (the time of that state) lets it say whether the
    queue's business hours are closed.
    """
    view = router.contacts.get(contact_id)
    if view is None or view.queue is None:
        raise RoutingError(
            f'contact "{contact_id}" is not waiting in workspace "{router.workspace}"'
        )
    return _explain(router, view, view.queue, agent_ids, chosen=chosen, rule=rule, at=at)


def _explain(
    router: Router,
    view: ContactView,
    queue_id: str,
    agent_ids: Iterable[str],
    *,
    chosen: tuple[str, ...] = (),
    rule: str = "",
    at: float | None = None,
    state_text: str | None = None,
    ending: str = "",
    hours: bool = True,
) -> Explanation:
    """The explanation of ``view`` at its level of ``queue_id``; ``ending`` says how a contact
    that was never offered left (then the reason is told in the past)."""
    state = router.queue_view(queue_id)
    level = state.levels[view.level]
    pools = level.pools
    pool_names: tuple[str, ...]
    if view.preferred is not None:
        considered = [router.agents[view.preferred]]
        pool_names = (f'agent "{view.preferred}" (preferred until t={view.preferred_until:g})',)
    else:
        considered = [run for pool in pools for run in pool.members]
        pool_names = tuple(pool.label for pool in pools)
    members = len(considered)
    for agent_id in agent_ids:
        if agent_id not in router.agents:
            raise RoutingError(f'unknown agent "{agent_id}" in workspace "{router.workspace}"')
        considered.append(router.agents[agent_id])
    in_pools = {run.agent.id for run in considered[:members]}
    runs = list({run.agent.id: run for run in considered}.values())
    strategy = router.strategies[state.queue.strategy]
    judged = []
    kinds: dict[str, str] = {}  # agent of the pools -> what it is for the contact
    for run in runs:
        passed, failed, kind = _judge(router, view, state, level, run)
        key = strategy.key(run, state) if not failed else None
        judged.append((run, passed, failed, key))
        if run.agent.id in in_pools:
            kinds[run.agent.id] = kind
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
    reason = ""
    if not chosen:
        why = _why_nobody(router, state, kinds, at if hours else None, past=bool(ending))
        reason = f"{ending}; {why}" if ending else why
    return Explanation(
        contact_id=view.contact.id,
        queue=queue_id,
        state=state_text or view.state.value,
        level=view.level,
        level_text=level_text,
        requirement=_requirement_text(view, level),
        pools=pool_names,
        strategy=state.queue.strategy,
        verdicts=verdicts,
        chosen=chosen,
        rule=rule,
        at=at,
        reason=reason,
    )


# What an agent of the contact's pools is, for it (see _judge and _why_nobody).
_ELIGIBLE, _UNFIT, _AWAY, _BUSY, _DECLINED = "eligible", "unfit", "away", "busy", "declined"


def _why_nobody(
    router: Router,
    state: QueueState,
    kinds: dict[str, str],
    at: float | None,
    *,
    past: bool,
) -> str:
    """Why no agent of the contact's pools is offered it: the queue's hours, then either
    that no agent could serve it at all, or what keeps each of those who could."""
    be = "was" if past else "is"
    parts = []
    queue = state.queue
    schedule = router.schedules.get(queue.hours) if queue.hours else None
    if schedule is not None and at is not None and not schedule.is_open(at):
        parts.append(f'queue "{queue.id}" {be} closed ({schedule.describe()})')

    def named(kind: str) -> str:
        return ", ".join(sorted(agent for agent, k in kinds.items() if k == kind))

    if not kinds:
        parts.append(f"no agent {be} in its pools")
    elif _ELIGIBLE in kinds.values():
        parts.append(
            f"eligible agents ({named(_ELIGIBLE)}) {be} kept from it by a "
            "trunkline_filter_agents plugin"
        )
    elif set(kinds.values()) == {_UNFIT}:
        parts.append(f"no agent {be} eligible: none could serve it (why not, below)")
    else:
        groups = {
            _BUSY: "busy",
            _AWAY: "offline or on break",
            _DECLINED: "kept from it after declining it",
        }
        found = [
            f"{text} ({named(kind)})" for kind, text in groups.items() if kind in kinds.values()
        ]
        listed = found[0] if len(found) == 1 else ", ".join(found[:-1]) + f" or {found[-1]}"
        parts.append(f"every agent who could serve it {be} {listed}")
    return "; ".join(parts)


def _minimums(view: ContactView, level: Level) -> dict[str, int]:
    """The minimum levels in force: the level's, raised by the contact's own."""
    minimums = dict(level.minimums)
    for skill, floor in view.contact.required_skills.items():
        minimums[skill] = max(floor, minimums.get(skill, 0))
    return minimums


def _requirement_text(view: ContactView, level: Level) -> str:
    parts = []
    text = level.requirement.text
    if text.strip() not in ("", "true"):
        parts.append(text)
    parts += [f"{skill} >= {floor}" for skill, floor in sorted(_minimums(view, level).items())]
    return " and ".join(parts) or "none"


def _judge(
    router: Router, view: ContactView, state: QueueState, level: Level, run: AgentRun
) -> tuple[list[str], list[str], str]:
    """The checks ``run`` passed and failed for the contact, and what it is for the contact:
    eligible, unfit (it could not serve it as things stand), away, busy or declined."""
    passed: list[str] = []
    failed: list[str] = []
    found: set[str] = set()
    kind = view.contact.channel_kind
    if view.preferred is not None:
        if run.agent.id == view.preferred:
            passed.append("is the preferred agent")
        else:
            failed.append(f'the contact waits for its preferred agent "{view.preferred}"')
            found.add(_UNFIT)
    elif any(pool in run.pools for pool in level.pools):
        names = [pool.label for pool in level.pools if pool in run.pools]
        passed.append(f"serves {', '.join(names)}")
    else:
        failed.append(f"not in {', '.join(pool.label for pool in level.pools)}")
        found.add(_UNFIT)
    if run.status is AgentStatus.AVAILABLE:
        passed.append("available")
    else:
        if run.status is AgentStatus.BREAK:
            failed.append(f"on break ({run.reason})" if run.reason else "on break")
        else:
            failed.append("offline")
        found.add(_AWAY)
    if run.offer is not None:
        failed.append(f'has an open offer ("{run.offer}")')
        found.add(_BUSY)
    capacity = run.capacity.get(kind, 0)
    held = run.held.get(kind, 0)
    if capacity == 0:
        failed.append(f"takes no {kind} contacts (capacity)")
        found.add(_UNFIT)
    elif held >= capacity:
        failed.append(f"holds {held} of {capacity} {kind} contacts")
        found.add(_BUSY)
    else:
        passed.append(f"has room for {kind} ({held} of {capacity})")
    blockers = sorted(k for k in router.conflicts.get(kind, ()) if run.held.get(k))
    if blockers:
        failed.append(f"holds {', '.join(blockers)}, which cannot be mixed with {kind}")
        found.add(_BUSY)
    if view.declined is not None and run.agent.id in view.declined:
        until, how = view.declined[run.agent.id]
        what = "rejected it" if how == "rejected" else "let an offer of it time out"
        if math.isinf(until):
            failed.append(f"{what}; never offered it again (the queue's delay is inf)")
        else:
            failed.append(f"{what}; eligible for it again at t={until:.3f}")
        found.add(_DECLINED)
    if view.preferred is None:
        reasons = level.requirement.explain(view.contact, run.skills)
        for skill, floor in sorted(_minimums(view, level).items()):
            have = run.skills.get(skill, 0)
            if have < floor:
                reasons.append(f"{skill} >= {floor} (agent has {have})")
        if reasons:
            failed.extend(reasons)
            found.add(_UNFIT)
        else:
            passed.append(f"meets the requirement ({_requirement_text(view, level)})")
    what = next((k for k in (_UNFIT, _AWAY, _BUSY, _DECLINED) if k in found), _ELIGIBLE)
    return passed, failed, what


def explain_from_log(
    events: Iterable[ev.Event],
    make_router: Callable[[], Router],
    contact_id: str,
    agent_ids: Iterable[str] = (),
) -> Explanation:
    """Replay ``events`` into a new router up to the contact's last offer, and explain it.

    When the contact was never offered, the whole log is replayed and the contact is
    explained as it waits; or, if it left unoffered (abandoned, or refused), as it was just
    before it left, with ``state`` saying how it ended and ``reason`` why nobody was offered
    it.
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
    ends = [
        i
        for i, e in enumerate(log)
        if isinstance(e, ev.ContactAbandoned | ev.ContactRefused) and e.contact_id == contact_id
    ]
    for event in log[: ends[-1] if ends else len(log)]:
        router.apply(event)
    view = router.contacts.get(contact_id)
    if view is None:
        raise RoutingError(f'contact "{contact_id}" is not in the event log')
    if ends:
        ended = log[ends[-1]]
        assert isinstance(ended, ev.ContactAbandoned | ev.ContactRefused)
        if isinstance(ended, ev.ContactRefused):
            how, state_text, queue_id = f"refused: {ended.reason}", "refused", ended.queue
        else:
            how = f"abandoned after {ended.waited:.1f}s before any offer"
            state_text = "abandoned"
            queue_id = view.queue or ended.queue or ""
        if queue_id not in router.queues:
            raise RoutingError(
                f'contact "{contact_id}" was never offered: {how} (queue "{queue_id}" is not '
                "in the configuration, so its agents cannot be judged)"
            )
        return _explain(
            router,
            view,
            queue_id,
            agent_ids,
            at=ended.at,
            state_text=state_text,
            ending=how,
            hours=state_text != "refused",  # a refusal for closed hours says so itself
        )
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
