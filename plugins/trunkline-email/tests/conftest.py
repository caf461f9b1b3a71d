"""Fixtures for the email plugin's tests: a runtime with an email channel on a free port.

The channel listens for SMTP on 127.0.0.1 with port 0 (the port it got is
``channel.smtp_port``), keeps its files in a temporary directory, and the runtime stores in
SQLite there too, so "stored durably" means what it says. aiosmtpd and aiosmtplib are asyncio
libraries, so these tests run on asyncio only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from trunkline import Message, PluginManager, Runtime, load_plugins
from trunkline.testing import build_runtime
from trunkline_email.adapter import EmailChannel

from . import peers

WORKSPACE = "acme"
CHANNEL = "support-mail"
SUPPORT = "support@cc.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def email_config(
    settings: Mapping[str, Any], store: Path | None, queues: tuple[str, ...] = ("support",)
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "outbox": {"backoff": 0.05, "poll_interval": 0.05, "max_attempts": 3},
        "workspaces": {
            WORKSPACE: {
                "queues": {q: {} for q in queues},
                "agents": {"alice": {"capacity": {"email": 5}, "queues": list(queues)}},
                "channels": {
                    CHANNEL: {"adapter": "email", "queue": "support", "settings": dict(settings)}
                },
            }
        },
    }
    if store is not None:
        data["store"] = {"backend": "sqlite", "path": str(store)}
    return data


def plugin_manager() -> PluginManager:
    """Core's built-ins and the email plugin, whatever else is installed."""
    from trunkline_email import plugin

    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    pm.register_plugin(plugin, "email")
    return pm


@asynccontextmanager
async def running(
    tmp: Path,
    settings: Mapping[str, Any] | None = None,
    *,
    pm: PluginManager | None = None,
    env: Mapping[str, str] | None = None,
    queues: tuple[str, ...] = ("support",),
) -> AsyncIterator[tuple[Runtime, EmailChannel]]:
    full = {
        "smtp_port": 0,
        "data_dir": str(tmp / "email-data"),
        "addresses": [SUPPORT],
        "hostname": "mx.cc.test",
        "domain": "cc.test",
        **(settings or {}),
    }
    runtime = build_runtime(
        pm or plugin_manager(), email_config(full, tmp / "trunkline.db", queues), env=env
    )
    async with runtime.running():
        channel = runtime.channel(CHANNEL)
        assert isinstance(channel, EmailChannel)
        yield runtime, channel


async def all_messages(runtime: Runtime) -> list[Message]:
    """Every message of the workspace, oldest first."""
    from trunkline import events as ev

    found = []
    for stored in await runtime.store.read(WORKSPACE):
        if isinstance(stored.event, ev.MessageReceived):
            found.append(stored.event.message)
    return found


@pytest.fixture
def swaks() -> str:
    return peers.need("swaks", "swaks")


@attrs.frozen
class Transcript:
    stdout: str
    stderr: str
    returncode: int


async def run_swaks(swaks: str, port: int, *args: str) -> Transcript:
    """swaks against the channel (without blocking the loop the server runs on)."""
    with anyio.fail_after(30):
        done = await anyio.run_process(
            [swaks, "--server", f"127.0.0.1:{port}", "--helo", "client.example", *args],
            check=False,
        )
    return Transcript(
        done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"), done.returncode
    )


@pytest.fixture(scope="session")
def mail_peers() -> Iterator[tuple[peers.Postfix, peers.Dovecot]]:
    """A private Postfix (relay and Maildir delivery) and Dovecot (IMAP on those Maildirs).

    Their directory is made with mkdtemp, not pytest's tmp_path: Postfix delivers as
    ``nobody``, who cannot enter pytest's private (0700) temporary directories.
    """
    root = Path(tempfile.mkdtemp(prefix="trunkline-mail-"))
    root.chmod(0o755)
    postfix = peers.Postfix(root, ["support", "cust", "other"])
    dovecot = peers.Dovecot(root, "imap-secret")
    try:
        postfix.start()
        dovecot.start()
        yield postfix, dovecot
    finally:
        dovecot.stop()
        postfix.stop()
        shutil.rmtree(root, ignore_errors=True)


class Sink:
    """A bare SMTP server (aiosmtpd) that keeps what it is sent: a stand-in relay for tests
    that are about our side only. Set ``answer`` to make it refuse (e.g. ``"450 try later"``)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.answer: str | None = None
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer is not None:
            return self.answer
        self.received.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 2.0.0 Ok: kept"


@asynccontextmanager
async def sink() -> AsyncIterator[Sink]:
    import asyncio

    from aiosmtpd.smtp import SMTP

    kept = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(kept, loop=loop), "127.0.0.1", 0)
    kept.port = server.sockets[0].getsockname()[1]
    try:
        yield kept
    finally:
        server.close()
