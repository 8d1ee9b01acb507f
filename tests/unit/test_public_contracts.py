"""ailib uses other packages only through their public interfaces (DESIGN.md principle 2).

A scan of every module under ``ailib/``: no code objects or function rebuilding, no
``__class__`` swaps, no underscore attribute or import of another package, and no class
that overrides an underscore method of a base class from another package. What cannot be
avoided is listed in ``ALLOWED`` with its reason, and each entry has a test of its own
that fails loudly if the other package changes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import ailib

ROOT = Path(ailib.__file__).parent
FORBIDDEN_DUNDERS = {"__code__", "__kwdefaults__", "__globals__", "__closure__", "__defaults__"}
FORBIDDEN_CALLS = {"FunctionType", "CodeType", "MethodType"}
# (module, what) -> why it cannot be avoided, and the test that guards it. Empty: nothing is.
ALLOWED: dict[tuple[str, str], str] = {}


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out.append((name, ast.parse(path.read_text(), str(path))))
    return out


MODULES = _modules()


NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}  # public, underscored only to avoid field names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__")) and name not in NAMEDTUPLE_API


def _own_names() -> set[str]:
    """Every underscore name ailib itself defines (functions, classes, attributes it assigns,
    slots, parameters, imported aliases and its own private modules)."""
    names: set[str] = set()
    for module, tree in MODULES:
        names.update(part for part in module.split(".") if _private(part))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets):
                names.update(c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and len(node.args) > 1:
                arg = node.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names.add(arg.value)
    return {n for n in names if _private(n)}


def _foreign_roots(tree: ast.Module) -> set[str]:
    """Names a module binds to other packages' modules or objects by import."""
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.asname or alias.name.split(".")[0] for alias in node.names if not alias.name.startswith("ailib"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and not (node.module or "").startswith("ailib"):
            roots.update(alias.asname or alias.name for alias in node.names)
    return roots


def _root(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _uses() -> list[tuple[str, str]]:
    own = _own_names()
    found: list[tuple[str, str]] = []
    for module, tree in MODULES:
        foreign = _foreign_roots(tree)
        for node in ast.walk(tree):
            where = f"{module}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute):
                if node.attr in FORBIDDEN_DUNDERS:
                    found.append((where, node.attr))
                elif node.attr == "__class__" and isinstance(node.ctx, ast.Store):
                    found.append((where, "__class__ assignment"))
                elif _private(node.attr) and (node.attr not in own or _root(node.value) in foreign):
                    found.append((where, node.attr))
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if name in FORBIDDEN_CALLS:
                    found.append((where, name))
                if name in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1:
                    arg = node.args[1]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _private(arg.value) and arg.value not in own:
                        found.append((where, arg.value))
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and not (node.module or "").startswith("ailib"):
                found.extend(
                    (where, f"{node.module}.{a.name}")
                    for a in node.names
                    if _private(a.name) or _private((node.module or "").split(".")[-1])
                )
    return found


def _overrides() -> list[tuple[str, str]]:
    """Underscore methods of other packages' classes that an ailib class overrides."""
    found = []
    for module, _ in MODULES:
        if module.endswith("__main__"):  # running it is the command line
            continue
        mod = importlib.import_module(module)
        for cls in vars(mod).values():
            if not inspect.isclass(cls) or cls.__module__ != module:
                continue
            foreign = [b for b in cls.__mro__[1:] if not b.__module__.startswith("ailib") and b is not object]
            for name, value in vars(cls).items():
                defined = inspect.isfunction(value) or isinstance(value, (property, staticmethod, classmethod))
                sunder = name.endswith("_")  # an Enum's documented hooks (_missing_, _generate_next_value_)
                if defined and _private(name) and not sunder and any(name in vars(b) for b in foreign):
                    found.append((f"{module}.{cls.__qualname__}", name))
    return found


def test_no_private_use_of_other_packages():
    """No module under ailib/ reads, writes or imports another package's underscore names, rebuilds a function or swaps a class."""
    used = [u for u in _uses() if (u[0].split(":")[0], u[1]) not in ALLOWED]
    assert used == []


def test_no_override_of_another_packages_private_methods():
    """No ailib class overrides an underscore method it inherits from another package's class."""
    assert [o for o in _overrides() if o not in ALLOWED] == []


def test_the_scan_finds_what_it_forbids():
    """The scan itself flags each kind of private use (so an empty result means something)."""
    source = (
        "import http.client, types\n"
        "from urllib3.connectionpool import HTTPConnectionPool, _url_from_pool\n"
        "x = http.client._MAXLINE\n"
        "f = types.FunctionType(g.__code__, {})\n"
        "s.__class__ = Q\n"
        "getattr(a, '_pool_maxsize')\n"
    )
    global MODULES
    saved = MODULES
    MODULES = [("ailib.example", ast.parse(source))]
    try:
        kinds = {what for _, what in _uses()}
    finally:
        MODULES = saved
    assert {
        "_MAXLINE",
        "__code__",
        "FunctionType",
        "__class__ assignment",
        "_pool_maxsize",
        "urllib3.connectionpool._url_from_pool",
    } <= kinds


def test_allowed_entries_each_name_their_reason():
    """Every exception to the rule says why it cannot be avoided and which test guards it."""
    assert all(len(reason) > 20 and "test" in reason for reason in ALLOWED.values())
