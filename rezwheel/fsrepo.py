"""The target rez filesystem repository as files: where a package and its variants live,
``package.py`` read and written atomically, what counts as installed, and the per-package lock.

Shared by both installers (ours and rez-pip style) and by planning, which only asks "is it
there?" and so never loads ``installer``.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Iterable, Optional

from . import rezdef
from .atomic import atomic_write
from .errors import InstallError, RezwheelError

if TYPE_CHECKING:
    from filelock import FileLock

#: per-package locks; not a valid rez family name, so rez never lists it
LOCKS = ".rezwheel-locks"


def package_dir(repo: str, name: str, version: str) -> str:
    """An unversioned package lives in its family directory."""
    return os.path.join(repo, name, version) if version else os.path.join(repo, name)


def variant_subpath(data: dict, variant: Optional[int]) -> str:
    """Where rez looks for a variant under its package directory (what rez computes)."""
    if variant is None or not data.get("variants"):
        return ""
    requires = [str(r) for r in data["variants"][variant]]
    if data.get("hashed_variants"):  # rez: sha1 of the printed list of requires
        return hashlib.sha1(str(requires).encode("utf8")).hexdigest()
    return os.path.join(*requires) if requires else ""


def variant_root(repo: str, name: str, version: str, sub: str) -> str:
    base = package_dir(repo, name, version)
    return os.path.join(base, sub) if sub else base


def make_dirs(repo: str, path: str) -> None:
    """``os.makedirs``, failing with the one line a user needs when ``repo`` is not writable."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise InstallError(f"{repo}: cannot write to the repository: {e.strerror}") from None


def swap_in(stage: str, dest: str, staging: str) -> None:
    """Rename a staged tree into place; what was there moves into ``staging`` (to be deleted),
    so the destination is never missing or half-written."""
    if os.path.lexists(dest):
        os.rename(dest, os.path.join(staging, "old"))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.rename(stage, dest)


def read_definition(pkg_file: str) -> Optional[dict]:
    if not os.path.exists(pkg_file):
        return None
    with open(pkg_file, encoding="utf-8") as fh:
        return rezdef.parse(fh.read(), pkg_file)


def write_definition(path: str, data: dict) -> None:
    atomic_write(path, rezdef.dump(data).encode(), prefix=".package.py-")


def without_variants(data: dict) -> str:
    return rezdef.dump({k: v for k, v in data.items() if k != "variants"})


def requires_key(requires: Iterable) -> tuple[str, ...]:
    return tuple(str(r) for r in requires)


def has_variant(existing: dict, requires: tuple[str, ...], root: str) -> bool:
    """The installed definition lists this variant and its root is on disk."""
    listed = {requires_key(v) for v in existing.get("variants") or []}
    return requires in listed and os.path.isdir(root)


def is_installed(repo: str, data: dict, variant: Optional[int]) -> bool:
    """This definition is installed in ``repo`` with this variant (None: the package)."""
    name, version = data["name"], str(data.get("version") or "")
    pkg_dir = package_dir(repo, name, version)
    try:
        existing = read_definition(os.path.join(pkg_dir, "package.py"))
    except RezwheelError:
        return False
    if existing is None or without_variants(existing) != without_variants(data):
        return False
    if variant is None:
        return os.path.isdir(pkg_dir)
    return has_variant(existing, requires_key(data["variants"][variant]),
                       os.path.join(pkg_dir, variant_subpath(data, variant)))


def package_lock(repo: str, name: str, version: str) -> "FileLock":
    """One writer per package at a time, across processes: variants installed side by side
    would otherwise race on the merged ``package.py``."""
    from filelock import FileLock

    locks = os.path.join(repo, LOCKS)
    make_dirs(repo, locks)
    return FileLock(os.path.join(locks, f"{name}-{version or '_'}.lock"))
