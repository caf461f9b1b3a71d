"""The OpenAPI document against the running server, by schemathesis.

A real server (runtime, store, uvicorn) runs in a thread for the module; schemathesis reads its
``/openapi.json`` and sends generated requests — valid and invalid paths, bodies and
parameters — as a supervisor and as an agent. Every answer must be one the document declares,
with the declared content type and body schema, and never a server error.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, settings

from trunkline import load_plugins
from trunkline.testing import build_runtime
from trunkline_web.app import web_port
from trunkline_web.openapi import openapi_document
from trunkline_web.users import hash_password, hash_token

TOKENS = {"sue": "token-of-sue", "ada": "token-of-ada"}


def config_data() -> dict[str, Any]:
    def user(role: str, name: str, agent: str = "") -> dict[str, Any]:
        data: dict[str, Any] = {
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
                "skills": ["en"],
                "dispositions": ["resolved"],
                "queues": {"support": {"offer_timeout": 30}, "billing": {}},
                "agents": {
                    "ada": {"capacity": {"chat": 2}, "queues": ["support"]},
                    "bob": {"capacity": {"chat": 1}, "queues": ["support", "billing"]},
                },
                "users": {"sue": user("supervisor", "sue"), "ada": user("agent", "ada", "ada")},
                "channels": {"web": {"adapter": "memory", "queue": "support"}},
            },
            "other": {"queues": {"q": {}}, "agents": {"ed": {"queues": ["q"]}}},
        },
    }


@pytest.fixture(scope="module")
def live() -> Iterator[str]:
    """The base URL of a running server with a contact waiting, one offered, one active."""
    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    runtime = build_runtime(pm, config_data(), serve=True)
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(runtime.running()),
    ):
        deliver = partial(runtime.channel("web").deliver, subject="Question")
        for customer in ("carol", "dave", "erin"):
            portal.call(deliver, customer, "hello")
        yield f"http://127.0.0.1:{web_port(runtime)}"


# The document the server serves (checked against /openapi.json below), read when collecting.
schema = schemathesis.openapi.from_dict(openapi_document())
HYPOTHESIS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def call(case: Any, live: str, who: str) -> None:
    case.call_and_validate(base_url=live, headers={"Authorization": f"Bearer {TOKENS[who]}"})


@schema.parametrize()
@HYPOTHESIS
def test_a_supervisor_gets_only_declared_answers(case: Any, live: str) -> None:
    call(case, live, "sue")


@schema.parametrize()
@HYPOTHESIS
def test_an_agent_gets_only_declared_answers(case: Any, live: str) -> None:
    call(case, live, "ada")


def test_the_server_serves_this_document(live: str) -> None:
    answer = httpx.get(f"{live}/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == openapi_document()
    assert len(answer.json()["paths"]) >= 15
