"""Who a web-chat visitor is (issue 22, item 1): a token the server issued and knows only by
its hash, a signed-in visitor vouched for by the site's HMAC, and the name agents see.

The address agents see (desktop, wallboard, the API's ``customer.address``) is the token's
SHA-256: knowing it gives neither the history nor a way to write as the visitor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from trunkline import Address, InboundMessage, Router, Runtime, load_plugins
from trunkline import events as ev
from trunkline.testing import build_runtime
from trunkline_web.app import web_port
from trunkline_web.users import hash_token
from trunkline_webchat.protocol import TOKEN
from trunkline_webchat.session import visitor_name

from .conftest import CHANNEL, WORKSPACE, Chat, RunChat, address_of, webchat_config

pytestmark = pytest.mark.anyio

SECRET = "the-key-the-site-signs-user-ids-with"
SIGNED = {"identity_secret": {"env": "CHAT_IDENTITY_SECRET"}}
SECRET_ENV = {"CHAT_IDENTITY_SECRET": SECRET}
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"


def sign(user_id: str, secret: str = SECRET) -> str:
    """What the host site's server computes: hex(HMAC-SHA256(identity_secret, user id))."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_address(user_id: str) -> str:
    return "u-" + hashlib.sha256(user_id.encode()).hexdigest()[:40]


async def contact_of(chat: Chat, visitor: str) -> Any:
    contact = await chat.runtime.store.open_contact(WORKSPACE, f"{CHANNEL}:{visitor}")
    assert contact is not None, f"visitor {visitor} has no open contact"
    return contact


async def customer_name(chat: Chat, visitor: str) -> str:
    customer = await chat.runtime.store.customer_by_address(WORKSPACE, Address("webchat", visitor))
    assert customer is not None, f"visitor {visitor} is no customer"
    return customer.name


async def stored(runtime: Runtime) -> list[ev.Event]:
    return [e.event for e in await runtime.store.read(WORKSPACE)]


# The token --------------------------------------------------------------------------------


async def test_a_visitor_without_a_token_is_issued_one_and_known_by_its_hash(
    run_chat: RunChat,
) -> None:
    async with run_chat() as chat:
        first = await chat.connect()
        await first.send_json({"type": "hello", "resume_after": None})
        welcome = await first.expect("welcome")
        token = welcome["token"]
        assert TOKEN.fullmatch(token)
        assert welcome["visitor"] == address_of(token) == hashlib.sha256(token.encode()).hexdigest()
        kept = await first.say("Where is my order?")
        contact = await contact_of(chat, address_of(token))
        assert contact.address == Address("webchat", address_of(token))
        await first.close()

        # Back with the token: the same conversation, and no new token.
        back = await chat.connect(token)
        again = await back.hello()
        assert "token" not in again
        assert [m["id"] for m in again["messages"]] == [kept["message_id"]]


async def test_a_token_of_another_format_such_as_an_old_visitor_id_starts_a_new_conversation(
    run_chat: RunChat,
) -> None:
    async with run_chat() as chat:
        old_id = str(uuid.uuid4())  # what the widget kept before tokens
        before = InboundMessage(
            channel=CHANNEL,
            sender=Address("webchat", old_id),
            body="asked before",
            thread_hint=old_id,
        )
        await chat.channel.receive(before)
        visitor = await chat.connect()
        await visitor.send_json({"type": "hello", "token": old_id})
        welcome = await visitor.expect("welcome")
        assert welcome["messages"] == []
        assert TOKEN.fullmatch(welcome["token"])
        assert welcome["visitor"] == address_of(welcome["token"])


async def test_someone_who_knows_the_address_agents_see_cannot_read_or_write_as_the_visitor(
    run_chat: RunChat,
) -> None:
    async with run_chat() as chat:
        ann = await chat.visitor()
        said = await ann.say("My card number ends in 4242", id="c-1")
        contact = await contact_of(chat, ann.id)
        seen = contact.address.value  # as the desktop, the wallboard and the API show it
        assert seen != ann.token

        for hello in (
            {"visitor": seen},  # the old way: the id was the key
            {"token": seen},
            {"identity": {"id": seen, "hash": "0" * 64}},
        ):
            mallory = await chat.connect()
            await mallory.send_json({"type": "hello", **hello})
            answer = await mallory.expect(where=lambda f: f["type"] in ("welcome", "error"))
            if answer["type"] == "welcome":
                assert answer["messages"] == [], f"{hello} read the visitor's history"
                assert answer["visitor"] != seen
                # What they write goes to a conversation of their own.
                assert (await mallory.say("It is Ann: refund me", id="c-1"))["type"] == "ack"
            else:
                sent = await mallory.say("It is Ann: refund me", id="c-1")
                assert sent["error"].startswith("say hello first")
            await mallory.close()

        messages = await chat.runtime.store.messages(WORKSPACE, contact.id)
        assert [m.id for m in messages] == [said["message_id"]]
        assert not [f for f in ann.frames if "refund" in json.dumps(f)]
        back = await (await chat.connect(ann.token)).hello()
        assert [m["body"] for m in back["messages"]] == ["My card number ends in 4242"]


# The token is never shown ---------------------------------------------------------------------

API_TOKEN = "token-of-sue"


@asynccontextmanager
async def desk_server(tmp_path: Path) -> AsyncIterator[Runtime]:
    """The whole server, as ``serve`` runs it: the API and pages beside the web chat."""
    pm = load_plugins({"TRUNKLINE_PLUGINS": "webchat,web"})
    data = webchat_config({"files_dir": str(tmp_path / "files")})
    data["web"] = {"port": 0}
    data["workspaces"][WORKSPACE]["users"] = {
        "sue": {"role": "supervisor", "token_hash": hash_token(API_TOKEN)}
    }
    runtime = build_runtime(pm, data, serve=True)
    async with runtime.running():
        yield runtime


async def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    with anyio.fail_after(5):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


async def test_the_token_never_reaches_an_api_answer_an_event_or_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with desk_server(tmp_path) as runtime:
        base = f"http://127.0.0.1:{web_port(runtime)}"
        chat_ws = base.replace("http://", "ws://") + f"/chat/{CHANNEL}/ws"
        async with (
            httpx.AsyncClient(base_url=base, timeout=10, trust_env=False) as http,
            connect(chat_ws, proxy=None) as ws,
        ):
            await ws.send(json.dumps({"type": "hello"}))
            token = (await next_frame(ws, "welcome"))["token"]
            await ws.send(json.dumps({"type": "message", "id": "c-0", "text": "hello"}))
            assert (await next_frame(ws, "ack"))["id"] == "c-0"  # files come within a chat
            await next_frame(ws, "position")  # queued
            files = {"file": ("receipt.pdf", PDF, "application/pdf")}
            upload = await http.post(f"/chat/{CHANNEL}/files", data={"token": token}, files=files)
            assert upload.status_code == 200
            message = {"type": "message", "id": "c-1", "text": "the receipt", "attachments": []}
            message["attachments"] = [upload.json()["sha256"]]
            await ws.send(json.dumps(message))
            assert (await next_frame(ws, "ack"))["id"] == "c-1"
            await ws.send(json.dumps({"type": "typing"}))

            await runtime.set_agent_status(WORKSPACE, "alice", "available")
            engine = runtime.desk(WORKSPACE).engine
            assert isinstance(engine, Router)
            [offer] = engine.offers.values()
            await runtime.accept(WORKSPACE, offer.id)
            await runtime.reply(WORKSPACE, offer.contact_id, "How can I help?")
            await next_frame(ws, "message")

            w = f"/api/v1/workspaces/{WORKSPACE}"
            sue = {"Authorization": f"Bearer {API_TOKEN}"}
            answers = [
                await http.get(path, headers=sue)
                for path in (
                    f"{w}/contacts",
                    f"{w}/contacts/{offer.contact_id}",
                    f"{w}/search?q=Visitor",
                    f"{w}/offers",
                    f"{w}/agents",
                    f"{w}/queues",
                    f"{w}/reports/summary",
                )
            ]
            supervisor_ws = base.replace("http://", "ws://") + "/ws/supervisor"
            async with connect(supervisor_ws, proxy=None, additional_headers=sue) as board:
                snapshot = json.dumps(await next_frame(board, "board"))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        detail = answers[1].json()
        address = address_of(token)
        # What agents see is the address (a hash) and a name, never the token.
        assert detail["customer"]["address"] == f"webchat:{address}"
        assert detail["customer"]["name"] == visitor_name(address)
        assert re.fullmatch(r"Visitor \d{4}", detail["customer"]["name"])
        [listed] = answers[0].json()  # the wallboard's list names the customer too
        assert listed["customer"] == {
            "id": detail["customer"]["id"],
            "name": visitor_name(address),
            "address": f"webchat:{address}",
        }
        for answer in answers:
            assert token not in answer.text, answer.request.url
        assert token not in str(snapshot)
        events = await stored(runtime)
        assert any(isinstance(e, ev.MessageReceived) for e in events)
        assert token not in repr(events)
    # Trunkline's own lines at every level, everyone's from INFO up. (At DEBUG, uvicorn and
    # websockets trace frames and headers, bearer tokens and cookies too: never run them so.)
    records = [
        r for r in caplog.records if r.name.startswith("trunkline") or r.levelno >= logging.INFO
    ]
    logged = [(r.getMessage(), repr(r.args), r.exc_text or "") for r in records]
    assert logged, "nothing was logged: the check proves nothing"
    assert token not in repr(logged)


# Identity verification ------------------------------------------------------------------------


async def test_a_signed_in_visitor_is_known_by_the_sites_hmac_on_every_device(
    run_chat: RunChat,
) -> None:
    identity = {"id": "user-42", "hash": sign("user-42"), "name": "Ana Lima"}
    identity["email"] = "ana@example.com"
    async with run_chat(SIGNED, env=SECRET_ENV) as chat:
        phone = await chat.connect()
        await phone.send_json({"type": "hello", "identity": identity})
        welcome = await phone.expect("welcome")
        assert welcome["visitor"] == user_address("user-42")
        assert "token" not in welcome  # the identity is the key: nothing to keep
        said = await phone.say("Asked from my phone")
        assert said["type"] == "ack"
        contact = await contact_of(chat, user_address("user-42"))
        assert contact.attributes == {
            "user_id": "user-42",
            "name": "Ana Lima",
            "email": "ana@example.com",
        }
        assert await customer_name(chat, user_address("user-42")) == "Ana Lima"

        # Another browser, the same person: the same conversation (the hash's case is free).
        laptop = await chat.connect()
        upper = {"id": "user-42", "hash": sign("user-42").upper()}
        await laptop.send_json({"type": "hello", "identity": upper})
        again = await laptop.expect("welcome")
        assert [m["id"] for m in again["messages"]] == [said["message_id"]]

        # Uploads carry the identity the same way.
        form = {"identity": json.dumps(upper)}
        files = {"file": ("a.pdf", PDF, "application/pdf")}
        answer = await chat.http.post(f"{chat.url}/chat/{CHANNEL}/files", data=form, files=files)
        assert answer.status_code == 200


@pytest.mark.parametrize(
    "wrong",
    [
        sign("user-43"),  # another user's
        sign("user-42", "another-key"),  # signed with another key
        "0" * 64,
    ],
)
async def test_an_identity_whose_hash_does_not_match_is_refused_and_nothing_is_stored(
    run_chat: RunChat, caplog: pytest.LogCaptureFixture, wrong: str
) -> None:
    async with run_chat(SIGNED, env=SECRET_ENV) as chat:
        ann = await chat.visitor()
        kept = await ann.say("accepted before")
        before = await chat.runtime.store.last_seq(WORKSPACE)

        visitor = await chat.connect()
        await visitor.send_json({"type": "hello", "identity": {"id": "user-42", "hash": wrong}})
        error = await visitor.expect("error")
        assert error["error"].startswith('"identity.hash" does not match "identity.id"')
        assert "HMAC-SHA256(identity_secret, id)" in error["error"]
        assert (await visitor.say("hi"))["error"].startswith("say hello first")
        form = {"identity": json.dumps({"id": "user-42", "hash": wrong})}
        files = {"file": ("a.pdf", PDF, "application/pdf")}
        upload = await chat.http.post(f"{chat.url}/chat/{CHANNEL}/files", data=form, files=files)
        assert upload.status_code == 403
        assert upload.json()["error"].startswith('"identity.hash" does not match')
        assert await chat.runtime.store.last_seq(WORKSPACE) == before  # nothing stored
        assert chat.channel.connected(user_address("user-42")) == 0
        assert "does not match" in caplog.text
        assert wrong not in caplog.text

        # The socket may still say hello rightly; what was accepted before is all there.
        await visitor.send_json(
            {"type": "hello", "identity": {"id": "user-42", "hash": sign("user-42")}}
        )
        assert (await visitor.expect("welcome"))["visitor"] == user_address("user-42")
        back = await (await chat.connect(ann.token)).hello()
        assert [m["id"] for m in back["messages"]] == [kept["message_id"]]


async def test_an_identity_is_refused_by_a_chat_without_identity_secret(
    run_chat: RunChat,
) -> None:
    async with run_chat() as chat:
        identity = {"id": "user-42", "hash": sign("user-42")}
        visitor = await chat.connect()
        await visitor.send_json({"type": "hello", "identity": identity})
        error = await visitor.expect("error")
        assert error["error"].startswith("this chat does not verify identities")
        assert "identity_secret" in error["error"]
        form = {"identity": json.dumps(identity)}
        files = {"file": ("a.pdf", PDF, "application/pdf")}
        upload = await chat.http.post(f"{chat.url}/chat/{CHANNEL}/files", data=form, files=files)
        assert upload.status_code == 403
        assert await stored(chat.runtime) == []
        # A visitor with a token chats as ever.
        await visitor.hello()
        assert (await visitor.say("hello"))["type"] == "ack"


def test_the_identity_secret_is_a_secret_read_from_the_environment() -> None:
    import attrs

    from trunkline.channels import is_secret
    from trunkline_webchat.adapter import WebChatSettings

    field = attrs.fields_dict(WebChatSettings)["identity_secret"]
    assert is_secret(field)
    assert field.default is None  # off unless set


# The name agents see ------------------------------------------------------------------------


async def test_the_customer_is_named_by_the_visitor_else_visitor_and_four_stable_digits(
    run_chat: RunChat,
) -> None:
    async with run_chat() as chat:
        ann = await chat.visitor(name="  Ann   Smith ")
        await ann.say("hi")
        assert await customer_name(chat, ann.id) == "Ann Smith"

        ben = await chat.visitor()
        await ben.send_json({"type": "details", "name": "Ben Okafor"})  # the pre-chat form
        await ben.say("hi")
        assert await customer_name(chat, ben.id) == "Ben Okafor"

        cy = await chat.visitor()
        await cy.say("hi")
        name = await customer_name(chat, cy.id)
        assert re.fullmatch(r"Visitor [1-9]\d{3}", name)
        assert name == visitor_name(cy.id)  # derived from the address: the same every time
        assert cy.id not in name
        assert cy.token not in name
        names = {visitor_name(address_of(str(n))) for n in range(50)}
        assert len(names) > 40  # visitors are told apart, mostly
