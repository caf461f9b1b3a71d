"""Public names imported on first use (PEP 562), for packages whose parts are heavy."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str,
    exports: Mapping[str, str],
    names: Sequence[str],
    *,
    distribution: str | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a public name to the
    relative module defining it; a name is imported, then kept, the first time it is read.
    With ``distribution``, ``__version__`` is that distribution's installed version: the
    version is written once, in its ``pyproject.toml``."""

    def __getattr__(name: str) -> Any:
        if name == "__version__" and distribution is not None:
            from importlib import metadata

            version = metadata.version(distribution)
            setattr(sys.modules[package], name, version)
            return version
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
