"""A project's wheels by rez version, read from file names alone (the version mapping is
reversible): what a page, a hint or a kept page lists becomes versions without a definition
read, and rez's order of versions is computed once per version string."""

from __future__ import annotations

import functools
from typing import Optional

from packaging.utils import canonicalize_name

from rezwheel.artifact import naming
from rezwheel.index.pages import IndexFile
from rezwheel.resolve.definitions import IndexVersion


def versions_of(project: str, files: list[IndexFile]) -> dict[str, IndexVersion]:
    """A project's wheels by rez version (the version mapping is reversible); other files
    (sdists, foreign names on a shared index) are no version of a rez family."""
    by_version: dict[str, IndexVersion] = {}
    for f in files:
        found = _wheel_of(f.filename)
        if found is None or found[0] != project:
            continue
        by_version.setdefault(found[1], IndexVersion(found[1], [], project)).files.append(f)
    return by_version


def _wheel_of(filename: str) -> Optional[tuple[str, str]]:
    """(normalized project, rez version) of a wheel file name, None for any other name. Every
    file name was checked whole when its page was read (``pages.filename_problem``); a warm
    resolve reads thousands again, so only the two fields wanted are, each spelling once."""
    parts = filename[:-4].split("-") if filename.endswith(".whl") else ()
    if len(parts) not in (5, 6):
        return None
    rez_version = _rez_version_spelled(parts[1])
    return None if rez_version is None else (canonicalize_name(parts[0]), rez_version)


@functools.lru_cache(maxsize=4096)
def _rez_version_spelled(spelled: str) -> Optional[str]:
    """The rez version of a version as a file name spells it, None when it is none of ours."""
    from packaging.version import Version

    try:
        rez_version = _rez_version(str(Version(spelled)))
        version_key(rez_version)
    except Exception:  # not a wheel of ours: a foreign file on a shared index
        return None
    return rez_version


@functools.lru_cache(maxsize=4096)
def _rez_version(pep440: str) -> str:
    """``naming.pep440_to_rez``, once per version string (families share their version
    numbers: a page of twenty files holds ten, and the next family the same ten)."""
    return naming.pep440_to_rez(pep440)


@functools.lru_cache(maxsize=None)
def version_key(rez_version: str) -> object:
    """rez's order of a version (made once: families are sorted, and their newest found, often)."""
    from rez.version import Version
    return Version(rez_version)
