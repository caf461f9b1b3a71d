"""Fixtures for the web-chat plugin's tests: a runtime with a web-chat channel, served for real.

The plugin's routes (from its ``trunkline_register_routes`` hook) are mounted in a Starlette
app and served by core's ``trunkline_web.server`` on a loopback port, WebSockets on; visitors
are ``websockets`` clients, uploads go over httpx. uvicorn serves on asyncio only, so these
tests (unlike echo's) do not run on trio.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from trunkline import Runtime, load_plugins
from trunkline.testing import build_runtime
from trunkline_web import server
from trunkline_webchat import plugin
from trunkline_webchat.adapter import WebChatChannel

WORKSPACE = "acme"
CHANNEL = "site-chat"


def new_visitor() -> str:
    """A visitor's token, made as the server makes them (tests say hello with their own)."""
    return secrets.token_urlsafe(32)


def address_of(token: str) -> str:
    """The address value agents see for the visitor holding ``token`` (its SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


def webchat_channel(name: str, **settings: Any) -> dict[str, Any]:
    """A web-chat channel's table, for :func:`tenants_config`."""
    return {name: {"adapter": "webchat", "queue": "support", "settings": settings}}


def tenants_config(workspaces: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Workspaces, each with one queue and one agent, and the channels given for each."""
    return {
        "outbox": {"backoff": 0.05, "poll_interval": 0.1, "max_attempts": 3},
        "workspaces": {
            workspace: {
                "queues": {"support": {}},
                "agents": {"alice": {"capacity": {"chat": 4}, "queues": ["support"]}},
                "channels": dict(channels),
            }
            for workspace, channels in workspaces.items()
        },
    }


def webchat_config(
    settings: Mapping[str, Any],
    queue: Mapping[str, Any] | None = None,
    hours: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One workspace, one queue (with ``queue``'s keys), one agent, one web-chat channel,
    and the business ``hours`` schedules given."""
    return {
        "outbox": {"backoff": 0.05, "poll_interval": 0.1, "max_attempts": 3},
        "workspaces": {
            WORKSPACE: {
                "hours": dict(hours or {}),
                "queues": {"support": dict(queue or {})},
                "agents": {
                    "alice": {"name": "Alice", "capacity": {"chat": 4}, "queues": ["support"]}
                },
                "channels": {
                    CHANNEL: {"adapter": "webchat", "queue": "support", "settings": dict(settings)}
                },
            }
        },
    }


@asynccontextmanager
async def serving_web(runtime: Runtime) -> AsyncIterator[str]:
    """Serve core's whole app with ``trunkline serve``'s server and its ``[web]`` settings
    (``run_web``); yield the base URL."""
    from trunkline_web.app import run_web

    async with anyio.create_task_group() as tg:
        address = await tg.start(run_web, runtime)
        try:
            yield address.rstrip("/")
        finally:
            tg.cancel_scope.cancel()


@asynccontextmanager
async def serving(
    runtime: Runtime, extra: Iterable[BaseRoute] = (), *, sock: Any = None
) -> AsyncIterator[str]:
    """Serve the plugin's routes for ``runtime`` (and ``extra`` routes) on loopback; yield the
    base URL, ``http://127.0.0.1:<port>``."""
    routes = [*plugin.trunkline_register_routes(runtime=runtime), *extra]
    app = Starlette(routes=routes)
    sock = sock or await server.listen("127.0.0.1", 0, what="web-chat tests")
    port = sock.getsockname()[1]
    async with anyio.create_task_group() as tg:
        await tg.start(partial(server.serve, app, sock, what="web-chat tests", websockets=True))
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()


class Visitor:
    """A visitor's socket: frames are read in the background, in order, as they come.

    ``token`` is the visitor's credential, sent in their hello; ``id`` is their address value,
    what agents see (and what thread keys and the store know them by)."""

    def __init__(self, ws: ClientConnection, token: str) -> None:
        self.ws = ws
        self.token = token
        self.id = address_of(token)
        self.frames: list[dict[str, Any]] = []  # everything received, in order
        self.unread: list[dict[str, Any]] = []
        self.closed = anyio.Event()
        self._arrived = anyio.Event()

    async def read(self) -> None:
        try:
            async for text in self.ws:
                frame = json.loads(text)
                self.frames.append(frame)
                self.unread.append(frame)
                self._arrived.set()
                self._arrived = anyio.Event()
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._arrived.set()

    async def expect(
        self,
        kind: str | None = None,
        *,
        where: Callable[[dict[str, Any]], bool] | None = None,
        within: float = 5.0,
    ) -> dict[str, Any]:
        """The first unread frame of type ``kind`` (any type: None) for which ``where`` holds;
        the frames it passes over stay unread."""
        with anyio.fail_after(within):
            while True:
                for frame in self.unread:
                    if (kind is None or frame.get("type") == kind) and (
                        where is None or where(frame)
                    ):
                        self.unread.remove(frame)
                        return frame
                if self.closed.is_set():
                    raise AssertionError(
                        f"the socket closed ({self.close_code} {self.close_reason!r}) before a "
                        f"{kind or 'frame'} came; unread: {self.unread}"
                    )
                await self._arrived.wait()

    async def seen(
        self, where: Callable[[dict[str, Any]], bool], *, within: float = 5.0
    ) -> dict[str, Any]:
        """A frame received so far or next for which ``where`` holds, read or not."""
        with anyio.fail_after(within):
            while True:
                for frame in self.frames:
                    if where(frame):
                        return frame
                if self.closed.is_set():
                    raise AssertionError("the socket closed before the expected frame came")
                await self._arrived.wait()

    async def nothing_more(self, wait: float = 0.3) -> None:
        """Assert that no frame arrives for ``wait`` seconds."""
        await anyio.sleep(wait)
        assert self.unread == [], self.unread

    async def send_json(self, frame: Mapping[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def hello(self, resume_after: str | None = None, **extra: Any) -> dict[str, Any]:
        frame = {"type": "hello", "token": self.token, "resume_after": resume_after, **extra}
        await self.send_json(frame)
        return await self.expect("welcome")

    async def say(
        self, text: str, *, id: str | None = None, attachments: Iterable[str] = (), **extra: Any
    ) -> dict[str, Any]:
        """Send a message (with the ``extra`` fields); return the server's answer to it (ack,
        retry or error)."""
        client_id = id or str(uuid.uuid4())
        frame: dict[str, Any] = {"type": "message", "id": client_id, "text": text, **extra}
        if attachments:
            frame["attachments"] = list(attachments)
        await self.send_json(frame)
        return await self.answer_to(client_id)

    async def answer_to(self, client_id: str) -> dict[str, Any]:
        """The server's answer (ack, retry or error) to the message ``client_id``."""
        return await self.expect(
            where=lambda f: f.get("id") == client_id and f["type"] in ("ack", "retry", "error")
        )

    async def wait_closed(self, within: float = 5.0) -> tuple[int | None, str | None]:
        with anyio.fail_after(within):
            await self.closed.wait()
        return self.close_code, self.close_reason

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    @property
    def close_reason(self) -> str | None:
        return self.ws.close_reason

    async def close(self) -> None:
        await self.ws.close()
        await self.closed.wait()


class Chat:
    """A running runtime with its web-chat channel served over loopback."""

    def __init__(
        self,
        runtime: Runtime,
        channel: WebChatChannel,
        url: str,
        http: httpx.AsyncClient,
        tasks: anyio.abc.TaskGroup,
    ) -> None:
        self.runtime = runtime
        self.channel = channel
        self.url = url
        self.http = http
        self._tasks = tasks
        self.visitors: list[Visitor] = []
        self._uploader: Visitor | None = None

    @property
    def page_url(self) -> str:
        return f"{self.url}/chat/{CHANNEL}/"

    def ws_url(self, channel: str = CHANNEL) -> str:
        return self.url.replace("http://", "ws://") + f"/chat/{channel}/ws"

    async def connect(
        self,
        token: str | None = None,
        *,
        origin: str | None = None,
        channel: str = CHANNEL,
        max_size: int | None = 2**20,
        headers: Mapping[str, str] | None = None,
    ) -> Visitor:
        """A visitor's open socket (no hello said yet), holding ``token`` (else a new one)."""
        ws = await connect(
            self.ws_url(channel),
            origin=origin,  # type: ignore[arg-type]
            additional_headers=headers,
            proxy=None,
            max_size=max_size,
            open_timeout=5,
            close_timeout=2,
        )
        client = Visitor(ws, token or new_visitor())
        self.visitors.append(client)
        self._tasks.start_soon(client.read)
        return client

    async def visitor(
        self, token: str | None = None, *, channel: str = CHANNEL, **hello: Any
    ) -> Visitor:
        """A visitor's socket, welcomed."""
        client = await self.connect(token, channel=channel)
        await client.hello(**hello)
        return client

    async def chatting(
        self, token: str | None = None, *, channel: str = CHANNEL, **hello: Any
    ) -> Visitor:
        """A visitor's socket, welcomed, with an open contact: they wrote "hi" (files are
        taken within an open chat only)."""
        client = await self.visitor(token, channel=channel, **hello)
        answer = await client.say("hi")
        assert answer["type"] == "ack", answer
        return client

    async def upload(
        self,
        content: bytes,
        *,
        token: str | None = None,
        filename: str = "file.bin",
        content_type: str = "application/octet-stream",
        headers: Mapping[str, str] | None = None,
        channel: str = CHANNEL,
    ) -> httpx.Response:
        """Upload a file as the visitor holding ``token``; without one, as a visitor with an
        open chat (the same one each time)."""
        if token is None:
            if self._uploader is None:
                self._uploader = await self.chatting()
            token = self._uploader.token
        return await self.http.post(
            f"{self.url}/chat/{channel}/files",
            data={"token": token},
            files={"file": (filename, content, content_type)},
            headers=headers,
        )

    async def aclose(self) -> None:
        for client in self.visitors:
            await client.ws.close()


RunChat = Callable[..., AbstractAsyncContextManager[Chat]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def run_chat(tmp_path: Path) -> RunChat:
    """``async with run_chat(settings, plugins=…, queue=…, hours=…, env=…) as chat:`` — files
    go to ``tmp_path``; ``queue`` and ``hours`` configure the queue and its schedules; ``env``
    holds the environment the settings' secrets (``{ env = "VAR" }``) are read from.
    ``config`` replaces the whole configuration (its web-chat channels keep files in
    ``tmp_path`` unless they say otherwise); with ``web`` (the ``[web]`` table), core's whole
    app is served by ``run_web`` instead of the plugin's routes alone."""

    @asynccontextmanager
    async def running(
        settings: Mapping[str, Any] | None = None,
        *,
        plugins: Iterable[tuple[str, object]] = (),
        extra_routes: Iterable[BaseRoute] = (),
        sock: Any = None,
        queue: Mapping[str, Any] | None = None,
        hours: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        web: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Chat]:
        pm = load_plugins({"TRUNKLINE_PLUGINS": "webchat,web"}, extra=plugins)
        files = {"files_dir": str(tmp_path / "files")}
        if config is None:
            data = webchat_config({**files, **(settings or {})}, queue, hours)
        else:
            data = json.loads(json.dumps(config))  # a copy to fill in
            for workspace in data["workspaces"].values():
                for table in workspace.get("channels", {}).values():
                    if table["adapter"] == "webchat":
                        table["settings"] = {**files, **table.get("settings", {})}
        if web is not None:
            data["web"] = {"host": "127.0.0.1", "port": 0, **web}
        runtime = build_runtime(pm, data, env=env)
        served = (
            serving_web(runtime) if web is not None else serving(runtime, extra_routes, sock=sock)
        )
        async with (
            runtime.running(),
            served as url,
            httpx.AsyncClient(timeout=10, trust_env=False) as http,
            anyio.create_task_group() as tasks,
        ):
            channel = runtime.channel(CHANNEL)
            assert isinstance(channel, WebChatChannel)
            chat = Chat(runtime, channel, url, http, tasks)
            try:
                yield chat
            finally:
                await chat.aclose()

    return running
