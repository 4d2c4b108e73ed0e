"""Finding and loading rez packages on disk, for conversion.

A path may be a package version directory, a family directory, an unversioned package's
directory or a whole repository. Each package is loaded on its own, so one broken definition is
reported on its own line while the others still convert.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterator, Union

from .errors import NotAPackageError

DEFINITION_FILES = ("package.py", "package.yaml", "package.txt")


@dataclass
class LoadFailure:
    message: str  # one line, naming the path


def _has_definition(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, f)) for f in DEFINITION_FILES)


def _subdirs(path: str) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def _targets(path: str) -> list[tuple[str, str, Union[str, None]]]:
    """(repository, family, version or None for all) triples a path stands for.

    A directory holding a definition is a version directory, or an unversioned package when the
    definition's name is the directory's own. A directory whose children hold definitions is a
    family; one whose grandchildren do (or holding unversioned packages beside families) is a
    repository.
    """
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise NotAPackageError(f"{path}: no such directory")
    parent, leaf = os.path.split(path)
    if _has_definition(path):
        if _declared_name(path) == leaf:
            return [(parent, leaf, "")]
        grand, family = os.path.split(parent)
        return [(grand, family, leaf)]
    children = _subdirs(path)
    is_repo = any(_has_definition(os.path.join(path, c, g))
                  for c in children for g in _subdirs(os.path.join(path, c)))
    if not is_repo and any(_has_definition(os.path.join(path, c)) for c in children):
        return [(parent, leaf, None)]
    found = [(path, c, None) for c in children if _is_family(os.path.join(path, c))]
    if not found:
        raise NotAPackageError(f"{path}: no rez package found")
    return found


def _declared_name(path: str) -> str:
    for f in DEFINITION_FILES:
        p = os.path.join(path, f)
        if os.path.isfile(p):
            with open(p, encoding="utf-8", errors="replace") as fh:
                m = re.search(r"""^name\s*[=:]\s*["']?([\w.]+)""", fh.read(), re.M)
            return m.group(1) if m else ""
    return ""


def _is_family(path: str) -> bool:
    return _has_definition(path) or any(_has_definition(os.path.join(path, d)) for d in _subdirs(path))


def iter_packages(paths: list[str]) -> Iterator[Union[Any, LoadFailure]]:
    """Loaded rez packages (with their data validated) or one LoadFailure per broken one."""
    from rez.packages import iter_packages as rez_iter_packages

    for path in paths:
        try:
            targets = _targets(path)
        except NotAPackageError as e:
            yield LoadFailure(str(e))
            continue
        for repo, family, version in targets:
            where = os.path.join(repo, family)
            try:
                if version is None:
                    candidates = list(rez_iter_packages(family, paths=[repo]))
                else:
                    rng = f"=={version}" if version else None
                    candidates = [p for p in rez_iter_packages(family, paths=[repo], range_=rng)
                                  if str(p.version) == version]
            except Exception as e:  # rez raises many types for unreadable repositories
                yield LoadFailure(f"{where}: {_one_line(e)}")
                continue
            if not candidates:
                yield LoadFailure(f"{os.path.join(where, version or '')}: no rez package found")
            for pkg in candidates:
                try:
                    pkg.validate_data()
                    yield pkg
                except Exception as e:
                    yield LoadFailure(f"{getattr(pkg, 'uri', where)}: {_one_line(e)}")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:300] or type(e).__name__
