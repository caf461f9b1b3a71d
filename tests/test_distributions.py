"""What every distribution of the workspace promises: a `trunkline` range it supports, one
version, its own changelog, and (for core) a wheel that installs and runs alone.

The wheel test builds core's wheel, installs it into a fresh virtualenv with no other member
of the workspace, and checks that the embedding API imports, that none of the web's or the
charts' libraries are among its requirements, and that the command line starts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
MEMBERS = sorted(
    p.parent
    for pattern in ("plugins/trunkline-*/pyproject.toml", "examples/*/pyproject.toml")
    for p in ROOT.glob(pattern)
)
#: Libraries an embedding app must not get with `pip install trunkline`.
NOT_IN_CORE = ("starlette", "uvicorn", "websockets", "prometheus-client", "matplotlib")


def project(folder: Path) -> dict[str, object]:
    with (folder / "pyproject.toml").open("rb") as f:
        data: dict[str, object] = tomllib.load(f)["project"]
    return data


def core_version() -> Version:
    return Version(str(project(CORE)["version"]))


@pytest.mark.parametrize("folder", MEMBERS, ids=lambda p: p.name)
def test_each_distribution_supports_one_minor_series_of_trunkline(folder: Path) -> None:
    """``trunkline>=0.N,<0.N+1``, holding core's version: a plugin says what it was built for, and
    pip refuses to pair it with a core whose API may have changed under it (0.x minor series)."""
    requirements = [Requirement(r) for r in project(folder)["dependencies"]]  # type: ignore[attr-defined]
    core = [r for r in requirements if r.name == "trunkline"]
    assert len(core) == 1, f"{folder.name} must depend on trunkline once"
    spec = core[0].specifier
    version = core_version()
    series = f"{version.major}.{version.minor}"
    upper = f"{version.major}.{version.minor + 1}"
    assert {str(s) for s in spec} == {f">={series}", f"<{upper}"}, (
        f"{folder.name}: write trunkline>={series},<{upper}, not {core[0]}"
    )
    assert spec.contains(version)


def test_versions_are_written_once_in_each_pyproject() -> None:
    """No ``__version__ = "…"`` literal beside the pyproject's version: it would drift."""
    literal = re.compile(r"""^__version__\s*[:=][^\n]*["']\d""", re.M)
    offenders = [
        str(path.relative_to(ROOT))
        for folder in (CORE, *MEMBERS)
        for path in (folder / "src").rglob("*.py")
        if literal.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize("folder", [CORE, *MEMBERS], ids=lambda p: p.name)
def test_each_distribution_keeps_its_own_changelog(folder: Path) -> None:
    text = (folder / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith(f"# Changelog of {project(folder)['name']}\n")
    assert "\n## [Unreleased]\n" in text


@pytest.fixture(scope="module")
def core_wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        if os.environ.get("CI"):
            pytest.fail("uv is needed to build and install core's wheel")
        pytest.skip("uv is not on PATH")
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [uv, "build", "--package", "trunkline", "--wheel", "--out-dir", str(tmp / "dist")],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp / "dist").glob("trunkline-*.whl")
    venv = tmp / "venv"
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True
    )
    subprocess.run(
        [uv, "pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv


def test_core_wheel_alone_gives_the_switchboard(core_wheel_venv: Path) -> None:
    python = core_wheel_venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", "import trunkline; trunkline.Switchboard; print(trunkline.__file__)"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
    )
    assert done.returncode == 0, done.stderr
    assert str(core_wheel_venv) in done.stdout  # the wheel's copy, not the workspace's


def test_core_wheel_requires_no_web_or_charts(core_wheel_venv: Path) -> None:
    shown = subprocess.run(
        [
            shutil.which("uv") or "uv",
            "pip",
            "show",
            "--python",
            str(core_wheel_venv / "bin" / "python"),
            "trunkline",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (line,) = [x for x in shown.splitlines() if x.startswith("Requires:")]
    requires = {
        name.strip().lower() for name in line.removeprefix("Requires:").split(",") if name.strip()
    }
    assert {"attrs", "pluggy", "anyio", "click"} <= requires
    assert requires.isdisjoint(NOT_IN_CORE), requires & set(NOT_IN_CORE)


def test_core_wheel_alone_runs_the_command_line(core_wheel_venv: Path) -> None:
    done = subprocess.run(
        [str(core_wheel_venv / "bin" / "trunkline"), "--help"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
    )
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout
