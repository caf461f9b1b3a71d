"""Steps of the runtime's pipelines: plugins add inbound steps and decision steps.

Surveys and delivery reports are built-in plugins' steps, so blocking one turns its messages
into ordinary ones; a third-party step runs exactly like them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from trunkline import (
    Address,
    Claim,
    Contact,
    DecisionStep,
    DeskView,
    FakeClock,
    InboundMessage,
    InboundStep,
    Intake,
    Message,
    PluginError,
    PluginRuntime,
    Runtime,
    hookimpl,
)
from trunkline import events as ev
from trunkline.events import Event
from trunkline.plugins import PluginManager, load_plugins
from trunkline.testing import build_runtime

pytestmark = pytest.mark.anyio
W = "acme"


def config(survey: bool = False) -> dict[str, Any]:
    workspace: dict[str, Any] = {
        "queues": {"support": {"offer_timeout": 10, "wrap_up": 30}},
        "agents": {"alice": {"capacity": {"chat": 5}, "queues": ["support"]}},
        "channels": {"web": {"adapter": "memory", "queue": "support"}},
    }
    if survey:
        workspace["survey"] = {"question": "Rate us 1 to 5", "window": 3600}
    return {"workspaces": {W: workspace}}


def plugins(*extra: tuple[str, object], disable: str = "") -> PluginManager:
    env = {"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1", "TRUNKLINE_DISABLE_PLUGINS": disable}
    return load_plugins(env, extra=list(extra))


async def log_of(runtime: Runtime) -> list[Event]:
    return [s.event for s in await runtime.store.read(W)]


def of_type(events: Sequence[Event], kind: type[Event]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


async def handle_and_close(runtime: Runtime, clock: FakeClock, sender: str) -> str:
    """A customer writes; alice takes the contact, ends and closes it; its id."""
    await runtime.set_agent_status(W, "alice", "available")
    ack = await runtime.channel("web").deliver(sender, "my order is late")
    engine: Any = runtime.desk(W).engine
    offer = next(o for o in engine.offers.values() if o.contact_id == ack.contact_id)
    await runtime.accept(W, offer.id)
    clock.advance(60)
    await runtime.end_contact(W, ack.contact_id)
    clock.advance(5)
    await runtime.close_contact(W, ack.contact_id, "resolved")
    clock.advance(1)
    return ack.contact_id


# A third party's steps -----------------------------------------------------------------------


class CaseReference(InboundStep):
    """A reply quoting a case number ("case ct_…") joins that case, even once closed, and
    every message gets a note naming the contact it joined."""

    name: ClassVar[str] = "case-reference"

    def __init__(self) -> None:
        self.seen: list[Intake] = []

    async def attach(self, intake: Intake) -> Claim | None:
        self.seen.append(intake)
        words = intake.message.body.split()
        if len(words) == 2 and words[0] == "case":
            contact = await intake.runtime.store.contact(W, words[1])
            if contact is not None:
                return Claim(contact, ())
        return None

    async def after(
        self, intake: Intake, contact: Contact, message: Message, *, new_contact: bool
    ) -> Sequence[ev.Event]:
        text = f"{'opened' if new_contact else 'joined'} {contact.id} with {message.id}"
        return [
            ev.NoteAdded(
                workspace=W,
                at=intake.now,
                contact_id=contact.id,
                note_id=f"nt-{message.id}",
                author="case-reference",
                text=text,
            )
        ]


class Plugin:
    def __init__(self, *steps: object) -> None:
        self.steps = steps

    @hookimpl
    def trunkline_register_inbound_steps(self) -> list[Any]:
        return [s for s in self.steps if isinstance(s, InboundStep)]

    @hookimpl
    def trunkline_register_decision_steps(self) -> list[Any]:
        return [s for s in self.steps if isinstance(s, DecisionStep)]


async def test_a_plugins_inbound_step_claims_a_message_for_a_closed_contact_and_adds_events(
    fake_clock: FakeClock,
) -> None:
    step = CaseReference()
    runtime = build_runtime(plugins(("cases", Plugin(step))), config(), clock=fake_clock)
    async with runtime.running():
        closed = await handle_and_close(runtime, fake_clock, "carol")
        ack = await runtime.channel("web").deliver("carol", f"case {closed}")
        other = await runtime.channel("web").deliver("carol", "something new")
        log = await log_of(runtime)
    assert (ack.contact_id, ack.new_contact) == (closed, False)  # joined, nothing opened
    assert other.new_contact
    assert other.contact_id != closed
    [joined] = [e for e in of_type(log, ev.MessageReceived) if e.message.id == ack.message_id]
    assert joined.message.contact_id == closed
    notes = [n.text for n in of_type(log, ev.NoteAdded)]
    assert f"joined {closed} with {ack.message_id}" in notes
    assert f"opened {other.contact_id} with {other.message_id}" in notes
    # The intake the step saw: a known customer, the thread, the workspace's configuration.
    last = step.seen[-1]
    assert not last.new_customer
    assert last.customer.id
    assert last.workspace.workspace.id == W
    assert last.thread_key == "web:memory:carol"


async def test_an_inbound_step_that_raises_is_logged_with_its_name_and_the_message_is_kept(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(InboundStep):
        name: ClassVar[str] = "broken-step"

        async def attach(self, intake: Intake) -> Claim | None:
            raise ValueError("boom")

        async def after(self, *args: Any, **kwargs: Any) -> Sequence[ev.Event]:
            raise ValueError("boom")

    runtime = build_runtime(plugins(("broken", Plugin(Broken()))), config(), clock=fake_clock)
    with caplog.at_level(logging.ERROR, logger="trunkline.runtime"):
        async with runtime.running():
            ack = await runtime.channel("web").deliver("dan", "hello")
            log = await log_of(runtime)
    assert ack.new_contact
    assert [e.message.body for e in of_type(log, ev.MessageReceived)] == ["hello"]
    assert 'inbound step "broken-step" failed' in caplog.text


async def test_a_plugins_decision_step_adds_events_right_after_the_ones_it_follows(
    fake_clock: FakeClock,
) -> None:
    class CloseNote(DecisionStep):
        name: ClassVar[str] = "close-note"
        follows: ClassVar[tuple[type[ev.Event], ...]] = (ev.ContactClosed,)

        async def follow(
            self, event: ev.Event, before: Sequence[ev.Event], desk: DeskView, runtime: Any
        ) -> Sequence[ev.Event]:
            assert isinstance(event, ev.ContactClosed)
            assert desk.owned
            return [
                ev.NoteAdded(
                    workspace=W,
                    at=event.at,
                    contact_id=event.contact_id,
                    note_id="nt-close",
                    author="close-note",
                    text=f"closed after {len(before)} events of the decision",
                )
            ]

    runtime = build_runtime(plugins(("notes", Plugin(CloseNote()))), config(), clock=fake_clock)
    async with runtime.running():
        closed = await handle_and_close(runtime, fake_clock, "erin")
        log = await log_of(runtime)
    types = [e.type for e in log]
    at = types.index("ContactClosed")
    assert types[at + 1] == "NoteAdded"  # in the same decision, right after the close
    [note] = of_type(log, ev.NoteAdded)
    assert note.contact_id == closed


async def test_a_step_that_is_no_step_stops_the_start_up_with_the_hook_named() -> None:
    class NotAStep:
        @hookimpl
        def trunkline_register_inbound_steps(self) -> list[Any]:
            return ["survey"]

    with pytest.raises(PluginError, match=r"trunkline_register_inbound_steps returned 'survey'"):
        build_runtime(plugins(("bad", NotAStep())), config())


# The built-in plugins' steps, blocked ----------------------------------------------------------


async def test_with_the_surveys_plugin_blocked_no_question_is_asked_and_a_rating_is_a_message(
    fake_clock: FakeClock,
) -> None:
    for disable, surveyed in (("", True), ("surveys", False)):
        pm = plugins(disable=disable)
        runtime = build_runtime(pm, config(survey=True), clock=fake_clock)
        async with runtime.running():
            closed = await handle_and_close(runtime, fake_clock, "carol")
            ack = await runtime.channel("web").deliver("carol", "5")
            log = await log_of(runtime)
        assert bool(of_type(log, ev.SurveySent)) is surveyed, disable
        assert bool(of_type(log, ev.SurveyAnswered)) is surveyed, disable
        assert ack.new_contact is not surveyed  # blocked: the rating opens a contact
        assert (ack.contact_id == closed) is surveyed


async def test_with_the_delivery_reports_plugin_blocked_a_report_is_only_a_message(
    fake_clock: FakeClock,
) -> None:
    for disable, fails in (("", True), ("delivery-reports", False)):
        runtime = build_runtime(plugins(disable=disable), config(), clock=fake_clock)
        async with runtime.running():
            ack = await runtime.channel("web").deliver("fay", "where is it?")
            reply = await runtime.reply(W, ack.contact_id, "on its way")
            report = InboundMessage(
                channel="web",
                sender=Address("memory", "fay"),
                body="undeliverable",
                fails_message=reply.id,
                failure="550 no such user",
            )
            stored = await runtime.receive(report)
            log = await log_of(runtime)
        assert stored.contact_id == ack.contact_id
        failed = [e.message_id for e in of_type(log, ev.MessageFailed)]
        assert failed == ([reply.id] if fails else []), disable


# What plugins see of the runtime ---------------------------------------------------------------


def _members(protocol: type) -> set[str]:
    return {
        name
        for name, _ in inspect.getmembers(protocol)
        if not name.startswith("_") and name not in dir(object)
    }


def test_the_runtime_has_every_member_the_plugin_runtime_protocol_promises() -> None:
    promised = _members(PluginRuntime)
    assert {"store", "desks", "receive", "reply", "subscribe", "signal"} <= promised
    assert not {"submit", "decide", "start_routing", "take_over", "ledger"} & promised
    runtime = build_runtime(plugins(), config())
    missing = sorted(name for name in promised if not hasattr(runtime, name))
    assert missing == []


async def test_each_desk_has_what_the_desk_view_protocol_promises() -> None:
    runtime = build_runtime(plugins(), config())
    async with runtime.running():
        desk = runtime.desk(W)
        assert {"config", "engine", "owned"} == _members(DeskView)
        assert (desk.config.workspace.id, desk.owned) == (W, True)
        assert desk.engine.queues.keys() == {"support"}
