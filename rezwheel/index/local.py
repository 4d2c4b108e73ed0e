"""The local directory index: wheels plus static PEP 503 pages and PEP 658 sidecars.

Layout: ``DIR/files/<wheel>``, ``DIR/files/<wheel>.metadata`` and ``DIR/simple/<project>/
index.html``, so ``pip --index-url file://DIR/simple`` and any static file server work unchanged.
Pages are derived from the files present (plus a ``.sha256`` beside each, written when it was
published), rewritten atomically under one lock, so concurrent publishers never lose an entry.

A batch costs O(files): the directory is listed once per batch and grouped by project, each
family's published versions are parsed once into a ``naming.FamilyVersions``, and each touched
project's page is written once at the end.
"""

from __future__ import annotations

import bisect
import hashlib
import html
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Iterator, Optional

from filelock import FileLock
from packaging.utils import canonicalize_name, parse_wheel_filename

from rezwheel.artifact import naming
from rezwheel.atomic import atomic_write
from rezwheel.errors import PublishError, RezwheelError
from rezwheel.hashing import sha256_file
from rezwheel.artifact.metadata import read_metadata
from rezwheel.index.pages import dist_of


_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Published:
    file: str
    sha256: Optional[str]
    status: str  # "uploaded" | "skipped" | "failed" | "would-upload"
    error: Optional[str] = None


class LocalIndex:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._known: dict[str, list[str]] = {}  # file name -> facts, learnt this run
        self._pages: dict[str, dict[str, list[str]]] = {}  # project -> facts its page gives
        self.files = os.path.join(self.root, "files")
        self.simple = os.path.join(self.root, "simple")

    def wheels(self, project: Optional[str] = None) -> Iterator[str]:
        want = canonicalize_name(project) if project else None
        for name in self._listing().get(want, []) if want else \
                sorted(n for names in self._listing().values() for n in names):
            yield os.path.join(self.files, name)

    def _listing(self) -> dict[str, list[str]]:
        """Wheel and sdist file names by project, from one read of the directory (a mirror
        holds the sdists of projects that have no wheel; hosts build them)."""
        by_project: dict[str, list[str]] = {}
        if os.path.isdir(self.files):
            for name in sorted(os.listdir(self.files)):
                project = project_of(name)
                if project:
                    by_project.setdefault(project, []).append(name)
        return by_project

    def publish(self, wheels: list[str], dry_run: bool = False,
                movable: frozenset = frozenset(),
                shas: Optional[dict[str, str]] = None) -> list[Published]:
        """Add wheels; identical files are skipped, a different file under a taken name fails.

        One lock, one directory listing and one page rewrite per project for the whole batch;
        a failure is reported for its file and the others still go in. ``movable``: wheels made
        for this publish, renamed into the index rather than copied. ``shas``: sha256 already
        known (hashed when the wheel was written). Files are decided in order (the family
        checks), then written side by side (each is a few file creations, mostly waiting).
        """
        import concurrent.futures as cf

        os.makedirs(self.files if not dry_run else self.root, exist_ok=True)
        shas = shas or {}
        with FileLock(os.path.join(self.root, ".lock")):
            listing = self._listing()
            families: dict[str, naming.FamilyVersions] = {}
            # a publish killed after adding files leaves this marker: its pages may be behind
            marker = os.path.join(self.root, ".publish-in-progress")
            stale = os.path.exists(marker)
            results: list[Published] = []
            for wheel in wheels:
                try:
                    results.append(self._decide(wheel, shas.get(wheel) or sha256_file(wheel),
                                                listing, families, dry_run))
                except PublishError as e:
                    results.append(Published(os.path.basename(wheel), None, "failed", str(e)))
            new = [(i, w) for i, (w, r) in enumerate(zip(wheels, results)) if r.status == "new"]
            # a file that is here but missing from its page (a page lost or damaged): rewrite it
            unlisted = {parse_wheel_filename(r.file)[0] for r in results if r.status == "skipped"
                        and r.file not in self._page_facts(parse_wheel_filename(r.file)[0])}
            if new:
                open(marker, "w").close()
            with cf.ThreadPoolExecutor(8, thread_name_prefix="rezwheel-index") as pool:
                done = pool.map(lambda iw: self._put(iw[1], results[iw[0]].sha256 or "",
                                                     iw[1] in movable), new)
                for (i, wheel), error in zip(new, done):
                    name = os.path.basename(wheel)
                    results[i] = Published(name, results[i].sha256,
                                           "failed" if error else "uploaded", error)
                    if error:  # not in the index after all
                        listing[parse_wheel_filename(name)[0]].remove(name)
            touched = {parse_wheel_filename(os.path.basename(wheels[i]))[0] for i, _ in new}
            touched |= unlisted
            for project in sorted(listing if stale else touched):
                self._write_project_page(project, listing.get(project, []))
            if touched or stale:
                self._write_root_page(listing)
            if os.path.exists(marker):
                os.unlink(marker)
        return results

    # -- filling from another index (rezwheel mirror sync); the caller holds ``lock()``
    def lock(self) -> FileLock:
        os.makedirs(self.root, exist_ok=True)
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
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)

    def write_pages(self, projects: Optional[set[str]] = None) -> None:
        """Rewrite the pages of ``projects`` (all when None), then the root page."""
        listing = self._listing()
        for project in sorted(listing if projects is None else projects):
            self._write_project_page(project, listing.get(project, []))
        self._write_root_page(listing)

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

    def _decide(self, wheel: str, sha: str, listing: dict[str, list[str]],
                families: dict[str, naming.FamilyVersions], dry_run: bool) -> Published:
        """skipped (the same file is there), failed (a different one is, or the version would
        break the family), would-upload (dry run), or new (listed from now on: to be written)."""
        name = os.path.basename(wheel)
        project, version, _, _ = parse_wheel_filename(name)
        names = listing.setdefault(project, [])
        if name in names:
            have = self._sha256(os.path.join(self.files, name))
            if have != sha:
                raise PublishError(f"{name}: the index {self.root} already holds a different file "
                                   f"under this name (index sha256 {have}, new sha256 {sha})")
            return Published(name, sha, "skipped")
        family = families.get(project)
        if family is None:  # the family's published versions, parsed once per batch
            family = families[project] = naming.FamilyVersions(
                naming.pep440_to_rez(str(parse_wheel_filename(n)[1])) for n in names
                if n.endswith(".whl"))
        rez_version = naming.pep440_to_rez(str(version))
        problem = family.problem(rez_version)
        if problem:
            raise PublishError(f"{name}: {problem}")
        family.add(rez_version)
        if dry_run:
            return Published(name, sha, "would-upload")
        bisect.insort(names, name)
        return Published(name, sha, "new")

    def _put(self, wheel: str, sha: str, move: bool) -> Optional[str]:
        """Write one decided wheel in (renamed when ``move`` and possible, else copied);
        returns an error line, or None."""
        name = os.path.basename(wheel)
        try:
            if move:
                try:
                    self.adopt(wheel, name, sha, sidecar=False)
                    return None
                except OSError:
                    pass  # another filesystem: copy it
            fd, tmp = tempfile.mkstemp(prefix=".rezwheel-", dir=self.files)
            os.close(fd)
            try:
                shutil.copyfile(wheel, tmp)
                self.adopt(tmp, name, sha, sidecar=False)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except OSError as e:
            return f"{name}: cannot write into the index {self.root}: {e.strerror or e}"
        return None

    def _write_project_page(self, project: str, names: list[str]) -> None:
        links = []
        for name in names:
            wheel = os.path.join(self.files, name)
            facts = self._facts(wheel)
            attrs = ""
            meta = wheel + ".metadata"
            if len(facts) >= 3 or os.path.exists(meta):
                msha = facts[1] if len(facts) >= 3 else sha256_file(meta)
                attrs += f' data-dist-info-metadata="sha256={msha}" data-core-metadata="sha256={msha}"'
                rp = facts[2] if len(facts) >= 3 else _requires_python(meta)
                if rp:
                    attrs += f' data-requires-python="{html.escape(rp)}"'
            href = f"../../files/{name}#sha256={facts[0]}"
            links.append(f'    <a href="{html.escape(href)}"{attrs}>{html.escape(name)}</a><br/>')
        body = "\n".join(links)
        page = (f"<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" "
                f"content=\"1.1\">\n    <title>Links for {project}</title>\n  </head>\n  <body>\n"
                f"    <h1>Links for {project}</h1>\n{body}\n  </body>\n</html>\n")
        atomic_write(os.path.join(self.simple, project, "index.html"), page.encode())

    def _write_root_page(self, listing: dict[str, list[str]]) -> None:
        projects = sorted(p for p, names in listing.items() if names)
        links = "\n".join(f'    <a href="{p}/">{p}</a><br/>' for p in projects)
        page = (f"<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" "
                f"content=\"1.1\">\n    <title>Simple index</title>\n  </head>\n  <body>\n"
                f"{links}\n  </body>\n</html>\n")
        atomic_write(os.path.join(self.simple, "index.html"), page.encode())


def project_of(name: str) -> Optional[str]:
    """The project a held file belongs to, from its name (a wheel or an sdist); else None."""
    dist = dist_of(name)
    return dist[0] if dist else None


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
