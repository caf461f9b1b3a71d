"""Retiring a public name, argument, hook or setting: one helper, one warning class, one policy.

As pytest does in ``_pytest/deprecated.py``: what is deprecated is announced here with
:func:`warn_deprecated`, which raises :class:`TrunklineDeprecationWarning` naming what to use
instead and the release that removes it. The policy (``docs/contributing.md``): a deprecated
thing keeps working, with the warning, for at least one minor release (0.N to 0.N+1) and is
removed no earlier than the release the warning names; the CHANGELOG says so under
"Deprecated" when it is announced and under "Removed" when it goes.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["TrunklineDeprecationWarning", "warn_deprecated", "warn_deprecated_module"]


class TrunklineDeprecationWarning(DeprecationWarning):
    """Something of Trunkline's public API is going away; the message says what replaces it."""


def warn_deprecated(what: str, *, instead: str, removal: str, stacklevel: int = 2) -> None:
    """Warn that ``what`` is deprecated: use ``instead``; it goes in release ``removal``.

    ``stacklevel`` counts from the caller of the deprecated thing's own function (2: the
    function that calls this helper is the deprecated one, and the warning points at its
    caller).
    """
    warnings.warn(
        f"{what} is deprecated and will be removed in Trunkline {removal}; {instead}",
        TrunklineDeprecationWarning,
        stacklevel=stacklevel + 1,
    )


def warn_deprecated_module(module: str, *, instead: str, removal: str) -> None:
    """Warn that importing ``module`` is deprecated; called at the top level of that module.

    The warning points at the ``import`` statement that loaded the module, past the import
    machinery: ``warnings`` passes over the frozen frames of ``importlib`` itself, and this
    passes over a loader's ``exec_module`` (pytest's assertion rewriter loads the modules of
    a pytest plugin's distribution, as Trunkline is one). So the default filters show it to
    the code that imports.
    """
    level, frame = 2, sys._getframe(1).f_back  # 2: the deprecated module's own top level
    while frame is not None:
        name = frame.f_code.co_filename
        if "importlib" in name and "_bootstrap" in name:  # not counted by warnings either
            frame = frame.f_back
            continue
        level += 1
        if frame.f_code.co_name != "exec_module":
            break
        frame = frame.f_back
    warn_deprecated(f"the module {module}", instead=instead, removal=removal, stacklevel=level)
