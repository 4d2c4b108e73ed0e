"""Rez package definitions as text (``rez-package.py``) and back, without running them.

Writing uses rez's own serializer, so the text is exactly what a rez filesystem repository holds.
Reading never executes anything: the text comes from an index, a remote input, so it is parsed
with ``ast`` and must contain only what ``rez.package_serialise.dump_package_data`` writes:
literal assignments, functions (kept as source for rez's ``SourceCode``, ``@late()`` /
``@early()`` decorators allowed) and a ``with scope("config")`` block of literals.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import textwrap
import threading
from typing import Any, Optional, Callable, NoReturn
from dataclasses import dataclass, field

from rezwheel import limits
from rezwheel.errors import UnsafeDefinitionError
from rezwheel.artifact import checkmemo

#: Attributes rez adds when it loads a package from disk: they name build-machine paths.
LOCATION_KEYS = ("base", "repository")
_DECORATORS = {"late", "early"}
_LARGE_STRINGS = ("description", "changelog")

#: Functions rez runs as rex code when a context is built (``package_rex_keys``): after the solve.
COMMANDS = ("commands", "pre_commands", "post_commands", "pre_build_commands",
            "pre_test_commands")

#: Attributes rez 3.4 reads before or while solving, listing, filtering, ordering or caching,
#: so a ``@late()`` function there would run index code without any context being built:
#: the solver (``solver.py``: ``name``, ``version``, ``requires`` and, for builds,
#: ``build_requires`` / ``private_build_requires`` through ``Variant.get_requires``),
#: variant iteration (``variants``, ``hashed_variants``: the subpath), package filters and the
#: timestamp orderer (``package_filter.py``, ``package_order.py``: ``timestamp``), plugin
#: listing (``package_search.py``: ``has_plugins``, ``plugin_for``), the package cache and
#: copies (``package_cache.py``: ``cachable``, ``relocatable``), package config overrides
#: (``config``), and the identity fields rez's schema never lets be late (``uuid``, ``format``
#: ``_version``, ``previous_version``, ``base``). Everything else rez reads only when asked
#: after a solve (``tools``, ``help``, ``description``, ``authors``, ``changelog``, ``tests``,
#: custom attributes read by ``commands`` through ``this``), so a ``@late()`` there runs no
#: earlier than the package's own ``commands`` would.
SOLVE_TIME = ("name", "version", "requires", "build_requires", "private_build_requires",
              "variants", "hashed_variants", "timestamp", "has_plugins", "plugin_for",
              "cachable", "relocatable", "config", "uuid", "format_version",
              "previous_version", "base")
_REQUIRE_LISTS = ("requires", "build_requires", "private_build_requires")
_PATH_UNSAFE = ("/", "\\", "\0")


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


def dump_checked(data: dict, filename: str) -> str:
    """``dump``, read back before anyone runs it: the text must parse to the same attributes
    and function bodies, so a definition can never come out of a round trip meaning more than
    it did going in (a package.py is code to every later rez that reads it)."""
    text = dump(data)
    back = parse(text, filename)
    want = {k: v for k, v in data.items() if k not in LOCATION_KEYS and v is not None}
    if set(want) != set(back) or any(code_of(want[k]) != code_of(back[k])
                                     for k in want if code_of(want[k]) is not None):
        raise UnsafeDefinitionError(f"{filename}: the definition does not read back as written; "
                                    "refused")
    return text


def unwritable(value: Any, where: str = "") -> Optional[str]:
    """Where a value rez's writer cannot write lies ("config.release_hooks is a ModifyList"), or
    None: the writer puts such an object's default repr into the text, which no reader parses
    (rez's own install of the package writes the same broken file)."""
    if isinstance(value, dict):
        items: Any = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return f"{where} is a {type(value).__name__}" if " object at 0x" in repr(value) else None
    return next((found for w, v in items if (found := unwritable(v, w))), None)


def code_of(value: Any) -> Optional[tuple]:
    """(body, decorators) of a function attribute, None for data."""
    if not (hasattr(value, "source") and hasattr(value, "decorators")):
        return None
    return (textwrap.dedent(value.source).strip(),
            [d.get("name") for d in value.decorators or []])


#: CPython before 3.11.8/3.12.1 keeps the AST converter's recursion depth in shared state, so
#: ``ast.parse`` in two threads at once can fail with "AST constructor recursion depth
#: mismatch" (gh-106905); definitions are read from thread pools, so parsing takes turns
_AST_LOCK = threading.Lock()


def variant_subpath(data: dict, variant: Optional[int]) -> str:
    """Where rez looks for a variant under its package directory (what rez computes)."""
    if variant is None or not data.get("variants"):
        return ""
    requires = [str(r) for r in data["variants"][variant]]
    if data.get("hashed_variants"):  # rez: sha1 of the printed list of requires
        return hashlib.sha1(str(requires).encode("utf8")).hexdigest()
    return os.path.join(*requires) if requires else ""


@dataclass(frozen=True)
class Definition:
    """A rez package definition read once and carried as is: ``text`` as serialised (what a
    restored package.py is written from, and what a store entry is tied to), ``data`` parsed
    from it by ``parse`` and checked by ``check_identity``. Built by ``Definition.read``."""
    text: str
    data: dict = field(repr=False, compare=False)

    @classmethod
    def read(cls, text: str, filename: str) -> "Definition":
        data = parse(text, filename)
        check_identity(data, filename)
        return cls(text, data)

    @property
    def name(self) -> str:
        return str(self.data.get("name", ""))

    @property
    def version(self) -> str:
        return str(self.data.get("version", "") or "")

    @property
    def requires(self) -> list[str]:
        """The package's own requires (each variant adds ``variant_requires``)."""
        return [str(r) for r in self.data.get("requires") or []]

    def variant_requires(self, index: Optional[int]) -> list[str]:
        """What variant ``index`` adds to the requires (None, a package without variants:
        nothing). ``index`` is one of the definition's variants (rez chose it from them)."""
        if index is None:
            return []
        return [str(r) for r in (self.data.get("variants") or [])[index]]

    def variant_subpath(self, index: Optional[int]) -> str:
        """Where rez looks for variant ``index`` under the package directory."""
        return variant_subpath(self.data, index)

    @property
    def localize_never(self) -> bool:
        """The package asks to be used where it is, never copied into a store
        (``rezwheel = {"localize": "never"}``: licensed or site-bound payloads)."""
        extra = self.data.get("rezwheel")
        return isinstance(extra, dict) and extra.get("localize") == "never"


def parse(text: str, filename: str) -> dict:
    """Definition data from text, refusing anything the serializer would not have written.

    Whatever the text does to the parser (nesting that exhausts the recursion limit, literals too
    large to build or print) is a refusal naming the file, never an exception of another kind.
    Its cost grows with its size (an AST walk, the functions cut out and parsed again: ~9 s a
    MiB of one-line statements), so past ``limits.max-definition-bytes`` it is not parsed.
    """
    cap = int(limits.get("max-definition-bytes"))
    if len(text) > cap or len(text.encode("utf-8", "surrogatepass")) > cap:
        raise UnsafeDefinitionError(f"{filename}: larger than the limit {cap} bytes "
                                    "(REZWHEEL_MAX_DEFINITION_BYTES)")
    try:
        with _AST_LOCK:
            return _parse(text, filename)
    except UnsafeDefinitionError:
        raise
    except (RecursionError, MemoryError, ValueError, TypeError, OverflowError) as e:
        raise UnsafeDefinitionError(f"{filename}: not a package definition rezwheel can read "
                                    f"({type(e).__name__})") from None


def _parse(text: str, filename: str) -> dict:
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as e:
        raise UnsafeDefinitionError(f"{filename}: line {e.lineno}: syntax error: {e.msg}") from None
    lines = text.splitlines()
    read = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # as the parser counts
    data: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and _is_name_target(node):
            key = node.targets[0].id  # type: ignore[attr-defined]
            value = _literal(node.value, filename)
            if key in _LARGE_STRINGS and isinstance(value, str):
                value = textwrap.dedent(value).strip()  # as rez's package schema does on load
            data[key] = value
        elif isinstance(node, ast.FunctionDef):
            data[node.name] = _function(node, lines, read, filename)
        elif isinstance(node, ast.With):
            data["config"] = _config_scope(node, filename)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        else:
            _refuse(node, filename, type(node).__name__.lower())
    return data


def check_identity(data: dict, filename: str) -> None:
    """Refuse a definition whose name, version or requirements could not be rez's own.

    The name, version and variant requirements become directory names in a rez repository and
    the store, and the requirements feed the solver: a name like ``../../x`` (which rez's
    loaders never produce, but a forged artifact or index can) would write outside the target.
    A late-bound ``requires`` is code, not a bad value: ``check_resolvable`` judges it.
    """
    from rez.utils.formatting import is_valid_package_name
    from rez.utils.sourcecode import SourceCode
    from rez.version import Version

    def refuse(what: str) -> NoReturn:
        raise UnsafeDefinitionError(f"{filename}: {what}")

    name = data.get("name")
    if not isinstance(name, str) or not is_valid_package_name(name):
        refuse(f"invalid package name {_short(name)}")
    if "version" in data:
        version = data["version"]
        if not isinstance(version, str) or any(c in version for c in _PATH_UNSAFE):
            refuse(f"invalid version {_short(version)}")
        try:
            printed = str(Version(version))
        except Exception:
            printed = None
        if printed != version:
            refuse(f"invalid version {_short(version)}")
    for key in _REQUIRE_LISTS:
        value = data.get(key)
        if value is None or isinstance(value, SourceCode):
            continue  # a late-bound list is code: check_resolvable decides whether it may run
        if not isinstance(value, list):
            refuse(f"{key} is not a list of requirements")
        for req in value:
            _check_requirement(req, key, refuse)
    variants = data.get("variants")
    if variants is not None:
        if not isinstance(variants, list) or not all(isinstance(v, list) for v in variants):
            refuse("variants is not a list of lists of requirements")
        for variant in variants:
            for req in variant:
                _check_requirement(req, "variants", refuse, as_path=True)
    if "hashed_variants" in data and not isinstance(data["hashed_variants"], bool):
        refuse(f"hashed_variants is not a bool: {_short(data['hashed_variants'])}")
    _check_schema(data, refuse)


def _check_schema(data: dict, refuse: Callable[[str], NoReturn]) -> None:
    """Every attribute of the type rez's package schema wants (what ``dump`` and rez's loaders
    validate), one at a time so the message names it: a forged ``timestamp = 'x'`` or an
    ``@early()`` description would otherwise fail later, deep in rez, as a traceback."""
    from rez.package_serialise import package_serialise_schema

    for key, value in data.items():
        if key in LOCATION_KEYS or key == "name" or value is None:
            continue
        # the name passed check_identity (a str, all its schema asks): the outcome is the value's
        seen = ("schema", key, checkmemo.canonical(value))
        if checkmemo.passed(seen):
            continue
        try:
            package_serialise_schema.validate({"name": data["name"], key: value})
        except Exception as e:
            refuse(f"{key} is not valid in a rez definition: {' '.join(str(e).split())[:160]}")
        checkmemo.remember(seen)


def _check_requirement(req: Any, key: str, refuse: Callable[[str], NoReturn],
                       as_path: bool = False) -> None:
    """A rez requirement string with a valid package name; a variant's also names a directory
    (``foo-1.2/bar-3``), so it must print back as rez would name it, with no path separator."""
    from rez.utils.formatting import is_valid_package_name
    from rez.version import Requirement

    seen = ("requirement", req, as_path) if type(req) is str else None
    if checkmemo.passed(seen):
        return
    if not isinstance(req, str) or any(c in req for c in _PATH_UNSAFE) or \
            req in ("", ".", ".."):
        refuse(f"invalid requirement {_short(req)} in {key}")
    try:
        parsed = Requirement(req)
    except Exception:
        refuse(f"invalid requirement {_short(req)} in {key}")
    if not is_valid_package_name(parsed.name[1:] if parsed.name.startswith(".") else parsed.name) \
            or (as_path and str(parsed) != req):
        refuse(f"invalid requirement {_short(req)} in {key}")
    checkmemo.remember(seen)


def resolve_time_code(data: dict) -> list[str]:
    """Attributes whose value is code rez would run before a context is built.

    Reading a definition is reading data (DESIGN.md section 3): the solver, ``rez search`` and
    dry runs read ``SOLVE_TIME`` attributes, so a late-bound function there runs while merely
    resolving. Allowed: undecorated rex functions (``COMMANDS``, run when a context is built) and
    ``@late()`` functions of other attributes (read after the solve). Any ``@early()`` is
    suspicious: rez evaluates it when loading a ``package.py``, so ``dump_package_data`` (what
    ``rez-package.py`` is written with) only ever holds its value.
    """
    from rez.utils.sourcecode import SourceCode

    found = []
    for key, value in data.items():
        if not (isinstance(value, SourceCode) or callable(value)):
            continue
        names = [d.get("name") for d in getattr(value, "decorators", None) or []]
        if key in COMMANDS and not names:
            continue
        if names == ["late"] and key not in SOLVE_TIME and key not in COMMANDS:
            continue
        found.append(key)
    return sorted(found)


def check_resolvable(data: dict, filename: str) -> None:
    """Refuse a definition from an index whose solve would run its code (unless trusted)."""
    for key in resolve_time_code(data):
        raise UnsafeDefinitionError(
            f"{filename}: {binding(data[key])} {key}() would run index code while resolving; "
            "refused (set trust-code on the index to allow)")


def binding(value: Any) -> str:
    """How rez treats a function attribute: "late-bound", "early-bound" or "a function"."""
    names = [d.get("name") for d in getattr(value, "decorators", None) or []]
    return "early-bound" if "early" in names else "late-bound" if "late" in names else \
        "a function"


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past the digit limit
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


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


def _function(node: ast.FunctionDef, lines: list[str], read: list[str], filename: str) -> Any:
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
    # versions of a family mostly share their functions, and cutting a body out is checked by
    # parsing it again: each function's text is checked once a process. The key holds the
    # function as the parser read it (which decides its tree) and the lines it is cut from
    key = ("\n".join(read[node.lineno - 1:node.end_lineno]),
           tuple(lines[node.lineno - 1:node.end_lineno]))
    body = _BODIES.get(key)
    if body is None:
        body = _function_body(node, lines, filename)
        if len(_BODIES) < 4096:
            _BODIES[key] = body
    code = SourceCode(source=body)
    code.funcname = node.name
    code.decorators = decorators
    return code


_BODIES: dict[tuple[str, tuple[str, ...]], str] = {}  # a function's text -> its checked body


def _function_body(node: ast.FunctionDef, lines: list[str], filename: str) -> str:
    """The body's source, as rez's ``SourceCode`` keeps it: the lines of its statements and
    the comments before the first, dedented. Taken as text, it must mean exactly what the
    parsed body means: a body that starts on the ``def`` line, or text that would parse
    differently once cut out (a string opened on the ``def`` line), could otherwise turn data
    into code when the definition is written out again."""
    first = node.body[0]
    if first.lineno <= node.lineno or getattr(first, "col_offset", 0) == 0:
        _refuse(node, filename, f"function {node.name}() with its body on the def line")
    prefix = lines[first.lineno - 1][:first.col_offset]
    if prefix.strip():
        _refuse(node, filename, f"function {node.name}() whose body cannot be cut out as it is")
    start = first.lineno - 1
    while start - 1 >= node.lineno and lines[start - 1].lstrip().startswith("#"):
        start -= 1  # comments opening the body: rez's SourceCode keeps them (and so must we)
    body = [ln[len(prefix):] if ln.startswith(prefix) else ("" if not ln.strip() else ln)
            for ln in lines[start:node.end_lineno]]
    text = "\n".join(body).rstrip()
    try:
        cut = ast.parse(text)
    except SyntaxError:
        cut = None
    if cut is None or _shape(cut) != _shape(ast.Module(body=node.body, type_ignores=[])):
        _refuse(node, filename, f"function {node.name}() whose body cannot be cut out as it is")
    return text


def _shape(node: Any) -> Any:
    """A tree's structure with string contents left out (indentation inside a multi-line
    string may differ once cut out, as it does in rez's own source handling; any other
    difference would mean the text says something else than the parsed body)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ("str",)
    if isinstance(node, ast.AST):
        return (type(node).__name__, *(_shape(getattr(node, f, None)) for f in node._fields))
    if isinstance(node, list):
        return tuple(_shape(x) for x in node)
    return node


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
            if not isinstance(target, dict):
                _refuse(stmt, filename, "config scope assigning into a value")
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
