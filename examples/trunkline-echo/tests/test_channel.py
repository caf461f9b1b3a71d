"""The echo channel inside a runtime: acks after storage, clear refusals, replies on the socket."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import pytest

from trunkline import (
    Address,
    ConfigError,
    FakeClock,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    Runtime,
    config_from_dict,
    hookimpl,
)
from trunkline import events as ev
from trunkline.testing import wait_for_event
from trunkline_echo.adapter import CustomerNotConnected, EchoChannel
from trunkline_echo.client import EchoClient, EchoRefused

pytestmark = pytest.mark.anyio

RunEcho = Callable[..., AbstractAsyncContextManager[tuple[Runtime, EchoChannel]]]
WORKSPACE = "acme"  # as configured by the run_echo fixture (conftest.py)


async def connect(channel: EchoChannel, key: str | None = None) -> EchoClient:
    assert channel.port is not None
    return await EchoClient.connect(channel.settings.host, channel.port, key=key)


async def stored(runtime: Runtime) -> list[ev.Event]:
    return [s.event for s in await runtime.store.read(WORKSPACE)]


async def test_a_line_is_acknowledged_once_it_is_stored(run_echo: RunEcho) -> None:
    async with run_echo() as (runtime, channel), await connect(channel) as ann:
        answer = await ann.say("ann", "Where is my order?", id="m-1")
        assert set(answer) == {"ack", "contact", "duplicate", "new_contact"}
        assert answer["duplicate"] is False
        assert answer["new_contact"] is True
        # The ack names what is already in the store: it was sent after the append.
        messages = await runtime.store.messages(WORKSPACE, answer["contact"])
        assert [(m.id, m.body, m.sender) for m in messages] == [
            (answer["ack"], "Where is my order?", Address("echo", "ann"))
        ]
        contact = await runtime.store.contact(WORKSPACE, answer["contact"])
        assert contact is not None
        assert (contact.channel, contact.channel_kind) == (channel.instance, "chat")


async def test_a_resent_id_is_acknowledged_as_a_duplicate(run_echo: RunEcho) -> None:
    async with run_echo() as (runtime, channel), await connect(channel) as ann:
        first = await ann.deliver("ann", "hello", id="m-1")
        again = await ann.deliver("ann", "hello", id="m-1")
        assert again.duplicate
        assert (again.contact_id, again.message_id) == (first.contact_id, first.message_id)
        assert len(await runtime.store.messages(WORKSPACE, first.contact_id)) == 1


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"hello, is anyone there?", "not JSON"),
        (b'{"from": "ann", "text": "hi"}', 'missing field "id"'),
        (b'{"from": "ann", "text": ["hi"], "id": "m-9"}', 'field "text" must be a string'),
        (b'{"from": "ann", "message": "hi", "id": "m-9"}', 'unknown field "message"'),
        (b"\xc3\x28", "not UTF-8"),
    ],
)
async def test_a_malformed_line_gets_a_clear_error_and_stores_nothing(
    run_echo: RunEcho, line: bytes, problem: str
) -> None:
    async with run_echo() as (runtime, channel), await connect(channel) as ann:
        kept = await ann.deliver("ann", "before", id="m-1")
        before = await stored(runtime)
        answer = await ann.send_raw(line + b"\n")
        assert set(answer) == {"error"}
        assert problem in answer["error"]
        assert await stored(runtime) == before
        # The connection is still usable and the earlier contact is still there.
        after = await ann.deliver("ann", "after", id="m-2")
        assert after.contact_id == kept.contact_id
        bodies = [m.body for m in await runtime.store.messages(WORKSPACE, kept.contact_id)]
        assert bodies == ["before", "after"]


async def test_an_oversize_line_is_refused_and_the_connection_stays_usable(
    run_echo: RunEcho,
) -> None:
    async with run_echo({"max_line_bytes": 256}) as (runtime, channel), await connect(channel) as c:
        kept = await c.deliver("ann", "short", id="m-1")
        with pytest.raises(EchoRefused, match=r"line of \d+ bytes exceeds max_line_bytes=256"):
            await c.deliver("ann", "x" * 1000, id="m-2")
        assert await c.deliver("ann", "short again", id="m-3")
        bodies = [m.body for m in await runtime.store.messages(WORKSPACE, kept.contact_id)]
        assert bodies == ["short", "short again"]


async def test_a_text_over_max_text_length_is_refused(run_echo: RunEcho) -> None:
    async with run_echo({"max_text_length": 10}) as (runtime, channel), await connect(channel) as c:
        assert channel.capabilities.max_body_length == 10
        with pytest.raises(EchoRefused, match="text of 11 characters exceeds max_text_length=10"):
            await c.deliver("ann", "x" * 11)
        assert not [e for e in await stored(runtime) if isinstance(e, ev.MessageReceived)]


@pytest.mark.parametrize(
    ("key", "problem"),
    [(None, 'missing field "key"'), ("guess", 'wrong "key"')],
)
async def test_with_a_shared_key_a_line_without_the_right_key_is_refused(
    run_echo: RunEcho, key: str | None, problem: str
) -> None:
    settings = {"shared_key": {"env": "ECHO_KEY"}}
    async with run_echo(settings, env={"ECHO_KEY": "s3cret"}) as (runtime, channel):
        async with await connect(channel, key="s3cret") as trusted:
            kept = await trusted.deliver("ann", "with the key", id="m-1")
        async with await connect(channel, key=key) as stranger:
            with pytest.raises(EchoRefused) as info:
                await stranger.deliver("ann", "without it", id="m-2")
            assert problem in str(info.value)
            assert "s3cret" not in str(info.value)
        assert len(await runtime.store.messages(WORKSPACE, kept.contact_id)) == 1


class NoSpam:
    """An inbound filter plugin: refuses messages that shout about prizes."""

    @hookimpl
    def trunkline_inbound_filter(self, message: InboundMessage) -> str | None:
        return "looks like spam" if "PRIZE" in message.body else None


async def test_a_message_a_filter_refuses_gets_its_reason(run_echo: RunEcho) -> None:
    spam_free = run_echo(plugins=[("no-spam", NoSpam())])
    async with spam_free as (runtime, channel), await connect(channel) as ann:
        answer = await ann.say("ann", "You won a PRIZE!", id="m-1")
        assert answer == {"error": "refused: looks like spam"}
        assert await stored(runtime) == []
        assert (await ann.deliver("ann", "a real question", id="m-2")).new_contact


async def test_when_the_store_fails_the_sender_is_told_to_retry(
    run_echo: RunEcho, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_echo() as (runtime, channel), await connect(channel) as ann:
        append = runtime.store.append

        async def unavailable(events: Any) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(runtime.store, "append", unavailable)
        answer = await ann.say("ann", "hello", id="m-1")
        assert answer["retry"] is True
        assert "not stored, send it again later" in answer["error"]
        assert "disk full" in answer["error"]

        monkeypatch.setattr(runtime.store, "append", append)
        ack = await ann.deliver("ann", "hello", id="m-1")  # the same line, sent again
        assert not ack.duplicate
        assert len(await runtime.store.messages(WORKSPACE, ack.contact_id)) == 1


async def test_a_reply_reaches_the_customers_socket(run_echo: RunEcho) -> None:
    async with (
        run_echo() as (runtime, channel),
        await connect(channel) as ann,
        await connect(channel) as bob,
    ):
        ack = await ann.deliver("ann", "question", id="m-1")
        await bob.deliver("bob", "another question", id="m-2")
        events = runtime.subscribe()
        message = await runtime.reply(WORKSPACE, ack.contact_id, "Your order ships today.")
        await wait_for_event(
            events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == message.id
        )
        with anyio.fail_after(2):
            assert await ann.reply() == {
                "reply": "Your order ships today.",
                "message_id": message.id,
            }
        await bob.deliver("bob", "still there?", id="m-3")
        assert bob.replies == []  # ann's reply went to ann's connection only


async def test_a_reply_to_a_customer_who_left_is_retried_until_they_come_back(
    run_echo: RunEcho,
) -> None:
    clock = FakeClock()
    async with run_echo(clock=clock) as (runtime, channel):
        async with await connect(channel) as ann:
            ack = await ann.deliver("ann", "question", id="m-1")
        with anyio.fail_after(2):
            while channel.is_connected("ann"):  # noqa: ASYNC110 - the adapter offers a query only
                await anyio.sleep(0.01)
        events = runtime.subscribe()
        message = await runtime.reply(WORKSPACE, ack.contact_id, "the answer")
        failed = await wait_for_event(events, lambda e: isinstance(e, ev.SendAttemptFailed))
        assert isinstance(failed, ev.SendAttemptFailed)
        assert 'customer "ann" is not connected' in failed.error

        async with await connect(channel) as ann_again:
            await ann_again.deliver("ann", "I am back", id="m-2")
            clock.advance(5)  # the outbox's backoff
            await wait_for_event(
                events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == message.id
            )
            with anyio.fail_after(2):
                assert (await ann_again.reply())["reply"] == "the answer"


async def test_send_to_a_customer_who_is_not_connected_raises_a_retryable_error(
    run_echo: RunEcho,
) -> None:
    async with run_echo() as (_runtime, channel):
        message = OutboundMessage(message_id="ms_1", contact_id="ct_1", body="hello")
        with pytest.raises(
            CustomerNotConnected, match='customer "nobody" is not connected'
        ) as info:
            await channel.send(Address("echo", "nobody"), message)
        assert not isinstance(info.value, PermanentSendError)
        with pytest.raises(PermanentSendError, match='expected an address of kind "echo"'):
            await channel.send(Address("email", "ann@example.com"), message)


async def test_the_port_is_known_while_running_only(run_echo: RunEcho) -> None:
    async with run_echo() as (_runtime, channel):
        port = channel.port
        assert port is not None
        assert port > 0
    assert channel.port is None
    with pytest.raises(OSError):  # noqa: PT011 - refused connections vary by platform
        await anyio.connect_tcp("127.0.0.1", port)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"port": 70000}, "port 70000 is not from 0 to 65535"),
        ({"max_line_bytes": 10}, "max_line_bytes must be at least 64, got 10"),
        ({"shared_key": "plain"}, 'is a secret: write { env = "VARIABLE" }'),
        ({"hots": "0.0.0.0"}, "hots: unknown key"),
    ],
)
def test_bad_settings_are_refused_with_the_key_named(
    make_config: Callable[[Mapping[str, Any]], dict[str, Any]], settings: Any, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(
            make_config(settings), adapters={"echo": EchoChannel}, strategies={"longest-idle"}
        )
    assert problem in str(info.value)
    assert f"workspaces.{WORKSPACE}.channels.tcp-chat.settings" in str(info.value)
