"""The upload client: an index server as an ``IndexWriter`` (twine's protocol, DESIGN.md 4).

Files go up as ``multipart/form-data`` POSTs to the upload URL; what the server holds is read
from its simple index, fresh (no page cache). The server kinds' quirks live here: an answer
lost on the wire is followed by a look before trying again (the upload may have landed), a
duplicate answered 400/403/404/409 is judged by the sha256 the server holds (Artifactory's
storage API tells it before the index lists the file), and a batch whose first uploads all
fail alike (refused credentials, a server that is down) stops as twine does.

After the batch, Artifactory also gets each touched project's definitions in bulk
(``index.bundle``): the bundle there is read, merged with the new wheels' definitions, pruned to
the files the index listed, completed with the definitions of listed files it lacks (published
before bundles, or dropped by a racing publisher: read once here, by PEP 658 file or range read,
rather than by every host), and deployed back by a generic PUT beside the packages. Then the
repository's snapshot (``index.snapshot``: every project's files and bundle in one file, a hint
that lets a host read ahead along the whole dependency graph at once) is updated the same way.
pypiserver and devpi take distribution uploads only, so they hold neither (readers fall back
cheaply).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import threading
import time
from typing import Iterator, Optional

import requests
from packaging.utils import parse_wheel_filename

from rezwheel.credentials import Credential, find_credentials, split_url
from rezwheel.errors import RezwheelError
from rezwheel.hashing import CHUNK
from rezwheel.config import IndexConfig, artifactory_storage_url
from rezwheel.index.http import (RETRY_STATUS, OriginAuth, deadline, describe, make_session,
                                 redact, retry_after)
from rezwheel.index import bundle
from rezwheel.index.pages import IndexFile
from rezwheel.index.httpreader import HttpReader
from rezwheel.index.writers import STAGING, Result, Staging, Wheel, different_file
from rezwheel.artifact.metadata import header_fields
from rezwheel.redaction import get_logger

log = get_logger(__name__)

STOP_AFTER = 2  # first uploads failing alike before the rest of a batch is not tried
UPLOAD_ATTEMPTS = 5
SMALL_BODY = 8 << 20
WAIT_POLL = 1.0


class Uploader:
    """An upload URL and its simple index, with the server kind's quirks.

    ``jobs``: requests the caller keeps in flight (the connection pool is sized for them);
    ``wait``: seconds ``finish`` waits for the index to list what was uploaded (None: no wait).
    """

    where = "the index"

    def __init__(self, target: IndexConfig, jobs: int = 8, wait: Optional[float] = None) -> None:
        cfg, cred = _without_url_credentials(target)
        self.cfg = cfg
        self.wait = wait
        self.session = make_session(pool=max(jobs, 32), origins=cfg.files_hosts)
        self.has_credentials = cred is not None
        self.sent = str(cred) if cred else None  # "credentials from $X", never the secret
        if cred:
            self.session.auth = OriginAuth(cred.headers(cfg.type), [cfg.upload_url, cfg.index_url])
        # no page cache: fresh reads
        self.index = HttpReader(cfg.index_url, self.session, None, credential=cred,
                                files_hosts=cfg.files_hosts)
        # as twine does, a batch stops once its first uploads all fail for the same reason
        # (refused credentials, a server that is down): the rest are not tried
        self._stop: Optional[str] = None
        self._failed: dict[str, int] = {}
        self._succeeded = False
        self._lock = threading.Lock()
        self._listed: dict[str, list[IndexFile]] = {}  # project -> the files its page listed

    def __enter__(self) -> "Uploader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    @contextlib.contextmanager
    def staging(self, prefix: str, dry_run: bool, cache_root: str = "") -> Iterator[Staging]:
        """Conversions for a server are made in a temporary directory, then sent from it."""
        with tempfile.TemporaryDirectory(prefix=f"{STAGING}{os.getpid()}-") as work:
            yield Staging(work)

    def projects(self) -> Optional[set[str]]:
        try:
            return self.index.projects()
        except RezwheelError:
            return None  # some servers refuse the full listing; read project pages instead

    def existing(self, project: str) -> dict[str, IndexFile]:
        files = {f.filename: f for f in self.index.files(project)}
        with self._lock:
            self._listed[project] = list(files.values())
        return files

    def is_rezwheel_file(self, f: IndexFile) -> bool:
        """Read as cheaply as the index allows (the same reads the rez plugin makes: PEP 658
        file, tail of the wheel, whole file)."""
        from rezwheel.index.readers import read_definition

        try:
            read_definition(self.index, f)
            return True
        except RezwheelError:
            return False

    def upload(self, w: Wheel) -> Result:
        with self._lock:
            stop = self._stop
        if stop:
            return Result(w.name, w.sha256, "failed", f"{w.name}: not tried: {stop}", stop,
                          tried=False)
        result = self._upload(w)
        with self._lock:
            if result.reason:
                self._failed[result.reason] = self._failed.get(result.reason, 0) + 1
                if not self._succeeded and self._failed[result.reason] >= STOP_AFTER:
                    self._stop = result.reason
            elif result.status != "failed":
                self._succeeded = True
        return result

    def finish(self, uploaded: list[Wheel]) -> None:
        """Deploy the touched projects' bundles (Artifactory); with ``wait``: poll the index
        until it lists every uploaded file, or time is up."""
        if self.cfg.type == "artifactory":
            deployed = {}
            for project in sorted({w.project for w in uploaded}):
                mine = [w for w in uploaded if w.project == project]
                body = self._deploy_bundle(project, mine)
                if body is not None:
                    deployed[project] = (self._hint_page(project, mine), body)
            if deployed:
                self._deploy_snapshot(deployed)
        if self.wait is None:
            return
        deadline_at = time.monotonic() + self.wait
        pending = {w.name: w for w in uploaded}
        while pending:
            for project in sorted({w.project for w in pending.values()}):
                listed = self.existing(project)
                for name in [n for n, w in pending.items() if w.project == project]:
                    if name in listed:
                        del pending[name]
            if not pending or time.monotonic() >= deadline_at:
                break
            time.sleep(min(WAIT_POLL, max(0.0, deadline_at - time.monotonic())))
        for w in pending.values():
            w.result.error = (f"{w.name}: uploaded, but {redact(self.cfg.index_url)} does not "  # type: ignore[union-attr]
                              f"list it after {self.wait:g} s")

    def _deploy_bundle(self, project: str, new: list[Wheel]) -> Optional[bytes]:
        """Read-modify-write of a project's bundle, returned once deployed; a failure is a
        warning (readers then read the definitions one by one), never a failed publish."""
        from rezwheel.artifact.metadata import definition_from_metadata

        url = bundle.url_for(self.cfg.index_url, project)
        texts = {w.sha256: definition_from_metadata(w.metadata()) for w in new}
        added = {sha: text for sha, text in texts.items() if text}
        if not added:
            return None
        none = {sha for sha, text in texts.items() if not text}  # plain wheels, allowed
        try:
            data = bundle.download(self.session, url)
            old = bundle.decode(data, project, url)
            none |= bundle.without(data, project)
            with self._lock:
                listed = self._listed.get(project)
            keep = None
            if listed is not None:
                keep = {f.sha256 for f in listed if f.sha256} | set(added) | none
                # a file known to carry no definition is not asked for again on each publish
                found, lacking = self._definitions(
                    [f for f in listed if f.sha256 and f.sha256 not in old and
                     f.sha256 not in added and f.sha256 not in none])
                added.update(found)
                none |= lacking
                none &= keep
            body = bundle.encode(project, bundle.merge(old, added, keep), none)
            self._deploy(url, body, "application/gzip")
            return body
        except (requests.RequestException, RezwheelError) as e:
            log.warning("rezwheel: %s: definitions bundle not written (%s); hosts will read "
                        "its definitions one by one", project, e)
            return None

    def _hint_page(self, project: str, new: list[Wheel]) -> bytes:
        """The project's files as this publish knows them (the page it read, and what it
        uploaded: the index lists those only after its quiet period), as a page."""
        from rezwheel.index.pages import written_link, written_page

        with self._lock:
            files = {f.filename: f.sha256 for f in self._listed.get(project, []) if f.sha256}
        files.update({w.name: w.sha256 for w in new})
        links = []
        for name in sorted(files):
            try:
                version = str(parse_wheel_filename(name)[1]) if name.endswith(".whl") else ""
            except ValueError:
                continue
            if version:
                links.append(written_link(f"../../{project}/{version}/{name}#sha256={files[name]}",
                                          name))
        return written_page(project, links)

    def _deploy_snapshot(self, deployed: dict[str, tuple[bytes, bytes]]) -> None:
        """Read-modify-write of the repository's snapshot (``index.snapshot``): there, with no
        serial on the index, it is a hint for hosts (which definitions, which families a
        family requires), never the truth; a racing publisher may drop this one's projects,
        which hosts then read as before. A failure is a warning, never a failed publish."""
        from rezwheel import limits
        from rezwheel.index import serial, snapshot

        url = snapshot.url_for(self.cfg.index_url)
        try:
            data = snapshot.download(self.session, url)
            old = snapshot.open_snapshot(data, url) if data else None
            projects = dict(deployed)
            if old is not None:
                budget = int(limits.get("max-snapshot-bytes")) - sum(
                    len(page) + len(b) for page, b in deployed.values())
                projects.update(old.projects(max(0, budget), frozenset(deployed)))
            body = snapshot.encode(serial.following(old.serial if old else None), projects)
            if not snapshot.fits(body):  # readers would refuse it
                raise RezwheelError(f"larger than the limit {limits.get('max-snapshot-bytes')} "
                                    "(REZWHEEL_MAX_SNAPSHOT_BYTES)")
            self._deploy(url, body, "application/zip")
        except (requests.RequestException, RezwheelError) as e:
            log.warning("rezwheel: index snapshot not written (%s); hosts will read each "
                        "family's bundle", e)

    def _deploy(self, url: str, body: bytes, content_type: str) -> None:
        """JFrog's deploy API: a generic PUT beside the packages, its sha256 checked there."""
        import hashlib

        with deadline(url):
            r = self.session.put(url, data=body, headers={
                "Content-Type": content_type,
                "X-Checksum-Sha256": hashlib.sha256(body).hexdigest()})
        if r.status_code not in (200, 201):
            raise RezwheelError(describe(r, url, self.sent))

    def _definitions(self, files: list[IndexFile]) -> tuple[dict[str, str], set[str]]:
        """The definitions of listed files, by the cheap reads only (a PEP 658 file, the tail of
        the wheel: never a whole download), and the sha256s of those whose whole METADATA or
        member list was read and holds none; a file read neither way is left to the hosts."""
        from rezwheel.artifact.metadata import definition_from_metadata
        from rezwheel.index.readers import _ZIP_ERRORS, definition_from_zip
        from rezwheel.pools import threads

        def read(f: IndexFile) -> Optional[str]:
            """The definition, "" for none (read whole), None for not known."""
            try:
                text = self.index.metadata(f) if f.metadata else None
                if text:
                    return definition_from_metadata(text) or ""
                z = self.index.tail_zip(f)
                return (definition_from_zip(z) or "") if z is not None else None
            except (requests.RequestException, RezwheelError, *_ZIP_ERRORS):
                return None

        wheels = [f for f in files if f.filename.endswith(".whl")]
        with threads(8, "rezwheel-bundle") as pool:
            texts = list(pool.map(read, wheels))
        found = {f.sha256: t for f, t in zip(wheels, texts) if t}
        return found, {f.sha256 for f, t in zip(wheels, texts) if t == ""}  # type: ignore[misc]

    def _lookup(self, w: Wheel) -> Optional[str]:
        """The sha256 the server holds under this file name, if any (listed or not yet)."""
        if self.cfg.type == "artifactory":
            url = artifactory_storage_url(self.cfg.upload_url, w.project, w.version, w.name)
            with deadline(url):
                r = self.session.head(url)
            if r.status_code == 200:
                return r.headers.get("X-Checksum-Sha256") or ""
            return None
        have = self.existing(w.project).get(w.name)
        return (have.sha256 or "") if have else None

    def _upload(self, w: Wheel) -> Result:
        delay = 1.0
        last = ""
        form = _form(w)
        for _ in range(UPLOAD_ATTEMPTS):
            with open(w.path, "rb") as fh:
                body = Multipart(form, ("content", w.name, fh, w.size))
                # a small body goes in one send() with the headers: a streamed one would meet
                # Nagle's algorithm and delayed ACKs (40 ms per request on Linux)
                data = body.read() if body.len <= SMALL_BODY else body
                try:
                    r = self.session.post(self.cfg.upload_url, data=data, allow_redirects=False,
                                          headers={"Content-Type": body.content_type})
                except (requests.ConnectionError, requests.Timeout) as e:
                    # the answer is lost, not necessarily the upload: look before trying again
                    last = f"{redact(self.cfg.upload_url)}: {type(e).__name__}"
                    found = self._safe_lookup(w)
                    if found is not None:
                        return self._judge(w, found, "uploaded")
                    time.sleep(delay)
                    delay *= 2
                    continue
            if r.status_code in (200, 201):
                return Result(w.name, w.sha256, "uploaded")
            if r.status_code in RETRY_STATUS:
                last = describe(r, self.cfg.upload_url, self.sent)
                time.sleep(retry_after(r, delay))
                delay *= 2
                continue
            found = self._safe_lookup(w) if r.status_code in (400, 403, 404, 409) else None
            if found is not None:  # a duplicate answer: Artifactory 403/404, pypiserver 409
                return self._judge(w, found, "skipped")
            hint = "" if self.has_credentials or r.status_code not in (401, 403, 404) else \
                " (no credentials found for this index: see REZWHEEL_TOKEN, ~/.netrc, the config)"
            said = f"{describe(r, self.cfg.upload_url, self.sent)}{hint}"
            batch = r.status_code in (401, 403, 404, 405, 407) or r.status_code >= 500
            return Result(w.name, w.sha256, "failed", f"{w.name}: {said}",
                          said if batch else None)
        said = f"gave up after {UPLOAD_ATTEMPTS} attempts: {last}"
        return Result(w.name, w.sha256, "failed", f"{w.name}: {said}", said)

    def _safe_lookup(self, w: Wheel) -> Optional[str]:
        try:
            return self._lookup(w)
        except (requests.RequestException, RezwheelError):
            return None

    def _judge(self, w: Wheel, found: str, status: str) -> Result:
        if found and found != w.sha256:
            return different_file(w.name, w.sha256, self.where, found)
        return Result(w.name, w.sha256, status)


def _without_url_credentials(target: IndexConfig) -> tuple[IndexConfig, Optional[Credential]]:
    """Credentials written into the upload or index URL come out of it, to be sent as headers
    (to that origin only) and never printed."""
    upload, in_upload = split_url(target.upload_url)
    index, in_index = split_url(target.index_url)
    clean = dataclasses.replace(target, upload_url=upload, index_url=index)
    cred = in_upload or in_index
    if cred:
        return clean, cred
    return clean, find_credentials(clean)


def _form(w: Wheel) -> list[tuple[str, str]]:
    """The upload form's fields (PyPI's legacy API, which every server kind takes)."""
    _, _, _, tags = parse_wheel_filename(w.name)
    meta = header_fields(w.metadata())
    fields: list = [(":action", "file_upload"), ("protocol_version", "1"),
                    ("name", w.project), ("version", w.version), ("filetype", "bdist_wheel"),
                    ("pyversion", sorted(t.interpreter for t in tags)[0]),
                    ("metadata_version", meta.get("Metadata-Version", "2.1")),
                    ("summary", meta.get("Summary", "")), ("sha256_digest", w.sha256)]
    if meta.get("Requires-Python"):
        fields.append(("requires_python", meta["Requires-Python"]))
    return fields


class Multipart:
    """A ``multipart/form-data`` body that streams its file and knows its length.

    requests would build the whole body in memory; requests-toolbelt streams it but costs more
    to import than a small publish takes to run. Fields first, the file part last.
    """

    def __init__(self, fields: list[tuple[str, str]], file: tuple) -> None:
        import uuid

        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode()
            + v.encode() + b"\r\n" for k, v in fields)
        name, filename, self._fh, size = file
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
        self._head, self._tail = head, f"\r\n--{boundary}--\r\n".encode()
        self.len = len(head) + size + len(self._tail)
        self._parts = [self._head, None, self._tail]

    def __len__(self) -> int:
        return self.len

    def read(self, n: int = -1) -> bytes:
        out = b""
        while self._parts and (n < 0 or len(out) < n):
            part = self._parts[0]
            want = -1 if n < 0 else n - len(out)
            if part is None:
                chunk = self._fh.read(want if want > 0 else CHUNK) if want else b""
                if not chunk:
                    self._parts.pop(0)
                out += chunk
            else:
                take = part if want < 0 else part[:want]
                out += take
                rest = part[len(take):]
                if rest:
                    self._parts[0] = rest
                else:
                    self._parts.pop(0)
        return out
