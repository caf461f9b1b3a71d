"""Fixtures for the webhook plugin's tests: a runtime with one webhook channel, on asyncio.

uvicorn serves on asyncio only, so these tests (unlike echo's) do not run on trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from trunkline import Clock, Runtime, load_plugins
from trunkline.testing import build_runtime
from trunkline_webhook.adapter import WebhookChannel
from trunkline_webhook.receiver import CallbackReceiver

WORKSPACE = "acme"
CHANNEL = "support-hook"

RunWebhook = Callable[..., AbstractAsyncContextManager[tuple[Runtime, WebhookChannel]]]


def webhook_config(
    settings: Mapping[str, Any], store: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One workspace, one queue, one agent, one webhook channel on any free port."""
    data: dict[str, Any] = {
        "outbox": {"backoff": 5, "poll_interval": 1, "max_attempts": 3},
        "workspaces": {
            WORKSPACE: {
                "queues": {"support": {}},
                "agents": {"alice": {"capacity": {"chat": 4}, "queues": ["support"]}},
                "channels": {
                    CHANNEL: {
                        "adapter": "webhook",
                        "queue": "support",
                        "settings": {"port": 0, **settings},
                    }
                },
            }
        },
    }
    if store is not None:
        data["store"] = dict(store)
    return data


@asynccontextmanager
async def running_webhook(
    settings: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    plugins: Iterable[tuple[str, object]] = (),
    store: Mapping[str, Any] | None = None,
) -> AsyncIterator[tuple[Runtime, WebhookChannel]]:
    """A running runtime whose webhook channel comes from the installed entry point.

    ``plugins`` adds in-process plugins as ``(name, plugin)``, e.g. an inbound filter;
    ``store`` is the ``[store]`` table (the memory store by default).
    """
    pm = load_plugins({"TRUNKLINE_PLUGINS": "webhook"}, extra=plugins)
    data = webhook_config(settings or {}, store)
    runtime = build_runtime(pm, data, clock=clock, env=env or {})
    async with runtime.running():
        channel = runtime.channel(CHANNEL)
        assert isinstance(channel, WebhookChannel)
        yield runtime, channel


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def run_webhook() -> RunWebhook:
    """``async with run_webhook(settings, env=…, clock=…, store=…) as (runtime, channel):``"""
    return running_webhook


@pytest.fixture
def make_config() -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``make_config(settings)``: configuration data with one webhook channel so configured."""
    return webhook_config


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    """A callback receiver on a loopback port, recording what the channel POSTs."""
    async with CallbackReceiver().running() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the tests' requests (give full URLs: channel.url + path)."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
