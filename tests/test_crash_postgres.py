"""Crash test: two `trunkline serve` nodes on one PostgreSQL database, one killed under load.

Both nodes take intake; one holds the workspace's lease and routes. A small plugin (written
into a scratch site directory, as a third party would ship one) plays the agents on whichever
node routes: it makes them available, accepts every offer and ends the contact. A load
generator posts new contacts to both nodes, retrying each with the same id until it is
answered 202. The routing node is killed with kill -9; the other must take the workspace over.

Afterwards the log is checked: every acknowledged contact is present exactly once and was
routed, no agent ever held more than its capacity, and no contact was assigned twice.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

from trunkline import events as ev

WORKSPACE = "pair"
AGENTS = ("ada", "bob", "cy", "dee")
CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    f"postgresql://{getpass.getuser()}@127.0.0.1:5432/postgres",
)

AGENT_PLUGIN = """
import anyio
from trunkline import hookimpl
from trunkline import events as ev
from trunkline.routing import RoutingError
from trunkline.channels import TemporaryFailure

AGENTS = {agents!r}

@hookimpl
async def trunkline_contact_event(event, runtime):
    desk = runtime.desks.get(event.workspace)
    if desk is None or not desk.owned:
        return
    try:
        if isinstance(event, ev.ContactQueued):
            for agent in AGENTS:  # staff the floor the first time this node routes
                if desk.engine.agent(agent).status.value != "available":
                    await runtime.set_agent_status(event.workspace, agent, "available")
        elif isinstance(event, ev.ContactOffered):
            await runtime.accept(event.workspace, event.offer.id)
        elif isinstance(event, ev.OfferAccepted):
            await runtime.end_contact(event.workspace, event.contact_id)
    except (RoutingError, TemporaryFailure):
        pass  # the state moved on (an offer expired, the lease passed): nothing to do
"""


def admin_dsn() -> str:
    errors = []
    for dsn in CANDIDATES:
        try:
            import psycopg

            with psycopg.connect(dsn, connect_timeout=5):
                return dsn
        except Exception as exc:  # no server, or no such role
            errors.append(str(exc).strip())
    reason = f"no PostgreSQL at 127.0.0.1:5432 ({'; '.join(errors)})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)
    raise AssertionError  # pragma: no cover


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_node(tmp_path: Path, name: str, port: int) -> Path:
    agents = "\n".join(
        f'[workspaces.{WORKSPACE}.agents.{a}]\ncapacity = {{ chat = 1 }}\nqueues = ["support"]\n'
        for a in AGENTS
    )
    config = tmp_path / f"{name}.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [web]
            enabled = false  # the intake is the webhook channel

            [store]
            backend = "postgres"
            dsn = {{ env = "TRUNKLINE_DSN" }}
            lease_ttl = 1.0
            snapshot_every = 200

            [workspaces.{WORKSPACE}]
            skills = ["en"]

            [workspaces.{WORKSPACE}.queues.support]
            offer_timeout = 2.0

            # One channel name on both nodes, as a cluster runs one configuration: a retry
            # is recognised by the channel's name and the provider's id, so one that lands
            # on the other node is a redelivery there only under the same name.
            [workspaces.{WORKSPACE}.channels.intake]
            adapter = "webhook"
            queue = "support"

            [workspaces.{WORKSPACE}.channels.intake.settings]
            port = {port}
            """
        )
        + agents
    )
    return config


def site_with_agents(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "floor_agents.py").write_text(AGENT_PLUGIN.format(agents=AGENTS))
    info = site / "floor_agents-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: floor-agents\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[trunkline.plugins]\nfloor-agents = floor_agents\n")
    return site


@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_two_nodes_one_killed_lose_nothing_and_assign_nothing_twice(tmp_path: Path) -> None:
    import psycopg

    admin = admin_dsn()
    name = f"trunkline_pair_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = admin.rsplit("/", 1)[0] + "/" + name
    env = {
        **os.environ,
        "TRUNKLINE_DSN": dsn,
        "PYTHONPATH": str(site_with_agents(tmp_path)),
    }
    ports = {"a": free_port(), "b": free_port()}
    configs = {n: write_node(tmp_path, n, p) for n, p in ports.items()}
    nodes: dict[str, subprocess.Popen[bytes]] = {}

    def start(node: str) -> None:
        nodes[node] = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from trunkline.cli import main; main()",
                "serve",
                str(configs[node]),
            ],
            env={**env, "TRUNKLINE_NODE": f"node-{node}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    acked: dict[str, str] = {}
    counter = 0

    async def post(client: httpx.AsyncClient, message_id: str, prefer: str) -> None:
        order = [prefer, "b" if prefer == "a" else "a"]
        with anyio.fail_after(60):
            while True:
                for node in order:
                    url = f"http://127.0.0.1:{ports[node]}/v1/messages"
                    try:
                        answer = await client.post(
                            url,
                            json={"sender": f"c-{message_id}", "text": "help", "id": message_id},
                        )
                    except httpx.TransportError:
                        continue
                    if answer.status_code == 202:
                        acked.setdefault(message_id, answer.json()["contact_id"])
                        return
                    assert answer.status_code == 503, answer.text
                await anyio.sleep(0.1)

    async def wait_ready(client: httpx.AsyncClient, node: str) -> None:
        with anyio.fail_after(30):
            while True:
                proc = nodes[node]
                if proc.poll() is not None:
                    raise AssertionError(proc.stderr.read().decode())  # type: ignore[union-attr]
                try:
                    await client.get(f"http://127.0.0.1:{ports[node]}/healthz")
                    return
                except httpx.TransportError:
                    await anyio.sleep(0.05)

    async def lease_holder() -> str | None:
        conn = await psycopg.AsyncConnection.connect(dsn)
        try:
            cur = await conn.execute("SELECT node FROM leases WHERE workspace = %s", (WORKSPACE,))
            row = await cur.fetchone()
            return None if row is None else str(row[0]).removeprefix("node-")
        finally:
            await conn.close()

    async def load(client: httpx.AsyncClient, seconds: float) -> None:
        nonlocal counter
        deadline = time.monotonic() + seconds
        async with anyio.create_task_group() as tg:
            while time.monotonic() < deadline:
                counter += 1
                tg.start_soon(post, client, f"m{counter}", "ab"[counter % 2])
                await anyio.sleep(0.01)

    killed = ""

    async def main() -> None:
        nonlocal killed
        async with httpx.AsyncClient(timeout=10) as client:
            start("a")
            await wait_ready(client, "a")
            start("b")
            await wait_ready(client, "b")
            await load(client, 3.0)
            holder = await lease_holder()
            assert holder in ("a", "b")
            killed = holder
            async with anyio.create_task_group() as tg:
                tg.start_soon(load, client, 4.0)
                await anyio.sleep(1.0)
                os.kill(nodes[holder].pid, signal.SIGKILL)  # the routing node dies mid-load
                nodes[holder].wait()
            survivor = "b" if holder == "a" else "a"
            with anyio.fail_after(30):  # the survivor takes the workspace over
                while True:  # polling a row another process writes
                    if await lease_holder() == survivor:
                        break
                    await anyio.sleep(0.2)
            await anyio.sleep(4.0)  # lets it route what was left, and offers time out
            nodes[survivor].send_signal(signal.SIGINT)
            nodes[survivor].wait(timeout=30)

    try:
        anyio.run(main)
    finally:
        for proc in nodes.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    async def read_log() -> list[ev.Event]:
        from trunkline_postgres.store import PostgresStore

        store = PostgresStore(dsn)
        await store.open()
        try:
            return [s.event for s in await store.read(WORKSPACE)]
        finally:
            await store.aclose()

    log = anyio.run(read_log)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")

    received = [e for e in log if isinstance(e, ev.MessageReceived)]
    ids = [m.message.provider_id for m in received]
    lost = set(acked) - set(ids)
    duplicated = {i for i in ids if ids.count(i) > 1}
    queued = {e.contact_id for e in log if isinstance(e, ev.ContactQueued)}
    unrouted = {c for c in acked.values() if c not in queued}
    held: dict[str, set[str]] = {a: set() for a in AGENTS}
    owner: dict[str, str] = {}
    over_capacity = assigned_twice = 0
    for event in log:
        if isinstance(event, ev.ContactOffered):
            held[event.offer.agent_id].add(event.offer.contact_id)
            over_capacity += len(held[event.offer.agent_id]) > 1
        elif isinstance(event, ev.OfferAccepted):
            assigned_twice += event.contact_id in owner
            owner[event.contact_id] = event.agent_id
        elif isinstance(event, ev.OfferRejected | ev.OfferTimedOut | ev.OfferRescinded):
            held[event.agent_id].discard(event.contact_id)
        elif isinstance(event, ev.WrapUpEnded):
            held[event.agent_id].discard(event.contact_id)
            owner.pop(event.contact_id, None)
    print(
        f"\ntwo nodes, {killed} killed: {counter} contacts sent, {len(acked)} acknowledged, "
        f"{len(received)} stored, {len(queued)} routed; lost={len(lost)} "
        f"duplicated={len(duplicated)} unrouted={len(unrouted)} "
        f"over-capacity={over_capacity} assigned-twice={assigned_twice}"
    )
    assert lost == set()
    assert duplicated == set()
    assert unrouted == set()
    assert over_capacity == 0
    assert assigned_twice == 0
    assert len(acked) == counter
