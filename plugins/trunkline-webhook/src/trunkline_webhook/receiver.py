"""A callback receiver: a tiny local HTTP server that takes a webhook channel's replies.

For tests, examples and load tests, so they check what really went over HTTP. Point the
channel's ``callback_url`` at :attr:`CallbackReceiver.url`; every POST is recorded in
:attr:`~CallbackReceiver.received` before it is answered, so once ``send`` returned, its
request is there. The receiver answers ``200 {"id": "cb-<n>"}`` unless told otherwise with
:meth:`~CallbackReceiver.answer_next`. With a ``secret`` it checks ``X-Trunkline-Timestamp``
and ``X-Trunkline-Signature`` as a channel does (``legacy=True`` also takes the old form) and
answers 401 to a request signed wrongly (recorded all the same).

Like the channel, it runs on asyncio only (uvicorn). Import it explicitly; the plugin's
entry point never does.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.abc
import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline import Address, OutboundMessage
from trunkline_web import server

from . import wire

__all__ = ["Callback", "CallbackReceiver"]

PATH = "/replies"


@attrs.frozen
class Callback:
    """One request the receiver got: its headers (names in lower case) and raw body."""

    headers: Mapping[str, str]
    body: bytes
    signature_ok: bool | None = None  # None when the receiver has no secret to check with

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def as_sent(self) -> tuple[Address, OutboundMessage]:
        """The reply this callback carries, as the ``(to, message)`` the channel was asked
        to send."""
        obj = self.json()
        return Address(wire.ADDRESS_KIND, obj["to"]), OutboundMessage(
            message_id=obj["message_id"],
            contact_id=obj["contact_id"],
            body=obj["text"],
            subject=obj["subject"],
            dedupe_key=obj["dedupe_key"],
        )


class CallbackReceiver:
    """Receives reply callbacks on ``host`` (loopback by default) and records them.

    Use ``async with CallbackReceiver().running() as receiver:`` or start :meth:`run` in
    your own task group with ``await tg.start(receiver.run)``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: str | None = None,
        legacy: bool = False,
    ):
        self.host = host
        self.requested_port = port
        self.secret = secret
        self.legacy = legacy
        self.port: int | None = None  # the bound port, while running
        self.received: list[Callback] = []
        self._answers: collections.deque[tuple[int, Any]] = collections.deque()
        self._arrived = anyio.Event()

    @property
    def url(self) -> str:
        """Where to POST, e.g. ``http://127.0.0.1:43117/replies``: the channel's
        ``callback_url``."""
        if self.port is None:
            raise RuntimeError("the callback receiver is not running; start it first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{PATH}"

    def answer_next(self, status: int, body: Any = None, *, times: int = 1) -> None:
        """Answer the next ``times`` callbacks with ``status`` and JSON ``body`` (after that,
        200 again), e.g. ``answer_next(503)`` for a receiver that is down for a moment."""
        for _ in range(times):
            self._answers.append((status, body))

    def sent(self) -> list[tuple[Address, OutboundMessage]]:
        """Every reply received, as ``(to, message)``, in order of arrival."""
        return [callback.as_sent() for callback in self.received]

    async def wait_for(self, count: int, *, within: float = 5.0) -> list[Callback]:
        """Wait until ``count`` callbacks have arrived in all; fail after ``within`` s."""
        with anyio.fail_after(within):
            while len(self.received) < count:
                await self._arrived.wait()
        return self.received[:count]

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled; ``task_status.started()`` once listening."""
        what = "callback receiver"
        sock = await server.listen(self.host, self.requested_port, what=what)
        app = Starlette(routes=[Route(PATH, self._receive, methods=["POST"])])
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(partial(server.serve, app, sock, what=what))
                self.port = int(sock.getsockname()[1])
                task_status.started()
        finally:
            self.port = None
            sock.close()  # serve() closes it; this covers a failure before serve() ran

    @asynccontextmanager
    async def running(self) -> AsyncIterator[CallbackReceiver]:
        """Run for the duration of the ``async with`` block."""
        async with anyio.create_task_group() as tg:
            await tg.start(self.run)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        signature_ok = None
        if self.secret is not None:
            problem = wire.signature_problem(
                self.secret,
                body,
                request.headers.get(wire.SIGNATURE_HEADER),
                request.headers.get(wire.TIMESTAMP_HEADER),
                now=time.time(),
                legacy=self.legacy,
            )
            signature_ok = problem is None
        self.received.append(Callback(dict(request.headers), body, signature_ok))
        self._arrived.set()
        self._arrived = anyio.Event()
        if signature_ok is False:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if self._answers:
            status, answer = self._answers.popleft()
            return JSONResponse(answer, status_code=status)
        return JSONResponse({"id": f"cb-{len(self.received)}"})
