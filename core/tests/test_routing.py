"""The routing engine's basics: order, skills, offers, wrap-up, capacity, replay."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trunkline import events as ev
from trunkline.builtin.strategies import LongestIdle
from trunkline.model import (
    Address,
    Agent,
    AgentState,
    AgentStatus,
    Contact,
    ContactState,
    Direction,
    Queue,
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
)

W = "acme"
STRATEGIES = {"longest-idle": LongestIdle()}


def queue(qid: str = "support", **kw: object) -> Queue:
    return Queue(id=qid, workspace=W, **kw)  # type: ignore[arg-type]


def agent(
    aid: str,
    *,
    skills: dict[str, int] | None = None,
    chat: int = 1,
    queues: Sequence[str] = ("support",),
) -> Agent:
    return Agent(
        id=aid, workspace=W, skills=skills or {}, capacity={"chat": chat}, queues=tuple(queues)
    )


def contact(
    cid: str, *, q: str = "support", priority: int = 0, skills: dict[str, int] | None = None
) -> Contact:
    return Contact(
        id=cid,
        workspace=W,
        channel="web",
        channel_kind="chat",
        direction=Direction.INBOUND,
        customer_id="cu",
        address=Address("memory", cid),
        queue=q,
        priority=priority,
        required_skills=skills or {},
    )


def offers(events: Sequence[ev.Event]) -> list[tuple[str, str]]:
    return [
        (e.offer.contact_id, e.offer.agent_id) for e in events if isinstance(e, ev.ContactOffered)
    ]


def open_offer(router: Router, contact_id: str) -> str:
    return next(o.id for o in router.offers.values() if o.contact_id == contact_id)


def test_higher_priority_is_offered_before_earlier_arrival() -> None:
    r = Router(W, [queue()], [agent("a")], strategies=STRATEGIES)
    r.handle(EnqueueContact(contact("early")), 0)
    r.handle(EnqueueContact(contact("urgent", priority=5)), 1)
    assert offers(r.handle(SetAgentStatus("a", AgentStatus.AVAILABLE), 2)) == [("urgent", "a")]


def test_same_priority_is_first_come_first_served_across_queues() -> None:
    r = Router(
        W, [queue("q1"), queue("q2")], [agent("a", queues=("q1", "q2"))], strategies=STRATEGIES
    )
    r.handle(EnqueueContact(contact("second", q="q2")), 5)
    r.handle(
        EnqueueContact(contact("first", q="q1")), 3
    )  # queued later, arrived... later: time 3 < 5
    # "first" was queued at t=3 (its command came second but with an earlier clock reading).
    assert offers(r.handle(SetAgentStatus("a", AgentStatus.AVAILABLE), 6)) == [("first", "a")]


def test_skills_below_the_required_level_do_not_qualify() -> None:
    r = Router(
        W,
        [queue(skills={"de": 3})],
        [agent("weak", skills={"de": 2}), agent("strong", skills={"de": 4})],
        strategies=STRATEGIES,
    )
    r.handle(SetAgentStatus("weak", AgentStatus.AVAILABLE), 0)
    r.handle(SetAgentStatus("strong", AgentStatus.AVAILABLE), 1)
    assert offers(r.handle(EnqueueContact(contact("c")), 2)) == [("c", "strong")]


def test_contact_skill_requirements_add_to_the_queue_requirements() -> None:
    r = Router(
        W,
        [queue()],
        [agent("en", skills={"en": 5}), agent("de", skills={"de": 2})],
        strategies=STRATEGIES,
    )
    for a in ("en", "de"):
        r.handle(SetAgentStatus(a, AgentStatus.AVAILABLE), 0)
    assert offers(r.handle(EnqueueContact(contact("c", skills={"de": 2})), 1)) == [("c", "de")]


def test_longest_idle_agent_gets_the_contact() -> None:
    r = Router(W, [queue()], [agent("a"), agent("b")], strategies=STRATEGIES)
    r.handle(SetAgentStatus("b", AgentStatus.AVAILABLE), 0)
    r.handle(SetAgentStatus("a", AgentStatus.AVAILABLE), 10)
    assert offers(r.handle(EnqueueContact(contact("c")), 20)) == [("c", "b")]


def test_rejected_offer_goes_to_another_agent_and_keeps_its_place() -> None:
    r = Router(W, [queue()], [agent("a"), agent("b")], strategies=STRATEGIES)
    r.handle(SetAgentStatus("a", AgentStatus.AVAILABLE), 0)
    r.handle(EnqueueContact(contact("old")), 1)
    r.handle(EnqueueContact(contact("new")), 2)
    events = r.handle(RejectOffer(open_offer(r, "old"), "busy"), 3)
    assert any(isinstance(e, ev.OfferRejected) for e in events)
    # "a" declined "old", so "a" now gets "new"; "old" waits for someone else, first in line.
    assert offers(events) == [("new", "a")]
    assert [v.contact.id for v in r.waiting("support")] == ["old"]
    assert offers(r.handle(SetAgentStatus("b", AgentStatus.AVAILABLE), 4)) == [("old", "b")]


def test_offer_times_out_on_tick_and_is_reoffered_elsewhere() -> None:
    r = Router(W, [queue(offer_timeout=10)], [agent("a"), agent("b")], strategies=STRATEGIES)
    r.handle(SetAgentStatus("a", AgentStatus.AVAILABLE), 0)
    r.handle(SetAgentStatus("b", AgentStatus.AVAILABLE), 1)
    assert offers(r.handle(EnqueueContact(contact("c")), 2)) == [("c", "a")]
    assert r.next_deadline() == 12
    assert r.handle(Tick(), 11.9) == []
    events = r.handle(Tick(), 12)
    assert [type(e) for e in events] == [ev.OfferTimedOut, ev.ContactOffered]
    assert offers(events) == [("c", "b")]


def test_accept_then_end_then_wrap_up_then_free() -> None:
    r = Router(W, [queue(wrap_up=5)], [agent("a")], strategies=STRATEGIES)
    r.handle(SetAgentStatus("a", AgentStatus.AVAILABLE), 0)
    r.handle(EnqueueContact(contact("c1")), 1)
    r.handle(EnqueueContact(contact("c2")), 1)
    assert r.agent("a").state is AgentState.OFFERED
    r.handle(AcceptOffer(open_offer(r, "c1")), 2)
    assert r.agent("a").state is AgentState.BUSY
    assert r.contacts["c1"].state is ContactState.ACTIVE
    r.handle(EndContact("c1"), 10)
    assert r.agent("a").state is AgentState.WRAP_UP
    assert r.next_deadline() == 15
    assert offers(r.handle(Tick(), 15)) == [("c2", "a")]
    assert "c1" not in r.contacts


def test_close_during_wrap_up_records_the_disposition() -> None:
    r = Router(W, [queue(wrap_up=60)], [agent("a")], strategies=STRATEGIES)
    r.handle(SetAgentStatus("a", AgentStatus.AVAILABLE), 0)
    r.handle(EnqueueContact(contact("c")), 1)
    r.handle(AcceptOffer(open_offer(r, "c")), 2)
    r.handle(EndContact("c"), 3)
    events = r.handle(CloseContact("c", "resolved"), 4)
    closed = [e for e in events if isinstance(e, ev.ContactClosed)]
    assert closed[0].disposition == "resolved"
    assert r.agent("a").state is AgentState.IDLE


def test_capacity_allows_several_chats_but_never_more() -> None:
    r = Router(W, [queue()], [agent("a", chat=2)], strategies=STRATEGIES)
    r.handle(SetAgentStatus("a", AgentStatus.AVAILABLE), 0)
    for cid in ("c1", "c2", "c3"):
        r.handle(EnqueueContact(contact(cid)), 1)
    r.handle(AcceptOffer(open_offer(r, "c1")), 2)
    assert offers(r.handle(Tick(), 2)) == []  # offer for c2 was made on accept already
    r.handle(AcceptOffer(open_offer(r, "c2")), 3)
    assert r.agent("a").state is AgentState.BUSY
    assert [v.contact.id for v in r.waiting("support")] == ["c3"]


def test_agent_on_break_gets_nothing() -> None:
    r = Router(W, [queue()], [agent("a")], strategies=STRATEGIES)
    r.handle(SetAgentStatus("a", AgentStatus.BREAK, "lunch"), 0)
    assert offers(r.handle(EnqueueContact(contact("c")), 1)) == []
    assert r.agent("a").status is AgentStatus.BREAK


def test_abandon_while_offered_frees_the_agent() -> None:
    r = Router(W, [queue()], [agent("a")], strategies=STRATEGIES)
    r.handle(SetAgentStatus("a", AgentStatus.AVAILABLE), 0)
    r.handle(EnqueueContact(contact("c")), 1)
    events = r.handle(AbandonContact("c"), 4)
    assert [(type(e), getattr(e, "waited", None)) for e in events] == [
        (ev.OfferRescinded, None),
        (ev.ContactAbandoned, 3),
    ]
    assert r.agent("a").state is AgentState.IDLE
    assert r.offers == {}


def test_commands_on_stale_state_are_refused_clearly() -> None:
    r = Router(W, [queue()], [agent("a")], strategies=STRATEGIES)
    with pytest.raises(RoutingError, match='unknown agent "zed"'):
        r.handle(SetAgentStatus("zed", AgentStatus.AVAILABLE), 0)
    with pytest.raises(RoutingError, match="not open"):
        r.handle(AcceptOffer("of_missing"), 0)
    r.handle(EnqueueContact(contact("c")), 0)
    with pytest.raises(RoutingError, match="queued, not active"):
        r.handle(EndContact("c"), 0)


def test_unknown_strategy_is_refused_at_construction() -> None:
    with pytest.raises(RoutingError, match='unknown strategy "fastest"'):
        Router(W, [queue(strategy="fastest")], [], strategies=STRATEGIES)


# Property-based invariants ---------------------------------------------------------------

AGENT_IDS = ["a0", "a1", "a2", "a3"]
SKILLS = ["en", "de"]

op = st.one_of(
    st.tuples(
        st.just("arrive"),
        st.integers(0, 3),
        st.sampled_from(["q1", "q2"]),
        st.sampled_from([None, *SKILLS]),
    ),
    st.tuples(st.just("burst"), st.lists(st.integers(0, 3), min_size=2, max_size=5)),
    st.tuples(st.just("status"), st.sampled_from(AGENT_IDS), st.sampled_from(list(AgentStatus))),
    st.tuples(st.just("accept"), st.integers(0, 50)),
    st.tuples(st.just("reject"), st.integers(0, 50)),
    st.tuples(st.just("end"), st.integers(0, 50)),
    st.tuples(st.just("close"), st.integers(0, 50)),
    st.tuples(st.just("abandon"), st.integers(0, 50)),
    st.tuples(st.just("wait"), st.floats(0, 30)),
)

agents_st = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5)),
        st.integers(0, 3),
        st.sampled_from([("q1",), ("q2",), ("q1", "q2")]),
    ),
    min_size=1,
    max_size=len(AGENT_IDS),
)


def build(agent_specs: list[tuple[dict[str, int], int, tuple[str, ...]]]) -> Router:
    queues = [
        queue("q1", offer_timeout=7, wrap_up=3),
        queue("q2", skills={"en": 2}, offer_timeout=5),
    ]
    agents = [
        Agent(id=AGENT_IDS[i], workspace=W, skills=s, capacity={"chat": cap}, queues=qs)
        for i, (s, cap, qs) in enumerate(agent_specs)
    ]
    return Router(W, queues, agents, strategies=STRATEGIES)


def pick(items: list[str], index: int) -> str | None:
    return sorted(items)[index % len(items)] if items else None


def run_ops(router: Router, ops: list[tuple[object, ...]]) -> tuple[list[ev.Event], set[str]]:
    """Drive the router; check the invariants after every step. Returns the log and arrivals."""
    log: list[ev.Event] = []
    arrived: set[str] = set()
    now = 0.0
    for n, (kind, *args) in enumerate(ops):
        now += 0.01  # every command happens at its own instant, so arrival order is observable
        command: object
        if kind == "burst":  # several arrivals while nobody is free: the line builds up
            for i, priority in enumerate(args[0]):  # type: ignore[arg-type]
                cid = f"c{n}.{i}"
                arrived.add(cid)
                log += router.handle(EnqueueContact(contact(cid, q="q1", priority=priority)), now)
                now += 0.01
            check_invariants(router, log, arrived)
            continue
        if kind == "arrive":
            priority, q, skill = args
            cid = f"c{n}"
            arrived.add(cid)
            command = EnqueueContact(
                contact(cid, q=str(q), priority=int(priority), skills={skill: 1} if skill else {})
            )  # type: ignore[arg-type]
        elif kind == "status":
            aid, status = args
            if aid not in router.agents:
                continue
            command = SetAgentStatus(str(aid), status)  # type: ignore[arg-type]
        elif kind in ("accept", "reject"):
            oid = pick(list(router.offers), int(args[0]))  # type: ignore[call-overload]
            if oid is None:
                continue
            command = AcceptOffer(oid) if kind == "accept" else RejectOffer(oid)
        elif kind in ("end", "close", "abandon"):
            wanted = {"end": ContactState.ACTIVE, "close": ContactState.WRAP_UP, "abandon": None}[
                kind
            ]
            cids = [c for c, v in router.contacts.items() if wanted is None or v.state is wanted]
            cid = pick(cids, int(args[0]))  # type: ignore[call-overload]
            if cid is None:
                continue
            command = {"end": EndContact, "close": CloseContact, "abandon": AbandonContact}[kind](
                cid
            )
        else:
            now += float(args[0])  # type: ignore[arg-type]
            command = Tick()
        log += router.handle(command, now)  # type: ignore[arg-type]
        check_invariants(router, log, arrived)
    return log, arrived


def check_invariants(router: Router, log: list[ev.Event], arrived: set[str]) -> None:
    offered_agents = [o.agent_id for o in router.offers.values()]
    assert len(offered_agents) == len(set(offered_agents)), "an agent holds two open offers"
    for run in router.agents.values():
        load = sum(1 for kind in run.active.values() if kind == "chat")
        assert load <= run.agent.capacity.get("chat", 0), f"{run.agent.id} is over capacity"
    for offer in router.offers.values():
        run = router.agents[offer.agent_id]
        view = router.contacts[offer.contact_id]
        q = router.queues[offer.queue]
        assert view.state is ContactState.OFFERED
        assert q.id in run.agent.queues
        assert run.agent.has_skills({**q.skills, **view.contact.required_skills})
    # No contact is lost: every arrival is open in the engine or ended by a closing event.
    ended = {e.contact_id for e in log if isinstance(e, ev.ContactClosed | ev.ContactAbandoned)}
    assert arrived == set(router.contacts) | ended
    assert not set(router.contacts) & ended
    # Each open contact is in exactly one place.
    waiting = {v.contact.id for q in router.queues for v in router.waiting(q)}
    for cid, view in router.contacts.items():
        assert (cid in waiting) == (view.state is ContactState.QUEUED)


@settings(max_examples=300, deadline=None)
@given(agents_st, st.lists(op, max_size=60))
def test_invariants_hold_for_any_sequence_of_commands(agent_specs, ops) -> None:  # type: ignore[no-untyped-def]
    run_ops(build(agent_specs), ops)


@settings(max_examples=200, deadline=None)
@given(agents_st, st.lists(op, max_size=60))
def test_replaying_the_log_rebuilds_the_same_state(agent_specs, ops) -> None:  # type: ignore[no-untyped-def]
    live = build(agent_specs)
    log, _ = run_ops(live, ops)
    replayed = build(agent_specs)
    for event in log:
        replayed.apply(event)
    assert replayed.offers == live.offers
    assert {
        c: (v.state, v.queue, v.agent_id, v.declined) for c, v in replayed.contacts.items()
    } == {c: (v.state, v.queue, v.agent_id, v.declined) for c, v in live.contacts.items()}
    for aid, run in live.agents.items():
        other = replayed.agents[aid]
        assert (other.status, other.state, other.active, other.wrap_up, other.idle_since) == (
            run.status,
            run.state,
            run.active,
            run.wrap_up,
            run.idle_since,
        )
    for q in live.queues:
        assert [v.contact.id for v in replayed.waiting(q)] == [
            v.contact.id for v in live.waiting(q)
        ]


@settings(max_examples=300, deadline=None)
@given(agents_st, st.lists(op, max_size=60))
@example(
    [({}, 1, ("q1",))],
    [("burst", [0, 2, 1]), ("status", "a0", AgentStatus.AVAILABLE), ("accept", 0), ("end", 0)],
)
def test_offers_follow_priority_then_arrival(agent_specs, ops) -> None:  # type: ignore[no-untyped-def]
    """Whenever a contact is offered, every contact still waiting in a queue the agent serves,
    which the agent could take and had not declined, ranks behind it: priority is worth
    ``priority_step`` seconds of waiting per step."""
    router = build(agent_specs)
    original = router.handle
    violations: list[str] = []

    def handle(command, now):  # type: ignore[no-untyped-def]
        events = original(command, now)
        for e in events:
            if not isinstance(e, ev.ContactOffered):
                continue
            chosen = router.contacts.get(e.offer.contact_id)
            if chosen is None:
                continue
            run = router.agents[e.offer.agent_id]
            step = router.queues[chosen.queue].priority_step  # type: ignore[index]
            rank = chosen.queued_at - chosen.priority * step
            for q in run.agent.queues:
                for v in router.waiting(q):
                    skills = {**router.queues[q].skills, **v.contact.required_skills}
                    if v.has_declined(run.agent.id) or not run.agent.has_skills(skills):
                        continue
                    if v.queued_at - v.priority * router.queues[q].priority_step < rank:
                        violations.append(f"{v.contact.id} waited ahead of {chosen.contact.id}")
        return events

    router.handle = handle  # type: ignore[method-assign]
    run_ops(router, ops)
    assert violations == []
