"""The plugin as users meet it: found through its entry point, its three commands in the
``trunkline`` command line (documented, light in ``--help``), and apart from core."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest

from trunkline.testing.cli import TRUNKLINE, clean_env, imports_of, run
from trunkline_workforce.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[3]
COMMAND_NAMES = ("erlang", "simulate", "replay")
# The maths, the simulator and matplotlib: imported when a command runs, never to list them.
HEAVY = ("trunkline_workforce.erlang", "trunkline_workforce.simulation", "matplotlib")


def test_trunkline_plugins_lists_workforce_with_its_distribution_and_version() -> None:
    result = run([*TRUNKLINE, "plugins"])
    assert result.returncode == 0, result.stderr
    version = re.escape(metadata.version("trunkline-workforce"))
    line = rf"^\s+workforce\s+trunkline-workforce {version}\s+trunkline_workforce\.plugin$"
    assert re.search(line, result.stdout, re.MULTILINE), result.stdout


def test_the_plugin_contributes_erlang_simulate_and_replay() -> None:
    assert [command.name for command in COMMANDS] == list(COMMAND_NAMES)
    result = run([*TRUNKLINE, "--help"])
    assert result.returncode == 0, result.stderr
    for name in COMMAND_NAMES:
        assert re.search(rf"^  {name}\s+\S", result.stdout, re.MULTILINE), result.stdout


def test_help_imports_neither_the_maths_nor_the_simulator_nor_matplotlib() -> None:
    result, imported = imports_of(["--help"], HEAVY)
    assert result.returncode == 0, result.stderr
    assert imported == []


def test_erlang_imports_the_maths_but_not_the_simulator() -> None:
    # Also the control for the test above: the probe sees the imports when they happen.
    args = ["erlang", "--arrivals", "100", "--interval", "1800", "--aht", "180", "--json"]
    result, imported = imports_of(args, HEAVY)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["agents"] == 14
    assert imported == ["trunkline_workforce.erlang"]


def test_simulate_without_a_chart_does_not_import_matplotlib() -> None:
    args = ["simulate", "--arrivals", "100", "--interval", "1800", "--aht", "180"]
    result, imported = imports_of([*args, "--agents", "14", "--contacts", "2000", "--json"], HEAVY)
    assert result.returncode == 0, result.stderr
    assert "matplotlib" not in imported
    assert "trunkline_workforce.simulation" in imported


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_the_command_line_page_documents_the_command_and_every_option(name: str) -> None:
    # What tests/test_docs.py checks of the built-in commands, for the commands of this plugin.
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    found = re.search(rf"^## trunkline {name}\n(.*?)(?=^## |\Z)", page, re.MULTILINE | re.DOTALL)
    assert found, f"docs/cli.md has no section '## trunkline {name}'"
    (command,) = [c for c in COMMANDS if c.name == name]
    options = [o for param in command.params for o in param.opts if o.startswith("-")]
    assert [o for o in options if f"`{o}" not in found.group(1)] == []


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_with_the_plugin_disabled_each_command_says_why_in_one_line(name: str) -> None:
    result = run([*TRUNKLINE, name, "--help"], clean_env(TRUNKLINE_DISABLE_PLUGINS="workforce"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f'trunkline: error: the command "{name}" comes with plugin "workforce" '
        "(trunkline-workforce), which is disabled by TRUNKLINE_DISABLE_PLUGINS (remove it "
        "from there to load it)\n"
    )


def test_core_never_imports_this_distribution() -> None:
    # Not even lazily: core names the distribution (to say what to install), never its package.
    core = ROOT / "core" / "src"
    naming = sorted(
        str(path.relative_to(core))
        for path in core.rglob("*.py")
        if "trunkline_workforce" in path.read_text(encoding="utf-8")
    )
    assert naming == []


def test_matplotlib_comes_with_the_plots_extra_of_this_distribution_not_with_core() -> None:
    core = metadata.requires("trunkline") or []
    assert [r for r in core if "matplotlib" in r or "extra ==" in r] == []
    assert metadata.metadata("trunkline").get_all("Provides-Extra") is None
    ours = [r.replace('"', "'") for r in metadata.requires("trunkline-workforce") or []]
    assert [r for r in ours if r.startswith("matplotlib")] == ["matplotlib>=3.8; extra == 'plots'"]
    assert [r for r in ours if r.startswith("trunkline")] == ["trunkline<0.2,>=0.1"]
