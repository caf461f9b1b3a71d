"""Fixtures trunkline-web's tests share: a running runtime that serves the web.

A test module gives its configuration as the ``web_config`` fixture (and may override
``web_clock``); ``server`` is then that configuration running, the web server listening on a
free port (``trunkline_web.app.web_port(runtime)``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from trunkline import FakeClock, Runtime, load_plugins
from trunkline.testing import build_runtime


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn serves on asyncio


@pytest.fixture
def web_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(web_config: dict[str, Any], web_clock: FakeClock) -> AsyncIterator[Runtime]:
    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    runtime = build_runtime(pm, web_config, clock=web_clock, serve=True)
    async with runtime.running():
        yield runtime
