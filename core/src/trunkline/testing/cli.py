"""Testing a plugin as users meet it: the ``trunkline`` command, in a fresh process.

Every plugin checks the same things — that ``trunkline plugins`` finds it, that ``trunkline
--help`` does not import its channel SDK, that ``trunkline serve`` runs it — and these helpers
are the one way to do it::

    from trunkline.testing.cli import TRUNKLINE, imports_of, run

    def test_help_stays_light() -> None:
        result, imported = imports_of(["--help"], ["my_plugin.adapter", "heavy_sdk"])
        assert result.returncode == 0, result.stderr
        assert imported == []
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["TRUNKLINE", "clean_env", "free_port", "imports_of", "install", "run"]

_SCRIPT = Path(sys.executable).with_name("trunkline")  # the console script of this environment
#: The command line that runs ``trunkline`` in this environment.
TRUNKLINE: list[str] = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from trunkline.cli import main; main()"]
)
_MARK = "--- trunkline.testing imported:"
_PROBE = f"""
import json, sys
from trunkline.cli import main
watched = json.loads(sys.argv[1])
try:
    main(sys.argv[2:])
except SystemExit:
    pass
print()
print({_MARK!r}, json.dumps(sorted(m for m in watched if m in sys.modules)))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the ``TRUNKLINE_*`` choices that change what loads,
    plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    return {**env, **extra}


def run(
    args: Sequence[str], env: Mapping[str, str] | None = None, *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command (such as ``[*TRUNKLINE, "plugins"]``) with :func:`clean_env` by default."""
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env) if env is not None else clean_env(),
        check=False,
    )


def imports_of(
    argv: Sequence[str],
    modules: Sequence[str],
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``trunkline ARGV`` in a fresh interpreter and say which of ``modules`` it imported.

    The result's ``stdout`` is the command's own output.
    """
    result = run([sys.executable, "-c", _PROBE, json.dumps(list(modules)), *argv], env)
    output, _, tail = result.stdout.rpartition(_MARK)
    if not _:
        raise AssertionError(f"the probe did not finish: {result.stderr}")
    result.stdout = output.removesuffix("\n\n") + ("\n" if output.strip() else "")
    imported: list[str] = json.loads(tail)
    return result, imported


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the server binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install(
    site: Path,
    dist: str,
    module: str,
    source: str,
    entry_points: Mapping[str, Mapping[str, str]],
    *,
    version: str = "1.0.0",
) -> None:
    """Install a one-module distribution into the directory ``site`` as pip would: the module
    ``module.py`` holding ``source``, and metadata naming ``entry_points`` (group -> name ->
    ``module:attr``), so a process with ``site`` on its path finds its plugins or distribution.

    For tests: a previously imported module of the same name is forgotten, so a test that
    installs ``distro_x`` with other contents in-process sees its own, not an earlier test's.
    """
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source, encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    groups = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in names.items())
        for group, names in entry_points.items()
    )
    (info / "entry_points.txt").write_text(groups, encoding="utf-8")
    sys.modules.pop(module, None)
    importlib.invalidate_caches()
