"""Carrying out an install plan: downloads side by side into the store, each checked against
the sha256 the index lists, and every variant restored into the repository as soon as its
download completes (ours from its layout map, plain wheels rez-pip style).

A failed download or install is reported for its package and the others still go in; nothing
of a failed one is left visible (downloads and roots are staged under temporary names).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import tempfile
import threading
from typing import Any

from rezwheel.artifact.identity import VariantId
from rezwheel.rezrepo import fsrepo, rezpip
from rezwheel.errors import InstallError, InvalidWheelError, RezwheelError
from rezwheel.hashing import sha256_file
from rezwheel.index.pages import IndexFile
from rezwheel.rezrepo.restore import Expected, install_wheel
from rezwheel.resolve.planner import Done, Step
from rezwheel.pools import threads
from rezwheel.resolve.store import Store


def check_writable(repo: str) -> None:
    """Fail before any download when ``repo`` cannot take a new package."""
    try:
        os.makedirs(repo, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".rezwheel-probe-", dir=repo)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InstallError(f"{repo}: cannot write to the repository: {e.strerror}") from None


def download(step: Step, store: Store) -> str:
    """The step's file on this host, sha256-checked against the index: a local index's file is
    checked and read in place, anything else fetched into the store by the step's reader."""
    f, reader = step.file, step.reader
    if f is None or not f.sha256:
        raise InvalidWheelError(f"{step.filename}: the index gives no sha256 to verify it against")
    local = step.local or (reader.local_path(f) if reader else None)
    if local:
        got = sha256_file(local)
        if got != f.sha256:
            raise InvalidWheelError(f"{local}: sha256 {got} does not match the index's "
                                    f"{f.sha256}")
        return local
    return store.fetch_wheel(f.sha256, f.filename,
                             lambda dest: reader.fetch(f, dest))  # type: ignore[union-attr]


def install_file(path: str, repo: str, target: rezpip.Target, force: bool = False,
                 dry_run: bool = False) -> Done:
    """A wheel file given on the command line: ours restored as is, a plain one rez-pip style."""
    from rezwheel.index.readers import definition_from_zip
    from rezwheel.artifact.reader import open_zip

    sha = sha256_file(path)
    given = IndexFile(os.path.basename(path), "file://" + os.path.abspath(path), sha, None)
    with open_zip(path) as z:  # members checked (paths, sizes, duplicates), errors name path
        try:
            ours = definition_from_zip(z) is not None
        except InvalidWheelError as e:
            raise InvalidWheelError(f"{path}: {e}") from None
    if not ours:
        data = rezpip.definition(rezpip.wheel_metadata(path), path, target, "", sha)
        root = fsrepo.variant_root(repo, data["name"], data["version"],
                                   fsrepo.variant_subpath(data, 0))
        step = Step(VariantId(data["name"], data["version"], 0 if data.get("variants") else None),
                    "pypi", given, root, "install", data=data)
        if rezpip.is_installed(repo, data):
            return Done(step, "present")
        if not dry_run:
            check_writable(repo)
            rezpip.install_plain(path, repo, data)
        return Done(step, "installed" if not dry_run else "install")
    if dry_run:
        from rezwheel.artifact.reader import open_artifact

        with open_artifact(path) as art:
            lay = art.layout
            present = fsrepo.is_installed(repo, art.definition, lay.variant_index)
        root = fsrepo.variant_root(repo, lay.rez_name, lay.rez_version, lay.subpath or "")
        step = Step(VariantId(lay.rez_name, lay.rez_version, lay.variant_index), "rezwheel",
                    given, root, "present" if present else "install")
        return Done(step, step.status)
    r = install_wheel(path, repo, force=force)
    step = Step(VariantId(r.rez_name, r.rez_version, r.variant_index), "rezwheel", given,
                r.root, r.status)
    return Done(step, r.status)


def _check_plain(path: str, step: Step) -> None:
    """The wheel pip picked is the project and version pip reported (the report's metadata
    made the rez definition; the wheel's own is what gets installed)."""
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    want = (step.data or {}).get("pip") or {}
    meta = rezpip.wheel_metadata(path)
    try:
        same = canonicalize_name(str(meta.get("name", ""))) == canonicalize_name(
            str(want.get("name", ""))) and Version(str(meta.get("version", ""))) == Version(
            str(want.get("version", "")))
    except InvalidVersion:
        same = False
    if not same:
        raise InstallError(f"{step.filename}: holds {meta.get('name')!r} {meta.get('version')!r}, "
                           f"the index listed {want.get('name')!r} {want.get('version')!r}; "
                           "refused")


def apply(steps: list[Step], repo: str, store: Store, jobs: int = 8,
          progress: Any = None, force: bool = False) -> list[Done]:
    todo = [s for s in steps if s.status == "install"]
    done = [Done(s, "present") for s in steps if s.status != "install"]
    if not todo:
        return done
    check_writable(repo)
    if progress:
        progress.start(len(todo), 0)
    # each worker downloads then installs; variants of one package take turns (one package.py)
    locks = {s.package: threading.Lock() for s in todo}

    def one(step: Step) -> Done:
        try:
            path = download(step, store)
            with locks[step.package]:
                if step.kind == "pypi":
                    _check_plain(path, step)
                    rezpip.install_plain(path, repo, step.data or {})
                else:
                    install_wheel(path, repo, force=force, expect=Expected(
                        step.id.name, step.id.version, step.id.index, step.definition))
            return Done(step, "installed")
        except (RezwheelError, OSError) as e:  # requests' errors are OSErrors
            return Done(step, "failed", str(e))

    with threads(jobs, "rezwheel-install") as pool:
        for result in pool.map(one, todo) if not progress else (
                f.result() for f in cf.as_completed([pool.submit(one, s) for s in todo])):
            done.append(result)
            if progress:
                progress.advance(result, 0)
    if progress:
        progress.finish()
    return done
