"""The public facade, ``trunkline``: one list of exports, each importable from where it says."""

from __future__ import annotations

import ast
import importlib
from importlib import metadata
from pathlib import Path

import trunkline

FACADE = Path(trunkline.__file__)


def _type_checking_imports() -> dict[str, str]:
    """Name -> module of the imports under ``if TYPE_CHECKING:`` in the facade."""
    tree = ast.parse(FACADE.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.dump(statement)
                for alias in statement.names:
                    assert alias.asname == alias.name, (
                        f"{alias.name}: write `{alias.name} as {alias.name}`"
                    )
                    found[alias.name] = "." * statement.level + (statement.module or "")
    return found


def test_the_facade_lists_its_exports_once_and_the_type_checkers_block_agrees() -> None:
    exports = trunkline._EXPORTS  # type: ignore[attr-defined]
    assert _type_checking_imports() == exports
    assert trunkline.__all__ == sorted(exports)


def test_every_export_is_the_object_its_module_defines() -> None:
    for name, module in trunkline._EXPORTS.items():  # type: ignore[attr-defined]
        defined = getattr(importlib.import_module(module, "trunkline"), name)
        assert getattr(trunkline, name) is defined, name
    assert sorted(dir(trunkline)) == sorted(trunkline.__all__)


def test_the_version_is_the_distributions_written_once_in_its_pyproject() -> None:
    assert trunkline.__version__ == metadata.version("trunkline")
    assert "__version__ =" not in FACADE.read_text(encoding="utf-8")
