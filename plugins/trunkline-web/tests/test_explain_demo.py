"""`trunkline explain` of a log `trunkline demo --events` writes: no `--config` needed, as
trunkline-web answers `trunkline_log_config` with the demo's configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trunkline import events as ev
from trunkline.codec import read_events

TRUNKLINE = [sys.executable, "-c", "from trunkline.cli import main; main()"]


TRUNKLINE = [sys.executable, "-c", "from trunkline.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRUNKLINE, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("explain") / "demo.jsonl"
    result = run(
        "demo",
        "--no-web",
        "--smtp-port",
        "-1",
        "--duration",
        "3",
        "--seed",
        "7",
        "--rate",
        "5",
        "--events",
        str(path),
    )
    assert result.returncode == 0, result.stderr
    return path


def offered_contacts(path: Path) -> list[tuple[str, str]]:
    found = []
    for line in path.read_text().splitlines():
        data = json.loads(line)
        if data["type"] == "ContactOffered":
            found.append((data["offer"]["contact_id"], data["offer"]["agent_id"]))
    return found


def test_the_demo_writes_every_event_as_a_json_line(demo_log: Path) -> None:
    events = list(read_events(demo_log.read_text().splitlines()))
    assert {"AgentStatusChanged", "ContactReceived", "ContactOffered"} <= {e.type for e in events}


def test_explain_names_the_agent_offered_and_judges_the_others(demo_log: Path) -> None:
    contact_id, agent_id = offered_contacts(demo_log)[-1]
    events = list(read_events(demo_log.read_text().splitlines()))
    other = next(
        e.agent_id
        for e in events
        if isinstance(e, ev.AgentStatusChanged) and e.agent_id != agent_id
    )
    result = run("explain", contact_id, "--events", str(demo_log), "--agent", other)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"contact {contact_id} in queue ")
    assert any(line.startswith(f"offered to: {agent_id}") for line in lines)
    assert any(line.strip().startswith(f"{agent_id}: eligible, rank 1") for line in lines)
    assert any(line.strip().startswith(f"{other}: ") for line in lines)


def test_explain_of_an_agent_not_in_the_configuration_is_refused(demo_log: Path) -> None:
    contact_id, _ = offered_contacts(demo_log)[-1]
    result = run("explain", contact_id, "--events", str(demo_log), "--agent", "zoe")
    assert result.returncode == 2
    assert result.stderr.strip() == 'trunkline: error: unknown agent "zoe" in workspace "demo"'


def test_explain_of_an_unknown_contact_is_one_clear_line(demo_log: Path) -> None:
    result = run("explain", "ct_nope", "--events", str(demo_log))
    assert result.returncode == 2
    assert result.stderr.strip() == 'trunkline: error: contact "ct_nope" is not in the event log'
