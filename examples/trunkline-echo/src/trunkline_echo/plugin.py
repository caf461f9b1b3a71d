"""Entry point of the echo plugin (``trunkline.plugins`` → ``echo``): its hook implementations.

Only ``trunkline`` is imported at module level. ``trunkline --help`` imports every plugin's
entry-point module to list commands, so the adapter (where a real plugin would import its
provider's SDK) and the command are imported inside the hooks that return them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trunkline import hookimpl

if TYPE_CHECKING:
    import click

    from trunkline import ChannelAdapter


@hookimpl
def trunkline_register_channels() -> list[type[ChannelAdapter]]:
    from .adapter import EchoChannel

    return [EchoChannel]


@hookimpl
def trunkline_register_commands() -> list[click.Command]:
    from .cli import echo_say

    return [echo_say]
