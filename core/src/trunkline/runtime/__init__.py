"""The runtime: channels, the inbound pipeline, one routing desk per workspace, the outbox.

A package, one job per module:

- :mod:`.lifecycle`: the :class:`Runtime` (construction, ``run``, services, channels, timers);
- :mod:`.desk`: the :class:`Desk` (one writer per workspace), its commit pipeline and the
  one rebuild from the store;
- :mod:`.inbound`: the inbound pipeline; :mod:`.steps`: the steps plugins add to it and to
  routing decisions;
- :mod:`.commands`: the desk commands; :mod:`.outbox`: sending; :mod:`.bus`: events and
  signals;
- :mod:`.protocols`: what plugins see of a runtime (:class:`PluginRuntime`, :class:`DeskView`).
"""

from __future__ import annotations

from .desk import Desk, EngineFactory, default_engine
from .lifecycle import Runtime
from .protocols import DeskView, PluginRuntime
from .steps import Claim, DecisionStep, InboundStep, Intake

__all__ = [
    "Claim",
    "DecisionStep",
    "Desk",
    "DeskView",
    "EngineFactory",
    "InboundStep",
    "Intake",
    "PluginRuntime",
    "Runtime",
    "default_engine",
]
