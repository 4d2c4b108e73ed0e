"""``rezwheel mirror sync``: a site's local directory index filled from upstream (Artifactory).

Hosts at the site read the mirror first (``artifactory@/mnt/mirror``, or any static web server
over it) so each payload crosses the WAN once. A sync copies what is missing, by file name and
sha256: everything upstream lists, or what the filter requests resolve to (every variant of
each chosen package version, and the plain PyPI wheels pip picks). Downloads go to a hidden
directory, are checked against upstream's sha256 and renamed in; project pages are rewritten at
the end. A sync killed at any point leaves only whole, verified files, and the next one
finishes the job (a marker says the pages may be behind).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
from typing import TYPE_CHECKING, Any, Optional


from rezwheel.errors import RezwheelError
from rezwheel.hashing import sha256_file
from rezwheel.index import yanks
from rezwheel.index.local import LocalIndex, project_of
from rezwheel.index.pages import IndexFile, filename_problem
from rezwheel.index.writers import Result, different_file  # copied | present | failed
from rezwheel.pools import threads
from rezwheel.redaction import get_logger, scrub
from rezwheel.resolve.packages import IndexRepository, Settings

if TYPE_CHECKING:
    from rezwheel.index.readers import IndexReader
    from rezwheel.resolve.planner import Planner, Step
    from rezwheel.resolve.store import Store

log = get_logger(__name__)


def _wanted(upstream: IndexRepository, location: str, filters: list[str],
            only_binary: bool = False) -> list[tuple[IndexFile, "IndexReader"]]:
    """(file, the reader that fetches it) for everything the sync should hold."""
    if not filters:
        projects = upstream.reader.projects()
        if projects is None:
            raise RezwheelError(f"{location}: the index does not list its projects; name what "
                                "to copy with --filter")
        return [(f, upstream.reader) for project in sorted(projects)
                for f in upstream.files(project) if f.filename.endswith(".whl")]
    from rezwheel.resolve.planner import Planner
    from rezwheel.resolve.solve import default_python, installed_paths
    from rezwheel.rezplugin import artifactory
    from rezwheel.rezrepo.rezpip import Target

    # what the site already has on rez's packages path (python, platform) takes part, as for
    # install; sdists are copied as they are (hosts build them)
    python = default_python(installed_paths(None))
    with Planner([upstream], Target.current(python), upstream.settings.prefix,
                 upstream.settings.store or None, explicit_python=bool(python),
                 build=False, only_binary=only_binary, bind=artifactory.bind,
                 unbind=artifactory.unbind) as planner:
        steps = planner.plan(filters, repo=None, all_variants=True)
        # hosts unlike this one choose other variants: each of those brings its own closure
        chosen = planner.last_chosen
        for s in list(steps):
            if s.kind == "rezwheel" and s.id not in chosen and s.definition:
                requires = s.definition.variant_requires(s.id.index)
                steps += planner.plan([f"{s.id.name}=={s.id.version}", *requires], repo=None)
        steps += _build_closure(planner, steps, upstream)
    return [(s.file, s.reader) for s in steps if s.file]  # type: ignore[misc]


def _build_closure(planner: "Planner", steps: "list[Step]", upstream: IndexRepository
                   ) -> "list[Step]":
    """The build requirements of the sdists among ``steps`` (read from each sdist's
    pyproject.toml, never by running it) and what they need, so that hosts can build those
    sdists from the mirror alone. Requirements upstream cannot satisfy are a warning."""
    from rezwheel.resolve.sdist import build_requires
    from rezwheel.resolve.wanted import Asked, parse

    store = upstream.store
    seen: set[str] = set()
    out: list = []
    todo = [s for s in steps if s.kind == "pypi" and not s.filename.endswith(".whl")]
    while todo:
        s = todo.pop()
        f, reader = s.file, s.reader
        if f is None or reader is None or f.filename in seen or not f.sha256:
            continue
        seen.add(f.filename)
        try:
            path = store.fetch_wheel(f.sha256, f.filename,
                                     lambda dest: reader.fetch(f, dest))  # type: ignore[union-attr]
            requires = build_requires(path)
            more = planner.plan(Asked([parse(r, "pyproject.toml of " + f.filename,
                                             pep_only=True) for r in requires]), repo=None)
        except (RezwheelError, OSError) as e:
            log.warning("rezwheel: %s: its build requirements are not mirrored: %s", f.filename,
                        scrub(str(e)))
            continue
        out += more
        todo += [m for m in more if m.kind == "pypi" and not m.filename.endswith(".whl")]
    return out


def sync(location: str, dest: str, filters: Optional[list[str]] = None, jobs: int = 8,
         prefix: str = "", progress: Any = None, only_binary: bool = False) -> list[Result]:
    """Fill the local directory index ``dest`` from ``location``: what is wanted, judged
    against what the mirror holds, the missing files copied in, then the pages written.

    Under the index's lock; a marker says the pages may be behind the files from the first
    copy until the pages are written (a killed sync or publish: the next sync rewrites all)."""
    upstream = IndexRepository(location, Settings(prefix=prefix))
    index = LocalIndex(dest)
    wanted = _wanted(upstream, location, filters or [], only_binary)
    with index.lock():
        stale = index.interrupted()
        have = index.present()  # each held file's sha256, from its sidecar: read once
        todo, results = _judge(wanted, index, have)
        restated = _restate_yanked(upstream, index, have)
        if not todo and not stale and not restated:
            return results
        index.mark()
        copied = _copy(todo, index, upstream.store, jobs, progress)
        results += copied
        touched = {project_of(r.file) or "" for r in copied if r.status == "copied"} | restated
        if touched or stale:  # nothing came in (upstream down): no new serial for nothing
            index.write_pages(None if stale else touched)
        index.unmark()
        if progress:
            progress.finish()
    return results


def _restate_yanked(upstream: IndexRepository, index: LocalIndex, held: dict[str, str]
                    ) -> set[str]:
    """The projects whose held files upstream now yanks, or no longer yanks (PEP 592), with
    the mirror's markers made to say the same: hosts behind the mirror see what hosts on the
    server see. Only the pages this sync read are compared (all of them without a filter):
    a filter's families are read, other held projects keep their state until synced."""
    marked = yanks.held(index.files)
    changed = set()
    for f in upstream.files_read():
        if f.filename in held and marked.get(f.filename) != f.yanked and \
                (not f.sha256 or held[f.filename] == f.sha256):
            yanks.mark(index.files, f.filename, f.yanked)
            changed.add(project_of(f.filename) or "")
    return changed


def _judge(wanted: list[tuple[IndexFile, "IndexReader"]], index: LocalIndex,
           have: dict[str, str]) -> tuple[list[tuple[IndexFile, "IndexReader"]], list[Result]]:
    """(what to copy, the results of the rest): a file the mirror holds (``have``) under the
    same name is present, or refused when its sha256 differs from upstream's (never
    overwritten)."""
    todo, results = [], []
    for name, (f, reader) in sorted({f.filename: (f, r) for f, r in wanted}.items()):
        if name not in have:
            todo.append((f, reader))
        elif f.sha256 and have[name] != f.sha256:
            results.append(different_file(name, f.sha256, f"the mirror {index.root}", have[name]))
        else:
            results.append(Result(name, have[name], "present"))
    return todo, results


def _copy(todo: list[tuple[IndexFile, "IndexReader"]], index: LocalIndex, store: "Store",
          jobs: int, progress: Any) -> list[Result]:
    """Each file copied in side by side (``_copy_one``), a failure a result of its own; the
    downloads directory goes whatever happens (Ctrl-C: those in flight lose it)."""
    partial = index.partial()
    if progress:
        progress.start(len(todo), 0)
    results = []
    try:
        with threads(jobs, "rezwheel-mirror") as pool:
            futures = {pool.submit(_copy_one, f, reader, index, partial, store): f
                       for f, reader in todo}
            for fut in cf.as_completed(futures):
                f = futures[fut]
                try:
                    result = fut.result()
                except (RezwheelError, OSError) as e:  # requests' errors are OSErrors
                    result = Result(f.filename, f.sha256, "failed", str(e))
                results.append(result)
                if progress:
                    progress.advance(result, 0)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return results


def _copy_one(f: IndexFile, reader: "IndexReader", index: LocalIndex, partial: str,
              store: "Store") -> Result:
    """One file into the mirror: downloaded into ``partial`` (or copied from the store, where
    an sdist read for its build requirements is kept), checked against upstream's sha256,
    then adopted (renamed in with its sidecars)."""
    if not f.sha256:
        raise RezwheelError(f"{f.filename}: upstream gives no sha256 to verify it against")
    problem = filename_problem(f.filename)  # checked where the page was read; and here,
    if problem:                             # before the name becomes a path
        raise RezwheelError(f"{f.filename!r}: {problem}")
    tmp = os.path.join(partial, f.filename)
    kept = store.wheel_path(f.sha256, f.filename)
    try:
        if os.path.exists(kept):
            shutil.copyfile(kept, tmp)
            got = sha256_file(tmp)
        else:
            got = reader.fetch(f, tmp) or sha256_file(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if got != f.sha256:
        os.unlink(tmp)
        raise RezwheelError(f"{f.filename}: sha256 {got} does not match upstream's {f.sha256}")
    yanks.mark(index.files, f.filename, f.yanked)  # before the file is listed
    index.adopt(tmp, f.filename, f.sha256)
    return Result(f.filename, f.sha256, "copied")
