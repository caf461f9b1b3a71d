"""Shared fixtures for core's tests. trunkline.testing's fixtures come from its pytest plugin."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on asyncio and on trio: the runtime must work on both."""
    return str(request.param)
