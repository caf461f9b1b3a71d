"""CSAT surveys on the shared store: the node that routes a workspace asks the question after
close, and a rating taken in by any node (or a node started later) answers it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
            "survey": {"question": "How did we do? 1 to 5", "window": 3600},
        }
    },
}


@asynccontextmanager
async def node(database: str, schema: str, name: str) -> AsyncIterator[Runtime]:
    async with running_node(database, schema, name, CONFIG) as runtime:
        yield runtime


def message(body: str, provider_id: str) -> InboundMessage:
    return InboundMessage(
        channel="web", sender=Address("memory", "cust-1"), body=body, provider_id=provider_id
    )


async def test_a_rating_taken_in_by_another_node_answers_the_survey(
    database: str, schema: str
) -> None:
    async with node(database, schema, "node-a") as a:
        await a.set_agent_status(W, "alice", "available")
        events = a.subscribe()
        ack = await a.receive(message("my order is late", "m1"))
        offered = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
        assert isinstance(offered, ev.ContactOffered)
        await a.accept(W, offered.offer.id)
        await a.end_contact(W, ack.contact_id)  # wrap_up 0: it closes, and the survey goes
        await wait_for_event(events, lambda e: isinstance(e, ev.MessageSent))
        assert [m.body for _, m in a.channel("web").sent] == ["How did we do? 1 to 5"]
        async with node(database, schema, "node-b") as b:
            answer = await b.receive(message("4 stars", "m2"))
            again = await b.receive(message("4 stars", "m2"))
    assert (answer.contact_id, answer.new_contact) == (ack.contact_id, False)
    assert again.duplicate
    async with node(database, schema, "node-c") as c:  # a restart: the log says it all
        late = await c.receive(message("5", "m3"))  # a second answer: a new contact
        log = [s.event for s in await c.store.read(W)]
    assert late.new_contact
    answers = [e for e in log if isinstance(e, ev.SurveyAnswered)]
    assert [(e.contact_id, e.score, e.agent_id, e.queue) for e in answers] == [
        (ack.contact_id, 4, "alice", "support")
    ]
    assert sum(isinstance(e, ev.SurveySent) for e in log) == 1
