"""The local directory index: wheels plus static PEP 503 pages and PEP 658 sidecars.

Layout: ``DIR/files/<wheel>``, ``DIR/files/<wheel>.metadata``, ``DIR/simple/<project>/
index.html`` and beside it the project's definitions in bulk (``index.bundle``), so
``pip --index-url file://DIR/simple`` and any static file server work unchanged.
Pages are derived from the files present (plus a ``.sha256`` beside each, written when it was
published), rewritten atomically under one lock, so concurrent publishers never lose an entry.

It is a publish target (an ``index.writers.IndexWriter``: the publish flow decides, this
writes) and what a mirror sync fills. A publish batch costs O(files): the directory is listed
once under the lock, the lock is held until the last page is written, and each touched
project's page is written once at the end, its bundle just before it (the entries it had for
files still held, plus the new ones from their ``.metadata`` sidecars). Then the index's
snapshot (``index.snapshot``: every page and bundle in one file, for a cold reader), and last
the root page, with a new index-wide serial when any project page was written (``index.serial``:
a warm reader over HTTP then revalidates the whole index in one request).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
import zipfile
from typing import Callable, Iterator, Optional

from packaging.utils import canonicalize_name

from rezwheel.artifact.metadata import definition_from_metadata, read_metadata
from rezwheel.atomic import AtomicFile, FileLock, atomic_write, make_dir, read_or_none as _read
from rezwheel.errors import RezwheelError
from rezwheel.hashing import sha256_file
from rezwheel.index import bundle, serial, snapshot, yanks
from rezwheel.index.pages import IndexFile, dist_of, written_link, written_page
from rezwheel.index.writers import STAGING, Result, Staging, Wheel


_HEX = re.compile(r"[0-9a-f]{64}")

#: the in-progress marker: written before the first file goes in (by a publish or a sync),
#: removed once the pages say what the files are; found on start, it says a writer was killed
#: in between, so every page is written again
MARKER = ".write-in-progress"
#: the markers older rezwheels wrote (publish, mirror sync): an index one of them left behind
#: is recognised, and the marker cleared, like ``MARKER``
OLD_MARKERS = (".publish-in-progress", ".sync-in-progress")


class LocalIndex:
    """A directory index: read by the plugin and pip, filled by publish (as an ``IndexWriter``)
    and by mirror sync."""

    def __init__(self, root: str, dry_run: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.dry_run = dry_run  # read, judge and say; never create, lock or write anything
        self.where = f"the index {self.root}"  # how messages name it
        self._known: dict[str, list[str]] = {}  # file name -> facts, learnt this run
        self._pages: dict[str, dict[str, list[str]]] = {}  # project -> facts its page gives
        self.files = os.path.join(self.root, "files")
        self.simple = os.path.join(self.root, "simple")
        # a publish batch (between __enter__ and __exit__): the lock, the listing read once,
        # the projects whose pages must be written, whether a killed publish left them behind
        self._held: Optional[FileLock] = None
        self._batch: dict[str, list[str]] = {}
        self._touched: set[str] = set()
        self._stale = False
        self._marked = False  # the in-progress marker is written before the first file goes in
        self._mutex = threading.Lock()
        self._yanked_seen: set[str] = set()  # files with a marker (``index.yanks``), as listed

    def wheels(self, project: Optional[str] = None) -> Iterator[str]:
        want = canonicalize_name(project) if project else None
        for name in self._listing().get(want, []) if want else \
                sorted(n for names in self._listing().values() for n in names):
            yield os.path.join(self.files, name)

    def _listing(self) -> dict[str, list[str]]:
        """Wheel and sdist file names by project, from one read of the directory (a mirror
        holds the sdists of projects that have no wheel; hosts build them); yanked markers
        seen on the way are noted for the pages."""
        by_project: dict[str, list[str]] = {}
        yanked = set()
        if os.path.isdir(self.files):
            for name in sorted(os.listdir(self.files)):
                project = project_of(name)
                if project:
                    by_project.setdefault(project, []).append(name)
                elif name.endswith(yanks.SUFFIX):
                    yanked.add(name[:-len(yanks.SUFFIX)])
        self._yanked_seen = yanked
        return by_project

    # -- as a publish target (index.writers.IndexWriter). A batch costs one lock, one listing
    # and one page rewrite per touched project, whatever its size; a failure is its file's own.
    def __enter__(self) -> "LocalIndex":
        if not self.dry_run:
            self._held = self.lock()
            self._held.acquire()
        self._batch = self._listing()
        self._touched = set()
        self._marked = False
        self._stale = self.interrupted()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None

    @contextlib.contextmanager
    def staging(self, prefix: str, dry_run: bool, cache_root: str = "") -> Iterator[Staging]:
        """Wheels for this index are made inside it, to be renamed in rather than copied, with
        their PEP 658 sidecars; what killed publishes left here is removed first. Packages
        unchanged since their wheels went in are not converted again (``artifact.reuse``: the
        record lives in ``cache_root``, the store). A dry run converts outside the index."""
        if dry_run or self.dry_run:
            with tempfile.TemporaryDirectory(prefix="rezwheel-dry-run-") as work:
                yield Staging(work, sidecars=True, reuse=None)
            return
        make_dir(self.root, "the index")
        _sweep_staging(self.root)
        reuse = None
        if not dry_run and cache_root:
            from rezwheel.artifact.reuse import Reuse

            reuse = Reuse(cache_root, self.root, f"prefix={prefix}\0"
                          f"epoch={os.environ.get('SOURCE_DATE_EPOCH', '')}", _Holds(self.root))
        with tempfile.TemporaryDirectory(prefix=f"{STAGING}{os.getpid()}-", dir=self.root) as work:
            yield Staging(work, sidecars=True, reuse=reuse)

    def projects(self) -> Optional[set[str]]:
        with self._mutex:
            return {p for p, names in self._batch.items() if names}

    def existing(self, project: str) -> dict[str, IndexFile]:
        """The project's files as listed when the batch began; a file its page lost has the
        page written again at the end."""
        with self._mutex:
            names = list(self._batch.get(project, []))
        facts = self._page_facts(project)
        if any(n not in facts for n in names):
            with self._mutex:
                self._touched.add(project)
        return {n: IndexFile(n, "file://" + os.path.join(self.files, n),
                             self._sha256(os.path.join(self.files, n)), None) for n in names}

    def is_rezwheel_file(self, f: IndexFile) -> bool:
        path = os.path.join(self.files, f.filename)
        try:
            if os.path.exists(path + ".metadata"):
                with open(path + ".metadata", encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            else:
                text = read_metadata(path)
        except (OSError, ValueError, zipfile.BadZipFile):
            return False
        return definition_from_metadata(text) is not None

    def upload(self, w: Wheel) -> Result:
        """Write one decided wheel in: renamed when it was made for this publish (and on this
        filesystem), else copied."""
        with self._mutex:
            if not self._marked:
                self.mark()
                self._marked = True
        try:
            if w.made:
                try:
                    self.adopt(w.path, w.name, w.sha256, sidecar=False)
                    return self._listed(w)
                except OSError:
                    pass  # another filesystem: copy it
            with AtomicFile(os.path.join(self.files, w.name)) as tmp:
                shutil.copyfile(w.path, tmp)
                self._sidecars(tmp, w.name, w.sha256, sidecar=False)
        except OSError as e:
            return Result(w.name, w.sha256, "failed",
                          f"{w.name}: cannot write into {self.where}: {e.strerror or e}")
        return self._listed(w)

    def _listed(self, w: Wheel) -> Result:
        with self._mutex:
            bisect.insort(self._batch.setdefault(w.project, []), w.name)
            self._touched.add(w.project)
        return Result(w.name, w.sha256, "uploaded")

    def finish(self, uploaded: list[Wheel]) -> None:
        """Write the pages of the projects touched (of all, after a killed publish)."""
        if self.dry_run:
            return
        for project in sorted(self._batch if self._stale else self._touched):
            self._write_project(project, self._batch.get(project, []))
        self._write_root_page(self._batch, bump=bool(self._touched or self._stale),
                              before=self._write_snapshot)
        self.unmark()

    # -- the in-progress marker, for every writer (publish, mirror sync); under ``lock()``
    def interrupted(self) -> bool:
        """Whether a writer was killed between adding files and writing the pages (its
        marker, or an older rezwheel's, is still there): the pages may be behind the files."""
        return any(os.path.exists(os.path.join(self.root, m)) for m in (MARKER, *OLD_MARKERS))

    def mark(self) -> None:
        """Say that files are going in and the pages will follow; before the first file."""
        os.makedirs(self.files, exist_ok=True)
        open(os.path.join(self.root, MARKER), "w").close()

    def unmark(self) -> None:
        """The pages say what the files are: clear the marker (an older rezwheel's too)."""
        for m in (MARKER, *OLD_MARKERS):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.root, m))

    # -- filling from another index (rezwheel mirror sync); the caller holds ``lock()``
    def lock(self) -> FileLock:
        make_dir(self.root, "the index")
        return FileLock(os.path.join(self.root, ".lock"))

    def holds(self, name: str, sha: str) -> bool:
        """Whether the index holds and lists file ``name`` with this sha256 (as its page says:
        a file its page lost is not held, so a publish puts the page right)."""
        listed = self._page_facts(project_of(name) or "").get(name)
        return bool(listed) and listed[0] == sha and os.path.exists(os.path.join(self.files, name))

    def present(self) -> dict[str, str]:
        """File name -> sha256 of every wheel held, from the sidecars written when it came in."""
        return {os.path.basename(w): self._sha256(w) for w in self.wheels()}

    def partial(self) -> str:
        """Where downloads in progress live: same filesystem, never listed, cleared on start."""
        path = os.path.join(self.root, ".partial")
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def adopt(self, tmp: str, name: str, sha: str, sidecar: bool = True) -> None:
        """Move a verified download in: sidecars first, then the wheel (atomically), so a
        listed wheel always has them and a killed sync leaves only the ``.partial`` dir.

        The sidecars need no rename of their own: nothing links to them until the wheel is in
        (and pages are written after that), and a half-written one is rewritten with the wheel.
        A ``.metadata`` file made beside ``tmp`` (by the conversion) is renamed in. ``sidecar``:
        also keep ``NAME.sha256``, so that a sync killed before its pages were written does
        not hash its payloads again (a publish rebuilds from what it has in hand).
        """
        self._sidecars(tmp, name, sha, sidecar)
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(self.files, name))

    def _sidecars(self, tmp: str, name: str, sha: str, sidecar: bool) -> None:
        dest = os.path.join(self.files, name)
        os.makedirs(self.files, exist_ok=True)
        made = tmp + ".metadata"
        if not name.endswith(".whl"):  # an sdist: its metadata is not served (PEP 658)
            facts = [sha]
        elif os.path.exists(made):
            with open(made, "rb") as fh:
                metadata = fh.read()
            os.replace(made, dest + ".metadata")
        else:
            metadata = read_metadata(tmp).encode()
            _write(dest + ".metadata", metadata)
        if name.endswith(".whl"):
            facts = [sha, hashlib.sha256(metadata).hexdigest(),
                     _requires_python_of(metadata.decode("utf-8", "replace")) or ""]
        self._known[name] = facts
        if sidecar:
            _write(dest + ".sha256", (sha + "\n").encode())

    def write_pages(self, projects: Optional[set[str]] = None) -> None:
        """Rewrite the pages of ``projects`` (all when None), then the root page: with a new
        serial when any project page was written (``index.serial``)."""
        listing = self._listing()
        for project in sorted(listing if projects is None else projects):
            self._write_project(project, listing.get(project, []))
        self._write_root_page(listing, bump=projects is None or bool(projects),
                              before=self._write_snapshot)

    def _write_snapshot(self, listing: dict[str, list[str]], value: str, bump: bool) -> None:
        """Every project page and bundle under ``value`` (``index.snapshot``), written before
        the root page declares it; when nothing changed, only if missing or stale."""
        path = os.path.join(self.simple, snapshot.NAME)
        if not bump:
            try:
                with open(path, "rb") as fh:
                    kept = snapshot.open_snapshot(fh.read(), path)
                if kept is not None and kept.serial == value:
                    return
            except OSError:
                pass
        projects: dict[str, tuple[bytes, Optional[bytes]]] = {}
        for project in sorted(p for p, names in listing.items() if names):
            page = _read(os.path.join(self.simple, project, "index.html"))
            if page is not None:
                projects[project] = (page, _read(os.path.join(self.simple, project, bundle.NAME)))
        data = snapshot.encode(value, projects)
        if snapshot.fits(data):
            atomic_write(path, data)
        elif os.path.exists(path):  # readers would refuse it: pages are read one by one
            os.unlink(path)

    def _facts(self, path: str) -> list[str]:
        """[wheel sha256, metadata sha256, Requires-Python] of a held file: from this run, its
        project page, or its ``.sha256`` sidecar (the first only); hashed when none has it."""
        name = os.path.basename(path)
        facts = self._known.get(name)
        if facts is None:
            facts = self._page_facts(project_of(name) or "").get(name)
        if facts is None or not _HEX.fullmatch(facts[0]):
            try:
                with open(path + ".sha256") as fh:
                    facts = [fh.read().split("\n")[0]]
            except OSError:
                facts = []
            if not facts or not _HEX.fullmatch(facts[0]):
                facts = [sha256_file(path)]
            self._known[name] = facts
        return facts

    def _page_facts(self, project: str) -> dict[str, list[str]]:
        """What the project's page (written by this index) says of each file."""
        if project not in self._pages:
            from rezwheel.index.pages import parse_project_page

            facts: dict[str, list[str]] = {}
            page = os.path.join(self.simple, project, "index.html")
            try:
                with open(page, "rb") as fh:
                    body = fh.read()
                for f in parse_project_page(body, "text/html", "file://" + page,
                                            lambda url: True):
                    msha = (f.metadata or "")[len("sha256="):] \
                        if (f.metadata or "").startswith("sha256=") else ""
                    if f.sha256 and msha:
                        facts[f.filename] = [f.sha256, msha, f.requires_python or ""]
                    elif f.sha256 and not f.filename.endswith(".whl"):  # an sdist
                        facts[f.filename] = [f.sha256]
            except (OSError, RezwheelError):
                pass
            self._pages[project] = facts
        return self._pages[project]

    def _sha256(self, path: str) -> str:
        """A published file's sha256, hashed once at publish time and kept beside it."""
        return self._facts(path)[0]

    def _write_project(self, project: str, names: list[str]) -> None:
        """A project's bundle, then its page (a reader of the new page finds the new entries)."""
        self._write_bundle(project, names)
        self._write_project_page(project, names)

    def _write_bundle(self, project: str, names: list[str]) -> None:
        """Keep the entries of files still held, add the others' from their sidecars; a
        project with no rezwheel wheel has no bundle."""
        path = os.path.join(self.simple, project, bundle.NAME)
        try:
            with open(path, "rb") as fh:
                old = bundle.decode(fh.read(), project, path)
        except OSError:
            old = {}
        entries: dict[str, str] = {}
        for name in names:
            if not name.endswith(".whl"):
                continue
            sha = self._facts(os.path.join(self.files, name))[0]
            text = old.get(sha)
            if text is None:
                try:
                    with open(os.path.join(self.files, name + ".metadata"), encoding="utf-8",
                              errors="replace") as fh:
                        text = definition_from_metadata(fh.read())
                except OSError:
                    text = None
            if text:
                entries[sha] = text
        if entries:
            atomic_write(path, bundle.encode(project, entries))
        elif os.path.exists(path):
            os.unlink(path)

    def _write_project_page(self, project: str, names: list[str]) -> None:
        links = []
        for name in names:
            wheel = os.path.join(self.files, name)
            facts = self._facts(wheel)
            msha, rp = None, None
            meta = wheel + ".metadata"
            if len(facts) >= 3 or os.path.exists(meta):
                msha = facts[1] if len(facts) >= 3 else sha256_file(meta)
                rp = facts[2] if len(facts) >= 3 else _requires_python(meta)
            yanked = yanks.reason(self.files, name) if name in self._yanked_seen else None
            links.append(written_link(f"../../files/{name}#sha256={facts[0]}", name, msha, rp,
                                      yanked))
        _write_later(os.path.join(self.simple, project, "index.html"),
                     written_page(project, links))

    def _write_root_page(self, listing: dict[str, list[str]], bump: bool = True,
                         before: Optional[Callable[[dict[str, list[str]], str, bool], None]]
                         = None) -> None:
        """The root page, the last thing a writer writes: ``bump`` (project pages were
        written), with a new serial, which tells readers that pages changed (``index.serial``);
        else the serial it had, and the page is left alone when nothing else changed either."""
        path = os.path.join(self.simple, "index.html")
        try:
            with open(path, "rb") as fh:
                old: Optional[bytes] = fh.read()
        except OSError:
            old = None
        previous = serial.parse(old[:1 << 16]) if old is not None else None
        value = serial.following(previous) if bump or previous is None else previous
        if before is not None:
            before(listing, value, bump or previous is None)
        projects = sorted(p for p, names in listing.items() if names)
        links = "\n".join(f'    <a href="{p}/">{p}</a><br/>' for p in projects)
        page = (f"<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" "
                f"content=\"1.1\">\n    {serial.tag(value)}\n    <title>Simple index</title>\n"
                f"  </head>\n  <body>\n{links}\n  </body>\n</html>\n").encode()
        if page != old:
            _write_later(path, page)


class _Holds:
    """``LocalIndex.holds`` as conversion workers call it: they get it pickled (an index in the
    middle of a batch holds locks, which do not pickle), so each process reads the pages
    through an index of its own."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._index: Optional[LocalIndex] = None

    def __getstate__(self) -> dict:
        return {"root": self.root, "_index": None}

    def __call__(self, name: str, sha: str) -> bool:
        if self._index is None:
            self._index = LocalIndex(self.root)
        return self._index.holds(name, sha)


def project_of(name: str) -> Optional[str]:
    """The project a held file belongs to, from its name (a wheel or an sdist); else None."""
    dist = dist_of(name)
    return dist[0] if dist else None


def _sweep_staging(root: str) -> None:
    """Remove what publishes killed outright (SIGKILL) left inside the index: staging
    directories whose process is gone."""
    for entry in os.listdir(root):
        if not entry.startswith(STAGING):
            continue
        pid = entry[len(STAGING):].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
            continue  # that publish is still running
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError):
            continue  # not ours to judge (no pid, or another user's live process)
        shutil.rmtree(os.path.join(root, entry), ignore_errors=True)


def _write_later(path: str, data: bytes) -> None:
    """``atomic_write``, then a modification time in a later second than the page replaced had:
    a server validating by the second (Last-Modified, nginx's ETag: mtime and size) must never
    answer "unchanged" for a page rewritten within the second (the root page's serial promises
    that the pages of a completed publish are seen)."""
    try:
        before: Optional[float] = os.stat(path).st_mtime
    except OSError:
        before = None
    atomic_write(path, data)
    if before is not None and int(os.stat(path).st_mtime) <= int(before):
        later = int(before) + 1
        os.utime(path, (later, later))


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _requires_python_of(metadata: str) -> Optional[str]:
    for line in metadata.split("\n\n", 1)[0].splitlines():
        if line.startswith("Requires-Python:"):
            return line.split(":", 1)[1].strip()
    return None


def _requires_python(metadata_path: str) -> Optional[str]:
    with open(metadata_path, encoding="utf-8", errors="replace") as fh:
        return _requires_python_of(fh.read())
