"""Entry point of the web-chat plugin (``trunkline.plugins`` → ``webchat``): its hooks.

Only ``trunkline`` is imported at module level. ``trunkline --help`` imports every plugin's
entry-point module to list commands, so the adapter is imported inside the hook that returns
it, and the routes, with Starlette, only when the HTTP server asks for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trunkline import hookimpl

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from trunkline import ChannelAdapter, PluginRuntime
    from trunkline.events import Event


@hookimpl
def trunkline_register_channels() -> list[type[ChannelAdapter]]:
    from .adapter import WebChatChannel

    return [WebChatChannel]


@hookimpl(optionalhook=True)  # trunkline-web's hook (its ``trunkline_addhooks``)
def trunkline_register_routes(runtime: PluginRuntime) -> list[BaseRoute]:
    """``/chat/<channel>/…`` for the runtime's web-chat channels; nothing when it has none."""
    from .adapter import WebChatChannel

    if not any(isinstance(a, WebChatChannel) for a in runtime.channels.values()):
        return []
    from .routes import chat_routes

    return chat_routes(runtime)


@hookimpl
def trunkline_contact_event(event: Event, runtime: PluginRuntime) -> None:
    """Each stored event, for the web-chat channels' visitors: their place in line moves, an
    agent takes their chat (see :mod:`trunkline_webchat.progress`)."""
    from .adapter import WebChatChannel

    for adapter in runtime.channels.values():
        if isinstance(adapter, WebChatChannel):
            adapter.progress.observe(event, runtime)
