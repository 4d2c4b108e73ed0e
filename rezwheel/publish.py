"""Publish: put artifacts on an index, safely, again and again (DESIGN.md sections 4 and 7).

``publish`` reads like the steps: hash the files, read the index once per distribution, decide
per file (skip what is there, refuse what differs, refuse versions that would break the family's
order or a name that belongs to someone else), upload the rest in parallel with the twine
protocol, and optionally wait until the index lists them. Nothing is ever overwritten: servers
that would silently overwrite (Artifactory with delete permission) are checked first.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Protocol
from urllib.parse import urlsplit

import requests
from packaging.utils import parse_wheel_filename

from rezwheel.artifact import naming
from rezwheel.index.config import IndexConfig
from rezwheel.credentials import Credential, find_credentials
from rezwheel.errors import PublishError, RezwheelError
from rezwheel.index.http import RETRY_STATUS, OriginAuth, describe, make_session, redact, retry_after
from rezwheel.hashing import CHUNK, sha256_file
from rezwheel.index.pages import IndexFile
from rezwheel.index.httpreader import HttpReader
from rezwheel.pools import threads
from rezwheel.artifact.metadata import header_fields, read_metadata

log = logging.getLogger(__name__)
STOP_AFTER = 2  # first uploads failing alike before the rest of a batch is not tried
UPLOAD_ATTEMPTS = 5
SMALL_BODY = 8 << 20
WAIT_POLL = 1.0


class Progress(Protocol):
    def start(self, files: int, size: int) -> None: ...
    def advance(self, result: "Result", size: int) -> None: ...
    def finish(self) -> None: ...


@dataclass
class Result:
    file: str
    sha256: Optional[str]
    status: str  # uploaded | skipped | failed | would-upload
    error: Optional[str] = None
    #: a failure that is not this file's own (credentials, the server): the same for a batch
    reason: Optional[str] = field(default=None, compare=False)

    def as_json(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, "status": self.status,
                "error": self.error}


@dataclass
class _Wheel:
    path: str
    name: str
    project: str
    version: str
    sha256: str
    size: int
    result: Optional[Result] = None

    @property
    def rez_version(self) -> str:
        return naming.pep440_to_rez(self.version)


@dataclass
class Stats:
    """Requests sent, for tests and benchmarks to hold the index-read promise to account."""
    index_requests: int = 0
    uploads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def publish(wheels: list[str], target: IndexConfig, *, jobs: Optional[int] = None,
            wait: Optional[float] = None, dry_run: bool = False,
            allow_foreign_name: bool = False, progress: Optional[Progress] = None,
            stats: Optional[Stats] = None, movable: frozenset = frozenset(),
            shas: Optional[dict[str, str]] = None) -> list[Result]:
    """Publish wheel files to ``target``; returns one Result per file, in the order given.

    ``movable``: wheels made for this publish (a local index takes them by renaming).
    """
    if target.type == "local":
        from rezwheel.index.local import LocalIndex

        for path in wheels:
            if path not in movable:  # wheels made here were warned about as they were converted
                _warn_resolve_time_code(read_metadata(path), path)

        if progress:
            progress.start(len(wheels), 0)

        results = [Result(p.file, p.sha256, p.status, p.error)
                   for p in LocalIndex(target.upload_url).publish(wheels, dry_run=dry_run,
                                                                  movable=movable, shas=shas)]
        for result in results:
            if progress:
                progress.advance(result, 0)
        if progress:
            progress.finish()
        return results
    remote = _Remote(*_without_url_credentials(target), jobs or 8, stats or Stats())
    items = [_describe(w) for w in wheels]
    if progress:
        progress.start(len(items), sum(i.size for i in items))
    by_project: dict[str, list[_Wheel]] = {}
    for item in items:
        by_project.setdefault(item.project, []).append(item)

    # One page per distribution that exists. With several distributions, one listing of the
    # index first spares a request (a 404) for each project that is new; how long it took says
    # how far the server is, and so how many requests to keep in flight (--jobs overrides).
    start = time.monotonic()
    listed = remote.projects() if len(by_project) > 1 else None
    jobs = jobs or _jobs_for(time.monotonic() - start if listed is not None else 0.0)
    known = {p for p in by_project if listed is None or p in listed}
    todo: list[_Wheel] = []

    def decide(project: str, existing: dict[str, IndexFile]) -> list[_Wheel]:
        new = _decide(by_project[project], existing)
        if new:
            _check_family(new, existing)
            _check_owner(project, [w for w in new if w.result is None], existing, remote,
                         allow_foreign_name)
        for w in by_project[project]:
            if w.result is not None and progress:
                progress.advance(w.result, w.size)
        return [w for w in new if w.result is None]

    # reading the index and uploading overlap: a project's files go up as soon as its page
    # has been read and judged, while other pages are still on the wire
    with threads(jobs, "rezwheel-publish") as pool:
        uploads: dict[cf.Future, _Wheel] = {}

        def send(ws: list[_Wheel]) -> None:
            todo.extend(ws)
            if dry_run:
                for w in ws:
                    w.result = Result(w.name, w.sha256, "would-upload")
                    if progress:
                        progress.advance(w.result, w.size)
            else:
                uploads.update({pool.submit(remote.upload, w): w for w in ws})

        pages = {pool.submit(remote.files, p): p for p in sorted(known)}
        for project in sorted(set(by_project) - known):
            send(decide(project, {}))
        for fut in cf.as_completed(pages):
            send(decide(pages[fut], fut.result()))
        for fut in cf.as_completed(list(uploads)):
            w = uploads[fut]
            w.result = fut.result()
            if progress:
                progress.advance(w.result, w.size)
    if not dry_run and wait is not None:
        _wait_until_listed([w for w in todo if w.result.status == "uploaded"],  # type: ignore[union-attr]
                           remote, wait)
    if progress:
        progress.finish()
    return [i.result for i in items]  # type: ignore[misc]


def _jobs_for(round_trip: float) -> int:
    """Requests in flight for a server ``round_trip`` seconds away: 8 nearby, more when each
    request spends its time waiting on the network rather than the server (at most 32)."""
    return 8 if round_trip < 0.02 else min(32, max(16, int(round_trip / 0.003)))


def _without_url_credentials(target: IndexConfig) -> tuple[IndexConfig, Optional[Credential]]:
    """Credentials written into the upload or index URL come out of it, to be sent as headers
    (to that origin only) and never printed."""
    import dataclasses

    from rezwheel.credentials import split_url
    upload, in_upload = split_url(target.upload_url)
    index, in_index = split_url(target.index_url)
    clean = dataclasses.replace(target, upload_url=upload, index_url=index)
    cred = in_upload or in_index
    if cred:
        return clean, cred
    return clean, find_credentials(clean)


def _warn_resolve_time_code(metadata: str, path: str) -> None:
    """Hosts refuse definitions that would run index code while resolving (a late-bound
    ``requires``): say so at publish time, so a studio learns it before its hosts do. The
    definition is read from METADATA, which publishing reads anyway."""
    from rezwheel.artifact.metadata import definition_from_metadata

    if "@late" not in metadata and "@early" not in metadata:
        return
    text = definition_from_metadata(metadata)
    if not text:
        return
    from rezwheel.artifact import rezdef

    try:
        found = rezdef.resolve_time_code(rezdef.parse(text, path))
    except RezwheelError:
        return
    if found:
        log.warning("%s: %s would run code while resolving: hosts will skip this package "
                    "unless the index is configured with trust-code", os.path.basename(path),
                    ", ".join(f"{k}()" for k in found))


def _describe(path: str) -> _Wheel:
    name = os.path.basename(path)
    try:
        project, version, _, _ = parse_wheel_filename(name)
    except ValueError as e:
        raise PublishError(f"{path}: not a wheel file name: {e}") from None
    return _Wheel(path, name, str(project), str(version), sha256_file(path), os.path.getsize(path))


def _decide(group: list[_Wheel], existing: dict[str, IndexFile]) -> list[_Wheel]:
    """Mark files already on the index; return those that are not."""
    new = []
    for w in group:
        have = existing.get(w.name)
        if have is None:
            new.append(w)
        elif have.sha256 == w.sha256:
            w.result = Result(w.name, w.sha256, "skipped")
        else:
            w.result = Result(w.name, w.sha256, "failed",
                              f"{w.name}: the index already holds a different file under this name "
                              f"(index sha256 {have.sha256 or 'unknown'}, new sha256 {w.sha256})")
    return new


def _check_family(new: list[_Wheel], existing: dict[str, IndexFile]) -> None:
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
        problem = family.problem(w.rez_version)
        if problem:
            w.result = Result(w.name, w.sha256, "failed", f"{w.name}: {problem}")
        else:
            family.add(w.rez_version)


def _check_owner(project: str, new: list[_Wheel], existing: dict[str, IndexFile],
                 remote: "_Remote", allow: bool) -> None:
    """Dependency-confusion guard: never add files to a project that is not a rezwheel one."""
    if not new or not existing or allow:
        return
    sample = next(iter(sorted(existing.values(), key=lambda f: f.filename)))
    if remote.is_rezwheel_file(sample):
        return
    for w in new:
        w.result = Result(w.name, w.sha256, "failed",
                          f"{w.name}: {project!r} already exists on the index and is not a rezwheel "
                          f"project ({sample.filename} has no rez definition); use "
                          "--allow-foreign-name or --prefix")


def _wait_until_listed(uploaded: list[_Wheel], remote: "_Remote", timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = {w.name: w for w in uploaded}
    while pending:
        for project in sorted({w.project for w in pending.values()}):
            listed = remote.files(project)
            for name in [n for n, w in pending.items() if w.project == project]:
                if name in listed:
                    del pending[name]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(min(WAIT_POLL, max(0.0, deadline - time.monotonic())))
    for w in pending.values():
        w.result.error = (f"{w.name}: uploaded, but {redact(remote.cfg.index_url)} does not list it "  # type: ignore[union-attr]
                          f"after {timeout:g} s")


class _Remote:
    """An upload URL and its simple index, with the server kind's quirks."""

    def __init__(self, cfg: IndexConfig, cred: Optional[Credential], jobs: int,
                 stats: Stats) -> None:
        self.cfg = cfg
        self.session = make_session(pool=max(jobs, 32), origins=cfg.files_hosts)
        self.has_credentials = cred is not None
        self.sent = str(cred) if cred else None  # "credentials from $X", never the secret
        if cred:
            self.session.auth = OriginAuth(cred.headers(cfg.type), [cfg.upload_url, cfg.index_url])
        # no page cache: fresh reads
        self.index = HttpReader(cfg.index_url, self.session, None, credential=cred,
                                files_hosts=cfg.files_hosts)
        self.stats = stats
        # as twine does, a batch stops once its first uploads all fail for the same reason
        # (refused credentials, a server that is down): the rest are not tried
        self._stop: Optional[str] = None
        self._failed: dict[str, int] = {}
        self._succeeded = False
        self._lock = threading.Lock()

    def _count(self, what: str) -> None:
        with self.stats.lock:
            setattr(self.stats, what, getattr(self.stats, what) + 1)

    def projects(self) -> Optional[set[str]]:
        self._count("index_requests")
        try:
            return self.index.projects()
        except RezwheelError:
            return None  # some servers refuse the full listing; read project pages instead

    def files(self, project: str) -> dict[str, IndexFile]:
        self._count("index_requests")
        return {f.filename: f for f in self.index.files(project)}

    def is_rezwheel_file(self, f: IndexFile) -> bool:
        """Whether an index file carries a rez definition, read as cheaply as the index allows
        (the same reads the rez plugin makes: PEP 658 file, tail of the wheel, whole file)."""
        from rezwheel.index.readers import read_definition

        try:
            read_definition(self.index, f)
            return True
        except RezwheelError:
            return False

    def lookup(self, w: _Wheel) -> Optional[str]:
        """The sha256 the server holds under this file name, if any (listed or not yet)."""
        if self.cfg.type == "artifactory":  # (config.is_artifactory decided the type)
            url = _artifactory_storage_url(self.cfg.upload_url, w)
            from rezwheel.index.http import deadline

            with deadline(url):
                r = self.session.head(url)
            if r.status_code == 200:
                return r.headers.get("X-Checksum-Sha256") or ""
            return None
        have = self.files(w.project).get(w.name)
        return (have.sha256 or "") if have else None

    def upload(self, w: _Wheel) -> Result:
        with self._lock:
            stop = self._stop
        if stop:
            return Result(w.name, w.sha256, "failed", f"{w.name}: not tried: {stop}", stop)
        result = self._upload(w)
        with self._lock:
            if result.reason:
                self._failed[result.reason] = self._failed.get(result.reason, 0) + 1
                if not self._succeeded and self._failed[result.reason] >= STOP_AFTER:
                    self._stop = result.reason
            elif result.status != "failed":
                self._succeeded = True
        return result

    def _upload(self, w: _Wheel) -> Result:
        delay = 1.0
        last = ""
        form = _form(w)
        for _ in range(UPLOAD_ATTEMPTS):
            with open(w.path, "rb") as fh:
                body = Multipart(form, ("content", w.name, fh, w.size))
                # a small body goes in one send() with the headers: a streamed one would meet
                # Nagle's algorithm and delayed ACKs (40 ms per request on Linux)
                data = body.read() if body.len <= SMALL_BODY else body
                self._count("uploads")
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

    def _safe_lookup(self, w: _Wheel) -> Optional[str]:
        try:
            return self.lookup(w)
        except (requests.RequestException, RezwheelError):
            return None

    def _judge(self, w: _Wheel, found: str, status: str) -> Result:
        if found and found != w.sha256:
            return Result(w.name, w.sha256, "failed",
                          f"{w.name}: the index already holds a different file under this name "
                          f"(index sha256 {found}, new sha256 {w.sha256})")
        return Result(w.name, w.sha256, status)


def _form(w: _Wheel) -> list[tuple[str, str]]:
    _, _, _, tags = parse_wheel_filename(w.name)
    text = read_metadata(w.path)
    _warn_resolve_time_code(text, w.path)
    meta = header_fields(text)
    fields: list = [(":action", "file_upload"), ("protocol_version", "1"),
                    ("name", w.project), ("version", w.version), ("filetype", "bdist_wheel"),
                    ("pyversion", sorted(t.interpreter for t in tags)[0]),
                    ("metadata_version", meta.get("Metadata-Version", "2.1")),
                    ("summary", meta.get("Summary", "")), ("sha256_digest", w.sha256)]
    if meta.get("Requires-Python"):
        fields.append(("requires_python", meta["Requires-Python"]))
    return fields


def _artifactory_storage_url(upload_url: str, w: _Wheel) -> str:
    """``…/artifactory/api/pypi/<repo>`` -> ``…/artifactory/<repo>/<name>/<version>/<file>``."""
    parts = urlsplit(upload_url)
    head, _, repo = parts.path.rstrip("/").partition("/api/pypi/")
    repo = repo.split("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{head}/{repo}/{w.project}/{w.version}/{w.name}"


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
