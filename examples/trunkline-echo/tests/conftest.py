"""Fixtures for the echo plugin's tests: a runtime with one echo channel, on asyncio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from trunkline import Clock, Runtime, load_plugins
from trunkline.testing import build_runtime
from trunkline_echo.adapter import EchoChannel

WORKSPACE = "acme"
CHANNEL = "tcp-chat"

RunEcho = Callable[..., AbstractAsyncContextManager[tuple[Runtime, EchoChannel]]]


def echo_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """One workspace, one queue, one agent, one echo channel; quick outbox retries."""
    return {
        "outbox": {"backoff": 5, "poll_interval": 1, "max_attempts": 3},
        "workspaces": {
            WORKSPACE: {
                "queues": {"support": {}},
                "agents": {"alice": {"capacity": {"chat": 4}, "queues": ["support"]}},
                "channels": {
                    CHANNEL: {"adapter": "echo", "queue": "support", "settings": dict(settings)}
                },
            }
        },
    }


@asynccontextmanager
async def running_echo(
    settings: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    plugins: Iterable[tuple[str, object]] = (),
) -> AsyncIterator[tuple[Runtime, EchoChannel]]:
    """A running runtime whose echo channel comes from the installed entry point.

    ``plugins`` adds in-process plugins as ``(name, plugin)``, e.g. an inbound filter.
    """
    pm = load_plugins({"TRUNKLINE_PLUGINS": "echo"}, extra=plugins)
    runtime = build_runtime(pm, echo_config(settings or {}), clock=clock, env=env or {})
    async with runtime.running():
        channel = runtime.channel(CHANNEL)
        assert isinstance(channel, EchoChannel)
        yield runtime, channel


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def run_echo() -> RunEcho:
    """``async with run_echo(settings, env=…, clock=…) as (runtime, channel):``"""
    return running_echo


@pytest.fixture
def make_config() -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``make_config(settings)``: configuration data with one echo channel so configured."""
    return echo_config
