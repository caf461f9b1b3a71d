"""Entry point of the workforce plugin (``trunkline.plugins`` → ``workforce``): its commands.

``trunkline --help`` imports every plugin's entry-point module to list the commands, so this
one imports only ``trunkline``; the commands' module (click and :mod:`trunkline.cli`) is
imported inside the hook, and the maths and the simulator only when a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trunkline import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def trunkline_register_commands() -> list[click.Command]:
    from .cli import COMMANDS

    return list(COMMANDS)
