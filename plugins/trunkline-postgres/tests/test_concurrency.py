"""Several nodes appending to one workspace at once: the log stays gapless and ordered.

Sequence numbers come from the database under a per-workspace lock, not from a node's
memory, so whichever node appends, the numbers are 1, 2, 3… with no gap or duplicate, and
each append's events are consecutive.
"""

from __future__ import annotations

import anyio
import pytest

from trunkline import events as ev
from trunkline.testing.store_suite import contact_events
from trunkline_postgres.store import PostgresStore

from .conftest import opened

pytestmark = pytest.mark.anyio

W = "acme"


def batch_of(event: ev.Event) -> int:
    """The ``n`` of the ``contact_events(n)`` an event came from."""
    if isinstance(event, ev.CustomerCreated):
        return int(event.customer.id.removeprefix("cu"))
    contact = ev.contact_id_of(event)
    assert contact is not None
    return int(contact.removeprefix("ct"))


async def test_three_nodes_appending_200_batches_each_give_exactly_1_to_n(
    database: str, schema: str
) -> None:
    per_node, writers = 200, 10
    async with (
        opened(database, schema) as a,
        opened(database, schema) as b,
        opened(database, schema) as c,
    ):
        returned: dict[int, int] = {}

        async def writer(store: PostgresStore, node: int, first: int) -> None:
            for n in range(first, first + per_node // writers):
                returned[n] = await store.append(contact_events(n, workspace=W))

        async with anyio.create_task_group() as tg:
            for node, store in enumerate((a, b, c)):
                for w in range(writers):
                    tg.start_soon(writer, store, node, node * 1000 + w * (per_node // writers))
        stored = await a.read(W)
        total = 3 * per_node * 3
        assert [s.seq for s in stored] == list(range(1, total + 1))
        assert await b.last_seq(W) == total
        by_batch: dict[int, list[int]] = {}
        for s in stored:
            by_batch.setdefault(batch_of(s.event), []).append(s.seq)
        assert sorted(by_batch) == sorted(returned)  # every batch, once
        for n, last in returned.items():  # each batch consecutive, ending where append said
            assert by_batch[n] == [last - 2, last - 1, last]


async def test_a_hundred_concurrent_appenders_on_one_node_all_land(
    database: str, schema: str
) -> None:
    async with opened(database, schema, max_connections=3) as store:
        async with anyio.create_task_group() as tg:
            for n in range(100):
                tg.start_soon(store.append, contact_events(n, workspace=W))
        assert [s.seq for s in await store.read(W)] == list(range(1, 301))
        # They shared commits: the appends that arrived during one commit made the next.
        assert store.commits < 20


async def test_batches_over_two_workspaces_in_either_order_never_deadlock(
    database: str, schema: str
) -> None:
    async with opened(database, schema) as a, opened(database, schema) as b:

        async def writer(store: PostgresStore, first: str, second: str, base: int) -> None:
            for n in range(base, base + 30):
                await store.append(
                    contact_events(n, workspace=first) + contact_events(n, workspace=second)
                )

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(writer, a, "acme", "globex", 0)
                tg.start_soon(writer, b, "globex", "acme", 100)
                tg.start_soon(writer, a, "globex", "acme", 200)
                tg.start_soon(writer, b, "acme", "globex", 300)
        for workspace in ("acme", "globex"):
            assert [s.seq for s in await a.read(workspace)] == list(range(1, 4 * 30 * 3 + 1))
