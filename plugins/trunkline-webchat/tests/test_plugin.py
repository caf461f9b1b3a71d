"""The plugin as users meet it: found through its entry point, light in ``--help``, its
settings checked, and its routes served by ``trunkline serve`` until Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from trunkline import ConfigError, config_from_dict, load_plugins
from trunkline.testing.cli import TRUNKLINE, clean_env, free_port, imports_of, run
from trunkline_webchat.adapter import WebChatChannel, WebChatSettings

from .conftest import webchat_config

HEAVY = ("trunkline_webchat.adapter", "trunkline_webchat.routes", "starlette")


# The entry point ------------------------------------------------------------------------------


def test_trunkline_plugins_lists_webchat_with_its_distribution_and_version() -> None:
    result = run([*TRUNKLINE, "plugins"])
    assert result.returncode == 0, result.stderr
    version = re.escape(metadata.version("trunkline-webchat"))
    line = rf"^\s+webchat\s+trunkline-webchat {version}\s+trunkline_webchat\.plugin$"
    assert re.search(line, result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^\s+webchat\s+kind=chat\s+from plugin webchat$", result.stdout, re.MULTILINE)


def test_help_imports_neither_the_adapter_nor_the_routes_nor_starlette() -> None:
    result, imported = imports_of(["--help"], HEAVY)
    assert result.returncode == 0, result.stderr
    assert imported == []


def test_the_adapter_does_not_import_starlette() -> None:
    probe = "import sys, trunkline_webchat.adapter, trunkline_webchat.session; " + (
        "print(sorted(m for m in sys.modules if m.startswith('starlette')))"
    )
    result = run([sys.executable, "-c", probe])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_adapter_describes_itself() -> None:
    caps = WebChatChannel.capabilities
    assert (WebChatChannel.name, WebChatChannel.kind) == ("webchat", "chat")
    assert (caps.inbound, caps.outbound, caps.attachments) == (True, True, True)
    assert (caps.typing_indicators, caps.dedupe_key) == (True, True)
    assert callable(WebChatChannel.signal)


# Settings -------------------------------------------------------------------------------------


def check(settings: Mapping[str, Any]) -> Any:
    pm = load_plugins({"TRUNKLINE_PLUGINS": "webchat,web"})
    return config_from_dict(
        webchat_config(settings),
        adapters={a.name: a for a in pm.collect("trunkline_register_channels")},
        strategies={s.name for s in pm.collect("trunkline_register_strategies")},
    )


def test_the_defaults() -> None:
    assert WebChatSettings() == WebChatSettings(
        title="Chat with us",
        allowed_origins=(),
        max_text_length=2000,
        max_attachment_bytes=5 * 1024 * 1024,
        attachment_types=("image/png", "image/jpeg", "application/pdf", "text/plain"),
        files_dir="webchat-files",
        rate_limit=10,
    )


def test_a_channel_limit_becomes_its_max_body_length() -> None:
    channel = WebChatChannel(WebChatSettings(max_text_length=300), instance="c", workspace="w")
    assert channel.capabilities.max_body_length == 300


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"allowed_origins": ["https://shop.example.com/"]}, "is not an origin"),
        ({"allowed_origins": ["shop.example.com"]}, "is not an origin"),
        ({"allowed_origins": "https://shop.example.com"}, "expected a list"),
        ({"attachment_types": ["application/zip"]}, "cannot be recognised by its content"),
        ({"attachment_types": []}, "must name at least one type"),
        ({"max_text_length": 0}, "max_text_length must be at least 1"),
        ({"rate_limit": 0}, "rate_limit must be at least 1"),
        ({"title": ""}, "title must be 1 to 100 characters"),
        ({"files_dir": " "}, "files_dir must not be empty"),
        ({"colour": "blue"}, "colour"),
        ({"prechat_email": "yes"}, "prechat_email: 'yes' is not one of 'off', 'optional', "),
        ({"greeting": "x" * 501}, "greeting must be 0 to 500 characters"),
        ({"offline_message": " "}, "offline_message must be 1 to 500 characters"),
        ({"offline_form": "yes"}, "expected true or false"),
    ],
)
def test_a_bad_setting_is_refused_with_its_reason(settings: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        check(settings)


def test_good_settings_are_accepted() -> None:
    config = check(
        {
            "allowed_origins": ["https://shop.example.com", "http://[::1]:8080", "*"],
            "attachment_types": ["image/webp", "image/gif"],
        }
    )
    [channel] = config.workspaces["acme"].channels
    assert channel.settings.allowed_origins == (
        "https://shop.example.com",
        "http://[::1]:8080",
        "*",
    )


def test_the_configuration_in_the_documentation_passes_check_config(tmp_path: Path) -> None:
    page = Path(__file__).resolve().parents[3] / "docs" / "channels" / "webchat.md"
    [block] = re.findall(r"```toml\n(\[web\].*?)```", page.read_text(encoding="utf-8"), re.S)
    config = tmp_path / "trunkline.toml"
    config.write_text(block, encoding="utf-8")
    # The example reads its identity secret from the environment, as secrets always are.
    env = {**clean_env(), "ACME_CHAT_IDENTITY_SECRET": "the-site-and-the-chat-share-this"}
    result = run([*TRUNKLINE, "check-config", str(config)], env=env)
    assert result.returncode == 0, result.stderr
    assert ": OK: acme (1 queues, 1 agents, 1 channels)" in result.stdout


# trunkline serve --------------------------------------------------------------------------------


def test_trunkline_serve_mounts_the_chat_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "trunkline.toml"
    config.write_text(
        f"""
[web]
port = {port}

[workspaces.acme.queues.support]

[workspaces.acme.agents.alice]
capacity = {{ chat = 4 }}
queues = ["support"]

[workspaces.acme.channels.site-chat]
adapter = "webchat"
queue = "support"

[workspaces.acme.channels.site-chat.settings]
title = "Chat with Acme"
files_dir = "{tmp_path / "files"}"
""",
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [*TRUNKLINE, "serve", str(config), "--duration", "60"],
        env=clean_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/chat/site-chat"
        deadline = time.monotonic() + 20
        while True:
            try:
                widget = httpx.get(f"{url}/widget.js", trust_env=False)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "trunkline serve did not start listening"
                time.sleep(0.05)
        assert widget.status_code == 200
        assert '"title": "Chat with Acme"' in widget.text
        page = httpx.get(f"{url}/", trust_env=False)
        # Core's protective headers do not undo the chat page's own framing policy.
        assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "SAMEORIGIN"

        with connect(f"ws://127.0.0.1:{port}/chat/site-chat/ws", proxy=None) as ws:
            ws.send(json.dumps({"type": "hello"}))
            welcome = json.loads(ws.recv(timeout=5))
            assert welcome["type"] == "welcome"
            assert len(welcome["token"]) == 43  # issued: the widget keeps it
            ws.send(json.dumps({"type": "message", "id": "c-1", "text": "hello from serve"}))
            ack = json.loads(ws.recv(timeout=5))
            assert (ack["type"], ack["id"], ack["duplicate"]) == ("ack", "c-1", False)
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C: the runtime stops, not only the server
        stdout, stderr = server.communicate(timeout=20)
    assert server.returncode == 0, stderr
    assert "trunkline: stopped" in stdout
