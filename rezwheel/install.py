"""Installing into a rez filesystem repository: the ``rezwheel install`` flow.

``install`` reads top-down: wheel files given by path go in first (ours restored as they are,
plain ones rez-pip style); requests are then met by what is installed when they can be (a
re-run reads no index and runs no pip), else planned against the indexes (``Planner``: one rez
solve, pip for plain PyPI projects) and carried out by ``apply``: downloads side by side into
the store, each checked against the sha256 the index lists, and every variant put into the
repository as soon as its download completes (``rezrepo.restore`` for ours, ``rezrepo.rezpip``
for plain wheels, both through ``fsrepo.put_variant``).

A failed download or install is reported for its package and the others still go in; nothing
of a failed one is left visible (downloads and roots are staged under temporary names).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from rezwheel.artifact import rezdef
from rezwheel.artifact.identity import VariantId
from rezwheel.errors import InstallError, InvalidWheelError, RezwheelError
from rezwheel.hashing import sha256_file
from rezwheel.index.pages import IndexFile
from rezwheel.pools import threads
from rezwheel.resolve.fetch import download
from rezwheel.resolve.planner import Step
from rezwheel.resolve.store import Store
from rezwheel.resolve.wanted import Asked
from rezwheel.rezrepo import fsrepo, rezpip


@dataclass
class Done:
    """What became of one step (or one wheel file given by path)."""
    step: Step
    status: str  # "installed" | "present" | "replaced" | "failed" (dry run: "install")
    error: Optional[str] = None

    @property
    def file(self) -> str:
        return f"{self.step.package}  {self.step.root}"

    def as_json(self) -> dict:
        return dict(self.step.as_json(), status=self.status, error=self.error)


def install(files: Sequence[str], asked: Asked, repo: str, *,
            indexes: Optional[Sequence[str]] = None, python: Optional[str] = None,
            prefix: str = "", upgrade: bool = False, force: bool = False,
            no_deps: bool = False, only_binary: bool = False, dry_run: bool = False,
            jobs: int = 8, progress: Any = None, store: Optional[Store] = None) -> list[Done]:
    """Put wheel ``files`` and what ``asked`` resolves to into the rez repository ``repo``.

    ``python``: the target python (markers, variants); by default this interpreter's when a
    ``python`` package of that version is installed, else the newest one installed.
    ``upgrade``, ``force``, ``no_deps``: resolve against ``indexes`` even when what is installed
    meets every request. ``dry_run``: the plan only (files are still read, nothing is written,
    no sdist is built). ``progress``: an object with ``start``/``advance``/``finish``.
    """
    from rezwheel.resolve.planner import satisfied
    from rezwheel.resolve.solve import default_python, installed_paths, skip_context_cleanup

    try:
        repo = os.path.abspath(repo)
        if asked.wanted and not python:  # the python packages installed decide
            python = default_python(installed_paths(repo))
        target = rezpip.Target.current(python)
        done = [install_file(f, repo, target, force, dry_run) for f in files]
        if not asked.wanted:
            return done
        steps = None if upgrade or force or no_deps else satisfied(asked, repo, target,
                                                                  bool(python))
        if steps is not None:  # a re-run: what is installed meets every request
            return done + [Done(s, s.status) for s in steps]
        if not indexes:  # a usage mistake, as for lock and export (exit status 2)
            from rezwheel.errors import UsageError

            raise UsageError(f"{asked.wanted[0].where}: give --index URL|NAME|DIR to resolve "
                             "requests")
        from rezwheel.resolve.planner import Planner
        from rezwheel.rezplugin import artifactory

        with Planner(list(indexes), target, prefix, explicit_python=bool(python), force=force,
                     only_binary=only_binary, build=not dry_run, bind=artifactory.bind,
                     unbind=artifactory.unbind) as planner:
            steps = planner.plan(asked, repo, no_deps=no_deps)
            if dry_run:
                return done + [Done(s, s.status) for s in steps]
            return done + apply(steps, repo, store or Store(), jobs=jobs, progress=progress,
                                force=force)
    finally:  # rez has solved (or never ran): its exit hook has no context to clean up
        skip_context_cleanup()


def apply(steps: list[Step], repo: str, store: Store, jobs: int = 8,
          progress: Any = None, force: bool = False) -> list[Done]:
    """Carry out a plan: each worker downloads one step's file, then puts its variant in;
    variants of one package take turns (they share one ``package.py``)."""
    todo = [s for s in steps if s.status == "install"]
    done = [Done(s, "present") for s in steps if s.status != "install"]
    if not todo:
        return done
    check_writable(repo)
    if progress:
        progress.start(len(todo), 0)
    locks = {s.package: threading.Lock() for s in todo}

    def one(step: Step) -> Done:
        try:
            path = download(step, store)
            with locks[step.package]:
                put(step, path, repo, force)
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


def check_writable(repo: str) -> None:
    """Fail before any download when ``repo`` cannot take a new package."""
    try:
        os.makedirs(repo, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".rezwheel-probe-", dir=repo)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InstallError(f"{repo}: cannot write to the repository: {e.strerror}") from None


def put(step: Step, path: str, repo: str, force: bool = False) -> None:
    """The downloaded file of ``step`` into ``repo``: a plain wheel rez-pip style, once it is
    the project and version pip reported; ours once it holds the variant and definition the
    plan resolved."""
    if step.kind == "pypi":
        _check_plain(path, step)
        rezpip.install_plain(path, repo, step.data or {})
        return
    from rezwheel.rezrepo.restore import Expected, restore_wheel

    restore_wheel(path, repo, force=force, expect=Expected(step.id, step.definition))


def install_file(path: str, repo: str, target: rezpip.Target, force: bool = False,
                 dry_run: bool = False) -> Done:
    """A wheel file given on the command line: ours restored as is, a plain one rez-pip style."""
    from rezwheel.artifact.reader import open_artifact, open_zip
    from rezwheel.index.readers import definition_from_zip

    sha = sha256_file(path)
    with open_zip(path) as z:  # members checked (paths, sizes, duplicates), errors name path
        try:
            ours = definition_from_zip(z) is not None
        except InvalidWheelError as e:
            raise InvalidWheelError(f"{path}: {e}") from None
    if not ours:
        data = rezpip.definition(rezpip.wheel_metadata(path), path, target, "", sha)
        variant = 0 if data.get("variants") else None
        root = fsrepo.variant_root(repo, data["name"], data["version"],
                                   rezdef.variant_subpath(data, variant))
        if fsrepo.is_installed(repo, data, variant):
            status = "present"
        elif dry_run:
            status = "install"
        else:
            check_writable(repo)
            rezpip.install_plain(path, repo, data)
            status = "installed"
        vid = VariantId(data["name"], data["version"], variant)
        return Done(_file_step(path, sha, "pypi", vid, root, status, data), status)
    if dry_run:
        with open_artifact(path) as art:
            lay = art.layout
            present = fsrepo.is_installed(repo, art.definition.data, lay.variant_index)
        root = fsrepo.variant_root(repo, lay.rez_name, lay.rez_version, lay.subpath or "")
        status = "present" if present else "install"
        return Done(_file_step(path, sha, "rezwheel", lay.id, root, status), status)
    from rezwheel.rezrepo.restore import restore_wheel

    r = restore_wheel(path, repo, force=force)
    return Done(_file_step(path, sha, "rezwheel", r.id, r.root, r.status), r.status)


def _file_step(path: str, sha: str, kind: str, vid: VariantId, root: str, status: str,
               data: Optional[dict] = None) -> Step:
    """The step a wheel file given by path stands for (what ``Done`` reports)."""
    given = IndexFile(os.path.basename(path), "file://" + os.path.abspath(path), sha, None)
    return Step(vid, kind, given, root, status, data=data)


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
