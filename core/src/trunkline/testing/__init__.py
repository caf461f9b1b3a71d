"""Test helpers for Trunkline and its plugins: fixtures, a hook recorder, the conformance suite.

Installed with core, so plugin authors test the way the project does. The pytest plugin
(:mod:`trunkline.testing.plugin`) is registered through the ``pytest11`` entry point, so its
fixtures are available in any project that has trunkline installed. Channel plugins run the
conformance suite with a few lines; see :mod:`trunkline.testing.suite`.
"""

from __future__ import annotations

from .harness import HookRecorder, build_runtime, wait_for_event

__all__ = ["HookRecorder", "build_runtime", "wait_for_event"]
