"""The built-in memory channel passes the channel conformance suite."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

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


def test_tests_a_channel_cannot_pass_are_left_out_not_skipped() -> None:
    # A channel that only receives, with no secret settings and no malformed-input driver:
    # the suite drops what does not apply, says why, and keeps the rest.
    import attrs

    from trunkline import Capabilities

    @attrs.frozen
    class PlainSettings:
        kind: str = "chat"

    class InboundOnly(MemoryChannel):
        name = "inbound-only"
        capabilities = Capabilities(inbound=True, outbound=False)
        Settings = PlainSettings  # type: ignore[assignment]

    class Narrow(ChannelConformance):
        adapter = InboundOnly

    live = {name: why for name, why in Narrow.not_applicable.items() if "declare live" in why}
    assert len(live) == 7  # the live-session tests: neither channel is live
    assert {k: v for k, v in Narrow.not_applicable.items() if k not in live} == {
        "test_secret_settings_are_masked": "the adapter declares no secret settings",
        "test_malformed_input_gets_a_clear_error": (
            "the driver does not implement inject_malformed()"
        ),
        "test_attachments_are_kept": "channel 'inbound-only' does not declare attachments",
        "test_reply_is_delivered_once": "channel 'inbound-only' does not declare outbound",
        "test_send_honours_the_dedupe_key": (
            "channel 'inbound-only' does not declare outbound, dedupe_key"
        ),
        "test_a_channel_with_typing_indicators_sends_signals": (
            "channel 'inbound-only' does not declare typing_indicators"
        ),
    }
    assert Narrow.test_attachments_are_kept is None  # type: ignore[comparison-overlap]
    assert callable(Narrow.test_inbound_creates_a_contact)
    assert callable(ChannelConformance.test_attachments_are_kept)  # the base keeps them all
    # The memory channel declares every message capability: only the live tests are left out.
    assert set(TestMemoryChannel.not_applicable) == set(live)


def test_a_channel_that_declares_typing_indicators_without_signal_fails_the_suite() -> None:
    from trunkline import Capabilities

    # The memory channel without its signal(): it still claims typing_indicators.
    members = {
        k: v
        for k, v in vars(MemoryChannel).items()
        if k != "signal" and (k == "__init__" or not k.startswith("__"))
    }
    members.update(
        name="mute",
        capabilities=Capabilities(inbound=True, outbound=True, typing_indicators=True),
    )
    Mute = type("Mute", (), members)

    class Suite(ChannelConformance):
        adapter = Mute

    with pytest.raises(AssertionError, match="declares typing_indicators but has no"):
        Suite().test_a_channel_with_typing_indicators_sends_signals()
