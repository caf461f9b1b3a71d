"""Statements of the documentation the code keeps true: the tables that list what exists (event
types, built-in plugins, top-level configuration tables), and no page saying that something
this release has does not exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from trunkline import ConfigError, config_from_dict
from trunkline.events import EVENT_TYPES
from trunkline.plugins import BUILTIN_PLUGINS
from trunkline.testing.cli import TRUNKLINE, clean_env, run

DOCS = Path(__file__).resolve().parents[1] / "docs"

# A hook of a built-in plugin that registers named things, and what the docs call them.
REGISTRIES = (
    "trunkline_register_channels",
    "trunkline_register_strategies",
    "trunkline_register_stores",
    "trunkline_register_inbound_steps",
    "trunkline_register_decision_steps",
)
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}


def section(page: str, heading: str) -> str:
    """The text under ``heading`` (a ``## `` line) up to the next heading of that level."""
    text = (DOCS / page).read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"{page}: no section '## {heading}'"
    return match.group(1)


def table(page: str, header: str) -> dict[str, str]:
    """The rows of the table whose header line is ``header``: first cell's `name` -> the row."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    assert header in lines, f"{page}: no table headed {header!r}"
    rows: dict[str, str] = {}
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        first = re.match(r"\|\s*`([^`]+)`\s*\|", line)
        assert first, f"{page}: a row without a `name` first: {line}"
        rows[first.group(1)] = line
    return rows


def test_the_event_table_of_concepts_lists_every_event_type() -> None:
    rows = table("concepts.md", "| Event | Meaning |")
    assert sorted(rows) == sorted(EVENT_TYPES), "concepts.md's event table and trunkline.events"


def test_the_built_in_plugins_table_lists_every_built_in_and_what_it_provides() -> None:
    rows = table("plugins/discovery.md", "| Name | Provides |")
    assert sorted(rows) == sorted(BUILTIN_PLUGINS)
    for name, module_name in BUILTIN_PLUGINS.items():
        module = importlib.import_module(module_name)
        if hasattr(module, "trunkline_register_services"):  # its services need a runtime
            assert "service" in rows[name], f"discovery.md: plugin {name} runs a service"
            continue
        provided = [
            thing.name
            for hook in REGISTRIES
            if hasattr(module, hook)
            for thing in getattr(module, hook)()
        ]
        assert provided, name
        for thing in provided:
            assert f"`{thing}`" in rows[name], f"discovery.md: plugin {name} provides {thing}"


def test_the_top_level_section_of_configuration_names_every_table() -> None:
    with pytest.raises(ConfigError) as refused:
        config_from_dict({"no-such-table": {}}, adapters={}, strategies=set(), env={})
    allowed = re.search(r"\(allowed: ([^)]*)\)", str(refused.value))
    assert allowed, str(refused.value)
    tables = set(allowed.group(1).split(", "))
    text = section("configuration.md", "The top level")
    assert set(re.findall(r"`\[([a-z_]+)\]`", text)) == tables
    for word in re.findall(rf"\b({'|'.join(NUMBERS)})\b", text):
        assert NUMBERS[word] == len(tables), f"configuration.md says {word} top-level tables"


def test_the_plugins_example_of_the_command_line_page_is_what_core_alone_prints() -> None:
    text = section("cli.md", "trunkline plugins")
    shown = re.search(r"```console\n\$ trunkline plugins\n(plugins:\n.*?)```", text, re.S)
    assert shown, "cli.md: no example output of trunkline plugins"
    result = run([*TRUNKLINE, "plugins"], clean_env(TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD="1"))
    assert result.returncode == 0, result.stderr
    # This workspace also installs every plugin distribution, which the output then lists
    # under "not loaded:"; a core-only install, which the page shows, has no such section.
    core_alone = result.stdout.split("not loaded:\n", 1)[0]
    assert shown.group(1) == core_alone


@pytest.mark.parametrize(
    "stale",
    [r"no HTTP server", r"no HTTP API", r"HTTP API for\s+agent desktops .* later release"],
)
def test_no_page_says_the_http_server_does_not_exist(stale: str) -> None:
    found = [
        str(path.relative_to(DOCS))
        for path in sorted(DOCS.rglob("*.md"))
        if re.search(stale, path.read_text(encoding="utf-8"), re.S)
    ]
    assert found == []
