"""Two ``trunkline serve`` nodes on one database: a message taken in by either is routed once,
by the node that holds the workspace's lease, woken by the store's notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from trunkline import Ack, Address, InboundMessage, Runtime
from trunkline import events as ev
from trunkline.testing import wait_for_event

from .conftest import backends_waiting_for_the_lock, holding_the_append_lock
from .conftest import node as running_node

pytestmark = pytest.mark.anyio

W = "acme"
CONFIG = {
    "store": {"lease_ttl": 2.0},
    "workspaces": {
        W: {
            "queues": {"support": {}},
            "agents": {"alice": {"capacity": {"chat": 4}, "queues": ["support"]}},
            "channels": {"web": {"adapter": "memory", "queue": "support"}},
        }
    },
}


@asynccontextmanager
async def node(database: str, schema: str, name: str) -> AsyncIterator[Runtime]:
    async with running_node(database, schema, name, CONFIG) as runtime:
        yield runtime


async def test_a_message_taken_in_by_the_other_node_is_routed_by_the_lease_holder(
    database: str, schema: str
) -> None:
    async with node(database, schema, "node-a") as a:
        await a.set_agent_status(W, "alice", "available")
        async with node(database, schema, "node-b") as b:
            offers = a.subscribe()
            message = InboundMessage(
                channel="web", sender=Address("memory", "cust-1"), body="hello", provider_id="m1"
            )
            ack = await b.receive(message)  # node-b stores it; node-a routes it
            offered = await wait_for_event(
                offers, lambda e: isinstance(e, ev.ContactOffered), within=5.0
            )
            assert isinstance(offered, ev.ContactOffered)
            assert offered.offer.contact_id == ack.contact_id
            assert offered.offer.agent_id == "alice"
            await anyio.sleep(0.5)  # time enough for a second offer, were there one
            log = [s.event for s in await b.store.read(W)]
            assert sum(isinstance(e, ev.ContactOffered) for e in log) == 1


async def test_a_retry_on_the_other_node_racing_the_first_delivery_is_stored_once(
    database: str, schema: str
) -> None:
    """A provider retries on node-b while node-a still stores the first delivery: both find
    the provider id unseen, both append; the idempotency key lets one append in, and the
    other node answers with the first one's ids as a duplicate. Both nodes run the channel
    under one name, as a cluster runs one configuration: the key is the channel's name and
    the provider's id."""
    message = InboundMessage(
        channel="web", sender=Address("memory", "cust-1"), body="hello", provider_id="m1"
    )
    async with node(database, schema, "node-a") as a, node(database, schema, "node-b") as b:
        acks: list[Ack] = []

        async def deliver(runtime: Runtime) -> None:
            acks.append(await runtime.receive(message))

        async with anyio.create_task_group() as tg:
            with holding_the_append_lock(database, schema, W):  # neither may commit yet
                tg.start_soon(deliver, a)
                tg.start_soon(deliver, b)
                with anyio.fail_after(10):
                    while len(backends_waiting_for_the_lock(database)) < 2:  # noqa: ASYNC110 - another process signals nothing
                        await anyio.sleep(0.05)
        first, second = sorted(acks, key=lambda ack: ack.duplicate)
        assert (first.duplicate, second.duplicate) == (False, True)
        assert (second.contact_id, second.message_id) == (first.contact_id, first.message_id)
        log = [s.event for s in await b.store.read(W)]
        assert [e.message.id for e in log if isinstance(e, ev.MessageReceived)] == [
            first.message_id
        ]
        assert sum(isinstance(e, ev.ContactReceived) for e in log) == 1


async def test_a_message_stored_while_its_node_takes_the_lease_over_is_routed(
    database: str, schema: str
) -> None:
    """node-b takes in a message while node-a routes; its append is held until node-b has
    taken the workspace over (node-a stopped), so the rebuilt engine has not seen it. The
    append was decided by a node that did not route, so the new holder must still apply and
    route it, not count it as applied."""
    message = InboundMessage(
        channel="web", sender=Address("memory", "cust-1"), body="hello", provider_id="m1"
    )
    stop_a, a_stopped = anyio.Event(), anyio.Event()

    async def run_a(*, task_status: anyio.abc.TaskStatus[Runtime]) -> None:
        async with node(database, schema, "node-a") as a:
            task_status.started(a)
            await stop_a.wait()
        a_stopped.set()  # node-a released its lease

    acks: list[Ack] = []
    async with anyio.create_task_group() as nodes:
        a = await nodes.start(run_a)
        assert a.desks[W].owned
        async with node(database, schema, "node-b") as b, anyio.create_task_group() as tg:

            async def deliver() -> None:
                acks.append(await b.receive(message))

            with holding_the_append_lock(database, schema, W):
                tg.start_soon(deliver)
                with anyio.fail_after(10):
                    while not backends_waiting_for_the_lock(database):  # noqa: ASYNC110 - another process signals nothing
                        await anyio.sleep(0.05)
                stop_a.set()
                await a_stopped.wait()
                with anyio.fail_after(10):
                    while not b.desks[W].owned:  # noqa: ASYNC110 - the lease is a row
                        await anyio.sleep(0.05)
            with anyio.fail_after(5):
                while not acks:  # noqa: ASYNC110 - the append returns when it returns
                    await anyio.sleep(0.05)
            (ack,) = acks
            with anyio.fail_after(5):
                while True:  # the log is polled
                    log = [s.event for s in await b.store.read(W)]
                    if any(
                        isinstance(e, ev.ContactQueued) and e.contact_id == ack.contact_id
                        for e in log
                    ):
                        break
                    await anyio.sleep(0.1)
