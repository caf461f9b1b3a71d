"""Commands that other distributions bring (``erlang``, ``simulate``, ``replay``): without their
plugin, the command line says in one line what to install, or why the plugin is off."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from trunkline import plugins
from trunkline.cli import BUILTIN_COMMANDS, PLUGIN_COMMANDS, main
from trunkline.testing.cli import TRUNKLINE, clean_env, install, run

MOVED = ("erlang", "simulate", "replay")
MOVED_TO_THE_WEB = ("demo", "hash-secret")
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(autouse=True)
def no_trunkline_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``TRUNKLINE_*`` choice of this process changes what loads."""
    for name in [n for n in os.environ if n.startswith("TRUNKLINE_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def without_workforce(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed entry points as discovery sees them without trunkline-workforce."""
    found = plugins._entry_points
    monkeypatch.setattr(
        plugins,
        "_entry_points",
        lambda group: [ep for ep in found(group) if ep.name != "workforce"],
    )


def trunkline(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.mark.parametrize("name", MOVED)
@pytest.mark.parametrize("args", [["--help"], ["--arrivals", "100"]], ids=["help", "options"])
@pytest.mark.usefixtures("without_workforce")
def test_without_trunkline_workforce_each_of_its_commands_says_what_to_install(
    capsys: pytest.CaptureFixture[str], name: str, args: list[str]
) -> None:
    code, out, err = trunkline(capsys, name, *args)
    assert code == 2
    assert out == ""
    assert err == (
        f'trunkline: error: the command "{name}" comes with the trunkline-workforce '
        "distribution, which is not installed: pip install 'trunkline-workforce[plots]'\n"
    )


@pytest.mark.usefixtures("without_workforce")
def test_without_trunkline_workforce_help_lists_the_other_commands_and_not_its_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = trunkline(capsys, "--help")
    assert code == 0
    for name in BUILTIN_COMMANDS:
        assert f"\n  {name} " in out
    for name in MOVED:
        assert f"\n  {name} " not in out


@pytest.mark.usefixtures("without_workforce")
def test_an_unknown_command_is_still_refused_by_click_with_its_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = trunkline(capsys, "simulat")
    assert code == 2
    assert out == ""
    assert "No such command 'simulat'" in err
    assert "trunkline-workforce" not in err


def test_a_command_another_distribution_brings_is_not_a_built_in_one() -> None:
    # A built-in of that name would hide the plugin's command, which the hint then stands for.
    assert set(PLUGIN_COMMANDS) == {*MOVED, *MOVED_TO_THE_WEB}
    assert set(PLUGIN_COMMANDS).isdisjoint(BUILTIN_COMMANDS)


@pytest.fixture
def without_web(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed entry points as discovery sees them without trunkline-web."""
    found = plugins._entry_points
    monkeypatch.setattr(
        plugins, "_entry_points", lambda group: [ep for ep in found(group) if ep.name != "web"]
    )


@pytest.mark.parametrize("name", MOVED_TO_THE_WEB)
@pytest.mark.usefixtures("without_web")
def test_without_trunkline_web_the_demo_and_hash_secret_say_what_to_install(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out, err = trunkline(capsys, name, "--help")
    assert (code, out) == (2, "")
    assert err == (
        f'trunkline: error: the command "{name}" comes with the trunkline-web distribution, '
        "which is not installed: pip install trunkline-web\n"
    )


# What a plugin command reaches of trunkline.cli ---------------------------------------------


def documented_command() -> str:
    """The example plugin command of docs/cli.md's "Commands from plugins"."""
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    section = page.split("\n## Commands from plugins\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return str(code)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site with one plugin whose command is the documentation's example."""
    source = documented_command() + (
        "\n\nfrom trunkline import hookimpl\n\n\n@hookimpl\n"
        "def trunkline_register_commands():\n    return [count_events]\n"
    )
    site = tmp_path / "site"
    install(
        site,
        "tl-counter",
        "counter_plugin",
        source,
        {"trunkline.plugins": {"counter": "counter_plugin"}},
    )
    (tmp_path / "centre.toml").write_text("[workspaces.acme.queues.support]\n")
    return site


def count_events(site: Path, *args: str) -> tuple[int, str, str]:
    config = str(site.parent / "centre.toml")
    result = run([*TRUNKLINE, "count-events", config, *args], clean_env(PYTHONPATH=str(site)))
    return result.returncode, result.stdout, result.stderr


def test_a_plugin_command_opens_the_store_as_serve_would(site: Path) -> None:
    assert count_events(site, "acme") == (0, "0\n", "")
    # serve's default store: SQLite beside the file, created on first use.
    assert (site.parent / "trunkline.db").is_file()


def test_a_plugin_command_fails_in_one_line_from_inside_the_store_or_after(site: Path) -> None:
    config = site.parent / "centre.toml"
    assert count_events(site, "nowhere") == (
        2,
        "",
        f'trunkline: error: {config}: no workspace "nowhere"\n',
    )
    assert count_events(site, "acme", "--at-least", "1") == (
        2,
        "",
        "trunkline: error: 0 events, fewer than --at-least 1\n",
    )


def test_a_plugin_commands_configuration_errors_are_the_built_in_commands_lines(site: Path) -> None:
    config = site.parent / "centre.toml"
    config.write_text("[workspaces.acme.queues.support]\nnonsense = 1\n")
    code, out, err = count_events(site, "acme")
    checked = run([*TRUNKLINE, "check-config", str(config)], clean_env(PYTHONPATH=str(site)))
    assert (code, out) == (2, "")
    assert err == checked.stderr
    assert err.startswith(f"trunkline: error: {config}:2:1: ")
