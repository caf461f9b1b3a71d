"""The runtime: inbound pipeline, durable-before-ack, offers in real time, outbox, isolation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from trunkline import (
    Address,
    Attachment,
    Classification,
    FakeClock,
    InboundMalformed,
    InboundMessage,
    InboundRejected,
    PermanentSendError,
    Runtime,
    TemporaryFailure,
    TrunklineError,
    hookimpl,
)
from trunkline import events as ev
from trunkline.builtin.memory_store import MemoryStore
from trunkline.events import Event
from trunkline.plugins import PluginManager, load_plugins
from trunkline.testing import build_runtime, wait_for_event
from trunkline.testing.plugin import MEMORY_CONFIG

pytestmark = pytest.mark.anyio
W = "acme"


def of_type(events: Sequence[Event], kind: type[Event]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


async def stored(runtime: Runtime) -> list[Event]:
    return [s.event for s in await runtime.store.read(W)]


async def settle() -> None:
    """Let background tasks (ticker, outbox, observers) run."""
    for _ in range(20):
        await anyio.lowlevel.checkpoint()


async def test_ack_comes_after_the_message_is_stored(memory_runtime: Runtime) -> None:
    ack = await memory_runtime.channel("web").deliver("carol", "my order is late", provider_id="p1")
    log = await stored(memory_runtime)
    received = of_type(log, ev.MessageReceived)
    assert [m.message.id for m in received] == [ack.message_id]
    assert of_type(log, ev.ContactQueued)[0].contact_id == ack.contact_id


async def test_contact_is_offered_to_the_longest_idle_agent(
    memory_runtime: Runtime, fake_clock: FakeClock
) -> None:
    await memory_runtime.set_agent_status(W, "bob", "available")
    fake_clock.advance(5)
    await memory_runtime.set_agent_status(W, "alice", "available")
    events = memory_runtime.subscribe()
    await memory_runtime.channel("web").deliver("carol", "hello")
    offered = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
    assert offered.offer.agent_id == "bob"  # type: ignore[attr-defined]


async def test_offer_times_out_in_time_and_goes_to_the_next_agent(
    memory_runtime: Runtime, fake_clock: FakeClock
) -> None:
    await memory_runtime.set_agent_status(W, "alice", "available")
    fake_clock.advance(1)
    await memory_runtime.set_agent_status(W, "bob", "available")
    events = memory_runtime.subscribe()
    await memory_runtime.channel("web").deliver("carol", "hello")
    first = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
    assert first.offer.agent_id == "alice"  # type: ignore[attr-defined]
    fake_clock.advance(9.5)
    await settle()
    assert not of_type(await stored(memory_runtime), ev.OfferTimedOut)
    fake_clock.advance(0.5)  # offer_timeout is 10 s
    await wait_for_event(events, lambda e: isinstance(e, ev.OfferTimedOut))
    second = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
    assert second.offer.agent_id == "bob"  # type: ignore[attr-defined]


async def test_a_message_delivered_late_is_routed_at_the_runtimes_clock(
    memory_runtime: Runtime, fake_clock: FakeClock
) -> None:
    await memory_runtime.set_agent_status(W, "alice", "available")
    events = memory_runtime.subscribe()
    now = fake_clock.now()
    late = InboundMessage(
        channel="web", sender=Address("memory", "carol"), body="hi", received_at=now - 630
    )
    ack = await memory_runtime.receive(late)
    offered = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
    offer = offered.offer  # type: ignore[attr-defined]
    assert offer.created_at == now
    assert offer.expires_at == now + 10  # the queue's offer_timeout, from now
    log = await stored(memory_runtime)
    (message,) = [e.message for e in of_type(log, ev.MessageReceived)]
    assert (message.created_at, message.sent_at) == (now, now - 630)  # the customer's time kept
    (received,) = of_type(log, ev.ContactReceived)
    assert (received.at, received.contact.created_at) == (now, now)
    assert of_type(log, ev.ContactQueued)[0].at == now  # waits run from the runtime's time
    fake_clock.advance(3)
    accepted = await memory_runtime.accept(W, offer.id)
    assert [e.type for e in accepted] == ["OfferAccepted"]
    assert ack.new_contact


async def test_a_late_message_missed_by_the_only_agent_is_offered_to_them_again(
    make_runtime: Callable[..., Runtime], fake_clock: FakeClock
) -> None:
    runtime = make_runtime()
    async with runtime.running():
        await runtime.set_agent_status(W, "bob", "available")
        events = runtime.subscribe()
        late = InboundMessage(
            channel="web",
            sender=Address("memory", "dan"),
            body="hallo",
            received_at=fake_clock.now() - 630,
        )
        await runtime.receive(late)
        first = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
        assert first.offer.agent_id == "bob"  # type: ignore[attr-defined]
        fake_clock.advance(10)  # bob does not answer: kept from it for no_answer_delay (30 s)
        await wait_for_event(events, lambda e: isinstance(e, ev.OfferTimedOut))
        fake_clock.advance(30)
        await wait_for_event(events, lambda e: isinstance(e, ev.ExclusionEnded))
        again = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
        assert again.offer.agent_id == "bob"  # type: ignore[attr-defined]
        assert again.offer.expires_at > again.offer.created_at == fake_clock.now()  # type: ignore[attr-defined]


async def test_a_provider_time_that_is_not_a_time_is_dropped_and_the_message_kept(
    memory_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    odd = InboundMessage(
        channel="web", sender=Address("memory", "eve"), body="?", received_at=float("nan")
    )
    with caplog.at_level(logging.WARNING, logger="trunkline.runtime"):
        ack = await memory_runtime.receive(odd)
    (message,) = [e.message for e in of_type(await stored(memory_runtime), ev.MessageReceived)]
    assert (message.id, message.sent_at) == (ack.message_id, None)
    assert 'channel "web": received_at nan is not a time' in caplog.text


async def test_concurrent_redeliveries_store_one_message(memory_runtime: Runtime) -> None:
    acks = []

    async def deliver() -> None:
        acks.append(await memory_runtime.channel("web").deliver("dan", "twice", provider_id="dup"))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(deliver)
    assert len({(a.contact_id, a.message_id) for a in acks}) == 1
    assert sum(not a.duplicate for a in acks) == 1
    assert len(of_type(await stored(memory_runtime), ev.MessageReceived)) == 1
    assert len(of_type(await stored(memory_runtime), ev.CustomerCreated)) == 1


async def test_messages_of_one_customer_join_the_open_contact_until_it_closes(
    memory_runtime: Runtime,
) -> None:
    web = memory_runtime.channel("web")
    first = await web.deliver("erin", "one")
    second = await web.deliver("erin", "two")
    assert second.contact_id == first.contact_id
    await memory_runtime.abandon(W, first.contact_id)
    third = await web.deliver("erin", "three")
    assert third.new_contact
    assert third.contact_id != first.contact_id
    customers = {e.customer.id for e in of_type(await stored(memory_runtime), ev.CustomerCreated)}
    assert len(customers) == 1  # the same customer, a new contact


async def test_full_conversation_is_recorded_as_events(memory_runtime: Runtime) -> None:
    events = memory_runtime.subscribe()
    await memory_runtime.set_agent_status(W, "alice", "available")
    ack = await memory_runtime.channel("web").deliver("fay", "help")
    offer = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
    await memory_runtime.accept(W, offer.offer.id)  # type: ignore[attr-defined]
    reply = await memory_runtime.reply(W, ack.contact_id, "on it")
    await wait_for_event(events, lambda e: isinstance(e, ev.MessageSent))
    await memory_runtime.end_contact(W, ack.contact_id)  # wrap_up is 0: closes at once
    kinds = [type(e).__name__ for e in await stored(memory_runtime)]
    assert kinds == [
        "AgentStatusChanged",
        "CustomerCreated",
        "ContactReceived",
        "MessageReceived",
        "ContactQueued",
        "ContactOffered",
        "OfferAccepted",
        "OutboundQueued",
        "MessageSent",
        "ContactEnded",
        "WrapUpEnded",
        "ContactClosed",
    ]
    bodies = [m.body for m in await memory_runtime.store.messages(W, ack.contact_id)]
    assert bodies == ["help", "on it"]
    assert memory_runtime.channel("web").sent[0][1].message_id == reply.id


async def test_outbox_retries_with_backoff_then_sends(
    memory_runtime: Runtime, fake_clock: FakeClock
) -> None:
    web = memory_runtime.channel("web")
    ack = await web.deliver("gus", "hi")
    web.fail_next(ConnectionError("provider down"), times=2)
    events = memory_runtime.subscribe()
    message = await memory_runtime.reply(W, ack.contact_id, "answer")
    failed = await wait_for_event(events, lambda e: isinstance(e, ev.SendAttemptFailed))
    assert failed.attempt == 1  # type: ignore[attr-defined]
    assert failed.retry_at == pytest.approx(fake_clock.now() + 1.0)  # type: ignore[attr-defined]
    fake_clock.advance(1.0)
    second = await wait_for_event(events, lambda e: isinstance(e, ev.SendAttemptFailed))
    assert second.attempt == 2  # type: ignore[attr-defined]
    assert second.retry_at == pytest.approx(fake_clock.now() + 2.0)  # type: ignore[attr-defined]
    fake_clock.advance(2.0)
    sent = await wait_for_event(events, lambda e: isinstance(e, ev.MessageSent))
    assert sent.message_id == message.id  # type: ignore[attr-defined]
    assert [m.body for _, m in web.sent] == ["answer"]


async def test_permanent_send_failure_is_recorded_and_not_retried(memory_runtime: Runtime) -> None:
    web = memory_runtime.channel("web")
    ack = await web.deliver("hal", "hi")
    web.fail_next(PermanentSendError("address does not exist"))
    events = memory_runtime.subscribe()
    await memory_runtime.reply(W, ack.contact_id, "answer")
    failed = await wait_for_event(events, lambda e: isinstance(e, ev.MessageFailed))
    assert "address does not exist" in failed.error  # type: ignore[attr-defined]
    assert await memory_runtime.store.outbox_due(float("inf")) == []
    assert web.sent == []


async def test_outbox_gives_up_after_max_attempts(
    trunkline_pm: PluginManager, fake_clock: FakeClock
) -> None:
    data = {**MEMORY_CONFIG, "outbox": {"max_attempts": 2, "backoff": 0.5}}
    runtime = build_runtime(trunkline_pm, data, clock=fake_clock)
    async with runtime.running():
        web = runtime.channel("web")
        ack = await web.deliver("ida", "hi")
        web.fail_next(TimeoutError("slow"), times=5)
        events = runtime.subscribe()
        await runtime.reply(W, ack.contact_id, "answer")
        await wait_for_event(events, lambda e: isinstance(e, ev.SendAttemptFailed))
        fake_clock.advance(0.5)
        failed = await wait_for_event(events, lambda e: isinstance(e, ev.MessageFailed))
        assert "gave up after 2 attempts" in failed.error  # type: ignore[attr-defined]


# Plugins that misbehave --------------------------------------------------------------------


class Crashes:
    """A plugin whose hooks raise: it must be isolated, logged by name, and lose nothing."""

    @hookimpl
    async def trunkline_classify(self) -> None:
        raise RuntimeError("classifier exploded")

    @hookimpl
    def trunkline_score_agents(self) -> None:
        raise ZeroDivisionError("scorer exploded")

    @hookimpl
    async def trunkline_contact_event(self, event: Event) -> None:
        raise RuntimeError(f"observer exploded on {event.type}")


async def test_a_plugin_that_raises_is_isolated(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("crashy", Crashes())])
    runtime = build_runtime(pm, MEMORY_CONFIG, clock=fake_clock)
    caplog.set_level(logging.ERROR, logger="trunkline")
    async with runtime.running():
        events = runtime.subscribe()
        await runtime.set_agent_status(W, "alice", "available")
        ack = await runtime.channel("web").deliver("jo", "still routed?")
        offered = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
        assert offered.offer.contact_id == ack.contact_id  # type: ignore[attr-defined]
        await settle()
    messages = [r.getMessage() for r in caplog.records]
    assert any('plugin "crashy" raised in trunkline_classify' in m for m in messages)
    assert any('plugin "crashy" raised in trunkline_score_agents' in m for m in messages)
    assert any('plugin "crashy" raised in trunkline_contact_event' in m for m in messages)


class Gatekeeper:
    @hookimpl
    def trunkline_inbound_filter(self, message: Any) -> str | None:
        return "spam is refused" if "WIN A PRIZE" in message.body else None


async def test_filtered_message_is_refused_and_nothing_is_stored(fake_clock: FakeClock) -> None:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("gate", Gatekeeper())])
    runtime = build_runtime(pm, MEMORY_CONFIG, clock=fake_clock)
    async with runtime.running():
        kept = await runtime.channel("web").deliver("kim", "a real question")
        before = await stored(runtime)
        with pytest.raises(InboundRejected, match="spam is refused"):
            await runtime.channel("web").deliver("spammer", "WIN A PRIZE now")
        assert await stored(runtime) == before
        assert await runtime.store.contact(W, kept.contact_id) is not None


async def test_a_nul_in_a_sender_or_provider_id_is_refused_as_malformed_and_nothing_is_stored(
    trunkline_pm: PluginManager, fake_clock: FakeClock
) -> None:
    runtime = build_runtime(trunkline_pm, MEMORY_CONFIG, clock=fake_clock)
    async with runtime.running():
        kept = await runtime.channel("web").deliver("kim", "a real question")
        before = await stored(runtime)
        with pytest.raises(InboundMalformed, match="the sender contains a NUL character") as nul:
            await runtime.channel("web").deliver("k\x00m", "hello")
        assert (nul.value.field, isinstance(nul.value, InboundRejected)) == ("sender", True)
        with pytest.raises(InboundMalformed, match="the provider id contains a NUL character"):
            await runtime.receive(
                InboundMessage(channel="web", sender=Address("memory", "lee"), provider_id="a\x00")
            )
        # A NUL in the text is kept: only the keys the store looks messages up by refuse it.
        assert (await runtime.channel("web").deliver("lee", "a\x00b")).new_contact
        assert await stored(runtime) != before
        assert await runtime.store.contact(W, kept.contact_id) is not None


SQLITE_CONFIG = {**MEMORY_CONFIG, "store": {"backend": "sqlite", "path": "PATH"}}


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"provider_id": "m-\udfff"}, "provider_id", "the provider id contains a lone UTF-16"),
        ({"sender": "ann\ud800"}, "sender", "the sender contains a lone UTF-16 surrogate U+D800"),
        ({"thread_hint": "\ud800"}, "thread_hint", "U+D800 (at character 1)"),
        ({"subject": "caf\udce9"}, "subject", "(at character 4: the byte 0xE9, which is not"),
        ({"body": "hi \udc80"}, "body", "the body contains a lone UTF-16 surrogate U+DC80"),
        (
            {"attachments": (Attachment("a\ud83d.png", "image/png", 1, "0" * 64),)},
            "attachments",
            "the name of attachment 1 contains",
        ),
        ({"attributes": {"name": "\udfff"}}, "attributes", 'the attribute "name" contains'),
        (
            {"attributes": {"order": {"lines": ["ok", "\ud800"]}}},
            "attributes",
            'the attribute "order.lines[1]" contains',
        ),
        ({"attributes": {"\ud800": 1}}, "attributes", "the name of an attribute contains"),
    ],
)
async def test_a_string_no_store_can_encode_is_refused_as_malformed_and_nothing_is_lost(
    trunkline_pm: PluginManager,
    fake_clock: FakeClock,
    tmp_path: Path,
    fields: dict[str, Any],
    field: str,
    error: str,
) -> None:
    # SQLite encodes its keys as UTF-8: a lone surrogate there was a UnicodeEncodeError in the
    # lookup, which looked like the store's failure (a retry for ever). Now it is bad input.
    config = {**SQLITE_CONFIG, "store": {"backend": "sqlite", "path": str(tmp_path / "t.db")}}
    runtime = build_runtime(trunkline_pm, config, clock=fake_clock)
    async with runtime.running():
        kept = await runtime.channel("web").deliver("kim", "a real question", provider_id="k-1")
        before = await stored(runtime)
        given = dict(fields)
        sender = given.pop("sender", "lee")
        message = InboundMessage(channel="web", sender=Address("memory", sender), **given)
        with pytest.raises(InboundMalformed) as refused:
            await runtime.receive(message)
        assert error in str(refused.value)
        assert refused.value.field == field
        str(refused.value).encode("utf-8")  # the error itself never carries the bad string
        assert refused.value.problem in str(refused.value)
        assert "send valid Unicode text (UTF-8)" in str(refused.value)
        assert await stored(runtime) == before
        assert await runtime.store.contact(W, kept.contact_id) is not None
        again = await runtime.channel("web").deliver("kim", "a real question", provider_id="k-1")
        assert again.duplicate


class FailingStore(MemoryStore):
    """A memory store that can be told to refuse appends, like a full disk."""

    fail = False

    async def append(self, events: Sequence[Event]) -> int:
        if self.fail:
            raise OSError(28, "No space left on device")
        return await super().append(events)


async def test_store_failure_is_a_temporary_failure_and_loses_nothing(
    trunkline_pm: PluginManager, fake_clock: FakeClock
) -> None:
    store = FailingStore()
    runtime = build_runtime(trunkline_pm, MEMORY_CONFIG, clock=fake_clock)
    runtime.store = store
    async with runtime.running():
        web = runtime.channel("web")
        kept = await web.deliver("lea", "first")
        store.fail = True
        with pytest.raises(TemporaryFailure, match="No space left"):
            await web.deliver("max", "second")
        with pytest.raises(TemporaryFailure):
            await runtime.set_agent_status(W, "alice", "available")
        store.fail = False
        # The engine was rebuilt from the store: "max" never happened, "lea" still waits.
        engine = runtime.desk(W).engine
        assert [v.contact.id for v in engine.waiting("support")] == [kept.contact_id]  # type: ignore[attr-defined]
        retried = await web.deliver("max", "second")
        events = runtime.subscribe()
        await runtime.set_agent_status(W, "alice", "available")
        offered = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
        assert offered.offer.contact_id == kept.contact_id  # type: ignore[attr-defined]
        assert retried.new_contact


async def test_restart_rebuilds_routing_state_from_the_store(
    trunkline_pm: PluginManager, fake_clock: FakeClock
) -> None:
    store = MemoryStore()
    first = build_runtime(trunkline_pm, MEMORY_CONFIG, clock=fake_clock)
    first.store = store
    async with first.running():
        await first.set_agent_status(W, "alice", "available")
        a = await first.channel("web").deliver("ned", "one")
        b = await first.channel("web").deliver("ola", "two")
    second = build_runtime(trunkline_pm, MEMORY_CONFIG, clock=fake_clock)
    second.store = store
    async with second.running():
        engine: Any = second.desk(W).engine
        assert engine.agent("alice").status.value == "available"
        assert {o.contact_id for o in engine.offers.values()} == {a.contact_id}
        assert [v.contact.id for v in engine.waiting("support")] == [b.contact_id]
        offer_id = next(iter(engine.offers))
        await second.accept(W, offer_id)  # the offer made before the restart is still good


async def test_a_crashing_channel_is_restarted(
    trunkline_pm: PluginManager, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = build_runtime(trunkline_pm, MEMORY_CONFIG, clock=fake_clock)
    web = runtime.channel("web")
    original: Callable[..., Any] = web.run
    calls = 0

    async def run(inbound: Any, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            task_status.started()
            raise ConnectionResetError("provider hung up")
        await original(inbound, task_status=task_status)

    web.run = run
    caplog.set_level(logging.ERROR, logger="trunkline")
    async with runtime.running():
        with anyio.fail_after(5):
            ack = await web.deliver("pat", "are you back?")
        assert ack.new_contact
    assert calls == 2
    assert any('channel "web" (adapter "memory") crashed' in r.getMessage() for r in caplog.records)


class Classifier:
    @hookimpl
    async def trunkline_classify(self, contact: Any, message: Any) -> Classification | None:
        await anyio.lowlevel.checkpoint()  # an async implementation is awaited by core
        if "rechnung" in message.body.lower():
            return Classification(
                required_skills={"de": 3}, priority=2, attributes={"topic": "billing"}
            )
        return None


async def test_async_classification_shapes_routing(fake_clock: FakeClock) -> None:
    pm = load_plugins(
        {"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("classifier", Classifier())]
    )
    runtime = build_runtime(pm, MEMORY_CONFIG, clock=fake_clock)
    async with runtime.running():
        events = runtime.subscribe()
        await runtime.set_agent_status(W, "alice", "available")  # no German
        await runtime.set_agent_status(W, "bob", "available")  # de 4
        ack = await runtime.channel("web").deliver("uwe", "Frage zur Rechnung")
        offered = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
        assert offered.offer.agent_id == "bob"  # type: ignore[attr-defined]
        contact = await runtime.store.contact(W, ack.contact_id)
        assert contact is not None
        assert contact.attributes["topic"] == "billing"
        assert contact.priority == 2


async def test_a_reply_unsent_when_the_process_stopped_is_sent_once_after_a_restart(
    trunkline_pm: PluginManager, fake_clock: FakeClock, tmp_path: Path
) -> None:
    data = {**MEMORY_CONFIG, "store": {"backend": "sqlite", "path": str(tmp_path / "t.db")}}
    first = build_runtime(trunkline_pm, data, clock=fake_clock)
    async with first.running():
        web = first.channel("web")
        ack = await web.deliver("ivy", "hi")
        web.fail_next(ConnectionError("provider down"), times=100)
        events = first.subscribe()
        message = await first.reply(W, ack.contact_id, "answer")
        await wait_for_event(events, lambda e: isinstance(e, ev.SendAttemptFailed))
        assert web.sent == []
    fake_clock.advance(60)  # the retry is due by the time the centre is back
    second = build_runtime(trunkline_pm, data, clock=fake_clock)
    async with second.running():
        events = second.subscribe()
        sent = await wait_for_event(events, lambda e: isinstance(e, ev.MessageSent))
        assert sent.message_id == message.id  # type: ignore[attr-defined]
        web = second.channel("web")
        assert [(m.body, m.dedupe_key) for _, m in web.sent] == [("answer", message.id)]
        assert await second.store.outbox_due(float("inf")) == []


async def test_a_delivery_report_fails_only_an_outbound_message_of_its_contact(
    memory_runtime: Runtime,
) -> None:
    web = memory_runtime.channel("web")
    ack = await web.deliver("carol", "my order is late")
    reply = await memory_runtime.reply(W, ack.contact_id, "it ships today")
    other = await web.deliver("dave", "and mine?")
    other_reply = await memory_runtime.reply(W, other.contact_id, "also today")

    def report(names: str, n: int) -> InboundMessage:
        return InboundMessage(
            channel="web",
            sender=Address("memory", "carol"),  # joins carol's open contact
            body=f"report {n}",
            provider_id=f"dsn-{n}",
            fails_message=names,
            failure="550 5.1.1 user unknown",
        )

    await memory_runtime.receive(report(ack.message_id, 1))  # the customer's own message
    await memory_runtime.receive(report(other_reply.id, 2))  # another contact's reply
    await memory_runtime.receive(report("ms_nonexistent", 3))
    assert of_type(await stored(memory_runtime), ev.MessageFailed) == []
    stored_report = await memory_runtime.receive(report(reply.id, 4))
    [failed] = of_type(await stored(memory_runtime), ev.MessageFailed)
    assert (failed.message_id, failed.error) == (reply.id, "550 5.1.1 user unknown")
    # The report itself is a message of the contact, as any other: agents see it.
    assert stored_report.contact_id == ack.contact_id


async def test_a_reply_longer_than_the_channel_carries_is_refused_and_nothing_is_stored(
    memory_runtime: Runtime,
) -> None:
    web = memory_runtime.channel("web")  # the memory channel carries 4096 characters
    ack = await web.deliver("rae", "tell me everything")
    before = await stored(memory_runtime)
    with pytest.raises(TrunklineError, match=r"10000 characters long; .*at most 4096"):
        await memory_runtime.reply(W, ack.contact_id, "x" * 10_000)
    assert await stored(memory_runtime) == before  # nothing queued, nothing to show
    assert await memory_runtime.store.outbox_due(float("inf")) == []
    fits = await memory_runtime.reply(W, ack.contact_id, "y" * 4096)
    messages = await memory_runtime.store.messages(W, ack.contact_id)
    assert [m.body for m in messages] == ["tell me everything", "y" * 4096]
    assert messages[-1].id == fits.id
