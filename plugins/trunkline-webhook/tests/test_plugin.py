"""The plugin as users meet it: found through its entry point, light in ``--help``, and
serving in ``trunkline serve`` until Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from importlib import metadata
from pathlib import Path

import httpx

from trunkline.testing.cli import TRUNKLINE, clean_env, free_port, imports_of, run

HEAVY = ("trunkline_webhook.adapter", "starlette", "uvicorn", "httpx")


def test_trunkline_plugins_lists_webhook_with_its_distribution_and_version() -> None:
    result = run([*TRUNKLINE, "plugins"])
    assert result.returncode == 0, result.stderr
    version = re.escape(metadata.version("trunkline-webhook"))
    line = rf"^\s+webhook\s+trunkline-webhook {version}\s+trunkline_webhook\.plugin$"
    assert re.search(line, result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^\s+webhook\s+kind=chat\s+from plugin webhook$", result.stdout, re.MULTILINE)


def test_help_imports_neither_the_adapter_nor_starlette_uvicorn_or_httpx() -> None:
    result, imported = imports_of(["--help"], HEAVY)
    assert result.returncode == 0, result.stderr
    assert imported == []


def test_listing_the_channels_does_import_the_adapter() -> None:
    # The control for the test above: the probe does see the imports when they happen.
    result, imported = imports_of(["plugins"], HEAVY)
    assert "trunkline_webhook.adapter" in imported, result.stderr
    assert "uvicorn" in imported


def test_trunkline_serve_answers_posts_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "trunkline.toml"
    config.write_text(
        f"""
[web]
enabled = false

[workspaces.acme.queues.support]

[workspaces.acme.agents.alice]
capacity = {{ chat = 4 }}
queues = ["support"]

[workspaces.acme.channels.intake]
adapter = "webhook"
queue = "support"

[workspaces.acme.channels.intake.settings]
port = {port}
secret = {{ env = "INTAKE_SECRET" }}
""",
        encoding="utf-8",
    )
    from trunkline_webhook import wire

    server = subprocess.Popen(
        [*TRUNKLINE, "serve", str(config), "--duration", "60"],
        env=clean_env(INTAKE_SECRET="s3cret"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(f"{url}/healthz").json() == {"ok": True}
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "trunkline serve did not start listening"
                time.sleep(0.05)
        body = wire.message_body("ann", "hello from outside", id="m-1")
        json = {"Content-Type": "application/json"}
        signature = json | wire.signature_headers("s3cret", body)
        answer = httpx.post(f"{url}/v1/messages", content=body, headers=signature)
        assert answer.status_code == 202, answer.text
        assert answer.json()["new_contact"] is True
        again = httpx.post(
            f"{url}/v1/messages",
            content=body,
            headers=json | wire.signature_headers("s3cret", body),
        )
        assert again.json()["duplicate"] is True
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C: the runtime stops, not only the channel
        stdout, stderr = server.communicate(timeout=20)
    assert server.returncode == 0, stderr
    assert "trunkline: stopped" in stdout
