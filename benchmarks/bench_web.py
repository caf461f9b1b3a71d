"""Web figures: agents' WebSockets held by one server process, offer delivery latency,
web-chat messages per second, and a bare Starlette WebSocket echo as the baseline.

Run: ``uv run python benchmarks/bench_web.py`` (``--agents 1000`` is the default;
``--quick`` uses 200 agents and shorter runs).

Each server runs in its own process (``trunkline serve``, one Python thread: one core); the
load is generated from this process.

- **agents**: N agents connect to ``/ws/agent`` and set themselves available; contacts
  arrive through the webhook intake (HTTP); the latency of an offer is from sending the
  contact to its agent's socket receiving the offer. Agents accept and end at once.
- **web chat**: visitors on ``/chat/<channel>/ws`` send messages as fast as they are
  acknowledged (each acknowledgement comes after the durable append).
- **baseline**: the same number of sockets on a bare Starlette app that echoes, with the same
  message rate, measuring the round trip.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import websockets

from trunkline_web.users import hash_token

ECHO_APP = """
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

async def echo(ws):
    await ws.accept()
    while True:
        await ws.send_text(await ws.receive_text())

app = Starlette(routes=[WebSocketRoute("/echo", echo)])
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


@contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Until ``url`` answers; the server's own error if it stopped first."""
    async with httpx.AsyncClient() as http:
        with anyio.fail_after(120):
            while True:
                if proc.poll() is not None:
                    assert proc.stderr is not None
                    error = proc.stderr.read().decode(errors="replace")
                    raise SystemExit(f"the server stopped ({proc.returncode}):\n{error}")
                try:
                    await http.get(url)
                    return
                except httpx.TransportError:
                    await anyio.sleep(0.1)


def centre_config(
    directory: Path, agents: int, web_port: int, intake_port: int, chat: bool
) -> Path:
    lines = [
        "[store]",
        'backend = "sqlite"',
        f'path = "{directory / "bench.db"}"',
        "[web]",
        f"port = {web_port}",
        "[workspaces.bench]",
        "[workspaces.bench.queues.support]",
        "offer_timeout = 60",
        "[workspaces.bench.channels.intake]",
        'adapter = "webhook"',
        'queue = "support"',
        "[workspaces.bench.channels.intake.settings]",
        f"port = {intake_port}",
    ]
    if chat:
        lines += [
            "[workspaces.bench.channels.chat]",
            'adapter = "webchat"',
            'queue = "support"',
            "[workspaces.bench.channels.chat.settings]",
            "rate_limit = 1000000",
            # Every visitor here is one process on one address, each a new chat at once.
            "address_sockets_per_minute = 1000000",
            "address_messages_per_minute = 1000000",
            "max_new_chats_per_minute = 1000000",
            f'files_dir = "{directory / "files"}"',
        ]
    for n in range(agents):
        lines += [
            f"[workspaces.bench.agents.a{n}]",
            "capacity = { chat = 1 }",
            'queues = ["support"]',
            f"[workspaces.bench.users.a{n}]",
            'role = "agent"',
            f'agent = "a{n}"',
            f'token_hash = "{hash_token(f"token-{n}")}"',
        ]
    path = directory / "bench.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def agents_run(agents: int, seconds: float, rate: float, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        web_port, intake_port = free_port(), free_port()
        config = centre_config(directory, agents, web_port, intake_port, chat=False)
        args = [
            sys.executable,
            "-c",
            "from trunkline.cli import main; main()",
            "serve",
            str(config),
        ]
        with process(args) as proc:
            await wait_http(f"http://127.0.0.1:{web_port}/healthz", proc)
            sent_at: dict[str, float] = {}
            latencies: list[float] = []
            connected = 0
            ready = anyio.Event()

            async def agent(n: int) -> None:
                nonlocal connected
                headers = {"Authorization": f"Bearer token-{n}"}
                url = f"ws://127.0.0.1:{web_port}/ws/agent"
                async with websockets.connect(
                    url, additional_headers=headers, max_queue=None
                ) as ws:
                    await ws.send(json.dumps({"type": "status", "status": "available", "ref": 0}))
                    connected += 1
                    if connected == agents:
                        ready.set()
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] != "offer":
                            continue
                        cid = message["contact"]["id"]
                        sender = message["contact"]["customer"]["address"].split(":", 1)[1]
                        if sender in sent_at:  # the offer may come before the POST's answer
                            latencies.append(time.perf_counter() - sent_at[sender])
                        offer = message["offer"]["id"]
                        await ws.send(json.dumps({"type": "accept", "offer_id": offer, "ref": 1}))
                        await ws.send(json.dumps({"type": "end", "contact_id": cid, "ref": 2}))

            async with anyio.create_task_group() as tg:
                for n in range(agents):
                    tg.start_soon(agent, n)
                    if n % 50 == 49:
                        await anyio.sleep(0.05)  # do not flood the accept queue
                with anyio.fail_after(120):
                    await ready.wait()
                await anyio.sleep(1.0)  # the statuses are committed
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{intake_port}",
                    limits=httpx.Limits(max_connections=50),
                ) as http:

                    async def post(n: int) -> None:
                        sent_at[f"c{n}"] = time.perf_counter()
                        await http.post(
                            "/v1/messages", json={"sender": f"c{n}", "text": "hi", "id": f"m{n}"}
                        )

                    async with anyio.create_task_group() as posts:
                        start = anyio.current_time()
                        for n in range(int(rate * seconds)):
                            await anyio.sleep_until(start + n / rate)
                            posts.start_soon(post, n)
                await anyio.sleep(2.0)
                tg.cancel_scope.cancel()
    return {
        "agents": connected,
        "offers": len(latencies),
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
    }


async def echo_run(connections: int, seconds: float, rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        app = Path(scratch) / "echo_app.py"
        app.write_text(ECHO_APP)
        port = free_port()
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "echo_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ws",
            "websockets-sansio",
            "--http",
            "h11",
        ]
        with process(args, {"PYTHONPATH": scratch}) as proc:
            await wait_http(f"http://127.0.0.1:{port}/", proc)
            sockets: list[Any] = []
            latencies: list[float] = []
            all_open = anyio.Event()
            async with anyio.create_task_group() as tg:

                async def client(n: int) -> None:
                    async with websockets.connect(
                        f"ws://127.0.0.1:{port}/echo", max_queue=None
                    ) as ws:
                        sockets.append(ws)
                        if len(sockets) == connections:
                            all_open.set()
                        async for raw in ws:
                            latencies.append(time.perf_counter() - float(raw))

                for n in range(connections):
                    tg.start_soon(client, n)
                    if n % 50 == 49:
                        await anyio.sleep(0.05)
                with anyio.fail_after(60):
                    await all_open.wait()
                start = anyio.current_time()
                for n in range(int(rate * seconds)):
                    await anyio.sleep_until(start + n / rate)
                    await sockets[n % connections].send(repr(time.perf_counter()))
                await anyio.sleep(1.0)
                tg.cancel_scope.cancel()
    return {
        "connections": len(sockets),
        "messages": len(latencies),
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
    }


async def chat_run(visitors: int, seconds: float) -> dict[str, Any] | None:
    try:
        import trunkline_webchat  # noqa: F401
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        web_port, intake_port = free_port(), free_port()
        config = centre_config(directory, 1, web_port, intake_port, chat=True)
        args = [
            sys.executable,
            "-c",
            "from trunkline.cli import main; main()",
            "serve",
            str(config),
        ]
        with process(args) as proc:
            await wait_http(f"http://127.0.0.1:{web_port}/healthz", proc)
            acked = 0
            latencies: list[float] = []

            async def visitor(n: int) -> None:
                nonlocal acked
                url = f"ws://127.0.0.1:{web_port}/chat/chat/ws"
                async with websockets.connect(url, max_queue=None) as ws:
                    # A new visitor: no token, so the server issues one in its welcome.
                    await ws.send(json.dumps({"type": "hello"}))
                    while json.loads(await ws.recv()).get("type") != "welcome":
                        pass
                    k, previous = 0, 0.0
                    deadline = time.perf_counter() + seconds
                    while time.perf_counter() < deadline:
                        k += 1
                        # A socket may send 100 frames in 10 s (more is a flood, closed):
                        # each visitor writes at most 8 a second, as fast as acknowledged.
                        started = time.perf_counter()
                        if k > 1:
                            await anyio.sleep(max(0.0, previous + 0.125 - started))
                            started = time.perf_counter()
                        previous = started
                        await ws.send(
                            json.dumps({"type": "message", "id": f"v{n}-{k}", "text": "hello"})
                        )
                        while True:
                            answer = json.loads(await ws.recv())
                            if answer.get("type") in ("ack", "retry", "error"):
                                break
                        if answer["type"] == "ack":
                            acked += 1
                            latencies.append(time.perf_counter() - started)

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for n in range(visitors):
                    tg.start_soon(visitor, n)
            elapsed = time.perf_counter() - start
    return {
        "visitors": visitors,
        "per_s": acked / elapsed,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
    }


async def main(agents: int, quick: bool, cases: str) -> None:
    seconds = 5.0 if quick else 15.0
    print(f"web benchmark: {agents} agents, {seconds:g} s of load per case")
    for rate in (50.0, 200.0) if "agents" in cases else ():
        echo = await echo_run(agents, seconds, rate)
        print(
            f"baseline at {rate:g}/s, bare Starlette WebSocket echo: {echo['connections']} "
            f"sockets, {echo['messages']} round trips, p50 {echo['p50']:.1f} ms, "
            f"p99 {echo['p99']:.1f} ms"
        )
        result = await agents_run(agents, seconds, rate, quick)
        print(
            f"agents at {rate:g} contacts/s: {result['agents']} WebSockets held, "
            f"{result['offers']} offers delivered, p50 {result['p50']:.1f} ms, "
            f"p99 {result['p99']:.1f} ms (each contact also accepted and ended over the socket)"
        )
    if "chat" not in cases:
        return
    chat = await chat_run(400, seconds)
    if chat is None:
        print("web chat: skipped (trunkline-webchat not installed)")
    else:
        print(
            f"web chat end to end: {chat['per_s']:,.0f} messages/s acknowledged durably by "
            f"{chat['visitors']} visitors; ack p50 {chat['p50']:.1f} ms, p99 {chat['p99']:.1f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", default="agents,chat", help="agents, chat or both")
    options = parser.parse_args()
    anyio.run(main, 200 if options.quick else options.agents, options.quick, options.cases)
