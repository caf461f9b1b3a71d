"""Plugin discovery and selection, and the one-line errors for plugins that are wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trunkline import PluginError, hookimpl
from trunkline.plugins import load_plugins


def make_dist(
    site: Path, name: str, module: str, source: str, *, group: str = "trunkline.plugins"
) -> None:
    """Install a tiny distribution into ``site``: a module and an entry point, as pip would."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name.removeprefix('tl-')} = {module}\n")


def trunkline(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    environ["PYTHONPATH"] = str(site)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", "from trunkline.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )


GOOD = """
    from trunkline import hookimpl

    @hookimpl
    def trunkline_register_commands():
        import click

        @click.command("hello-world")
        def hello():
            "Say hello from a plugin."
            import heavy_sdk_for_tests  # a channel SDK: only imported when the command runs
            click.echo(heavy_sdk_for_tests.GREETING)

        return [hello]
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    make_dist(site, "tl-greeter", "greeter_plugin", GOOD)
    (site / "heavy_sdk_for_tests.py").write_text("GREETING = 'hello from the sdk'\n")
    return site


def test_entry_point_plugin_is_listed_with_its_distribution(site: Path) -> None:
    result = trunkline(site, "plugins")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "greeter" in line)
    assert "tl-greeter 1.2.3" in line
    assert "memory" in result.stdout


def test_plugin_commands_are_added_and_help_imports_no_sdk(site: Path) -> None:
    code = (
        "import sys\nfrom trunkline.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('SDK LOADED' if 'heavy_sdk_for_tests' in sys.modules else 'SDK NOT LOADED')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert "hello-world" in result.stdout
    assert "SDK NOT LOADED" in result.stdout
    ran = trunkline(site, "hello-world")
    assert ran.stdout.strip() == "hello from the sdk"


def test_allow_list_with_an_unknown_name_is_one_clear_line(site: Path) -> None:
    result = trunkline(site, "plugins", TRUNKLINE_PLUGINS="greeter,greter")
    assert result.returncode == 2
    # The workspace also installs example plugins (trunkline-echo), so read the list back
    # rather than pinning it: what matters is one line, the bad name, and the real choices.
    (line,) = result.stderr.strip().splitlines()
    prefix = 'trunkline: error: TRUNKLINE_PLUGINS: unknown plugin "greter" (installed: '
    assert line.startswith(prefix), line
    installed = line.removeprefix(prefix).removesuffix(")").split(", ")
    assert installed == sorted(installed)
    assert {"greeter", "memory-channel", "memory-store", "strategies"} <= set(installed)


def test_autoload_off_loads_only_the_allow_list(site: Path) -> None:
    off = trunkline(site, "plugins", TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD="1")
    loaded, _, not_loaded = off.stdout.partition("not loaded:\n")
    assert "greeter" not in loaded
    assert "greeter              not loaded because TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD" in not_loaded
    allowed = trunkline(
        site, "plugins", TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD="1", TRUNKLINE_PLUGINS="greeter"
    )
    assert "greeter" in allowed.stdout.partition("not loaded:\n")[0]


def test_builtins_can_be_disabled_like_any_plugin(site: Path) -> None:
    result = trunkline(site, "plugins", TRUNKLINE_DISABLE_PLUGINS="memory-channel")
    assert result.returncode == 0, result.stderr
    loaded, _, not_loaded = result.stdout.partition("not loaded:\n")
    assert "memory-channel" not in loaded
    assert "memory-channel       disabled by TRUNKLINE_DISABLE_PLUGINS" in not_loaded
    channels = result.stdout.split("channels:")[1].split("strategies:")[0]
    assert not any(line.split()[0] == "memory" for line in channels.strip().splitlines())


def test_plugin_whose_import_fails_is_named(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_dist(site, "tl-broken", "broken_plugin", "import module_that_is_not_installed\n")
    result = trunkline(site, "plugins")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'trunkline: error: plugin "broken" (broken_plugin in distribution tl-broken 1.2.3) failed '
        "to import: ModuleNotFoundError: No module named 'module_that_is_not_installed'"
    ]


def test_misspelled_hook_is_refused_at_start_up(tmp_path: Path) -> None:
    site = tmp_path / "site"
    source = "from trunkline import hookimpl\n\n@hookimpl\ndef trunkline_clasify(contact):\n    return None\n"
    make_dist(site, "tl-typo", "typo_plugin", source)
    result = trunkline(site, "plugins")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith('trunkline: error: plugin "typo":')
    assert "unknown hook 'trunkline_clasify'" in line


class AsyncScorer:
    @hookimpl
    async def trunkline_score_agents(self) -> dict[str, float]:
        return {}


def test_async_implementation_of_a_synchronous_hook_is_refused() -> None:
    with pytest.raises(
        PluginError, match='plugin "scorer": trunkline_score_agents must be a plain function'
    ):
        load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("scorer", AsyncScorer())])


def test_two_plugins_cannot_share_a_name() -> None:
    with pytest.raises(
        PluginError, match='plugin "strategies": a plugin of that name is already registered'
    ):
        load_plugins(
            {"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("strategies", AsyncScorer())]
        )


def test_unknown_distribution_is_named(site: Path) -> None:
    result = trunkline(site, "plugins", TRUNKLINE_DISTRO="nosuch")
    assert result.returncode == 2
    assert 'TRUNKLINE_DISTRO: unknown distribution "nosuch"' in result.stderr


def test_check_config_reports_one_line_and_starts_nothing(site: Path, tmp_path: Path) -> None:
    config = tmp_path / "cc.toml"
    config.write_text(
        '[workspaces.acme]\nskills = ["en"]\n[workspaces.acme.agents.al]\nskills = { fr = 2 }\n'
    )
    result = trunkline(site, "check-config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f'trunkline: error: {config}:4:12: workspaces.acme.agents.al.skills.fr: unknown skill "fr" (known: en)'
    ]
    config.write_text(
        '[workspaces.acme]\nskills = ["en"]\n[workspaces.acme.agents.al]\nskills = { en = 2 }\n'
    )
    ok = trunkline(site, "check-config", str(config))
    assert ok.returncode == 0, ok.stderr
    assert "OK: acme (0 queues, 1 agents, 0 channels)" in ok.stdout


def test_serve_runs_a_config_and_stops(site: Path, tmp_path: Path) -> None:
    config = tmp_path / "cc.toml"
    config.write_text(
        "[web]\nport = 0\n"
        '[workspaces.acme.queues.q]\n[workspaces.acme.channels.web]\nadapter = "memory"\n'
    )
    result = trunkline(site, "serve", str(config), "--duration", "0.5")
    assert result.returncode == 0, result.stderr
    assert "serving" in result.stdout
    assert "web on http://127.0.0.1:" in result.stdout


def test_help_loads_every_plugin_but_neither_the_runtime_nor_a_web_library() -> None:
    """``--help`` loads each plugin to list its commands; the built-in plugins' steps import
    ``trunkline.runtime.steps``, which must not bring the runtime (or its store and
    configuration code) with it, and no plugin may bring its web stack."""
    code = (
        "import sys\nfrom trunkline.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('trunkline.runtime.lifecycle', 'trunkline.runtime.desk', 'starlette', 'uvicorn')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert "demo" in result.stdout  # trunkline-web's command: its plugin was loaded
    assert "LOADED []" in result.stdout, result.stdout[-400:]
