"""`trunkline db upgrade` and `trunkline db retention`, on the SQLite store beside the file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio

from trunkline import events as ev
from trunkline.sql import SqliteStore
from trunkline.testing.store_suite import contact_events

CONFIG = """
[workspaces.acme]
skills = ["en"]

[workspaces.acme.retention]
days = 30
mode = "{mode}"

[workspaces.acme.queues.support]

[workspaces.quiet]
[workspaces.quiet.queues.q]
"""
DAY = 86_400.0


def trunkline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from trunkline.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def config(tmp_path: Path, mode: str = "anonymise") -> Path:
    path = tmp_path / "acme.toml"
    path.write_text(textwrap.dedent(CONFIG.format(mode=mode)))
    return path


def fill(db: Path) -> None:
    async def run() -> None:
        store = SqliteStore(db)
        await store.open()
        for n in (1, 2):  # two old contacts, closed 60 days before "now"
            await store.append(contact_events(n, workspace="acme", at=0.0))
            await store.append([ev.ContactClosed(workspace="acme", at=DAY, contact_id=f"ct{n}")])
        await store.append(contact_events(3, workspace="acme", at=55 * DAY))  # still open
        await store.aclose()

    anyio.run(run)


def test_upgrade_creates_the_database_beside_the_file(tmp_path: Path) -> None:
    result = trunkline("db", "upgrade", str(config(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("the sqlite database is at schema version 1")
    assert (tmp_path / "trunkline.db").exists()


def test_a_database_newer_than_the_code_is_refused_by_upgrade_and_serve(tmp_path: Path) -> None:
    path = config(tmp_path)
    assert trunkline("db", "upgrade", str(path)).returncode == 0
    conn = sqlite3.connect(tmp_path / "trunkline.db")
    conn.execute("UPDATE trunkline_schema SET version = 7")
    conn.commit()
    conn.close()
    for command in (("db", "upgrade"), ("serve", "--duration", "1")):
        result = trunkline(*command, str(path))
        assert result.returncode != 0
        assert "schema version 7, newer than this Trunkline knows (1)" in result.stderr


def test_a_dry_run_reports_and_changes_nothing(tmp_path: Path) -> None:
    path = config(tmp_path)
    fill(tmp_path / "trunkline.db")
    before = (tmp_path / "trunkline.db").read_bytes()
    result = trunkline("db", "retention", str(path), "--dry-run", "--now", str(61 * DAY))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        'workspace "acme": would anonymise 2 contacts, 2 messages, 6 events '
        "(closed more than 30 days ago)",
        'workspace "quiet": keeps contacts for ever (no retention)',
    ]
    assert (tmp_path / "trunkline.db").read_bytes() == before


def test_retention_anonymises_then_finds_nothing_more(tmp_path: Path) -> None:
    path = config(tmp_path)
    fill(tmp_path / "trunkline.db")
    result = trunkline("db", "retention", str(path), "--now", str(61 * DAY))
    assert result.stdout.splitlines()[0].startswith('workspace "acme": anonymised 2 contacts')
    again = trunkline("db", "retention", str(path), "--now", str(61 * DAY))
    assert again.stdout.splitlines()[0].startswith('workspace "acme": anonymised 0 contacts')
    conn = sqlite3.connect(tmp_path / "trunkline.db")
    bodies = [row[0] for row in conn.execute("SELECT data FROM messages ORDER BY seq")]
    assert ['"body":""' in b for b in bodies] == [True, True, False]  # the open contact kept


def test_retention_deletes_when_configured(tmp_path: Path) -> None:
    path = config(tmp_path, mode="delete")
    fill(tmp_path / "trunkline.db")
    result = trunkline("db", "retention", str(path), "--now", str(61 * DAY))
    assert result.stdout.splitlines()[0] == (
        'workspace "acme": deleted 2 contacts, 2 messages, 6 events (closed more than 30 days ago)'
    )
    conn = sqlite3.connect(tmp_path / "trunkline.db")
    assert [row[0] for row in conn.execute("SELECT id FROM contacts")] == ["ct3"]


def test_a_bad_retention_mode_is_refused_with_its_position(tmp_path: Path) -> None:
    path = config(tmp_path, mode="shred")
    result = trunkline("check-config", str(path))
    assert result.returncode == 2
    assert "workspaces.acme.retention" in result.stderr
    assert "mode: 'shred' is not one of 'anonymise', 'delete'" in result.stderr
