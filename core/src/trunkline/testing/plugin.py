"""The pytest plugin shipped with Trunkline (entry point ``pytest11``): fixtures for tests.

Fixtures: ``trunkline_pm`` (a plugin manager with autoload off, so the environment and other
installed plugins do not leak in), ``hook_recorder``, ``fake_clock``, ``make_runtime``, and
``memory_runtime`` (a running runtime with one memory channel named ``web``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest

from ..clock import FakeClock
from ..plugins import PluginManager, load_plugins
from ..runtime import Runtime
from .harness import HookRecorder, build_runtime

#: A small configuration the fixtures use: one workspace, one queue, two agents, one channel.
MEMORY_CONFIG: Mapping[str, Any] = {
    "workspaces": {
        "acme": {
            "skills": ["en", "de"],
            "queues": {"support": {"skills": {"en": 1}, "offer_timeout": 10, "wrap_up": 0}},
            "agents": {
                "alice": {"skills": {"en": 5}, "capacity": {"chat": 2}, "queues": ["support"]},
                "bob": {
                    "skills": {"en": 3, "de": 4},
                    "capacity": {"chat": 1},
                    "queues": ["support"],
                },
            },
            "channels": {"web": {"adapter": "memory", "queue": "support"}},
        }
    }
}


@pytest.fixture
def trunkline_pm() -> PluginManager:
    """Core's built-in plugins only: entry-point plugins and TRUNKLINE_* variables ignored."""
    return load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})


@pytest.fixture
def hook_recorder(trunkline_pm: PluginManager) -> Iterator[HookRecorder]:
    """Records every hook call made through ``trunkline_pm``."""
    recorder = HookRecorder(trunkline_pm)
    yield recorder
    recorder.close()


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when the test calls ``advance``."""
    return FakeClock()


@pytest.fixture
def make_runtime(trunkline_pm: PluginManager, fake_clock: FakeClock) -> Callable[..., Runtime]:
    """``make_runtime(config_data=MEMORY_CONFIG, pm=trunkline_pm)`` builds a checked runtime."""

    def make(
        config_data: Mapping[str, Any] = MEMORY_CONFIG, pm: PluginManager | None = None
    ) -> Runtime:
        return build_runtime(pm or trunkline_pm, config_data, clock=fake_clock)

    return make


@pytest.fixture
async def memory_runtime(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    """A running runtime over :data:`MEMORY_CONFIG` (needs an anyio test)."""
    runtime = make_runtime()
    async with runtime.running():
        yield runtime
