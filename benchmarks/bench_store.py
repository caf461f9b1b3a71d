"""Store figures: durable appends per second, and intake-to-routable latency.

Run: ``uv run python benchmarks/bench_store.py`` (``--quick`` for a shorter run).

Printed, in one run:

- the raw ``os.fsync`` rate of a 4 KiB write on the same disk (the physical baseline: a
  durable commit cannot be faster than one fsync);
- durable events appended per second to SQLite and to PostgreSQL with 1, 10 and 100
  concurrent writers (each append is a new contact: three events);
- p50 and p99 from ``Runtime.receive`` (intake) until the contact is routable (queued in the
  engine, after the durable append), at 500 contacts a second, on SQLite.

PostgreSQL is measured when the ``trunkline-postgres`` plugin is installed and a server
answers at ``TRUNKLINE_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from trunkline import Address, InboundMessage, Runtime, config_from_dict, load_plugins
from trunkline.sql import SqliteStore
from trunkline.store import Store
from trunkline.testing.store_suite import contact_events

OpenStore = Callable[[], Any]


def fsync_rate(directory: Path, seconds: float) -> float:
    path = directory / "fsync.bin"
    block = b"\0" * 4096
    count = 0
    with path.open("wb") as handle:
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            handle.write(block)
            handle.flush()
            os.fsync(handle.fileno())
            count += 1
        elapsed = time.perf_counter() - start
    path.unlink()
    return count / elapsed


async def append_rate(store: Store, writers: int, appends: int) -> float:
    counter = 0
    tag = uuid.uuid4().hex[:8]

    async def writer() -> None:
        nonlocal counter
        while counter < appends:
            counter += 1
            n = counter
            await store.append(contact_events(n, key=f"bench:{tag}:{n}", workspace=f"w{tag}"))

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(writers):
            tg.start_soon(writer)
    return 3 * appends / (time.perf_counter() - start)


@asynccontextmanager
async def sqlite_store(directory: Path) -> AsyncIterator[Store]:
    store = SqliteStore(directory / f"bench-{uuid.uuid4().hex[:6]}.db")
    await store.open()
    try:
        yield store
    finally:
        await store.aclose()


@asynccontextmanager
async def postgres_store(dsn: str) -> AsyncIterator[Store | None]:
    try:
        from trunkline_postgres.store import PostgresStore  # type: ignore[import-not-found]
    except ImportError:
        yield None
        return
    import psycopg  # type: ignore[import-not-found]

    name = f"trunkline_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    except Exception:
        yield None
        return
    await admin.execute(f"CREATE DATABASE {name}")
    store = PostgresStore(dsn.rsplit("/", 1)[0] + "/" + name, max_connections=20)
    await store.open()
    try:
        yield store
    finally:
        await store.aclose()
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


async def intake_latency(directory: Path, rate: float, seconds: float) -> list[float]:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    adapters = {a.name: a for a in pm.collect("trunkline_register_channels")}
    strategies = {s.name for s in pm.collect("trunkline_register_strategies")}
    config = config_from_dict(
        {
            "workspaces": {
                "bench": {
                    "skills": ["en"],
                    "queues": {"support": {}},
                    "agents": {"ada": {"capacity": {"chat": 1}, "queues": ["support"]}},
                    "channels": {"web": {"adapter": "memory", "queue": "support"}},
                }
            }
        },
        adapters=adapters,
        strategies=strategies,
        env={},
    )
    runtime = Runtime(config, pm, store=SqliteStore(directory / "intake.db"))
    latencies: list[float] = []

    async def one(n: int) -> None:
        message = InboundMessage(
            channel="web", sender=Address("memory", f"c{n}"), body="hi", provider_id=f"m{n}"
        )
        start = time.perf_counter()
        ack = await runtime.receive(message)
        # receive returns after the durable append of the contact and its queueing: routable.
        latencies.append(time.perf_counter() - start)
        assert ack.new_contact

    async with runtime.running(), anyio.create_task_group() as tg:
        total = int(rate * seconds)
        start = anyio.current_time()
        for n in range(total):
            await anyio.sleep_until(start + n / rate)
            tg.start_soon(one, n)
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def main(quick: bool) -> None:
    appends = 1000 if quick else 5000
    dsn = os.environ.get("TRUNKLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as scratch:
        directory = Path(scratch)
        print(f"store benchmark (disk of {directory})")
        print(f"raw os.fsync of 4 KiB: {fsync_rate(directory, 2.0):,.0f} /s (physical baseline)")
        print(f"{'store':<12} {'writers':>7} {'events/s':>10}")
        for writers in (1, 10, 100):
            async with sqlite_store(directory) as store:
                rate = await append_rate(store, writers, appends // (5 if writers == 1 else 1))
            print(f"{'sqlite':<12} {writers:>7} {rate:>10,.0f}")
        for writers in (1, 10, 100):
            async with postgres_store(dsn) as pg:
                if pg is None:
                    print(f"{'postgres':<12} skipped: plugin or server not available ({dsn})")
                    break
                rate = await append_rate(pg, writers, appends // (5 if writers == 1 else 1))
            print(f"{'postgres':<12} {writers:>7} {rate:>10,.0f}")
        total = 100_000 if quick else 1_000_000
        with_snapshot, full, written = await restart_time(directory, total, 49_999)
        print(
            f"restart over {written:,} events (sqlite): {with_snapshot:.2f} s from a snapshot "
            f"49,999 events old (the worst case with snapshot_every = 50000), "
            f"{full:.2f} s replaying the whole log"
        )
        seconds = 4.0 if quick else 10.0
        latencies = await intake_latency(directory, 500.0, seconds)
        print(
            f"intake to routable at 500 contacts/s on sqlite ({len(latencies)} contacts): "
            f"p50 {pct(latencies, 50):.2f} ms, p99 {pct(latencies, 99):.2f} ms, "
            f"mean {statistics.fmean(latencies) * 1000:.2f} ms"
        )


# Restart -------------------------------------------------------------------------------------


def _restart_config() -> Any:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    adapters = {a.name: a for a in pm.collect("trunkline_register_channels")}
    strategies = {s.name for s in pm.collect("trunkline_register_strategies")}
    agents = {f"a{n}": {"capacity": {"chat": 2}, "queues": ["q1", "q2"]} for n in range(50)}
    data = {
        "workspaces": {
            "big": {"queues": {"q1": {}, "q2": {}}, "agents": agents},
        }
    }
    return pm, config_from_dict(data, adapters=adapters, strategies=strategies, env={})


async def restart_time(directory: Path, total: int, behind: int) -> tuple[float, float, int]:
    """Seconds for a runtime to start over a log of ``total`` events: with the latest
    snapshot ``behind`` events old, and with no snapshot (a full replay)."""
    from trunkline.runtime import default_engine
    from trunkline.store import Snapshot
    from trunkline.switchboard import builtin_strategies

    pm, config = _restart_config()
    workspace = config.workspaces["big"]
    router = default_engine(workspace, builtin_strategies(), pm)
    path = directory / "restart.db"
    store = SqliteStore(path)
    await store.open()
    now, n, written = 0.0, 0, 0
    batch: list[Any] = []
    snapshot: Snapshot | None = None
    from trunkline.model import Contact, Direction
    from trunkline.routing import AcceptOffer, EndContact, EnqueueContact, SetAgentStatus

    for agent in workspace.agents:
        batch += router.handle(SetAgentStatus(agent.id, "available"), now)
    while written + len(batch) < total:
        now += 0.01
        n += 1
        contact = Contact(
            id=f"c{n}",
            workspace="big",
            channel="web",
            channel_kind="chat",
            direction=Direction.INBOUND,
            customer_id=f"cu{n}",
            address=Address("web", f"c{n}"),
            queue=f"q{1 + n % 2}",
        )
        events = router.handle(EnqueueContact(contact), now)
        for event in events:
            if event.type == "ContactOffered":
                events += router.handle(AcceptOffer(event.offer.id), now)  # type: ignore[attr-defined]
        for view in [v for v in router.contacts.values() if v.state.value == "active"][:2]:
            events += router.handle(EndContact(view.contact.id), now)  # agents free up
        batch += events
        if len(batch) >= 2000:
            written = await store.append(batch)
            batch = []
            if snapshot is None and written >= total - behind:
                snapshot = Snapshot(written, "", router.snapshot())
    written = await store.append(batch) if batch else written
    await store.aclose()

    async def start(with_snapshot: bool) -> float:
        runtime_store = SqliteStore(path)
        runtime = Runtime(config, pm, store=runtime_store)
        if with_snapshot:
            assert snapshot is not None
            await runtime_store.open()
            fingerprint = runtime._fingerprint(workspace)
            await runtime_store.save_snapshot(
                "big", Snapshot(snapshot.seq, fingerprint, snapshot.data)
            )
        else:
            await runtime_store.open()
            runtime_store_conn = runtime_store  # drop any snapshot: a full replay
            await runtime_store_conn.save_snapshot("big", Snapshot(0, "none", b""))
        await runtime_store.aclose()
        t = time.perf_counter()
        async with runtime.running():
            elapsed = time.perf_counter() - t
        return elapsed

    return await start(True), await start(False), written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    anyio.run(main, parser.parse_args().quick)
