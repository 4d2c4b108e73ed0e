"""The target rez filesystem repository as files: where a package and its variants live,
``package.py`` read and written atomically, what counts as installed (``is_installed``), how a
variant is staged and merged in (``put_variant``), and the per-package lock.

Shared by both installers (ours, ``restore``, and rez-pip style, ``rezpip``) and by planning,
which only asks "is it there?" and so never loads ``installer``.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Callable, Iterable, Optional

from rezwheel.artifact import rezdef
from rezwheel.atomic import FileLock, atomic_write
from rezwheel.errors import InstallError, RezwheelError

#: per-package locks; not a valid rez family name, so rez never lists it
LOCKS = ".rezwheel-locks"


def package_dir(repo: str, name: str, version: str) -> str:
    """An unversioned package lives in its family directory."""
    return os.path.join(repo, name, version) if version else os.path.join(repo, name)


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
    """Put the staged tree ``stage`` at ``dest``; what was there ends up inside ``staging``
    (at ``stage`` when exchanged) for the caller to delete.

    Replacing is one atomic exchange where the OS has one (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``), so rez never sees the package missing, even if this process is
    killed half-way; elsewhere it is two renames.
    """
    try:
        if os.path.lexists(dest):
            if _exchange(stage, dest):
                return
            os.rename(dest, os.path.join(staging, "old"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.rename(stage, dest)
    except OSError as e:
        raise InstallError(f"{dest}: cannot move the new tree into place: {e.strerror}") from None


#: renameat2(2) flag and the syscall number where libc has no wrapper (glibc < 2.28)
RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_SYSCALLS = {"x86_64": 316, "aarch64": 276}
_renameat2: "Optional[Callable[[str, str], int]]" = None


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths; False where the OS or filesystem cannot (then the caller
    falls back to renames), OSError for any other failure."""
    global _renameat2
    if _renameat2 is None:
        _renameat2 = _load_renameat2()
    if _renameat2 is _unsupported:
        return False
    if _renameat2(a, b) == 0:
        return True
    import ctypes

    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), b)


def _unsupported(a: str, b: str) -> int:
    return -1


def _load_renameat2() -> "Callable[[str, str], int]":
    """libc's renameat2, else the raw syscall (imported when a tree is first swapped in:
    ctypes is not needed by the plugin's localization, which uses this module too)."""
    if not sys.platform.startswith("linux"):
        return _unsupported
    import ctypes
    import platform

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return _unsupported
    fn = getattr(libc, "renameat2", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return lambda a, b: fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                               RENAME_EXCHANGE)
    number = _SYSCALLS.get(platform.machine())
    if number is None:
        return _unsupported
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    return lambda a, b: syscall(ctypes.c_long(number), ctypes.c_int(_AT_FDCWD),
                                ctypes.c_char_p(os.fsencode(a)), ctypes.c_int(_AT_FDCWD),
                                ctypes.c_char_p(os.fsencode(b)), ctypes.c_uint(RENAME_EXCHANGE))


def read_definition(pkg_file: str) -> Optional[dict]:
    if not os.path.exists(pkg_file):
        return None
    with open(pkg_file, encoding="utf-8") as fh:
        return rezdef.parse(fh.read(), pkg_file)


def installed_definition(repo: str, name: str, version: str) -> Optional[dict]:
    """The ``package.py`` installed in ``repo`` for this package, or None."""
    return read_definition(os.path.join(package_dir(repo, name, version), "package.py"))


def write_definition(path: str, data: dict) -> None:
    """``package.py`` is code to every rez that reads the repository: written only once it
    reads back as the data it was made from."""
    atomic_write(path, rezdef.dump_checked(data, path).encode(), prefix=".package.py-")


def without_variants(data: dict) -> str:
    return rezdef.dump({k: v for k, v in data.items() if k != "variants"})


def requires_key(requires: Iterable) -> tuple[str, ...]:
    return tuple(str(r) for r in requires)


def has_variant(existing: dict, requires: tuple[str, ...], root: str) -> bool:
    """The installed definition lists this variant and its root is on disk."""
    listed = {requires_key(v) for v in existing.get("variants") or []}
    return requires in listed and os.path.isdir(root)


def installed_state(repo: str, data: dict, variant: Optional[int]
                    ) -> tuple[str, Optional[dict]]:
    """Whether this package is in ``repo`` with this variant (None: the package itself):
    ``("present" | "absent" | "different", the definition installed)``. The one rule for the
    planner, a wheel given by path and restore alike.

    Ours is the same package when the definition there is this one but for its variant list
    (a variantless one where variants are listed is another package); a rez-pip style one
    (``pip`` in the definition, remade with a new timestamp at every install) when the same
    pip file, or one built from the same sdist, is there with at least the extras asked now.
    An unreadable installed definition raises ``RezwheelError``.
    """
    name, version = data["name"], str(data.get("version") or "")
    existing = installed_definition(repo, name, version)
    if existing is None:
        return "absent", None
    if not _same_package(existing, data) or (variant is None and existing.get("variants")):
        return "different", existing
    pkg_dir = package_dir(repo, name, version)
    if variant is None:
        present = os.path.isdir(pkg_dir)
    else:
        present = has_variant(existing, requires_key(data["variants"][variant]),
                              os.path.join(pkg_dir, rezdef.variant_subpath(data, variant)))
    return ("present" if present else "absent"), existing


def is_installed(repo: str, data: dict, variant: Optional[int]) -> bool:
    """``installed_state`` is "present" (an unreadable definition there: not installed)."""
    try:
        return installed_state(repo, data, variant)[0] == "present"
    except RezwheelError:
        return False


def _same_package(existing: dict, data: dict) -> bool:
    mine = data.get("pip")
    if not isinstance(mine, dict):
        return without_variants(existing) == without_variants(data) or \
            _uncommented(existing) == _uncommented(data)
    theirs = existing.get("pip") or {}
    key = "sdist_sha256" if mine.get("sdist_sha256") else "sha256"
    return theirs.get(key) == mine.get(key) and \
        set(mine.get("extras") or []) <= set(theirs.get("extras") or [])


def _uncommented(data: dict) -> dict:
    """The data but variants, function bodies without comment lines: rezwheel once dropped the
    comments opening a body when it wrote package.py, and a package it installed so is still
    this one (not "different", which refuses the install of another of its variants)."""
    out = {}
    for key, value in data.items():
        code = rezdef.code_of(value)
        if code is not None:
            value = ("\n".join(ln for ln in code[0].splitlines()
                               if not ln.lstrip().startswith("#")), code[1])
        if key != "variants":
            out[key] = value
    return out


def put_variant(repo: str, data: dict, variant: Optional[int], write: Callable[[str], dict],
                installed: Optional[dict]) -> str:
    """Put one variant of the package ``data`` (None: a package without variants) into
    ``repo``; returns its root. The caller holds the package's lock (``package_lock``).

    ``write(stage)`` writes the payload into ``stage`` (a new directory beside the final
    place) and returns the definition to record. The staged tree is swapped in whole
    (``swap_in``): a package that is its own root with its ``package.py`` inside; otherwise the
    variant's root, then ``package.py`` listing the variants of ``installed`` (the definition
    there whose variants stay, or None) plus this one. Other variants' roots nested inside
    this one's are carried into the staged tree first, so the swap does not take them away.
    """
    name, version = data["name"], str(data.get("version") or "")
    pkg_dir = package_dir(repo, name, version)
    pkg_file = os.path.join(pkg_dir, "package.py")
    sub = rezdef.variant_subpath(data, variant)
    root = os.path.join(pkg_dir, sub) if sub else pkg_dir
    make_dirs(repo, os.path.dirname(pkg_dir))
    tmp = staging(pkg_dir, name, version)
    try:
        stage = os.path.join(tmp, "root")
        final = write(stage)
        if variant is not None:
            _carry_nested(data, variant, pkg_dir, stage)
            final = dict(final, variants=merged_variants(installed, data, variant))
        if root == pkg_dir:
            write_definition(os.path.join(stage, "package.py"), final)
            swap_in(stage, pkg_dir, tmp)
        elif not os.path.isfile(pkg_file):
            # the first variant: the version directory goes in whole, its package.py inside.
            # A process killed between putting the root and writing package.py left a
            # version directory without a definition, which rez refuses in every later
            # resolve (the same install again included)
            whole = os.path.join(tmp, "package")
            os.makedirs(os.path.dirname(os.path.join(whole, sub)))
            os.rename(stage, os.path.join(whole, sub))
            write_definition(os.path.join(whole, "package.py"), final)
            swap_in(whole, pkg_dir, tmp)
        else:
            swap_in(stage, root, tmp)
            write_definition(pkg_file, final)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _carry_nested(data: dict, variant: int, pkg_dir: str, stage: str) -> None:
    """Other variants' roots that lie inside this one's (variants ``[["foo", "maya-2024"],
    ["foo"]]``) move into the staged tree."""
    mine = rezdef.variant_subpath(data, variant)
    for i in range(len(data.get("variants") or [])):
        sub = rezdef.variant_subpath(data, i)
        if i == variant or not sub or sub == mine:
            continue
        rel = os.path.relpath(sub, mine) if mine else sub
        if rel.startswith(os.pardir):
            continue  # not inside this variant's root
        old = os.path.join(pkg_dir, sub)
        if os.path.isdir(old) and not os.path.islink(old):
            target = os.path.join(stage, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.lexists(target):
                os.rename(old, target)


def merged_variants(installed: Optional[dict], data: dict, variant: int) -> list[list[str]]:
    """The installed variants plus this one. Those installed keep their order (a variant's
    index is how rez names it); the new one goes before the first of them the definition
    lists after it, else last, so installing every variant in any order gives the
    definition's own list."""
    full = [requires_key(v) for v in data.get("variants") or []]
    mine = full[variant]
    have = [requires_key(v) for v in (installed or {}).get("variants") or []]
    if mine not in have:
        later = set(full[variant + 1:])
        at = next((i for i, v in enumerate(have) if v in later), len(have))
        have.insert(at, mine)
    return [list(v) for v in have]


def package_lock(repo: str, name: str, version: str) -> FileLock:
    """One writer per package at a time, across processes: variants installed side by side
    would otherwise race on the merged ``package.py``."""
    locks = os.path.join(repo, LOCKS)
    make_dirs(repo, locks)
    return FileLock(os.path.join(locks, f"{name}-{version or '_'}.lock"))


def staging(pkg_dir: str, name: str, version: str) -> str:
    """A new staging directory beside ``pkg_dir`` (same filesystem: renamed in whole). The
    caller holds the package's lock, so staging left for this package is from a process that
    was killed (Ctrl-C does not wait for writers): it is swept first. The name is in the
    prefix because an unversioned package's staging sits in the repository root, beside
    other families' ("+" is in no rez name or version, so no prefix is another's)."""
    import shutil
    import tempfile

    parent = os.path.dirname(pkg_dir)
    prefix = f".rezwheel-tmp-{name}+{version}+"
    for name in os.listdir(parent):
        if name.startswith(prefix):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    return tempfile.mkdtemp(prefix=prefix, dir=parent)
