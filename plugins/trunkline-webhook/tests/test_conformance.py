"""The webhook channel passes Trunkline's channel conformance suite, driven over real HTTP.

``inject`` POSTs a signed JSON request (timestamp and signature) to the running channel and builds the ``Ack`` from its
202 answer; ``sent`` is what a local callback receiver got over HTTP. The suite runs on
asyncio only: uvicorn, which serves the channel, does not run on trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from trunkline import Ack, Address, OutboundMessage, Runtime
from trunkline.testing.suite import ChannelConformance, Sample
from trunkline_webhook import wire
from trunkline_webhook.adapter import WebhookChannel
from trunkline_webhook.receiver import CallbackReceiver

SECRET = "conformance-secret"
SETTINGS = {
    "port": 0,
    "max_text_length": 200,
    "secret": {"env": "WEBHOOK_SECRET"},
    "callback_secret": {"env": "WEBHOOK_SECRET"},
}


class WebhookRefused(Exception):
    """The channel answered a POST with an error; the message is its status and JSON."""


class TestWebhookChannel(ChannelConformance):
    adapter = WebhookChannel
    settings = SETTINGS  # no callback_url: the receiver's port is known once it runs
    env = {"WEBHOOK_SECRET": SECRET}

    client: httpx.AsyncClient
    receiver: CallbackReceiver

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"  # uvicorn serves on asyncio only

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[Runtime, Any]]:
        async with CallbackReceiver(secret=SECRET).running() as receiver:
            self.receiver = receiver
            self.settings = {**SETTINGS, "callback_url": receiver.url}
            async with super().running() as (runtime, channel):
                assert channel.url, "the channel must expose its URL once started"
                async with httpx.AsyncClient(base_url=channel.url, timeout=10) as client:
                    self.client = client
                    yield runtime, channel

    async def post(self, body: bytes) -> dict[str, Any]:
        headers = {"Content-Type": wire.CONTENT_TYPE, **wire.signature_headers(SECRET, body)}
        answer = await self.client.post("/v1/messages", content=body, headers=headers)
        if answer.status_code != 202:
            raise WebhookRefused(f"{answer.status_code}: {answer.text}")
        result: dict[str, Any] = answer.json()
        return result

    async def inject(self, channel: WebhookChannel, sample: Sample) -> Ack:
        body = wire.message_body(sample.sender, sample.body, id=sample.provider_id)
        return Ack(**await self.post(body))

    def sent(self, channel: WebhookChannel) -> Sequence[tuple[Address, OutboundMessage]]:
        assert all(c.signature_ok for c in self.receiver.received)
        return self.receiver.sent()

    async def inject_malformed(self, channel: WebhookChannel) -> None:
        await self.post(b"this is not JSON")
