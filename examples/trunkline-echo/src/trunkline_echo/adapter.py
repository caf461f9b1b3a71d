"""The echo channel adapter: customers chat over TCP, one JSON line per message.

The adapter listens on ``host:port`` and serves each connection in its own task of one task
group. A customer line becomes an :class:`~trunkline.InboundMessage` from ``Address("echo",
<from>)``; the line is answered with an ack only after the runtime's handler returned, that
is, once the message is stored. Replies go back on the connection the customer last wrote
from. This module is the part of a real plugin that would use its provider's SDK, so the
entry point (:mod:`trunkline_echo.plugin`) imports it only inside its hooks.
"""

from __future__ import annotations

import collections
import hmac
import logging
from functools import partial
from typing import Any, ClassVar

import anyio
import anyio.abc
import attrs
from anyio.abc import SocketAttribute

from trunkline import (
    Address,
    Capabilities,
    InboundHandler,
    InboundMessage,
    InboundRejected,
    OutboundMessage,
    PermanentSendError,
    Receipt,
    Secret,
    TemporaryFailure,
    secret,
)

from . import wire

__all__ = ["ADDRESS_KIND", "CustomerNotConnected", "EchoChannel", "EchoSettings"]

log = logging.getLogger("trunkline_echo")

ADDRESS_KIND = "echo"  # Address("echo", <the "from" name>)
WRITE_TIMEOUT = 5.0  # seconds a customer who stopped reading may hold up a reply
RECENT = 1000  # deliveries kept in EchoChannel.sent, and dedupe keys remembered


def _port(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"port {value} is not from 0 to 65535 (0 picks any free port)")


def _at_least(minimum: int) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


@attrs.frozen
class EchoSettings:
    """Settings of an echo channel (``[workspaces.<w>.channels.<name>.settings]``).

    ``port = 0`` listens on any free port; the adapter's ``port`` attribute tells which.
    ``max_line_bytes`` bounds one line on the wire (JSON included); ``max_text_length`` bounds
    the message text in characters. ``shared_key``, when set, must come with every line as
    ``"key"``; give it as ``{ env = "VARIABLE" }``.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=0, validator=_port)
    max_line_bytes: int = attrs.field(default=16384, validator=_at_least(64))
    max_text_length: int = attrs.field(default=4096, validator=_at_least(1))
    shared_key: Secret | None = secret()


class CustomerNotConnected(Exception):
    """Raised by ``send`` when the customer has no open connection; the outbox retries."""


class _Connection:
    """One customer connection. Writes are serialised: acks and replies share the stream."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.lock = anyio.Lock()

    async def write(self, line: bytes) -> None:
        async with self.lock:
            await self.stream.send(line)


class EchoChannel:
    """A line-based TCP chat channel. See the module docstring and ``trunkline_echo.wire``."""

    name: ClassVar[str] = "echo"
    kind: str = "chat"
    capabilities: Capabilities = Capabilities(
        inbound=True, outbound=True, dedupe_key=True, max_body_length=4096
    )
    Settings: ClassVar[type[EchoSettings]] = EchoSettings

    def __init__(self, settings: EchoSettings, *, instance: str, workspace: str) -> None:
        self.settings = settings
        self.instance = instance
        self.workspace = workspace
        self.capabilities = attrs.evolve(
            type(self).capabilities, max_body_length=settings.max_text_length
        )
        self.port: int | None = None  # the bound port, once listening
        #: The most recent deliveries, newest last, as ``(to, message)``: for tests and debugging.
        self.sent: collections.deque[tuple[Address, OutboundMessage]] = collections.deque(
            maxlen=RECENT
        )
        self._customers: dict[str, _Connection] = {}  # "from" name -> its latest connection
        self._receipts: collections.OrderedDict[str, Receipt] = collections.OrderedDict()
        self._counter = 0

    # The adapter protocol -----------------------------------------------------------------

    async def run(
        self,
        inbound: InboundHandler,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled; every connection is served in the listener's task group."""
        listener = await anyio.create_tcp_listener(
            local_host=self.settings.host, local_port=self.settings.port
        )
        async with listener:
            self.port = listener.extra(SocketAttribute.local_port)
            log.info(
                'echo channel "%s" listening on %s:%d', self.instance, self.settings.host, self.port
            )
            task_status.started()
            try:
                await listener.serve(partial(self._serve, inbound))
            finally:
                self.port = None

    async def send(self, to: Address, message: OutboundMessage) -> Receipt:
        """Write ``{"reply": …}`` to the customer's open connection.

        Raises :class:`CustomerNotConnected` (retryable: chat customers reconnect, and the
        outbox tries again with backoff) when nobody is connected as ``to.value``, and
        :class:`~trunkline.PermanentSendError` for an address this channel cannot reach.
        """
        if to.kind != ADDRESS_KIND:
            raise PermanentSendError(
                f'echo channel "{self.instance}": cannot reach {to} '
                f'(expected an address of kind "{ADDRESS_KIND}")'
            )
        key = message.dedupe_key
        if key is not None and key in self._receipts:
            return self._receipts[key]
        connection = self._customers.get(to.value)
        if connection is None:
            raise CustomerNotConnected(
                f'echo channel "{self.instance}": customer "{to.value}" is not connected; '
                "the reply is delivered when they send a line again"
            )
        try:
            with anyio.fail_after(WRITE_TIMEOUT):
                await connection.write(wire.reply_line(message.body, message.message_id))
        except (TimeoutError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self._forget(connection)
            await connection.stream.aclose()  # a half-written line would corrupt the framing
            raise CustomerNotConnected(
                f'echo channel "{self.instance}": connection of customer "{to.value}" '
                f"failed while sending ({type(exc).__name__}); it was closed"
            ) from exc
        self._counter += 1
        receipt = Receipt(provider_id=f"{self.instance}-out-{self._counter}")
        if key is not None:
            self._receipts[key] = receipt
            if len(self._receipts) > RECENT:
                self._receipts.popitem(last=False)
        self.sent.append((to, message))
        return receipt

    async def aclose(self) -> None:
        """Connections close with their tasks when ``run`` is cancelled; forget them."""
        self._customers.clear()

    def is_connected(self, customer: str) -> bool:
        """True while a connection that ``customer`` wrote from is open (replies can go)."""
        return customer in self._customers

    # Serving connections ------------------------------------------------------------------

    async def _serve(self, inbound: InboundHandler, stream: anyio.abc.SocketStream) -> None:
        connection = _Connection(stream)
        lines = wire.LineSplitter(self.settings.max_line_bytes)
        try:
            async with stream:
                while True:
                    try:
                        data = await stream.receive()
                    except (
                        anyio.EndOfStream,
                        anyio.BrokenResourceError,
                        anyio.ClosedResourceError,
                    ):
                        return
                    for line in lines.feed(data):
                        if isinstance(line, bytes) and not line.strip():
                            continue  # blank lines keep a connection alive; nothing to answer
                        await connection.write(await self._answer(connection, line, inbound))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the customer went away while we answered
        except Exception:
            # One connection's failure must not take the listener and other customers down.
            log.exception('echo channel "%s": a connection failed', self.instance)
        finally:
            self._forget(connection)

    async def _answer(
        self, connection: _Connection, line: bytes | wire.TooLong, inbound: InboundHandler
    ) -> bytes:
        """The answer line for one customer line: an ack once stored, or an error."""
        try:
            message = self._check(line)
        except wire.WireError as exc:
            return wire.error_line(str(exc))
        self._customers[message.sender.value] = connection  # replies go where they last wrote
        try:
            ack = await inbound(message)
        except InboundRejected as exc:
            return wire.error_line(f"refused: {exc}")
        except TemporaryFailure as exc:
            return wire.error_line(f"not stored, send it again later: {exc}", retry=True)
        except Exception:
            log.exception('echo channel "%s": the runtime failed on a message', self.instance)
            return wire.error_line(
                "internal error: the message may not be stored; send it again later "
                "(the same id is recognised, so it is never stored twice)",
                retry=True,
            )
        return wire.ack_line(
            ack.message_id, ack.contact_id, duplicate=ack.duplicate, new_contact=ack.new_contact
        )

    def _check(self, line: bytes | wire.TooLong) -> InboundMessage:
        """Parse a line and apply this channel's limits and key; raises WireError."""
        if isinstance(line, wire.TooLong):
            raise wire.WireError(line.message())
        parsed = wire.parse_customer_line(line)
        expected = self.settings.shared_key
        if expected is not None:
            if parsed.key is None:
                raise wire.WireError('missing field "key": this channel requires the shared key')
            if not hmac.compare_digest(parsed.key.encode(), expected.get().encode()):
                raise wire.WireError('wrong "key": it does not match the shared key')
        limit = self.settings.max_text_length
        if len(parsed.text) > limit:
            raise wire.WireError(
                f"text of {len(parsed.text)} characters exceeds max_text_length={limit}"
            )
        return InboundMessage(
            channel=self.instance,
            sender=Address(ADDRESS_KIND, parsed.sender),
            body=parsed.text,
            provider_id=parsed.id,
        )

    def _forget(self, connection: _Connection) -> None:
        for name in [n for n, c in self._customers.items() if c is connection]:
            del self._customers[name]
