"""The ``acme-cc`` command: Trunkline's command line with the Acme distribution selected."""

from __future__ import annotations

from collections.abc import Sequence

from trunkline.cli import main as trunkline_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``trunkline`` as ``acme-cc``: Acme's plugins and configuration defaults apply."""
    trunkline_main(argv, distro="acme")
