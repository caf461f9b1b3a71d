"""The plugin skeleton in plugins/_template works once copied and renamed, as its README says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1] / "plugins" / "_template"


def new_plugin_from_template(dest: Path, name: str) -> Path:
    """Copy the skeleton to ``dest/trunkline-<name>`` and rename it, like the README's steps.

    ``name`` is lower case with words joined by ``-`` (``acme-sms``): the distribution becomes
    ``trunkline-acme-sms``, the package ``trunkline_acme_sms``, the classes ``AcmeSms…``.
    """
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
        raise ValueError(f"plugin name {name!r}: use lower case words joined by '-'")
    package = name.replace("-", "_")
    camel = "".join(word.capitalize() for word in name.split("-"))
    root = dest / f"trunkline-{name}"
    shutil.copytree(
        TEMPLATE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache", ".venv")
    )
    (root / "src" / "trunkline_template").rename(root / "src" / f"trunkline_{package}")
    replacements = [  # in this order, as in the README's sed line
        ("trunkline-template", f"trunkline-{name}"),
        ("trunkline_template", f"trunkline_{package}"),
        ("Template", camel),
        ("template", name),
    ]
    for path in [
        root / "pyproject.toml",
        *(root / "src").rglob("*.py"),
        *(root / "tests").rglob("*.py"),
    ]:
        text = path.read_text(encoding="utf-8")
        for old, new in replacements:
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    return root


def run_pytest(plugin: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    env["PYTHONPATH"] = str(plugin / "src")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
        cwd=plugin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_renamed_copy_passes_its_conformance_test(tmp_path: Path) -> None:
    plugin = new_plugin_from_template(tmp_path, "sample")
    result = run_pytest(plugin)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary)[1])  # type: ignore[index]
    assert passed >= 10, summary
    assert "failed" not in summary
    assert "error" not in summary


def test_renaming_leaves_no_trace_of_the_template(tmp_path: Path) -> None:
    plugin = new_plugin_from_template(tmp_path, "acme-sms")
    assert (plugin / "src" / "trunkline_acme_sms" / "adapter.py").is_file()
    pyproject = (plugin / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "trunkline-acme-sms"' in pyproject
    assert 'acme-sms = "trunkline_acme_sms.plugin"' in pyproject
    adapter = (plugin / "src" / "trunkline_acme_sms" / "adapter.py").read_text(encoding="utf-8")
    assert "class AcmeSmsChannel:" in adapter
    assert 'name: ClassVar[str] = "acme-sms"' in adapter
    for path in [
        plugin / "pyproject.toml",
        *(plugin / "src").rglob("*"),
        *(plugin / "tests").rglob("*"),
    ]:
        if path.is_file():
            assert "template" not in path.read_text(encoding="utf-8").lower(), path


def test_a_broken_copy_fails_its_conformance_test(tmp_path: Path) -> None:
    # The check above can fail: an adapter that acknowledges nothing is caught by the suite.
    plugin = new_plugin_from_template(tmp_path, "broken")
    adapter = plugin / "src" / "trunkline_broken" / "adapter.py"
    text = adapter.read_text(encoding="utf-8")
    assert "event.ack = await inbound(" in text
    adapter.write_text(text.replace("event.ack = await inbound(", "await inbound("), "utf-8")
    result = run_pytest(plugin)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"\d+ failed", result.stdout)


def test_a_bad_plugin_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lower case words"):
        new_plugin_from_template(tmp_path, "Acme_SMS")


def test_pytest_does_not_collect_the_skeleton_itself() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "plugins"],
        cwd=TEMPLATE.parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "_template" not in result.stdout
