"""Vendor distributions in trunkline-web: the demo and the pages carry the distribution's
title, run in its workspace, and say which distribution disabled what they need. (Core's side
is in core/tests/test_distro.py; the helpers here are the same.)"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import httpx
import pytest

from trunkline.errors import TrunklineError
from trunkline.plugins import PluginManager, load_plugins
from trunkline.testing import build_runtime
from trunkline.testing.cli import install
from trunkline_web.app import web_port
from trunkline_web.demo import DemoOptions, demo_config, run_demo
from trunkline_web.users import hash_password

BRANDED = 'title="Helpline <Plus>"'


def install_distro(site: Path, name: str, fields: str, *, prelude: str = "") -> None:
    """A vendor distribution called ``name``: ``Distro(name=name, <fields>)``."""
    module = f"distro_{name.replace('-', '_')}"
    source = (
        f"{prelude}\nfrom trunkline import Distro\n\ndistro = Distro(name={name!r}, {fields})\n"
    )
    install(site, f"{name}-cc", module, source, {"trunkline.distro": {name: f"{module}:distro"}})


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory for tiny distributions, on this process's ``sys.path`` too."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    for name in list(sys.modules):
        if name.startswith(("distro_", "plugin_")):
            monkeypatch.delitem(sys.modules, name)
    return site


# Disabling (issue 12, item 8) ---------------------------------------------------------------


@pytest.mark.timeout(20)
def test_the_demo_names_the_distribution(site: Path) -> None:
    install_distro(site, "helpline", BRANDED)
    out = io.StringIO()
    run_demo(
        DemoOptions(agents=2, rate=2, seed=1, duration=0.5, interval=0.2, web=False),
        pm=load_plugins({}, distro="helpline"),
        out=out,
        tty=False,
    )
    assert out.getvalue().startswith("Helpline <Plus> demo: an embedded contact centre")
    live = io.StringIO()
    run_demo(
        DemoOptions(agents=2, rate=2, seed=1, duration=0.5, web=False),
        pm=load_plugins({}, distro="helpline"),
        out=live,
        tty=True,
    )
    assert "Helpline <Plus> demo  t=" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", live.getvalue())


def test_the_demo_uses_the_distributions_defaults(site: Path) -> None:
    defaults = {
        "outbox": {"max_attempts": 9},
        "store": {"backend": "memory"},  # the demo keeps its own store
        "workspaces": {
            "main": {
                "skills": ["fr", "en"],
                "dispositions": ["resolved", "callback"],
                "queues": {"vip": {"skills": {"fr": 3}}},
            }
        },
    }
    install_distro(site, "helpline", f"{BRANDED}, defaults={defaults!r}")
    pm = load_plugins({}, distro="helpline")
    config = demo_config(DemoOptions(agents=2, web=False, smtp_port=None), pm, database="x.db")
    assert config.outbox.max_attempts == 9
    assert config.store.backend == "sqlite"
    assert list(config.workspaces) == ["main"]  # the demo runs in the distribution's workspace
    main = config.workspaces["main"]
    assert main.workspace.name == "Helpline <Plus> demo"
    assert main.skills == ("fr", "en", "billing")
    assert main.dispositions == ("resolved", "callback")
    assert {q.id for q in main.queues} == {"sales", "support", "billing", "vip"}
    # Without a workspace in the defaults, the demo keeps its own.
    assert list(demo_config(DemoOptions(web=False), load_plugins({})).workspaces) == ["demo"]


@pytest.mark.timeout(20)
def test_the_demo_runs_in_the_distributions_workspace(site: Path) -> None:
    defaults = {"workspaces": {"main": {"skills": ["en", "billing", "fr"]}}}
    install_distro(site, "helpline", f"{BRANDED}, defaults={defaults!r}")
    out, events = io.StringIO(), io.StringIO()
    summary = run_demo(
        DemoOptions(agents=3, rate=6, seed=3, duration=1.5, interval=0.5, web=False),
        pm=load_plugins({}, distro="helpline"),
        out=out,
        tty=False,
        events=events,
    )
    assert summary.received > 0
    assert summary.answered > 0, out.getvalue()
    workspaces = {json.loads(line)["workspace"] for line in events.getvalue().splitlines()}
    assert workspaces == {"main"}


def test_the_demo_says_which_distribution_disabled_what_it_needs(site: Path) -> None:
    install_distro(site, "helpline", 'disable=("memory-channel",)')
    with pytest.raises(TrunklineError) as info:
        demo_config(DemoOptions(), load_plugins({}, distro="helpline"))
    assert str(info.value) == (
        "the demo runs on the built-in memory channel, and its plugin "
        '"memory-channel" is disabled by distribution "helpline"'
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn serves on asyncio


PAGE_USERS = {
    "workspaces": {
        "acme": {
            "agents": {"ada": {"capacity": {"chat": 1}}},
            "users": {
                "ada": {
                    "role": "agent",
                    "agent": "ada",
                    "password_hash": hash_password("pw-ada-1"),
                },
                "sue": {"role": "supervisor", "password_hash": hash_password("pw-sue-1")},
            },
        }
    },
    "web": {"port": 0},
}


async def page_titles(pm: PluginManager) -> dict[str, tuple[str, str]]:
    """The served ``<title>`` and brand (the heading or the top bar) of each page."""
    found = {}
    runtime = build_runtime(pm, PAGE_USERS, serve=True)
    async with runtime.running():
        base = f"http://127.0.0.1:{web_port(runtime)}"
        for user, path in (("", "/login"), ("ada", "/agent"), ("sue", "/wallboard")):
            async with httpx.AsyncClient(base_url=base, trust_env=False) as http:
                if user:
                    signed = await http.post(
                        "/login",
                        data={"workspace": "acme", "username": user, "password": f"pw-{user}-1"},
                    )
                    http.cookies.set("trunkline_session", signed.cookies["trunkline_session"])
                page = await http.get(path)
            assert page.status_code == 200, (path, page.status_code)
            title = re.search(r"<title>(.*?)</title>", page.text)
            brand = re.search(r'<h1>(.*?)</h1>|<div class="brand">(.*?) <span', page.text)
            assert title is not None, page.text
            assert brand is not None, page.text
            found[path] = (title[1], brand[1] or brand[2])
    return found


@pytest.mark.anyio
async def test_the_pages_carry_the_distributions_title(site: Path) -> None:
    install_distro(site, "helpline", BRANDED)
    escaped = "Helpline &lt;Plus&gt;"
    assert await page_titles(load_plugins({}, distro="helpline")) == {
        "/login": (f"{escaped} — sign in", escaped),
        "/agent": (f"{escaped} — agent desktop", escaped),
        "/wallboard": (f"{escaped} — wallboard", escaped),
    }
    assert await page_titles(load_plugins({})) == {
        "/login": ("Trunkline — sign in", "Trunkline"),
        "/agent": ("Trunkline — agent desktop", "Trunkline"),
        "/wallboard": ("Trunkline — wallboard", "Trunkline"),
    }
