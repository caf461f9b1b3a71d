"""``GET /metrics`` for Prometheus: trunkline-web's exposition of core's live figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from trunkline import FakeClock, Runtime, load_plugins
from trunkline.model import AgentStatus
from trunkline.testing import build_runtime
from trunkline_web.app import web_port
from trunkline_web.users import hash_password, hash_token

# Prometheus: GET /metrics -------------------------------------------------------------------

TOKENS = {name: f"token-of-{name}" for name in ("ada", "sue", "eve")}


def config_data() -> dict[str, Any]:
    def user(role: str, name: str, agent: str = "") -> dict[str, Any]:
        data = {
            "role": role,
            "password_hash": hash_password("correct horse"),
            "token_hash": hash_token(TOKENS[name]),
        }
        if agent:
            data["agent"] = agent
        return data

    return {
        "web": {"port": 0},
        "workspaces": {
            "acme": {
                "queues": {"support": {"service_level_threshold": 30}, "billing": {}},
                "agents": {"ada": {"capacity": {"chat": 1}, "queues": ["support"]}},
                "users": {"ada": user("agent", "ada", "ada"), "sue": user("supervisor", "sue")},
                "channels": {"web": {"adapter": "memory", "queue": "support"}},
            },
            "other": {
                "queues": {"q": {}},
                "agents": {"ed": {"queues": ["q"]}},
                "users": {"eve": user("admin", "eve")},
            },
        },
    }


@pytest.fixture
def web_config() -> dict[str, Any]:
    return config_data()  # conftest's server runs it


def scrape_client(runtime: Runtime, who: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {TOKENS[who]}"} if who else {}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port(runtime)}", headers=headers)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition by (name, sorted labels), parsed by prometheus-client."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(runtime: Runtime, who: str, received: int) -> httpx.Response:
    """``GET /metrics`` once the hub has folded ``received`` contacts (it folds as they come)."""
    import anyio

    async with scrape_client(runtime, who) as http:
        with anyio.fail_after(5):
            while True:
                answer = await http.get("/metrics")
                if f'trunkline_contacts_received_total{{workspace="acme"}} {received}' in (
                    answer.text.replace(".0\n", "\n")
                ):
                    return answer
                await anyio.sleep(0.01)


@pytest.mark.anyio
async def test_metrics_needs_a_supervisors_token(server: Runtime) -> None:
    async with scrape_client(server, None) as anonymous:
        answer = await anonymous.get("/metrics")
        assert answer.status_code == 401
        assert answer.json() == {"error": "sign in, or send Authorization: Bearer <token>"}
    async with scrape_client(server, "ada") as agent:
        assert (await agent.get("/metrics")).status_code == 403


@pytest.mark.anyio
async def test_metrics_gives_the_callers_workspace_in_prometheus_text(server: Runtime) -> None:
    clock = server.clock
    assert isinstance(clock, FakeClock)
    await server.set_agent_status("acme", "ada", AgentStatus.AVAILABLE)
    first = await server.channel("web").deliver("carol", "hello")  # offered to ada at once
    clock.advance(12)
    offer = next(iter(server.desk("acme").engine.offers.values()))  # type: ignore[attr-defined]
    await server.accept("acme", offer.id)  # answered in 12 s
    clock.advance(48)
    await server.end_contact("acme", first.contact_id)  # 48 s of talk, no wrap-up: handled
    clock.advance(5)
    await server.set_agent_status("acme", "ada", AgentStatus.BREAK)
    await server.channel("web").deliver("dave", "anyone?")  # waits: nobody is available
    clock.advance(15)

    answer = await scrape(server, "sue", received=2)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    found = samples(answer.text)

    def value(name: str, **labels: str) -> float:
        return found[(name, tuple(sorted({"workspace": "acme", **labels}.items())))]

    support = {"queue": "support"}
    assert value("trunkline_queue_offered_total", **support) == 2
    assert value("trunkline_queue_answered_total", **support) == 1
    assert value("trunkline_queue_abandoned_total", **support) == 0
    assert value("trunkline_queue_handled_total", **support) == 1
    assert value("trunkline_queue_answer_time_seconds_total", **support) == 12
    assert value("trunkline_queue_handle_time_seconds_total", **support) == 48
    assert value("trunkline_queue_waiting", **support) == 1
    assert value("trunkline_queue_longest_wait_seconds", **support) == 15
    assert value("trunkline_queue_service_level_ratio", **support) == 1.0  # 12 s <= 30 s
    assert value("trunkline_queue_within_service_level_total", **support) == 1
    assert value("trunkline_queue_counted_for_service_level_total", **support) == 1
    assert value("trunkline_queue_offered_total", queue="billing") == 0
    assert (
        "trunkline_queue_service_level_ratio",
        (("queue", "billing"), ("workspace", "acme")),
    ) not in found
    assert value("trunkline_agents", state="break") == 1
    assert value("trunkline_queue_agents", state="break", **support) == 1
    # ada: available from 0, busy 12-60, on break from 65: 48 s busy of 65 s.
    assert value("trunkline_agent_busy_seconds_total", agent="ada") == 48
    assert value("trunkline_agent_available_seconds_total", agent="ada") == 65
    assert value("trunkline_occupancy_ratio") == pytest.approx(48 / 65)
    assert value("trunkline_contacts_received_total") == 2
    # Only the caller's workspace.
    assert {dict(labels).get("workspace") for _, labels in found} == {"acme"}


@pytest.mark.anyio
async def test_an_admin_of_another_workspace_scrapes_only_that_one(server: Runtime) -> None:
    await server.channel("web").deliver("carol", "hello")
    async with scrape_client(server, "eve") as eve:
        answer = await eve.get("/metrics")
    assert answer.status_code == 200
    found = samples(answer.text)
    assert {dict(labels)["workspace"] for _, labels in found} == {"other"}
    offered = found[("trunkline_queue_offered_total", (("queue", "q"), ("workspace", "other")))]
    assert offered == 0


@pytest.mark.anyio
async def test_the_summary_and_the_queues_carry_the_figures_since_start(server: Runtime) -> None:
    clock = server.clock
    assert isinstance(clock, FakeClock)
    await server.set_agent_status("acme", "ada", AgentStatus.AVAILABLE)
    await server.channel("web").deliver("carol", "hello")
    clock.advance(8)
    offer = next(iter(server.desk("acme").engine.offers.values()))  # type: ignore[attr-defined]
    await server.accept("acme", offer.id)
    async with scrape_client(server, "sue") as sue:
        summary = (await sue.get("/api/v1/workspaces/acme/reports/summary")).json()
        queues = (await sue.get("/api/v1/workspaces/acme/queues")).json()
    assert (summary["received"], summary["answered"], summary["asa"]) == (1, 1, 8.0)
    assert summary["agents"]["busy"] == 1
    support = next(q for q in queues if q["id"] == "support")
    assert (support["offered"], support["answered"], support["asa"], support["aht"]) == (
        1,
        1,
        8.0,
        None,
    )
    assert (support["waiting"], support["ringing"]) == (0, 0)


@pytest.mark.anyio
async def test_after_a_restart_the_waiting_gauges_count_contacts_queued_before(
    tmp_path: Path,
) -> None:
    # Counters restart from zero with the server, but what waits now comes from the engine,
    # which rebuilds from the stored log: a contact queued before the restart still waits.
    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    data = {**config_data(), "store": {"backend": "sqlite", "path": str(tmp_path / "t.db")}}
    clock = FakeClock()
    before = build_runtime(pm, data, clock=clock, serve=True)
    async with before.running():
        await before.channel("web").deliver("carol", "anyone there?")  # nobody is available
    clock.advance(40)
    after = build_runtime(pm, data, clock=clock, serve=True)
    async with after.running(), scrape_client(after, "sue") as http:
        found = samples((await http.get("/metrics")).text)
    support = (("queue", "support"), ("workspace", "acme"))
    assert found[("trunkline_queue_waiting", support)] == 1
    assert found[("trunkline_queue_longest_wait_seconds", support)] == 40
    assert found[("trunkline_queue_offered_total", support)] == 0  # counted since this start
