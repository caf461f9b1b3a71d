"""The HTTP side of Trunkline: the REST and WebSocket API, the pages, and plugins' routes.

Imported only by ``serve`` and ``demo`` (and channel plugins that serve HTTP), never by
``import trunkline``: Starlette and uvicorn are loaded when a server starts.
"""
