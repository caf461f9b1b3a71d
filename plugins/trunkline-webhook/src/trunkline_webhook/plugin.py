"""Entry point of the webhook plugin (``trunkline.plugins`` → ``webhook``): its hooks.

Only ``trunkline`` is imported at module level. ``trunkline --help`` imports every plugin's
entry-point module to list commands, so the adapter, and with it Starlette, uvicorn and httpx,
is imported inside the hook that returns it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trunkline import hookimpl

if TYPE_CHECKING:
    from trunkline import ChannelAdapter


@hookimpl
def trunkline_register_channels() -> list[type[ChannelAdapter]]:
    from .adapter import WebhookChannel

    return [WebhookChannel]
