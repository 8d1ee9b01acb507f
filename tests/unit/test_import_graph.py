"""The import graph of ``ailib``: every import statement, wherever it is written.

import-linter (``scripts/check``) enforces setup.cfg's layer contracts on the graph it builds;
these tests walk the source themselves so that nothing escapes them: imports inside
``TYPE_CHECKING`` blocks, inside functions (deferred imports) and inside ``try`` blocks all
count. A module may import only from its own layer or a lower one, and no chain of imports
may lead from a module back to itself.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ailib"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name a ``from ... import`` statement in ``module`` starts from."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _target(name: str) -> str | None:
    """The ailib module an imported name lives in: the longest known module prefix."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_in(module: str, source: str, *, is_package: bool = False) -> dict[str, int]:
    """Every ailib module that ``source`` (the text of ``module``) imports, with the line of its first import."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            # ``from pkg import sub`` imports the module pkg.sub when there is one, else a name of pkg
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        for name in names:
            target = _target(name)
            if target is not None and target != module:
                found.setdefault(target, node.lineno)
    return found


GRAPH = {
    module: imports_in(module, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py") for module, path in MODULES.items()
}


def _layers() -> list[list[str]]:
    """setup.cfg's import-linter layers, top first; each a list of module/package names."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = config["importlinter:contract:layers"]["layers"].strip().splitlines()
    return [[name.strip() for name in line.replace("|", ":").split(":") if name.strip()] for line in lines]


LAYERS = _layers()


def layer_of(module: str) -> int | None:
    """The index of ``module``'s layer (0 is the top), from the longest matching prefix."""
    best: tuple[int, int] | None = None
    for index, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > best[0]:
                    best = (len(name), index)
    return None if best is None else best[1]


def _cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in GRAPH[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return found


def test_the_walker_sees_deferred_and_type_checking_imports() -> None:
    """The walker finds an import inside a function and one inside ``if TYPE_CHECKING``."""
    seen = {(module, target) for module, targets in GRAPH.items() for target in targets}
    assert len(seen) > 300
    source = "\n".join(path.read_text(encoding="utf-8") for path in MODULES.values())
    assert "if TYPE_CHECKING:" in source  # the kind of import this test exists to see


def test_every_module_has_a_layer() -> None:
    """Every module of ailib is placed in one of setup.cfg's layers (a new package must be placed)."""
    assert [module for module in MODULES if module != "ailib" and layer_of(module) is None] == []


def test_no_import_cycles() -> None:
    """No chain of imports, counting TYPE_CHECKING and function-level ones, leads back to its start."""
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_no_import_runs_up_a_layer() -> None:
    """No module imports one of a higher layer, not even inside a function or for type checking."""
    upward = []
    for module, targets in GRAPH.items():
        mine = layer_of(module)
        for target, line in targets.items():
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs < mine:
                upward.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from .types import Usage", {"ailib.types"}),
        ("from . import errors", {"ailib.errors"}),
        ("def f():\n    from .call import pipeline", {"ailib.call.pipeline"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .client import AiClient", {"ailib.client"}),
        ("import ailib.errors as e", {"ailib.errors"}),
        ("try:\n    from ..call.race import Race\nexcept ImportError:\n    pass", {"ailib.call.race"}),
    ],
)
def test_the_walker_resolves_each_kind_of_import(source: str, expected: set[str]) -> None:
    """An import of each kind, written in a module of ailib, resolves to the ailib module it names."""
    module = "ailib.routing._probe" if source.startswith("try") else "ailib._probe"
    assert set(imports_in(module, source)) == expected
