"""Serving an ASGI app with uvicorn inside an anyio task: ready once listening, graceful stop.

uvicorn's ``Server.serve()`` is written to own a process: it installs SIGINT/SIGTERM
handlers, exits the process when it cannot bind, and stops only when ``should_exit`` is set.
:func:`serve` makes it a well-behaved task of an anyio task group instead:

- the socket is bound first, by :func:`listen`, so a busy port is an ``OSError`` naming the
  address, never a ``SystemExit``;
- ``task_status.started()`` is called only once uvicorn accepts connections;
- signal handling is left to the application (``trunkline serve`` stops on Ctrl-C);
- on cancellation the server stops accepting, closes idle keep-alive connections and lets
  requests in flight finish (at most :data:`GRACEFUL_SHUTDOWN` seconds), so a sender whose
  message was stored still gets its answer.

uvicorn runs on asyncio only; under trio :func:`listen` raises a ``RuntimeError`` saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import anyio
import anyio.abc
import uvicorn
from starlette.types import ASGIApp

__all__ = ["GRACEFUL_SHUTDOWN", "listen", "serve"]

log = logging.getLogger("trunkline.web")

GRACEFUL_SHUTDOWN = 5  # seconds requests in flight may take to finish once stopping
BACKLOG = 2048
# The largest WebSocket message read (uvicorn closes the socket with 1009 past it, before
# reading it whole); the API and the channels check their own smaller limits on top.
WS_MAX_SIZE = 1024 * 1024


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals alone and says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The host application owns the process's signals; uvicorn would take SIGINT and
        # SIGTERM for itself, stop only this server, and re-raise them once it is done.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


def _require_asyncio(what: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"{what}: uvicorn serves HTTP on asyncio only; run Trunkline on the asyncio "
            "backend (trunkline serve does; anyio.run(main) does by default)"
        ) from None


async def listen(host: str, port: int, *, what: str) -> socket.socket:
    """A socket listening on ``host:port`` (``port`` 0: any free port), for :func:`serve`.

    Raises ``OSError`` naming the address (a busy port, an unknown host) and
    ``RuntimeError`` outside asyncio; ``what`` names the server, e.g. ``webhook channel
    "support-hook"``. Called before any task group, so the error reaches the caller as is.
    """
    _require_asyncio(what)
    try:
        infos = await anyio.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(f"{what}: cannot listen on {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise OSError(f"{what}: cannot listen on {host}:{port}: {reason}") from exc
    return sock


async def serve(
    app: ASGIApp,
    sock: socket.socket,
    *,
    what: str,
    websockets: bool = False,
    proxy_headers: bool = False,
    forwarded_allow_ips: str = "127.0.0.1",
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on the listening ``sock`` until cancelled, then close it.

    ``task_status.started()`` is called once uvicorn accepts connections. ``websockets``
    turns WebSocket support on (the ``websockets`` library's sans-I/O protocol). With
    ``proxy_headers``, a request from a peer in ``forwarded_allow_ips`` (comma-separated
    addresses or networks, ``"*"`` for any) has its client address and scheme taken from
    ``X-Forwarded-For`` and ``X-Forwarded-Proto``; otherwise those headers are ignored and the
    client is the peer.
    """
    config = uvicorn.Config(
        app,
        http="h11",  # pure Python, always installed: no optional C extension decides behaviour
        ws="websockets-sansio" if websockets else "none",
        lifespan="off",
        log_config=None,  # never reconfigure the host application's logging
        access_log=False,
        server_header=False,
        proxy_headers=proxy_headers,
        # Always given, so uvicorn never reads FORWARDED_ALLOW_IPS from the environment.
        forwarded_allow_ips=forwarded_allow_ips,
        backlog=BACKLOG,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        ws_max_size=WS_MAX_SIZE,
    )
    server = _EmbeddedServer(config)

    async def run_server() -> None:
        # Shielded: when our task is cancelled, uvicorn must still run its graceful shutdown
        # (answer requests in flight, close connections). It is told to stop by should_exit.
        with anyio.CancelScope(shield=True):
            await server.serve(sockets=[sock])
        if not server.should_exit:
            raise RuntimeError(f"{what}: the HTTP server stopped unexpectedly")

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            try:
                await server.listening.wait()
                task_status.started()
                await anyio.sleep_forever()
            finally:
                server.should_exit = True
    finally:
        sock.close()  # uvicorn closes it on shutdown; this covers a failure before that
