"""The web-chat channel passes Trunkline's channel conformance suite, driven over real sockets.

``inject`` sends the sample as a visitor would: attachments uploaded over HTTP first (within
an open chat, as the widget does: a visitor with none writes a first message before), then a
``message`` frame on the visitor's WebSocket; the ``Ack`` is built from the server's ``ack``
frame (and the store, for the contact). ``sent`` is what the visitors' sockets received. The
suite runs on asyncio only: uvicorn, which serves the routes, does not run on trio.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from trunkline import Ack, Address, OutboundMessage, Receipt, Runtime
from trunkline.testing.suite import WORKSPACE, ChannelConformance, Sample
from trunkline_webchat.adapter import WebChatChannel

from .conftest import Visitor, address_of, new_visitor, serving

SETTINGS = {"max_text_length": 200}


class ChatRefused(Exception):
    """The server answered a frame with an error; the message is its text."""


class TestWebChatChannel(ChannelConformance):
    adapter = WebChatChannel
    settings = SETTINGS  # files_dir: a temporary directory, set when running

    runtime: Runtime
    url: str
    http: httpx.AsyncClient
    tasks: anyio.abc.TaskGroup
    sockets: dict[str, Visitor]  # by address value
    tokens: dict[str, str]  # sample sender -> their visitor's token
    pushed: dict[str, tuple[str, str | None]]  # message id -> (contact id, dedupe key)

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"  # uvicorn serves on asyncio only

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[Runtime, Any]]:
        with tempfile.TemporaryDirectory() as files:
            self.settings = {**SETTINGS, "files_dir": files}
            async with super().running() as (runtime, channel):
                self.runtime = runtime
                self.sockets = {}
                self.tokens = {}
                self.pushed = {}
                self._watch_sends(channel)
                async with (
                    serving(runtime) as url,
                    httpx.AsyncClient(base_url=url, timeout=10, trust_env=False) as http,
                    anyio.create_task_group() as tasks,
                ):
                    self.url, self.http, self.tasks = url, http, tasks
                    try:
                        yield runtime, channel
                    finally:
                        for socket in self.sockets.values():
                            await socket.ws.close()

    def _watch_sends(self, channel: WebChatChannel) -> None:
        """Remember what each send was for, and return only once the visitor's socket has
        received the message, so ``sent`` is never read before a push arrives."""
        send = channel.send

        async def watched(to: Address, message: OutboundMessage) -> Receipt:
            receipt = await send(to, message)
            self.pushed.setdefault(message.message_id, (message.contact_id, message.dedupe_key))
            socket = self.sockets.get(to.value)
            if socket is not None:
                await socket.seen(
                    lambda f: f["type"] == "message" and f["message"]["id"] == message.message_id
                )
            return receipt

        channel.send = watched  # type: ignore[method-assign]

    async def socket(self, sender: str) -> Visitor:
        """The sample sender's socket, opened and welcomed on first use."""
        token = self.tokens.setdefault(sender, new_visitor())
        visitor = address_of(token)  # what the channel sends to
        if visitor not in self.sockets:
            from websockets.asyncio.client import connect

            ws_url = self.url.replace("http://", "ws://") + "/chat/channel-under-test/ws"
            ws = await connect(ws_url, proxy=None, open_timeout=5)
            socket = Visitor(ws, token)
            self.tasks.start_soon(socket.read)
            await socket.hello()
            self.sockets[visitor] = socket
        return self.sockets[visitor]

    async def inject(self, channel: WebChatChannel, sample: Sample) -> Ack:
        socket = await self.socket(sample.sender)
        hashes = []
        thread = f"{channel.instance}:{socket.id}"
        if sample.attachments and await self.runtime.store.open_contact(WORKSPACE, thread) is None:
            opened = await socket.say("I have a file for you")  # files come within a chat
            if opened["type"] != "ack":
                raise ChatRefused(opened.get("error", str(opened)))
        for attachment, content in sample.attachments:
            answer = await self.http.post(
                "/chat/channel-under-test/files",
                data={"token": socket.token},
                files={"file": (attachment.filename, content, attachment.content_type)},
            )
            if answer.status_code != 200:
                raise ChatRefused(f"{answer.status_code}: {answer.text}")
            hashes.append(answer.json()["sha256"])
        answer = await socket.say(
            sample.body, id=sample.provider_id or str(uuid.uuid4()), attachments=hashes
        )
        if answer["type"] != "ack":
            raise ChatRefused(answer.get("error", str(answer)))
        contact = await self.runtime.store.open_contact(
            WORKSPACE, f"{channel.instance}:{socket.id}"
        )
        assert contact is not None
        messages = await self.runtime.store.messages(WORKSPACE, contact.id)
        return Ack(
            contact_id=contact.id,
            message_id=answer["message_id"],
            duplicate=answer["duplicate"],
            new_contact=not answer["duplicate"] and messages[0].id == answer["message_id"],
        )

    def sent(self, channel: WebChatChannel) -> Sequence[tuple[Address, OutboundMessage]]:
        found = []
        for visitor, socket in self.sockets.items():
            for frame in socket.frames:
                if frame["type"] != "message":
                    continue
                message = frame["message"]
                contact_id, dedupe_key = self.pushed.get(message["id"], ("", None))
                found.append(
                    (
                        Address("webchat", visitor),
                        OutboundMessage(
                            message_id=message["id"],
                            contact_id=contact_id,
                            body=message["body"],
                            dedupe_key=dedupe_key,
                        ),
                    )
                )
        return found

    async def inject_malformed(self, channel: WebChatChannel) -> None:
        socket = await self.socket("malformed")
        await socket.ws.send("this is not JSON")
        raise ChatRefused((await socket.expect("error"))["error"])
