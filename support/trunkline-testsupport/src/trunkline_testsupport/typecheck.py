"""Type-checking tests: ``mypy --strict`` on a small program, in a subprocess.

Core's typed API (hook calls checked against their specs, the Switchboard's settings) is
tested by writing a program that misuses it and reading what mypy says::

    from trunkline_testsupport.typecheck import mypy_strict

    def test_mypy_rejects_a_misspelt_setting(tmp_path):
        report = mypy_strict(tmp_path / "typo.py", 'from trunkline import Switchboard\\n...')
        assert 'typo.py:3: error: Unexpected keyword argument "stiky"' in report

Without mypy (it is a development dependency) the test skips.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["mypy_strict"]

TIMEOUT = 120.0  # seconds: a cold mypy over trunkline's imports takes some


def mypy_strict(program: Path, source: str) -> str:
    """Write ``source`` to ``program`` and return mypy's report on it (its standard output).

    ``--no-incremental``: the report is of this program alone, never of a cache another test
    or an older checkout left behind.
    """
    pytest.importorskip("mypy")
    program.write_text(source, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(program)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return result.stdout
