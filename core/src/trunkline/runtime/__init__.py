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

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the same names, for type checkers; at run time each is imported on use
    from .desk import Desk as Desk
    from .desk import EngineFactory as EngineFactory
    from .desk import default_engine as default_engine
    from .lifecycle import Runtime as Runtime
    from .protocols import DeskView as DeskView
    from .protocols import PluginRuntime as PluginRuntime
    from .steps import Claim as Claim
    from .steps import DecisionStep as DecisionStep
    from .steps import InboundStep as InboundStep
    from .steps import Intake as Intake

# Imported on first use, so a plugin that imports only ``trunkline.runtime.steps`` (a built-in
# plugin loaded by every command, ``--help`` too) does not load the runtime itself.
_EXPORTS = {
    "Claim": ".steps",
    "DecisionStep": ".steps",
    "Desk": ".desk",
    "DeskView": ".protocols",
    "EngineFactory": ".desk",
    "InboundStep": ".steps",
    "Intake": ".steps",
    "PluginRuntime": ".protocols",
    "Runtime": ".lifecycle",
    "default_engine": ".desk",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
