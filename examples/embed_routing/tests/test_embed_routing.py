"""The embedded router's decisions: who is offered which contact, and when."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from embed_routing import build_router, chat, main, offers, strategies
from trunkline import AgentStatus, Router, RoutingError
from trunkline import events as ev
from trunkline.routing import (
    AcceptOffer,
    EndContact,
    EnqueueContact,
    RejectOffer,
    SetAgentStatus,
    Tick,
)


def pairs(events: list[ev.Event]) -> list[tuple[str, str]]:
    return [(offer.contact_id, offer.agent_id) for offer in offers(events)]


def available(router: Router, agent_id: str, now: float) -> list[tuple[str, str]]:
    return pairs(router.handle(SetAgentStatus(agent_id, AgentStatus.AVAILABLE), now))


def test_the_built_in_strategies_include_longest_idle() -> None:
    assert "longest-idle" in strategies()


def test_higher_priority_is_offered_before_earlier_arrival() -> None:
    router = build_router()
    router.handle(EnqueueContact(chat("early", "sales")), 0)
    router.handle(EnqueueContact(chat("urgent", "sales", priority=5)), 1)
    assert available(router, "bob", 2) == [("urgent", "bob")]


def test_same_priority_is_first_come_first_served() -> None:
    router = build_router()
    router.handle(EnqueueContact(chat("first", "sales")), 0)
    router.handle(EnqueueContact(chat("second", "sales")), 1)
    assert available(router, "bob", 2) == [("first", "bob")]


def test_a_contact_needing_a_skill_skips_the_agent_without_it() -> None:
    router = build_router()
    available(router, "bob", 0)  # Bob has been idle longest, but does not know billing
    available(router, "alice", 1)
    events = router.handle(EnqueueContact(chat("invoice", "billing")), 2)
    assert pairs(events) == [("invoice", "alice")]


def test_a_contact_waits_while_only_unskilled_agents_are_free() -> None:
    router = build_router()
    router.handle(EnqueueContact(chat("invoice", "billing")), 0)
    assert available(router, "bob", 1) == []
    assert [view.contact.id for view in router.waiting("billing")] == ["invoice"]
    assert available(router, "alice", 2) == [("invoice", "alice")]


def test_without_a_skill_requirement_the_longest_idle_agent_is_chosen() -> None:
    router = build_router()
    available(router, "alice", 0)
    available(router, "bob", 1)
    events = router.handle(EnqueueContact(chat("hello", "sales")), 2)
    assert pairs(events) == [("hello", "alice")]


def test_a_rejected_offer_goes_to_the_other_agent() -> None:
    router = build_router()
    available(router, "alice", 0)
    available(router, "bob", 1)
    (offer,) = offers(router.handle(EnqueueContact(chat("hello", "sales")), 2))
    assert offer.agent_id == "alice"
    events = router.handle(RejectOffer(offer.id, "on a call"), 3)
    assert any(isinstance(e, ev.OfferRejected) and e.agent_id == "alice" for e in events)
    assert pairs(events) == [("hello", "bob")]


def test_an_unanswered_offer_times_out_on_tick_and_goes_to_the_other_agent() -> None:
    router = build_router(offer_timeout=15)
    available(router, "alice", 0)
    available(router, "bob", 1)
    (offer,) = offers(router.handle(EnqueueContact(chat("hello", "sales")), 2))
    assert (offer.agent_id, offer.expires_at) == ("alice", 17)
    assert router.next_deadline() == 17
    assert router.handle(Tick(), 16.9) == []  # not yet
    events = router.handle(Tick(), 17)
    assert [type(e) for e in events] == [ev.OfferTimedOut, ev.ContactOffered]
    assert pairs(events) == [("hello", "bob")]


def test_an_accepted_offer_cannot_be_rejected_afterwards() -> None:
    router = build_router()
    available(router, "alice", 0)
    (offer,) = offers(router.handle(EnqueueContact(chat("hello", "sales")), 1))
    router.handle(AcceptOffer(offer.id), 2)
    with pytest.raises(RoutingError, match="is not open"):
        router.handle(RejectOffer(offer.id), 3)


def test_ending_a_contact_frees_the_agent_for_the_next_one() -> None:
    router = build_router()
    available(router, "alice", 0)
    (offer,) = offers(router.handle(EnqueueContact(chat("one", "billing")), 1))
    router.handle(AcceptOffer(offer.id), 2)
    assert pairs(router.handle(EnqueueContact(chat("two", "billing")), 3)) == []
    assert pairs(router.handle(EndContact("one"), 4)) == [("two", "alice")]


def test_main_prints_the_morning_rush() -> None:
    lines: list[str] = []
    main(out=lines.append)
    decisions = [re.sub(r"^t=\s*\d+\s+", "", line) for line in lines if line.startswith("t=")]
    assert decisions[:3] == [
        "offer   c-vip -> bob (until t=25)",
        "offer   c-early -> alice (until t=26)",
        "bob accepted c-vip",
    ]
    assert "offer   c-early -> bob (until t=28)" in decisions
    assert "offer   c-invoice -> alice (until t=28)" in decisions
    assert "bob let time out c-early" in decisions
    assert lines[-1] == "waiting in sales: c-early"


def test_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "embed_routing"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "offer   c-vip -> bob" in result.stdout
