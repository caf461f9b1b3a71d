"""trunkline-web: the HTTP side of Trunkline as a plugin: the REST and WebSocket API, the
pages, ``/metrics``, plugins' routes and ``trunkline demo``.

Never imported by core nor by ``import trunkline``: Starlette and uvicorn are loaded when a
server starts. Public modules for other plugins: :mod:`trunkline_web.hookspecs` (the
``trunkline_register_routes`` hook), :mod:`trunkline_web.server` (uvicorn as an anyio task)
and :mod:`trunkline_web.settings` (the typed accessors of the web's settings).
"""
