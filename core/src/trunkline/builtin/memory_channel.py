"""Built-in plugin: the memory channel, an in-process channel for tests, demos and embedding.

A customer "sends" by calling :meth:`MemoryChannel.deliver`, which returns the runtime's
:class:`~trunkline.channels.Ack` exactly as an SMTP server would wait for it before answering
250. What the centre sends is kept in :attr:`MemoryChannel.sent` and published to
subscribers; agents' typing indicators are kept in :attr:`MemoryChannel.signals`. Failures can
be injected to exercise the outbox's retries.
"""

from __future__ import annotations

import hashlib
import math
from typing import ClassVar

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..channels import (
    Ack,
    Capabilities,
    ChannelAdapter,
    InboundHandler,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    Receipt,
    Secret,
    Signal,
    secret,
)
from ..hookspecs import hookimpl
from ..model import Address, Attachment

__all__ = ["MemoryChannel"]


@attrs.frozen
class MemorySettings:
    """Settings of a memory channel.

    ``kind`` lets one process simulate several channel kinds (chat, email, voice…).
    ``max_body_length`` caps inbound and outbound bodies, as a real provider would.
    ``token`` is an optional secret, accepted and never printed (it exists so configuration
    and conformance tests exercise secret handling on a channel everyone has).
    """

    kind: str = "chat"
    max_body_length: int = 4096
    token: Secret | None = secret()


class MemoryChannel:
    """An in-process channel. See the module docstring."""

    name: ClassVar[str] = "memory"
    kind: str = "chat"  # set per instance from settings
    capabilities: Capabilities = Capabilities(
        inbound=True,
        outbound=True,
        attachments=True,
        typing_indicators=True,
        dedupe_key=True,
        max_body_length=4096,
    )
    Settings: ClassVar[type[MemorySettings]] = MemorySettings

    def __init__(self, settings: MemorySettings, *, instance: str, workspace: str) -> None:
        self.settings = settings
        self.instance = instance
        self.workspace = workspace
        self.kind = settings.kind
        self.capabilities = attrs.evolve(
            type(self).capabilities, max_body_length=settings.max_body_length
        )
        self.sent: list[tuple[Address, OutboundMessage]] = []
        self.signals: list[tuple[Address, Signal]] = []  # agents' typing, as signal() got it
        self._by_dedupe_key: dict[str, Receipt] = {}
        self._failures: list[Exception] = []
        self._handler: InboundHandler | None = None
        self._ready = anyio.Event()
        self._subscribers: list[MemoryObjectSendStream[tuple[Address, OutboundMessage]]] = []
        self._counter = 0
        self.files: dict[str, bytes] = {}  # kept by keep_file, by SHA-256

    # The adapter protocol ---------------------------------------------------------------

    async def run(
        self,
        inbound: InboundHandler,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        self._handler = inbound
        self._ready.set()
        task_status.started()
        await anyio.sleep_forever()

    async def signal(self, to: Address, signal: Signal) -> None:
        """Keep an agent's typing indicator in ``signals``, as a provider would show it."""
        self.signals.append((to, signal))

    async def send(self, to: Address, message: OutboundMessage) -> Receipt:
        if self._failures:
            raise self._failures.pop(0)
        if len(message.body) > self.settings.max_body_length:
            raise PermanentSendError(
                f"body of {len(message.body)} characters exceeds "
                f"max_body_length={self.settings.max_body_length}"
            )
        if message.dedupe_key is not None and message.dedupe_key in self._by_dedupe_key:
            return self._by_dedupe_key[message.dedupe_key]
        self._counter += 1
        receipt = Receipt(provider_id=f"{self.instance}-out-{self._counter}")
        if message.dedupe_key is not None:
            self._by_dedupe_key[message.dedupe_key] = receipt
        self.sent.append((to, message))
        for stream in list(self._subscribers):
            try:
                stream.send_nowait((to, message))
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.remove(stream)
        return receipt

    async def read_attachment(self, sha256: str) -> bytes | None:
        """A file kept with :meth:`keep_file`, for the agent desktop; None if not kept."""
        return self.files.get(sha256)

    async def aclose(self) -> None:
        for stream in self._subscribers:
            stream.close()
        self._subscribers.clear()

    # Driving it ---------------------------------------------------------------------------

    async def deliver(
        self,
        sender: str | Address,
        body: str,
        *,
        subject: str = "",
        provider_id: str | None = None,
        thread_hint: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        attributes: dict[str, object] | None = None,
    ) -> Ack:
        """Send a message as a customer and wait for the runtime's acknowledgement.

        Raises ``ValueError`` for a body over ``max_body_length`` (nothing is stored), and
        whatever the runtime raises (``InboundRejected``, ``TemporaryFailure``).
        """
        if isinstance(sender, str) and not sender.strip():
            raise ValueError(f"memory channel {self.instance!r}: the sender must not be empty")
        if len(body) > self.settings.max_body_length:
            raise ValueError(
                f"memory channel {self.instance!r}: body of {len(body)} characters exceeds "
                f"max_body_length={self.settings.max_body_length}"
            )
        address = sender if isinstance(sender, Address) else Address("memory", sender)
        await self._ready.wait()
        assert self._handler is not None
        message = InboundMessage(
            channel=self.instance,
            sender=address,
            body=body,
            subject=subject,
            provider_id=provider_id,
            thread_hint=thread_hint,
            attachments=attachments,
            attributes=dict(attributes or {}),
        )
        return await self._handler(message)

    def keep_file(self, data: bytes, filename: str, content_type: str) -> Attachment:
        """Keep a file a customer is about to send; pass the Attachment to :meth:`deliver`."""
        sha256 = hashlib.sha256(data).hexdigest()
        self.files[sha256] = data
        return Attachment(filename, content_type, len(data), sha256)

    def subscribe(self) -> MemoryObjectReceiveStream[tuple[Address, OutboundMessage]]:
        """A stream of everything sent from now on, as ``(to, message)``."""
        send, receive = anyio.create_memory_object_stream[tuple[Address, OutboundMessage]](math.inf)
        self._subscribers.append(send)
        return receive

    def fail_next(self, error: Exception, times: int = 1) -> None:
        """Make the next ``times`` sends raise ``error`` (a retryable or permanent failure)."""
        self._failures.extend([error] * times)


@hookimpl
def trunkline_register_channels() -> list[type[ChannelAdapter]]:
    return [MemoryChannel]
