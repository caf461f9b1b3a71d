"""Hook specifications: the whole plugin API of Trunkline.

Every hook is called with keyword arguments, so an implementation may accept any subset of
them. Setup hooks are ``historic`` (a plugin registered late still sees them). ``register_*``
hooks return lists, which are concatenated. Hooks marked *may be async* accept ``async def``
implementations; core awaits each result itself, in order, so those hooks are never
``firstresult`` in pluggy's sense: "first result" there means the first non-``None`` awaited
value. Hooks called inside the routing engine are synchronous, because the engine is pure;
an ``async def`` implementation of one of them is refused at start-up.

A plugin that raises inside a hook is isolated: the error is logged with the plugin's name,
its result is ignored, the other implementations still run, and no contact is lost.

How each hook is called lives with its spec: :func:`spec` marks it (``may_be_async``,
``first_result``, ``routing``, ``historic``) and :func:`spec_info` reads it back, so the plugin
manager checks implementations and calls from the spec itself. Core calls a hook by passing
its spec function (``pm.acall_first(hookspecs.trunkline_inbound_filter, message=…)``), so
mypy checks the hook's name and keywords at every call. A plugin that adds hooks of its own
(``trunkline_addhooks``) marks them with the same decorator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pluggy

if TYPE_CHECKING:
    import click

    from .channels import Capabilities, ChannelAdapter, InboundMessage, OutboundMessage
    from .config import Config, SettingsRegistry
    from .events import Event
    from .model import Address, Agent, Contact, Customer, Queue
    from .plugins import PluginManager
    from .routing import Classification, Strategy
    from .runtime import DecisionStep, InboundStep, PluginRuntime
    from .services import Service
    from .store import Store, StoreFactory

__all__ = [
    "ASYNC_HOOKS",
    "ROUTING_HOOKS",
    "HookSpecInfo",
    "hookimpl",
    "hookspec",
    "marked_info",
    "spec",
    "spec_info",
]

PROJECT = "trunkline"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

_F = TypeVar("_F", bound=Callable[..., Any])
_INFO = "trunkline_hook_info"  # set by :func:`spec` (pluggy keeps its own "trunkline_spec")


@attrs.frozen
class HookSpecInfo:
    """How a hook is called, besides its signature.

    ``may_be_async``: implementations may be ``async def``; core awaits each result itself, in
    order. ``first_result``: the first non-``None`` result wins and later implementations are
    not called. ``routing``: called inside the pure routing engine, on its hot path.
    ``historic``: a plugin registered late still receives the call.
    """

    name: str
    may_be_async: bool = False
    first_result: bool = False
    routing: bool = False
    historic: bool = False


def spec(
    *,
    may_be_async: bool = False,
    first_result: bool = False,
    routing: bool = False,
    historic: bool = False,
) -> Callable[[_F], _F]:
    """Declare a hook specification and how it is called (see :class:`HookSpecInfo`).

    It is pluggy's ``hookspec`` with the metadata kept on the function. A may-be-async hook is
    never ``firstresult`` to pluggy (a coroutine would be its first result): core's
    ``acall_first`` awaits each result and stops at the first that is not ``None``.
    """
    if routing and may_be_async:
        raise ValueError("a routing hook is called inside the pure engine: it cannot be async")

    def mark(function: _F) -> _F:
        marked = hookspec(historic=historic, firstresult=first_result and not may_be_async)(
            function
        )
        info = HookSpecInfo(
            name=function.__name__,
            may_be_async=may_be_async,
            first_result=first_result,
            routing=routing,
            historic=historic,
        )
        setattr(marked, _INFO, info)
        return marked

    return mark


def marked_info(function: Callable[..., Any]) -> HookSpecInfo | None:
    """What :func:`spec` recorded on ``function``; None for a spec declared without it."""
    info = getattr(function, _INFO, None)
    return info if isinstance(info, HookSpecInfo) else None


def spec_info(function: Callable[..., Any]) -> HookSpecInfo:
    """How the hook specified by ``function`` is called; a spec declared with pluggy's plain
    ``hookspec`` is a synchronous hook whose every result counts."""
    return marked_info(function) or HookSpecInfo(name=function.__name__)


# Setup ------------------------------------------------------------------------------------


@spec(historic=True)
def trunkline_addhooks(pluginmanager: PluginManager) -> None:
    """Add new hook specifications, for plugins that offer hooks of their own.

    Called once when a plugin is registered. Use ``pluginmanager.add_hookspecs(module)``.
    """


@spec(historic=True)
def trunkline_add_settings(registry: SettingsRegistry) -> None:
    """Declare a configuration section for a plugin that is not a channel.

    Call ``registry.add("crm", CrmSettings)`` with an attrs class; the ``[plugins.crm]``
    table of the configuration file is then checked against it (unknown keys refused,
    secrets read from the environment) and handed back in ``config.plugin_settings["crm"]``.
    """


@spec(historic=True)
def trunkline_configure(config: Config) -> None:
    """Called once the configuration is loaded and checked, before anything starts."""


@spec()
def trunkline_unconfigure(config: Config) -> None:
    """Called once when the runtime has stopped; release what ``trunkline_configure`` took."""


# Registries -------------------------------------------------------------------------------


@spec()
def trunkline_register_channels() -> Sequence[type[ChannelAdapter]]:
    """Return channel adapter classes. Each is used as ``adapter = "<name>"`` in config."""
    return []


@spec()
def trunkline_register_strategies() -> Sequence[Strategy]:
    """Return routing strategies; a queue picks one by name with ``strategy = "<name>"``."""
    return []


@spec()
def trunkline_register_stores() -> Sequence[StoreFactory]:
    """Return store factories; the configuration picks one with ``store = "<name>"``."""
    return []


@spec()
def trunkline_register_services(runtime: PluginRuntime) -> Sequence[Service]:
    """Return long-running services to run beside the channels (``trunkline.services.Service``).

    Called once when the runtime starts, after its channels are up. Each service's
    ``run(*, task_status)`` is started in the runtime's task group: it calls
    ``task_status.started()`` when ready and runs until cancelled. A service that listens on
    the network (``Service(..., listens=True)``, such as trunkline-web's HTTP server) starts
    only when the runtime serves (``trunkline serve``, ``trunkline demo``), and may announce
    its address with ``task_status.started("http://…/")``. The coordinator of several nodes
    on one store is a service of a built-in plugin.
    """
    return []


@spec()
def trunkline_register_commands() -> Sequence[click.Command]:
    """Return click commands to add to the ``trunkline`` command line.

    Keep imports of heavy SDKs inside the command's function: ``trunkline --help`` loads
    every plugin module to list the commands, and must stay fast.
    """
    return []


@spec(first_result=True)
def trunkline_log_config(events: Sequence[Event], pluginmanager: PluginManager) -> Config | None:
    """The configuration an event log was made with, when ``trunkline explain`` is given none.

    Return it for a log your plugin wrote (trunkline-web returns the demo's configuration for
    a log of ``trunkline demo --events``), or ``None``. The first configuration returned wins.
    """


# Inbound ----------------------------------------------------------------------------------


@spec(may_be_async=True, first_result=True)
def trunkline_inbound_filter(
    message: InboundMessage, workspace: str
) -> str | Awaitable[str | None] | None:
    """Refuse an inbound message before anything is stored. *May be async.*

    Return a reason (a non-empty string) to refuse it; the channel reports the refusal to its
    sender as permanent. The first reason returned wins. Return ``None`` to let it through.
    """


@spec(may_be_async=True, first_result=True)
def trunkline_resolve_customer(
    workspace: str, address: Address, message: InboundMessage, store: Store
) -> Customer | Awaitable[Customer | None] | None:
    """Find the customer an inbound address belongs to. *May be async.*

    The first customer returned wins. When every implementation returns ``None``, core
    looks the address up in the store and creates a customer when it is new.
    """


@spec(may_be_async=True, first_result=True)
def trunkline_thread_key(
    message: InboundMessage, workspace: str, customer: Customer
) -> str | Awaitable[str | None] | None:
    """Name the conversation an inbound message belongs to. *May be async.*

    A message whose thread key matches an open contact joins that contact. The first key
    returned wins; the default is the channel and the provider's thread hint, or the channel
    and the sender's address when the provider gives no hint.
    """


@spec(may_be_async=True)
def trunkline_classify(
    contact: Contact, message: InboundMessage
) -> Classification | Awaitable[Classification | None] | None:
    """Add routing data to a new contact: attributes, priority, skills, language, queue.

    *May be async.* Every implementation runs; their classifications are merged in call
    order, later ones overriding earlier ones key by key.
    """


@spec()
def trunkline_register_inbound_steps() -> Sequence[InboundStep]:
    """Return steps of the inbound pipeline (``trunkline.InboundStep`` objects).

    Called once when the runtime is built. Once the customer and the thread of a message are
    known, each step's ``attach(intake)`` may claim a message that matches no open contact for
    an existing contact (the first :class:`~trunkline.Claim` wins), and each step's
    ``after(intake, contact, message, new_contact=...)`` may add events once its contact and
    the stored message are known. Their events are appended with the message, in one batch.
    Surveys (``surveys``) and delivery reports (``delivery-reports``) are built-in plugins'
    steps. A step that raises is logged with its name and skipped; a ``TemporaryFailure``
    reaches the sender, who retries.
    """
    return []


@spec()
def trunkline_register_decision_steps() -> Sequence[DecisionStep]:
    """Return steps that add events to routing decisions (``trunkline.DecisionStep``).

    Called once when the runtime is built. For each event of a decision whose type is in a
    step's ``follows``, ``await step.follow(event, before, desk, runtime)`` returns events
    appended right after it, in the same atomic batch (the built-in ``surveys`` plugin asks
    its question after a close this way). Called under the workspace's lock: keep it short.
    A step that raises is logged with its name and skipped.
    """
    return []


# Routing (synchronous: called inside the pure routing engine) -----------------------------


@spec(first_result=True)
def trunkline_select_queue(contact: Contact, queues: Mapping[str, Queue]) -> str | None:
    """Choose the queue for a contact the classification left without one.

    Return a queue id from ``queues``. The default is the channel's configured queue, then
    the workspace's first queue.
    """


@spec(routing=True)
def trunkline_filter_agents(
    contact: Contact, queue: Queue, agents: Sequence[Agent]
) -> Sequence[str] | None:
    """Narrow the agents that may be offered a contact.

    ``agents`` have already passed the skill, status and capacity checks. Return the ids
    to keep, or ``None`` to keep them all. The results of all implementations intersect.
    """


@spec(routing=True)
def trunkline_score_agents(
    contact: Contact, queue: Queue, agents: Sequence[Agent]
) -> Mapping[str, float] | None:
    """Score candidate agents; scores from all implementations add up per agent.

    The agents with the highest total are handed to the queue's strategy, which breaks the
    tie (longest idle, round robin…). Return ``None`` to abstain.
    """


@spec(routing=True, first_result=True)
def trunkline_pick_agent(
    contact: Contact, queue: Queue, agents: Sequence[Agent], scores: Mapping[str, float]
) -> str | None:
    """Pick the agent to offer the contact to, overriding the queue's strategy.

    Return one id from ``agents``, or ``None`` to let the strategy choose.
    """


# Outbound and lifecycle --------------------------------------------------------------------


@spec(first_result=True)
def trunkline_render_outbound(
    message: OutboundMessage, capabilities: Capabilities, channel: str
) -> OutboundMessage | None:
    """Adapt an outgoing message to what the channel can carry; the first result wins.

    For example, strip formatting for a channel without ``rich_text`` or drop attachments for
    one without ``attachments``. Core's default cuts the body to ``max_body_length``.
    """


@spec(may_be_async=True)
def trunkline_contact_event(event: Event, runtime: PluginRuntime) -> Awaitable[None] | None:
    """Observe every event after it is durably stored: metrics, CRM sync, webhooks.

    *May be async.* Implementations run in order; an exception is logged and ignored.
    """


def _specs() -> list[HookSpecInfo]:
    return [
        spec_info(value)
        for name, value in globals().items()
        if name.startswith("trunkline_") and callable(value)
    ]


#: Hooks whose implementations may be ``async def`` (from the specs). All others must be plain.
ASYNC_HOOKS = frozenset(info.name for info in _specs() if info.may_be_async)
#: Hooks the routing engine calls (from the specs).
ROUTING_HOOKS = frozenset(info.name for info in _specs() if info.routing)
