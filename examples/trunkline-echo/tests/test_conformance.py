"""The echo channel passes Trunkline's channel conformance suite, driven over real TCP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from trunkline import Ack, Address, OutboundMessage, Runtime
from trunkline.testing.suite import ChannelConformance, Sample
from trunkline_echo.adapter import EchoChannel
from trunkline_echo.client import EchoClient, EchoRefused, ack_from_answer

KEY = "conformance-key"


class Customers:
    """One open client connection per customer, so replies find them; all closed at the end."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.clients: dict[str, EchoClient] = {}

    async def __getitem__(self, sender: str) -> EchoClient:
        if sender not in self.clients:
            self.clients[sender] = await EchoClient.connect(self.host, self.port, key=KEY)
        return self.clients[sender]

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


class TestEchoChannel(ChannelConformance):
    adapter = EchoChannel
    settings = {"max_text_length": 200, "shared_key": {"env": "ECHO_KEY"}}
    env = {"ECHO_KEY": KEY}

    customers: Customers

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[Runtime, Any]]:
        async with super().running() as (runtime, channel):
            assert channel.port, "the channel must expose its bound port once started"
            self.customers = Customers(channel.settings.host, channel.port)
            try:
                yield runtime, channel
            finally:
                await self.customers.aclose()

    async def inject(self, channel: EchoChannel, sample: Sample) -> Ack:
        client = await self.customers[sample.sender]
        answer = await client.say(sample.sender, sample.body, id=sample.provider_id)
        return ack_from_answer(answer)

    def sent(self, channel: EchoChannel) -> Sequence[tuple[Address, OutboundMessage]]:
        # ``sent`` is synchronous, so it cannot read a socket; the socket side of replies is
        # checked in test_channel.py with a real client.
        return list(channel.sent)

    async def inject_malformed(self, channel: EchoChannel) -> None:
        client = await self.customers["someone"]
        answer = await client.send_raw(b"this is not JSON\n")
        assert set(answer) == {"error"}, f"expected an error answer, got {answer}"
        raise EchoRefused(answer["error"])
