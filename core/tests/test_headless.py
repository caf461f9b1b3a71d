"""Core without trunkline-web: services that listen start only when asked, the plugins' tables
reload generically, hooks of absent plugins, tables of absent plugins, and a headless serve."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from trunkline import (
    ConfigError,
    FakeClock,
    NestedValueError,
    PluginError,
    Runtime,
    SettingsRegistry,
    hookimpl,
    load_plugins,
)
from trunkline.services import Service
from trunkline.testing import build_runtime
from trunkline.testing.cli import TRUNKLINE, clean_env, run

pytestmark = pytest.mark.anyio
W = "acme"
CORE_ONLY = {"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"}
HEADLESS = clean_env(TRUNKLINE_DISABLE_PLUGINS="web")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@attrs.frozen
class Door:
    port: int = 0
    words: str = "hello"


@attrs.frozen
class Greeter:
    agent: str


class Listener:
    """A plugin with a listening service, a top-level table and a per-workspace table."""

    def __init__(self) -> None:
        self.reloads: list[Any] = []

    @hookimpl
    def trunkline_add_settings(self, registry: SettingsRegistry) -> None:
        registry.add_table("door", Door, retired={("knock",): "write words instead"})

        def greeters_know_their_agents(value: Any, workspace: Any) -> None:
            agents = {a.id for a in workspace.agents}
            for name, greeter in value.items():
                if greeter.agent not in agents:
                    raise NestedValueError(f'unknown agent "{greeter.agent}"', at=(name, "agent"))

        registry.add_workspace_table(
            "greeters", dict[str, Greeter], default=dict, validate=greeters_know_their_agents
        )

    @hookimpl
    def trunkline_register_services(self, runtime: Runtime) -> list[Service]:
        async def door(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            runtime.on_reload(self.reloads.append)
            task_status.started(f"door://{runtime.config.tables['door'].words}")
            await anyio.sleep_forever()

        async def quiet(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            await anyio.sleep_forever()

        return [Service("door", door, listens=True), Service("quiet", quiet)]


def data(**extra: Any) -> dict[str, Any]:
    workspace = {"queues": {"q": {}}, "agents": {"ada": {"queues": ["q"]}}}
    return {"workspaces": {W: {**workspace, **extra.pop("workspace", {})}}, **extra}


async def test_a_listening_service_starts_only_when_the_runtime_serves_and_says_where() -> None:
    pm = load_plugins(CORE_ONLY, extra=[("listener", Listener())])
    async with build_runtime(pm, data(), clock=FakeClock()).running() as quiet:
        assert quiet.addresses == {}
    served = build_runtime(pm, data(door={"words": "hi"}), clock=FakeClock(), serve=True)
    async with served.running():
        assert served.addresses == {"door": "door://hi"}


async def test_reload_takes_the_plugins_tables_and_tells_the_listeners() -> None:
    plugin = Listener()
    pm = load_plugins(CORE_ONLY, extra=[("listener", plugin)])
    runtime = build_runtime(pm, data(), clock=FakeClock(), serve=True)
    changed = build_runtime(
        pm,
        data(door={"words": "bye"}, workspace={"greeters": {"g": {"agent": "ada"}}}),
        clock=FakeClock(),
    ).config
    async with runtime.running():
        assert runtime.config.workspaces[W].tables["greeters"] == {}
        runtime.reload(changed)
        assert runtime.config.tables["door"] == Door(words="bye")
        assert runtime.config.workspaces[W].tables["greeters"] == {"g": Greeter(agent="ada")}
        assert plugin.reloads == [runtime.config]


def test_a_plugins_tables_are_checked_with_the_key_named(tmp_path: Path) -> None:
    pm = load_plugins(CORE_ONLY, extra=[("listener", Listener())])
    with pytest.raises(ConfigError) as bad:
        build_runtime(pm, data(workspace={"greeters": {"g": {"agent": "zoe"}}}))
    assert str(bad.value) == f'<config>: workspaces.{W}.greeters.g.agent: unknown agent "zoe"'
    with pytest.raises(ConfigError) as retired:
        build_runtime(pm, data(door={"knock": 3}))
    assert str(retired.value).endswith("door.knock: no longer a setting: write words instead")
    with pytest.raises(ConfigError) as typed:
        build_runtime(pm, data(door={"port": "eighty"}))
    assert str(typed.value).endswith("door.port: expected a whole number, got str 'eighty'")
    assert build_runtime(pm, data()).config.tables["door"] == Door()


def test_a_hook_no_plugin_adds_is_a_misspelling_unless_marked_optional() -> None:
    class Misspelt:
        @hookimpl
        def trunkline_register_rootes(self) -> list[Any]:
            return []

    class ForAnother:
        @hookimpl(optionalhook=True)
        def trunkline_register_rootes(self) -> list[Any]:
            raise AssertionError("never called: no plugin adds the hook")

    with pytest.raises(PluginError) as failed:
        load_plugins(CORE_ONLY, extra=[("misspelt", Misspelt())])
    assert "unknown hook 'trunkline_register_rootes'" in str(failed.value)
    assert "@hookimpl(optionalhook=True)" in str(failed.value)
    assert "for-another" in load_plugins(CORE_ONLY, extra=[("for-another", ForAnother())]).infos


def test_a_plugin_that_implements_the_webs_hook_loads_without_the_web() -> None:
    pm = load_plugins({"TRUNKLINE_PLUGINS": "webchat"})
    assert "webchat" in pm.infos
    assert "web" not in pm.infos


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trunkline.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


QUEUE = """
[workspaces.acme.queues.support]

[workspaces.acme.agents.alice]
queues = ["support"]
"""


def test_serve_without_the_web_runs_headless_and_says_how_to_add_it(tmp_path: Path) -> None:
    config = write(tmp_path, QUEUE)
    result = run([*TRUNKLINE, "serve", str(config), "--duration", "0.5"], HEADLESS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"trunkline: serving {config} (0 channels); Ctrl-C stops",
        'trunkline: no web server: its plugin "web" (trunkline-web) is disabled by '
        "TRUNKLINE_DISABLE_PLUGINS (remove it from there to load it)",
    ]


def test_a_web_table_without_the_web_names_the_plugin_that_declares_it(tmp_path: Path) -> None:
    config = write(tmp_path, "[web]\nport = 0\n" + QUEUE)
    result = run([*TRUNKLINE, "check-config", str(config)], HEADLESS)
    assert result.returncode == 2
    assert result.stderr == (
        f"trunkline: error: {config}:1:2: web: no loaded plugin declares this table: it comes "
        'with plugin "web" (trunkline-web), which is disabled by TRUNKLINE_DISABLE_PLUGINS '
        "(remove it from there to load it) (allowed here: outbox, plugins, store, workspaces)\n"
    )


def test_the_demo_without_the_web_says_where_it_comes_from() -> None:
    result = run([*TRUNKLINE, "demo", "--duration", "0.1"], HEADLESS)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        'trunkline: error: the command "demo" comes with plugin "web" (trunkline-web), which '
        "is disabled by TRUNKLINE_DISABLE_PLUGINS (remove it from there to load it)\n"
    )


def test_cores_distribution_requires_no_web_stack() -> None:
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    requires = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower() for line in requires}
    web = {"starlette", "uvicorn", "python-multipart", "websockets", "prometheus-client", "rich"}
    assert names & web == set()
    assert names == {"attrs", "pluggy", "anyio", "click", "cattrs"}
