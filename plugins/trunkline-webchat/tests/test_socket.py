"""The customer's WebSocket inside a runtime: acknowledged once stored, nothing lost on resume.

Every socket here is a real ``websockets`` client over loopback, talking to the plugin's routes
served by core's ``trunkline_web.server``. Every refusal is checked twice: the visitor is told
what was wrong, and nothing new is in the store while what was accepted before is still there.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from trunkline import Address, Direction, Runtime, Signal, TemporaryFailure, hookimpl
from trunkline import events as ev
from trunkline.testing import wait_for_event

from .conftest import CHANNEL, WORKSPACE, Chat, RunChat, new_visitor

pytestmark = pytest.mark.anyio


async def stored(runtime: Runtime) -> list[ev.Event]:
    return [s.event for s in await runtime.store.read(WORKSPACE)]


async def received(runtime: Runtime) -> list[ev.MessageReceived]:
    return [e for e in await stored(runtime) if isinstance(e, ev.MessageReceived)]


async def contact_of(chat: Chat, visitor: str) -> Any:
    contact = await chat.runtime.store.open_contact(WORKSPACE, f"{CHANNEL}:{visitor}")
    assert contact is not None, f"visitor {visitor} has no open contact"
    return contact


async def reply(chat: Chat, visitor: str, text: str) -> str:
    """An agent's reply to the visitor's open contact; returns its message id once sent."""
    contact = await contact_of(chat, visitor)
    events = chat.runtime.subscribe()
    message = await chat.runtime.reply(WORKSPACE, contact.id, text)
    await wait_for_event(
        events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == message.id
    )
    return message.id


# Hello and history ----------------------------------------------------------------------------


async def test_a_new_visitor_is_welcomed_with_no_history(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.connect()
        welcome = await visitor.hello()
        assert welcome == {"type": "welcome", "visitor": visitor.id, "messages": [], "open": False}


async def test_a_message_is_acknowledged_once_it_is_stored(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        answer = await visitor.say("Where is my order?", id="c-1")
        assert answer["type"] == "ack"
        assert answer["id"] == "c-1"
        assert answer["duplicate"] is False
        # The ack names what is already in the store: it was sent after the append.
        contact = await contact_of(chat, visitor.id)
        messages = await chat.runtime.store.messages(WORKSPACE, contact.id)
        assert [(m.id, m.body, m.sender) for m in messages] == [
            (answer["message_id"], "Where is my order?", Address("webchat", visitor.id))
        ]
        assert contact.channel == CHANNEL
        assert contact.channel_kind == "chat"
        assert contact.address == Address("webchat", visitor.id)


async def test_the_welcome_holds_the_conversation_in_both_directions(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        first = await chat.visitor()
        one = await first.say("hello", id="c-1")
        two = await first.say("anyone there?", id="c-2")
        answer_id = await reply(chat, first.id, "Yes, Alice here.")
        await first.close()

        again = await chat.connect(first.token)
        welcome = await again.hello()
        assert [(m["id"], m["direction"], m["body"]) for m in welcome["messages"]] == [
            (one["message_id"], "inbound", "hello"),
            (two["message_id"], "inbound", "anyone there?"),
            (answer_id, "outbound", "Yes, Alice here."),
        ]
        # The widget's own ids come back, so it recognises a message whose ack it missed.
        assert [m.get("client_id") for m in welcome["messages"]] == ["c-1", "c-2", None]
        assert all(m["attachments"] == [] for m in welcome["messages"])
        assert all(isinstance(m["created_at"], float) for m in welcome["messages"])


async def test_a_visitor_sees_only_their_own_conversation(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        ann = await chat.visitor()
        await ann.say("ann's secret")
        bob = await chat.connect()
        welcome = await bob.hello()
        assert welcome["messages"] == []


async def test_a_socket_belongs_to_one_visitor(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.send_json({"type": "hello", "token": new_visitor()})
        error = await visitor.expect("error")
        assert "already belongs to another visitor" in error["error"]
        assert (await visitor.say("still mine"))["type"] == "ack"


async def test_the_name_given_in_hello_is_kept_on_the_contact(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor(name="  Ann   Smith ")
        await visitor.say("hi")
        contact = await contact_of(chat, visitor.id)
        assert contact.attributes["name"] == "Ann Smith"


# Resuming -------------------------------------------------------------------------------------


async def test_resuming_gives_what_was_missed_and_a_resend_is_a_duplicate(
    run_chat: RunChat,
) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        first = await visitor.say("my parcel is late", id="c-1")
        await visitor.close()

        # While the visitor is away, the agent answers: the reply is in the store.
        answer_id = await reply(chat, visitor.id, "It ships today.")

        back = await chat.connect(visitor.token)
        welcome = await back.hello(resume_after=first["message_id"])
        assert [(m["id"], m["body"]) for m in welcome["messages"]] == [
            (answer_id, "It ships today.")
        ]
        # The widget did not know its message was stored and sends it again: same answer.
        again = await back.say("my parcel is late", id="c-1")
        assert again["type"] == "ack"
        assert again["duplicate"] is True
        assert again["message_id"] == first["message_id"]
        assert len(await received(chat.runtime)) == 1


async def test_a_message_whose_ack_was_lost_is_recognised_on_return(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.connect()
        await visitor.hello()
        events = chat.runtime.subscribe()
        await visitor.send_json({"type": "message", "id": "c-lost", "text": "did you get this?"})
        await visitor.ws.close()  # gone before reading the ack
        await wait_for_event(events, lambda e: isinstance(e, ev.MessageReceived))

        back = await chat.connect(visitor.token)
        welcome = await back.hello()
        [message] = welcome["messages"]
        assert (message["client_id"], message["body"]) == ("c-lost", "did you get this?")
        again = await back.say("did you get this?", id="c-lost")
        assert (again["duplicate"], again["message_id"]) == (True, message["id"])
        assert len(await received(chat.runtime)) == 1


async def test_an_unknown_resume_point_gives_the_whole_conversation(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.say("one")
        back = await chat.connect(visitor.token)
        welcome = await back.hello(resume_after="ms_no_such_message")
        assert [m["body"] for m in welcome["messages"]] == ["one"]


async def test_the_history_keeps_an_ended_conversation(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.say("first visit")
        contact = await contact_of(chat, visitor.id)
        await reply(chat, visitor.id, "bye now")
        await chat.runtime.abandon(WORKSPACE, contact.id)  # it ends: the next message opens another
        await visitor.say("I am back")
        back = await chat.connect(visitor.token)
        welcome = await back.hello()
        assert [m["body"] for m in welcome["messages"]] == ["first visit", "bye now", "I am back"]


# Acknowledged only once stored ----------------------------------------------------------------


async def test_a_store_that_fails_gets_retry_and_nothing_is_stored(
    run_chat: RunChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        kept = await visitor.say("before the outage", id="c-0")
        assert kept["type"] == "ack"
        append = chat.runtime.store.append

        async def failing(events: Any) -> int:
            raise TemporaryFailure("the disk is full")

        monkeypatch.setattr(chat.runtime.store, "append", failing)
        answer = await visitor.say("during the outage", id="c-1")
        assert answer == {"type": "retry", "id": "c-1", "retry_after": 1.0}
        monkeypatch.setattr(chat.runtime.store, "append", append)

        assert [e.message.body for e in await received(chat.runtime)] == ["before the outage"]
        # The widget sends it again once the store is back: stored once, acknowledged.
        again = await visitor.say("during the outage", id="c-1")
        assert again["type"] == "ack"
        assert again["duplicate"] is False
        bodies = [e.message.body for e in await received(chat.runtime)]
        assert bodies == ["before the outage", "during the outage"]


async def test_a_message_refused_by_a_filter_gets_an_error(run_chat: RunChat) -> None:
    class NoSpam:
        @hookimpl
        def trunkline_inbound_filter(self, message: Any) -> str | None:
            return "spam" if "buy now" in message.body else None

    async with run_chat(plugins=[("no-spam", NoSpam())]) as chat:
        visitor = await chat.visitor()
        await visitor.say("a real question")
        answer = await visitor.say("buy now!!!", id="c-spam")
        assert answer == {"type": "error", "id": "c-spam", "error": "refused: spam"}
        assert [e.message.body for e in await received(chat.runtime)] == ["a real question"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("hi \ud800", '"text" contains a lone UTF-16 surrogate U+D800 (at character 4)'),
        ("caf\udce9", "(at character 4: the byte 0xE9, which is not UTF-8)"),
        ("\udfff", "U+DFFF"),
    ],
)
async def test_a_text_no_store_can_encode_gets_an_error_never_a_retry(
    run_chat: RunChat, text: str, error: str
) -> None:
    # The frame is valid UTF-8; the JSON escape "\ud800" in it makes the lone surrogate.
    async with run_chat() as chat:
        visitor = await chat.visitor()
        kept = await visitor.say("accepted before", id="c-0")
        before = len(await stored(chat.runtime))
        answer = await visitor.say(text, id="c-bad")
        assert answer["type"] == "error", answer
        assert answer["id"] == "c-bad"
        assert error in answer["error"]
        assert "send valid Unicode text" in answer["error"]
        assert len(await stored(chat.runtime)) == before
        # The socket stays usable, and what was accepted before is still there.
        assert (await visitor.say("accepted after"))["type"] == "ack"
        first, _ = await received(chat.runtime)
        assert first.message.id == kept["message_id"]
        welcome = await (await chat.connect(visitor.token)).hello()
        assert [m["body"] for m in welcome["messages"]] == ["accepted before", "accepted after"]


async def test_a_name_no_store_can_encode_is_refused_at_hello(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.connect()
        await visitor.send_json({"type": "hello", "token": visitor.token, "name": "Ann \udfff"})
        error = await visitor.expect("error")
        assert '"name" contains a lone UTF-16 surrogate U+DFFF' in error["error"]
        await visitor.hello(name="Ann")
        assert (await visitor.say("hi"))["type"] == "ack"


# Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("this is not JSON", "not JSON"),
        ("[1, 2]", "expected a JSON object with a type, got a list"),
        ('{"type": "message", "id": "c-9", "text": NaN}', "NaN is not standard JSON"),
        ('{"type": "typing", "type": "typing"}', 'the key "type" is given twice'),
        ('{"type": "shout", "text": "HELLO"}', 'unknown frame: type "shout"'),
        ('{"text": "hello"}', "unknown frame: no type"),
        ('{"type": "message", "id": "c-9", "txt": "hi"}', 'no field "txt"'),
        ('{"type": "message", "text": "hi"}', '"message" needs the field "id"'),
        ('{"type": "message", "id": "c-9", "text": 42}', '"text" must be a string'),
        ('{"type": "message", "id": "c-9", "text": "  "}', "the message is empty"),
        ('{"type": "message", "id": "c 9", "text": "hi"}', '"id" must be 1 to 64'),
        ('{"type": "message", "id": "c-9", "attachments": ["x"]}', "list of SHA-256"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(
    run_chat: RunChat, frame: str, error: str
) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        kept = await visitor.say("accepted before")
        before = len(await stored(chat.runtime))
        await visitor.ws.send(frame)
        answer = await visitor.expect("error")
        assert error in answer["error"]
        assert len(await stored(chat.runtime)) == before
        # The socket is still open, and what was accepted before is still there.
        assert (await visitor.say("accepted after"))["type"] == "ack"
        bodies = [e.message.body for e in await received(chat.runtime)]
        assert bodies == ["accepted before", "accepted after"]
        assert kept["message_id"] == (await received(chat.runtime))[0].message.id


async def test_an_error_names_the_message_it_refuses(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.ws.send('{"type": "message", "id": "c-7", "text": 1}')
        assert (await visitor.expect("error"))["id"] == "c-7"


async def test_a_message_before_hello_is_refused(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.connect()
        await visitor.send_json({"type": "message", "id": "c-1", "text": "hi"})
        answer = await visitor.expect("error")
        assert answer["id"] == "c-1"
        assert answer["error"].startswith("say hello first")
        await visitor.hello()
        assert (await visitor.say("hi", id="c-1"))["type"] == "ack"


@pytest.mark.parametrize(
    ("hello", "error"),
    [
        ({"token": "token:with:colons"}, '"token" must be the token the last welcome gave'),
        ({"token": "t" * 257}, '"token" must be the token the last welcome gave'),
        ({"token": 12345678901234567}, '"token" must be the token the last welcome gave'),
        ({"visitor": new_visitor()}, '"hello" no longer takes a "visitor" id'),
        ({"token": new_visitor(), "identity": {}}, 'send "token" or "identity", not both'),
        ({"identity": "ann"}, '"identity" must be {"id"'),
        ({"identity": {"id": "ann"}}, '"identity" must be {"id"'),
        ({"identity": {"id": "ann", "hash": "0" * 64, "role": "admin"}}, '"identity" must be'),
        ({"identity": {"id": "", "hash": "0" * 64}}, '"identity.id" must be a string of 1 to'),
        ({"identity": {"id": "ann", "hash": "xyz"}}, '"identity.hash" must be 64 hex digits'),
        ({"resume_after": 7}, '"resume_after" must be'),
        ({"name": "n" * 101}, '"name" must be a string of at most'),
    ],
)
async def test_a_bad_hello_is_refused(run_chat: RunChat, hello: dict[str, Any], error: str) -> None:
    async with run_chat() as chat:
        ann = await chat.visitor()
        kept = await ann.say("accepted before")
        visitor = await chat.connect(ann.token)
        await visitor.send_json({"type": "hello", **hello})
        assert error in (await visitor.expect("error"))["error"]
        # Nothing was stored, and the socket still says hello: the conversation is all there.
        assert len(await received(chat.runtime)) == 1
        welcome = await visitor.hello()
        assert [m["id"] for m in welcome["messages"]] == [kept["message_id"]]


async def test_a_binary_frame_is_refused(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.ws.send(b'{"type": "typing"}')
        answer = await visitor.expect("error")
        assert answer["error"] == "send JSON in text frames, not binary ones"
        assert (await visitor.say("text works"))["type"] == "ack"


async def test_a_message_over_max_text_length_is_refused_and_nothing_is_lost(
    run_chat: RunChat,
) -> None:
    async with run_chat({"max_text_length": 50}) as chat:
        visitor = await chat.visitor()
        kept = await visitor.say("fits")
        answer = await visitor.say("x" * 51, id="c-long")
        assert answer == {
            "type": "error",
            "id": "c-long",
            "error": "the message is 51 characters long; at most 50 are accepted",
        }
        assert (await visitor.say("y" * 50))["type"] == "ack"
        first, _ = await received(chat.runtime)
        assert first.message.id == kept["message_id"]


async def test_a_frame_too_big_closes_the_socket_with_1009(run_chat: RunChat) -> None:
    async with run_chat({"max_text_length": 100}) as chat:
        visitor = await chat.visitor()
        await visitor.say("kept")
        limit = chat.channel.max_frame_bytes()
        await visitor.send_json({"type": "message", "id": "c-big", "text": "z" * limit})
        error = await visitor.expect("error")
        assert error["error"].startswith("a frame of ")
        assert f"(at most {limit})" in error["error"]
        assert await visitor.wait_closed() == (1009, "frame too big")
        assert [e.message.body for e in await received(chat.runtime)] == ["kept"]


async def test_too_many_messages_are_told_to_slow_down(run_chat: RunChat) -> None:
    async with run_chat({"rate_limit": 3}) as chat:
        visitor = await chat.visitor()
        for n in range(3):
            assert (await visitor.say(f"message {n}"))["type"] == "ack"
        answer = await visitor.say("one too many", id="c-4")
        assert answer["type"] == "error"
        assert answer["error"] == "slow down"
        assert answer["id"] == "c-4"
        assert 0 < answer["retry_after"] <= 10
        # A second socket of the same visitor shares the limit; another visitor does not.
        second = await chat.visitor(visitor.token)
        assert (await second.say("from another tab"))["error"] == "slow down"
        other = await chat.visitor()
        assert (await other.say("someone else"))["type"] == "ack"
        assert len(await received(chat.runtime)) == 4


async def test_a_flood_of_frames_closes_the_socket(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        for _ in range(120):
            await visitor.send_json({"type": "typing"})
        assert await visitor.wait_closed() == (1008, "too many frames; slow down")


async def test_an_unknown_channel_is_refused_with_1008(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.connect(channel="no-such-chat")
        assert await visitor.wait_closed() == (1008, 'no web-chat channel "no-such-chat" here')


# Origins --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "origin", "admitted"),
    [
        ((), None, True),  # not a browser
        ((), "https://elsewhere.example", False),
        ((), "null", False),
        (("https://shop.example.com",), "https://shop.example.com", True),
        (("https://shop.example.com",), "https://evil.example.com", False),
        (("https://shop.example.com",), "http://shop.example.com", False),
        (("*",), "https://anyone.example", True),
    ],
)
async def test_the_origin_is_checked(
    run_chat: RunChat, allowed: tuple[str, ...], origin: str | None, admitted: bool
) -> None:
    async with run_chat({"allowed_origins": list(allowed)}) as chat:
        visitor = await chat.connect(origin=origin)
        if admitted:
            assert (await visitor.hello())["type"] == "welcome"
        else:
            assert await visitor.wait_closed() == (1008, f"origin {origin} may not open this chat")
            assert await stored(chat.runtime) == []


async def test_the_chat_page_itself_is_always_admitted(run_chat: RunChat) -> None:
    # The panel frames the chat page, so its socket comes from the server's own origin.
    async with run_chat({"allowed_origins": ["https://shop.example.com"]}) as chat:
        visitor = await chat.connect(origin=chat.url)
        assert (await visitor.hello())["type"] == "welcome"


# Typing ---------------------------------------------------------------------------------------


async def test_a_visitor_typing_reaches_the_agents(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        signals = chat.runtime.subscribe_signals()
        visitor = await chat.visitor()
        await visitor.send_json({"type": "typing"})  # no contact yet: nobody to tell
        await visitor.say("hello")
        await anyio.sleep(1.05)  # typing is passed on at most once a second
        await visitor.send_json({"type": "typing"})
        contact = await contact_of(chat, visitor.id)
        with anyio.fail_after(5):
            signal = await signals.receive()
        assert signal == Signal(WORKSPACE, contact.id, kind="typing", who="customer")
        with anyio.move_on_after(0.2):
            extra = await signals.receive()
            pytest.fail(f"only one signal was expected, got {extra}")
        assert await visitor.expect("position") == {"type": "position", "position": 1}
        await visitor.nothing_more()  # typing is never answered


async def test_an_agent_typing_is_shown_to_the_visitor(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.say("hello")
        contact = await contact_of(chat, visitor.id)
        await chat.runtime.signal(Signal(WORKSPACE, contact.id, "typing", "agent", "alice"))
        assert await visitor.expect("typing") == {"type": "typing"}


# Replies --------------------------------------------------------------------------------------


async def test_a_reply_is_pushed_live_to_every_open_socket(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        tab1 = await chat.visitor()
        await tab1.say("hello")
        tab2 = await chat.visitor(tab1.token)
        answer_id = await reply(chat, tab1.id, "Hi! How can I help?")
        for tab in (tab1, tab2):
            frame = await tab.expect("message")
            message = frame["message"]
            assert (message["id"], message["direction"], message["body"]) == (
                answer_id,
                "outbound",
                "Hi! How can I help?",
            )
            assert message["attachments"] == []


async def test_a_reply_to_a_visitor_away_is_sent_and_waits_in_the_store(
    run_chat: RunChat,
) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.say("call me back")
        await visitor.close()
        answer_id = await reply(chat, visitor.id, "Here I am")  # MessageSent, not failed
        back = await chat.connect(visitor.token)
        welcome = await back.hello()
        assert welcome["messages"][-1]["id"] == answer_id
        assert welcome["messages"][-1]["direction"] == Direction.OUTBOUND.value


async def test_a_reply_with_a_dedupe_key_is_pushed_once(run_chat: RunChat) -> None:
    from trunkline import OutboundMessage

    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.say("hello")
        to = Address("webchat", visitor.id)
        message = OutboundMessage(message_id="ms_1", contact_id="ct", body="once", dedupe_key="k")
        assert await chat.channel.send(to, message) == await chat.channel.send(to, message)
        marker = OutboundMessage(message_id="ms_2", contact_id="ct", body="marker")
        await chat.channel.send(to, marker)
        await visitor.expect("message", where=lambda f: f["message"]["id"] == "ms_2")
        pushed = [f["message"]["id"] for f in visitor.frames if f["type"] == "message"]
        assert pushed == ["ms_1", "ms_2"]


async def test_a_reply_to_another_kind_of_address_fails_for_good(run_chat: RunChat) -> None:
    from trunkline import OutboundMessage, PermanentSendError

    async with run_chat() as chat:
        message = OutboundMessage(message_id="ms_1", contact_id="ct", body="hi")
        with pytest.raises(PermanentSendError, match='expected an address of kind "webchat"'):
            await chat.channel.send(Address("email", "ann@example.com"), message)


async def test_stopping_the_channel_closes_sockets_as_going_away(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await chat.channel.aclose()
        assert await visitor.wait_closed() == (1001, "the chat is restarting")
