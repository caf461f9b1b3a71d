"""The HTTP and WebSocket API against a running server: roles, isolation, the agent's day."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
import websockets

from trunkline import Address, FakeClock, InboundMessage, Runtime, load_plugins
from trunkline.testing import build_runtime
from trunkline.users import hash_password, hash_token
from trunkline.web.openapi import openapi_document

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
def anyio_backend() -> str:
    return "asyncio"  # uvicorn serves on asyncio


@pytest.fixture
async def server() -> AsyncIterator[Runtime]:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    runtime = build_runtime(pm, config_data(), clock=FakeClock(), web=True)
    async with runtime.running():
        yield runtime


def client(runtime: Runtime, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {TOKENS[token]}"} if token else {}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.web_port}", headers=headers)


def ws_url(runtime: Runtime, kind: str) -> str:
    return f"ws://127.0.0.1:{runtime.web_port}/ws/{kind}"


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
        codes = []
        for _ in range(7):
            answer = await http.post(
                "/login", data={"workspace": "acme", "username": "ada", "password": "guess"}
            )
            codes.append(answer.status_code)
        assert codes[:5] == [303] * 5
        assert codes[5:] == [429, 429]
        assert int(answer.headers["retry-after"]) > 0
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
        own = f"http://127.0.0.1:{server.web_port}"
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
    assert f"http://127.0.0.1:{server.web_port}" in error
    assert "public_url" in error


async def test_the_public_url_origin_may_sign_in(server: Runtime) -> None:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    proxied = build_runtime(
        pm, config_data(public_url="https://cc.example/"), clock=FakeClock(), web=True
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
        own = f"http://127.0.0.1:{server.web_port}"
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
            answer = await http.put(path, content=body)
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
    from trunkline.web.app import create_app

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
