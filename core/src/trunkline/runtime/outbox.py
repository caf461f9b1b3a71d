"""The outbox: messages to customers are stored first, then sent by a worker that renders
them for their channel, retries with backoff, and records the outcome as an event."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio
import attrs

from .. import events as ev
from .. import hookspecs
from ..channels import ChannelAdapter, OutboundMessage, PermanentSendError
from ..store import OutboxEntry

if TYPE_CHECKING:
    from .desk import Desk
    from .protocols import PluginRuntime

__all__ = ["Outbox"]

log = logging.getLogger("trunkline.runtime")


class Outbox:
    """Sends what is due, for the workspaces this node routes."""

    def __init__(self, runtime: PluginRuntime, desk: Callable[[str], Desk]) -> None:
        self.runtime = runtime
        self._desk = desk
        self._wake: anyio.Event | None = None

    def wake(self) -> None:
        """Something was queued: send it now rather than at the next poll."""
        if self._wake is not None:
            self._wake.set()

    def stored(self, events: Sequence[ev.Event]) -> None:
        """After an append: wake the worker if it queued a message (a survey question
        decided with a close)."""
        if self._wake is not None and any(isinstance(e, ev.OutboundQueued) for e in events):
            self._wake.set()

    async def run(self) -> None:
        runtime = self.runtime
        settings = runtime.config.outbox
        while True:
            self._wake = anyio.Event()
            deadline = runtime.clock.now() + settings.poll_interval
            try:
                for entry in await runtime.store.outbox_due(runtime.clock.now()):
                    desk = runtime.desks.get(entry.message.workspace)
                    if desk is not None and desk.owned:  # one node sends each workspace's
                        await self.send(entry)
                # Sleep until the next retry is due, but poll anyway: another node may add work.
                upcoming = await runtime.store.outbox_due(math.inf, limit=1)
                if upcoming:
                    deadline = min(deadline, upcoming[0].due_at)
            except Exception:
                log.exception("outbox: a round of sending failed; trying again shortly")
            await runtime.clock.sleep_until(deadline, self._wake)

    async def send(self, entry: OutboxEntry) -> None:
        runtime = self.runtime
        message = entry.message
        workspace = message.workspace
        adapter = runtime.channels.get(message.channel)
        attempt = entry.attempts + 1
        now = runtime.clock.now()
        event: ev.Event
        if adapter is None:
            event = ev.MessageFailed(
                workspace=workspace,
                at=now,
                message_id=message.id,
                error=f'channel "{message.channel}" is not configured',
            )
        else:
            outbound = OutboundMessage(
                message_id=message.id,
                contact_id=message.contact_id,
                body=message.body,
                subject=str(message.metadata.get("subject", "")),
                attachments=message.attachments,
                dedupe_key=message.id,
            )
            rendered = runtime.pm.call_first(
                hookspecs.trunkline_render_outbound,
                message=outbound,
                capabilities=adapter.capabilities,
                channel=message.channel,
            )
            outbound = rendered if isinstance(rendered, OutboundMessage) else fit(outbound, adapter)
            try:
                receipt = await adapter.send(entry.to, outbound)
            except PermanentSendError as exc:
                event = ev.MessageFailed(
                    workspace=workspace, at=now, message_id=message.id, error=str(exc)
                )
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    'channel "%s": send of %s failed (attempt %d): %s',
                    message.channel,
                    message.id,
                    attempt,
                    error,
                )
                settings = runtime.config.outbox
                if attempt >= settings.max_attempts:
                    event = ev.MessageFailed(
                        workspace=workspace,
                        at=now,
                        message_id=message.id,
                        error=f"gave up after {attempt} attempts: {error}",
                    )
                else:
                    delay = min(settings.backoff * 2 ** (attempt - 1), settings.max_backoff)
                    event = ev.SendAttemptFailed(
                        workspace=workspace,
                        at=now,
                        message_id=message.id,
                        attempt=attempt,
                        error=error,
                        retry_at=now + delay,
                    )
            else:
                event = ev.MessageSent(
                    workspace=workspace,
                    at=now,
                    message_id=message.id,
                    provider_id=receipt.provider_id,
                )
        await self._desk(workspace).commit([event])


def fit(message: OutboundMessage, adapter: ChannelAdapter) -> OutboundMessage:
    """Core's default rendering: drop what the channel cannot carry, cut what is too long."""
    caps = adapter.capabilities
    if not caps.attachments and message.attachments:
        message = attrs.evolve(message, attachments=())
    if caps.max_body_length is not None and len(message.body) > caps.max_body_length:
        message = attrs.evolve(message, body=message.body[: caps.max_body_length])
    return message
