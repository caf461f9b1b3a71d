"""Core's import rules: no cycles, and one list of what plugins may import.

import-linter (``uv run lint-imports``, in CI) checks the contracts of the root
``pyproject.toml``; these tests check what a contract cannot: that core has no import cycle at
all, and that the public-API page, the plugins' contract and the modules agree.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


# The bottom of the layers: in no cycle even counting the imports only type checkers read.
TYPED_ACYCLIC = ("trunkline.model", "trunkline.servicelevel")


def _graph(*, type_checking: bool = False) -> grimp.ImportGraph:
    # Imports under `if TYPE_CHECKING:` are for type checkers only: never run, never a cycle
    # at run time (but a cycle of names all the same; see TYPED_ACYCLIC). No cache: grimp's
    # keeps one set of file times for both kinds of graph, so one of them can be stale.
    return grimp.build_graph(
        "trunkline", exclude_type_checking_imports=not type_checking, cache_dir=None
    )


def _cycles(graph: grimp.ImportGraph, modules: Iterable[str]) -> list[tuple[str, ...]]:
    """Pairs of a module and one it imports that imports it back, directly or not."""
    return sorted(
        {
            tuple(sorted((module, imported)))
            for module in modules
            for imported in graph.find_modules_directly_imported_by(module)
            if graph.chain_exists(importer=imported, imported=module)
        }
    )


def test_no_module_of_core_imports_itself_through_others_lazy_imports_included() -> None:
    graph = _graph()
    assert _cycles(graph, graph.modules) == []


def test_the_model_and_service_level_are_in_no_cycle_type_checking_imports_included() -> None:
    assert _cycles(_graph(type_checking=True), TYPED_ACYCLIC) == []


def _contract(name: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (found,) = [
        c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith(name)
    ]
    return found


def test_every_module_of_core_is_public_or_forbidden_to_plugins_and_the_page_agrees() -> None:
    page = (ROOT / "docs" / "plugins" / "public-api.md").read_text(encoding="utf-8")
    public = set(re.findall(r"^\| `(trunkline[\w.]*)` \|", page, re.MULTILINE))
    private = set(_contract("Plugins import")["forbidden_modules"])  # type: ignore[arg-type]
    assert not public & private
    graph = _graph()
    top = {m for m in graph.modules if m.count(".") <= 1}
    classified = public | private
    assert top <= classified, sorted(top - classified)
    assert classified <= graph.modules, sorted(classified - graph.modules)


def test_the_web_is_a_plugin_core_never_imports_and_that_imports_only_the_public_api() -> None:
    assert "trunkline_web" in _contract("Core imports no plugin")["forbidden_modules"]  # type: ignore[operator]
    assert "trunkline_web" in _contract("Plugins import")["source_modules"]  # type: ignore[operator]
    assert not any(m.startswith("trunkline.web") for m in _graph().modules)
