"""Crash test: `trunkline serve` on SQLite, killed with kill -9 under load, 20 times.

A load generator posts new contacts to the webhook intake; each has its own id and is retried
with the same id until it is answered 202, as a careful sender would. The server is killed at
random instants and restarted. Afterwards the log is read, Jepsen-style: every acknowledged
contact must be present exactly once. The lost, duplicated and unexpected counts are printed.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import httpx
import pytest

from trunkline import events as ev
from trunkline.sql import SqliteStore

KILLS = 20
WORKSPACE = "crash"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "crash.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [web]
            enabled = false  # the intake is the webhook channel

            [store]
            backend = "sqlite"
            path = "{tmp_path / "crash.db"}"
            snapshot_every = 300

            [workspaces.{WORKSPACE}]
            skills = ["en"]

            [workspaces.{WORKSPACE}.queues.support]

            [workspaces.{WORKSPACE}.agents.ada]
            capacity = {{ chat = 1 }}
            queues = ["support"]

            [workspaces.{WORKSPACE}.channels.intake]
            adapter = "webhook"
            queue = "support"

            [workspaces.{WORKSPACE}.channels.intake.settings]
            port = {port}
            """
        )
    )
    return config


def start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from trunkline.cli import main; main()", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_ready(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    with anyio.fail_after(30):
        while True:
            if server.poll() is not None:
                raise AssertionError(f"serve exited: {server.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await anyio.sleep(0.05)


@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_every_acknowledged_contact_survives_20_kill_9(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    rng = random.Random(2026)
    acked: dict[str, str] = {}  # message id -> contact id answered
    pending: list[str] = []  # sent, not yet acknowledged: retried with the same id
    counter = 0

    async def post(client: httpx.AsyncClient, message_id: str) -> None:
        try:
            answer = await client.post(
                "/v1/messages",
                json={"sender": f"cust-{message_id}", "text": "help", "id": message_id},
            )
        except httpx.TransportError:
            pending.append(message_id)
            return
        if answer.status_code == 202:
            contact_id = answer.json()["contact_id"]
            assert acked.setdefault(message_id, contact_id) == contact_id
        else:
            assert answer.status_code == 503, answer.text  # never a false success
            pending.append(message_id)

    async def load(client: httpx.AsyncClient, seconds: float) -> None:
        nonlocal counter
        deadline = time.monotonic() + seconds
        async with anyio.create_task_group() as tg:
            while time.monotonic() < deadline:
                if pending:
                    message_id = pending.pop()
                else:
                    counter += 1
                    message_id = f"m{counter}"
                tg.start_soon(post, client, message_id)
                await anyio.sleep(0.002)

    async def main() -> None:
        limits = httpx.Limits(max_connections=20)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=5, limits=limits) as client:
            for _ in range(KILLS):
                server = start(config)
                await wait_ready(client, server)
                await load(client, rng.uniform(0.3, 0.9))  # requests still in flight…
                os.kill(server.pid, signal.SIGKILL)  # …when the server dies
                server.wait()
            server = start(config)  # a last run: every pending message is retried to the end
            await wait_ready(client, server)
            with anyio.fail_after(60):
                while pending:
                    await load(client, 0.2)
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)

    anyio.run(main)

    async def stored() -> list[ev.MessageReceived]:
        store = SqliteStore(tmp_path / "crash.db")
        await store.open()
        events = [s.event for s in await store.read(WORKSPACE)]
        await store.aclose()
        return [e for e in events if isinstance(e, ev.MessageReceived)]

    messages = anyio.run(stored)
    ids = [m.message.provider_id for m in messages]
    lost = set(acked) - set(ids)
    duplicated = {i for i in ids if ids.count(i) > 1}
    unexpected = set(ids) - {f"m{n}" for n in range(1, counter + 1)}
    print(
        f"\ncrash test: {KILLS} kill -9, {counter} contacts sent, {len(acked)} acknowledged, "
        f"{len(ids)} stored; lost={len(lost)} duplicated={len(duplicated)} "
        f"unexpected={len(unexpected)}"
    )
    assert lost == set()
    assert duplicated == set()
    assert unexpected == set()
    assert set(acked) == set(ids)  # after the last run, everything sent was acknowledged
    contact_of = {m.message.provider_id: m.message.contact_id for m in messages}
    assert all(
        contact_of[i] == c for i, c in acked.items()
    )  # the contact answered is the one stored


@pytest.mark.timeout(120)
@pytest.mark.skipif(sys.platform == "win32", reason="resource limits")
def test_a_full_disk_answers_503_never_a_false_success(tmp_path: Path) -> None:
    import resource

    port = free_port()
    config = write_config(tmp_path, port)
    limit = 3 * 1024 * 1024  # the files serve may write: a small disk, soon full

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, no signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    server = subprocess.Popen(
        [sys.executable, "-c", "from trunkline.cli import main; main()", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=small_disk,
    )
    acked: list[str] = []
    refused: list[int] = []

    async def main() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await wait_ready(client, server)
            n = 0
            while len(refused) < 5:
                n += 1
                answer = await client.post(
                    "/v1/messages",
                    json={"sender": f"c{n}", "text": "x" * 2000, "id": f"m{n}"},
                )
                if answer.status_code == 202:
                    acked.append(f"m{n}")
                else:
                    assert answer.status_code == 503, answer.text
                    assert answer.headers["retry-after"] == "1"
                    refused.append(n)
                assert n < 20_000, "the disk never filled"

    try:
        anyio.run(main)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

    async def stored() -> list[str]:
        store = SqliteStore(tmp_path / "crash.db")  # opened without the limit: checked first
        await store.open()
        events = [s.event for s in await store.read(WORKSPACE)]
        await store.aclose()
        return [e.message.provider_id for e in events if isinstance(e, ev.MessageReceived)]  # type: ignore[misc]

    ids = anyio.run(stored)
    print(f"\nfull disk: {len(acked)} acknowledged, then {len(refused)} answered 503")
    assert len(acked) > 10
    assert set(acked) <= set(ids)  # nothing acknowledged was lost
    assert len(ids) == len(set(ids))
    assert not {f"m{n}" for n in refused} & set(ids)  # nothing answered 503 was stored
