"""trunkline-web as a plugin: its own hook, its service, its commands, its start-up errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from trunkline import FakeClock, PluginError, hookimpl, load_plugins
from trunkline.cli import startup_error
from trunkline.testing import build_runtime
from trunkline.testing.cli import TRUNKLINE, run
from trunkline_web.app import web_port

pytestmark = pytest.mark.anyio
W = "acme"
GARBAGE = b"this is not an SQLite file at all; " * 40


def test_the_route_hook_is_the_webs_own_added_when_it_loads() -> None:
    assert hasattr(load_plugins({"TRUNKLINE_PLUGINS": "web"}).hook, "trunkline_register_routes")
    core_only = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert not hasattr(core_only.hook, "trunkline_register_routes")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn serves on asyncio only
async def test_a_plugins_route_is_served_beside_the_api_and_the_address_is_announced(
    anyio_backend: str,
) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    class Hello:
        @hookimpl(optionalhook=True)
        def trunkline_register_routes(self) -> list[Any]:
            async def hello(request: Any) -> PlainTextResponse:
                return PlainTextResponse("hello from a plugin")

            return [Route("/hello/there", hello)]

    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"}, extra=[("hello", Hello())])
    data = {"web": {"port": 0}, "workspaces": {W: {"queues": {"q": {}}}}}
    runtime = build_runtime(pm, data, clock=FakeClock(), serve=True)
    async with runtime.running():
        port = web_port(runtime)
        assert runtime.addresses == {"web": f"http://127.0.0.1:{port}/"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/hello/there")).text == "hello from a plugin"


async def test_the_web_serves_nothing_unless_the_runtime_serves(anyio_backend: str) -> None:
    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    data = {"web": {"port": 0}, "workspaces": {W: {"queues": {"q": {}}}}}
    async with build_runtime(pm, data, clock=FakeClock()).running() as runtime:
        assert runtime.addresses == {}
        assert web_port(runtime) is None


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn serves on asyncio only
async def test_a_plugin_route_under_a_prefix_the_web_keeps_stops_the_start_with_the_path_named(
    anyio_backend: str,
) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    class Thief:
        @hookimpl(optionalhook=True)
        def trunkline_register_routes(self) -> list[Any]:
            async def page(request: Any) -> PlainTextResponse:
                return PlainTextResponse("mine")

            return [Route("/api/v1/stolen", page)]

    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"}, extra=[("thief", Thief())])
    data = {"web": {"port": 0}, "workspaces": {W: {"queues": {"q": {}}}}}
    runtime = build_runtime(pm, data, clock=FakeClock(), serve=True)
    with pytest.raises(BaseExceptionGroup) as failed:
        async with runtime.running():
            pass
    error = startup_error(failed.value)  # what `trunkline serve` prints, on one line
    assert isinstance(error, PluginError)
    assert 'plugin "thief": route /api/v1/stolen is under /api/, which trunkline-web keeps' in str(
        error
    )


def damaged(tmp_path: Path) -> tuple[Path, str]:
    store = tmp_path / "trunkline.db"
    store.write_bytes(GARBAGE)
    expected = (
        f'trunkline: error: store "{store}": cannot be used: file is not a database. Nothing '
        "was read or changed; restore the file from a backup, or move it aside to start empty"
    )
    return store, expected


PROBLEMS = {"damaged database": damaged}


@pytest.mark.parametrize("problem", PROBLEMS)
def test_the_demo_with_a_store_that_cannot_be_opened_is_one_line_with_exit_2(
    tmp_path: Path, problem: str
) -> None:
    store, expected = PROBLEMS[problem](tmp_path)
    result = run([*TRUNKLINE, "demo", "--db", str(store), "--duration", "5", "--no-web"])
    assert (result.returncode, result.stderr) == (2, expected + "\n"), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
