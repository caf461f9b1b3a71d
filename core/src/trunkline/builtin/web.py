"""Built-in plugin: the HTTP server of ``serve`` and ``demo`` (the API, the pages, the
WebSockets and ``/metrics``) is a service, run when the runtime was asked to serve the web.

The web package is imported only when the server starts, so an embedding app that never
serves the web never imports Starlette.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from ..hookspecs import hookimpl
from ..services import Service

if TYPE_CHECKING:
    from ..runtime import Runtime


async def _serve(
    runtime: Runtime, *, task_status: anyio.abc.TaskStatus[Any] = anyio.TASK_STATUS_IGNORED
) -> None:
    from ..web.app import run_web

    await run_web(runtime, task_status=task_status)


@hookimpl
def trunkline_register_services(runtime: Runtime) -> Sequence[Service]:
    if not runtime.serve_web:
        return []
    return [Service("web", partial(_serve, runtime))]
