"""The live-session API: a live channel passes the conformance suite, and the runtime maps a
channel's reports onto offers and contacts (ring-N, settled reports, a failing channel)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import anyio
import pytest

from trunkline import Ack, Address, Capabilities, OutboundMessage, Ring, SessionReports
from trunkline import events as ev
from trunkline.builtin.memory_channel import MemoryChannel
from trunkline.errors import PluginError
from trunkline.testing.harness import wait_for_event
from trunkline.testing.suite import WORKSPACE, ChannelConformance, Sample, until


class LoopbackCall(MemoryChannel):
    """A live channel whose sessions live in memory: what a SIP or WebRTC channel keeps."""

    name = "loopback-call"
    kind = "voice"
    capabilities = Capabilities(inbound=True, outbound=True, live=True)
    fail_on_offer: ClassVar[bool] = False

    def __init__(self, settings: Any, *, instance: str, workspace: str) -> None:
        super().__init__(settings, instance=instance, workspace=workspace)
        self.sessions: SessionReports | None = None
        self.rings: dict[str, Ring] = {}
        self.bridged: dict[str, str] = {}  # contact id -> agent id
        self.held: set[str] = set()
        self.hung_up: dict[str, str] = {}  # contact id -> reason

    def bind(self, sessions: SessionReports) -> None:
        self.sessions = sessions

    async def offer(self, ring: Ring) -> None:
        if self.fail_on_offer:
            raise RuntimeError("the phone system is down")
        self.rings[ring.offer_id] = ring

    async def rescind(self, ring: Ring) -> None:
        self.rings.pop(ring.offer_id, None)

    async def connect(self, ring: Ring) -> None:
        self.rings.pop(ring.offer_id, None)
        self.bridged[ring.contact_id] = ring.agent_id

    async def hold(self, contact_id: str) -> None:
        self.held.add(contact_id)

    async def resume(self, contact_id: str) -> None:
        self.held.discard(contact_id)

    async def transfer(self, contact_id: str) -> None:
        self.bridged.pop(contact_id, None)

    async def hangup(self, contact_id: str, reason: str) -> None:
        self.bridged.pop(contact_id, None)
        self.hung_up.setdefault(contact_id, reason)


class TestLoopbackCall(ChannelConformance):
    adapter = LoopbackCall
    settings = {"kind": "voice"}

    async def inject(self, channel: LoopbackCall, sample: Sample) -> Ack:
        return await channel.deliver(sample.sender, sample.body, provider_id=sample.provider_id)

    def sent(self, channel: LoopbackCall) -> Sequence[tuple[Address, OutboundMessage]]:
        return channel.sent

    def ringing(self, channel: LoopbackCall) -> Sequence[Ring]:
        return list(channel.rings.values())

    async def answer(self, channel: LoopbackCall, ring: Ring) -> None:
        assert channel.sessions is not None
        await channel.sessions.answered(ring)

    async def decline(self, channel: LoopbackCall, ring: Ring) -> None:
        assert channel.sessions is not None
        channel.rings.pop(ring.offer_id, None)
        await channel.sessions.declined(ring, "busy")

    async def caller_hangs_up(self, channel: LoopbackCall, contact_id: str) -> None:
        assert channel.sessions is not None
        await channel.sessions.hung_up(channel.workspace, contact_id)

    def connected(self, channel: LoopbackCall, contact_id: str) -> str | None:
        if contact_id in channel.held or contact_id in channel.hung_up:
            return None
        return channel.bridged.get(contact_id)


def test_the_live_tests_are_left_out_for_a_channel_that_is_not_live() -> None:
    class Messages(TestLoopbackCall):
        adapter = MemoryChannel
        settings = {"kind": "chat"}

    left_out = Messages.not_applicable
    assert "live" in left_out["test_an_offer_rings_the_agent_and_answering_accepts_it"]
    assert "live" in left_out["test_a_live_channel_implements_the_session_api"]
    assert Messages.test_an_offer_rings_the_agent_and_answering_accepts_it is None
    assert callable(TestLoopbackCall.test_an_offer_rings_the_agent_and_answering_accepts_it)


class _RingTwo(TestLoopbackCall):
    """Two agents, both offered the call at once (the engine's ring-N)."""

    def config_data(self, settings: Any = None) -> dict[str, Any]:
        data = super().config_data(settings)
        workspace = data["workspaces"][WORKSPACE]
        workspace["queues"]["q"]["offer_to"] = 2
        workspace["agents"]["a2"] = {"capacity": {"voice": 5}, "queues": ["q"]}
        return data


@pytest.mark.anyio
async def test_in_a_ring_n_race_the_first_phone_to_answer_wins_and_the_others_stop() -> None:
    suite = _RingTwo()
    async with suite.running() as (runtime, channel):
        events = runtime.subscribe()
        await runtime.set_agent_status(WORKSPACE, "a1", "available")
        await runtime.set_agent_status(WORKSPACE, "a2", "available")
        ack = await suite.inject(channel, Sample("caller-9", "incoming call", "call-9"))
        await until(lambda: len(channel.rings) == 2)
        first, second = sorted(channel.rings.values(), key=lambda r: r.agent_id)
        assert {first.agent_id, second.agent_id} == {"a1", "a2"}
        # Both phones answer at once: one accept wins, the other is a settled report, no error.
        await anyio.lowlevel.checkpoint()
        async with anyio.create_task_group() as tg:
            tg.start_soon(channel.sessions.answered, second)
            tg.start_soon(channel.sessions.answered, first)
        await wait_for_event(events, lambda e: isinstance(e, ev.OfferAccepted))
        await until(lambda: not channel.rings and ack.contact_id in channel.bridged)
        winner = channel.bridged[ack.contact_id]
        stored = await suite.stored(runtime)
        accepted = [e for e in stored if isinstance(e, ev.OfferAccepted)]
        assert [e.agent_id for e in accepted] == [winner]
        loser = "a1" if winner == "a2" else "a2"
        engine = runtime.desks[WORKSPACE].engine
        assert engine.contacts[ack.contact_id].agent_id == winner
        assert not [o for o in engine.offers.values() if o.agent_id == loser]
        rescinded = [e.agent_id for e in stored if isinstance(e, ev.OfferRescinded)]
        assert rescinded == [loser]


@pytest.mark.anyio
async def test_a_channel_that_fails_to_ring_leaves_the_call_queued_and_others_unharmed() -> None:
    class Broken(LoopbackCall):
        fail_on_offer = True

    class Suite(TestLoopbackCall):
        adapter = Broken

    suite = Suite()
    async with suite.running() as (runtime, channel):
        events = runtime.subscribe()
        await runtime.set_agent_status(WORKSPACE, "a1", "available")
        ack = await suite.inject(channel, Sample("caller-5", "incoming call", "call-5"))
        await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
        # the failure is logged; the next session's events still reach the channel
        await channel.sessions.hung_up(WORKSPACE, ack.contact_id)
        await wait_for_event(events, lambda e: isinstance(e, ev.ContactAbandoned))
        await until(lambda: ack.contact_id in channel.hung_up)
        assert await runtime.store.contact(WORKSPACE, ack.contact_id) is not None


@pytest.mark.anyio
async def test_holding_a_contact_that_is_not_a_connected_call_is_refused() -> None:
    suite = TestLoopbackCall()
    async with suite.running() as (runtime, channel):
        ack = await suite.inject(channel, Sample("caller-6", "incoming call", "call-6"))
        with pytest.raises(Exception, match="not a connected live session"):
            await runtime.hold(WORKSPACE, ack.contact_id)
        assert not any(isinstance(e, ev.ContactHeld) for e in await suite.stored(runtime))


def test_a_channel_that_declares_live_without_the_methods_is_named() -> None:
    class NotReally(MemoryChannel):
        name = "not-really"
        capabilities = Capabilities(live=True)

    class Suite(TestLoopbackCall):
        adapter = NotReally  # type: ignore[assignment]

    with pytest.raises(PluginError, match=r'channel "channel-under-test".*offer\(\)'):
        Suite().build()
