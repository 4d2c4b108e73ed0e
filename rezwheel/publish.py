"""Publish: put artifacts on an index, safely, again and again (DESIGN.md sections 4 and 7).

``publish`` reads like the steps, the same for every target: convert the rez packages among
the paths (wheel files are taken as they are), hash each file once, read what the index holds
once per distribution, decide per file (skip what is there, refuse what differs, refuse
versions that would break the family's order or a name that belongs to someone else), put the
rest in parallel, and let the index finish (a local index writes its pages; a server may be
waited on until it lists the files). Nothing is ever overwritten.

Where the files go is an ``index.writers.IndexWriter``: the local directory index or the
upload client. The decisions and guards above are made here, once, for both.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Protocol, Sequence

from packaging.utils import parse_wheel_filename

from rezwheel.artifact import naming
from rezwheel.errors import PublishError, RezwheelError
from rezwheel.hashing import sha256_file
from rezwheel.config import IndexConfig
from rezwheel.index.pages import IndexFile
from rezwheel.index.writers import IndexWriter, Result, Staging, Wheel, different_file
from rezwheel.pools import threads
from rezwheel.resolve.store import default_root

if TYPE_CHECKING:
    from rezwheel.convert import Report

log = logging.getLogger(__name__)


class Progress(Protocol):
    def start(self, files: int, size: int) -> None: ...
    def advance(self, result: Result, size: int) -> None: ...
    def finish(self) -> None: ...


@dataclass
class Outcome:
    """What a publish did: one Result per file (in the order given, then the wheels of
    unchanged packages the index already holds, as skipped), and what could not be read."""

    results: list[Result] = field(default_factory=list)
    #: paths that are no wheel, hold no rez package, or failed to convert: one line each
    problems: list[str] = field(default_factory=list)
    #: the conversion of the rez packages among the paths (None when only wheels were given)
    conversion: Optional["Report"] = None

    @property
    def reused(self) -> int:
        """Wheels of unchanged packages, not converted again: the index holds them."""
        return len(self.conversion.reused) if self.conversion else 0


def publish(paths: Sequence[str], target: IndexConfig, *, prefix: str = "",
            jobs: Optional[int] = None, wait: Optional[float] = None, dry_run: bool = False,
            allow_foreign_name: bool = False, progress: Optional[Progress] = None,
            on_converted: Optional[Callable[["Report"], None]] = None) -> Outcome:
    """Publish wheel files and rez packages (converted first) to ``target``.

    ``jobs``: requests in flight (default: from how far the index is); ``wait``: seconds to
    wait for a server to list what was uploaded; ``progress``: told of each file as it is
    decided or put (and a conversion shows its transient bar); ``on_converted``: called with the
    conversion's report before anything is sent (the CLI shows its warnings there).
    """
    index = _writer_for(target, jobs or 8, wait, dry_run)
    done = Outcome()
    with index.staging(prefix, dry_run, default_root()) as staging:
        wheels = _wheel_files(paths, done)
        wheels += _converted_wheels(paths, prefix, staging, done, show=progress is not None)
        if done.conversion and on_converted:
            on_converted(done.conversion)
        with index:
            done.results = _put(wheels, index, jobs=jobs, dry_run=dry_run,
                                allow_foreign_name=allow_foreign_name, progress=progress)
    done.results += [Result(name, sha, "skipped") for name, sha in
                     (done.conversion.reused if done.conversion else [])]
    if staging.reuse is not None and not any(r.status == "failed" for r in done.results):
        staging.reuse.save()
    return done


def _put(paths: list[tuple[str, Optional[str]]], index: IndexWriter, *, jobs: Optional[int],
         dry_run: bool, allow_foreign_name: bool,
         progress: Optional[Progress]) -> list[Result]:
    """Decide and put each file; one Result per file, in the order given."""
    wheels = [_describe(path, sha) for path, sha in paths]
    if progress:
        progress.start(len(wheels), sum(w.size for w in wheels))
    by_project: dict[str, list[Wheel]] = {}
    for w in wheels:
        by_project.setdefault(w.project, []).append(w)

    # One read per distribution that exists. With several distributions, one listing of the
    # index first spares a read (a 404) for each project that is new; how long it took says
    # how far the index is, and so how many requests to keep in flight (--jobs overrides).
    start = time.monotonic()
    listed = index.projects() if len(by_project) > 1 else None
    jobs = jobs or _jobs_for(time.monotonic() - start if listed is not None else 0.0)
    known = {p for p in by_project if listed is None or p in listed}

    def decide(project: str, existing: dict[str, IndexFile]) -> list[Wheel]:
        group = by_project[project]
        new = _decide(group, existing, index.where)
        _check_family(new, existing)
        _check_owner(project, [w for w in new if w.result is None], existing, index,
                     allow_foreign_name)
        for w in group:
            if w.result is not None and progress:
                progress.advance(w.result, w.size)
        new = [w for w in new if w.result is None]
        for w in new:
            if not w.made:  # wheels made here were warned about as they were converted
                _warn_resolve_time_code(w)
        return new

    # reading the index and putting files overlap: a project's files go in as soon as its
    # existing files have been read and judged, while other reads are still on the wire
    with threads(jobs, "rezwheel-publish") as pool:
        puts: dict[cf.Future, Wheel] = {}

        def send(ws: list[Wheel]) -> None:
            if dry_run:
                for w in ws:
                    w.result = Result(w.name, w.sha256, "would-upload")
                    if progress:
                        progress.advance(w.result, w.size)
            else:
                puts.update({pool.submit(index.upload, w): w for w in ws})

        reads = {pool.submit(index.existing, p): p for p in sorted(known)}
        for project in sorted(set(by_project) - known):
            send(decide(project, {}))
        for fut in cf.as_completed(reads):
            send(decide(reads[fut], fut.result()))
        for fut in cf.as_completed(list(puts)):
            w = puts[fut]
            w.result = fut.result()
            if progress:
                progress.advance(w.result, w.size)
    if not dry_run:
        index.finish([w for w in wheels if w.result and w.result.status == "uploaded"])
    if progress:
        progress.finish()
    return [w.result for w in wheels]  # type: ignore[misc]


def _wheel_files(paths: Sequence[str], done: Outcome) -> list[tuple[str, Optional[str]]]:
    """The wheel files among ``paths``, each checked before anything is sent (a damaged one
    is a problem line, and the others still go)."""
    wheels = []
    for path in paths:
        if path.endswith(".whl") and os.path.isfile(path):
            problem = _not_a_wheel(path)
            if problem:
                done.problems.append(problem)
            else:
                wheels.append((path, None))
    return wheels


def _converted_wheels(paths: Sequence[str], prefix: str, staging: Staging, done: Outcome,
             show: bool) -> list[tuple[str, Optional[str]]]:
    """The other paths' rez packages as wheels made in ``staging`` (with their sha256)."""
    dirs = [p for p in paths if not (p.endswith(".whl") and os.path.isfile(p))]
    if not dirs:  # converting imports rez: only pay for it when there is something to convert
        return []
    from rezwheel.convert import convert_paths
    from rezwheel.progress import conversion_bar

    with conversion_bar(show=show) as counters:
        report = convert_paths(dirs, staging.dir, prefix=prefix, reuse=staging.reuse,
                               sidecars=staging.sidecars, counters=counters)
    done.conversion = report
    done.problems += report.bad_paths + report.failed
    return [(r.file, r.sha256) for r in report.converted]


def _not_a_wheel(path: str) -> Optional[str]:
    """Why ``path`` is no wheel (not a zip, no single .dist-info/METADATA), or None."""
    from rezwheel.artifact.reader import READ_ERRORS, open_zip

    try:
        with open_zip(path) as z:
            found = [n for n in z.namelist() if n.count("/") == 1 and
                     n.endswith(".dist-info/METADATA")]
    except RezwheelError as e:
        return str(e)
    except (OSError, *READ_ERRORS) as e:
        return f"{path}: not a wheel: {e}"
    return None if len(found) == 1 else f"{path}: not a wheel: no single .dist-info/METADATA"


def _describe(path: str, sha: Optional[str]) -> Wheel:
    """A wheel file's name parts, size and sha256 (known already when it was made here)."""
    name = os.path.basename(path)
    try:
        project, version, _, _ = parse_wheel_filename(name)
    except ValueError as e:
        raise PublishError(f"{path}: not a wheel file name: {e}") from None
    return Wheel(path, name, str(project), str(version), sha or sha256_file(path),
                 os.path.getsize(path), made=sha is not None)


def _jobs_for(round_trip: float) -> int:
    """Requests in flight for a server ``round_trip`` seconds away: 8 nearby, more when each
    request spends its time waiting on the network rather than the server (at most 32)."""
    return 8 if round_trip < 0.02 else min(32, max(16, int(round_trip / 0.003)))


def _decide(group: list[Wheel], existing: dict[str, IndexFile], where: str) -> list[Wheel]:
    """Mark files already on the index; return those that are not."""
    new = []
    for w in group:
        have = existing.get(w.name)
        if have is None:
            new.append(w)
        elif have.sha256 == w.sha256:
            w.result = Result(w.name, w.sha256, "skipped")
        else:
            w.result = different_file(w.name, w.sha256, where, have.sha256)
    return new


def _check_family(new: list[Wheel], existing: dict[str, IndexFile]) -> None:
    """Refuse new versions whose PEP 440 form collides with, or misorders, the family's: the
    published versions are parsed once, and each accepted new one joins them."""
    published: list[str] = []
    for f in existing:
        try:
            published.append(naming.pep440_to_rez(str(parse_wheel_filename(f)[1])))
        except ValueError:
            continue  # not a wheel, or not ours: the owner check deals with it
    family = naming.FamilyVersions(published)
    for w in new:
        if w.result is not None:
            continue
        rez_version = naming.pep440_to_rez(w.version)
        problem = family.problem(rez_version)
        if problem:
            w.result = Result(w.name, w.sha256, "failed", f"{w.name}: {problem}")
        else:
            family.add(rez_version)


def _check_owner(project: str, new: list[Wheel], existing: dict[str, IndexFile],
                 index: IndexWriter, allow: bool) -> None:
    """Dependency-confusion guard: never add files to a project that is not a rezwheel one."""
    if not new or not existing or allow:
        return
    sample = existing[min(existing)]
    if index.is_rezwheel_file(sample):
        return
    for w in new:
        w.result = Result(w.name, w.sha256, "failed",
                          f"{w.name}: {project!r} already exists on the index and is not a rezwheel "
                          f"project ({sample.filename} has no rez definition); use "
                          "--allow-foreign-name or --prefix")


def _warn_resolve_time_code(w: Wheel) -> None:
    """Hosts refuse definitions that would run index code while resolving (a late-bound
    ``requires``): say so at publish time, so a studio learns it before its hosts do. The
    definition is read from METADATA, which publishing reads anyway."""
    metadata = w.metadata()
    if "@late" not in metadata and "@early" not in metadata:
        return
    from rezwheel.artifact.metadata import definition_from_metadata

    text = definition_from_metadata(metadata)
    if not text:
        return
    from rezwheel.artifact import rezdef

    try:
        found = rezdef.resolve_time_code(rezdef.parse(text, w.path))
    except RezwheelError:
        return
    if found:
        log.warning("%s: %s would run code while resolving: hosts will skip this package "
                    "unless the index is configured with trust-code", w.name,
                    ", ".join(f"{k}()" for k in found))


def _writer_for(target: IndexConfig, jobs: int = 8, wait: Optional[float] = None,
                dry_run: bool = False) -> IndexWriter:
    """The writer for a resolved ``--to`` target (a dry run's never writes)."""
    if target.type == "local":
        from rezwheel.index.local import LocalIndex

        return LocalIndex(target.upload_url, dry_run=dry_run)
    from rezwheel.index.upload import Uploader

    return Uploader(target, jobs, wait)
