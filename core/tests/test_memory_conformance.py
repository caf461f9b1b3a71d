"""The built-in memory channel passes the channel conformance suite."""

from __future__ import annotations

from collections.abc import Sequence

from trunkline import Ack, Address, OutboundMessage
from trunkline.builtin.memory_channel import MemoryChannel
from trunkline.testing.suite import ChannelConformance, Sample


class TestMemoryChannel(ChannelConformance):
    adapter = MemoryChannel
    settings = {"kind": "chat", "max_body_length": 200, "token": {"env": "MEMORY_TOKEN"}}
    env = {"MEMORY_TOKEN": "s3cret"}

    async def inject(self, channel: MemoryChannel, sample: Sample) -> Ack:
        return await channel.deliver(
            sample.sender,
            sample.body,
            subject=sample.subject,
            provider_id=sample.provider_id,
            attachments=tuple(attachment for attachment, _ in sample.attachments),
        )

    def sent(self, channel: MemoryChannel) -> Sequence[tuple[Address, OutboundMessage]]:
        return channel.sent

    async def inject_malformed(self, channel: MemoryChannel) -> None:
        await channel.deliver("", "no sender")
