"""The channel conformance suite: the tests every channel plugin runs against itself.

Modelled on SQLAlchemy's dialect suite. A plugin's ``tests/test_conformance.py`` subclasses
:class:`ChannelConformance`, names its adapter and settings, and implements a small driver:
how to make the channel receive a message (``inject``) and what it has sent (``sent``).
Tests are gated on the adapter's :class:`~trunkline.Capabilities`: for a channel without
``outbound`` the outbound tests are not generated at all (rather than skipped on every run),
and :attr:`ChannelConformance.not_applicable` says which were left out and why. Example::

    from trunkline.testing.suite import ChannelConformance, Sample

    class TestMyChannel(ChannelConformance):
        adapter = MyChannel
        settings = {"region": "eu"}

        async def inject(self, channel, sample: Sample):
            return await channel.simulate_inbound(sample.sender, sample.body, sample.provider_id)

        def sent(self, channel):
            return channel.outbox_for_tests
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, TypeVar

import anyio
import anyio.lowlevel
import attrs
import pytest

from .. import events as ev
from .. import hookspecs
from ..channels import (
    Ack,
    Capabilities,
    ChannelAdapter,
    LiveChannel,
    OutboundMessage,
    Ring,
    SendsSignals,
    is_secret,
)
from ..clock import FakeClock
from ..config import config_from_dict
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..model import Address, Attachment
from ..plugins import PluginManager, load_plugins
from ..runtime import Runtime
from .harness import wait_for_event

__all__ = ["ChannelConformance", "Sample", "until"]

WORKSPACE = "conformance"
CHANNEL = "channel-under-test"

_Test = TypeVar("_Test", bound=Callable[..., Any])
_APPLIES = "_trunkline_applies"


def _applies(check: Callable[[Any], str | None]) -> Callable[[_Test], _Test]:
    """Mark a suite test that exists only where ``check(test_class)`` returns ``None``; what it
    returns otherwise is the reason, kept in ``not_applicable``."""

    def mark(test: _Test) -> _Test:
        setattr(test, _APPLIES, check)
        return test

    return mark


def _needs(*flags: str) -> Callable[[_Test], _Test]:
    """Mark a suite test that needs these :class:`~trunkline.Capabilities` flags."""

    def check(cls: Any) -> str | None:
        missing = [f for f in flags if not getattr(cls.adapter.capabilities, f)]
        if not missing:
            return None
        return f"channel {cls.adapter.name!r} does not declare {', '.join(missing)}"

    return _applies(check)


def _secrets(cls: Any) -> str | None:
    if any(is_secret(f) for f in attrs.fields(cls.adapter.Settings)):
        return None
    return "the adapter declares no secret settings"


def _malformed(cls: Any) -> str | None:
    if cls.inject_malformed is not ChannelConformance.inject_malformed:
        return None
    return "the driver does not implement inject_malformed()"


async def until(check: Callable[[], bool], *, within: float = 5.0) -> None:
    """Wait until ``check()`` holds (a channel's own view of its sessions, which no event
    announces); fail after ``within`` seconds."""
    with anyio.fail_after(within):
        while not check():  # noqa: ASYNC110 - the state is the driver's, with nothing to await
            await anyio.sleep(0.01)


@attrs.frozen
class Sample:
    """An inbound message the suite asks the driver to make the channel receive."""

    sender: str
    body: str
    provider_id: str | None = None
    subject: str = ""
    attachments: tuple[tuple[Attachment, bytes], ...] = ()


def _backends() -> list[str]:
    try:
        import trio  # noqa: F401
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "trio"]


class _Register:
    """Registers the adapter under test when no installed plugin provides it already."""

    def __init__(self, adapter: type[ChannelAdapter]) -> None:
        self.adapter = adapter

    @hookimpl
    def trunkline_register_channels(self) -> list[type[ChannelAdapter]]:
        return [self.adapter]


@pytest.mark.anyio
class ChannelConformance:
    """Subclass with ``adapter``, ``settings``, and the driver methods ``inject`` and ``sent``."""

    adapter: ClassVar[type[ChannelAdapter]]
    settings: ClassVar[Mapping[str, Any]] = {}
    env: ClassVar[Mapping[str, str]] = {}
    #: The channel's capacity kind for the agent; defaults to the adapter's kind.
    kind: ClassVar[str | None] = None
    #: Suite tests left out for this channel (name -> why): a capability it does not declare,
    #: no secret settings to check, no ``inject_malformed`` in the driver.
    not_applicable: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "adapter", None) is None:
            return
        left_out = dict(cls.not_applicable)
        for name in dir(cls):
            test = getattr(cls, name)
            check = getattr(test, _APPLIES, None) if name.startswith("test_") else None
            if check is not None and (why := check(cls)) is not None:
                left_out[name] = why
                setattr(cls, name, None)  # not collected: a test that cannot apply is not run
        cls.not_applicable = left_out

    # The driver -----------------------------------------------------------------------------

    async def inject(self, channel: Any, sample: Sample) -> Ack:
        """Make the running channel receive ``sample`` and return the runtime's Ack."""
        raise NotImplementedError("a conformance test class must implement inject()")

    def sent(self, channel: Any) -> Sequence[tuple[Address, OutboundMessage]]:
        """What the channel has delivered so far, as ``(to, message)`` pairs."""
        raise NotImplementedError("a conformance test class must implement sent()")

    async def inject_malformed(self, channel: Any) -> None:
        """Feed the channel one malformed input; it must raise a clear error. Optional: without
        it, the malformed-input test is left out."""
        raise NotImplementedError("inject_malformed() is optional and not implemented")

    # The driver of a live channel (``capabilities.live``) --------------------------------

    def ringing(self, channel: Any) -> Sequence[Ring]:
        """The rings the channel is sounding now (rung, neither answered nor stopped)."""
        raise NotImplementedError("a live channel's conformance class must implement ringing()")

    async def answer(self, channel: Any, ring: Ring) -> None:
        """Make the agent's endpoint answer ``ring``."""
        raise NotImplementedError("a live channel's conformance class must implement answer()")

    async def decline(self, channel: Any, ring: Ring) -> None:
        """Make the agent's endpoint refuse ``ring`` (busy or decline)."""
        raise NotImplementedError("a live channel's conformance class must implement decline()")

    async def caller_hangs_up(self, channel: Any, contact_id: str) -> None:
        """Make the customer end the session."""
        raise NotImplementedError("a live channel's conformance class must implement it")

    def connected(self, channel: Any, contact_id: str) -> str | None:
        """The agent the customer is joined to now, or None (waiting, on hold, ended)."""
        raise NotImplementedError("a live channel's conformance class must implement it")

    # Fixtures and helpers ----------------------------------------------------------------

    @pytest.fixture(params=_backends())
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    def plugin_manager(self) -> PluginManager:
        pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
        names = {a.name for a in pm.collect(hookspecs.trunkline_register_channels)}
        if self.adapter.name not in names:
            pm.register_plugin(_Register(self.adapter), f"conformance-{self.adapter.name}")
        return pm

    def config_data(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        kind = self.kind or getattr(self.adapter, "kind", "chat")
        return {
            "outbox": {"backoff": 0.01, "poll_interval": 0.05},
            "workspaces": {
                WORKSPACE: {
                    "queues": {"q": {"offer_timeout": 30}},
                    "agents": {"a1": {"capacity": {kind: 5}, "queues": ["q"]}},
                    "channels": {
                        CHANNEL: {
                            "adapter": self.adapter.name,
                            "queue": "q",
                            "settings": dict(self.settings if settings is None else settings),
                        }
                    },
                }
            },
        }

    def build(self, pm: PluginManager | None = None) -> Runtime:
        pm = pm or self.plugin_manager()
        adapters = {a.name: a for a in pm.collect(hookspecs.trunkline_register_channels)}
        strategies = {s.name for s in pm.collect(hookspecs.trunkline_register_strategies)}
        config = config_from_dict(
            self.config_data(), adapters=adapters, strategies=strategies, env=self.env
        )
        return Runtime(config, pm, clock=FakeClock())

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[Runtime, Any]]:
        runtime = self.build()
        async with runtime.running():
            yield runtime, runtime.channel(CHANNEL)

    def caps(self) -> Capabilities:
        return self.adapter.capabilities

    async def stored(self, runtime: Runtime) -> list[ev.Event]:
        return [s.event for s in await runtime.store.read(WORKSPACE)]

    # The suite ---------------------------------------------------------------------------

    def test_describes_itself(self) -> None:
        adapter = self.adapter
        assert isinstance(adapter.name, str), "adapter.name must be a str"
        assert adapter.name, "adapter.name must not be empty"
        assert isinstance(getattr(adapter, "kind", None), str), "adapter.kind must be a str"
        assert isinstance(adapter.capabilities, Capabilities)
        assert attrs.has(adapter.Settings), "Settings must be an attrs class"
        for method in ("run", "send", "aclose"):
            assert callable(getattr(adapter, method, None)), f"adapter has no {method}()"

    @_needs("typing_indicators")
    def test_a_channel_with_typing_indicators_sends_signals(self) -> None:
        """``typing_indicators`` promises ``signal``: the adapter is a SendsSignals."""
        channel = self.build().channel(CHANNEL)
        assert isinstance(channel, SendsSignals), (
            "the channel declares typing_indicators but has no async signal(to, signal)"
        )
        assert inspect.iscoroutinefunction(channel.signal), "signal must be async def"

    @_applies(_secrets)
    def test_secret_settings_are_masked(self) -> None:
        secrets = [f for f in attrs.fields(self.adapter.Settings) if is_secret(f)]
        for field in secrets:
            assert not field.repr, f"secret {field.name!r} would appear in repr()"

    def test_unknown_setting_is_refused(self) -> None:
        pm = self.plugin_manager()
        adapters = {a.name: a for a in pm.collect(hookspecs.trunkline_register_channels)}
        strategies = {s.name for s in pm.collect(hookspecs.trunkline_register_strategies)}
        data = self.config_data({**self.settings, "no_such_setting": 1})
        with pytest.raises(ConfigError, match="no_such_setting"):
            config_from_dict(data, adapters=adapters, strategies=strategies, env=self.env)

    async def test_starts_and_stops(self) -> None:
        async with self.running() as (_runtime, channel):
            assert channel.instance == CHANNEL
            assert channel.workspace == WORKSPACE

    @_needs("inbound")
    async def test_inbound_creates_a_contact(self) -> None:
        async with self.running() as (runtime, channel):
            ack = await self.inject(channel, Sample("cust-1", "hello from conformance", "m-1"))
            assert ack.new_contact
            assert not ack.duplicate
            contact = await runtime.store.contact(WORKSPACE, ack.contact_id)
            assert contact is not None
            assert contact.channel == CHANNEL
            assert contact.channel_kind == channel.kind
            bodies = [m.body for m in await runtime.store.messages(WORKSPACE, ack.contact_id)]
            assert any("hello from conformance" in body for body in bodies)

    @_needs("inbound")
    async def test_second_message_joins_the_open_contact(self) -> None:
        async with self.running() as (runtime, channel):
            first = await self.inject(channel, Sample("cust-2", "first", "m-2a"))
            second = await self.inject(channel, Sample("cust-2", "second", "m-2b"))
            assert second.contact_id == first.contact_id
            assert not second.new_contact
            assert len(await runtime.store.messages(WORKSPACE, first.contact_id)) == 2

    @_needs("inbound")
    async def test_redelivery_is_recognised(self) -> None:
        async with self.running() as (runtime, channel):
            first = await self.inject(channel, Sample("cust-3", "once", "m-3"))
            again = await self.inject(channel, Sample("cust-3", "once", "m-3"))
            assert again.duplicate
            assert (again.contact_id, again.message_id) == (first.contact_id, first.message_id)
            received = [e for e in await self.stored(runtime) if isinstance(e, ev.MessageReceived)]
            assert len(received) == 1

    @_needs("inbound")
    async def test_oversize_inbound_is_refused_and_nothing_is_lost(self) -> None:
        async with self.running() as (runtime, channel):
            limit = channel.capabilities.max_body_length
            if limit is None:
                pytest.skip("the channel declares no max_body_length")
            kept = await self.inject(channel, Sample("cust-4", "fits", "m-4a"))
            with pytest.raises(Exception, match=str(limit)):
                await self.inject(channel, Sample("cust-4", "x" * (limit + 1), "m-4b"))
            assert await runtime.store.contact(WORKSPACE, kept.contact_id) is not None
            assert len(await runtime.store.messages(WORKSPACE, kept.contact_id)) == 1

    @_applies(_malformed)
    async def test_malformed_input_gets_a_clear_error(self) -> None:
        async with self.running() as (runtime, channel):
            kept = None
            if self.caps().inbound:
                kept = await self.inject(channel, Sample("cust-5", "before", "m-5"))
            before = len(await self.stored(runtime))
            with pytest.raises(Exception) as info:  # noqa: PT011 - any clear error will do
                await self.inject_malformed(channel)
            assert str(info.value).strip(), "the error must say what was wrong"
            assert len(await self.stored(runtime)) == before
            if kept is not None:
                assert await runtime.store.contact(WORKSPACE, kept.contact_id) is not None

    @_needs("inbound", "attachments")
    async def test_attachments_are_kept(self) -> None:
        content = b"%PDF-1.4 conformance\n"
        attachment = Attachment(
            filename="note.pdf",
            content_type="application/pdf",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
        )
        async with self.running() as (runtime, channel):
            sample = Sample("cust-6", "see attached", "m-6", attachments=((attachment, content),))
            ack = await self.inject(channel, sample)
            messages = await runtime.store.messages(WORKSPACE, ack.contact_id)
            hashes = {a.sha256 for m in messages for a in m.attachments}
            assert attachment.sha256 in hashes

    @_needs("inbound", "outbound")
    async def test_reply_is_delivered_once(self) -> None:
        async with self.running() as (runtime, channel):
            ack = await self.inject(channel, Sample("cust-7", "question", "m-7"))
            events = runtime.subscribe()
            message = await runtime.reply(WORKSPACE, ack.contact_id, "the answer")
            await wait_for_event(
                events,
                lambda e: (
                    isinstance(e, ev.MessageSent | ev.MessageFailed) and e.message_id == message.id
                ),
            )
            sent = [(to, m) for to, m in self.sent(channel) if m.message_id == message.id]
            assert len(sent) == 1, f"expected one delivery of {message.id}, got {len(sent)}"
            to, outbound = sent[0]
            assert "the answer" in outbound.body
            contact = await runtime.store.contact(WORKSPACE, ack.contact_id)
            assert contact is not None
            assert to == contact.address

    @_needs("inbound", "outbound", "dedupe_key")
    async def test_send_honours_the_dedupe_key(self) -> None:
        async with self.running() as (runtime, channel):
            ack = await self.inject(channel, Sample("cust-8", "hi", "m-8"))
            contact = await runtime.store.contact(WORKSPACE, ack.contact_id)
            assert contact is not None
            to = contact.address
            message = OutboundMessage(
                message_id="ms_dedupe", contact_id=ack.contact_id, body="once", dedupe_key="k-1"
            )
            first = await channel.send(to, message)
            second = await channel.send(to, message)
            assert first == second
            assert len([m for _, m in self.sent(channel) if m.dedupe_key == "k-1"]) == 1

    # Live sessions -------------------------------------------------------------------------

    async def _rung(self, runtime: Runtime, channel: Any, events: Any) -> tuple[Ack, Ring]:
        """Place a call with agent a1 available and wait for the channel to ring a1."""
        await runtime.set_agent_status(WORKSPACE, "a1", "available")
        ack = await self.inject(channel, Sample("caller-1", "incoming call", "call-1"))
        await wait_for_event(
            events,
            lambda e: isinstance(e, ev.ContactOffered) and e.offer.contact_id == ack.contact_id,
        )
        await until(lambda: any(r.contact_id == ack.contact_id for r in self.ringing(channel)))
        rings = [r for r in self.ringing(channel) if r.contact_id == ack.contact_id]
        assert rings[0].agent_id == "a1"
        return ack, rings[0]

    @_needs("live")
    def test_a_live_channel_implements_the_session_api(self) -> None:
        channel = self.build().channel(CHANNEL)
        assert isinstance(channel, LiveChannel), "the channel declares live but is no LiveChannel"
        for method in ("offer", "rescind", "connect", "hold", "resume", "transfer", "hangup"):
            assert inspect.iscoroutinefunction(getattr(channel, method)), f"{method} must be async"

    @_needs("live")
    async def test_an_offer_rings_the_agent_and_answering_accepts_it(self) -> None:
        async with self.running() as (runtime, channel):
            events = runtime.subscribe()
            ack, ring = await self._rung(runtime, channel, events)
            await self.answer(channel, ring)
            await wait_for_event(
                events, lambda e: isinstance(e, ev.OfferAccepted) and e.offer_id == ring.offer_id
            )
            await until(lambda: self.connected(channel, ack.contact_id) == "a1")

    @_needs("live")
    async def test_a_declined_ring_is_a_rejected_offer_and_the_call_waits_on(self) -> None:
        async with self.running() as (runtime, channel):
            events = runtime.subscribe()
            ack, ring = await self._rung(runtime, channel, events)
            await self.decline(channel, ring)
            rejected = await wait_for_event(
                events, lambda e: isinstance(e, ev.OfferRejected) and e.offer_id == ring.offer_id
            )
            assert isinstance(rejected, ev.OfferRejected)
            assert rejected.agent_id == "a1"
            assert self.connected(channel, ack.contact_id) is None
            stored = await self.stored(runtime)
            assert not any(isinstance(e, ev.ContactAbandoned | ev.ContactEnded) for e in stored)

    @_needs("live")
    async def test_hanging_up_while_waiting_is_an_abandonment_with_the_wait(self) -> None:
        async with self.running() as (runtime, channel):
            events = runtime.subscribe()
            ack = await self.inject(
                channel, Sample("caller-2", "incoming call", "call-2")
            )  # no agent is in
            runtime.clock.advance(12.0)  # type: ignore[attr-defined]
            await self.caller_hangs_up(channel, ack.contact_id)
            abandoned = await wait_for_event(
                events,
                lambda e: isinstance(e, ev.ContactAbandoned) and e.contact_id == ack.contact_id,
            )
            assert isinstance(abandoned, ev.ContactAbandoned)
            assert abandoned.waited >= 12.0
            assert await runtime.store.contact(WORKSPACE, ack.contact_id) is not None

    @_needs("live")
    async def test_hanging_up_when_connected_ends_the_contact(self) -> None:
        async with self.running() as (runtime, channel):
            events = runtime.subscribe()
            ack, ring = await self._rung(runtime, channel, events)
            await self.answer(channel, ring)
            await wait_for_event(events, lambda e: isinstance(e, ev.OfferAccepted))
            await self.caller_hangs_up(channel, ack.contact_id)
            ended = await wait_for_event(
                events, lambda e: isinstance(e, ev.ContactEnded) and e.contact_id == ack.contact_id
            )
            assert isinstance(ended, ev.ContactEnded)
            assert ended.agent_id == "a1"

    @_needs("live")
    async def test_the_centre_ending_the_contact_hangs_the_session_up(self) -> None:
        async with self.running() as (runtime, channel):
            events = runtime.subscribe()
            ack, ring = await self._rung(runtime, channel, events)
            await self.answer(channel, ring)
            await wait_for_event(events, lambda e: isinstance(e, ev.OfferAccepted))
            await until(lambda: self.connected(channel, ack.contact_id) == "a1")
            await runtime.end_contact(WORKSPACE, ack.contact_id)
            await until(lambda: self.connected(channel, ack.contact_id) is None)

    @_needs("live")
    async def test_hold_and_resume_are_stored_and_reach_the_session(self) -> None:
        async with self.running() as (runtime, channel):
            events = runtime.subscribe()
            ack, ring = await self._rung(runtime, channel, events)
            await self.answer(channel, ring)
            await wait_for_event(events, lambda e: isinstance(e, ev.OfferAccepted))
            held = await runtime.hold(WORKSPACE, ack.contact_id)
            assert isinstance(held, ev.ContactHeld)
            assert held.agent_id == "a1"
            await until(lambda: self.connected(channel, ack.contact_id) is None)
            await runtime.resume(WORKSPACE, ack.contact_id)
            await until(lambda: self.connected(channel, ack.contact_id) == "a1")
            kinds = [type(e) for e in await self.stored(runtime)]
            assert kinds.index(ev.ContactHeld) < kinds.index(ev.ContactResumed)

    async def test_stops_within_a_second(self) -> None:
        with anyio.fail_after(1.0):
            async with self.running():
                await anyio.lowlevel.checkpoint()
