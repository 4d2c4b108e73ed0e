"""Parsed definitions kept on disk, one file per index and project, so that a warm process
neither reads nor parses again the definitions of a family it has seen.

Parsing and checking a definition (``rezdef.Definition.read``: an AST walk, then rez's schema
for every attribute) costs more than rez's own solve spends per version, and a warm resolve paid
it for every version of every family touched, after two store reads per version. What an index
says a wheel (a sha256) holds does not change, so what was accepted once is kept::

    <store>/parsed/<index key>/<project>.json
    {"format": 2, "rezwheel": "<version>", "entries": {"<wheel sha256>": [<text>, <data>]}}

``data`` is the parsed definition as JSON, rez's ``SourceCode`` values (functions) tagged
``{"\\u0000code": {"source", "funcname", "decorators"}}``; a definition holding a value JSON
cannot carry exactly (a tuple, a set, bytes, a key that is not a string) is not kept, and is
parsed again each time. The file stands where a store hint stands (what this index said, for
this index alone): an entry is used only for a file the current page lists, the checks that
depend on the reader (``trust-code``) or the page (the version a file name says) run again on
every use, and a file written by another rezwheel version, of another format or damaged is no
file. Written whole (``atomic_write``): a reader sees the old file or the new one.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Optional

from rezwheel import __version__
from rezwheel.artifact.rezdef import Definition
from rezwheel.atomic import atomic_write

#: 2: function bodies keep the comments that open them (files of 1 held them without)
FORMAT = 2
_CODE = "\0code"
_HEX = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"[0-9a-f]{16}")
_PROJECT = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # a normalized project name


class _Unfit(Exception):
    """A value JSON would not give back exactly."""


def path_for(root: str, key: str, project: str) -> Optional[str]:
    """The file of one index's (``key``) project, None for a key or name unfit for a path."""
    if not _KEY.fullmatch(key) or not _PROJECT.fullmatch(project) or len(project) > 200:
        return None
    return os.path.join(root, "parsed", key, project + ".json")


def load(path: Optional[str]) -> dict[str, Definition]:
    """The kept definitions by wheel sha256 ({} when there is no usable file)."""
    if not path:
        return {}
    try:
        with open(path, "rb") as fh:
            doc = json.loads(fh.read(), object_hook=_decode_object)
    except (OSError, ValueError, RecursionError, _Unfit):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or \
            doc.get("rezwheel") != __version__ or not isinstance(doc.get("entries"), dict):
        return {}
    found = {}
    for sha, entry in doc["entries"].items():
        if _HEX.fullmatch(sha) and isinstance(entry, list) and len(entry) == 2 and \
                isinstance(entry[0], str) and entry[0] and isinstance(entry[1], dict):
            found[sha] = Definition(entry[0], entry[1])
    return found


def save(path: Optional[str], definitions: dict[str, Definition]) -> list[str]:
    """Keep ``definitions`` (by wheel sha256) as the project's file: those JSON can carry;
    returns the sha256s of those it cannot."""
    if not path:
        return list(definitions)
    entries, left = {}, []
    for sha in sorted(definitions):
        d = definitions[sha]
        try:
            entries[sha] = [d.text, _encode(d.data)]
        except (_Unfit, RecursionError):
            left.append(sha)
    doc = {"format": FORMAT, "rezwheel": __version__, "entries": entries}
    try:
        atomic_write(path, json.dumps(doc, allow_nan=False).encode(), prefix=".tmp-")
    except (OSError, ValueError):
        pass  # a cache: the next process parses again
    return left


def _encode(value: Any) -> Any:
    from rez.utils.sourcecode import SourceCode

    if value is None or type(value) in (str, bool, int):
        return value
    if type(value) is float and math.isfinite(value):
        return value
    if type(value) is list:
        return [_encode(x) for x in value]
    if type(value) is dict:
        if not all(isinstance(k, str) for k in value) or _CODE in value:
            raise _Unfit()
        return {k: _encode(v) for k, v in value.items()}
    if type(value) is SourceCode and value.func is None and value.filepath is None \
            and value.eval_as_function and isinstance(value.funcname, str) \
            and all(type(d) is dict and list(d) == ["name"] and isinstance(d["name"], str)
                    for d in value.decorators or []):
        return {_CODE: {"source": value.source, "funcname": value.funcname,
                        "decorators": [d["name"] for d in value.decorators or []]}}
    raise _Unfit()


def _decode_object(obj: dict) -> Any:
    if _CODE not in obj:
        return obj
    from rez.utils.sourcecode import SourceCode

    spec = obj[_CODE]
    if len(obj) != 1 or not isinstance(spec, dict) or not isinstance(spec.get("source"), str) \
            or not isinstance(spec.get("funcname"), str) \
            or not isinstance(spec.get("decorators"), list) \
            or not all(isinstance(d, str) for d in spec["decorators"]):
        raise _Unfit()
    code = SourceCode(source=spec["source"])
    code.funcname = spec["funcname"]
    code.decorators = [{"name": d} for d in spec["decorators"]]
    return code
