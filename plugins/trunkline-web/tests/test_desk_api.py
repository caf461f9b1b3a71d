"""The endpoints of the agent desktop: the customer's profile, private notes, canned
responses, search, attachments, the transfer directory, filters of the open contacts."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
import websockets

from trunkline import Address, Customer, Runtime
from trunkline import events as ev
from trunkline_web.app import web_port
from trunkline_web.users import hash_password, hash_token

pytestmark = pytest.mark.anyio

TOKENS = {name: f"token-of-{name}" for name in ("ada", "bob", "sue", "eve")}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
W = "/api/v1/workspaces/acme"


def config_data() -> dict[str, Any]:
    def user(role: str, token: str, agent: str = "", name: str = "") -> dict[str, Any]:
        data = {
            "role": role,
            "password_hash": hash_password("correct horse"),
            "token_hash": hash_token(TOKENS[token]),
            "name": name,
        }
        if agent:
            data["agent"] = agent
        return data

    return {
        "web": {"port": 0},
        "workspaces": {
            "acme": {
                "name": "Acme Support",
                "queues": {
                    "support": {"name": "Support", "offer_timeout": 30},
                    "billing": {"name": "Billing"},
                },
                "agents": {
                    "ada": {"name": "Ada", "capacity": {"chat": 2}, "queues": ["support"]},
                    "bob": {"name": "Bob", "capacity": {"chat": 2}, "queues": ["support"]},
                },
                "users": {
                    "ada": user("agent", "ada", "ada"),
                    "bob": user("agent", "bob", "bob"),
                    "sue": user("supervisor", "sue", name="Sue Park"),
                },
                "canned": [
                    {
                        "shortcut": "hello",
                        "title": "Greeting",
                        "text": "Hello {{customer.name}}, {{agent.name}} of {{workspace.name}} "
                        "here. Your order {{order.id}} is in {{queue.name}}.",
                    },
                    {"shortcut": "ref", "text": "Your reference: {{contact.id}}"},
                ],
                "channels": {
                    "web": {"adapter": "memory", "queue": "support"},
                    "mail": {
                        "adapter": "memory",
                        "queue": "billing",
                        "settings": {"kind": "email"},
                    },
                },
            },
            "other": {
                "queues": {"q": {}},
                "agents": {"ed": {"capacity": {"chat": 1}, "queues": ["q"]}},
                "users": {"eve": user("admin", "eve")},
                "channels": {"other-web": {"adapter": "memory", "queue": "q"}},
            },
        },
    }


@pytest.fixture
def web_config() -> dict[str, Any]:
    return config_data()  # conftest's server runs it


def client(runtime: Runtime, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{web_port(runtime)}",
        headers={"Authorization": f"Bearer {TOKENS[token]}"},
    )


async def taken_by(server: Runtime, agent: str, contact_id: str) -> None:
    """``agent`` becomes available, accepts the offer of ``contact_id`` and goes offline."""
    await server.set_agent_status("acme", agent, "available")
    router = server.desk("acme").engine
    offer = next(o for o in router.offers.values() if o.contact_id == contact_id)  # type: ignore[attr-defined]
    assert offer.agent_id == agent
    await server.accept("acme", offer.id)
    await server.set_agent_status("acme", agent, "offline")


async def named(server: Runtime, address: str, name: str, *more: Address) -> None:
    """A customer known by name before they write (as an identity plugin would record)."""
    customer = Customer(
        id=f"cu_{address}",
        workspace="acme",
        addresses=(Address("memory", address), *more),
        name=name,
    )
    await server.store.append([ev.CustomerCreated(workspace="acme", at=0, customer=customer)])


# The profile --------------------------------------------------------------------------------


async def test_the_contact_shows_the_customers_name_addresses_and_when_it_was_accepted(
    server: Runtime,
) -> None:
    await named(server, "carol", "Carol Jones", Address("email", "carol@example.com"))
    ack = await server.channel("web").deliver(
        "carol", "late again", subject="Order 1234", attributes={"order": "1234", "tier": "gold"}
    )
    server.clock.advance(42)  # type: ignore[attr-defined]
    await taken_by(server, "ada", ack.contact_id)
    async with client(server, "ada") as ada:
        detail = (await ada.get(f"{W}/contacts/{ack.contact_id}")).json()
    assert detail["customer"] == {
        "id": "cu_carol",
        "address": "memory:carol",
        "name": "Carol Jones",
        "addresses": [
            {"kind": "memory", "value": "carol"},
            {"kind": "email", "value": "carol@example.com"},
        ],
    }
    assert detail["attributes"] == {"order": "1234", "tier": "gold"}
    assert detail["accepted_at"] == server.clock.now()
    assert detail["notes"] == []


async def test_an_agent_reads_a_closed_contact_but_not_a_colleagues_open_one(
    server: Runtime,
) -> None:
    web = server.channel("web")
    done = await web.deliver("dora", "old question")
    await taken_by(server, "bob", done.contact_id)
    await server.end_contact("acme", done.contact_id)  # no wrap-up in this queue: closed
    live = await web.deliver("finn", "in progress")
    await taken_by(server, "bob", live.contact_id)
    async with client(server, "ada") as ada:
        closed = await ada.get(f"{W}/contacts/{done.contact_id}")
        assert closed.status_code == 200
        assert closed.json()["state"] == "closed"
        assert closed.json()["messages"][0]["body"] == "old question"
        colleagues = await ada.get(f"{W}/contacts/{live.contact_id}")
        assert colleagues.status_code == 404
        assert colleagues.json() == {"error": f'no contact "{live.contact_id}" of yours'}


# Notes --------------------------------------------------------------------------------------


async def test_a_note_is_kept_with_the_contact_pushed_to_its_agent_and_never_sent(
    server: Runtime,
) -> None:
    web = server.channel("web")
    ack = await web.deliver("gil", "refund please")
    await taken_by(server, "ada", ack.contact_id)
    headers = {"Authorization": f"Bearer {TOKENS['ada']}"}
    url = f"ws://127.0.0.1:{web_port(server)}/ws/agent"
    async with (
        client(server, "ada") as ada,
        client(server, "sue") as sue,
        websockets.connect(url, additional_headers=headers) as socket,
    ):
        added = await ada.post(f"{W}/contacts/{ack.contact_id}/notes", json={"text": "Gold tier."})
        assert added.status_code == 201
        note = added.json()
        assert (note["author"], note["author_name"], note["agent_id"], note["text"]) == (
            "ada",
            "Ada",
            "ada",
            "Gold tier.",
        )
        with anyio.fail_after(5):
            while (pushed := json.loads(await socket.recv()))["type"] != "note":
                pass
        assert pushed == {"type": "note", "contact_id": ack.contact_id, "note": note}
        by_sue = await sue.post(f"{W}/contacts/{ack.contact_id}/notes", json={"text": "Agreed."})
        assert by_sue.json()["author_name"] == "Sue Park"
        detail = (await ada.get(f"{W}/contacts/{ack.contact_id}")).json()
    assert [n["text"] for n in detail["notes"]] == ["Gold tier.", "Agreed."]
    assert [m["body"] for m in detail["messages"]] == ["refund please"]
    assert web.sent == []
    assert await server.store.outbox_due(float("inf")) == []


async def test_a_supervisor_monitoring_a_contact_sees_its_notes_as_they_are_added(
    server: Runtime,
) -> None:
    ack = await server.channel("web").deliver("ike", "hello")
    await taken_by(server, "ada", ack.contact_id)
    headers = {"Authorization": f"Bearer {TOKENS['sue']}"}
    url = f"ws://127.0.0.1:{web_port(server)}/ws/supervisor"
    async with websockets.connect(url, additional_headers=headers) as socket:
        await socket.send(json.dumps({"type": "monitor", "contact_id": ack.contact_id, "ref": 1}))
        with anyio.fail_after(5):
            while json.loads(await socket.recv())["type"] != "ack":
                pass
        async with client(server, "ada") as ada:
            await ada.post(f"{W}/contacts/{ack.contact_id}/notes", json={"text": "Escalate?"})
        with anyio.fail_after(5):
            while (pushed := json.loads(await socket.recv()))["type"] != "note":
                pass
    assert (pushed["contact_id"], pushed["note"]["text"]) == (ack.contact_id, "Escalate?")


async def test_only_the_contacts_agent_or_a_supervisor_adds_a_note(server: Runtime) -> None:
    ack = await server.channel("web").deliver("hal", "hello")
    await taken_by(server, "ada", ack.contact_id)
    path = f"{W}/contacts/{ack.contact_id}/notes"
    async with client(server, "bob") as bob, client(server, "eve") as eve:
        assert (await bob.post(path, json={"text": "mine now"})).status_code == 404
        elsewhere = await eve.post(path.replace("acme", "other"), json={"text": "x"})
        assert elsewhere.status_code == 404
        assert (await eve.post(path, json={"text": "x"})).status_code == 404
    async with client(server, "ada") as ada, client(server, "sue") as sue:
        empty = await ada.post(path, json={"text": "   "})
        assert (empty.status_code, empty.json()) == (
            400,
            {"error": '"text" must be a non-empty string'},
        )
        unknown = await sue.post(f"{W}/contacts/ct_none/notes", json={"text": "x"})
        assert unknown.status_code == 404
    timeline = await server.store.contact_events("acme", ack.contact_id)
    assert not any(isinstance(s.event, ev.NoteAdded) for s in timeline)


# Canned responses ---------------------------------------------------------------------------


async def test_canned_responses_fill_the_contacts_placeholders_and_flag_the_rest(
    server: Runtime,
) -> None:
    await named(server, "ivy", "Ivy Chen")
    ack = await server.channel("web").deliver("ivy", "where is it?")
    await taken_by(server, "ada", ack.contact_id)
    async with client(server, "ada") as ada:
        raw = (await ada.get(f"{W}/canned")).json()
        filled = (await ada.get(f"{W}/contacts/{ack.contact_id}/canned")).json()
    assert [(c["shortcut"], c["title"]) for c in raw] == [("hello", "Greeting"), ("ref", "ref")]
    assert "{{customer.name}}" in raw[0]["text"]
    assert filled == [
        {
            "shortcut": "hello",
            "title": "Greeting",
            "text": "Hello Ivy Chen, Ada of Acme Support here. Your order {{order.id}} is in "
            "Support.",
            "missing": ["order.id"],
        },
        {
            "shortcut": "ref",
            "title": "ref",
            "text": f"Your reference: {ack.contact_id}",
            "missing": [],
        },
    ]


async def test_a_customer_without_a_name_leaves_the_placeholder_to_fill_in(
    server: Runtime,
) -> None:
    ack = await server.channel("web").deliver("jo", "hi")
    async with client(server, "sue") as sue:
        (hello, _) = (await sue.get(f"{W}/contacts/{ack.contact_id}/canned")).json()
    assert hello["text"].startswith("Hello {{customer.name}}, Sue Park of Acme Support")
    assert hello["missing"] == ["customer.name", "order.id"]


# Search -------------------------------------------------------------------------------------


async def test_search_finds_customers_and_contacts_of_the_callers_workspace_only(
    server: Runtime,
) -> None:
    await named(server, "kim", "Kim Larsen", Address("email", "kim@example.com"))
    first = await server.channel("web").deliver("kim", "first", subject="Broken lamp")
    await taken_by(server, "bob", first.contact_id)  # open, bob's
    await server.channel("other-web").deliver("kim-other", "x", subject="Broken lamp elsewhere")
    async with client(server, "ada") as ada:
        by_name = (await ada.get(f"{W}/search", params={"q": "LARSEN"})).json()
        by_subject = (await ada.get(f"{W}/search", params={"q": "lamp"})).json()
        by_id = (await ada.get(f"{W}/search", params={"q": first.contact_id})).json()
    assert by_name["customers"] == [
        {
            "id": "cu_kim",
            "name": "Kim Larsen",
            "addresses": [
                {"kind": "memory", "value": "kim"},
                {"kind": "email", "value": "kim@example.com"},
            ],
        }
    ]
    (found,) = by_name["contacts"]
    assert (found["id"], found["subject"], found["state"], found["agent_id"]) == (
        first.contact_id,
        "Broken lamp",
        "active",
        "bob",
    )
    assert found["customer"]["name"] == "Kim Larsen"
    assert found["readable"] is False  # bob's open conversation
    assert [c["id"] for c in by_subject["contacts"]] == [first.contact_id]  # not other's
    assert [c["id"] for c in by_id["contacts"]] == [first.contact_id]
    async with client(server, "eve") as eve:
        theirs = (await eve.get("/api/v1/workspaces/other/search", params={"q": "lamp"})).json()
        assert [c["subject"] for c in theirs["contacts"]] == ["Broken lamp elsewhere"]
        assert (await eve.get(f"{W}/search", params={"q": "lamp"})).status_code == 404


async def test_a_search_needs_two_characters_and_a_sane_limit(server: Runtime) -> None:
    async with client(server, "sue") as sue:
        for params in ({}, {"q": " x "}, {"q": "x" * 201}):
            answer = await sue.get(f"{W}/search", params=params)
            assert answer.status_code == 400
            assert '"q" must have from 2 to 200 characters' in answer.json()["error"]
        for limit in ("0", "51", "ten"):
            answer = await sue.get(f"{W}/search", params={"q": "ab", "limit": limit})
            assert answer.json() == {"error": '"limit" must be a whole number from 1 to 50'}


# Attachments --------------------------------------------------------------------------------


async def test_an_attachment_is_served_to_who_may_read_the_contact(server: Runtime) -> None:
    web = server.channel("web")
    photo = web.keep_file(PNG, "photo.png", "image/png")
    page = web.keep_file(b"<script>alert(1)</script>", "page.html", "text/html")
    ack = await web.deliver("lou", "see attached", attachments=(photo, page))
    await taken_by(server, "ada", ack.contact_id)
    async with client(server, "ada") as ada:
        (message,) = (await ada.get(f"{W}/contacts/{ack.contact_id}")).json()["messages"]
        urls = [a["url"] for a in message["attachments"]]
        assert urls[0] == f"{W}/contacts/{ack.contact_id}/attachments/{photo.sha256}"
        shown = await ada.get(urls[0])
        assert (shown.status_code, shown.content) == (200, PNG)
        assert shown.headers["content-type"] == "image/png"
        assert shown.headers["content-disposition"] == "inline; filename*=UTF-8''photo.png"
        assert shown.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in shown.headers["content-security-policy"]
        html = await ada.get(urls[1])  # never shown as a page: a download
        assert html.headers["content-type"] == "application/octet-stream"
        assert html.headers["content-disposition"].startswith("attachment;")
        missing = await ada.get(f"{W}/contacts/{ack.contact_id}/attachments/{'0' * 64}")
        assert missing.status_code == 404
        assert (
            missing.json()["error"] == f'contact "{ack.contact_id}" has no attachment "{"0" * 64}"'
        )
    async with client(server, "bob") as bob, client(server, "eve") as eve:
        assert (await bob.get(urls[0])).status_code == 404  # ada's open conversation
        assert (await eve.get(urls[0])).status_code == 404  # another workspace
        assert (await eve.get(urls[0].replace("acme", "other"))).status_code == 404


async def test_an_attachment_its_channel_no_longer_has_is_a_clear_404(server: Runtime) -> None:
    web = server.channel("web")
    photo = web.keep_file(PNG, "photo.png", "image/png")
    ack = await web.deliver("mo", "see attached", attachments=(photo,))
    del web.files[photo.sha256]
    async with client(server, "sue") as sue:
        gone = await sue.get(f"{W}/contacts/{ack.contact_id}/attachments/{photo.sha256}")
    assert (gone.status_code, gone.json()) == (
        404,
        {"error": 'channel "web" no longer has "photo.png"'},
    )


# Transfers and the open contacts ------------------------------------------------------------


async def test_the_directory_lists_the_queues_and_agents_to_transfer_to(server: Runtime) -> None:
    await server.set_agent_status("acme", "bob", "available")
    async with client(server, "ada") as ada:
        directory = (await ada.get(f"{W}/directory")).json()
        agents = (await ada.get(f"{W}/agents")).json()
    assert directory["queues"] == [
        {"id": "support", "name": "Support"},
        {"id": "billing", "name": "Billing"},
    ]
    assert [(a["id"], a["name"], a["status"], a["state"]) for a in directory["agents"]] == [
        ("ada", "Ada", "offline", "idle"),
        ("bob", "Bob", "available", "idle"),
    ]
    assert agents[0]["status_since"] is None  # never changed since the log began


async def test_an_agents_status_shows_since_when(server: Runtime) -> None:
    server.clock.advance(100)  # type: ignore[attr-defined]
    await server.set_agent_status("acme", "ada", "break", "lunch")
    since = server.clock.now()
    server.clock.advance(30)  # type: ignore[attr-defined]
    async with client(server, "ada") as ada:
        (agent,) = (await ada.get(f"{W}/agents")).json()
    assert (agent["status"], agent["status_since"]) == ("break", since)


async def test_the_open_contacts_are_filtered_by_state_queue_kind_agent_and_text(
    server: Runtime,
) -> None:
    web, mail = server.channel("web"), server.channel("mail")
    chats = [(await web.deliver("chat-0", "hi", subject="Chat 0")).contact_id]
    await taken_by(server, "ada", chats[0])
    for n in (1, 2):
        chats.append((await web.deliver(f"chat-{n}", "hi", subject=f"Chat {n}")).contact_id)
    mails = [
        (await mail.deliver(f"m{n}@example.com", "hi", subject=f"Invoice {n}")).contact_id
        for n in range(2)
    ]
    async with client(server, "sue") as sue:

        async def ids(**filters: str) -> set[str]:
            answer = await sue.get(f"{W}/contacts", params=filters)
            assert answer.status_code == 200, answer.text
            return {c["id"] for c in answer.json()}

        assert await ids() == {*chats, *mails}
        assert await ids(queue="billing") == set(mails)
        assert await ids(kind="email") == set(mails)
        assert await ids(state="active") == {chats[0]}
        assert await ids(state="queued", queue="support") == set(chats[1:])
        assert await ids(agent="ada") == {chats[0]}
        assert await ids(q="INVOICE 1") == {mails[1]}
        assert await ids(q="m0@example") == {mails[0]}
        assert await ids(q=chats[2]) == {chats[2]}
        unknown = await sue.get(f"{W}/contacts", params={"colour": "red"})
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"error": 'unknown filter "colour" (filters: state, queue, kind, agent, q)'},
    )
