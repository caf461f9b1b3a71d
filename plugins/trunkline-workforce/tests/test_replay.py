"""Replay: a recorded log, read back from a real SQLite store, run under another configuration.

The log is made by the simulator (the production engine, its events appended to the store as
the runtime would); ``trunkline replay`` reads it through the configured store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from trunkline import events as ev
from trunkline.cli import build
from trunkline.plugins import load_plugins
from trunkline.sql import SqliteStore
from trunkline_workforce.simulation import ArrivalSource, Exponential, Scenario, simulate
from trunkline_workforce.simulation.replay import read_log, replay

CONFIG = """
[workspaces.acme]

[workspaces.acme.queues.support]
service_level_threshold = 20.0
{queue_extra}
{agents}
"""


def _config(path: Path, agents: int, queue_extra: str = "") -> Path:
    team = "\n".join(
        f'[workspaces.acme.agents.a{n}]\ncapacity = {{ voice = 1 }}\nqueues = ["support"]\n'
        for n in range(1, agents + 1)
    )
    path.write_text(textwrap.dedent(CONFIG.format(agents=team, queue_extra=queue_extra)))
    return path


def _record(tmp_path: Path, contacts: int = 4000) -> tuple[Path, list[ev.Event]]:
    """Run 14 agents through a day of contacts and append every event to trunkline.db."""
    recorded = _config(tmp_path / "recorded.toml", 14)
    config = build(str(recorded), pm=load_plugins(), env={})
    events: list[ev.Event] = []
    scenario = Scenario(
        workspace=config.workspaces["acme"],
        sources=(
            ArrivalSource(
                queue="support",
                handle=Exponential(180.0),
                rate=100 / 1800,
                patience=Exponential(120.0),
            ),
        ),
        seed=5,
        contacts=contacts,
        start=1_790_000_000.0,
    )
    simulate(scenario, observe=events.append)

    async def fill() -> None:
        store = SqliteStore(tmp_path / "trunkline.db")
        await store.open()
        for start in range(0, len(events), 500):
            await store.append(events[start : start + 500])
        await store.aclose()

    anyio.run(fill)
    return recorded, events


def _trunkline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from trunkline.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_replaying_a_log_under_its_own_configuration_reproduces_it(tmp_path: Path) -> None:
    recorded, events = _record(tmp_path)
    config = build(str(recorded), pm=load_plugins(), env={})
    recording = read_log(events, "acme")
    assert len(recording.arrivals) == 4000
    run = replay(recording, config.workspaces["acme"])
    # The same engine, the same arrivals, talk times, patience and agents: the same outcome.
    # (Customers who were answered get a drawn patience beyond their wait; with the same
    # decisions they are answered again before it runs out.)
    r = run.records
    answered = sum(1 for x in r.answered if x == x)
    recorded_answered = sum(1 for e in events if isinstance(e, ev.OfferAccepted))
    assert answered == recorded_answered
    waits = sorted(
        r.answered[i] - r.queued[i] for i in range(len(r)) if r.answered[i] == r.answered[i]
    )
    accepted = {e.contact_id: e.at for e in events if isinstance(e, ev.OfferAccepted)}
    queued = {e.contact_id: e.at for e in events if isinstance(e, ev.ContactQueued)}
    assert waits == pytest.approx(sorted(accepted[c] - queued[c] for c in accepted))


def test_cli_replay_shows_what_fewer_agents_would_have_done(tmp_path: Path) -> None:
    recorded, _ = _record(tmp_path)
    fewer = _config(tmp_path / "fewer.toml", 12)
    result = _trunkline("replay", str(recorded), "--with", str(fewer), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["columns"] == ["recorded", "replayed", "changed"]
    assert data["contacts"] == 4000
    sl: dict[str, Any] = data["figures"]["workspace"]["service_level"]
    assert sl["replayed"] == pytest.approx(sl["recorded"], abs=1e-9)
    assert sl["changed"] < sl["recorded"] - 0.05
    abandon = data["figures"]["workspace"]["abandonment_rate"]
    assert abandon["changed"] > abandon["recorded"]
    assert data["mean_patience"] == pytest.approx(120.0, rel=0.25)
    text = _trunkline("replay", str(recorded), "--with", str(fewer))
    assert text.returncode == 0, text.stderr
    assert "service level" in text.stdout
    assert "recorded" in text.stdout


def test_replay_refuses_a_configuration_without_the_logs_queues(tmp_path: Path) -> None:
    recorded, _ = _record(tmp_path, contacts=50)
    other = tmp_path / "other.toml"
    other.write_text("[workspaces.acme]\n[workspaces.acme.queues.sales]\n")
    result = _trunkline("replay", str(recorded), "--with", str(other))
    assert result.returncode == 2
    assert 'lacks queue "support"' in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[workspaces.acme]\nspeed = 3\n")
    result = _trunkline("replay", str(recorded), "--with", str(bad))
    assert result.returncode == 2
    assert "speed" in result.stderr
