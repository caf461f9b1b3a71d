"""Acme Contact Center: a vendor distribution of Trunkline, described by one ``Distro`` value.

It picks the plugins to load (the echo chat channel and the web, trunkline-web; core's
built-ins always load), names the product, and pre-fills configuration. ``defaults`` are
merged *under* the user's file, table by table: a key the file sets wins, a key it leaves out
comes from here.
"""

from __future__ import annotations

from typing import Any

from trunkline import Distro

__all__ = ["DEFAULTS", "distro"]

DEFAULTS: dict[str, Any] = {
    # Chat customers drop and come back: retry replies longer than core's default of 5.
    "outbox": {"max_attempts": 8, "max_backoff": 60.0},
    # Acme centres run in one workspace, "main", with Acme's catalogue of skills.
    "workspaces": {
        "main": {
            "name": "Acme Contact Center",
            "skills": ["en", "fr", "de", "billing", "tech"],
        }
    },
}

distro = Distro(
    name="acme",
    title="Acme Contact Center",
    plugins=("echo", "web"),  # entry-point plugins allowed; others installed alongside stay off
    defaults=DEFAULTS,
)
