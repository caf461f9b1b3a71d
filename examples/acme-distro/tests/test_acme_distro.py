"""Acme's vendor distribution: selected by its script or TRUNKLINE_DISTRO, and only then."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from acme_distro import DEFAULTS, distro
from trunkline import Distro, load_plugins
from trunkline.cli import build

BIN = Path(sys.executable).parent


def command(script: str, module: str) -> list[str]:
    """The environment's console script, or the same entry function through ``python -c``."""
    path = BIN / script
    if path.exists():
        return [str(path)]
    return [sys.executable, "-c", f"from {module} import main; main()"]


ACME_CC = command("acme-cc", "acme_distro.cli")
TRUNKLINE = command("trunkline", "trunkline.cli")

CONFIG_USING_DEFAULT_SKILLS = """\
[workspaces.main.queues.billing]
skills = { billing = 2 }

[workspaces.main.agents.alice]
skills = { en = 5, billing = 4 }
capacity = { chat = 3 }
queues = ["billing"]

[workspaces.main.channels.tcp-chat]
adapter = "echo"
queue = "billing"
"""


def run(args: list[str], cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, **env},
        cwd=cwd,
        check=False,
    )


def entry_point_plugins(listing: str) -> set[str]:
    """Names of the plugins that ``plugins`` lists as coming from a distribution."""
    section = listing.split("plugins:\n", 1)[1].split("channels:\n", 1)[0]
    return {
        line.split()[0]
        for line in section.splitlines()
        if line.strip() and "(built-in)" not in line
    }


def test_the_distribution_is_found_by_its_entry_point() -> None:
    (entry,) = [ep for ep in metadata.entry_points(group="trunkline.distro") if ep.name == "acme"]
    assert entry.value == "acme_distro:distro"
    loaded = entry.load()
    assert isinstance(loaded, Distro)
    assert loaded is distro


def test_acme_cc_plugins_names_the_distribution_and_loads_only_echo_and_the_web() -> None:
    result = run([*ACME_CC, "plugins"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("distribution: acme Acme Contact Center\n")
    assert entry_point_plugins(result.stdout) == {"echo", "web"}
    assert re.search(r"^\s+echo\s+kind=chat\s+from plugin echo$", result.stdout, re.MULTILINE)


def test_trunkline_distro_selects_acme_for_the_plain_command() -> None:
    acme_cc = run([*ACME_CC, "plugins"])
    plain = run([*TRUNKLINE, "plugins"], TRUNKLINE_DISTRO="acme")
    assert plain.returncode == 0, plain.stderr
    assert "distribution: acme" in plain.stdout
    assert plain.stdout == acme_cc.stdout


def test_the_plain_command_is_not_affected_by_the_installed_distribution() -> None:
    result = run([*TRUNKLINE, "plugins"])
    assert result.returncode == 0, result.stderr
    assert "distribution:" not in result.stdout
    installed = {ep.name for ep in metadata.entry_points(group="trunkline.plugins")}
    assert entry_point_plugins(result.stdout) == installed


def test_acme_cc_check_config_applies_the_default_skills(tmp_path: Path) -> None:
    (tmp_path / "acme.toml").write_text(CONFIG_USING_DEFAULT_SKILLS, encoding="utf-8")
    result = run([*ACME_CC, "check-config", "acme.toml"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "acme.toml: OK: main (1 queues, 1 agents, 1 channels)"


def test_without_the_distribution_the_same_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "acme.toml").write_text(CONFIG_USING_DEFAULT_SKILLS, encoding="utf-8")
    result = run([*TRUNKLINE, "check-config", "acme.toml"], cwd=tmp_path)
    assert result.returncode == 2
    assert 'unknown skill "billing"' in result.stderr


@pytest.mark.parametrize(
    ("outbox", "expected_attempts"),
    [("", 8), ("[outbox]\nmax_attempts = 3\n", 3)],
)
def test_the_file_wins_over_a_default_and_the_rest_still_applies(
    tmp_path: Path, outbox: str, expected_attempts: int
) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(outbox + CONFIG_USING_DEFAULT_SKILLS, encoding="utf-8")
    config = build(str(path), pm=load_plugins({}, distro="acme"), env={})
    assert config.outbox.max_attempts == expected_attempts
    assert config.outbox.max_backoff == DEFAULTS["outbox"]["max_backoff"]
    main = config.workspaces["main"]
    assert main.workspace.name == "Acme Contact Center"
    assert main.skills == ("en", "fr", "de", "billing", "tech")


def test_acme_cc_help_names_acme() -> None:
    result = run([*ACME_CC, "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: acme-cc [OPTIONS] COMMAND [ARGS]...\n")
    assert "Acme Contact Center: route contacts from any channel to the right agent." in (
        result.stdout
    )
    assert 'Distribution "acme" of Trunkline' in result.stdout


def test_acme_cc_demo_is_acmes_and_runs_in_workspace_main(tmp_path: Path) -> None:
    args = ["demo", "--duration", "1.5", "--rate", "5", "--seed", "1", "--interval", "0.5"]
    args += ["--no-web", "--smtp-port", "-1", "--events", "events.jsonl"]
    result = run([*ACME_CC, *args], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Acme Contact Center demo: an embedded contact centre")
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert events
    assert {event["workspace"] for event in events} == {"main"}  # Acme's default workspace


def test_acme_cc_show_config_marks_acmes_defaults(tmp_path: Path) -> None:
    (tmp_path / "acme.toml").write_text(CONFIG_USING_DEFAULT_SKILLS, encoding="utf-8")
    result = run([*ACME_CC, "show-config", "acme.toml"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert 'max_attempts = 8  # default of distribution "acme"' in lines
    assert "skills = { billing = 2 }" in lines  # the file's own value, unmarked
    shown = tomllib.loads(result.stdout)
    assert shown["workspaces"]["main"]["skills"] == DEFAULTS["workspaces"]["main"]["skills"]
