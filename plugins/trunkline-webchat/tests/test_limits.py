"""Floods: limits per client address, caps per workspace, uploads only within an open chat.

A visitor chooses their own id, so a flood with fresh ids passes every per-visitor limit. These
tests make such floods over real sockets and uploads from one address, and check that they are
capped with a clear answer while the chats already open keep working and nothing accepted
before is lost. Behind a reverse proxy the address is the browser's, from ``X-Forwarded-For``,
only when ``[web] proxy_headers`` is on and the proxy is trusted: those tests run core's whole
app with ``run_web``, the server ``trunkline serve`` runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.exceptions import ConnectionClosed

from trunkline import events as ev

from .conftest import (
    CHANNEL,
    WORKSPACE,
    Chat,
    RunChat,
    new_visitor,
    tenants_config,
    webchat_channel,
)

pytestmark = pytest.mark.anyio

REFUSED_SOCKET = "too many chats opened from your address (more than 30 a minute)"


async def contacts(chat: Chat, workspace: str = WORKSPACE) -> list[str]:
    """The ids of the contacts stored in ``workspace``, in order."""
    return [
        s.event.contact.id
        for s in await chat.runtime.store.read(workspace)
        if isinstance(s.event, ev.ContactReceived)
    ]


async def bodies(chat: Chat, workspace: str = WORKSPACE) -> list[str]:
    return [
        s.event.message.body
        for s in await chat.runtime.store.read(workspace)
        if isinstance(s.event, ev.MessageReceived)
    ]


async def new_chat(
    chat: Chat, text: str, *, channel: str = CHANNEL, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A fresh visitor id opens a socket, says hello and writes: the server's answer, or a
    ``closed`` pseudo-frame with the close code and reason when the socket was refused."""
    visitor = await chat.connect(channel=channel, headers=headers)
    try:
        await visitor.send_json({"type": "hello", "token": visitor.token})
        await visitor.expect("welcome")
    except (AssertionError, ConnectionClosed):  # closed before a welcome came
        await visitor.wait_closed()
        return {"type": "closed", "code": visitor.close_code, "reason": visitor.close_reason}
    return await visitor.say(text)


# Sockets per address ---------------------------------------------------------------------------


async def test_forty_sockets_with_fresh_ids_from_one_address_are_capped(
    run_chat: RunChat,
) -> None:
    async with run_chat() as chat:  # the defaults: 30 new sockets a minute per address
        ann = await chat.chatting()
        answers: list[dict[str, Any]] = []

        async def flood(n: int) -> None:
            answers.append(await new_chat(chat, f"flood {n}"))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for n in range(40):
                    tg.start_soon(flood, n)

        acked = [a for a in answers if a["type"] == "ack"]
        closed = [a for a in answers if a["type"] == "closed"]
        assert len(acked) == 29  # ann's socket was the address's first of the minute
        assert len(closed) == 11
        for refused in closed:
            assert refused["code"] == 1013
            assert refused["reason"].startswith(REFUSED_SOCKET)
            assert refused["reason"].endswith("seconds")
        assert len(await contacts(chat)) == 30  # ann's and the 29 let in; on main, 41

        # The chat that was open keeps working, and nothing it said was lost.
        assert (await ann.say("still there?"))["type"] == "ack"
        said = await bodies(chat)
        assert (said[0], said[-1]) == ("hi", "still there?")


async def test_sockets_are_counted_per_address_over_a_minute(run_chat: RunChat) -> None:
    async with run_chat({"address_sockets_per_minute": 2}) as chat:
        first = await chat.chatting()
        second = await chat.chatting()
        refused = await new_chat(chat, "third")
        assert refused["type"] == "closed"
        assert refused["code"] == 1013
        assert refused["reason"].startswith(
            "too many chats opened from your address (more than 2 a minute); try again in "
        )
        wait = int(refused["reason"].split("try again in ")[1].split()[0])
        assert 1 <= wait <= 60
        # Both open chats still work.
        assert (await first.say("one"))["type"] == "ack"
        assert (await second.say("two"))["type"] == "ack"


# Messages and uploads per address ---------------------------------------------------------------


async def test_messages_are_limited_per_address_across_visitors(run_chat: RunChat) -> None:
    async with run_chat({"address_messages_per_minute": 4, "rate_limit": 10}) as chat:
        ann = await chat.chatting()  # 1
        bob = await chat.chatting()  # 2
        assert (await ann.say("a2"))["type"] == "ack"  # 3
        assert (await bob.say("b2"))["type"] == "ack"  # 4
        answer = await bob.say("b3", id="b-3")
        assert answer["type"] == "error"
        assert answer["error"] == "slow down"
        assert 0 < answer["retry_after"] <= 60
        assert await bodies(chat) == ["hi", "hi", "a2", "b2"]
        # A message the address's limit refused does not count for the visitor either.
        assert chat.channel.rates.take(bob.id) == 0.0


async def test_uploads_are_limited_per_address_across_visitors(
    run_chat: RunChat, tmp_path: Path
) -> None:
    async with run_chat({"address_uploads_per_minute": 2}) as chat:
        ann, bob = await chat.chatting(), await chat.chatting()
        one = await chat.upload(b"first file\n", token=ann.token, content_type="text/plain")
        two = await chat.upload(b"second file\n", token=bob.token, content_type="text/plain")
        assert (one.status_code, two.status_code) == (200, 200)
        third = await chat.upload(b"third file\n", token=bob.token, content_type="text/plain")
        assert third.status_code == 429
        assert third.json()["error"].startswith(
            "too many uploads from your address (more than 2 a minute); try again in "
        )
        assert 1 <= int(third.headers["retry-after"]) <= 60
        kept = tmp_path / "files" / WORKSPACE / CHANNEL
        assert sorted(p.name for p in kept.iterdir() if p.suffix != ".json") == sorted(
            [one.json()["sha256"], two.json()["sha256"]]
        )


# Uploads within an open chat -------------------------------------------------------------------


async def test_an_upload_without_an_open_chat_gets_409_and_keeps_nothing(
    run_chat: RunChat, tmp_path: Path
) -> None:
    async with run_chat() as chat:
        refused = await chat.upload(b"no chat yet\n", token=new_visitor())
        assert refused.status_code == 409
        assert refused.json() == {
            "error": "files are taken within an open chat only: send a message first, then "
            "attach the file"
        }
        # Welcomed but silent is no chat either; the welcome says so.
        visitor = await chat.connect()
        assert (await visitor.hello())["open"] is False
        assert (await chat.upload(b"still none\n", token=visitor.token)).status_code == 409
        assert not (tmp_path / "files").exists()

        # Once the visitor writes, the chat is open: files are taken, the welcome says so.
        assert (await visitor.say("hello"))["type"] == "ack"
        kept = await chat.upload(b"now\n", token=visitor.token, content_type="text/plain")
        assert kept.status_code == 200
        again = await chat.connect(visitor.token)
        assert (await again.hello())["open"] is True

        # A closed chat takes no more files; the one kept is still served.
        contact = await chat.runtime.store.open_contact(WORKSPACE, f"{CHANNEL}:{visitor.id}")
        assert contact is not None
        await chat.runtime.abandon(WORKSPACE, contact.id)
        late = await chat.upload(b"too late\n", token=visitor.token, content_type="text/plain")
        assert late.status_code == 409
        sha256 = kept.json()["sha256"]
        served = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/files/{sha256}")
        assert served.content == b"now\n"


# Caps per workspace ----------------------------------------------------------------------------


def two_chat_channels(**settings: Any) -> dict[str, Any]:
    """acme with two web-chat channels (site-chat, help-chat), globex with one (chat-b)."""
    return tenants_config(
        {
            WORKSPACE: {
                **webchat_channel(CHANNEL, **settings),
                **webchat_channel("help-chat", **settings),
            },
            "globex": webchat_channel("chat-b", **settings),
        }
    )


async def test_new_chats_are_capped_per_workspace_and_open_chats_keep_chatting(
    run_chat: RunChat,
) -> None:
    async with run_chat(config=two_chat_channels(max_new_chats_per_minute=2)) as chat:
        ann = await chat.chatting()  # acme's first new chat, on site-chat
        bob = await chat.chatting(channel="help-chat")  # and its second, on the other channel
        refused = await new_chat(chat, "me too")
        assert refused["type"] == "error"
        assert refused["error"].startswith(
            "too many new chats are starting (more than 2 a minute); send the message again in "
        )
        assert 0 < refused["retry_after"] <= 60
        assert (await new_chat(chat, "and me", channel="help-chat"))["type"] == "error"
        assert len(await contacts(chat)) == 2

        # Visitors whose chat is open keep chatting; another workspace is not held up.
        assert (await ann.say("more from ann"))["type"] == "ack"
        assert (await bob.say("more from bob"))["type"] == "ack"
        assert (await new_chat(chat, "globex's first", channel="chat-b"))["type"] == "ack"
        assert sorted(await bodies(chat)) == ["hi", "hi", "more from ann", "more from bob"]
        assert len(await contacts(chat, "globex")) == 1


async def test_new_chats_started_at_once_cannot_all_pass_the_cap(run_chat: RunChat) -> None:
    async with run_chat({"max_new_chats_per_minute": 3}) as chat:
        answers: list[dict[str, Any]] = []

        async def start(n: int) -> None:
            answers.append(await new_chat(chat, f"at once {n}"))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for n in range(12):
                    tg.start_soon(start, n)
        assert [a["type"] for a in answers].count("ack") == 3
        assert all(
            a["type"] == "ack" or a["error"].startswith("too many new chats") for a in answers
        )
        assert len(await contacts(chat)) == 3


async def test_upload_storage_is_capped_per_workspace_counting_the_files_on_disk(
    run_chat: RunChat, tmp_path: Path
) -> None:
    config = two_chat_channels(max_upload_storage_bytes=1000)
    first, second, small = b"a" * 600 + b"\n", b"b" * 600 + b"\n", b"c" * 300 + b"\n"
    async with run_chat(config=config) as chat:
        kept = await chat.upload(first, content_type="text/plain")
        assert kept.status_code == 200

    # After a restart the file on disk still counts, across the workspace's channels.
    async with run_chat(config=config) as chat:
        visitor = await chat.chatting(channel="help-chat")
        refused = await chat.upload(
            second, token=visitor.token, content_type="text/plain", channel="help-chat"
        )
        assert refused.status_code == 507
        assert refused.json() == {
            "error": "this chat cannot keep more files: they would take more than 1000 bytes "
            "(max_upload_storage_bytes; 601 kept); send your message without the file"
        }
        # Nothing kept before is removed, and what still fits is taken.
        sha256 = hashlib.sha256(first).hexdigest()
        served = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/files/{sha256}")
        assert served.content == first
        fits = await chat.upload(
            small, token=visitor.token, content_type="text/plain", channel="help-chat"
        )
        assert fits.status_code == 200
        # The same file again takes no more room; another workspace has its own cap.
        assert (await chat.upload(first, content_type="text/plain")).status_code == 200
        other = await chat.chatting(channel="chat-b")
        elsewhere = await chat.upload(
            second, token=other.token, content_type="text/plain", channel="chat-b"
        )
        assert elsewhere.status_code == 200
    files = tmp_path / "files"
    assert sorted(p.name for p in (files / WORKSPACE / "help-chat").iterdir()) == sorted(
        [hashlib.sha256(small).hexdigest(), hashlib.sha256(small).hexdigest() + ".json"]
    )


# The client's address behind a reverse proxy ---------------------------------------------------


def forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@pytest.mark.parametrize(
    ("web", "separately"),
    [
        ({"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}, True),
        ({"proxy_headers": True, "forwarded_allow_ips": "127.0.0.0/8, ::1"}, True),
        ({"proxy_headers": True, "forwarded_allow_ips": "10.0.0.1"}, False),  # peer not trusted
        ({"proxy_headers": False}, False),
        ({}, False),  # off by default
    ],
    ids=["trusted-proxy", "trusted-network", "untrusted-peer", "off", "default"],
)
async def test_x_forwarded_for_is_the_client_only_from_a_trusted_proxy(
    run_chat: RunChat, web: dict[str, Any], separately: bool
) -> None:
    settings = {"address_sockets_per_minute": 2}
    async with run_chat(settings, web=web) as chat:
        for _ in range(2):
            answer = await new_chat(chat, "from one", headers=forwarded("203.0.113.1"))
            assert answer["type"] == "ack"
        held = await new_chat(chat, "one too many", headers=forwarded("203.0.113.1"))
        assert (held["type"], held["code"]) == ("closed", 1013)
        other = await new_chat(chat, "from another", headers=forwarded("198.51.100.7"))
        if separately:
            assert other["type"] == "ack"  # its own address, its own count
        else:
            assert (other["type"], other["code"]) == ("closed", 1013)  # all one peer
