"""Two ``trunkline serve`` nodes on one database: a message taken in by either is routed once,
by the node that holds the workspace's lease, woken by the store's notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from trunkline import Address, InboundMessage, Runtime
from trunkline import events as ev
from trunkline.testing import wait_for_event

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
