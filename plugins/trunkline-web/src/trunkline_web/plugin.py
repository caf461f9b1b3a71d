"""Entry point of trunkline-web (``trunkline.plugins`` → ``web``): its hooks.

The HTTP server of ``serve`` and ``demo`` (the API, the pages, the WebSockets and
``/metrics``) is a service that listens, started only when the runtime serves. Starlette and
uvicorn are imported only when the server starts, so ``trunkline --help`` and an embedding app
that never serves pay nothing for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from trunkline import hookimpl
from trunkline.services import Service

if TYPE_CHECKING:
    import click

    from trunkline import Config, PluginManager, PluginRuntime, SettingsRegistry
    from trunkline.events import Event


@hookimpl
def trunkline_addhooks(pluginmanager: PluginManager) -> None:
    from trunkline_web import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def trunkline_add_settings(registry: SettingsRegistry) -> None:
    from trunkline_web.settings import add_web_settings

    add_web_settings(registry)


async def _serve(
    runtime: PluginRuntime, *, task_status: anyio.abc.TaskStatus[Any] = anyio.TASK_STATUS_IGNORED
) -> None:
    from trunkline_web.app import run_web

    await run_web(runtime, task_status=task_status)


@hookimpl
def trunkline_register_services(runtime: PluginRuntime) -> Sequence[Service]:
    from trunkline_web.settings import web_settings

    if not web_settings(runtime.config).enabled:
        return []
    return [Service("web", partial(_serve, runtime), listens=True)]


@hookimpl
def trunkline_register_commands() -> Sequence[click.Command]:
    from trunkline_web.commands import demo, hash_secret

    return [demo, hash_secret]


@hookimpl
def trunkline_log_config(events: Sequence[Event], pluginmanager: PluginManager) -> Config | None:
    """The demo's configuration, for ``trunkline explain`` of a ``trunkline demo --events``
    log given without ``--config``: as many simulated agents as the log shows."""
    from trunkline import events as ev
    from trunkline_web.demo import HUMAN, DemoOptions, demo_config

    seen = {e.agent_id for e in events if isinstance(e, ev.AgentStatusChanged)} - {HUMAN}
    return demo_config(DemoOptions(agents=max(1, len(seen))), pluginmanager)
