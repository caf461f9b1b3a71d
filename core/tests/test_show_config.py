"""``trunkline show-config``: the configuration in effect, defaults merged in, secrets masked."""

from __future__ import annotations

import datetime
import json
import math
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from trunkline.showconfig import MASK, toml_document
from trunkline.testing.cli import install
from trunkline_web.users import hash_password

SECRET_VALUE = "s3cret-value-never-printed"
PASSWORD_HASH = hash_password("correct horse")

CONFIG = f"""\
[outbox]
max_attempts = 3

[workspaces.main.queues.support]
skills = {{ en = 1 }}

[workspaces.main.users.sue]
role = "supervisor"
password_hash = "{PASSWORD_HASH}"

[workspaces.main.channels.web]
adapter = "memory"
queue = "support"
settings = {{ kind = "chat", token = {{ env = "WEB_TOKEN" }} }}
"""

DISTRO = """
from trunkline import Distro

distro = Distro(
    name="helpline",
    title="Helpline",
    defaults={
        "outbox": {"max_attempts": 8, "max_backoff": 60.0},
        "workspaces": {"main": {"name": "Helpline", "skills": ["en", "fr"]}},
    },
)
"""


def install_distro(site: Path) -> None:
    source = textwrap.dedent(DISTRO)
    install(
        site,
        "helpline-cc",
        "distro_helpline",
        source,
        {"trunkline.distro": {"helpline": "distro_helpline:distro"}},
    )


def show(tmp_path: Path, *args: str, distro: bool = True) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    if not site.exists():
        install_distro(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    env.update(PYTHONPATH=str(site), WEB_TOKEN=SECRET_VALUE, TRUNKLINE_PLUGINS="web")
    if distro:
        env["TRUNKLINE_DISTRO"] = "helpline"
    return subprocess.run(
        [sys.executable, "-c", "from trunkline.cli import main; main()", "show-config", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


EXPECTED = {
    "outbox": {"max_attempts": 3, "max_backoff": 60.0},
    "workspaces": {
        "main": {
            "name": "Helpline",
            "skills": ["en", "fr"],
            "queues": {"support": {"skills": {"en": 1}}},
            "users": {"sue": {"role": "supervisor", "password_hash": MASK}},
            "channels": {
                "web": {
                    "adapter": "memory",
                    "queue": "support",
                    "settings": {"kind": "chat", "token": MASK},
                }
            },
        }
    },
}


def test_the_file_is_shown_over_the_distributions_defaults_with_secrets_masked(
    tmp_path: Path,
) -> None:
    (tmp_path / "cc.toml").write_text(CONFIG, encoding="utf-8")
    result = show(tmp_path, "cc.toml")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout) == EXPECTED
    assert SECRET_VALUE not in result.stdout
    assert PASSWORD_HASH not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "# cc.toml as it takes effect: the file over the defaults of distribution "
        '"helpline". Secrets are shown as "***".'
    )
    assert "max_attempts = 3" in lines  # the file wins, and says nothing more
    assert 'max_backoff = 60.0  # default of distribution "helpline"' in lines
    assert 'name = "Helpline"  # default of distribution "helpline"' in lines
    assert "[workspaces.main.channels.web.settings]" in lines
    assert 'token = "***"  # secret, from $WEB_TOKEN' in lines
    assert "[workspaces.main.users]" in lines
    assert 'sue = { role = "supervisor", password_hash = "***" }' in lines
    assert "skills = { en = 1 }" in lines


def test_json_gives_the_same_configuration(tmp_path: Path) -> None:
    (tmp_path / "cc.toml").write_text(CONFIG, encoding="utf-8")
    result = show(tmp_path, "cc.toml", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == EXPECTED
    assert SECRET_VALUE not in result.stdout


def test_without_a_distribution_it_is_the_file_with_secrets_masked(tmp_path: Path) -> None:
    with_skills = '[workspaces.main]\nskills = ["en"]\n\n[workspaces.main.queues'
    (tmp_path / "cc.toml").write_text(
        CONFIG.replace("[workspaces.main.queues", with_skills), encoding="utf-8"
    )
    result = show(tmp_path, "cc.toml", distro=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        '# cc.toml as it takes effect. Secrets are shown as "***".'
    )
    shown = tomllib.loads(result.stdout)
    assert shown["outbox"] == {"max_attempts": 3}
    assert shown["workspaces"]["main"]["skills"] == ["en"]
    assert "default" not in result.stdout
    assert SECRET_VALUE not in result.stdout


def test_a_configuration_that_does_not_check_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cc.toml").write_text(CONFIG.replace("en = 1", "de = 1"), encoding="utf-8")
    result = show(tmp_path, "cc.toml")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "trunkline: error: cc.toml:5:12: workspaces.main.queues.support.skills.de: "
        'unknown skill "de" (known: en, fr)'
    )


# The TOML writer ----------------------------------------------------------------------------

keys = st.text(min_size=0, max_size=8)
scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.datetimes(timezones=st.none() | st.just(datetime.UTC))
    | st.dates()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)
documents = st.dictionaries(keys, values, max_size=4)


@given(documents)
def test_what_the_writer_writes_reads_back_the_same(data: dict[str, Any]) -> None:
    text = toml_document(data)
    assert tomllib.loads(text) == data, text


def test_the_writer_writes_special_floats_and_marks_lines() -> None:
    text = toml_document(
        {"a": {"inf": math.inf, "ninf": -math.inf}, "b": 1},
        comment=lambda path: "from here" if path == ("b",) else None,
    )
    assert text.splitlines()[0] == "b = 1  # from here"
    assert tomllib.loads(text) == {"a": {"inf": math.inf, "ninf": -math.inf}, "b": 1}
