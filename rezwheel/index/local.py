"""The local directory index: wheels plus static PEP 503 pages and PEP 658 sidecars.

Layout: ``DIR/files/<wheel>``, ``DIR/files/<wheel>.metadata`` and ``DIR/simple/<project>/
index.html``, so ``pip --index-url file://DIR/simple`` and any static file server work unchanged.
Pages are derived from the files present (plus a ``.sha256`` beside each, written when it was
published), rewritten atomically under one lock, so concurrent publishers never lose an entry.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Iterator, Optional

from filelock import FileLock
from packaging.utils import canonicalize_name, parse_wheel_filename

from .. import naming
from ..atomic import atomic_write
from ..errors import PublishError
from ..hashing import sha256_file
from ..wheel.metadata import read_metadata


@dataclass(frozen=True)
class Published:
    file: str
    sha256: Optional[str]
    status: str  # "uploaded" | "skipped" | "failed" | "would-upload"
    error: Optional[str] = None


class LocalIndex:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.files = os.path.join(self.root, "files")
        self.simple = os.path.join(self.root, "simple")

    def wheels(self, project: Optional[str] = None) -> Iterator[str]:
        if not os.path.isdir(self.files):
            return
        want = canonicalize_name(project) if project else None
        for name in sorted(os.listdir(self.files)):
            if name.endswith(".whl") and (want is None or parse_wheel_filename(name)[0] == want):
                yield os.path.join(self.files, name)

    def publish(self, wheels: list[str], dry_run: bool = False) -> list[Published]:
        """Add wheels; identical files are skipped, a different file under a taken name fails.

        One lock and one page rewrite per project for the whole batch; a failure is reported for
        its file and the others still go in.
        """
        os.makedirs(self.files if not dry_run else self.root, exist_ok=True)
        results = []
        with FileLock(os.path.join(self.root, ".lock")):
            touched = set()
            for wheel in wheels:
                try:
                    results.append(self._add(wheel, dry_run))
                except PublishError as e:
                    results.append(Published(os.path.basename(wheel), None, "failed", str(e)))
                    continue
                if not dry_run:
                    touched.add(parse_wheel_filename(os.path.basename(wheel))[0])
            for project in sorted(touched):
                self._write_project_page(project)
            if touched:
                self._write_root_page()
        return results

    # -- filling from another index (rezwheel mirror sync); the caller holds ``lock()``
    def lock(self) -> FileLock:
        os.makedirs(self.root, exist_ok=True)
        return FileLock(os.path.join(self.root, ".lock"))

    def present(self) -> dict[str, str]:
        """File name -> sha256 of every wheel held, from the sidecars written when it came in."""
        return {os.path.basename(w): self._sha256(w) for w in self.wheels()}

    def partial(self) -> str:
        """Where downloads in progress live: same filesystem, never listed, cleared on start."""
        path = os.path.join(self.root, ".partial")
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def adopt(self, tmp: str, name: str, sha: str) -> None:
        """Move a verified download in: sidecars first, then the wheel, each atomically, so a
        listed wheel always has them and a killed sync leaves only the ``.partial`` dir."""
        dest = os.path.join(self.files, name)
        os.makedirs(self.files, exist_ok=True)
        atomic_write(dest + ".metadata", read_metadata(tmp).encode())
        atomic_write(dest + ".sha256", sha.encode())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)

    def write_pages(self, projects: Optional[set[str]] = None) -> None:
        """Rewrite the pages of ``projects`` (all when None), then the root page."""
        if projects is None:
            projects = {parse_wheel_filename(os.path.basename(w))[0] for w in self.wheels()}
        for project in sorted(projects):
            self._write_project_page(project)
        self._write_root_page()

    def _sha256(self, path: str) -> str:
        """A published file's sha256, hashed once at publish time and kept beside it."""
        side = path + ".sha256"
        if os.path.exists(side):
            with open(side) as fh:
                return fh.read().strip()
        sha = sha256_file(path)
        atomic_write(side, sha.encode())
        return sha

    def _add(self, wheel: str, dry_run: bool = False) -> Published:
        name = os.path.basename(wheel)
        dest = os.path.join(self.files, name)
        sha = sha256_file(wheel)
        if os.path.exists(dest):
            have = self._sha256(dest)
            if have != sha:
                raise PublishError(f"{name}: the index {self.root} already holds a different file "
                                   f"under this name (index sha256 {have}, new sha256 {sha})")
            return Published(name, sha, "skipped")
        self._check_family(wheel)
        if dry_run:
            return Published(name, sha, "would-upload")
        fd, tmp = tempfile.mkstemp(prefix=".rezwheel-", dir=self.files)
        os.close(fd)
        try:
            shutil.copyfile(wheel, tmp)
            self.adopt(tmp, name, sha)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return Published(name, sha, "uploaded")

    def _check_family(self, wheel: str) -> None:
        """Refuse a version whose PEP 440 mapping collides with, or misorders, the family's."""
        project, version, _, _ = parse_wheel_filename(os.path.basename(wheel))
        problem = naming.new_version_problem(
            (naming.pep440_to_rez(str(parse_wheel_filename(os.path.basename(w))[1]))
             for w in self.wheels(project)), naming.pep440_to_rez(str(version)))
        if problem:
            raise PublishError(f"{os.path.basename(wheel)}: {problem}")

    def _write_project_page(self, project: str) -> None:
        links = []
        for wheel in self.wheels(project):
            name = os.path.basename(wheel)
            attrs = ""
            meta = wheel + ".metadata"
            if os.path.exists(meta):
                msha = sha256_file(meta)
                attrs += f' data-dist-info-metadata="sha256={msha}" data-core-metadata="sha256={msha}"'
                rp = _requires_python(meta)
                if rp:
                    attrs += f' data-requires-python="{html.escape(rp)}"'
            href = f"../../files/{name}#sha256={self._sha256(wheel)}"
            links.append(f'    <a href="{html.escape(href)}"{attrs}>{html.escape(name)}</a><br/>')
        body = "\n".join(links)
        page = (f"<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" "
                f"content=\"1.1\">\n    <title>Links for {project}</title>\n  </head>\n  <body>\n"
                f"    <h1>Links for {project}</h1>\n{body}\n  </body>\n</html>\n")
        atomic_write(os.path.join(self.simple, project, "index.html"), page.encode())

    def _write_root_page(self) -> None:
        projects = sorted({parse_wheel_filename(os.path.basename(w))[0] for w in self.wheels()})
        links = "\n".join(f'    <a href="{p}/">{p}</a><br/>' for p in projects)
        page = (f"<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" "
                f"content=\"1.1\">\n    <title>Simple index</title>\n  </head>\n  <body>\n"
                f"{links}\n  </body>\n</html>\n")
        atomic_write(os.path.join(self.simple, "index.html"), page.encode())


def _requires_python(metadata_path: str) -> Optional[str]:
    with open(metadata_path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                return None
            if line.startswith("Requires-Python:"):
                return line.split(":", 1)[1].strip()
    return None
