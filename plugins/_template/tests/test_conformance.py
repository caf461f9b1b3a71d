"""The channel passes Trunkline's channel conformance suite.

The suite (``trunkline.testing.suite``) starts a runtime with this channel and checks inbound
normalisation, idempotent redelivery, clear errors, outbound delivery and clean shutdown.
The driver below says how to make the channel receive a message and what it has sent.
TODO: once the real provider is wired in, drive it with the provider's test tools (a local
webhook call, a sandbox account, a recorded response) instead of ``simulate_inbound``.
"""

from __future__ import annotations

from collections.abc import Sequence

from trunkline import Ack, Address, OutboundMessage
from trunkline.testing.suite import ChannelConformance, Sample
from trunkline_template.adapter import TemplateChannel


class TestTemplateChannel(ChannelConformance):
    adapter = TemplateChannel
    settings = {"max_body_length": 200, "api_key": {"env": "API_KEY_FOR_TESTS"}}
    env = {"API_KEY_FOR_TESTS": "not-a-real-key"}

    async def inject(self, channel: TemplateChannel, sample: Sample) -> Ack:
        return await channel.simulate_inbound(sample.sender, sample.body, sample.provider_id)

    def sent(self, channel: TemplateChannel) -> Sequence[tuple[Address, OutboundMessage]]:
        return channel.sent

    async def inject_malformed(self, channel: TemplateChannel) -> None:
        await channel.simulate_inbound("", "a message without a sender")
