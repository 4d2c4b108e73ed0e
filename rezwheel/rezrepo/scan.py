"""Finding and loading rez packages on disk, for conversion.

A path may be a package version directory, a family directory, an unversioned package's
directory, a combined family file (``<repo>/<family>.py`` or ``.yaml``) or a whole repository.
What a path stands for is decided here from the directory shape; what a repository or family
holds is left to rez's own filesystem repository, which knows every format it loads (version
directories, unversioned packages, combined family files with ``versions`` and
``version_overrides``, single-file packages at the repository root). Each package is loaded on
its own, so one broken definition is reported on its own line while the others still convert.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Union

from rezwheel.errors import NotAPackageError

DEFINITION_FILES = ("package.py", "package.yaml", "package.txt")
#: what rez's filesystem repository reads as a combined family file at a repository root
COMBINED_EXTENSIONS = (".py", ".yaml")


@dataclass(frozen=True)
class LoadFailure:
    message: str  # one line, naming the path
    package: bool = True  # False: the path itself holds no package (not a package failure)


@dataclass(frozen=True)
class Skipped:
    message: str  # one line: something rez lists that holds no package to convert


@dataclass(frozen=True)
class _Target:
    repo: str
    family: str
    version: Optional[str]  # None: every package of the family; "": the unversioned one


def _has_definition(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, f)) for f in DEFINITION_FILES)


def _subdirs(path: str) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def _combined_files(path: str) -> list[str]:
    """Family names of the combined family files directly in ``path``, as rez would list them."""
    from rez.utils.formatting import is_valid_package_name

    names = []
    for e in os.scandir(path):
        stem, ext = os.path.splitext(e.name)
        if ext in COMBINED_EXTENSIONS and e.name not in DEFINITION_FILES and e.is_file() \
                and is_valid_package_name(stem):
            names.append(stem)
    return sorted(names)


def _targets(path: str) -> tuple[list[_Target], bool]:
    """What a path stands for, and whether it is a whole repository.

    A combined family file is its family. A directory holding a definition is a version
    directory, or an unversioned package when the definition's name is the directory's own. A
    directory whose children are versions of it (their definitions name it) is a family.
    Anything else is a repository, listed by rez: family directories and combined family files
    alike.
    """
    path = os.path.abspath(path)
    parent, leaf = os.path.split(path)
    if os.path.isfile(path):
        stem, ext = os.path.splitext(leaf)
        if leaf in DEFINITION_FILES:
            return _targets(parent)
        if ext in COMBINED_EXTENSIONS and stem in _combined_files(parent):
            return [_Target(parent, stem, None)], False
        raise NotAPackageError(f"{path}: not a rez package definition or combined family file")
    if not os.path.isdir(path):
        raise NotAPackageError(f"{path}: no such directory")
    if _has_definition(path):
        if _declared_name(path) == leaf:
            return [_Target(parent, leaf, "")], False
        grand, family = os.path.split(parent)
        return [_Target(grand, family, leaf)], False
    children = [c for c in _subdirs(path) if _has_definition(os.path.join(path, c))]
    if any(_declared_name(os.path.join(path, c)) == leaf for c in children) or (
            children and not _combined_files(path) and not any(
                _declared_name(os.path.join(path, c)) == c or
                _nested_definition(os.path.join(path, c)) for c in children)):
        return [_Target(parent, leaf, None)], False
    from rez.package_repository import package_repository_manager

    repo = package_repository_manager.get_repository(path)
    return sorted((_Target(path, f.name, None) for f in repo.iter_package_families()),
                  key=lambda t: t.family), True


def _nested_definition(path: str) -> bool:
    return any(_has_definition(os.path.join(path, d)) for d in _subdirs(path))


def _declared_name(path: str) -> str:
    """The ``name`` a directory's definition declares ("" without one): tells a version
    directory (it names its family) from an unversioned package (it names itself)."""
    for f in DEFINITION_FILES:
        p = os.path.join(path, f)
        if os.path.isfile(p):
            with open(p, encoding="utf-8", errors="replace") as fh:
                m = re.search(r"""^name\s*[=:]\s*["']?([\w.]+)""", fh.read(), re.M)
            return m.group(1) if m else ""
    return ""


def shards(paths: list[str], n: int, at_least: int = 64) -> Optional[list[set[tuple[str, str]]]]:
    """The families under ``paths`` split into ``n`` sets of about equal work (by the entries
    of each family directory: its versions), or None when there is too little to split."""
    weights: dict[tuple[str, str], int] = {}
    for path in paths:
        try:
            targets, _ = _targets(path)
        except (NotAPackageError, OSError):
            continue
        for t in targets:
            where = os.path.join(t.repo, t.family)
            try:
                weight = len(os.listdir(where)) if t.version is None and os.path.isdir(where) \
                    else 1
            except OSError:
                weight = 1
            weights[(t.repo, t.family)] = weights.get((t.repo, t.family), 0) + weight
    if n < 2 or sum(weights.values()) < at_least or len(weights) < n:
        return None
    bins: list[set[tuple[str, str]]] = [set() for _ in range(n)]
    loads = [0] * n
    for key, weight in sorted(weights.items(), key=lambda kv: -kv[1]):  # largest first
        i = loads.index(min(loads))
        bins[i].add(key)
        loads[i] += weight
    return bins


def iter_packages(paths: list[str], validate: bool = True,
                  only: Optional[set[tuple[str, str]]] = None
                  ) -> Iterator[Union[Any, LoadFailure, Skipped]]:
    """Loaded rez packages (data validated), in family then version order, or one
    LoadFailure per broken package or path, or a Skipped for a family holding no package."""
    from rez.packages import iter_packages as rez_iter_packages

    for path in paths:
        try:
            targets, whole_repo = _targets(path)
        except NotAPackageError as e:
            yield LoadFailure(str(e), package=False)
            continue
        except OSError as e:
            yield LoadFailure(f"{os.path.abspath(path)}: {e.strerror or _one_line(e)}", False)
            continue
        found = False
        for t in targets:
            if only is not None and (t.repo, t.family) not in only:
                found = True  # another shard has it
                continue
            where = os.path.join(t.repo, t.family)
            try:
                if t.version is None:
                    candidates = sorted(rez_iter_packages(t.family, paths=[t.repo]),
                                        key=lambda p: p.version)
                else:
                    rng = f"=={t.version}" if t.version else None
                    candidates = [p for p in rez_iter_packages(t.family, paths=[t.repo],
                                                               range_=rng)
                                  if str(p.version) == t.version]
            except Exception as e:  # rez raises many types for unreadable repositories
                found = True  # something is there: this failure says what
                yield LoadFailure(f"{where}: {_one_line(e)}")
                continue
            if not candidates:
                if whole_repo:  # rez lists every directory at a repository root as a family
                    yield Skipped(f"{where}: no rez package in it")
                else:
                    yield LoadFailure(f"{os.path.join(where, t.version or '')}: "
                                      "no rez package found", package=False)
            found = found or bool(candidates)
            for pkg in candidates:
                try:
                    if validate:  # else the caller does, once it knows it needs the data
                        pkg.validate_data()
                    yield pkg
                except Exception as e:
                    uri = getattr(pkg, "uri", None)
                    if not uri:  # rez lists a version directory with no definition in it
                        yield LoadFailure(f"{os.path.join(where, str(pkg.version))}: no package "
                                          "definition file in it")
                    else:
                        yield LoadFailure(f"{uri}: {_one_line(e)}")
        if whole_repo and not found:
            yield LoadFailure(f"{os.path.abspath(path)}: no rez package found", package=False)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:300] or type(e).__name__
