"""Developer sessions: ``uv run nox -s tests lint typecheck imports docs wheels bench``.

Sessions run inside the uv workspace environment (``uv run``), so they use exactly the
locked versions. ``plugin_tests`` is parametrised over every plugin distribution found on
disk, so adding ``plugins/trunkline-<x>/`` adds a session without editing this file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "imports", "docs", "tests"]

PLUGIN_DIRS = sorted(
    str(p.parent.relative_to(ROOT))
    for pattern in ("plugins/trunkline-*/pyproject.toml", "examples/*/pyproject.toml")
    for p in ROOT.glob(pattern)
)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, as CI runs it."""
    session.run("uv", "run", "pytest", *session.posargs, external=True)


@nox.session
@nox.parametrize("plugin", PLUGIN_DIRS)
def plugin_tests(session: nox.Session, plugin: str) -> None:
    """One plugin or example distribution's own tests."""
    session.run("uv", "run", "pytest", plugin, *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    session.run("uv", "run", "ruff", "check", ".", external=True)
    session.run("uv", "run", "ruff", "format", "--check", ".", external=True)


#: Every distribution's sources: core's, each plugin's and each example's, and the repository's
#: test support (``support/*``, never published); CI checks the same.
TYPED = [
    "core/src",
    *(f"{d}/src" for d in PLUGIN_DIRS if (ROOT / d / "src").is_dir()),
    *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("support/*/src")),
]


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over core, then each plugin, example and test-support member, as CI does."""
    session.run("uv", "run", "mypy", "--strict", "core/src", external=True)
    session.run("uv", "run", "mypy", "--strict", *TYPED[1:], external=True)


@nox.session
def imports(session: nox.Session) -> None:
    """The import contracts of the root pyproject.toml (import-linter)."""
    session.run("uv", "run", "lint-imports", external=True)


@nox.session
def docs(session: nox.Session) -> None:
    session.run("uv", "run", "mkdocs", "build", "--strict", external=True)


@nox.session
def wheels(session: nox.Session) -> None:
    """Build every distribution and install the wheels (not editable) into a fresh venv."""
    with tempfile.TemporaryDirectory() as tmp:
        dist, venv = Path(tmp) / "dist", Path(tmp) / "venv"
        session.run("uv", "build", "--all-packages", "--out-dir", str(dist), external=True)
        session.run("uv", "venv", str(venv), external=True)
        wheels = [str(w) for w in dist.glob("*.whl")]
        python = str(venv / "bin" / "python")
        session.run("uv", "pip", "install", "--python", python, *wheels, external=True)
        session.run(str(venv / "bin" / "trunkline"), "plugins", external=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark and print its figures."""
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("uv", "run", "python", str(script), external=True)
