"""trunkline-web's own hooks, added to Trunkline's plugin manager by ``trunkline_addhooks``
(as pytest-xdist adds its ``newhooks``): a plugin that serves HTTP implements them.

A plugin may implement these and still load when trunkline-web is not installed: its
implementation is then never called (see ``PluginManager.check``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from trunkline.hookspecs import spec

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from trunkline import PluginRuntime

__all__ = ["RESERVED", "trunkline_register_routes"]

#: The path prefixes trunkline-web serves itself; a plugin's route under one stops the start.
RESERVED = (
    "/api/",
    "/ws/",
    "/static/",
    "/login",
    "/logout",
    "/agent",
    "/wallboard",
    "/metrics",
)


@spec()
def trunkline_register_routes(runtime: PluginRuntime) -> Sequence[BaseRoute]:
    """Return Starlette routes (``Route``, ``WebSocketRoute``, ``Mount``) to serve on the HTTP
    server of ``serve`` and ``demo``, beside the API and the pages.

    Called once when the server starts, with the running ``runtime``: a channel plugin serves
    its widget and its customers' WebSocket this way and hands what arrives to
    ``runtime.receive``. A path under one of trunkline-web's prefixes (:data:`RESERVED`:
    ``/api/``, ``/ws/``, ``/static/``, the pages, ``/metrics``) stops the start-up with a
    ``PluginError`` naming it; prefix yours with the plugin's name. Import Starlette inside.
    """
    return []
