"""Several nodes on one shared store: leases decide who routes each workspace.

Every node takes inbound messages and appends them. Each workspace is routed by exactly one
node at a time, the holder of its lease in the store; the others only append intake events
(the customer, the contact, the message). The holder is woken by the store when another node
appends (PostgreSQL's LISTEN/NOTIFY), applies those events and routes the new contacts.

When a node dies its leases expire; within ``lease_ttl`` another node takes each workspace
over: it rebuilds the routing state from the store (snapshot and log), routes the contacts the
dead node had not routed, and carries on. A node that cannot renew a lease stops routing that
workspace at once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from .store import SharedStore

if TYPE_CHECKING:
    from .model import Contact
    from .runtime import Desk, Runtime

__all__ = ["Coordinator", "node_name"]

log = logging.getLogger("trunkline.cluster")

CATCH_UP_CHUNK = 5_000


def node_name() -> str:
    """This process's name among the nodes: ``TRUNKLINE_NODE``, or host, pid and a suffix."""
    return os.environ.get("TRUNKLINE_NODE") or (
        f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )


class Coordinator:
    """Holds, renews and gives up this node's leases, and keeps owned workspaces current."""

    def __init__(self, runtime: Runtime, store: SharedStore, node: str | None = None) -> None:
        self.runtime = runtime
        self.store = store
        self.node = node or node_name()
        self.ttl = runtime.config.store.lease_ttl

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            async with anyio.create_task_group() as tg:
                await self._renew()  # take what is free before intake starts
                tg.start_soon(self._leases)
                tg.start_soon(self._tail)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                for wid, desk in self.runtime.desks.items():
                    if desk.owned:
                        self.runtime.release(desk)
                        try:
                            await self.store.release_lease(wid, self.node)
                        except Exception:
                            log.warning('could not release the lease of "%s"', wid, exc_info=True)

    async def _leases(self) -> None:
        while True:
            await anyio.sleep(self.ttl / 3)
            await self._renew()

    async def _renew(self) -> None:
        for wid, desk in self.runtime.desks.items():
            try:
                held = await self.store.try_lease(wid, self.node, self.ttl)
            except Exception:
                log.warning('lease of "%s": the store did not answer', wid, exc_info=True)
                held = False
            if held and not desk.owned:
                log.info('node "%s" now routes workspace "%s"', self.node, wid)
                await self.runtime.take_over(desk)
            elif not held and desk.owned:
                log.warning('node "%s" lost the lease of workspace "%s"', self.node, wid)
                self.runtime.release(desk)

    async def _tail(self) -> None:
        while True:
            owned = [wid for wid, desk in self.runtime.desks.items() if desk.owned]
            if not owned:
                await anyio.sleep(self.ttl / 3)
                continue
            try:
                await self.store.wait_for_appends(owned, 1.0)
            except Exception:
                log.warning("waiting for other nodes' appends failed", exc_info=True)
                await anyio.sleep(1.0)
            for wid in owned:  # every owned workspace: a lost notification costs a second
                try:
                    await self._catch_up(self.runtime.desks[wid])
                except Exception:
                    log.warning('workspace "%s": catching up failed', wid, exc_info=True)

    async def _catch_up(self, desk: Desk) -> None:
        """Apply what other nodes appended, and route the contacts they received."""
        wid = desk.config.workspace.id
        async with desk.lock:
            if not desk.owned:
                return
            received: list[Contact] = []
            while True:
                chunk = await self.store.read(wid, desk.applied, CATCH_UP_CHUNK)
                received += desk.catch_up(chunk)
                if len(chunk) < CATCH_UP_CHUNK:
                    break
            pending = await desk.route(received, self.runtime.clock.now())
        await pending.stored()
