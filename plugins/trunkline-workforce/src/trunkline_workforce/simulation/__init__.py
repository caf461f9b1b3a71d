"""Simulation: the production routing engine in virtual time, for "what if" questions.

``trunkline simulate`` and ``trunkline replay`` (:mod:`trunkline_workforce.cli`) are built on
these parts: :mod:`.scenario` (what to run), :mod:`.distributions` (durations), :mod:`.run`
(the event loop around :class:`trunkline.routing.Router`), :mod:`.estimates` (confidence
intervals and the Erlang comparison), :mod:`.summary` (the JSON), :mod:`.plots` (PNG and HTML)
and :mod:`.replay` (a recorded log under another configuration).
"""

from __future__ import annotations

# Imported here rather than on first use: nothing imports this package but a simulation, which
# needs these parts anyway (the charts, the replay and the command's output stay apart).
from .distributions import Empirical, Exponential, Fixed, Lognormal
from .estimates import Estimate, compare, estimate
from .run import Records, Run, simulate, simulate_parallel
from .scenario import Arrival, ArrivalSource, Scenario, Shift, load_scenario, single_queue
from .summary import summary

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
