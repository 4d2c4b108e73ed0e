"""A project's files as rez versions: which wheels are versions of a family (file names
alone; the version mapping is reversible), rez's order of them, and which are offered to
rez's solver (PEP 592: not the yanked ones, unless pinned exactly)."""

from __future__ import annotations

import functools
from typing import Optional

from packaging.utils import canonicalize_name

from rezwheel.artifact import naming
from rezwheel.index.pages import IndexFile
from rezwheel.redaction import get_logger, redact
from rezwheel.resolve.definitions import IndexVersion

log = get_logger(__name__)


def not_yanked(rez_name: str, found: dict[str, IndexVersion], pins: set[tuple[str, str]],
               location: str) -> dict[str, IndexVersion]:
    """``found`` without the versions whose files are all yanked, but those ``pins`` names
    ((rez name, rez version) a request pins exactly). Said at debug level; on one warning
    line when no version is left (rez then only says the package is not found)."""
    yanked = [v for v, iv in found.items() if iv.yanked is not None
              and (rez_name, v) not in pins]
    if not yanked:
        return found
    said = ", ".join(v + (f" ({found[v].yanked})" if found[v].yanked else "")
                     for v in yanked[:5]) + (f" and {len(yanked) - 5} more" if yanked[5:] else "")
    offered = {v: iv for v, iv in found.items() if v not in yanked}
    if offered:
        log.debug("rezwheel: %s: not offered, yanked on %s: %s", rez_name, redact(location), said)
    elif (rez_name, location) not in _said:  # rez will only say the package is not found
        _said.add((rez_name, location))
        log.warning("rezwheel: %s: every version on %s is yanked: %s", rez_name,
                    redact(location), said)
    return offered


_said: set[tuple[str, str]] = set()


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
    rez_version = rez_version_spelled(parts[1])
    return None if rez_version is None else (canonicalize_name(parts[0]), rez_version)


@functools.lru_cache(maxsize=4096)
def rez_version_spelled(spelled: str) -> Optional[str]:
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


def is_sdist(filename: str, project: str) -> bool:
    from rezwheel.index.pages import dist_of

    dist = dist_of(filename)
    return not filename.endswith(".whl") and dist is not None and dist[0] == project


@functools.lru_cache(maxsize=None)
def version_key(rez_version: str) -> object:
    """rez's order of a version (made once: families are sorted, and their newest found, often)."""
    from rez.version import Version
    return Version(rez_version)
