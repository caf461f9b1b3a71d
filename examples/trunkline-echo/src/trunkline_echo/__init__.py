"""The echo channel: a tiny line-based TCP chat, shipped as a third-party Trunkline plugin.

Modules, one job each: :mod:`~trunkline_echo.wire` (the line format, no I/O),
:mod:`~trunkline_echo.adapter` (the channel adapter), :mod:`~trunkline_echo.client` (a
customer's side of the connection), :mod:`~trunkline_echo.cli` (the ``echo-say`` command) and
:mod:`~trunkline_echo.plugin` (the entry point, which imports the others only when needed).
"""
