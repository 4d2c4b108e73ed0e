"""Re-publishing an unchanged repository without rebuilding it.

A studio publishes its whole repository again and again (CI after every release). Learning that
nothing changed must not cost a conversion: loading every definition through rez is most of a
first publish. So each package's files on disk are fingerprinted from ``lstat`` alone (its
version directory, walked, or its combined family file), and the wheels a conversion made from
that fingerprint are remembered per target index. When the fingerprint is the same and the
target still holds each of those files with the same sha256, the package is reported as skipped
without being loaded, converted or hashed.

The record lives in the store (``converted/<target>.json``), never in the index (it names
source paths), and is only a shortcut: losing it costs one full conversion, nothing else; an
entry of a package gone from the repository is never matched again, only kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable, Optional

from rezwheel import __version__
from rezwheel.atomic import atomic_write

Present = Callable[[str, str], bool]  # (file name, sha256) -> the target holds it


class Reuse:
    def __init__(self, store_root: str, target: str, settings: str, present: Present) -> None:
        key = hashlib.sha256(f"{target}\0{settings}\0{__version__}".encode()).hexdigest()[:16]
        self.path = os.path.join(store_root, "converted", key + ".json")
        self.present = present
        self.entries: dict[str, list[list[str]]] = {}
        try:
            with open(self.path, encoding="utf-8") as fh:
                loaded = json.load(fh)
            if isinstance(loaded, dict):
                self.entries = loaded
        except (OSError, ValueError):
            pass
        self._fresh: dict[str, list[list[str]]] = {}

    def reusable(self, pkg: Any) -> Optional[list[tuple[str, str]]]:
        """(file name, sha256) of each wheel the target holds for this unchanged package."""
        key = fingerprint(pkg)
        files = self.entries.get(key) if key else None
        if not files or not all(isinstance(f, list) and len(f) == 2 and self.present(*f)
                                for f in files):
            return None
        self._fresh[key] = files  # type: ignore[index]
        return [(name, sha) for name, sha in files]

    def record(self, pkg: Any, wheels: list[tuple[str, str]]) -> None:
        key = fingerprint(pkg)
        if key:
            self._fresh[key] = [[name, sha] for name, sha in wheels]

    def learnt(self) -> dict:
        """What this process saw (a worker hands it back to the parent)."""
        return dict(self._fresh)

    def merge(self, fresh: dict) -> None:
        self._fresh.update(fresh)

    def save(self) -> None:
        """Keep what this run saw, and what earlier runs saw of packages this one did not (CI
        publishes one family, then the whole repository: the family's run must not make the
        next whole one convert everything again). A package seen now replaces its older
        entries (by distribution name and version), so the record grows with the repository's
        package versions, not with the publishes."""
        seen = {_package_of(f[0]) for files in self._fresh.values() for f in files}
        kept = {key: files for key, files in self.entries.items()
                if isinstance(files, list) and files
                and not any(isinstance(f, list) and f and _package_of(str(f[0])) in seen
                            for f in files)}
        kept.update(self._fresh)
        try:
            atomic_write(self.path, json.dumps(kept, sort_keys=True).encode(), mode=0o600)
        except OSError as e:  # a store that cannot be written: the next run converts again
            from rezwheel.redaction import get_logger

            get_logger(__name__).warning(
                "rezwheel: cannot keep the record of what was converted in the store (%s: %s); "
                "the next publish converts these packages again", e.strerror or e, self.path)


def _package_of(wheel: str) -> str:
    """A wheel file name's distribution name and version (neither holds a "-")."""
    return "-".join(wheel.split("-", 2)[:2])


def fingerprint(pkg: Any) -> Optional[str]:
    """What a package's files on disk look like (names, modes, sizes, mtimes, link targets),
    from ``lstat`` alone; None when its files cannot be found."""
    resource = getattr(pkg, "resource", None)
    where = getattr(resource, "path", None)
    h = hashlib.sha256(f"{pkg.name}\0{pkg.version}\0".encode())
    try:
        if where and os.path.isdir(where):
            for directory, dirs, files in os.walk(where):
                dirs.sort()
                rel = os.path.relpath(directory, where)
                for name in sorted(files + [d for d in dirs if os.path.islink(
                        os.path.join(directory, d))]):
                    _entry(h, os.path.join(directory, name), f"{rel}/{name}")
                h.update(f"D{rel}\0".encode())
        else:  # a combined family file holds the package: its file is its fingerprint
            uri = str(getattr(pkg, "uri", ""))
            path = uri.split("<", 1)[0]
            if not os.path.isfile(path):
                return None
            _entry(h, path, os.path.basename(path))
    except OSError:
        return None
    return h.hexdigest()


def _entry(h: "hashlib._Hash", path: str, rel: str) -> None:
    st = os.lstat(path)
    link = os.readlink(path) if os.path.islink(path) else ""
    h.update(f"{rel}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0{link}\0".encode())
