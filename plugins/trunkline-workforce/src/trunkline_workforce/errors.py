"""The error of a simulation that cannot run: a bad scenario file, flags or recorded log."""

from __future__ import annotations

from trunkline import TrunklineError

__all__ = ["ScenarioError"]


class ScenarioError(TrunklineError, ValueError):
    """A simulation scenario (or replay) that cannot run; the message names the key."""
