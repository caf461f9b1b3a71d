"""Simulation: the production routing engine in virtual time, for "what if" questions.

``trunkline simulate`` and ``trunkline replay`` are built on these parts:
:mod:`.scenario` (what to run), :mod:`.distributions` (durations), :mod:`.run` (the event
loop around :class:`~trunkline.routing.Router`), :mod:`.estimates` (confidence intervals and
the Erlang comparison), :mod:`.summary` (the JSON), :mod:`.plots` (PNG and HTML) and
:mod:`.replay` (a recorded log under another configuration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .distributions import Empirical, Exponential, Fixed, Lognormal
    from .estimates import Estimate, compare, estimate
    from .run import Records, Run, simulate, simulate_parallel
    from .scenario import Arrival, ArrivalSource, Scenario, Shift, load_scenario, single_queue
    from .summary import summary

_EXPORTS = {
    "Arrival": ".scenario",
    "ArrivalSource": ".scenario",
    "Empirical": ".distributions",
    "Estimate": ".estimates",
    "Exponential": ".distributions",
    "Fixed": ".distributions",
    "Lognormal": ".distributions",
    "Records": ".run",
    "Run": ".run",
    "Scenario": ".scenario",
    "Shift": ".scenario",
    "compare": ".estimates",
    "estimate": ".estimates",
    "load_scenario": ".scenario",
    "simulate": ".run",
    "simulate_parallel": ".run",
    "single_queue": ".scenario",
    "summary": ".summary",
}

__all__ = [
    "Arrival",
    "ArrivalSource",
    "Empirical",
    "Estimate",
    "Exponential",
    "Fixed",
    "Lognormal",
    "Records",
    "Run",
    "Scenario",
    "Shift",
    "compare",
    "estimate",
    "load_scenario",
    "simulate",
    "simulate_parallel",
    "single_queue",
    "summary",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
