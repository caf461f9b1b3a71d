"""CSAT surveys: asked after close on the contact's own channel, answered by a rating."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trunkline import (
    Address,
    Capabilities,
    ConfigError,
    Contact,
    Direction,
    FakeClock,
    Runtime,
    TemporaryFailure,
    hookimpl,
)
from trunkline import events as ev
from trunkline.builtin.memory_channel import MemoryChannel
from trunkline.builtin.memory_store import MemoryStore
from trunkline.events import Event
from trunkline.plugins import PluginManager, load_plugins
from trunkline.routing import EnqueueContact
from trunkline.survey import MAX_ANSWER_LENGTH, SurveySettings, parse_rating
from trunkline.testing import build_runtime, wait_for_event

pytestmark = pytest.mark.anyio
W = "acme"
WINDOW = 3600.0
QUESTION = "How did we do? Reply 1 (poor) to 5 (great)."


class SendlessChannel(MemoryChannel):
    """A memory channel that only receives, like a read-only feed."""

    name: ClassVar[str] = "sendless"
    capabilities = Capabilities(inbound=True, outbound=False)


class SendlessPlugin:
    @hookimpl
    def trunkline_register_channels(self) -> list[type[Any]]:
        return [SendlessChannel]


def config(**survey: Any) -> dict[str, Any]:
    """One queue with 30 s of wrap-up, one agent, a chat channel and a send-less one."""
    workspace: dict[str, Any] = {
        "queues": {"support": {"offer_timeout": 10, "wrap_up": 30}},
        "agents": {"alice": {"capacity": {"chat": 5}, "queues": ["support"]}},
        "channels": {
            "web": {"adapter": "memory", "queue": "support"},
            "feed": {"adapter": "sendless", "queue": "support"},
        },
    }
    if not survey.pop("off", False):
        workspace["survey"] = {"question": QUESTION, "window": WINDOW, **survey}
    return {"workspaces": {W: workspace}}


@pytest.fixture
def pm() -> PluginManager:
    return load_plugins(
        {"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("sendless", SendlessPlugin())]
    )


class RecordingStore(MemoryStore):
    """A memory store that remembers each append's batch and can be told to refuse them."""

    fail = False

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    async def append(self, events: Sequence[Event]) -> int:
        if self.fail:
            raise OSError(28, "No space left on device")
        self.batches.append([e.type for e in events])
        return await super().append(events)


@asynccontextmanager
async def running(
    pm: PluginManager,
    clock: FakeClock,
    data: Mapping[str, Any] | None = None,
    store: MemoryStore | None = None,
) -> AsyncIterator[Runtime]:
    runtime = build_runtime(pm, config() if data is None else data, clock=clock)
    if store is not None:
        runtime.store = store
    async with runtime.running():
        yield runtime


async def log_of(runtime: Runtime) -> list[Event]:
    return [s.event for s in await runtime.store.read(W)]


def of_type(events: Sequence[Event], kind: type[Event]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


async def stored(runtime: Runtime, kind: type[Event]) -> list[Any]:
    """The events of ``kind`` in the log, waiting for the first if there is none yet."""
    with runtime.subscribe() as events:  # before reading: nothing stored after slips by
        if not (found := of_type(await log_of(runtime), kind)):
            await wait_for_event(events, lambda e: isinstance(e, kind))
            found = of_type(await log_of(runtime), kind)
    return found


async def handle(
    runtime: Runtime,
    clock: FakeClock,
    sender: str,
    *,
    channel: str = "web",
    close: str = "agent",
) -> str:
    """A customer writes, alice takes it, ends it and closes it; the contact's id.

    ``close="agent"`` closes with a disposition; ``"timer"`` lets wrap-up run out.
    """
    await runtime.set_agent_status(W, "alice", "available")
    ack = await runtime.channel(channel).deliver(sender, "my order is late")
    clock.advance(1)
    engine: Any = runtime.desk(W).engine
    offer = next(o for o in engine.offers.values() if o.contact_id == ack.contact_id)
    await runtime.accept(W, offer.id)
    clock.advance(60)
    await runtime.end_contact(W, ack.contact_id)
    if close == "agent":
        clock.advance(5)
        await runtime.close_contact(W, ack.contact_id, "resolved")
    else:
        clock.advance(30)  # the queue's wrap_up: the ticker closes it
        await stored(runtime, ev.ContactClosed)
    clock.advance(1)
    return ack.contact_id


# Asking ------------------------------------------------------------------------------------


async def test_closing_a_contact_asks_the_question_on_its_channel_in_the_same_append(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    store = RecordingStore()
    async with running(pm, fake_clock, store=store) as runtime:
        contact_id = await handle(runtime, fake_clock, "carol")
        web = runtime.channel("web")
        await stored(runtime, ev.MessageSent)
        log = await log_of(runtime)
    batch = next(b for b in store.batches if "ContactClosed" in b)
    at = batch.index("ContactClosed")
    assert batch[at : at + 3] == ["ContactClosed", "OutboundQueued", "SurveySent"]
    closed = of_type(log, ev.ContactClosed)[0]
    (queued,) = of_type(log, ev.OutboundQueued)
    (sent,) = of_type(log, ev.SurveySent)
    assert (sent.contact_id, sent.message_id, sent.scale) == (contact_id, queued.message.id, 5)
    assert sent.expires_at == closed.at + WINDOW
    assert queued.to == Address("memory", "carol")
    assert [(to.value, m.body, m.contact_id) for to, m in web.sent] == [
        ("carol", QUESTION, contact_id)
    ]
    assert of_type(log, ev.MessageSent)[0].message_id == queued.message.id


async def test_a_contact_closed_when_wrap_up_runs_out_is_surveyed_too(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock) as runtime:
        contact_id = await handle(runtime, fake_clock, "carol", close="timer")
        (sent,) = await stored(runtime, ev.SurveySent)
        (closed,) = of_type(await log_of(runtime), ev.ContactClosed)
    assert sent.contact_id == contact_id
    assert closed.disposition is None


async def test_no_survey_after_an_abandoned_contact(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock) as runtime:
        ack = await runtime.channel("web").deliver("carol", "hello?")  # nobody is available
        fake_clock.advance(30)
        await runtime.abandon(W, ack.contact_id)
        log = await log_of(runtime)
    assert of_type(log, ev.ContactAbandoned)
    assert of_type(log, ev.SurveySent) == of_type(log, ev.OutboundQueued) == []


async def test_no_survey_after_a_refused_contact(pm: PluginManager, fake_clock: FakeClock) -> None:
    data = config()
    data["workspaces"][W]["queues"]["support"]["when_no_agents"] = "refuse"
    async with running(pm, fake_clock, data) as runtime:
        await runtime.channel("web").deliver("carol", "anyone there?")
        log = await log_of(runtime)
    assert of_type(log, ev.ContactRefused)
    assert of_type(log, ev.SurveySent) == []


async def test_no_survey_when_the_workspace_has_none(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock, config(off=True)) as runtime:
        await handle(runtime, fake_clock, "carol")
        log = await log_of(runtime)
    assert of_type(log, ev.ContactClosed)
    assert of_type(log, ev.SurveySent) == of_type(log, ev.OutboundQueued) == []


async def test_no_survey_on_a_channel_that_cannot_send(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock) as runtime:
        assert not runtime.channel("feed").capabilities.outbound
        await handle(runtime, fake_clock, "carol", channel="feed")
        log = await log_of(runtime)
    assert of_type(log, ev.ContactClosed)
    assert of_type(log, ev.SurveySent) == []


async def test_the_survey_goes_only_to_the_channels_it_names(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    data = config(channels=["web"])
    data["workspaces"][W]["channels"]["chat2"] = {"adapter": "memory", "queue": "support"}
    async with running(pm, fake_clock, data) as runtime:
        await handle(runtime, fake_clock, "dave", channel="chat2")
        assert of_type(await log_of(runtime), ev.SurveySent) == []
        surveyed = await handle(runtime, fake_clock, "erin", channel="web")
        assert [s.contact_id for s in of_type(await log_of(runtime), ev.SurveySent)] == [surveyed]


async def test_no_survey_after_an_outbound_contact(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    contact = Contact(
        id="ct_outbound",
        workspace=W,
        channel="web",
        channel_kind="chat",
        direction=Direction.OUTBOUND,
        customer_id="",
        address=Address("memory", "carol"),
        queue="support",
    )
    async with running(pm, fake_clock) as runtime:
        await runtime.set_agent_status(W, "alice", "available")
        await runtime.command(W, EnqueueContact(contact))
        engine: Any = runtime.desk(W).engine
        offer = next(iter(engine.offers.values()))
        await runtime.accept(W, offer.id)
        await runtime.end_contact(W, contact.id)
        await runtime.close_contact(W, contact.id, "resolved")
        log = await log_of(runtime)
    assert of_type(log, ev.ContactClosed)
    assert of_type(log, ev.SurveySent) == []


async def test_the_default_question_names_the_scale(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    data = config(scale=10)
    del data["workspaces"][W]["survey"]["question"]
    async with running(pm, fake_clock, data) as runtime:
        await handle(runtime, fake_clock, "carol")
        (queued,) = await stored(runtime, ev.OutboundQueued)
    assert queued.message.body == (
        "How did we do? Reply with a number from 1 (poor) to 10 (great)."
    )


# Answering ---------------------------------------------------------------------------------


async def test_a_rating_answers_the_survey_on_the_closed_contact(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock) as runtime:
        contact_id = await handle(runtime, fake_clock, "carol")
        before = len(of_type(await log_of(runtime), ev.ContactReceived))
        ack = await runtime.channel("web").deliver("carol", " 4/5 - quick, thanks ")
        log = await log_of(runtime)
        assert await runtime.store.open_contact(W, "web:memory:carol") is None
        messages = await runtime.store.messages(W, contact_id)
    assert (ack.contact_id, ack.new_contact, ack.duplicate) == (contact_id, False, False)
    assert len(of_type(log, ev.ContactReceived)) == before  # no new contact
    (answered,) = of_type(log, ev.SurveyAnswered)
    assert (answered.contact_id, answered.score, answered.scale) == (contact_id, 4, 5)
    assert (answered.agent_id, answered.queue) == ("alice", "support")
    assert messages[-1].id == ack.message_id
    assert messages[-1].body == " 4/5 - quick, thanks "
    # The answer and its message are one append, the message first. (The outbox may log the
    # question's MessageSent after them: it sends on its own schedule.)
    received = of_type(log, ev.MessageReceived)[-1]
    assert received.message.id == ack.message_id
    at = log.index(received)
    assert log[at : at + 2] == [received, answered]


async def test_a_reply_that_is_no_rating_opens_a_new_contact_and_ends_the_wait(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock) as runtime:
        web = runtime.channel("web")
        contact_id = await handle(runtime, fake_clock, "carol")
        other = await web.deliver("carol", "one more question about my order")
        assert other.new_contact
        assert other.contact_id != contact_id
        fake_clock.advance(1)
        await runtime.abandon(W, other.contact_id)  # nobody took it
        fake_clock.advance(1)
        late = await web.deliver("carol", "5")
        log = await log_of(runtime)
    assert late.new_contact
    assert of_type(log, ev.SurveyAnswered) == []


async def test_a_rating_after_the_window_opens_a_new_contact(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock) as runtime:
        await handle(runtime, fake_clock, "carol")
        fake_clock.advance(WINDOW)
        ack = await runtime.channel("web").deliver("carol", "5")
        log = await log_of(runtime)
    assert ack.new_contact
    assert of_type(log, ev.SurveyAnswered) == []


async def test_a_second_answer_opens_a_new_contact(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock) as runtime:
        web = runtime.channel("web")
        contact_id = await handle(runtime, fake_clock, "carol")
        first = await web.deliver("carol", "2")
        fake_clock.advance(1)
        second = await web.deliver("carol", "5")
        log = await log_of(runtime)
    assert (first.contact_id, first.new_contact) == (contact_id, False)
    assert second.new_contact
    assert [a.score for a in of_type(log, ev.SurveyAnswered)] == [2]


async def test_an_answer_from_another_thread_does_not_count(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock) as runtime:
        await handle(runtime, fake_clock, "carol")
        ack = await runtime.channel("web").deliver("carol", "5", thread_hint="another-chat")
        log = await log_of(runtime)
    assert ack.new_contact
    assert of_type(log, ev.SurveyAnswered) == []


async def test_a_redelivered_answer_is_stored_once(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock) as runtime:
        web = runtime.channel("web")
        await handle(runtime, fake_clock, "carol")
        first = await web.deliver("carol", "5 stars", provider_id="sms-77")
        fake_clock.advance(1)
        again = await web.deliver("carol", "5 stars", provider_id="sms-77")
        log = await log_of(runtime)
    assert again.duplicate
    assert (again.contact_id, again.message_id) == (first.contact_id, first.message_id)
    assert len(of_type(log, ev.SurveyAnswered)) == 1
    assert len([e for e in of_type(log, ev.MessageReceived) if e.message.body == "5 stars"]) == 1


async def test_a_restart_between_close_and_answer_still_records_the_answer(
    pm: PluginManager, fake_clock: FakeClock, tmp_path: Path
) -> None:
    data = {**config(), "store": {"backend": "sqlite", "path": str(tmp_path / "t.db")}}
    first = build_runtime(pm, data, clock=fake_clock)
    async with first.running():
        first.channel("web").fail_next(ConnectionError("provider down"), times=100)
        contact_id = await handle(first, fake_clock, "carol")
        await stored(first, ev.SendAttemptFailed)  # the question is still in the outbox
    fake_clock.advance(60)
    second = build_runtime(pm, data, clock=fake_clock)
    async with second.running():
        web = second.channel("web")
        await stored(second, ev.MessageSent)  # sent once, after the restart
        ack = await web.deliver("carol", "⭐⭐⭐⭐")
        log = await log_of(second)
    assert [m.body for _, m in web.sent] == [QUESTION]
    assert (ack.contact_id, ack.new_contact) == (contact_id, False)
    (answered,) = of_type(log, ev.SurveyAnswered)
    assert (answered.score, answered.agent_id, answered.queue) == (4, "alice", "support")
    assert len(of_type(log, ev.SurveySent)) == 1


@pytest.mark.parametrize(
    "body",
    ["5" * (MAX_ANSWER_LENGTH + 1), "5 " + "x" * 3000, "5\x00", "\x00", "5\n\nsent from my phone"],
    ids=["long-digits", "oversize", "nul-after", "nul", "two-lines"],
)
async def test_a_malformed_or_oversize_reply_goes_to_intake_and_loses_nothing(
    pm: PluginManager, fake_clock: FakeClock, body: str
) -> None:
    data = config()
    data["workspaces"][W]["channels"]["web"]["settings"] = {"max_body_length": 10_000}
    async with running(pm, fake_clock, data) as runtime:
        contact_id = await handle(runtime, fake_clock, "carol")
        before = await log_of(runtime)
        messages = await runtime.store.messages(W, contact_id)
        ack = await runtime.channel("web").deliver("carol", body)
        after = await log_of(runtime)
        assert await runtime.store.messages(W, contact_id) == messages
    assert ack.new_contact
    assert after[: len(before)] == before
    assert of_type(after, ev.SurveyAnswered) == []
    (received,) = (e for e in of_type(after, ev.MessageReceived) if e.message.id == ack.message_id)
    assert received.message.body == body


async def test_an_answer_the_store_refuses_can_be_sent_again(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    store = RecordingStore()
    async with running(pm, fake_clock, store=store) as runtime:
        web = runtime.channel("web")
        contact_id = await handle(runtime, fake_clock, "carol")
        before = await log_of(runtime)
        store.fail = True
        with pytest.raises(TemporaryFailure, match="No space left"):
            await web.deliver("carol", "3", provider_id="p1")
        store.fail = False
        assert await log_of(runtime) == before  # nothing half-stored, nothing lost
        ack = await web.deliver("carol", "3", provider_id="p1")  # the provider retries
        log = await log_of(runtime)
    assert (ack.contact_id, ack.duplicate) == (contact_id, False)
    assert [a.score for a in of_type(log, ev.SurveyAnswered)] == [3]


async def test_a_survey_set_to_a_scale_of_ten_takes_ten(
    pm: PluginManager, fake_clock: FakeClock
) -> None:
    async with running(pm, fake_clock, config(scale=10)) as runtime:
        await handle(runtime, fake_clock, "carol")
        await runtime.channel("web").deliver("carol", "10/10!")
        (answered,) = await stored(runtime, ev.SurveyAnswered)
    assert (answered.score, answered.scale) == (10, 10)


# Configuration -----------------------------------------------------------------------------


def check(pm: PluginManager, data: Mapping[str, Any]) -> Runtime:
    return build_runtime(pm, data, clock=FakeClock())


@pytest.mark.parametrize(
    ("survey", "key", "message"),
    [
        ({"scale": 1}, "workspaces.acme.survey.scale", "must be from 2 to 10, got 1"),
        ({"scale": 11}, "workspaces.acme.survey.scale", "must be from 2 to 10, got 11"),
        ({"scale": "5"}, "workspaces.acme.survey.scale", "expected a whole number"),
        ({"window": 0}, "workspaces.acme.survey.window", "must be a number of seconds"),
        ({"questions": "?"}, "workspaces.acme.survey.questions", "unknown key (allowed: "),
        ({"channels": ["fax"]}, "workspaces.acme.survey.channels.0", 'unknown channel "fax"'),
    ],
)
def test_a_bad_survey_setting_is_a_clear_error(
    pm: PluginManager, survey: dict[str, Any], key: str, message: str
) -> None:
    data = config()
    data["workspaces"][W]["survey"] = survey
    with pytest.raises(ConfigError, match=re.escape(message)) as raised:
        check(pm, data)
    assert raised.value.key == key


def test_a_survey_table_must_be_a_table(pm: PluginManager) -> None:
    data = config()
    data["workspaces"][W]["survey"] = "yes"
    with pytest.raises(ConfigError, match="expected a table"):
        check(pm, data)


def test_surveys_are_off_unless_configured(pm: PluginManager) -> None:
    assert check(pm, config(off=True)).config.workspaces[W].survey is None
    survey = check(pm, config(scale=7)).config.workspaces[W].survey
    assert survey == SurveySettings(question=QUESTION, scale=7, window=WINDOW)


# The rating grammar ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        (" 1 ", 1),
        ("4/5", 4),
        ("4 / 5", 4),
        ("5 stars", 5),
        ("1 Star", 1),
        ("3/5 STARS", 3),
        (" 3 - ok", 3),
        ("5, thanks!", 5),
        ("5.", 5),
        ("5!!", 5),
        ("2: slow", 2),
        ("4 — fine", 4),
        ("⭐⭐⭐⭐", 4),
        ("⭐️⭐️⭐️", 3),
        ("★ ★", 2),
        ("⭐⭐⭐⭐⭐ - great", 5),
        ("0", None),
        ("6", None),
        ("05", None),
        ("-3", None),
        ("+3", None),
        ("4.5", None),
        ("4,5", None),
        ("3 - 4", None),
        ("4/10", None),
        ("4 of 5", None),
        ("5 great", None),
        ("2 questions about my bill", None),
        ("five", None),
        ("５", None),
        ("⭐⭐⭐⭐⭐⭐", None),
        ("5⭐", None),
        ("5\nthanks", None),
        ("", None),
        ("stars", None),
    ],
)
def test_the_rating_grammar(text: str, score: int | None) -> None:
    assert parse_rating(text, 5) == score


_SEPARATORS = "-\u2013\u2014:,!."
_STARS = ("\u2b50", "\u2b50\ufe0f", "\u2605")


def reference_rating(text: str, scale: int) -> int | None:
    """The documented grammar again, written as a plain scanner (no regular expression)."""
    body = text.strip()
    if not body or len(body) > MAX_ANSWER_LENGTH:
        return None
    i, n = 0, len(body)

    def spaces(at: int) -> int:
        while at < n and body[at] in " \t":
            at += 1
        return at

    def number(at: int) -> tuple[int, int] | None:
        if at < n and body[at] in "123456789":
            end = at + 1
            if end < n and body[end] in "0123456789":
                end += 1
            return int(body[at:end]), end
        return None

    score: int
    if (first := number(0)) is not None:
        score, i = first
        j = spaces(i)
        if j < n and body[j] == "/":
            of = number(spaces(j + 1))
            if of is None:
                return None
            if of[0] != scale:
                return None
            i = of[1]
        j = spaces(i)
        for word in ("stars", "star"):
            if body[j : j + len(word)].lower() == word:
                i = j + len(word)
                break
    else:
        score = 0
        while True:
            for star in sorted(_STARS, key=len, reverse=True):
                if body.startswith(star, i):
                    score, i = score + 1, spaces(i + len(star))
                    break
            else:
                break
        if score == 0:
            return None
    j = spaces(i)
    if j < n:
        if body[j] not in _SEPARATORS:
            return None
        rest = body[j + 1 :]
        if "\n" in rest or "\r" in rest or rest.lstrip(" \t")[:1] in set("0123456789"):
            return None
    elif i < n:
        return None
    return score if 1 <= score <= scale else None


_grammar = st.builds(
    lambda head, tail: head + tail,
    st.one_of(
        st.builds(
            lambda n, of, star, pad: f"{n}{pad}{of}{star}",
            st.integers(0, 12).map(str),
            st.sampled_from(["", "/5", " / 5", "/10", "/ 7"]),
            st.sampled_from(["", " stars", " star", "Stars", " STAR"]),
            st.sampled_from(["", " ", "\t"]),
        ),
        st.lists(st.sampled_from([*_STARS, " "]), min_size=1, max_size=12).map("".join),
    ),
    st.one_of(
        st.just(""),
        st.builds(
            lambda pad, sep, comment: pad + sep + comment,
            st.sampled_from(["", " ", "  "]),
            st.sampled_from([*_SEPARATORS, "~", ";"]),
            st.text(max_size=20),
        ),
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(st.text(), _grammar, _grammar.map(lambda t: f"  {t}\n")),
    scale=st.integers(-2, 12),
)
@example(text="10/10", scale=10)
@example(text="⭐" * 10, scale=10)
@example(text="1", scale=1)
def test_the_rating_parser_never_raises_and_follows_the_grammar(text: str, scale: int) -> None:
    result = parse_rating(text, scale)
    assert result is None or 1 <= result <= scale
    assert result == reference_rating(text, scale)


@settings(max_examples=200, deadline=None)
@given(
    score=st.integers(1, 10),
    scale=st.integers(2, 10),
    form=st.sampled_from(["{n}", "{n}/{s}", "{n} stars", " {n} - ok ", "{stars}", "{n}!"]),
)
def test_every_rating_in_the_scale_is_read(score: int, scale: int, form: str) -> None:
    text = form.format(n=score, s=scale, stars="⭐" * score)
    assert parse_rating(text, scale) == (score if score <= scale else None)
