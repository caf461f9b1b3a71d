"""The HTTP and WebSocket API against a running server: roles, isolation, the agent's day."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import websockets

from trunkline import Address, FakeClock, InboundMessage, Router, Runtime, load_plugins
from trunkline.runtime import default_engine
from trunkline.testing import build_runtime
from trunkline_web.app import web_port
from trunkline_web.openapi import openapi_document
from trunkline_web.users import hash_password, hash_token

pytestmark = pytest.mark.anyio

PASSWORD = hash_password("correct horse")
TOKENS = {name: f"token-of-{name}" for name in ("ada", "bob", "sue", "eve")}


def config_data(**web: Any) -> dict[str, Any]:
    def user(role: str, agent: str = "", token: str = "") -> dict[str, Any]:
        data = {"role": role, "password_hash": PASSWORD, "token_hash": hash_token(TOKENS[token])}
        if agent:
            data["agent"] = agent
        return data

    return {
        "web": {"port": 0, **web},
        "workspaces": {
            "acme": {
                "skills": ["en"],
                "queues": {"support": {"offer_timeout": 30, "wrap_up": 0}, "billing": {}},
                "agents": {
                    "ada": {"capacity": {"chat": 2}, "queues": ["support"]},
                    "bob": {"capacity": {"chat": 1}, "queues": ["support", "billing"]},
                },
                "users": {
                    "ada": user("agent", "ada", "ada"),
                    "bob": user("agent", "bob", "bob"),
                    "sue": user("supervisor", token="sue"),
                },
                "channels": {"web": {"adapter": "memory", "queue": "support"}},
            },
            "other": {
                "queues": {"q": {}},
                "agents": {"ed": {"capacity": {"chat": 1}, "queues": ["q"]}},
                "users": {"eve": user("admin", token="eve")},
                "channels": {"other-web": {"adapter": "memory", "queue": "q"}},
            },
        },
    }


@pytest.fixture
def web_config() -> dict[str, Any]:
    return config_data()  # conftest's server runs it


class WrappedEngine:
    """An engine of the app's own that is no Router: it keeps one inside and passes on only
    what the RoutingEngine protocol names."""

    def __init__(self, inner: Router) -> None:
        self._inner = inner
        self.handled = 0

    def handle(self, command: Any, now: float) -> list[Any]:
        self.handled += 1
        return self._inner.handle(command, now)

    def apply(self, event: Any) -> None:
        self._inner.apply(event)

    def next_deadline(self) -> float | None:
        return self._inner.next_deadline()

    def snapshot(self) -> bytes:
        return self._inner.snapshot()

    def restore(self, data: bytes) -> None:
        self._inner.restore(data)

    @property
    def queues(self) -> Any:
        return self._inner.queues

    @property
    def agents(self) -> Any:
        return self._inner.agents

    @property
    def contacts(self) -> Any:
        return self._inner.contacts

    @property
    def offers(self) -> Any:
        return self._inner.offers

    def waiting(self, queue_id: str) -> Any:
        return self._inner.waiting(queue_id)

    def queue_agents(self, queue_id: str) -> Any:
        return self._inner.queue_agents(queue_id)

    def unrouted(self) -> Any:
        return self._inner.unrouted()

    @property
    def schedules(self) -> Any:
        return self._inner.schedules


async def test_an_engine_of_the_apps_own_serves_the_api_through_the_engine_protocol() -> None:
    engines: list[WrappedEngine] = []

    def factory(workspace: Any, strategies: Any, pm: Any) -> WrappedEngine:
        engines.append(WrappedEngine(default_engine(workspace, strategies, pm)))
        return engines[-1]

    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    runtime = build_runtime(
        pm, config_data(), clock=FakeClock(), serve=True, engine_factory=factory
    )
    async with runtime.running(), client(runtime, "sue") as sue:
        ack = await runtime.channel("web").deliver("kim", "hello")
        queues = (await sue.get("/api/v1/workspaces/acme/queues")).json()
        assert {q["id"]: q["waiting"] for q in queues} == {"support": 1, "billing": 0}
        assert queues[0]["agents"]["offline"] == 2
        agents = (await sue.get("/api/v1/workspaces/acme/agents")).json()
        assert {a["id"] for a in agents} == {"ada", "bob"}
        contacts = (await sue.get("/api/v1/workspaces/acme/contacts")).json()
        assert [c["id"] for c in contacts] == [ack.contact_id]
    assert any(engine.handled for engine in engines)


def client(runtime: Runtime, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {TOKENS[token]}"} if token else {}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port(runtime)}", headers=headers)


def ws_url(runtime: Runtime, kind: str) -> str:
    return f"ws://127.0.0.1:{web_port(runtime)}/ws/{kind}"


async def next_of(socket: Any, kind: str, within: float = 5.0) -> dict[str, Any]:
    with anyio.fail_after(within):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == kind:
                return message


# Signing in --------------------------------------------------------------------------------


async def test_login_sets_a_strict_http_only_session_cookie(server: Runtime) -> None:
    async with client(server) as http:
        answer = await http.post(
            "/login", data={"workspace": "acme", "username": "sue", "password": "correct horse"}
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/wallboard"
        cookie = answer.headers["set-cookie"]
        assert "trunkline_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        http.cookies.set("trunkline_session", answer.cookies["trunkline_session"])
        me = await http.get("/api/v1/me")
        assert me.json()["role"] == "supervisor"


async def test_a_wrong_password_or_user_does_not_sign_in(server: Runtime) -> None:
    async with client(server) as http:
        for username, password in (("sue", "wrong"), ("nobody", "correct horse")):
            answer = await http.post(
                "/login", data={"workspace": "acme", "username": username, "password": password}
            )
            assert answer.headers["location"] == "/login?failed=1"
            assert "set-cookie" not in answer.headers


async def test_login_attempts_are_rate_limited(server: Runtime) -> None:
    async with client(server) as http:
        guess = {"workspace": "acme", "username": "ada", "password": "guess"}
        places = [(await http.post("/login", data=guess)).headers["location"] for _ in range(5)]
        # Three failures in a row, then the account backs off (the page says for how long).
        assert places == ["/login?failed=1"] * 3 + ["/login?wait=1"] * 2
        answer = await http.post("/login", data=guess, headers={"Accept": "application/json"})
        assert answer.status_code == 429
        assert int(answer.headers["retry-after"]) == 1
        # Other users are not locked out by someone guessing ada's password.
        ok = await http.post(
            "/login", data={"workspace": "acme", "username": "bob", "password": "correct horse"}
        )
        assert ok.status_code == 303


async def test_no_credentials_is_401_and_a_bad_token_too(server: Runtime) -> None:
    async with client(server) as http:
        assert (await http.get("/api/v1/me")).status_code == 401
        bad = await http.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert bad.json() == {"error": "sign in, or send Authorization: Bearer <token>"}


async def test_pages_send_protective_headers(server: Runtime) -> None:
    async with client(server) as http:
        page = await http.get("/login")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "access-control-allow-origin" not in page.headers  # no CORS unless configured


async def test_a_cross_site_request_with_the_cookie_is_refused(server: Runtime) -> None:
    async with client(server) as http:
        answer = await http.post(
            "/login", data={"workspace": "acme", "username": "ada", "password": "correct horse"}
        )
        http.cookies.set("trunkline_session", answer.cookies["trunkline_session"])
        refused = await http.put(
            "/api/v1/workspaces/acme/agents/ada/status",
            json={"status": "available"},
            headers={"Origin": "https://evil.example"},
        )
        assert refused.status_code == 403
        assert server.desk("acme").engine.agent("ada").status.value == "offline"  # type: ignore[attr-defined]


async def test_a_cookie_request_the_browser_marks_cross_site_is_refused_without_an_origin(
    server: Runtime,
) -> None:
    async with client(server) as http:
        answer = await http.post(
            "/login", data={"workspace": "acme", "username": "ada", "password": "correct horse"}
        )
        http.cookies.set("trunkline_session", answer.cookies["trunkline_session"])
        for site in ("cross-site", "same-site"):
            refused = await http.put(
                "/api/v1/workspaces/acme/agents/ada/status",
                json={"status": "available"},
                headers={"Sec-Fetch-Site": site},
            )
            assert refused.status_code == 403, site
            assert f"Sec-Fetch-Site: {site}" in refused.json()["error"]
    assert server.desk("acme").engine.agent("ada").status.value == "offline"  # type: ignore[attr-defined]


SUE = {"workspace": "acme", "username": "sue", "password": "correct horse"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame or a no-referrer page of another site
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    ],
    ids=["foreign-origin", "null-origin", "sec-fetch-cross-site", "both"],
)
async def test_a_login_posted_from_another_site_is_refused_and_signs_nobody_in(
    server: Runtime, headers: dict[str, str]
) -> None:
    async with client(server) as http:
        for accept in ("text/html", "application/json"):
            refused = await http.post("/login", data=SUE, headers={**headers, "Accept": accept})
            assert refused.status_code == 403
            assert "set-cookie" not in refused.headers
            assert "cross-site request refused" in refused.json()["error"]
        assert (await http.get("/api/v1/me")).status_code == 401
        # Refused before the attempt counts: another site cannot lock the user out either.
        for _ in range(6):
            await http.post("/login", data=SUE, headers=headers)
        own = f"http://127.0.0.1:{web_port(server)}"
        signed_in = await http.post(
            "/login", data=SUE, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"}
        )
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/wallboard"
        assert "trunkline_session=" in signed_in.headers["set-cookie"]


async def test_the_login_refusal_says_which_origin_and_how_to_allow_a_proxy(
    server: Runtime,
) -> None:
    async with client(server) as http:
        refused = await http.post("/login", data=SUE, headers={"Origin": "https://cc.example"})
    error = refused.json()["error"]
    assert "https://cc.example" in error
    assert f"http://127.0.0.1:{web_port(server)}" in error
    assert "public_url" in error


async def test_the_public_url_origin_may_sign_in(server: Runtime) -> None:
    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    proxied = build_runtime(
        pm, config_data(public_url="https://cc.example/"), clock=FakeClock(), serve=True
    )
    async with proxied.running(), client(proxied) as http:
        answer = await http.post(
            "/login",
            data=SUE,
            headers={"Origin": "https://cc.example", "Sec-Fetch-Site": "same-origin"},
        )
    assert answer.status_code == 303
    assert "trunkline_session=" in answer.headers["set-cookie"]


async def test_a_logout_posted_from_another_site_keeps_the_session(server: Runtime) -> None:
    async with client(server) as http:
        answer = await http.post("/login", data=SUE)
        http.cookies.set("trunkline_session", answer.cookies["trunkline_session"])
        refused = await http.post("/logout", headers={"Sec-Fetch-Site": "cross-site"})
        assert refused.status_code == 403
        assert "set-cookie" not in refused.headers
        assert (await http.get("/api/v1/me")).status_code == 200
        own = f"http://127.0.0.1:{web_port(server)}"
        out = await http.post("/logout", headers={"Origin": own})
        assert out.status_code == 303
        http.cookies.set("trunkline_session", answer.cookies["trunkline_session"])
        assert (await http.get("/api/v1/me")).status_code == 401


# Roles and workspaces ---------------------------------------------------------------------


def every_path(workspace: str) -> list[tuple[str, str]]:
    found = []
    for path, methods in openapi_document()["paths"].items():
        if "{workspace}" not in path:
            continue
        concrete = (
            path.replace("{workspace}", workspace)
            .replace("{agent}", "ed")
            .replace("{offer}", "x")
            .replace("{contact}", "x")
        )
        found += [(method.upper(), concrete) for method in methods]
    return found


@pytest.mark.parametrize(("method", "path"), every_path("other"))
async def test_no_endpoint_shows_another_workspace(server: Runtime, method: str, path: str) -> None:
    async with client(server, "sue") as http:  # sue supervises acme, not other
        answer = await http.request(method, path, json={} if method != "GET" else None)
    assert answer.status_code == 404, (method, path, answer.text)
    assert "other" not in answer.text.replace('"other"', "") or answer.json() == {
        "error": 'no workspace "other"'
    }


async def test_an_agent_may_not_read_the_queues_or_set_anothers_status(server: Runtime) -> None:
    async with client(server, "ada") as http:
        assert (await http.get("/api/v1/workspaces/acme/queues")).status_code == 403
        other = await http.put(
            "/api/v1/workspaces/acme/agents/bob/status", json={"status": "available"}
        )
        assert other.status_code == 403
        agents = await http.get("/api/v1/workspaces/acme/agents")
        assert [a["id"] for a in agents.json()] == ["ada"]


async def test_bad_input_is_refused_with_the_field_named_and_changes_nothing(
    server: Runtime,
) -> None:
    path = "/api/v1/workspaces/acme/agents/ada/status"
    async with client(server, "ada") as http:
        cases = [
            (b"{not json", 400, "the body is not JSON"),
            (b"[]", 400, "the body must be a JSON object"),
            (b'{"status": "away"}', 400, '"status" must be one of offline, available, break'),
            (b'{"status": "available", "mood": 1}', 400, 'unknown field "mood"'),
            (b'{"status": 3}', 400, 'field "status" must be a str'),
            (b'{"status": "' + b"x" * 70_000 + b'"}', 413, "larger than"),
        ]
        for body, code, text in cases:
            answer = await http.put(
                path, content=body, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == code, body[:40]
            assert text in answer.json()["error"]
    assert server.desk("acme").engine.agent("ada").status.value == "offline"  # type: ignore[attr-defined]


# An agent's day ---------------------------------------------------------------------------


async def test_an_agent_takes_a_chat_through_rest(server: Runtime) -> None:
    web = server.channel("web")
    async with client(server, "ada") as ada, client(server, "sue") as sue:
        assert (
            await ada.put("/api/v1/workspaces/acme/agents/ada/status", json={"status": "available"})
        ).json()["status"] == "available"
        ack = await web.deliver("carol", "my order is late")
        (offer,) = (await ada.get("/api/v1/workspaces/acme/offers")).json()
        assert offer["contact_id"] == ack.contact_id
        async with client(server, "bob") as bob:
            stolen = await bob.post(f"/api/v1/workspaces/acme/offers/{offer['id']}/accept")
            assert stolen.status_code == 403  # not bob's offer
        assert (
            await ada.post(f"/api/v1/workspaces/acme/offers/{offer['id']}/accept")
        ).status_code == 200
        again = await ada.post(f"/api/v1/workspaces/acme/offers/{offer['id']}/accept")
        assert again.status_code == 409
        sent = await ada.post(
            f"/api/v1/workspaces/acme/contacts/{ack.contact_id}/messages", json={"text": "on it"}
        )
        assert sent.status_code == 202
        detail = (await ada.get(f"/api/v1/workspaces/acme/contacts/{ack.contact_id}")).json()
        assert [(m["direction"], m["body"]) for m in detail["messages"]] == [
            ("inbound", "my order is late"),
            ("outbound", "on it"),
        ]
        queues = (await sue.get("/api/v1/workspaces/acme/queues")).json()
        assert queues[0]["agents"]["busy"] == 1
        assert (
            await ada.post(f"/api/v1/workspaces/acme/contacts/{ack.contact_id}/end")
        ).status_code == 200
        summary = (await sue.get("/api/v1/workspaces/acme/reports/summary")).json()
        assert summary["answered"] == 1


async def test_a_reply_longer_than_the_channel_carries_is_a_400_naming_the_limit(
    server: Runtime,
) -> None:
    web = server.channel("web")  # the memory channel carries 4096 characters
    async with client(server, "ada") as ada:
        await ada.put("/api/v1/workspaces/acme/agents/ada/status", json={"status": "available"})
        ack = await web.deliver("cy", "tell me everything")
        (offer,) = (await ada.get("/api/v1/workspaces/acme/offers")).json()
        await ada.post(f"/api/v1/workspaces/acme/offers/{offer['id']}/accept")
        path = f"/api/v1/workspaces/acme/contacts/{ack.contact_id}"
        refused = await ada.post(f"{path}/messages", json={"text": "x" * 5000})
        assert refused.status_code == 400
        assert "5000 characters long" in refused.json()["error"]
        assert "at most 4096" in refused.json()["error"]
        detail = (await ada.get(path)).json()
        assert [m["body"] for m in detail["messages"]] == ["tell me everything"]
        assert web.sent == []


async def test_a_supervisor_sends_a_waiting_chat_to_the_agent_they_choose(server: Runtime) -> None:
    base = "/api/v1/workspaces/acme"
    ack = await server.channel("web").deliver("hal", "anyone there?")  # nobody is available
    path = f"{base}/contacts/{ack.contact_id}/transfer"

    async def state() -> tuple[str, str]:
        async with client(server, "sue") as sue:
            contact = (await sue.get(f"{base}/contacts/{ack.contact_id}")).json()
        return contact["state"], contact["queue"]

    async with client(server, "ada") as ada, client(server, "sue") as sue:
        await ada.put(f"{base}/agents/ada/status", json={"status": "available"})
        await ada.post(f"{base}/offers/{ack.contact_id}:o0/reject")  # ada passes on it
        assert await state() == ("queued", "support")
        # An agent transfers only a contact they handle; a waiting one is not theirs.
        mine = await ada.post(path, json={"agent": "ada"})
        assert (mine.status_code, mine.json()) == (
            404,
            {"error": f'no contact "{ack.contact_id}" of yours'},
        )
        offline = await sue.post(path, json={"agent": "bob"})
        assert offline.status_code == 409
        assert offline.json()["error"] == (
            f'transfer of "{ack.contact_id}": agent "bob" is offline; a waiting contact goes '
            "only to an agent who can take it now"
        )
        assert await state() == ("queued", "support")
        # The supervisor's choice is offered it at once, though ada declined it a moment ago.
        sent = await sue.post(path, json={"agent": "ada"})
        assert sent.status_code == 200
        assert sent.json()["ok"] is True
        assert (sent.json()["offer"]["agent_id"], sent.json()["offer"]["queue"]) == (
            "ada",
            "support",
        )
        (offer,) = (await ada.get(f"{base}/offers")).json()
        assert offer == sent.json()["offer"]
        assert (await ada.post(f"{base}/offers/{offer['id']}/reject")).status_code == 200
        assert await state() == ("queued", "support")  # back in line, not gone
        moved = await sue.post(path, json={"queue": "billing"})
        assert (moved.status_code, moved.json()) == (200, {"ok": True, "offer": None})
        assert await state() == ("queued", "billing")
        again = await sue.post(path, json={"queue": "billing"})
        assert again.status_code == 409
        assert 'it waits in queue "billing" already' in again.json()["error"]


async def test_the_customers_history_across_contacts_is_shown(server: Runtime) -> None:
    web = server.channel("web")
    async with client(server, "ada") as ada:
        await ada.put("/api/v1/workspaces/acme/agents/ada/status", json={"status": "available"})
        first = await web.deliver("dan", "first question")
        (offer,) = (await ada.get("/api/v1/workspaces/acme/offers")).json()
        await ada.post(f"/api/v1/workspaces/acme/offers/{offer['id']}/accept")
        await ada.post(f"/api/v1/workspaces/acme/contacts/{first.contact_id}/end")
        second = await web.deliver("dan", "second question")
        (offer,) = (await ada.get("/api/v1/workspaces/acme/offers")).json()
        await ada.post(f"/api/v1/workspaces/acme/offers/{offer['id']}/accept")
        detail = (await ada.get(f"/api/v1/workspaces/acme/contacts/{second.contact_id}")).json()
    assert [h["id"] for h in detail["history"]] == [first.contact_id]
    assert detail["history"][0]["messages"][0]["body"] == "first question"


async def test_a_message_shows_when_the_server_received_it_and_when_the_customer_sent_it(
    server: Runtime,
) -> None:
    written = server.clock.now() - 630  # the provider delivered it late
    ack = await server.receive(
        InboundMessage(
            channel="web", sender=Address("memory", "eve"), body="hi", received_at=written
        )
    )
    async with client(server, "sue") as sue:
        detail = (await sue.get(f"/api/v1/workspaces/acme/contacts/{ack.contact_id}")).json()
    (message,) = detail["messages"]
    assert (message["created_at"], message["sent_at"]) == (server.clock.now(), written)


async def test_the_agent_socket_pushes_offers_and_takes_requests(server: Runtime) -> None:
    web = server.channel("web")
    headers = {"Authorization": f"Bearer {TOKENS['ada']}"}
    async with websockets.connect(ws_url(server, "agent"), additional_headers=headers) as ws:
        hello = await next_of(ws, "hello")
        assert hello["agent"]["status"] == "offline"
        await ws.send(json.dumps({"type": "status", "status": "available", "ref": 1}))
        assert (await next_of(ws, "ack"))["ref"] == 1
        ack = await web.deliver("fay", "<img src=x onerror=alert(1)>")
        offer = await next_of(ws, "offer")
        assert offer["contact"]["id"] == ack.contact_id
        await ws.send(json.dumps({"type": "accept", "offer_id": offer["offer"]["id"], "ref": 2}))
        assert (await next_of(ws, "offer_closed"))["outcome"] == "accepted"
        assert (await next_of(ws, "contact"))["contact"]["state"] == "active"
        await web.deliver("fay", "are you there?")
        message = await next_of(ws, "message")
        assert message["message"]["body"] == "are you there?"
        await ws.send(
            json.dumps({"type": "reply", "contact_id": ack.contact_id, "text": "yes", "ref": 3})
        )
        replied = await next_of(ws, "ack")
        assert replied["ref"] == 3
        assert replied["message_id"]
        await ws.send(json.dumps({"type": "accept", "offer_id": "gone", "ref": 4}))
        error = await next_of(ws, "error")
        assert (error["ref"], error["error"]) == (
            4,
            'offer "gone" is not open (accepted, rejected or expired)',
        )
        await ws.send("not json")
        assert (await next_of(ws, "error"))["error"] == "not JSON"


async def test_the_supervisor_socket_shows_the_board_and_monitors_a_chat(server: Runtime) -> None:
    web = server.channel("web")
    headers = {"Authorization": f"Bearer {TOKENS['sue']}"}
    async with websockets.connect(ws_url(server, "supervisor"), additional_headers=headers) as ws:
        board = await next_of(ws, "board")
        assert [q["id"] for q in board["queues"]] == ["support", "billing"]
        await ws.send(
            json.dumps({"type": "status", "agent_id": "bob", "status": "available", "ref": 1})
        )
        await next_of(ws, "ack")
        ack = await web.deliver("gil", "hello")
        with anyio.fail_after(5):  # boards come at most once a second, as things change
            while True:
                board = await next_of(ws, "board")
                if sum(q["ringing"] + q["waiting"] for q in board["queues"]) == 1:
                    break
        await ws.send(json.dumps({"type": "monitor", "contact_id": ack.contact_id, "ref": 2}))
        await next_of(ws, "ack")
        await web.deliver("gil", "still here")
        watched = await next_of(ws, "message")
        assert watched["message"]["body"] == "still here"


async def test_an_offer_pushes_the_agents_new_state_and_hello_gives_the_servers_time(
    server: Runtime,
) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['ada']}"}
    async with websockets.connect(ws_url(server, "agent"), additional_headers=headers) as ws:
        hello = await next_of(ws, "hello")
        assert hello["at"] == server.clock.now()  # offers already open count down from it
        await ws.send(json.dumps({"type": "status", "status": "available", "ref": 1}))
        await next_of(ws, "ack")
        await server.channel("web").deliver("gil", "hello")
        await next_of(ws, "offer")
        assert (await next_of(ws, "agent"))["agent"]["state"] == "offered"


async def test_a_websocket_message_over_a_mebibyte_closes_the_socket(server: Runtime) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['ada']}"}
    async with websockets.connect(
        ws_url(server, "agent"), additional_headers=headers, max_size=None
    ) as ws:
        await next_of(ws, "hello")
        await ws.send("x" * (1024 * 1024 + 1))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio_wait_closed(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009  # message too big: refused before it is read
    # The server is still there for everyone else.
    async with websockets.connect(ws_url(server, "agent"), additional_headers=headers) as ws:
        assert (await next_of(ws, "hello"))["type"] == "hello"


async def asyncio_wait_closed(ws: Any) -> None:
    with anyio.fail_after(5):
        while True:
            await ws.recv()


async def test_an_agent_cannot_open_the_supervisor_socket(server: Runtime) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['ada']}"}
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_url(server, "supervisor"), additional_headers=headers):
            pass


async def test_the_openapi_document_describes_every_api_route(server: Runtime) -> None:
    from starlette.routing import Route

    async with client(server) as http:
        document = (await http.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    from trunkline_web.app import create_app

    app = create_app(server)
    api = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in (route.methods or ()) - {"HEAD"}
    }
    described = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert api <= described


# Sign-in throttling (issue 22) -------------------------------------------------------------


def browser(runtime: Runtime, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client that behaves like one browser: its own cookies, the Origin a page sends, and
    connecting from ``address`` (any 127.x.y.z reaches the server: another client address)."""
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{web_port(runtime)}",
        headers={"Origin": f"http://127.0.0.1:{web_port(runtime)}", "Accept": "application/json"},
        transport=httpx.AsyncHTTPTransport(local_address=address),
    )


def as_user(username: str, password: str = "correct horse") -> dict[str, str]:
    return {"workspace": "acme", "username": username, "password": password}


async def test_a_user_who_signs_in_again_and_again_is_never_throttled(server: Runtime) -> None:
    async with browser(server) as http:
        for attempt in range(12):
            answer = await http.post("/login", data=as_user("ada"))
            assert answer.status_code == 200, (attempt, answer.text)
            assert answer.json()["username"] == "ada"


async def test_wrong_passwords_from_a_shared_address_do_not_lock_the_owner_out_of_a_known_browser(
    server: Runtime,
) -> None:
    # Behind a proxy every user shares one address: the guesser and the owner look alike.
    async with browser(server) as owner, browser(server) as guesser:
        assert (await owner.post("/login", data=as_user("ada"))).status_code == 200
        await owner.post("/logout")
        codes = [
            (await guesser.post("/login", data=as_user("ada", f"guess {n}"))).status_code
            for n in range(8)
        ]
        assert codes[:3] == [401] * 3  # then the account backs off for unknown browsers
        assert set(codes[3:]) == {429}
        signed_in = await owner.post("/login", data=as_user("ada"))
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["username"] == "ada"


async def test_failures_from_another_address_make_new_browsers_wait_and_say_how_long(
    server: Runtime,
) -> None:
    clock = server.clock
    assert isinstance(clock, FakeClock)
    async with (
        browser(server) as owner,
        browser(server, "127.0.0.2") as guesser,
        browser(server) as new_browser,
    ):
        assert (await owner.post("/login", data=as_user("ada"))).status_code == 200
        for n in range(3):
            answer = await guesser.post("/login", data=as_user("ada", f"guess {n}"))
            assert answer.status_code == 401
        waits = []
        for _ in range(4):
            refused = await new_browser.post("/login", data=as_user("ada"))
            assert refused.status_code == 429
            waits.append(int(refused.headers["retry-after"]))
            assert refused.json()["error"] == (
                f'too many failed sign-ins as "ada"; wait {waits[-1]} '
                f"second{'s' if waits[-1] > 1 else ''} and try again, or sign in from a "
                "browser that signed in as this user before"
            )
            clock.advance(waits[-1])
            assert (await guesser.post("/login", data=as_user("ada", "again"))).status_code == 401
        assert waits == [1, 2, 4, 8]  # doubling with each failure, up to login_backoff_max
        # The owner's browser was never held up, and its sign-in counts as the owner's.
        assert (await owner.post("/login", data=as_user("ada"))).status_code == 200
        # A sign-in form (not JSON) is sent back to the page, which says how long to wait.
        form = await new_browser.post(
            "/login", data=as_user("ada"), headers={"Accept": "text/html"}
        )
        assert form.status_code == 303
        assert form.headers["location"] == "/login?wait=16"
        clock.advance(16)
        assert (await new_browser.post("/login", data=as_user("ada"))).status_code == 200


async def test_one_address_trying_many_users_is_throttled(server: Runtime) -> None:
    async with browser(server, "127.0.0.3") as sprayer, browser(server) as owner:
        assert (await owner.post("/login", data=as_user("bob"))).status_code == 200
        codes = []
        for n in range(24):
            answer = await sprayer.post("/login", data=as_user(f"user{n}", "password1"))
            codes.append(answer.status_code)
        assert codes[:20] == [401] * 20
        assert set(codes[20:]) == {429}
        assert answer.json()["error"] == (
            "too many failed sign-ins from your address (20 in 10 minutes); wait 600 seconds "
            "and try again"
        )
        assert answer.headers["retry-after"] == "600"
        # Even a right password waits: the address is held up, not an account.
        assert (await sprayer.post("/login", data=as_user("ada"))).status_code == 429
        # Others are not held up, and a browser known to its user passes wherever it is.
        async with browser(server, "127.0.0.4") as elsewhere:
            assert (await elsewhere.post("/login", data=as_user("ada"))).status_code == 200
        owner.cookies.delete("trunkline_session")
        assert (await owner.post("/login", data=as_user("bob"))).status_code == 200


def device_cookies(http: httpx.AsyncClient) -> list[Any]:
    return [c for c in http.cookies.jar if c.name.startswith("trunkline_device_")]


async def test_a_browser_is_known_for_the_user_who_signed_in_on_it_only(server: Runtime) -> None:
    async with (
        browser(server) as shared,
        browser(server) as adas,
        browser(server, "127.0.0.2") as guesser,
    ):
        assert (await shared.post("/login", data=as_user("bob"))).status_code == 200
        (bobs_cookie,) = device_cookies(shared)
        assert bobs_cookie.path == "/login"  # sent back to the sign-in form only
        assert bobs_cookie.has_nonstandard_attr("HttpOnly")
        assert (await adas.post("/login", data=as_user("ada"))).status_code == 200
        (adas_cookie,) = device_cookies(adas)
        assert adas_cookie.name != bobs_cookie.name  # one per user: shared desks keep each
        for n in range(3):
            await guesser.post("/login", data=as_user("ada", f"guess {n}"))
        assert (await shared.post("/login", data=as_user("ada"))).status_code == 429
        # Bob's cookie under ada's name is no pass: it is signed for bob.
        shared.cookies.set(adas_cookie.name, bobs_cookie.value or "", path="/login")
        assert (await shared.post("/login", data=as_user("ada"))).status_code == 429
        assert (await adas.post("/login", data=as_user("ada"))).status_code == 200


async def test_a_known_browser_that_keeps_failing_is_known_no_more(server: Runtime) -> None:
    async with browser(server) as http:
        assert (await http.post("/login", data=as_user("ada"))).status_code == 200
        codes = [
            (await http.post("/login", data=as_user("ada", f"guess {n}"))).status_code
            for n in range(7)
        ]
        # Its own three failures, then the account's three, then the account backs off.
        assert codes == [401] * 6 + [429]


# Sockets end with the sign-in (issue 22) ---------------------------------------------------


async def signed_in_socket(runtime: Runtime, http: httpx.AsyncClient, kind: str) -> Any:
    session = http.cookies.get("trunkline_session")
    assert session
    return websockets.connect(
        ws_url(runtime, kind),
        additional_headers={"Cookie": f"trunkline_session={session}"},
        origin=f"http://127.0.0.1:{web_port(runtime)}",  # type: ignore[arg-type]
    )


async def answer_to(ws: Any, command: dict[str, Any]) -> dict[str, Any]:
    """Send a command; the server's ack of it."""
    await ws.send(json.dumps(command))
    return await next_of(ws, "ack")


async def test_signing_out_closes_the_sessions_sockets_at_once(server: Runtime) -> None:
    async with browser(server) as http:
        assert (await http.post("/login", data=as_user("sue"))).status_code == 200
        async with await signed_in_socket(server, http, "supervisor") as ws:
            await next_of(ws, "hello")
            assert (await http.post("/logout")).status_code == 303
            command = {"type": "status", "agent_id": "ada", "status": "available", "ref": 1}
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await answer_to(ws, command)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "signed out")
    assert server.desk("acme").engine.agent("ada").status.value == "offline"  # type: ignore[attr-defined]


async def test_a_changed_password_or_a_removed_user_closes_their_sockets(server: Runtime) -> None:
    from trunkline.testing import build_runtime as rebuild

    changed = config_data()
    users = changed["workspaces"]["acme"]["users"]
    users["sue"]["password_hash"] = hash_password("battery staple")
    del users["ada"]
    new_config = rebuild(load_plugins({"TRUNKLINE_PLUGINS": "web"}), changed).config
    async with browser(server) as http:
        assert (await http.post("/login", data=as_user("sue"))).status_code == 200
        ada_token = {"Authorization": f"Bearer {TOKENS['ada']}"}
        bob_token = {"Authorization": f"Bearer {TOKENS['bob']}"}
        async with (
            await signed_in_socket(server, http, "supervisor") as sue_ws,
            websockets.connect(ws_url(server, "agent"), additional_headers=ada_token) as ada_ws,
            websockets.connect(ws_url(server, "agent"), additional_headers=bob_token) as bob_ws,
        ):
            for ws in (sue_ws, ada_ws, bob_ws):
                await next_of(ws, "hello")
            server.reload(new_config)
            command = {"type": "status", "agent_id": "ada", "status": "available", "ref": 1}
            for ws in (sue_ws, ada_ws):
                with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                    await answer_to(ws, command)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 4401
                assert closed.value.rcvd.reason == "your account changed; sign in again"
            command = {"type": "status", "status": "available", "ref": 2}
            assert (await answer_to(bob_ws, command))["ref"] == 2
        assert (await http.get("/api/v1/me")).status_code == 401  # the session is gone too
        assert (await http.post("/login", data=as_user("sue"))).status_code == 401
        again = await http.post("/login", data=as_user("sue", "battery staple"))
        assert again.status_code == 200
    async with client(server, "ada") as ada:
        assert (await ada.get("/api/v1/me")).status_code == 401
    engine = server.desk("acme").engine  # type: ignore[attr-defined]
    assert engine.agent("ada").status.value == "offline"
    assert engine.agent("bob").status.value == "available"


async def test_a_sessions_socket_closes_when_the_session_expires() -> None:
    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    brief = build_runtime(pm, config_data(session_hours=2 / 3600), clock=FakeClock(), serve=True)
    async with brief.running(), browser(brief) as http:
        assert (await http.post("/login", data=as_user("sue"))).status_code == 200
        async with await signed_in_socket(brief, http, "supervisor") as ws:
            await next_of(ws, "hello")
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await next_of(ws, "never", within=10)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "the session expired")


def serve_config(port: int, password_hash: str) -> str:
    return f"""
[web]
port = {port}

[workspaces.acme.queues.support]

[workspaces.acme.agents.ada]
queues = ["support"]

[workspaces.acme.users.sue]
role = "supervisor"
password_hash = "{password_hash}"
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGHUP is POSIX")
async def test_serve_takes_a_changed_password_on_sighup_and_closes_the_old_sockets(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = tmp_path / "acme.toml"
    config.write_text(serve_config(port, PASSWORD))
    output = tmp_path / "serve.out"

    async def printed(text: bytes) -> None:
        with anyio.fail_after(30):
            while True:
                if text in output.read_bytes():
                    return
                assert serve.returncode is None, output.read_text()
                await anyio.sleep(0.05)

    with output.open("wb") as out:
        serve = await anyio.open_process(
            [sys.executable, "-c", "from trunkline.cli import main; main()", "serve", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TRUNKLINE_PLUGINS": "web"},
        )
    try:
        base = f"http://127.0.0.1:{port}"
        origin = {"Origin": base, "Accept": "application/json"}
        async with httpx.AsyncClient(base_url=base, headers=origin) as http:
            await printed(b"serving")
            assert (await http.post("/login", data=as_user("sue"))).status_code == 200
            session = http.cookies["trunkline_session"]
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/ws/supervisor",
                additional_headers={"Cookie": f"trunkline_session={session}"},
                origin=base,  # type: ignore[arg-type]
            ) as ws:
                await next_of(ws, "hello")
                config.write_text(serve_config(port, hash_password("battery staple")))
                serve.send_signal(signal.SIGHUP)
                with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                    await next_of(ws, "never", within=10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4401
            assert (await http.get("/api/v1/me")).status_code == 401
            assert (await http.post("/login", data=as_user("sue"))).status_code == 401
            new = await http.post("/login", data=as_user("sue", "battery staple"))
            assert new.status_code == 200
            # A file with a mistake is not taken: the users stay as they were.
            config.write_text(serve_config(port, "not a hash"))
            serve.send_signal(signal.SIGHUP)
            await printed(b"not reloaded, the file has an error")
            assert (await http.get("/api/v1/me")).status_code == 200
    finally:
        serve.terminate()
        with anyio.fail_after(10):
            await serve.wait()
    assert b"trunkline: reloaded from" in output.read_bytes()


# Smaller holes (issue 22) ------------------------------------------------------------------


def every_write(workspace: str = "acme") -> list[tuple[str, str]]:
    return [(method, path) for method, path in every_path(workspace) if method != "GET"]


@pytest.mark.parametrize(("method", "path"), every_write())
async def test_every_api_write_refuses_a_body_that_is_not_json(
    server: Runtime, method: str, path: str
) -> None:
    path = path.replace("/agents/ed/", "/agents/ada/")
    async with client(server, "sue") as http:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": content_type} if content_type else {}
            answer = await http.request(
                method, path, content=b'{"status": "available"}', headers=headers
            )
            assert answer.status_code == 415, (method, path, content_type, answer.text)
            assert answer.json()["error"] == (
                f"the body must be JSON: send Content-Type: application/json "
                f"(not {content_type or 'none'})"
            )
    assert server.desk("acme").engine.agent("ada").status.value == "offline"  # type: ignore[attr-defined]


async def test_a_cookie_write_must_come_from_the_page_and_be_json(server: Runtime) -> None:
    own = f"http://127.0.0.1:{web_port(server)}"
    path = "/api/v1/workspaces/acme/agents/ada/status"
    async with client(server) as http:
        answer = await http.post("/login", data=as_user("ada"))
        http.cookies.set("trunkline_session", answer.cookies["trunkline_session"])
        body = json.dumps({"status": "available"})
        # No Origin and no Sec-Fetch-Site: nothing shows the page is ours.
        for headers in ({}, {"Sec-Fetch-Site": "none"}):
            json_headers = {"Content-Type": "application/json", **headers}
            refused = await http.put(path, content=body, headers=json_headers)
            assert refused.status_code == 403, headers
            assert refused.json()["error"] == (
                "request refused: a change made with the session cookie must come from this "
                "server's own pages (the browser sends Origin or Sec-Fetch-Site: same-origin); "
                "scripts use an API token (Authorization: Bearer <token>)"
            )
        # The old hole: a text/plain PUT, the kind any page may send without asking.
        plain = await http.put(
            path, content=body, headers={"Content-Type": "text/plain", "Origin": own}
        )
        assert plain.status_code == 415
        # A write with no body still declares JSON when it rides on the cookie.
        empty = await http.post(
            "/api/v1/workspaces/acme/offers/x/accept", headers={"Sec-Fetch-Site": "same-origin"}
        )
        assert empty.status_code == 415
        assert server.desk("acme").engine.agent("ada").status.value == "offline"  # type: ignore[attr-defined]
        for proof in ({"Origin": own}, {"Sec-Fetch-Site": "same-origin"}):
            ok = await http.put(path, json={"status": "available"}, headers=proof)
            assert ok.status_code == 200, proof
        # Signing out is a change made with the cookie as well.
        kept = await http.post("/logout")
        assert kept.status_code == 403
        assert "must come from this server's own pages" in kept.json()["error"]
        assert (await http.get("/api/v1/me")).status_code == 200
        # A cookie socket that does not say where it comes from is refused too.
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(
                ws_url(server, "agent"),
                additional_headers={
                    "Cookie": f"trunkline_session={answer.cookies['trunkline_session']}"
                },
            ):
                pass
    # Token clients send neither header, and need none; a write with no body needs no type.
    async with client(server, "ada") as ada:
        assert (await ada.put(path, json={"status": "offline"})).status_code == 200
        assert (await ada.post("/api/v1/workspaces/acme/offers/x/accept")).status_code == 409


async def test_api_answers_are_never_cached_and_pages_deny_powerful_features(
    server: Runtime,
) -> None:
    async with client(server, "sue") as http:
        for path in ("/api/v1/me", "/api/v1/workspaces/acme/queues", "/metrics"):
            assert (await http.get(path)).headers["cache-control"] == "no-store", path
        signed_out = await http.get("/api/v1/me", headers={"Authorization": ""})
        assert signed_out.headers["cache-control"] == "no-store"
        for path in ("/login", "/api/v1/me", "/static/app.css"):
            policy = (await http.get(path)).headers["permissions-policy"]
            for feature in ("camera", "microphone", "geolocation"):
                assert f"{feature}=()" in policy, path


@pytest.fixture
async def wrapping() -> AsyncIterator[Runtime]:
    """The server, with a minute of wrap-up after each contact of "support"."""
    data = config_data()
    data["workspaces"]["acme"]["queues"]["support"]["wrap_up"] = 60
    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    runtime = build_runtime(pm, data, clock=FakeClock(), serve=True)
    async with runtime.running():
        yield runtime


async def test_free_text_is_limited_in_length_and_the_error_names_the_field(
    wrapping: Runtime,
) -> None:
    server = wrapping
    base = "/api/v1/workspaces/acme"
    async with client(server, "ada") as ada:
        too_long = await ada.put(
            f"{base}/agents/ada/status", json={"status": "break", "reason": "x" * 201}
        )
        assert too_long.status_code == 400
        assert too_long.json()["error"] == (
            '"reason" is 201 characters long; at most 200 are allowed'
        )
        ok = await ada.put(
            f"{base}/agents/ada/status", json={"status": "break", "reason": "x" * 200}
        )
        assert ok.status_code == 200
        await ada.put(f"{base}/agents/ada/status", json={"status": "available"})
        ack = await server.channel("web").deliver("kim", "hello")
        (offer,) = (await ada.get(f"{base}/offers")).json()
        rejected = await ada.post(f"{base}/offers/{offer['id']}/reject", json={"reason": "y" * 500})
        assert rejected.status_code == 400
        assert (
            rejected.json()["error"] == '"reason" is 500 characters long; at most 200 are allowed'
        )
        assert (await ada.post(f"{base}/offers/{offer['id']}/accept")).status_code == 200
        await ada.post(f"{base}/contacts/{ack.contact_id}/end")
        closed = await ada.post(
            f"{base}/contacts/{ack.contact_id}/close", json={"disposition": "z" * 101}
        )
        assert closed.status_code == 400
        assert closed.json()["error"] == (
            '"disposition" is 101 characters long; at most 100 are allowed'
        )
    headers = {"Authorization": f"Bearer {TOKENS['ada']}"}
    async with websockets.connect(ws_url(server, "agent"), additional_headers=headers) as ws:
        await next_of(ws, "hello")
        await ws.send(
            json.dumps({"type": "status", "status": "break", "reason": "r" * 300, "ref": 1})
        )
        error = await next_of(ws, "error")
        assert error["error"] == '"reason" is 300 characters long; at most 200 are allowed'
        await ws.send(
            json.dumps(
                {"type": "close", "contact_id": ack.contact_id, "disposition": "d" * 101, "ref": 2}
            )
        )
        assert "at most 100" in (await next_of(ws, "error"))["error"]
    agent = server.desk("acme").engine.agent("ada")  # type: ignore[attr-defined]
    assert agent.status.value == "available"
    assert server.desk("acme").engine.contacts[ack.contact_id].state.value == "wrap-up"  # type: ignore[attr-defined]
