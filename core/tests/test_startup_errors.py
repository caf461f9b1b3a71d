"""Start-up failures as a user meets them: one line naming the file and what to do, exit 2.

Every test runs the real ``trunkline`` command in a fresh process (``trunkline.testing.cli``):
the runtime starts in a task group, and before these were unwrapped a store that could not be
opened printed a 60-line ``ExceptionGroup`` traceback and exited 1.
"""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pytest

from trunkline.testing.cli import TRUNKLINE, clean_env, run

#: Core's commands as core alone runs them: without trunkline-web, so nothing is served.
HEADLESS = clean_env(TRUNKLINE_DISABLE_PLUGINS="web")

CONFIG = """
[store]
backend = "sqlite"
path = "{path}"

[workspaces.acme.queues.support]

[workspaces.acme.agents.alice]
capacity = {{ chat = 4 }}
queues = ["support"]
"""
GARBAGE = b"this is not an SQLite file at all; " * 40


def configured(tmp_path: Path, store: Path) -> Path:
    path = tmp_path / "trunkline.toml"
    path.write_text(textwrap.dedent(CONFIG.format(path=store)), encoding="utf-8")
    return path


def parent_is_a_file(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "data").write_text("a file where a directory is expected", encoding="utf-8")
    store = tmp_path / "data" / "db" / "trunkline.db"
    expected = (
        f'trunkline: error: store "{store}": cannot create its directory "{store.parent}": '
        f'"{tmp_path / "data"}" is a file, not a directory; point [store] path elsewhere, or '
        f'move "{tmp_path / "data"}" aside'
    )
    return store, expected


def damaged(tmp_path: Path) -> tuple[Path, str]:
    store = tmp_path / "trunkline.db"
    store.write_bytes(GARBAGE)
    expected = (
        f'trunkline: error: store "{store}": cannot be used: file is not a database. Nothing '
        "was read or changed; restore the file from a backup, or move it aside to start empty"
    )
    return store, expected


PROBLEMS = {"parent is a file": parent_is_a_file, "damaged database": damaged}
COMMANDS = {
    "serve": ["serve", "{config}", "--duration", "5"],
    "report": ["report", "{config}"],
    "db upgrade": ["db", "upgrade", "{config}"],
    "db retention": ["db", "retention", "{config}"],
    "check-config": ["check-config", "{config}"],
}


def assert_one_line(result: object, expected: str) -> None:
    returncode, stdout, stderr = (getattr(result, a) for a in ("returncode", "stdout", "stderr"))
    assert (returncode, stderr) == (2, expected + "\n"), stderr
    assert "Traceback" not in stdout + stderr


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_store_that_cannot_be_opened_is_one_line_with_exit_2(
    tmp_path: Path, problem: str, command: str
) -> None:
    store, expected = PROBLEMS[problem](tmp_path)
    before = store.read_bytes() if store.exists() else None
    config = configured(tmp_path, store)
    args = [a.format(config=config) for a in COMMANDS[command]]
    assert_one_line(run([*TRUNKLINE, *args], HEADLESS), expected)
    assert (store.read_bytes() if store.exists() else None) == before  # left as it was


def test_serve_with_the_default_store_names_it_beside_the_file(tmp_path: Path) -> None:
    config = configured(tmp_path, Path("unused"))
    text = config.read_text(encoding="utf-8")
    config.write_text(text.split("[store]")[0] + text.split('"unused"\n')[1], encoding="utf-8")
    (tmp_path / "trunkline.db").write_bytes(GARBAGE)
    result = run([*TRUNKLINE, "serve", str(config), "--duration", "5"], HEADLESS)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f'trunkline: error: store "{tmp_path / "trunkline.db"}": ')
    assert result.stderr.count("\n") == 1


def test_another_applications_database_is_named_with_what_to_do(tmp_path: Path) -> None:
    store = tmp_path / "invoices.db"
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    result = run([*TRUNKLINE, "check-config", str(configured(tmp_path, store))], HEADLESS)
    expected = (
        f'trunkline: error: store "{store}": the file is an SQLite database, but not '
        "Trunkline's; point [store] path at another file (nothing in it was changed)"
    )
    assert_one_line(result, expected)


def test_a_directory_as_the_store_path_is_named(tmp_path: Path) -> None:
    result = run([*TRUNKLINE, "check-config", str(configured(tmp_path, tmp_path))], HEADLESS)
    expected = (
        f'trunkline: error: store "{tmp_path}": is a directory, not a database file: point '
        f'[store] path at a file, e.g. "{tmp_path / "trunkline.db"}"'
    )
    assert_one_line(result, expected)


def test_check_config_creates_nothing_and_serve_creates_missing_directories(
    tmp_path: Path,
) -> None:
    store = tmp_path / "data" / "2025" / "trunkline.db"
    config = configured(tmp_path, store)
    checked = run([*TRUNKLINE, "check-config", str(config)], HEADLESS)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{config}: OK: acme (1 queues, 1 agents, 0 channels)\n"
    assert not (tmp_path / "data").exists()  # checked, not made
    served = run([*TRUNKLINE, "serve", str(config), "--duration", "0.5"], HEADLESS)
    assert served.returncode == 0, served.stderr
    assert store.is_file()  # the missing directories were created, as documented
    again = run(
        [*TRUNKLINE, "check-config", str(config)], HEADLESS
    )  # an existing, healthy database
    assert again.returncode == 0, again.stderr
