"""The routing engine's features, one behaviour per test: queues, skills, escalation, agents,
offers, transfer, abandonment, strategies, fairness and explanations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from attrs import evolve as attrs_evolve

from trunkline import events as ev
from trunkline.builtin.strategies import trunkline_register_strategies
from trunkline.hours import Schedule
from trunkline.model import (
    Address,
    Agent,
    AgentState,
    AgentStatus,
    Contact,
    ContactState,
    Direction,
    EscalationStep,
    Queue,
    RoutingSettings,
)
from trunkline.routing import (
    AbandonContact,
    AcceptOffer,
    CloseContact,
    EndContact,
    EnqueueContact,
    RejectOffer,
    Router,
    RoutingError,
    SetAgentStatus,
    Tick,
    TransferContact,
    explain_contact,
    explain_from_log,
)

W = "acme"
STRATEGIES = {s.name: s for s in trunkline_register_strategies()}
AVAILABLE = AgentStatus.AVAILABLE
SKILLS = ("en", "de", "billing", "sales")


def queue(qid: str = "support", **kw: Any) -> Queue:
    return Queue(id=qid, workspace=W, **kw)


def agent(
    aid: str,
    *,
    skills: dict[str, int] | None = None,
    capacity: dict[str, int] | None = None,
    queues: Sequence[str] = ("support",),
    groups: Sequence[str] = (),
) -> Agent:
    return Agent(
        id=aid,
        workspace=W,
        skills=skills or {},
        capacity=capacity or {"chat": 1},
        queues=tuple(queues),
        groups=tuple(groups),
    )


def contact(
    cid: str,
    *,
    q: str = "support",
    kind: str = "chat",
    priority: int = 0,
    customer: str = "",
    language: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Contact:
    return Contact(
        id=cid,
        workspace=W,
        channel="web",
        channel_kind=kind,
        direction=Direction.INBOUND,
        customer_id=customer or f"cu-{cid}",
        address=Address("memory", cid),
        queue=q,
        priority=priority,
        language=language,
        attributes=attributes or {},
    )


def router(queues: Sequence[Queue], agents: Sequence[Agent], **kw: Any) -> Router:
    return Router(W, queues, agents, strategies=STRATEGIES, skills=SKILLS, **kw)


def offers(events: Sequence[ev.Event]) -> list[tuple[str, str]]:
    return [
        (e.offer.contact_id, e.offer.agent_id) for e in events if isinstance(e, ev.ContactOffered)
    ]


def offer_of(r: Router, contact_id: str, agent_id: str | None = None) -> str:
    return next(
        o.id
        for o in r.offers.values()
        if o.contact_id == contact_id and (agent_id is None or o.agent_id == agent_id)
    )


def available(r: Router, *agent_ids: str, at: float = 0.0) -> None:
    for n, aid in enumerate(agent_ids):
        r.handle(SetAgentStatus(aid, AVAILABLE), at + n * 0.001)


def waiting(r: Router, q: str = "support") -> list[str]:
    return [v.contact.id for v in r.waiting(q)]


# Queues ------------------------------------------------------------------------------------


def test_a_priority_step_is_worth_priority_step_seconds_of_waiting() -> None:
    r = router([queue(priority_step=30)], [agent("a")])
    r.handle(EnqueueContact(contact("old")), 0)
    r.handle(EnqueueContact(contact("vip-soon", priority=1)), 20)  # 20 s later, worth 30 s
    r.handle(EnqueueContact(contact("vip-late", priority=1)), 40)  # 40 s later: behind "old"
    assert waiting(r) == ["vip-soon", "old", "vip-late"]


def test_a_lifo_queue_serves_the_newest_first() -> None:
    r = router([queue(order="lifo")], [agent("a")])
    for n, cid in enumerate(["first", "second", "third"]):
        r.handle(EnqueueContact(contact(cid)), n)
    assert offers(r.handle(SetAgentStatus("a", AVAILABLE), 5)) == [("third", "a")]


def test_a_full_queue_refuses_with_a_reason() -> None:
    r = router([queue(max_length=2)], [agent("a")])
    r.handle(EnqueueContact(contact("c1")), 0)
    r.handle(EnqueueContact(contact("c2")), 1)
    events = r.handle(EnqueueContact(contact("c3")), 2)
    refused = [e for e in events if isinstance(e, ev.ContactRefused)]
    assert [(e.contact_id, e.reason) for e in refused] == [
        ("c3", 'queue "support" is full (2 waiting)')
    ]
    assert "c3" not in r.contacts
    assert waiting(r) == ["c1", "c2"]


def test_an_offered_contact_still_counts_towards_the_maximum_length() -> None:
    r = router([queue(max_length=1)], [agent("a")])
    available(r, "a")
    r.handle(EnqueueContact(contact("c1")), 1)  # offered, not yet accepted
    events = r.handle(EnqueueContact(contact("c2")), 2)
    assert any(isinstance(e, ev.ContactRefused) for e in events)
    r.handle(AcceptOffer(offer_of(r, "c1")), 3)
    assert not any(
        isinstance(e, ev.ContactRefused) for e in r.handle(EnqueueContact(contact("c3")), 4)
    )


def test_joining_an_empty_queue_is_refused_when_configured() -> None:
    r = router([queue(when_no_agents="refuse")], [agent("a")])
    events = r.handle(EnqueueContact(contact("c1")), 0)
    assert [e.reason for e in events if isinstance(e, ev.ContactRefused)] == [
        'queue "support" has no logged-in agent who could serve this contact'
    ]
    r.handle(SetAgentStatus("a", AgentStatus.BREAK, "lunch"), 1)  # logged in, on break
    events = r.handle(EnqueueContact(contact("c2")), 2)
    assert not any(isinstance(e, ev.ContactRefused) for e in events)
    assert waiting(r) == ["c2"]


def test_joining_counts_only_agents_who_could_serve_the_contact() -> None:
    r = router(
        [queue(when_no_agents="refuse", requirement="de >= 2")],
        [agent("en-only", skills={"en": 5})],
    )
    r.handle(SetAgentStatus("en-only", AgentStatus.BREAK), 0)
    events = r.handle(EnqueueContact(contact("c")), 1)
    assert any(isinstance(e, ev.ContactRefused) for e in events)


def test_waiting_contacts_leave_when_the_last_agent_logs_off_if_configured() -> None:
    r = router(
        [queue("keep"), queue("leave", leave_when_no_agents=True)],
        [agent("a", queues=("keep", "leave"))],
    )
    r.handle(SetAgentStatus("a", AgentStatus.BREAK), 0)
    r.handle(EnqueueContact(contact("k", q="keep")), 1)
    r.handle(EnqueueContact(contact("l", q="leave")), 2)
    events = r.handle(SetAgentStatus("a", AgentStatus.OFFLINE), 3)
    assert [(e.contact_id, e.reason) for e in events if isinstance(e, ev.ContactRefused)] == [
        ("l", 'queue "leave" has no logged-in agent left')
    ]
    assert waiting(r, "keep") == ["k"]


OFFICE = Schedule(timezone="Europe/Berlin", monday=("08:00-18:00",))
MONDAY_9 = 1_796_025_600.0  # 2026-11-30 09:00 in Berlin (a Monday)
MONDAY_20 = MONDAY_9 + 11 * 3600


def test_a_closed_queue_refuses_new_contacts_and_says_when_it_is_open() -> None:
    r = router([queue(hours="office")], [agent("a")], schedules={"office": OFFICE})
    assert not any(
        isinstance(e, ev.ContactRefused) for e in r.handle(EnqueueContact(contact("c1")), MONDAY_9)
    )
    events = r.handle(EnqueueContact(contact("c2")), MONDAY_20)
    (refused,) = [e for e in events if isinstance(e, ev.ContactRefused)]
    assert refused.reason.startswith('queue "support" is closed (')
    assert "08:00" in refused.reason


def test_a_closed_queue_can_overflow_or_queue_anyway() -> None:
    r = router(
        [
            queue(hours="office", when_closed="overflow", closed_queue="voicemail"),
            queue("voicemail"),
            queue("patient", hours="office", when_closed="queue"),
        ],
        [agent("a")],
        schedules={"office": OFFICE},
    )
    r.handle(EnqueueContact(contact("c1")), MONDAY_20)
    r.handle(EnqueueContact(contact("c2", q="patient")), MONDAY_20)
    assert waiting(r, "voicemail") == ["c1"]
    assert waiting(r, "patient") == ["c2"]


def test_an_unknown_schedule_or_queue_reference_is_refused_at_construction() -> None:
    with pytest.raises(RoutingError, match='unknown business hours "office"'):
        router([queue(hours="office")], [])
    with pytest.raises(RoutingError, match='escalation step 1 overflow names unknown queue "x"'):
        router([queue(escalation=[EscalationStep(after=5, overflow="x")])], [])


# Skills ------------------------------------------------------------------------------------


def test_a_requirement_expression_reads_the_contact_and_the_agent() -> None:
    r = router(
        [queue(requirement='language == "de" and billing >= 3 or language != "de"')],
        [
            agent("junior", skills={"billing": 2}),
            agent("senior", skills={"billing": 4}),
        ],
    )
    r.handle(SetAgentStatus("junior", AVAILABLE), 0)  # idle longest
    r.handle(SetAgentStatus("senior", AVAILABLE), 1)
    assert offers(r.handle(EnqueueContact(contact("de", language="de")), 2)) == [("de", "senior")]
    assert offers(r.handle(EnqueueContact(contact("fr", language="fr")), 3)) == [("fr", "junior")]


def test_a_requirement_can_test_free_contact_attributes() -> None:
    r = router(
        [queue(requirement="attributes.vip == true and sales >= 4 or not attributes.vip")],
        [agent("a", skills={"sales": 2}), agent("b", skills={"sales": 5})],
    )
    available(r, "a", "b")
    assert offers(r.handle(EnqueueContact(contact("v", attributes={"vip": True})), 1)) == [
        ("v", "b")
    ]


def test_an_unknown_skill_in_a_requirement_points_at_its_column() -> None:
    with pytest.raises(RoutingError) as err:
        router([queue(requirement='language == "de" and biling >= 3')], [])
    message = str(err.value)
    assert message.startswith('queue "support": requirement')
    assert 'unknown skill "biling"' in message
    assert "column 22" in message


# Escalation --------------------------------------------------------------------------------


def test_escalation_relaxes_the_requirement_bullseye_style() -> None:
    steps = [EscalationStep(after=30, requirement="billing >= 2")]
    r = router(
        [queue(requirement="billing >= 4", escalation=steps)], [agent("b2", skills={"billing": 2})]
    )
    available(r, "b2")
    assert offers(r.handle(EnqueueContact(contact("c")), 0)) == []
    assert r.next_deadline() == 30
    events = r.handle(Tick(), 30)
    assert [type(e) for e in events] == [ev.ContactEscalated, ev.ContactOffered]
    offered = events[1]
    assert isinstance(offered, ev.ContactOffered)
    assert offered.level == 1


def test_a_step_requirement_replaces_the_queues_skill_minimums_too() -> None:
    steps = [EscalationStep(after=30, requirement="true")]
    r = router(
        [queue(skills={"billing": 3}, escalation=steps)],
        [agent("junior", skills={"billing": 1})],
    )
    available(r, "junior")
    assert offers(r.handle(EnqueueContact(contact("c")), 0)) == []
    assert offers(r.handle(Tick(), 30)) == [("c", "junior")]  # "true": every agent of the pools


def test_a_step_with_skills_replaces_the_minimums_and_keeps_the_requirement() -> None:
    steps = [EscalationStep(after=30, skills={"billing": 2})]
    r = router(
        [queue(skills={"billing": 4}, requirement='language == "de"', escalation=steps)],
        [agent("junior", skills={"billing": 2})],
    )
    available(r, "junior")
    r.handle(EnqueueContact(contact("fr", language="fr")), 0)
    r.handle(EnqueueContact(contact("de", language="de")), 1)
    assert offers(r.handle(Tick(), 31)) == [("de", "junior")]
    assert explain_contact(r, "fr").requirement == 'language == "de" and billing >= 2'


def test_a_steps_skills_empty_drops_the_minimums_but_not_the_contacts_own() -> None:
    steps = [EscalationStep(after=10, skills={})]
    r = router(
        [queue(skills={"billing": 4}, escalation=steps)],
        [agent("a", skills={"billing": 1}), agent("b", skills={"billing": 1, "de": 2})],
    )
    available(r, "a", "b")
    german = attrs_evolve(contact("c"), required_skills={"de": 2})
    r.handle(EnqueueContact(german), 0)
    assert offers(r.handle(Tick(), 10)) == [("c", "b")]


def test_an_unknown_skill_in_a_step_is_refused_at_construction() -> None:
    with pytest.raises(RoutingError, match='escalation step 1: unknown skill "fr" '):
        router([queue(escalation=[EscalationStep(after=5, skills={"fr": 1})])], [])


def test_escalation_adds_queues_and_groups_of_agents() -> None:
    steps = [
        EscalationStep(after=10, queues=("sales",)),
        EscalationStep(after=20, groups=("floor",)),
    ]
    r = router(
        [queue(escalation=steps), queue("sales")],
        [agent("s", queues=("sales",)), agent("f", queues=(), groups=("floor",))],
    )
    available(r, "f")
    r.handle(EnqueueContact(contact("c")), 0)
    r.handle(SetAgentStatus("s", AgentStatus.BREAK), 1)
    assert offers(r.handle(Tick(), 10)) == []  # sales agents join the pool, but s is on break
    assert offers(r.handle(Tick(), 20)) == [("c", "f")]


def test_escalation_can_change_priority_and_overflow_keeping_the_place_in_line() -> None:
    steps = [EscalationStep(after=5, priority=3), EscalationStep(after=60, overflow="general")]
    r = router([queue(escalation=steps), queue("general")], [agent("g", queues=("general",))])
    r.handle(EnqueueContact(contact("old")), 0)
    r.handle(EnqueueContact(contact("local", q="general")), 30)
    r.handle(Tick(), 5)
    assert r.contacts["old"].priority == 3
    r.handle(Tick(), 60)
    assert r.contacts["old"].queue == "general"
    assert r.contacts["old"].since == 0  # arrival time kept
    assert waiting(r, "general") == ["old", "local"]


def test_a_contact_offered_when_a_step_falls_due_escalates_when_the_offer_comes_back() -> None:
    steps = [EscalationStep(after=10, groups=("floor",))]
    r = router(
        [queue(escalation=steps, offer_timeout=30)],
        [agent("a"), agent("f", queues=(), groups=("floor",))],
    )
    available(r, "a", "f")
    r.handle(EnqueueContact(contact("c")), 0)
    events = r.handle(RejectOffer(offer_of(r, "c")), 15)
    assert [type(e) for e in events] == [ev.OfferRejected, ev.ContactEscalated, ev.ContactOffered]
    assert offers(events) == [("c", "f")]


# Agents ------------------------------------------------------------------------------------


def test_status_is_kept_apart_from_state() -> None:
    r = router([queue()], [agent("a")])
    available(r, "a")
    r.handle(EnqueueContact(contact("c")), 1)
    r.handle(AcceptOffer(offer_of(r, "c")), 2)
    r.handle(SetAgentStatus("a", AgentStatus.BREAK, "coffee"), 3)
    view = r.agent("a")
    assert (view.status, view.reason, view.state) == (AgentStatus.BREAK, "coffee", AgentState.BUSY)


BLOCKS = RoutingSettings(blocks={"voice": ("chat", "email")})


def test_a_voice_call_blocks_chats_and_chats_block_voice() -> None:
    multi = agent("m", capacity={"voice": 1, "chat": 4, "email": 5})
    r = router([queue()], [multi], settings=BLOCKS)
    available(r, "m")
    r.handle(EnqueueContact(contact("call", kind="voice")), 1)
    r.handle(AcceptOffer(offer_of(r, "call")), 2)
    assert offers(r.handle(EnqueueContact(contact("chat", kind="chat")), 3)) == []
    assert offers(r.handle(EnqueueContact(contact("mail", kind="email")), 4)) == []
    events = r.handle(EndContact("call"), 5)
    assert offers(events) == [("chat", "m")]  # chat arrived before the email
    r.handle(AcceptOffer(offer_of(r, "chat")), 6)
    assert offers(r.handle(Tick(), 6)) == []  # the email was offered on accept already
    r.handle(AcceptOffer(offer_of(r, "mail")), 7)
    assert offers(r.handle(EnqueueContact(contact("call2", kind="voice")), 8)) == []


def test_up_to_four_chats_at_once() -> None:
    r = router([queue()], [agent("m", capacity={"chat": 4})])
    available(r, "m")
    for n in range(6):
        r.handle(EnqueueContact(contact(f"c{n}")), 1 + n)
    for n in range(4):
        r.handle(AcceptOffer(offer_of(r, f"c{n}")), 10 + n)
    assert r.agent("m").held == {"chat": 4}
    assert waiting(r) == ["c4", "c5"]
    assert r.offers == {}


def test_wrap_up_time_comes_from_the_contacts_queue() -> None:
    r = router(
        [queue("short", wrap_up=5), queue("long", wrap_up=60)],
        [agent("a", queues=("short", "long"))],
    )
    available(r, "a")
    r.handle(EnqueueContact(contact("c", q="long")), 1)
    r.handle(AcceptOffer(offer_of(r, "c")), 2)
    r.handle(EndContact("c"), 3)
    assert r.agent("a").state is AgentState.WRAP_UP
    assert r.next_deadline() == 63


def test_an_agent_goes_on_break_after_n_missed_offers() -> None:
    settings = RoutingSettings(auto_break_after=2)
    r = router([queue(offer_timeout=10)], [agent("a")], settings=settings)
    available(r, "a")
    r.handle(EnqueueContact(contact("c1")), 0)
    r.handle(Tick(), 10)  # missed once; re-offered? no: declined agents are skipped
    r.handle(EnqueueContact(contact("c2")), 11)
    events = r.handle(Tick(), 21)
    changed = [e for e in events if isinstance(e, ev.AgentStatusChanged)]
    assert [(e.status, e.reason) for e in changed] == [(AgentStatus.BREAK, "missed offers")]
    assert r.agent("a").status is AgentStatus.BREAK


def test_an_accepted_offer_resets_the_missed_count() -> None:
    r = router(
        [queue(offer_timeout=10)], [agent("a")], settings=RoutingSettings(auto_break_after=2)
    )
    available(r, "a")
    r.handle(EnqueueContact(contact("c1")), 0)
    r.handle(Tick(), 10)
    r.handle(EnqueueContact(contact("c2")), 11)
    r.handle(AcceptOffer(offer_of(r, "c2")), 12)
    assert r.agent("a").status is AVAILABLE
    assert r.agents["a"].missed == 0


# Offers ------------------------------------------------------------------------------------


def test_an_offer_to_several_agents_goes_to_the_first_who_accepts() -> None:
    r = router([queue(offer_to=3)], [agent("a"), agent("b"), agent("c"), agent("d")])
    available(r, "a", "b", "c", "d")
    events = r.handle(EnqueueContact(contact("x")), 1)
    assert offers(events) == [("x", "a"), ("x", "b"), ("x", "c")]
    events = r.handle(AcceptOffer(offer_of(r, "x", "b")), 2)
    assert [type(e) for e in events] == [ev.OfferAccepted, ev.OfferRescinded, ev.OfferRescinded]
    assert r.agent("b").state is AgentState.BUSY
    assert r.agent("a").state is AgentState.IDLE
    assert r.offers == {}


def test_a_contact_offered_to_several_returns_only_when_all_decline() -> None:
    r = router([queue(offer_to=2)], [agent("a"), agent("b"), agent("c")])
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("x")), 1)
    r.handle(RejectOffer(offer_of(r, "x", "a")), 2)
    assert r.contacts["x"].state is ContactState.OFFERED
    available(r, "c", at=3)  # c is not offered: x is still out with b
    assert r.agent("c").state is AgentState.IDLE
    assert offers(r.handle(RejectOffer(offer_of(r, "x", "b")), 4)) == [("x", "c")]


def test_a_declined_contact_is_not_offered_to_the_same_agent_again() -> None:
    r = router([queue()], [agent("a"), agent("b")])
    available(r, "a")
    r.handle(EnqueueContact(contact("x")), 1)
    assert offers(r.handle(RejectOffer(offer_of(r, "x")), 2)) == []
    assert offers(r.handle(SetAgentStatus("b", AVAILABLE), 3)) == [("x", "b")]


def test_an_agent_who_rejected_is_offered_the_contact_again_after_reject_delay() -> None:
    r = router([queue(reject_delay=30)], [agent("a")])
    available(r, "a")
    r.handle(EnqueueContact(contact("x")), 1)
    r.handle(RejectOffer(offer_of(r, "x")), 2)
    assert r.next_deadline() == 32
    assert offers(r.handle(Tick(), 31.9)) == []
    events = r.handle(Tick(), 32)
    assert [type(e) for e in events] == [ev.ExclusionEnded, ev.ContactOffered]
    assert offers(events) == [("x", "a")]


def test_an_agent_who_let_the_offer_time_out_is_offered_it_again_after_no_answer_delay() -> None:
    r = router([queue(offer_timeout=10, no_answer_delay=5, reject_delay=999)], [agent("a")])
    available(r, "a")
    r.handle(EnqueueContact(contact("x")), 0)
    assert offers(r.handle(Tick(), 10)) == []  # timed out: kept from it until 15
    assert offers(r.handle(Tick(), 15)) == [("x", "a")]


def test_an_exclusion_that_ends_while_the_agent_is_busy_lets_them_take_it_when_free() -> None:
    r = router([queue(reject_delay=10)], [agent("a")])
    available(r, "a")
    r.handle(EnqueueContact(contact("x")), 0)
    r.handle(RejectOffer(offer_of(r, "x")), 1)
    r.handle(EnqueueContact(contact("y")), 2)
    r.handle(AcceptOffer(offer_of(r, "y")), 3)
    assert offers(r.handle(Tick(), 11)) == []  # the exclusion is over, but a is busy
    assert offers(r.handle(EndContact("y"), 20)) == [("x", "a")]


def test_other_agents_are_offered_the_contact_while_the_decliner_is_kept_from_it() -> None:
    r = router([queue(reject_delay=30)], [agent("a"), agent("b")])
    available(r, "a")
    r.handle(EnqueueContact(contact("x")), 0)
    r.handle(RejectOffer(offer_of(r, "x")), 1)
    assert offers(r.handle(SetAgentStatus("b", AVAILABLE), 5)) == [("x", "b")]
    r.handle(RejectOffer(offer_of(r, "x")), 6)
    assert offers(r.handle(Tick(), 31)) == [("x", "a")]  # a's 30 s are over first


def test_exclusions_ending_at_one_instant_end_alike_after_a_restore() -> None:
    queues = [queue(offer_timeout=7, no_answer_delay=9)]
    agents = [agent("a", capacity={"voice": 1}), agent("b")]
    r = router(queues, agents)
    r.handle(EnqueueContact(contact("c1", kind="voice")), 0)
    r.handle(EnqueueContact(contact("c2")), 1)
    r.handle(SetAgentStatus("b", AVAILABLE), 2)  # c2 is offered first, to expire first
    r.handle(SetAgentStatus("a", AVAILABLE), 3)
    r.handle(Tick(), 10)  # both time out in one tick: both kept from them until 19
    restored = router(queues, agents)
    restored.restore(r.snapshot())
    events = r.handle(Tick(), 19)
    assert [(type(e), e.contact_id) for e in events[:2]] == [  # type: ignore[attr-defined]
        (ev.ExclusionEnded, "c1"),
        (ev.ExclusionEnded, "c2"),
    ]
    assert restored.handle(Tick(), 19) == events


def test_a_delay_of_zero_offers_it_again_at_once_and_inf_never() -> None:
    r = router(
        [queue(reject_delay=0, no_answer_delay=0), queue("strict", reject_delay=float("inf"))],
        [agent("a", queues=("support",)), agent("s", queues=("strict",))],
    )
    available(r, "a", "s")
    r.handle(EnqueueContact(contact("x")), 0)
    assert offers(r.handle(RejectOffer(offer_of(r, "x")), 1)) == [("x", "a")]
    r.handle(EnqueueContact(contact("y", q="strict")), 2)
    r.handle(RejectOffer(offer_of(r, "y")), 3)
    assert r.next_deadline() == r.offers[offer_of(r, "x")].expires_at  # no timer for "never"
    assert offers(r.handle(Tick(), 1e9)) == [("x", "a")]  # only x's timeout, re-offered
    assert r.contacts["y"].state is ContactState.QUEUED


def test_an_exclusion_is_kept_by_snapshots_and_replays_and_ends_on_time() -> None:
    queues, agents = [queue(reject_delay=30)], [agent("a")]
    r = router(queues, agents)
    log = r.handle(SetAgentStatus("a", AVAILABLE), 0)
    log += r.handle(EnqueueContact(contact("x")), 1)
    log += r.handle(RejectOffer(offer_of(r, "x")), 2)
    restored = router(queues, agents)
    restored.restore(r.snapshot())
    replayed = router(queues, agents)
    for event in log:
        replayed.apply(event)
    for other in (restored, replayed):
        assert other.contacts["x"].declined == {"a": (32, "rejected")}
        assert other.next_deadline() == 32
        assert offers(other.handle(Tick(), 32)) == [("x", "a")]
    log += r.handle(Tick(), 32)
    again = router(queues, agents)
    for event in log:
        again.apply(event)
    assert again.contacts["x"].declined is None  # ExclusionEnded is in the log


def test_a_returning_customer_prefers_their_last_agent_for_a_while() -> None:
    r = router([queue(sticky=30)], [agent("a"), agent("b")])
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("first", customer="ann")), 1)
    r.handle(AcceptOffer(offer_of(r, "first")), 2)  # a (longest idle) takes it
    r.handle(EndContact("first"), 3)
    r.handle(SetAgentStatus("a", AgentStatus.BREAK), 3.5)
    r.handle(SetAgentStatus("a", AVAILABLE), 4)  # a is now idle for less time than b
    events = r.handle(EnqueueContact(contact("second", customer="ann")), 5)
    assert offers(events) == [("second", "a")]
    assert events[-1].rule == "preferred"  # type: ignore[attr-defined]


def test_the_last_agent_is_waited_for_t_seconds_then_anyone_may_take_it() -> None:
    r = router([queue(sticky=30)], [agent("a"), agent("b")])
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("first", customer="ann")), 1)
    r.handle(AcceptOffer(offer_of(r, "first")), 2)
    assert offers(r.handle(EnqueueContact(contact("second", customer="ann")), 5)) == []
    assert r.next_deadline() == 35
    events = r.handle(Tick(), 35)
    assert [type(e) for e in events] == [ev.ContactEscalated, ev.ContactOffered]
    assert offers(events) == [("second", "b")]


def test_the_last_agent_freeing_up_in_time_gets_the_returning_customer() -> None:
    r = router([queue(sticky=30)], [agent("a"), agent("b")])
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("first", customer="ann")), 1)
    r.handle(AcceptOffer(offer_of(r, "first")), 2)
    r.handle(EnqueueContact(contact("second", customer="ann")), 5)
    assert offers(r.handle(EndContact("first"), 10)) == [("second", "a")]


# Transfer ----------------------------------------------------------------------------------


def test_a_transfer_to_a_queue_keeps_the_contact_and_frees_the_agent() -> None:
    r = router([queue(), queue("billing")], [agent("a"), agent("b", queues=("billing",))])
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("c")), 1)
    r.handle(AcceptOffer(offer_of(r, "c")), 2)
    events = r.handle(TransferContact("c", queue="billing"), 3)
    assert [type(e) for e in events] == [
        ev.ContactTransferred,
        ev.ContactQueued,
        ev.ContactOffered,
    ]
    assert offers(events) == [("c", "b")]
    assert r.agent("a").state is AgentState.IDLE
    assert r.contacts["c"].contact.id == "c"


def test_a_transfer_to_an_agent_falls_back_to_the_queue_when_they_decline() -> None:
    r = router([queue()], [agent("a"), agent("b"), agent("c")])
    available(r, "a", "b", "c")
    r.handle(EnqueueContact(contact("x")), 1)
    r.handle(AcceptOffer(offer_of(r, "x")), 2)  # a
    events = r.handle(TransferContact("x", agent="c"), 3)
    assert offers(events) == [("x", "c")]
    events = r.handle(RejectOffer(offer_of(r, "x")), 4)
    assert offers(events) == [("x", "b")]  # b has idled since t=0; a only since the transfer


def test_a_transfer_to_an_offline_agent_is_refused() -> None:
    r = router([queue()], [agent("a"), agent("b")])
    available(r, "a")
    r.handle(EnqueueContact(contact("x")), 1)
    r.handle(AcceptOffer(offer_of(r, "x")), 2)
    with pytest.raises(RoutingError, match='agent "b" is offline'):
        r.handle(TransferContact("x", agent="b"), 3)
    assert r.contacts["x"].state is ContactState.ACTIVE


def two_queues_with_a_backlog() -> Router:
    """Three chats waiting in "support" (nobody there is available); bill serves "billing"."""
    r = router(
        [queue(), queue("billing")],
        [agent("a"), agent("bill", queues=("billing",), capacity={"chat": 2})],
    )
    for n, cid in enumerate(("x1", "x2", "x3"), start=1):
        r.handle(EnqueueContact(contact(cid, priority=1 if cid == "x1" else 0)), n)
    available(r, "bill", at=4)
    return r


def test_a_waiting_contact_transferred_to_an_agent_is_offered_to_them_at_once() -> None:
    r = two_queues_with_a_backlog()
    events = r.handle(TransferContact("x2", agent="bill"), 5)  # not a member of "support"
    assert [type(e) for e in events] == [ev.ContactOffered]
    assert offers(events) == [("x2", "bill")]
    assert events[0].rule == "transfer"  # type: ignore[attr-defined]
    assert events[0].offer.queue == "support"  # type: ignore[attr-defined]
    assert waiting(r) == ["x1", "x3"]
    r.handle(AcceptOffer(offer_of(r, "x2")), 6)
    assert r.contacts["x2"].agent_id == "bill"
    assert r.agent("bill").state is AgentState.BUSY


def test_a_contact_offered_to_the_strategys_pick_can_go_to_the_supervisors_choice() -> None:
    r = router([queue()], [agent("a"), agent("b")])
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("x")), 1)
    assert r.offers[offer_of(r, "x")].agent_id == "a"  # a has idled longest
    events = r.handle(TransferContact("x", agent="b"), 2)
    assert [type(e) for e in events] == [ev.OfferRescinded, ev.ContactOffered]
    assert offers(events) == [("x", "b")]
    assert r.agent("a").state is AgentState.IDLE


@pytest.mark.parametrize("how", ["rejected", "timed out"])
def test_a_waiting_contact_keeps_its_place_when_the_chosen_agent_does_not_take_it(
    how: str,
) -> None:
    r = two_queues_with_a_backlog()
    before = r.contacts["x2"]
    place = (before.priority, before.since, before.joined_at, before.level)
    r.handle(TransferContact("x2", agent="bill"), 5)
    if how == "rejected":
        r.handle(RejectOffer(offer_of(r, "x2")), 6)
    else:
        assert r.next_deadline() == 5 + queue().offer_timeout
        r.handle(Tick(), 5 + queue().offer_timeout)
    view = r.contacts["x2"]
    assert view.state is ContactState.QUEUED
    assert view.queue == "support"
    assert (view.priority, view.since, view.joined_at, view.level) == place
    assert waiting(r) == ["x1", "x2", "x3"]  # x1 is ahead by priority, x2 before x3 by age
    r.handle(EnqueueContact(contact("x4")), 60)
    events = r.handle(SetAgentStatus("a", AVAILABLE), 61)
    assert offers(events) == [("x1", "a")]
    events = r.handle(RejectOffer(offer_of(r, "x1")), 62)  # a is kept from x1 for a while
    assert offers(events) == [("x2", "a")]  # x2 comes next, not x3 or x4


def offers_to(r: Router, agent_id: str) -> list[str]:
    return [o.contact_id for o in r.offers.values() if o.agent_id == agent_id]


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda r: None, 'agent "a" is offline'),
        (
            lambda r: r.handle(SetAgentStatus("a", AgentStatus.BREAK, "lunch"), 5),
            'agent "a" is on break \\("lunch"\\)',
        ),
        (
            lambda r: (
                r.handle(SetAgentStatus("a", AVAILABLE), 5),
                r.handle(EnqueueContact(contact("busy", q="billing")), 5),
            ),
            'agent "a" has an open offer \\("busy:o0"\\)',
        ),
        (
            lambda r: (
                r.handle(SetAgentStatus("a", AVAILABLE), 5),
                r.handle(EnqueueContact(contact("busy", q="billing")), 5),
                r.handle(AcceptOffer("busy:o0"), 5),
            ),
            'agent "a" has no room for another chat contact \\(holds 1 of 1\\)',
        ),
        (
            lambda r: r.handle(SetAgentStatus("bill", AVAILABLE), 5),
            'agent "bill" takes no chat contacts \\(capacity: voice 1\\)',
        ),
        (
            lambda r: (
                r.handle(SetAgentStatus("a", AVAILABLE), 5),
                r.handle(EnqueueContact(contact("call", q="billing", kind="voice")), 5),
                r.handle(AcceptOffer("call:o0"), 5),
            ),
            'agent "a" holds a voice contact, which rules out chat',
        ),
    ],
    ids=["offline", "on break", "open offer", "full", "no capacity", "blocked"],
)
def test_a_waiting_contact_goes_only_to_an_agent_who_can_take_it_now(
    prepare: Any, message: str
) -> None:
    r = router(
        [queue(), queue("billing")],
        [
            agent("a", queues=("billing",), capacity={"chat": 1, "voice": 1}),
            agent("bill", queues=("billing",), capacity={"voice": 1}),
        ],
        settings=BLOCKS,
    )
    r.handle(EnqueueContact(contact("x1")), 1)
    r.handle(EnqueueContact(contact("x2")), 2)
    prepare(r)
    target = "bill" if "bill" in message else "a"
    with pytest.raises(RoutingError, match=f'transfer of "x1": {message}'):
        r.handle(TransferContact("x1", agent=target), 6)
    assert waiting(r) == ["x1", "x2"]  # nothing changed
    assert not [o for o in r.offers.values() if o.contact_id == "x1"]


def test_a_waiting_contact_is_not_offered_again_to_the_agent_it_is_offered_to() -> None:
    r = router([queue()], [agent("a")])
    available(r, "a")
    r.handle(EnqueueContact(contact("x")), 1)
    with pytest.raises(RoutingError, match='agent "a" is being offered it already'):
        r.handle(TransferContact("x", agent="a"), 2)
    assert offers_to(r, "a") == ["x"]


def test_a_waiting_contact_moved_to_another_queue_keeps_its_wait() -> None:
    r = router(
        [queue(), queue("billing", priority=2)],
        [agent("a"), agent("bill", queues=("billing",))],
    )
    r.handle(EnqueueContact(contact("x", priority=1)), 1)
    r.handle(EnqueueContact(contact("y", q="billing", priority=1)), 3)
    events = r.handle(TransferContact("x", queue="billing"), 5)
    assert [type(e) for e in events] == [ev.ContactQueued]
    moved = events[0]
    assert isinstance(moved, ev.ContactQueued)
    assert (moved.queue, moved.since, moved.priority) == ("billing", 1, 3)
    assert waiting(r, "billing") == ["x", "y"]  # x has waited longer than y
    assert waiting(r) == []
    assert offers(r.handle(SetAgentStatus("bill", AVAILABLE), 6)) == [("x", "bill")]


def test_a_waiting_contact_moved_to_a_queue_and_an_agent_stays_in_that_queue_if_declined() -> None:
    r = two_queues_with_a_backlog()
    with pytest.raises(RoutingError, match='agent "a" is offline'):
        r.handle(TransferContact("x3", queue="billing", agent="a"), 5)
    assert r.contacts["x3"].queue == "support"  # refused before anything moved
    events = r.handle(TransferContact("x3", queue="billing", agent="bill"), 6)
    assert [type(e) for e in events] == [ev.ContactQueued, ev.ContactOffered]
    r.handle(RejectOffer(offer_of(r, "x3")), 7)
    assert (r.contacts["x3"].queue, r.contacts["x3"].since) == ("billing", 3)
    assert waiting(r, "billing") == ["x3"]


def test_a_waiting_contact_is_not_moved_to_the_queue_it_waits_in() -> None:
    r = two_queues_with_a_backlog()
    with pytest.raises(RoutingError, match='"x1": it waits in queue "support" already'):
        r.handle(TransferContact("x1", queue="support"), 5)
    with pytest.raises(RoutingError, match='"x1": it waits in queue "support" already'):
        r.handle(TransferContact("x1"), 5)
    with pytest.raises(RoutingError, match='unknown queue "nope"'):
        r.handle(TransferContact("x1", queue="nope", agent="bill"), 5)
    assert waiting(r) == ["x1", "x2", "x3"]


def test_an_agent_who_passed_a_contact_on_can_no_longer_end_or_close_it() -> None:
    r = router([queue(wrap_up=30)], [agent("a"), agent("b")])
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("x")), 1)
    r.handle(AcceptOffer(offer_of(r, "x")), 2)  # a
    r.handle(TransferContact("x", agent="b"), 3)
    r.handle(AcceptOffer(offer_of(r, "x")), 4)
    with pytest.raises(RoutingError, match='contact "x" is handled by agent "b", not "a"'):
        r.handle(EndContact("x", agent_id="a"), 5)
    assert r.contacts["x"].state is ContactState.ACTIVE
    r.handle(EndContact("x", agent_id="b"), 6)
    with pytest.raises(RoutingError, match='contact "x" is handled by agent "b", not "a"'):
        r.handle(CloseContact("x", agent_id="a"), 7)
    assert r.contacts["x"].state is ContactState.WRAP_UP
    assert [type(e) for e in r.handle(CloseContact("x", "done", agent_id="b"), 8)] == [
        ev.WrapUpEnded,
        ev.ContactClosed,
    ]


def test_a_contact_in_wrap_up_cannot_be_transferred() -> None:
    r = router([queue(wrap_up=30)], [agent("a"), agent("b")])
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("x")), 1)
    r.handle(AcceptOffer(offer_of(r, "x")), 2)
    r.handle(EndContact("x"), 3)
    with pytest.raises(RoutingError, match='contact "x" is wrap-up, not waiting or active'):
        r.handle(TransferContact("x", agent="b"), 4)


# Abandonment -------------------------------------------------------------------------------


def test_a_customer_hanging_up_is_removed_with_their_wait_recorded() -> None:
    r = router([queue()], [agent("a")])
    r.handle(EnqueueContact(contact("c")), 10)
    events = r.handle(AbandonContact("c"), 25)
    assert [(e.waited, e.queue) for e in events if isinstance(e, ev.ContactAbandoned)] == [
        (15, "support")
    ]
    assert waiting(r) == []


def test_a_customer_who_comes_back_in_time_gets_their_place_back() -> None:
    r = router([queue(rejoin_window=60)], [agent("a")])
    r.handle(EnqueueContact(contact("ann1", customer="ann")), 0)
    r.handle(EnqueueContact(contact("bob", customer="bob")), 10)
    r.handle(AbandonContact("ann1"), 20)
    r.handle(EnqueueContact(contact("ann2", customer="ann")), 50)
    assert waiting(r) == ["ann2", "bob"]
    r.handle(AbandonContact("bob"), 60)
    r.handle(EnqueueContact(contact("bob2", customer="bob")), 200)  # too late
    assert r.contacts["bob2"].since == 200


# Strategies --------------------------------------------------------------------------------


def pick_with(strategy: str, agents: Sequence[Agent], **kw: Any) -> str:
    r = router([queue(strategy=strategy, **kw)], agents)
    available(r, *[a.id for a in agents])
    return offers(r.handle(EnqueueContact(contact("c")), 10))[0][1]


def test_every_built_in_strategy_is_registered() -> None:
    assert set(STRATEGIES) == {
        "longest-idle",
        "round-robin",
        "least-occupied",
        "fewest-contacts",
        "best-skill",
        "random",
        "top-down",
    }


def test_round_robin_takes_turns() -> None:
    r = router([queue(strategy="round-robin")], [agent("a"), agent("b"), agent("c")])
    available(r, "c", "b", "a")
    got = []
    for n in range(6):
        events = r.handle(EnqueueContact(contact(f"x{n}")), 1 + n)
        ((cid, aid),) = offers(events)
        got.append(aid)
        r.handle(AcceptOffer(offer_of(r, cid)), 1 + n)
        r.handle(EndContact(cid), 1 + n)
    assert got == ["a", "b", "c", "a", "b", "c"]


def test_least_occupied_prefers_the_agent_using_least_of_their_capacity() -> None:
    r = router(
        [queue(strategy="least-occupied")],
        [agent("busy", capacity={"chat": 2}), agent("calm", capacity={"chat": 4})],
    )
    available(r, "busy", "calm")
    r.handle(EnqueueContact(contact("c1")), 1)
    r.handle(AcceptOffer(offer_of(r, "c1")), 1)  # busy (first in order) takes it: 1/2
    assert offers(r.handle(EnqueueContact(contact("c2")), 2)) == [("c2", "calm")]


def test_fewest_contacts_prefers_the_agent_who_handled_fewest() -> None:
    r = router([queue(strategy="fewest-contacts")], [agent("a"), agent("b")])
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("c1")), 1)
    r.handle(AcceptOffer(offer_of(r, "c1")), 1)
    r.handle(EndContact("c1"), 2)
    r.handle(SetAgentStatus("b", AgentStatus.BREAK), 3)
    r.handle(SetAgentStatus("b", AVAILABLE), 4)  # b idle for less time than a
    assert offers(r.handle(EnqueueContact(contact("c2")), 5)) == [("c2", "b")]


def test_best_skill_prefers_the_most_proficient_agent() -> None:
    agents = [agent("ok", skills={"billing": 2}), agent("best", skills={"billing": 5})]
    assert pick_with("best-skill", agents, requirement="billing >= 1") == "best"


def test_top_down_always_starts_from_the_first_agent() -> None:
    agents = [agent("first"), agent("second")]
    r = router([queue(strategy="top-down")], agents)
    available(r, "second", "first")
    assert offers(r.handle(EnqueueContact(contact("c")), 1)) == [("c", "first")]


def test_random_is_repeatable_with_a_seed_and_varies_with_it() -> None:
    agents = [agent(f"a{n}") for n in range(8)]
    picks = {seed: pick_with("random", agents, seed=seed) for seed in range(12)}
    assert picks == {seed: pick_with("random", agents, seed=seed) for seed in range(12)}
    assert len(set(picks.values())) > 1


def test_longest_idle_puts_busy_multitaskers_behind_free_agents() -> None:
    r = router([queue()], [agent("multi", capacity={"chat": 3}), agent("free")])
    available(r, "multi", "free")
    r.handle(EnqueueContact(contact("c1")), 1)
    r.handle(AcceptOffer(offer_of(r, "c1")), 1)  # multi idled longest
    assert offers(r.handle(EnqueueContact(contact("c2")), 2)) == [("c2", "free")]


def test_fairness_an_agent_in_several_queues_gets_the_longest_waiting_contact() -> None:
    qs = [queue("q1"), queue("q2"), queue("q3")]
    r = router(qs, [agent("a", queues=("q1", "q2", "q3"))])
    r.handle(EnqueueContact(contact("q1-late", q="q1")), 30)
    r.handle(EnqueueContact(contact("q2-early", q="q2")), 10)
    r.handle(EnqueueContact(contact("q3-mid", q="q3")), 20)
    assert offers(r.handle(SetAgentStatus("a", AVAILABLE), 40)) == [("q2-early", "a")]


def test_fairness_weighs_priority_across_queues_by_each_queues_step() -> None:
    qs = [queue("q1", priority_step=100), queue("q2")]
    r = router(qs, [agent("a", queues=("q1", "q2"))])
    r.handle(EnqueueContact(contact("old", q="q2")), 0)
    r.handle(EnqueueContact(contact("urgent", q="q1", priority=1)), 50)  # worth 100 s
    assert offers(r.handle(SetAgentStatus("a", AVAILABLE), 60)) == [("urgent", "a")]


def test_agents_freed_together_go_by_strategy() -> None:
    r = router([queue(wrap_up=10)], [agent("a"), agent("b")])
    available(r, "a", "b")
    for cid in ("x", "y"):
        r.handle(EnqueueContact(contact(cid)), 1)
        r.handle(AcceptOffer(offer_of(r, cid)), 1)
    r.handle(EndContact("y"), 2)  # b wraps up until 12
    r.handle(EndContact("x"), 3)  # a wraps up until 13
    r.handle(EnqueueContact(contact("z")), 4)
    assert offers(r.handle(Tick(), 20)) == [("z", "b")]  # b's wrap-up ended first


# Explanations ------------------------------------------------------------------------------


def test_explain_says_why_this_agent_and_why_not_the_others() -> None:
    r = router(
        [queue(requirement="billing >= 3")],
        [
            agent("senior", skills={"billing": 4}),
            agent("junior", skills={"billing": 2}),
            agent("away", skills={"billing": 5}),
            agent("phone", skills={"billing": 5}, capacity={"voice": 1}),
        ],
    )
    log = []
    for n, aid in enumerate(["senior", "junior", "phone"]):
        log += r.handle(SetAgentStatus(aid, AVAILABLE), n)
    log += r.handle(SetAgentStatus("away", AgentStatus.BREAK, "lunch"), 3)
    log += r.handle(EnqueueContact(contact("c")), 4)
    assert offers(log) == [("c", "senior")]

    def fresh() -> Router:
        return router(
            [queue(requirement="billing >= 3")],
            [
                agent("senior", skills={"billing": 4}),
                agent("junior", skills={"billing": 2}),
                agent("away", skills={"billing": 5}),
                agent("phone", skills={"billing": 5}, capacity={"voice": 1}),
            ],
        )

    why = explain_from_log(log, fresh, "c")
    assert why.chosen == ("senior",)
    assert why.rule == "longest-idle"
    assert why.why_not("senior").rank == 1
    assert why.why_not("junior").failed == ("billing >= 3 (agent has 2)",)
    assert why.why_not("away").failed == ("on break (lunch)",)
    assert why.why_not("phone").failed == ("takes no chat contacts (capacity)",)
    text = why.render()
    assert "offered to: senior (rule: longest-idle)" in text
    assert "junior: not eligible: billing >= 3 (agent has 2)" in text


def test_explain_a_waiting_contact_names_agents_outside_its_pools() -> None:
    r = router([queue(), queue("sales")], [agent("a"), agent("s", queues=("sales",))])
    r.handle(EnqueueContact(contact("c")), 0)
    why = explain_contact(r, "c", ["s"])
    assert why.chosen == ()
    assert why.why_not("a").failed == ("offline",)
    assert why.why_not("s").failed[0] == 'not in queue "support"'


def test_explaining_a_refused_contact_says_so() -> None:
    queues = [queue(max_length=1)]
    r = router(queues, [agent("a")])
    log = r.handle(EnqueueContact(contact("c1")), 0) + r.handle(EnqueueContact(contact("c2")), 1)
    why = explain_from_log(log, lambda: router(queues, [agent("a")]), "c2")
    assert (why.state, why.queue, why.at, why.chosen) == ("refused", "support", 1, ())
    assert why.reason == (
        'refused: queue "support" is full (1 waiting); '
        "every agent who could serve it was offline or on break (a)"
    )


def test_explaining_an_abandoned_contact_nobody_could_serve_judges_each_agent() -> None:
    def build() -> Router:
        return router(
            [queue(requirement="billing >= 3")],
            [agent("junior", skills={"billing": 2}), agent("phone", capacity={"voice": 1})],
        )

    r = build()
    log = r.handle(SetAgentStatus("junior", AVAILABLE), 0)
    log += r.handle(EnqueueContact(contact("c")), 1)
    log += r.handle(AbandonContact("c"), 12.4)
    why = explain_from_log(log, build, "c")
    assert (why.state, why.at) == ("abandoned", 12.4)
    assert why.reason == (
        "abandoned after 11.4s before any offer; no agent was eligible: none could serve it "
        "(why not, below)"
    )
    assert why.why_not("junior").failed == ("billing >= 3 (agent has 2)",)
    assert "takes no chat contacts (capacity)" in why.why_not("phone").failed
    assert "offered to: nobody: abandoned after 11.4s before any offer" in why.render()


def test_explaining_an_abandoned_contact_names_the_busy_and_the_away() -> None:
    def build() -> Router:
        return router([queue()], [agent("ada"), agent("bob"), agent("cy")])

    r = build()
    log = r.handle(SetAgentStatus("ada", AVAILABLE), 0)
    log += r.handle(SetAgentStatus("bob", AgentStatus.BREAK, "lunch"), 0)
    log += r.handle(EnqueueContact(contact("first")), 1)
    log += r.handle(AcceptOffer(offer_of(r, "first")), 2)
    log += r.handle(EnqueueContact(contact("c")), 3)
    log += r.handle(AbandonContact("c"), 20)
    why = explain_from_log(log, build, "c")
    assert why.reason == (
        "abandoned after 17.0s before any offer; every agent who could serve it was busy (ada) "
        "or offline or on break (bob, cy)"
    )
    assert why.why_not("ada").failed == ("holds 1 of 1 chat contacts",)


def test_explaining_a_contact_refused_for_closed_hours_says_so() -> None:
    def build() -> Router:
        return router([queue(hours="office")], [agent("a")], schedules={"office": OFFICE})

    log = build().handle(EnqueueContact(contact("late")), MONDAY_20)
    why = explain_from_log(log, build, "late")
    assert why.state == "refused"
    assert why.reason.startswith('refused: queue "support" is closed (')


def test_explaining_a_contact_waiting_in_a_closed_queue_says_it_is_closed() -> None:
    r = router(
        [queue(hours="office", when_closed="queue")], [agent("a")], schedules={"office": OFFICE}
    )
    r.handle(EnqueueContact(contact("c")), MONDAY_20)
    why = explain_contact(r, "c", at=MONDAY_20)
    assert why.reason.startswith('queue "support" is closed (')
    assert why.reason.endswith("; every agent who could serve it is offline or on break (a)")
    assert "offered to: nobody yet: queue" in why.render()


def test_explain_says_when_a_declined_agent_may_be_offered_the_contact_again() -> None:
    r = router([queue(reject_delay=30, no_answer_delay=float("inf"), offer_timeout=5)], [])
    r.add_agent(agent("a"))
    r.add_agent(agent("b"))
    available(r, "a", "b")
    r.handle(EnqueueContact(contact("x")), 1)
    r.handle(RejectOffer(offer_of(r, "x", "a")), 2)
    r.handle(Tick(), 7)  # b, offered it at 2, lets it time out
    why = explain_contact(r, "x")
    assert why.why_not("a").failed == ("rejected it; eligible for it again at t=32.000",)
    assert why.why_not("b").failed == (
        "let an offer of it time out; never offered it again (the queue's delay is inf)",
    )
    assert why.reason == (
        "every agent who could serve it is kept from it after declining it (a, b)"
    )


def test_explain_of_an_or_requirement_names_only_the_side_for_the_contacts_language() -> None:
    requirement = (
        'language == "en" and en >= 3 or language == "de" and de >= 3 '
        'or language == "es" and sales >= 3'
    )
    r = router([queue(requirement=requirement)], [agent("ada", skills={"en": 5, "de": 1})])
    r.handle(EnqueueContact(contact("c", language="de")), 0)
    assert explain_contact(r, "c", ["ada"]).why_not("ada").failed == (
        "offline",
        "de >= 3 (agent has 1)",
    )


# Embedding-time configuration --------------------------------------------------------------


def test_queues_and_agents_can_be_added_while_running() -> None:
    r = router([queue()], [agent("a")])
    r.handle(EnqueueContact(contact("c")), 0)
    r.add_queue(queue("late"))
    r.add_agent(agent("b", queues=("support", "late")))
    assert offers(r.handle(SetAgentStatus("b", AVAILABLE), 1)) == [("c", "b")]
    with pytest.raises(RoutingError, match='agent "x": unknown queue "nope"'):
        r.add_agent(agent("x", queues=("nope",)))
