"""Rez package definitions as text (``rez-package.py``) and back, without running them.

Writing uses rez's own serializer, so the text is exactly what a rez filesystem repository holds.
Reading never executes anything: the text comes from an index, a remote input, so it is parsed
with ``ast`` and must contain only what ``rez.package_serialise.dump_package_data`` writes:
literal assignments, functions (kept as source for rez's ``SourceCode``, ``@late()`` /
``@early()`` decorators allowed) and a ``with scope("config")`` block of literals.
"""

from __future__ import annotations

import ast
import io
import textwrap
from typing import Any

from .errors import UnsafeDefinitionError

#: Attributes rez adds when it loads a package from disk: they name build-machine paths.
LOCATION_KEYS = ("base", "repository")
_DECORATORS = {"late", "early"}
_LARGE_STRINGS = ("description", "changelog")


def package_data(package: Any) -> dict:
    """The serializable definition of a loaded rez package, without location keys.

    ``validated_data()`` turns ``config`` into a Config object; the raw dict is what a
    ``package.py`` holds (rez's filesystem repository does the same when installing).
    """
    data = package.validated_data()
    raw = getattr(package, "_data", None) or package.resource._data
    data.pop("config", None)
    if raw.get("config"):
        data["config"] = raw["config"]
    for key in LOCATION_KEYS:
        data.pop(key, None)
    return data


def dump(data: dict) -> str:
    """Definition text, written by rez's serializer with a stable key order.

    ``dump_package_data`` orders keys outside rez's preferred list as its schema validation
    returns them, which varies between processes; artifacts must not, so the same validation
    and writer run here with those keys sorted.
    """
    from rez.package_serialise import dump_functions, package_key_order, package_serialise_schema
    from rez.serialise import FileFormat

    clean = {k: v for k, v in data.items() if k not in LOCATION_KEYS and v is not None}
    valid = package_serialise_schema.validate(clean)
    keys = [k for k in package_key_order if k in valid] + sorted(set(valid) - set(package_key_order))
    buf = io.StringIO()
    dump_functions[FileFormat.py]([(k, valid[k]) for k in keys], buf)
    return buf.getvalue()


def parse(text: str, filename: str) -> dict:
    """Definition data from text, refusing anything the serializer would not have written."""
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as e:
        raise UnsafeDefinitionError(f"{filename}: line {e.lineno}: syntax error: {e.msg}") from None
    lines = text.splitlines()
    data: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and _is_name_target(node):
            key = node.targets[0].id  # type: ignore[attr-defined]
            value = _literal(node.value, filename)
            if key in _LARGE_STRINGS and isinstance(value, str):
                value = textwrap.dedent(value).strip()  # as rez's package schema does on load
            data[key] = value
        elif isinstance(node, ast.FunctionDef):
            data[node.name] = _function(node, lines, filename)
        elif isinstance(node, ast.With):
            data["config"] = _config_scope(node, filename)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        else:
            _refuse(node, filename, type(node).__name__.lower())
    return data


def _refuse(node: ast.AST, filename: str, what: str) -> None:
    raise UnsafeDefinitionError(
        f"{filename}: line {getattr(node, 'lineno', '?')}: {what} is not allowed in a package "
        "definition (only literals, functions and config scopes)")


def _is_name_target(node: ast.Assign) -> bool:
    return len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)


def _literal(node: ast.expr, filename: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        _refuse(node, filename, f"expression {ast.unparse(node)[:40]!r}")


def _function(node: ast.FunctionDef, lines: list[str], filename: str) -> Any:
    from rez.utils.sourcecode import SourceCode

    a = node.args
    if a.args or a.posonlyargs or a.kwonlyargs or a.vararg or a.kwarg or node.returns:
        _refuse(node, filename, f"function {node.name}() with arguments")
    decorators = []
    for d in node.decorator_list:
        if not (isinstance(d, ast.Call) and isinstance(d.func, ast.Name)
                and d.func.id in _DECORATORS and not d.args and not d.keywords):
            _refuse(d, filename, f"decorator @{ast.unparse(d)}")
        decorators.append({"name": d.func.id})  # type: ignore[union-attr]
    body = textwrap.dedent("\n".join(lines[node.lineno:node.end_lineno])).rstrip()
    code = SourceCode(source=body)
    code.funcname = node.name
    code.decorators = decorators
    return code


def _config_scope(node: ast.With, filename: str) -> dict:
    item = node.items[0] if len(node.items) == 1 else None
    call = item.context_expr if item else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "scope" and len(call.args) == 1
            and isinstance(call.args[0], ast.Constant) and call.args[0].value == "config"
            and isinstance(item.optional_vars, ast.Name)):  # type: ignore[union-attr]
        _refuse(node, filename, "with-statement other than scope('config')")
    var = item.optional_vars.id  # type: ignore[union-attr]
    config: dict = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            _refuse(stmt, filename, "statement in the config scope")
        path = _attribute_path(stmt.targets[0])  # type: ignore[union-attr]
        if not path or path[0] != var or len(path) < 2:
            _refuse(stmt, filename, "assignment outside the config scope")
        target = config
        for key in path[1:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = _literal(stmt.value, filename)  # type: ignore[union-attr]
    return config


def _attribute_path(node: ast.expr) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return []
    return [node.id] + parts[::-1]
