"""The widget script and the chat page, as served: types, headers, settings, and text only.

The browser tests (test_browser.py) show the pages at work; these check what is served, and
that the page's scripts never build HTML from strings.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path

import httpx
import pytest

from trunkline import load_plugins
from trunkline.testing import build_runtime
from trunkline.testing.cli import install
from trunkline_webchat import plugin

from .conftest import CHANNEL, RunChat, serving, webchat_config

pytestmark = pytest.mark.anyio

STATIC = resources.files("trunkline_webchat") / "static"
HOSTILE_TITLE = '<img src=x onerror=alert(1)> "Help" & </script>'


async def test_the_widget_script_is_javascript_with_the_channel_title(run_chat: RunChat) -> None:
    async with run_chat({"title": HOSTILE_TITLE}) as chat:
        answer = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/widget.js")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
        assert answer.headers["cross-origin-resource-policy"] == "cross-origin"
        config = json.dumps({"title": HOSTILE_TITLE, "channel": CHANNEL})
        assert f"var CONFIG = {config};" in answer.text
        assert "__CONFIG__" not in answer.text


async def test_the_chat_page_escapes_its_title_and_carries_its_settings(
    run_chat: RunChat,
) -> None:
    settings = {"title": HOSTILE_TITLE, "max_text_length": 300, "attachment_types": ["image/png"]}
    async with run_chat(settings) as chat:
        answer = await chat.http.get(chat.page_url)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        page = answer.text
        assert "<img src=x" not in page
        assert f"<title>{html.escape(HOSTILE_TITLE)}</title>" in page
        found = re.search(r'data-config="([^"]*)"', page)
        assert found is not None
        assert json.loads(html.unescape(found[1])) == {
            "channel": CHANNEL,
            "title": HOSTILE_TITLE,
            "max_text_length": 300,
            "max_attachment_bytes": 5 * 1024 * 1024,
            "attachment_types": ["image/png"],
            "embed_origins": [],  # who may hand it a signed-in visitor's identity: itself
        }


@pytest.mark.parametrize(
    ("allowed", "ancestors"),
    [
        ([], "frame-ancestors 'self';"),
        (
            ["https://shop.example.com", "http://localhost:8080"],
            "frame-ancestors 'self' https://shop.example.com http://localhost:8080;",
        ),
        (["*"], "frame-ancestors *;"),
    ],
)
async def test_the_chat_page_may_be_framed_only_by_allowed_sites(
    run_chat: RunChat, allowed: list[str], ancestors: str
) -> None:
    async with run_chat({"allowed_origins": allowed}) as chat:
        answer = await chat.http.get(chat.page_url)
        policy = answer.headers["content-security-policy"]
        assert ancestors in policy
        assert "script-src 'self';" in policy  # no inline script can run on the page
        assert answer.headers["x-frame-options"] == "SAMEORIGIN"


async def test_the_page_scripts_and_styles_are_served(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        script = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/chat.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        style = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/chat.css")
        assert style.headers["content-type"] == "text/css; charset=utf-8"


async def test_the_page_without_its_slash_redirects(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        answer = await chat.http.get(f"{chat.url}/chat/{CHANNEL}")
        assert answer.status_code in (307, 308)
        assert answer.headers["location"].endswith(f"/chat/{CHANNEL}/")


@pytest.mark.parametrize("path", ["/", "/widget.js", "/chat.js", "/chat.css", "/files/" + "0" * 64])
async def test_an_unknown_channel_gets_404(run_chat: RunChat, path: str) -> None:
    async with run_chat() as chat:
        answer = await chat.http.get(f"{chat.url}/chat/no-such-chat{path}")
        assert answer.status_code == 404
        assert answer.json() == {"error": 'no web-chat channel "no-such-chat" here'}


async def test_a_runtime_without_web_chat_channels_gets_no_routes() -> None:
    pm = load_plugins({"TRUNKLINE_PLUGINS": "webchat,web"})
    data = webchat_config({})
    data["workspaces"]["acme"]["channels"] = {}
    runtime = build_runtime(pm, data)
    assert plugin.trunkline_register_routes(runtime=runtime) == []


@pytest.mark.parametrize("name", ["chat.js", "widget.js"])
def test_the_scripts_never_build_html_from_strings(name: str) -> None:
    source = (STATIC / name).read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, f"{name} uses {sink}"
    assert "textContent" in source


def test_the_page_has_no_inline_script_or_style() -> None:
    page = (STATIC / "chat.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert " style=" not in page
    assert "<style" not in page


def install_distro(site: Path, name: str, title: str) -> None:
    """A vendor distribution in ``site`` (on ``sys.path``), found by its entry point."""
    source = f"from trunkline import Distro\n\ndistro = Distro(name={name!r}, title={title!r})\n"
    module = f"distro_{name}"
    install(site, f"{name}-cc", module, source, {"trunkline.distro": {name: f"{module}:distro"}})


@pytest.mark.parametrize(
    ("distro", "expected"),
    [
        (None, "Chat with us"),
        ("helpline", "Chat with us — Helpline &lt;Plus&gt;"),
    ],
)
async def test_the_chat_page_title_names_an_active_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, distro: str | None, expected: str
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_distro(site, "helpline", "Helpline <Plus>")
    monkeypatch.syspath_prepend(str(site))
    pm = load_plugins({"TRUNKLINE_PLUGINS": "webchat,web"}, distro=distro)
    runtime = build_runtime(pm, webchat_config({"files_dir": str(tmp_path / "files")}))
    async with (
        runtime.running(),
        serving(runtime) as url,
        httpx.AsyncClient(timeout=10, trust_env=False) as http,
    ):
        page = (await http.get(f"{url}/chat/{CHANNEL}/")).text
    assert re.findall(r"<title>(.*?)</title>", page) == [expected]
    assert re.findall(r'<h1 id="title">(.*?)</h1>', page) == ["Chat with us"]  # the channel's
