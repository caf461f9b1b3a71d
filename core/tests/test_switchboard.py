"""The switchboard: routing embedded in an application, with virtual time and subscribers."""

from __future__ import annotations

import pytest

from trunkline import EscalationStep, RoutingError, Switchboard
from trunkline import events as ev


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
