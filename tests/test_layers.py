"""The package's layers, read from the tree: each module imports only its own layer or lower
ones, and no import cycle exists, even through imports inside functions (a newcomer reading
one layer needs nothing above it; a cycle hides an order of initialisation)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rezwheel"
TYPE = "artifactory"  # rezwheel's own rez repository type (``rezplugin.artifactory``)

#: lowest first; a module's layer is its subpackage, or its own name for top-level modules
LAYERS = [
    {"errors", "atomic", "hashing", "pools", "progress", "__init__", "limits", "config", "redaction",
     "timers"},
    {"artifact"},
    {"index", "credentials"},
    {"rezrepo"},
    {"resolve"},
    {"rezplugin"},  # adapts rez's classes to resolve
    {"convert", "publish", "install", "mirror", "cache", "lock", "export"},
    {"cli", "commandline", "usage", "__main__", "rezplugin.command"},
]


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                    node.module.split(".")[0] == "rezwheel":
                base = node.module
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in modules else base)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "rezwheel")
            elif isinstance(node, ast.Constant) and node.value in modules:
                found.add(node.value)  # importlib.import_module("rezwheel.x"): an import too
            elif isinstance(node, ast.Call) and _imports_by_name(node) and not (
                    node.args and isinstance(node.args[0], ast.Constant)):
                raise AssertionError(f"{path}:{node.lineno}: an import of a computed name "
                                     "(this test could not follow it)")
            elif isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}: relative import (the layers read by name)")
        graph[name] = {m for m in found if m in modules and m != name and m != "rezwheel"}
    return graph


def _imports_by_name(call: ast.Call) -> bool:
    return _called(call) in ("import_module", "__import__")


def _unit(module: str) -> str:
    """The subpackage a module belongs to, or the module itself at the top or when LAYERS
    places it alone (``rezplugin.command`` is a command line, not the repository plugin)."""
    parts = module.split(".")
    alone = ".".join(parts[1:])
    return alone if any(alone in names for names in LAYERS) else parts[1] if len(parts) > 1 \
        else module


def _layer(module: str) -> int:
    parts = module.split(".")[1:] or ["__init__"]
    for key in (".".join(parts), parts[0]):  # a module named alone, else its subpackage
        for i, names in enumerate(LAYERS):
            if key in names:
                return i
    raise AssertionError(f"{module}: in no layer of test_layers.LAYERS: place it")


def test_every_module_imports_only_its_layer_or_lower_ones():
    graph = _imports()
    upward = sorted(f"{a} -> {b}" for a, deps in graph.items() for b in deps
                    if _layer(b) > _layer(a))
    assert upward == []


def test_no_layer_below_the_plugin_looks_it_up_in_rez_registry():
    """rez's plugin registry is an import by another name: a module below ``rezplugin`` that
    finds rezwheel's own repository type there (``get_plugin_class(..., "artifactory")``)
    depends on the plugin as surely as by importing it (the flows hand down what is needed)."""
    below = _layer("rezwheel.rezplugin")
    found = []
    for path in PACKAGE.rglob("*.py"):
        module = _module(path)
        if _layer(module) >= below:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and _called(node) == "get_plugin_class":
                named = node.args[1:] + [k.value for k in node.keywords]
                if not named or not all(isinstance(a, ast.Constant) and a.value != TYPE
                                        for a in named):  # ours, or a name it cannot read
                    found.append(f"{module}:{node.lineno}")
    assert found == []


def _called(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def test_no_import_cycles_between_modules_or_subpackages():
    modules = _imports()
    units: dict[str, set[str]] = {}
    for a, deps in modules.items():
        units.setdefault(_unit(a), set()).update(_unit(b) for b in deps if _unit(b) != _unit(a))
    for graph in (modules, units):
        assert _cycles(graph) == []


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    cycles: list[str] = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles
