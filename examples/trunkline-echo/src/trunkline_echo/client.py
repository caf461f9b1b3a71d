"""A customer's side of an echo connection: send lines, read answers and agents' replies.

Used by the ``echo-say`` command and by the tests, and a starting point for a real chat
front end. Answers (``ack`` or ``error``) come back one per line sent, in order; replies can
arrive at any time, so lines read while waiting for an answer are kept in :attr:`replies`.
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from trunkline import Ack

from . import wire

__all__ = ["EchoClient", "EchoRefused", "ack_from_answer"]

MAX_ANSWER_BYTES = 1 << 20


class EchoRefused(Exception):
    """The channel answered ``{"error": …}``; the message is the channel's own text."""

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


def ack_from_answer(answer: dict[str, Any]) -> Ack:
    """The runtime's Ack carried by an answer line; raises EchoRefused for an error line."""
    if "error" in answer:
        raise EchoRefused(str(answer["error"]), retry=bool(answer.get("retry")))
    return Ack(
        contact_id=answer["contact"],
        message_id=answer["ack"],
        duplicate=bool(answer["duplicate"]),
        new_contact=bool(answer.get("new_contact", False)),
    )


class EchoClient:
    """One TCP connection to an echo channel. Use ``async with await EchoClient.connect(…)``."""

    def __init__(self, stream: anyio.abc.ByteStream, *, key: str | None = None) -> None:
        self.stream = stream
        self.key = key
        self.replies: list[dict[str, Any]] = []  # reply lines not yet taken with reply()
        self._lines = wire.LineSplitter(MAX_ANSWER_BYTES)
        self._pending: list[bytes | wire.TooLong] = []

    @classmethod
    async def connect(cls, host: str, port: int, *, key: str | None = None) -> EchoClient:
        """Open a connection; ``key`` is added to every line sent with :meth:`say`."""
        return cls(await anyio.connect_tcp(host, port), key=key)

    async def __aenter__(self) -> EchoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.stream.aclose()

    # Sending ----------------------------------------------------------------------------

    async def say(self, sender: str, text: str, *, id: str | None = None) -> dict[str, Any]:
        """Send one message and return the channel's answer (an ack or an error object)."""
        line = wire.customer_line(sender, text, id or f"say-{uuid.uuid4().hex}", key=self.key)
        return await self.send_raw(line)

    async def deliver(self, sender: str, text: str, *, id: str | None = None) -> Ack:
        """Send one message and return the runtime's Ack; raises EchoRefused if refused."""
        return ack_from_answer(await self.say(sender, text, id=id))

    async def send_raw(self, data: bytes) -> dict[str, Any]:
        """Send bytes as they are (one line, newline included) and return the answer."""
        await self.stream.send(data)
        return await self.answer()

    # Receiving --------------------------------------------------------------------------

    async def answer(self) -> dict[str, Any]:
        """The next ack or error line; replies read on the way are kept in :attr:`replies`."""
        while True:
            obj = await self._next()
            if "reply" in obj:
                self.replies.append(obj)
            else:
                return obj

    async def reply(self) -> dict[str, Any]:
        """The next agent reply (``{"reply": body, "message_id": …}``), waiting if need be."""
        while not self.replies:
            obj = await self._next()
            if "reply" not in obj:
                raise wire.WireError(f"expected a reply, got an unrequested answer: {obj}")
            self.replies.append(obj)
        return self.replies.pop(0)

    async def _next(self) -> dict[str, Any]:
        while not self._pending:
            try:
                data = await self.stream.receive()
            except anyio.EndOfStream:
                raise ConnectionError("the echo channel closed the connection") from None
            self._pending += self._lines.feed(data)
        line = self._pending.pop(0)
        if isinstance(line, wire.TooLong):
            raise wire.WireError(line.message())
        return wire.parse_object(line)
