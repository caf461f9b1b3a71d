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
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click
    from starlette.routing import BaseRoute

    from .channels import Capabilities, ChannelAdapter, InboundMessage, OutboundMessage
    from .config import Config, SettingsRegistry
    from .events import Event
    from .model import Address, Agent, Contact, Customer, Queue
    from .plugins import PluginManager
    from .routing import Classification, Strategy
    from .runtime import Runtime
    from .store import Store, StoreFactory

__all__ = ["ASYNC_HOOKS", "hookimpl", "hookspec"]

PROJECT = "trunkline"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Hooks whose implementations may be ``async def``. All others must be plain functions.
ASYNC_HOOKS = frozenset(
    {
        "trunkline_inbound_filter",
        "trunkline_resolve_customer",
        "trunkline_thread_key",
        "trunkline_classify",
        "trunkline_contact_event",
    }
)


# Setup ------------------------------------------------------------------------------------


@hookspec(historic=True)
def trunkline_addhooks(pluginmanager: PluginManager) -> None:
    """Add new hook specifications, for plugins that offer hooks of their own.

    Called once when a plugin is registered. Use ``pluginmanager.add_hookspecs(module)``.
    """


@hookspec(historic=True)
def trunkline_add_settings(registry: SettingsRegistry) -> None:
    """Declare a configuration section for a plugin that is not a channel.

    Call ``registry.add("crm", CrmSettings)`` with an attrs class; the ``[plugins.crm]``
    table of the configuration file is then checked against it (unknown keys refused,
    secrets read from the environment) and handed back in ``config.plugin_settings["crm"]``.
    """


@hookspec(historic=True)
def trunkline_configure(config: Config) -> None:
    """Called once the configuration is loaded and checked, before anything starts."""


@hookspec
def trunkline_unconfigure(config: Config) -> None:
    """Called once when the runtime has stopped; release what ``trunkline_configure`` took."""


# Registries -------------------------------------------------------------------------------


@hookspec
def trunkline_register_channels() -> Sequence[type[ChannelAdapter]]:
    """Return channel adapter classes. Each is used as ``adapter = "<name>"`` in config."""
    return []


@hookspec
def trunkline_register_strategies() -> Sequence[Strategy]:
    """Return routing strategies; a queue picks one by name with ``strategy = "<name>"``."""
    return []


@hookspec
def trunkline_register_stores() -> Sequence[StoreFactory]:
    """Return store factories; the configuration picks one with ``store = "<name>"``."""
    return []


@hookspec
def trunkline_register_routes(runtime: Runtime) -> Sequence[BaseRoute]:
    """Return Starlette routes (``Route``, ``WebSocketRoute``, ``Mount``) to serve on the HTTP
    server of ``serve`` and ``demo``, beside the API and the pages.

    Called once when the server starts, with the running ``runtime``: a channel plugin serves
    its widget and its customers' WebSocket this way and hands what arrives to
    ``runtime.receive``. Paths must not start with ``/api/``, ``/ws/`` or ``/static/``
    (core's); prefix them with the plugin's name. Import Starlette inside the hook.
    """
    return []


@hookspec
def trunkline_register_commands() -> Sequence[click.Command]:
    """Return click commands to add to the ``trunkline`` command line.

    Keep imports of heavy SDKs inside the command's function: ``trunkline --help`` loads
    every plugin module to list the commands, and must stay fast.
    """
    return []


# Inbound ----------------------------------------------------------------------------------


@hookspec
def trunkline_inbound_filter(
    message: InboundMessage, workspace: str
) -> str | Awaitable[str | None] | None:
    """Refuse an inbound message before anything is stored. *May be async.*

    Return a reason (a non-empty string) to refuse it; the channel reports the refusal to its
    sender as permanent. The first reason returned wins. Return ``None`` to let it through.
    """


@hookspec
def trunkline_resolve_customer(
    workspace: str, address: Address, message: InboundMessage, store: Store
) -> Customer | Awaitable[Customer | None] | None:
    """Find the customer an inbound address belongs to. *May be async.*

    The first customer returned wins. When every implementation returns ``None``, core
    looks the address up in the store and creates a customer when it is new.
    """


@hookspec
def trunkline_thread_key(
    message: InboundMessage, workspace: str, customer: Customer
) -> str | Awaitable[str | None] | None:
    """Name the conversation an inbound message belongs to. *May be async.*

    A message whose thread key matches an open contact joins that contact. The first key
    returned wins; the default is the channel and the provider's thread hint, or the channel
    and the sender's address when the provider gives no hint.
    """


@hookspec
def trunkline_classify(
    contact: Contact, message: InboundMessage
) -> Classification | Awaitable[Classification | None] | None:
    """Add routing data to a new contact: attributes, priority, skills, language, queue.

    *May be async.* Every implementation runs; their classifications are merged in call
    order, later ones overriding earlier ones key by key.
    """


# Routing (synchronous: called inside the pure routing engine) -----------------------------


@hookspec(firstresult=True)
def trunkline_select_queue(contact: Contact, queues: Mapping[str, Queue]) -> str | None:
    """Choose the queue for a contact the classification left without one.

    Return a queue id from ``queues``. The default is the channel's configured queue, then
    the workspace's first queue.
    """


@hookspec
def trunkline_filter_agents(
    contact: Contact, queue: Queue, agents: Sequence[Agent]
) -> Sequence[str] | None:
    """Narrow the agents that may be offered a contact.

    ``agents`` have already passed the skill, status and capacity checks. Return the ids
    to keep, or ``None`` to keep them all. The results of all implementations intersect.
    """


@hookspec
def trunkline_score_agents(
    contact: Contact, queue: Queue, agents: Sequence[Agent]
) -> Mapping[str, float] | None:
    """Score candidate agents; scores from all implementations add up per agent.

    The agents with the highest total are handed to the queue's strategy, which breaks the
    tie (longest idle, round robin…). Return ``None`` to abstain.
    """


@hookspec(firstresult=True)
def trunkline_pick_agent(
    contact: Contact, queue: Queue, agents: Sequence[Agent], scores: Mapping[str, float]
) -> str | None:
    """Pick the agent to offer the contact to, overriding the queue's strategy.

    Return one id from ``agents``, or ``None`` to let the strategy choose.
    """


# Outbound and lifecycle --------------------------------------------------------------------


@hookspec(firstresult=True)
def trunkline_render_outbound(
    message: OutboundMessage, capabilities: Capabilities, channel: str
) -> OutboundMessage | None:
    """Adapt an outgoing message to what the channel can carry; the first result wins.

    For example, strip formatting for a channel without ``rich_text`` or drop attachments for
    one without ``attachments``. Core's default cuts the body to ``max_body_length``.
    """


@hookspec
def trunkline_contact_event(event: Event, runtime: Runtime) -> Awaitable[None] | None:
    """Observe every event after it is durably stored: metrics, CRM sync, webhooks.

    *May be async.* Implementations run in order; an exception is logged and ignored.
    """
