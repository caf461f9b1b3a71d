"""Entry point of the plugin: the hook implementations Trunkline calls.

Keep this module light. ``trunkline --help`` imports it to list plugin commands, so the
adapter (and with it the provider's SDK) is imported inside the hook, not at the top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trunkline import hookimpl

if TYPE_CHECKING:
    from trunkline import ChannelAdapter


@hookimpl
def trunkline_register_channels() -> list[type[ChannelAdapter]]:
    from .adapter import TemplateChannel

    return [TemplateChannel]


# TODO (optional): more hooks, e.g. trunkline_register_commands for a CLI command, or
# trunkline_add_settings for settings that are not per channel. See trunkline.hookspecs.
