"""Real-browser tests: Debian's chromium, driven by Playwright (never ``playwright install``).

Both the pages' tests and the web-chat plugin's use these, so the rule is the same everywhere:
without ``/usr/bin/chromium`` (or the ``playwright`` package) the tests skip, and under
``CI=true`` they fail, because CI installs chromium and must run them. The paths are this
project's machines' (Debian), which is why this is the repository's test support and not part
of the published ``trunkline.testing``::

    from trunkline_testsupport.browser import chromium_path, launched_chromium

    @pytest.fixture
    async def browser():
        async with launched_chromium(chromium_path()) as launched:
            yield launched

Playwright is imported only when a browser is launched: it is a development dependency.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "chromium_path", "launched_chromium", "missing"]

CHROMIUM = Path("/usr/bin/chromium")
#: Headless in a container: no sandbox, no GPU, nothing fetched in the background.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def missing(reason: str) -> None:
    """Skip for ``reason``, or fail under ``CI=true``, where the peer must be installed."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: see .ci/run, which installs it)")
    pytest.skip(reason)


def chromium_path() -> Path:
    """Debian's chromium, with the playwright package to drive it (else :func:`missing`)."""
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing("the playwright package is missing: uv sync installs it (dev group)")
    return CHROMIUM


@asynccontextmanager
async def launched_chromium(path: Path | None = None) -> AsyncIterator[Any]:
    """A headless chromium (a Playwright ``Browser``), closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(path or chromium_path()), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            await launched.close()
