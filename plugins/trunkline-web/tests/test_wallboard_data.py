"""What the wallboard is sent: queue alerts, the service-level trend, agents' time in state.

Alerts compare a queue's figures with its ``alert_*`` keys; the board and ``GET …/queues``
carry them, and the supervisor socket says when one is raised or cleared. The trend and the
time in state come from the server's own figures, so every page (and a reload) sees the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
import websockets

from trunkline import ConfigError, FakeClock, Runtime, config_from_dict
from trunkline.metrics import TREND_INTERVAL, TREND_INTERVALS
from trunkline.model import AgentStatus, Queue
from trunkline_web.app import web_port
from trunkline_web.users import hash_token
from trunkline_web.views import queue_alerts

pytestmark = pytest.mark.anyio

TOKEN = "token-of-sue"


def config_data() -> dict[str, Any]:
    return {
        "web": {"port": 0},
        "workspaces": {
            "acme": {
                "queues": {
                    "support": {
                        "name": "Support",
                        "offer_timeout": 600,
                        "alert_longest_wait": 60,
                        "alert_abandonment": 0.5,
                    },
                    "billing": {"alert_service_level": 0},
                },
                "agents": {
                    "ada": {"name": "Ada", "capacity": {"chat": 2}, "queues": ["support"]},
                    "bob": {"capacity": {"chat": 1}, "queues": ["support", "billing"]},
                },
                "users": {"sue": {"role": "supervisor", "token_hash": hash_token(TOKEN)}},
                "channels": {"web": {"adapter": "memory", "queue": "support"}},
            }
        },
    }


@pytest.fixture
def web_config() -> dict[str, Any]:
    return config_data()  # conftest's server runs it


@pytest.fixture
def web_clock() -> FakeClock:
    return FakeClock(start=3600.0)


def clock_of(runtime: Runtime) -> FakeClock:
    assert isinstance(runtime.clock, FakeClock)
    return runtime.clock


async def next_of(
    socket: Any, kind: str, where: Callable[[dict[str, Any]], bool] = lambda m: True
) -> dict[str, Any]:
    with anyio.fail_after(10):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == kind and where(message):
                return message


def supervisor(runtime: Runtime) -> Any:
    return websockets.connect(
        f"ws://127.0.0.1:{web_port(runtime)}/ws/supervisor",
        additional_headers={"Authorization": f"Bearer {TOKEN}"},
    )


# Alerts ----------------------------------------------------------------------------------------


def test_service_level_under_the_target_alerts_by_default_and_the_rest_when_asked() -> None:
    quiet = Queue(id="q", workspace="w")
    row = {"service_level": 0.05, "longest_wait": 900.0, "abandonment_rate": 0.73}
    assert queue_alerts(quiet, row) == [
        {"queue": "q", "kind": "service_level", "value": 0.05, "threshold": 0.8}
    ]
    watched = Queue(
        id="q",
        workspace="w",
        alert_service_level=0.6,
        alert_longest_wait=120,
        alert_abandonment=0.1,
    )
    assert [(a["kind"], a["threshold"]) for a in queue_alerts(watched, row)] == [
        ("service_level", 0.6),
        ("longest_wait", 120),
        ("abandonment", 0.1),
    ]
    # At the threshold is not beyond it; a figure not defined yet raises nothing.
    calm = {"service_level": 0.6, "longest_wait": 120.0, "abandonment_rate": None}
    assert queue_alerts(watched, calm) == []
    off = Queue(id="q", workspace="w", alert_service_level=0)
    assert queue_alerts(off, row) == []


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("alert_abandonment", 50, "must be a share from 0 to 1 (0.8 for 80 %), got 50.0"),
        ("alert_service_level", 1.5, "must be a share from 0 to 1 (0.8 for 80 %), got 1.5"),
        ("alert_longest_wait", -1, "must be 0 or more seconds, got -1.0"),
        ("alert_longest_wait", "1 min", "expected a number, got str '1 min'"),
    ],
)
def test_an_alert_threshold_out_of_range_is_refused_with_its_key(
    key: str, value: Any, error: str
) -> None:
    data = {"workspaces": {"acme": {"queues": {"sales": {key: value}}}}}
    with pytest.raises(ConfigError) as refused:
        config_from_dict(data, adapters={}, strategies={"longest-idle"})
    assert "workspaces.acme.queues.sales" in str(refused.value)
    assert error in str(refused.value)


async def test_the_supervisor_socket_says_when_an_alert_is_raised_and_cleared(
    server: Runtime,
) -> None:
    web, clock = server.channel("web"), clock_of(server)
    async with supervisor(server) as ws:
        board = await next_of(ws, "board")
        assert board["alerts"] == []
        first = await web.deliver("carol", "hello?")
        second = await web.deliver("dave", "anyone?")
        clock.advance(25)
        await server.abandon("acme", second.contact_id)  # after 25 s: counts, and missed

        raised = [await next_of(ws, "alert") for _ in range(2)]
        assert {(m["state"], m["alert"]["kind"]) for m in raised} == {
            ("raised", "service_level"),
            ("raised", "abandonment"),
        }
        sl = next(m["alert"] for m in raised if m["alert"]["kind"] == "service_level")
        assert sl == {"queue": "support", "kind": "service_level", "value": 0.0, "threshold": 0.8}
        board = await next_of(ws, "board", lambda b: len(b["alerts"]) == 2)
        support = next(q for q in board["queues"] if q["id"] == "support")
        assert [a["kind"] for a in support["alerts"]] == ["service_level", "abandonment"]

        clock.advance(40)  # carol has waited 65 s: over the 60 s of alert_longest_wait
        await server.set_agent_status("acme", "bob", AgentStatus.BREAK, "lunch")
        waited = await next_of(ws, "alert")
        assert (waited["state"], waited["alert"]["kind"]) == ("raised", "longest_wait")
        assert waited["alert"]["value"] == 65.0

        await server.set_agent_status("acme", "ada", AgentStatus.AVAILABLE)
        offer = next(o for o in server.desk("acme").engine.offers.values())  # type: ignore[attr-defined]
        assert offer.contact_id == first.contact_id
        await server.accept("acme", offer.id)  # carol answered: one of two abandoned, 50 %
        cleared = [await next_of(ws, "alert") for _ in range(2)]
        assert {(m["state"], m["alert"]["kind"]) for m in cleared} == {
            ("cleared", "longest_wait"),
            ("cleared", "abandonment"),
        }

    # The REST API gives the same alerts, queue by queue.
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{web_port(server)}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as http:
        queues = (await http.get("/api/v1/workspaces/acme/queues")).json()
    alerts = {q["id"]: [a["kind"] for a in q["alerts"]] for q in queues}
    assert alerts == {"support": ["service_level"], "billing": []}  # 0 of 2 within 20 s


# The trend and the agents -------------------------------------------------------------------------


async def test_the_board_and_the_queues_carry_the_service_level_trend(server: Runtime) -> None:
    web, clock = server.channel("web"), clock_of(server)
    await server.set_agent_status("acme", "ada", AgentStatus.AVAILABLE)
    for n, wait in enumerate((5, 30)):  # one within 20 s, one after
        ack = await web.deliver(f"c{n}", "hello")
        clock.advance(wait)
        offer = next(
            o
            for o in server.desk("acme").engine.offers.values()  # type: ignore[attr-defined]
            if o.contact_id == ack.contact_id
        )
        await server.accept("acme", offer.id)
    clock.advance(TREND_INTERVAL)  # the next interval: nothing counted there yet

    async with supervisor(server) as ws:
        board = await next_of(ws, "board")
    support = next(q for q in board["queues"] if q["id"] == "support")
    trend = support["service_level_trend"]
    assert len(trend) == TREND_INTERVALS
    assert [t["start"] for t in trend[-2:]] == [3600.0, 3600.0 + TREND_INTERVAL]
    assert [t["service_level"] for t in trend[-2:]] == [0.5, None]
    assert (trend[-2]["within_service_level"], trend[-2]["counted_for_service_level"]) == (1, 2)
    ada = next(a for a in board["agents"] if a["id"] == "ada")
    assert (ada["state"], ada["handled"], ada["state_since"]) == ("busy", 0, 3635.0)
    assert ada["time_in_state"] == board["at"] - 3635.0
    bob = next(a for a in board["agents"] if a["id"] == "bob")
    assert (bob["status"], bob["state_since"], bob["time_in_state"]) == ("offline", None, None)

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{web_port(server)}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as http:
        queues = (await http.get("/api/v1/workspaces/acme/queues")).json()
    assert next(q for q in queues if q["id"] == "support")["service_level_trend"] == trend
