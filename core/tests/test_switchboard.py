"""The switchboard: routing embedded in an application, with virtual time and subscribers."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import attrs
import pytest

from trunkline import (
    Agent,
    AgentStatus,
    ContactState,
    EscalationStep,
    Queue,
    RoutingError,
    Switchboard,
)
from trunkline import events as ev
from trunkline.codec import dump_event, load_event
from trunkline_testsupport.typecheck import mypy_strict


def board() -> Switchboard:
    sb = Switchboard("shop", skills=["en", "de"])
    sb.add_queue("support", requirement="en >= 2", offer_timeout=10, wrap_up=5)
    sb.add_agent("ada", skills={"en": 4}, queues=["support"])
    sb.add_agent("bob", skills={"en": 3, "de": 2}, queues=["support"])
    return sb


def test_a_contact_submitted_is_offered_and_subscribers_see_every_event() -> None:
    sb = board()
    seen: list[str] = []
    unsubscribe = sb.subscribe(lambda event: seen.append(event.type))
    sb.set_status("ada", "available")
    contact = sb.submit("support", customer="carol")
    assert seen == ["AgentStatusChanged", "ContactReceived", "ContactQueued", "ContactOffered"]
    (offer,) = sb.offers("ada")
    assert offer.contact_id == contact.id
    unsubscribe()
    sb.accept(offer.id)
    assert len(seen) == 4
    assert [e.type for e in sb.log][-1] == "OfferAccepted"


def test_advance_fires_each_timer_at_its_own_instant() -> None:
    sb = board()
    sb.set_status("ada", "available")
    sb.set_status("bob", "available")
    contact = sb.submit("support")
    events = sb.advance(25)  # ada's offer times out at 10, bob's at 20
    assert [(e.type, e.at) for e in events if isinstance(e, ev.OfferTimedOut)] == [
        ("OfferTimedOut", 10.0),
        ("OfferTimedOut", 20.0),
    ]
    assert sb.now == 25
    assert sb.waiting("support") == [contact.id]


def test_a_whole_conversation_with_wrap_up() -> None:
    sb = board()
    sb.set_status("bob", "available")
    contact = sb.submit("support")
    sb.accept(sb.offers("bob")[0].id)
    sb.advance(60)
    sb.end(contact.id)
    assert sb.router.agent("bob").state == "wrap-up"
    sb.advance(5)
    assert sb.router.agent("bob").state == "idle"
    assert "ContactClosed" in [e.type for e in sb.log]


def test_explain_answers_why_and_why_not() -> None:
    sb = Switchboard("shop", skills=["en"])
    sb.add_queue("support", requirement="en >= 3")
    sb.add_agent("ada", skills={"en": 4}, queues=["support"])
    sb.add_agent("ian", skills={"en": 1}, queues=["support"])
    sb.set_status("ian", "available")
    sb.set_status("ada", "available")
    contact = sb.submit("support")
    why = sb.explain(contact.id)
    assert why.chosen == ("ada",)
    assert why.why_not("ian").failed == ("en >= 3 (agent has 1)",)


def test_escalation_steps_and_groups_work_through_the_switchboard() -> None:
    sb = Switchboard(skills=["en"])
    sb.add_queue("vip", escalation=[EscalationStep(after=30, groups=("floor",))])
    sb.add_agent("floor-1", queues=[], groups=["floor"])
    sb.set_status("floor-1", "available")
    contact = sb.submit("vip")
    assert sb.offers() == []
    sb.advance(30)
    assert [o.contact_id for o in sb.offers("floor-1")] == [contact.id]


def test_a_real_clock_cannot_be_advanced() -> None:
    sb = Switchboard(clock=lambda: 123.0)
    assert sb.now == 123.0
    with pytest.raises(RuntimeError, match="virtual time"):
        sb.advance(1)


def test_bad_input_is_refused_and_the_state_is_kept() -> None:
    sb = board()
    sb.set_status("ada", "available")
    kept = sb.submit("support")
    with pytest.raises(RoutingError, match="unknown queue"):
        sb.add_agent("zed", queues=["nope"])
    with pytest.raises(RoutingError, match="unknown skill"):
        sb.add_queue("x", requirement="fr >= 1")
    assert [o.contact_id for o in sb.offers("ada")] == [kept.id]


# Restoring from a stored log or a snapshot -----------------------------------------------------


def busy_morning(sb: Switchboard) -> tuple[str, str]:
    """Some history: ada accepts a first contact; a second one waits (bob is offline)."""
    sb.set_status("ada", "available")
    first = sb.submit("support", customer="carol")
    sb.advance(3)
    sb.accept(sb.offers("ada")[0].id)
    sb.advance(4)
    second = sb.submit("support", customer="dan")  # at t=7, the last event
    return first.id, second.id


def carry_on(sb: Switchboard) -> list[ev.Event]:
    """The same commands after the history: every event the switchboard decides from there."""
    seen: list[ev.Event] = []
    sb.subscribe(seen.append)
    sb.set_status("bob", "available")
    sb.advance(10)  # bob lets the second contact's offer time out
    sb.end("ct-1")
    sb.advance(5)
    sb.submit("support")
    sb.advance(20)
    return seen


def test_restore_from_stored_events_carries_on_as_if_it_had_made_them() -> None:
    original = board()
    first, second = busy_morning(original)
    stored = [dump_event(e) for e in original.log]  # what an application keeps in its database

    restored = board()
    restored.restore(load_event(data) for data in stored)
    assert restored.now == original.now == 7.0
    assert restored.contact(first) == original.contact(first)
    assert restored.explain(first).chosen == ("ada",)
    assert restored.explain(second).why_not("bob").failed == ("offline",)
    assert restored.log == []  # the restored events are the application's already
    assert carry_on(restored) == carry_on(original)


def test_a_new_contact_after_a_restore_gets_a_fresh_id() -> None:
    original = board()
    busy_morning(original)
    restored = board()
    restored.restore(original.log)
    assert restored.submit("support").id == original.submit("support").id == "ct-3"


def test_restore_from_a_snapshot_and_the_events_after_it() -> None:
    original = board()
    first, _ = busy_morning(original)
    snapshot = original.snapshot()
    original.advance(2)
    later = original.set_status("bob", "available")  # bob is offered the waiting contact

    restored = board()
    restored.restore(later, snapshot=snapshot)
    assert restored.now == 9.0  # the last event's time
    assert restored.contact(first) == original.contact(first)
    (offer,) = restored.offers("bob")
    assert restored.explain(offer.contact_id).chosen == ("bob",)
    assert carry_on(restored) == carry_on(original)


def test_restore_from_a_snapshot_alone_resumes_at_its_time() -> None:
    original = board()
    busy_morning(original)
    original.advance(100)  # time passes, nothing happens
    restored = board()
    restored.restore(snapshot=original.snapshot())
    assert restored.now == original.now == 107.0
    assert restored.offers() == original.offers()
    assert restored.submit("support").id == "ct-3"


def test_an_event_naming_an_unknown_agent_is_refused_and_nothing_is_restored() -> None:
    original = board()
    busy_morning(original)
    original.set_status("bob", "available")
    smaller = Switchboard("shop", skills=["en", "de"])
    smaller.add_queue("support", requirement="en >= 2", offer_timeout=10, wrap_up=5)
    smaller.add_agent("ada", skills={"en": 4}, queues=["support"])
    number = next(i for i, e in enumerate(original.log, 1) if getattr(e, "agent_id", "") == "bob")
    with pytest.raises(RoutingError) as error:
        smaller.restore(original.log)
    assert str(error.value) == (
        f'stored event {number}: AgentStatusChanged at t=7: unknown agent "bob" (known: ada). '
        "Add the missing agents and queues before restore(), then restore the whole log again; "
        "nothing was restored"
    )
    assert (smaller.now, smaller.offers(), smaller.log) == (0.0, [], [])
    # Nothing was half-applied: once bob exists, the same log restores.
    smaller.add_agent("bob", skills={"en": 3, "de": 2}, queues=["support"])
    smaller.restore(original.log)
    assert smaller.offers() == original.offers()


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (
            ev.AgentStatusChanged(
                workspace="elsewhere", at=1, agent_id="ada", status=AgentStatus.AVAILABLE
            ),
            'belongs to workspace "elsewhere", not "shop"',
        ),
        (
            ev.ContactQueued(
                workspace="shop", at=1, contact_id="ct-9", queue="support", priority=0
            ),
            'unknown contact "ct-9" (not received, or closed already)',
        ),
        (
            ev.OfferAccepted(
                workspace="shop", at=1, offer_id="ct-1:o7", contact_id="ct-1", agent_id="ada"
            ),
            'offer "ct-1:o7" of contact "ct-1" is not open (open: none)',
        ),
        (
            ev.ContactEnded(
                workspace="shop", at=1, contact_id="ct-1", agent_id="ada", wrap_up_until=5
            ),
            'agent "ada" is not handling contact "ct-1" (it is queued)',
        ),
        (
            ev.ContactQueued(workspace="shop", at=1, contact_id="ct-1", queue="sales", priority=0),
            'unknown queue "sales" (known: support)',
        ),
    ],
)
def test_a_bad_event_is_named_with_what_is_wrong(event: ev.Event, problem: str) -> None:
    sb = board()
    received = Switchboard("shop", skills=["en", "de"])
    received.add_queue("support")
    received.submit("support")  # ct-1 waits: nobody is available
    with pytest.raises(RoutingError) as error:
        sb.restore([*received.log, event])
    assert str(error.value).startswith(f"stored event 3: {event.type} at t=1: {problem}. ")


def test_a_router_refuses_an_event_for_an_unknown_agent_with_a_routing_error() -> None:
    sb = board()
    event = ev.AgentStatusChanged(
        workspace="shop", at=1, agent_id="zed", status=AgentStatus.AVAILABLE
    )
    with pytest.raises(RoutingError, match='AgentStatusChanged at t=1: unknown agent "zed"'):
        sb.router.check(event)
    with pytest.raises(RoutingError, match="zed"):
        sb.router.apply(event)  # not a bare KeyError


def test_restore_is_for_a_switchboard_that_has_not_routed_yet() -> None:
    original = board()
    busy_morning(original)
    sb = board()
    sb.set_status("ada", "available")
    with pytest.raises(RoutingError, match="restore into a new switchboard, before any command"):
        sb.restore(original.log)


def test_a_snapshot_of_a_larger_configuration_is_refused() -> None:
    original = board()
    busy_morning(original)
    smaller = Switchboard("shop", skills=["en", "de"])
    smaller.add_queue("support", requirement="en >= 2")
    with pytest.raises(RoutingError) as error:
        smaller.restore(snapshot=original.snapshot())
    assert str(error.value) == (
        'snapshot: unknown agents "ada", "bob" (known: none). Add the missing agents and '
        "queues before restore(); nothing was restored"
    )
    with pytest.raises(RoutingError, match="not a switchboard snapshot"):
        smaller.restore(snapshot=b"rubbish")


# Stepping from deadline to deadline --------------------------------------------------------------


def test_step_fires_one_deadline_so_the_caller_can_react_before_the_next() -> None:
    sb = board()
    sb.set_status("ada", "available")
    sb.set_status("bob", "available")
    sb.submit("support")
    events = sb.step()  # ada's offer times out at 10; bob is offered it, until 20
    assert sb.now == 10
    assert [e.type for e in events] == ["OfferTimedOut", "ContactOffered"]
    sb.accept(sb.offers("bob")[0].id)  # react before bob's offer would time out
    sb.advance(30)
    assert [e.type for e in sb.log].count("OfferTimedOut") == 1


def test_step_within_a_bound_moves_time_only_that_far_when_no_timer_is_due() -> None:
    sb = board()
    sb.set_status("ada", "available")
    sb.submit("support")
    assert sb.step(within=4) == []
    assert sb.now == 4
    assert [e.type for e in sb.step(within=60)] == ["OfferTimedOut"]
    assert sb.now == 10
    # ada, the only agent, is kept from it for no_answer_delay (30 s), then offered it again
    assert [e.type for e in sb.step()] == ["ExclusionEnded", "ContactOffered"]
    assert sb.now == 40
    sb.accept(sb.offers("ada")[0].id)
    assert sb.step() == []  # no timer left: time stays
    assert sb.now == 40


# Looking up one contact --------------------------------------------------------------------------


def test_contact_tells_one_contacts_state_through_its_life() -> None:
    sb = board()
    contact = sb.submit("support", customer="carol")
    waiting = sb.contact(contact.id)
    assert waiting is not None
    assert (waiting.state, waiting.queue, waiting.agent_id, waiting.offers) == (
        ContactState.QUEUED,
        "support",
        None,
        (),
    )
    assert waiting.contact == contact
    sb.set_status("ada", "available")
    offered = sb.contact(contact.id)
    assert offered is not None
    assert offered.state is ContactState.OFFERED
    assert [o.agent_id for o in offered.offers] == ["ada"]
    sb.accept(offered.offers[0].id)
    assert sb.contact(contact.id) == attrs.evolve(
        offered, state=ContactState.ACTIVE, agent_id="ada", offers=()
    )
    sb.end(contact.id)
    assert sb.contact(contact.id).state is ContactState.WRAP_UP  # type: ignore[union-attr]
    sb.close(contact.id)
    assert sb.contact(contact.id) is None  # closed: no longer open
    assert sb.contact("ct-404") is None


# Taking the log away -----------------------------------------------------------------------------


def test_drain_hands_over_the_new_events_and_forgets_them() -> None:
    sb = board()
    stored: list[ev.Event] = []
    first, _ = busy_morning(sb)
    stored += sb.drain()
    assert [e.type for e in stored][:2] == ["AgentStatusChanged", "ContactReceived"]
    assert sb.log == []
    sb.set_status("bob", "available")
    stored += sb.drain()
    assert sb.drain() == []
    with pytest.raises(
        RoutingError, match=r"pass the stored events: explain\(contact_id, events=\.\.\.\)"
    ):
        sb.explain(first)
    assert sb.explain(first, events=stored).chosen == ("ada",)


def test_without_a_kept_log_subscribers_still_see_every_event() -> None:
    sb = Switchboard("shop", keep_log=False)
    sb.add_queue("support")
    sb.add_agent("ada", queues=["support"])
    stored: list[ev.Event] = []
    sb.subscribe(stored.append)
    sb.set_status("ada", "available")
    contact = sb.submit("support")
    assert sb.log == []
    assert len(stored) == 4
    with pytest.raises(RoutingError, match="keep_log=False"):
        sb.explain(contact.id)
    assert sb.explain(contact.id, events=stored).chosen == ("ada",)


# Typed configuration -----------------------------------------------------------------------------


def test_a_misspelt_queue_setting_is_a_type_error_of_add_queue() -> None:
    sb = Switchboard()
    with pytest.raises(
        TypeError, match=r"add_queue\(\) got an unexpected keyword argument 'stiky'"
    ):
        sb.add_queue("support", stiky=30)  # type: ignore[call-arg]
    with pytest.raises(
        TypeError, match=r"add_agent\(\) got an unexpected keyword argument 'skils'"
    ):
        sb.add_agent("ada", skils={"en": 3})  # type: ignore[call-arg]
    assert sb.router.queues == {}


@pytest.mark.parametrize(("method", "cls"), [("add_queue", Queue), ("add_agent", Agent)])
def test_add_queue_and_add_agent_take_every_field_by_name_with_its_default(
    method: str, cls: type[Any]
) -> None:
    parameters = list(inspect.signature(getattr(Switchboard, method)).parameters.values())[2:]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    fields = [f for f in attrs.fields(cls) if f.init and f.name not in ("id", "workspace")]
    assert [p.name for p in parameters] == [f.name for f in fields]
    defaults = {p.name: p.default for p in parameters}
    for field in fields:
        if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            continue  # a mutable default: the signature says None or () for it
        if field.name == "capacity":
            continue
        assert defaults[field.name] == field.default, field.name


def test_mypy_rejects_a_misspelt_setting(tmp_path: Path) -> None:
    report = mypy_strict(
        tmp_path / "typo.py",
        "from trunkline import Switchboard\n"
        "sb = Switchboard()\n"
        'sb.add_queue("support", stiky=30)\n'
        'sb.add_queue("sales", order="random")\n',
    )
    assert 'typo.py:3: error: Unexpected keyword argument "stiky" for "add_queue"' in report
    assert (
        'typo.py:4: error: Argument "order" to "add_queue" of "Switchboard" has incompatible type'
        in report
    )


def test_an_agent_given_no_capacity_takes_nothing_as_in_the_configuration() -> None:
    sb = Switchboard()
    sb.add_queue("support")
    sb.add_agent("ada", queues=["support"])  # the default: one chat at a time
    sb.add_agent("idle", queues=["support"], capacity={})
    assert dict(sb.router.agent("ada").agent.capacity) == {"chat": 1}
    assert dict(sb.router.agent("idle").agent.capacity) == {}
    sb.set_status("idle", "available")
    sb.submit("support")
    assert sb.offers() == []
