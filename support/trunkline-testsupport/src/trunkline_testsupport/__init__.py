"""Trunkline's own test support: helpers for the project's tests that are not public API.

A workspace member that is never published (``Private :: Do Not Upload``): what a plugin
author tests with is in core's :mod:`trunkline.testing`. Here is what only this repository's
tests need: :mod:`trunkline_testsupport.browser` (Debian's chromium for Playwright) and
:mod:`trunkline_testsupport.typecheck` (``mypy --strict`` on a small program).
"""
