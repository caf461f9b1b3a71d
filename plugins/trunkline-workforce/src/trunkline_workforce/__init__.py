"""Workforce planning for Trunkline: the Erlang C and A maths, the simulator and replay.

Modules, one job each: :mod:`~trunkline_workforce.erlang` (staffing figures of one interval,
pure Python), :mod:`~trunkline_workforce.simulation` (the production routing engine in virtual
time, and a recorded log replayed under another configuration), :mod:`~trunkline_workforce.cli`
(the commands ``trunkline erlang``, ``simulate`` and ``replay``) and
:mod:`~trunkline_workforce.plugin` (the entry point, which imports nothing heavy, so
``trunkline --help`` stays fast). Charts need the ``plots`` extra (matplotlib).
"""
