"""Every hook, exercised once through a real run: the plugin API does what its docs say.

The meta-test at the end checks that the plugin below implements every hookspec and that
each one was actually called, so a new hook cannot be added without a test that runs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import click
import pytest
from click.testing import CliRunner

import trunkline.hookspecs
from trunkline import (
    Address,
    Agent,
    AgentStatus,
    Capabilities,
    Classification,
    Contact,
    Customer,
    DecisionStep,
    Direction,
    FakeClock,
    InboundStep,
    OutboundMessage,
    Queue,
    Router,
    hookimpl,
    hookspec,
)
from trunkline import events as ev
from trunkline.builtin.memory_channel import MemoryChannel
from trunkline.builtin.memory_store import MemoryStore
from trunkline.cli import _State, build, cli
from trunkline.errors import PluginError
from trunkline.plugins import PluginManager, load_plugins
from trunkline.runtime import Runtime
from trunkline.services import Service
from trunkline.testing import wait_for_event
from trunkline_testsupport.typecheck import mypy_strict

pytestmark = pytest.mark.anyio
W = "acme"
ALL_HOOKS = {name for name in dir(trunkline.hookspecs) if name.startswith("trunkline_")}


class ExtraSpecs:
    @hookspec(firstresult=True)
    def trunkline_everything_greeting(self, name: str) -> str | None:  # type: ignore[empty-body]
        """A hook a plugin adds for other plugins."""


@attrs.frozen
class EverythingSettings:
    greeting: str = "hello"


class LoudMemoryChannel(MemoryChannel):
    name = "loud-memory"


class CountingStore(MemoryStore):
    name = "counting"
    appends = 0

    async def append(self, events: Sequence[ev.Event]) -> int:
        self.appends += 1
        return await super().append(events)


@attrs.frozen
class CountingStoreSettings:
    note: str = ""


class CountingStoreFactory:
    name = "counting"
    Settings = CountingStoreSettings

    def __call__(self, settings: CountingStoreSettings) -> CountingStore:
        assert settings == CountingStoreSettings(note="from the file")
        return CountingStore()


class ReverseAlphabetical:
    name = "reverse-alphabetical"

    def key(self, agent: Any, queue: Any) -> Any:
        # Smallest key first: negated code points, so later letters sort first.
        return (*(-ord(ch) for ch in agent.agent.id), 0)


class Everything:
    """Implements every hook and records what it saw."""

    def __init__(self) -> None:
        self.called: dict[str, list[dict[str, Any]]] = {}
        self.service_state = "never started"

    def note(self, hook: str, **kwargs: Any) -> None:
        self.called.setdefault(hook, []).append(kwargs)

    # setup
    @hookimpl
    def trunkline_addhooks(self, pluginmanager: PluginManager) -> None:
        self.note("trunkline_addhooks")
        pluginmanager.add_hookspecs(ExtraSpecs)

    @hookimpl
    def trunkline_everything_greeting(self, name: str) -> str:
        return f"hello, {name}"

    @hookimpl
    def trunkline_add_settings(self, registry: Any) -> None:
        self.note("trunkline_add_settings")
        registry.add("everything", EverythingSettings)

    @hookimpl
    def trunkline_configure(self, config: Any) -> None:
        self.note("trunkline_configure", greeting=config.plugin_settings["everything"].greeting)

    @hookimpl
    def trunkline_unconfigure(self, config: Any) -> None:
        self.note("trunkline_unconfigure")

    # registries
    @hookimpl
    def trunkline_register_channels(self) -> list[type[Any]]:
        self.note("trunkline_register_channels")
        return [LoudMemoryChannel]

    @hookimpl
    def trunkline_register_strategies(self) -> list[Any]:
        self.note("trunkline_register_strategies")
        return [ReverseAlphabetical()]

    @hookimpl
    def trunkline_register_stores(self) -> list[Any]:
        self.note("trunkline_register_stores")
        return [CountingStoreFactory()]

    @hookimpl
    def trunkline_register_commands(self) -> list[click.Command]:
        self.note("trunkline_register_commands")

        @click.command("everything")
        def everything() -> None:
            click.echo("everything ran")

        return [everything]

    @hookimpl
    def trunkline_log_config(self, events: Any, pluginmanager: PluginManager) -> None:
        self.note("trunkline_log_config", events=len(events))
        return None  # not a log of this plugin's

    @hookimpl
    def trunkline_register_services(self, runtime: Runtime) -> list[Service]:
        self.note("trunkline_register_services", channels=sorted(runtime.channels))

        async def tick(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            self.service_state = "running"
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self.service_state = "stopped"

        return [Service("everything-ticker", tick)]

    # inbound
    @hookimpl
    async def trunkline_inbound_filter(self, message: Any) -> str | None:
        self.note("trunkline_inbound_filter", body=message.body)
        return "no shouting" if message.body.isupper() else None

    @hookimpl
    async def trunkline_resolve_customer(
        self, workspace: str, address: Any, store: Any
    ) -> Customer | None:
        self.note("trunkline_resolve_customer", address=address)
        if address.value == "vip":
            return Customer(id="cu_vip", workspace=workspace, addresses=(address,), name="V.I.P.")
        return None

    @hookimpl
    def trunkline_thread_key(self, message: Any, customer: Customer) -> str | None:
        self.note("trunkline_thread_key", customer=customer.id)
        return message.attributes.get("ticket")

    @hookimpl
    async def trunkline_classify(self, contact: Contact, message: Any) -> Classification:
        self.note("trunkline_classify")
        return Classification(attributes={"seen_by": "everything"})

    @hookimpl
    def trunkline_register_inbound_steps(self) -> list[InboundStep]:
        plugin = self

        class Seen(InboundStep):
            name = "everything-seen"

            async def after(self, intake: Any, contact: Any, message: Any, **kw: Any) -> list[Any]:
                plugin.note("trunkline_register_inbound_steps", body=message.body)
                return []

        return [Seen()]

    @hookimpl
    def trunkline_register_decision_steps(self) -> list[DecisionStep]:
        plugin = self

        class Offers(DecisionStep):
            name = "everything-offers"
            follows = (ev.ContactOffered,)

            async def follow(self, event: Any, before: Any, desk: Any, runtime: Any) -> list[Any]:
                plugin.note("trunkline_register_decision_steps", type=event.type)
                return []

        return [Offers()]

    # routing
    @hookimpl
    def trunkline_select_queue(self, contact: Contact, queues: Mapping[str, Queue]) -> str | None:
        self.note("trunkline_select_queue")
        return "vip" if contact.customer_id == "cu_vip" else None

    @hookimpl
    def trunkline_filter_agents(self, contact: Contact, agents: Sequence[Agent]) -> list[str]:
        self.note("trunkline_filter_agents", agents=[a.id for a in agents])
        return [a.id for a in agents if a.id != "trainee"]

    @hookimpl
    def trunkline_score_agents(self, agents: Sequence[Agent]) -> dict[str, float]:
        self.note("trunkline_score_agents")
        return {a.id: float(a.skills.get("en", 0)) for a in agents}

    @hookimpl
    def trunkline_pick_agent(
        self, contact: Contact, agents: Sequence[Agent], scores: Mapping[str, float]
    ) -> str | None:
        self.note("trunkline_pick_agent", scores=dict(scores))
        return (
            "senior" if contact.queue == "vip" and any(a.id == "senior" for a in agents) else None
        )

    # outbound and lifecycle
    @hookimpl
    def trunkline_render_outbound(
        self, message: OutboundMessage, capabilities: Capabilities
    ) -> OutboundMessage:
        self.note("trunkline_render_outbound", attachments=capabilities.attachments)
        return attrs.evolve(message, body=message.body + " -- sent by Everything")

    @hookimpl
    async def trunkline_contact_event(self, event: ev.Event, runtime: Runtime) -> None:
        self.note("trunkline_contact_event", type=event.type)


CONFIG = """
[store]
backend = "counting"
note = "from the file"

[plugins.everything]
greeting = "hi from the file"

[workspaces.acme]
skills = ["en"]

[workspaces.acme.queues.general]
strategy = "reverse-alphabetical"

[workspaces.acme.queues.vip]

[workspaces.acme.agents.trainee]
skills = { en = 5 }
capacity = { chat = 1 }
queues = ["general", "vip"]

[workspaces.acme.agents.senior]
skills = { en = 4 }
capacity = { chat = 1 }
queues = ["general", "vip"]

[workspaces.acme.agents.junior]
skills = { en = 4 }
capacity = { chat = 1 }
queues = ["general"]

[workspaces.acme.channels.web]
adapter = "loud-memory"
queue = "general"
"""


async def test_every_hook_is_exercised(tmp_path: Any, anyio_backend: str) -> None:
    plugin = Everything()
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("everything", plugin)])
    assert pm.hook.trunkline_everything_greeting(name="Ana") == "hello, Ana"

    state = _State(None)
    state._pm = pm
    result = CliRunner().invoke(cli, ["everything"], obj=state)
    assert result.output == "everything ran\n"

    path = tmp_path / "cc.toml"
    path.write_text(CONFIG)
    config = build(str(path), pm=pm, env={})
    runtime = Runtime(config, pm, clock=FakeClock())
    assert isinstance(runtime.store, CountingStore)

    async with runtime.running():
        assert plugin.service_state == "running"  # started before running() returned
        events = runtime.subscribe()
        web = runtime.channel("web")
        with pytest.raises(Exception, match="no shouting"):
            await web.deliver("ann", "HELP")
        for agent in ("trainee", "senior", "junior"):
            await runtime.set_agent_status(W, agent, "available")
        # general queue: trainee filtered out; senior and junior tie on score (en 4), and the
        # queue's reverse-alphabetical strategy breaks the tie.
        first = await web.deliver("ann", "hello", attributes={"ticket": "T-1"})
        offered = await wait_for_event(events, lambda e: isinstance(e, ev.ContactOffered))
        assert offered.offer.agent_id == "senior"  # type: ignore[attr-defined]
        joined = await web.deliver("bea", "same ticket", attributes={"ticket": "T-1"})
        assert joined.contact_id == first.contact_id
        vip = await web.deliver("vip", "it is me")
        vip_contact = await runtime.store.contact(W, vip.contact_id)
        assert vip_contact is not None
        assert vip_contact.customer_id == "cu_vip"
        assert vip_contact.queue == "vip"
        assert vip_contact.attributes["seen_by"] == "everything"
        await runtime.reply(W, first.contact_id, "we are on it")
        await wait_for_event(events, lambda e: isinstance(e, ev.MessageSent))
        assert web.sent[-1][1].body == "we are on it -- sent by Everything"
        for _ in range(10):
            await anyio.lowlevel.checkpoint()

    assert runtime.store.appends > 0  # type: ignore[attr-defined]
    assert plugin.service_state == "stopped"  # cancelled when the runtime stopped
    assert plugin.called["trunkline_configure"] == [{"greeting": "hi from the file"}]
    assert {"type": "MessageSent"} in plugin.called["trunkline_contact_event"]
    assert {"body": "hello"} in plugin.called["trunkline_register_inbound_steps"]
    assert {"type": "ContactOffered"} in plugin.called["trunkline_register_decision_steps"]
    assert [a for a in plugin.called["trunkline_filter_agents"][0]["agents"] if a != "trainee"] == [
        "senior",
        "junior",
    ]
    log = tmp_path / "events.jsonl"
    log.write_text("")
    explained = CliRunner().invoke(cli, ["explain", "ct_1", "--events", str(log)], obj=state)
    assert plugin.called["trunkline_log_config"] == [{"events": 0}]
    assert "give the configuration the log was made with: --config FILE" in explained.output
    missing = ALL_HOOKS - set(plugin.called)
    assert not missing, f"hooks never exercised: {sorted(missing)}"


def test_the_everything_plugin_implements_every_hookspec() -> None:
    implemented = {name for name in dir(Everything) if name.startswith("trunkline_")}
    assert implemented >= ALL_HOOKS, f"not implemented: {sorted(ALL_HOOKS - implemented)}"


# How a hook is called lives with its spec ---------------------------------------------------


def test_how_each_core_hook_is_called_is_read_from_its_spec() -> None:
    from trunkline.hookspecs import ASYNC_HOOKS, ROUTING_HOOKS, spec_info

    assert {
        "trunkline_inbound_filter",
        "trunkline_resolve_customer",
        "trunkline_thread_key",
        "trunkline_classify",
        "trunkline_contact_event",
    } == ASYNC_HOOKS
    assert {
        "trunkline_filter_agents",
        "trunkline_score_agents",
        "trunkline_pick_agent",
    } == ROUTING_HOOKS
    inbound_filter = spec_info(trunkline.hookspecs.trunkline_inbound_filter)
    assert inbound_filter.first_result
    assert inbound_filter.may_be_async
    assert spec_info(trunkline.hookspecs.trunkline_addhooks).historic


def test_asking_for_a_first_result_of_a_hook_whose_every_result_counts_is_a_type_error() -> None:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    with pytest.raises(TypeError, match="trunkline_score_agents is not a first-result hook"):
        pm.call_first(
            trunkline.hookspecs.trunkline_score_agents, contact=None, queue=None, agents=[]
        )


class _CrmSpecs:
    """A plugin's own hooks, declared with trunkline's spec decorator."""

    @staticmethod
    @trunkline.hookspecs.spec(may_be_async=True)
    def crm_synced(contact_id: str) -> None:
        """Called after a contact was copied to the CRM. *May be async.*"""

    @staticmethod
    @trunkline.hookspecs.spec()
    def crm_mapped(contact_id: str) -> None:
        """A plain hook."""


async def test_a_plugins_own_hook_marked_may_be_async_takes_async_implementations() -> None:
    seen: list[str] = []

    class Listener:
        @hookimpl
        async def crm_synced(self, contact_id: str) -> None:
            await anyio.lowlevel.checkpoint()
            seen.append(contact_id)

    class Adder:
        @hookimpl
        def trunkline_addhooks(self, pluginmanager: PluginManager) -> None:
            pluginmanager.add_hookspecs(_CrmSpecs)

    pm = load_plugins(
        {"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"},
        extra=[("adder", Adder()), ("listener", Listener())],
    )
    pm.check()
    await pm.acall_each(_CrmSpecs.crm_synced, contact_id="ct_1")
    assert seen == ["ct_1"]

    class Wrong:
        @hookimpl
        async def crm_mapped(self, contact_id: str) -> None: ...

    pm.register_plugin(Wrong(), "wrong")
    with pytest.raises(PluginError, match='plugin "wrong": crm_mapped must be a plain function'):
        pm.check()


def test_mypy_checks_a_hook_calls_keywords_against_its_spec(tmp_path: Path) -> None:
    report = mypy_strict(
        tmp_path / "call.py",
        "from trunkline import Contact, PluginManager, Queue, hookspecs\n"
        "def choose(pm: PluginManager, contact: Contact, queues: dict[str, Queue]) -> None:\n"
        "    pm.call_first(hookspecs.trunkline_select_queue, contact=contact, queus=queues)\n"
        "    n: int | None = pm.call_first(\n"
        "        hookspecs.trunkline_select_queue, contact=contact, queues=queues\n"
        "    )\n",
    )
    assert 'call.py:3: error: No overload variant of "call_first"' in report, report
    assert "call.py:4: error: Incompatible types in assignment" in report, report
    assert '(expression has type "str | None"' in report, report


def test_a_router_given_the_plugin_manager_as_before_still_routes_by_the_hooks_with_a_warning() -> (
    None
):
    from trunkline.deprecation import TrunklineDeprecationWarning
    from trunkline.routing import EnqueueContact, SetAgentStatus

    class PickBob:
        @hookimpl
        def trunkline_pick_agent(self, agents: Sequence[Agent]) -> str | None:
            return "bob" if any(a.id == "bob" for a in agents) else None

    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("pick", PickBob())])
    strategies = {s.name: s for s in pm.collect(trunkline.hookspecs.trunkline_register_strategies)}
    queue = Queue(id="q", workspace=W)
    chat = {"chat": 1}
    agents = [Agent(id=n, workspace=W, queues=["q"], capacity=chat) for n in ("ann", "bob")]
    with pytest.warns(TrunklineDeprecationWarning, match=r"pass hooks=pm\.routing_hooks"):
        router = Router(W, [queue], agents, strategies=strategies, hooks=pm)
    for number, agent in enumerate(agents):
        router.handle(SetAgentStatus(agent.id, AgentStatus.AVAILABLE), float(number))
    contact = Contact(
        id="c1",
        workspace=W,
        channel="web",
        channel_kind="chat",
        direction=Direction.INBOUND,
        customer_id="cu1",
        address=Address("memory", "x"),
        queue="q",
    )
    events = router.handle(EnqueueContact(contact), 10.0)
    offered = [e for e in events if isinstance(e, ev.ContactOffered)]
    assert [o.offer.agent_id for o in offered] == ["bob"]  # ann idles longer; the hook picks bob
