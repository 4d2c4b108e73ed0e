"""Where a reader gets index pages, definitions and payloads: an HTTP index or a local directory.

Reading a definition costs, in order: nothing (the store has it, by the wheel's sha256); the PEP
658 metadata file when the page advertises one; a range read of the wheel's tail (HEAD for the
length, then an explicit ``bytes=A-B``: Artifactory may ignore Range, breaks suffix ranges on
virtual repositories and answers 416 past the end, so each answer is checked); the whole file,
which is then kept as the payload. Project pages are kept with their validators, sent back as
conditional requests, and served from the store when the index cannot be reached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional
from urllib.parse import unquote, urlsplit

from ..atomic import atomic_write
from ..errors import RezwheelError
from ..wheel.metadata import DEFINITION, definition_from_metadata
from .simple import ACCEPT, IndexFile, parse_project_page, parse_root_page

if TYPE_CHECKING:  # requests is imported when an HTTP index is used, not before
    import requests

log = logging.getLogger(__name__)
TAIL = 1 << 16
_WARNED_OFFLINE: set[str] = set()  # say it once per process, however many readers there are


class Unreachable(RezwheelError):
    """The index cannot be reached and nothing about the request is cached."""


class NotAnArtifact(RezwheelError):
    """A wheel with no embedded rez definition: a plain PyPI distribution, not a rez package."""


@dataclass
class Counters:
    """What a reader cost: tests and benchmarks hold the plugin's promises to account."""
    requests: int = 0
    bytes: int = 0
    by_kind: dict = field(default_factory=dict)

    def add(self, kind: str, nbytes: int = 0) -> None:
        self.requests += 1
        self.bytes += nbytes
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1


class Tail:
    """A read-only file over the last bytes of a remote archive: enough for zipfile to list the
    members and read those stored at the end (rezwheel writes .dist-info last)."""

    def __init__(self, data: bytes, start: int, size: int) -> None:
        self.data, self.start, self.size, self.pos = data, start, size, 0

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else (self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if self.pos < self.start:
            raise ValueError("outside the fetched tail")
        end = self.size if n < 0 else min(self.size, self.pos + n)
        out = self.data[self.pos - self.start:end - self.start]
        self.pos += len(out)
        return out


def definition_from_zip(z: zipfile.ZipFile) -> Optional[str]:
    name = next((n for n in z.namelist() if n.endswith(".dist-info/" + DEFINITION)
                 and n.count("/") == 1), None)
    return z.read(name).decode() if name else None


class HttpSource:
    """A PEP 503/691 index over HTTP, with a page cache for conditional and offline reads."""

    def __init__(self, index_url: str, session: "requests.Session", cache_dir: Optional[str],
                 counters: Optional[Counters] = None, credential: object = None) -> None:
        self.url = index_url if index_url.endswith("/") else index_url + "/"
        self.session = session
        self.cache_dir = cache_dir
        self.counters = counters or Counters()
        self.offline = False
        self.credential = credential  # for other readers of this index (pip, when installing)

    # -- pages
    def _cache_path(self, url: str) -> Optional[str]:
        if not self.cache_dir:
            return None
        return os.path.join(self.cache_dir, hashlib.sha256(url.encode()).hexdigest() + ".json")

    def _page(self, url: str) -> Optional[tuple[bytes, str, str]]:
        """(body, content type, final URL) of a page, None for a 404."""
        path = self._cache_path(url)
        cached = None
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                cached = json.load(fh)
        headers = {"Accept": ACCEPT}
        if cached and cached.get("etag"):
            headers["If-None-Match"] = cached["etag"]
        if cached and cached.get("last_modified"):
            headers["If-Modified-Since"] = cached["last_modified"]
        import requests

        from ..http import describe, redact

        if not self.offline:
            try:
                r = self.session.get(url, headers=headers)
                self.counters.add("page", len(r.content))
            except requests.ConnectionError:
                self.offline = True
            else:
                if r.status_code == 304 and cached:
                    return cached["body"].encode(), cached["content_type"], cached["url"]
                if r.status_code == 404:
                    return None
                if r.status_code != 200:
                    raise RezwheelError(describe(r, url))
                entry = {"url": r.url, "etag": r.headers.get("ETag"),
                         "last_modified": r.headers.get("Last-Modified"),
                         "content_type": r.headers.get("Content-Type", ""),
                         "body": r.content.decode("utf-8", "replace")}
                if path:
                    atomic_write(path, json.dumps(entry).encode())
                return r.content, entry["content_type"], r.url
        if cached:
            if self.url not in _WARNED_OFFLINE:
                _WARNED_OFFLINE.add(self.url)
                log.warning("rezwheel: index %s unreachable: resolving from cached pages",
                            redact(self.url))
            return cached["body"].encode(), cached["content_type"], cached["url"]
        raise Unreachable(f"index {redact(self.url)} unreachable and {redact(url)} was never read")

    def projects(self) -> Optional[set[str]]:
        """Every project on the index; None when the index lists none (its root is a 404)."""
        page = self._page(self.url)
        return parse_root_page(page[0], page[1]) if page else None

    def files(self, project: str) -> list[IndexFile]:
        url = f"{self.url}{project}/"
        page = self._page(url)
        return parse_project_page(page[0], page[1], page[2] or url) if page else []

    # -- definitions and payloads
    def metadata(self, f: IndexFile) -> Optional[str]:
        r = self.session.get(f.url + ".metadata")
        self.counters.add("metadata", len(r.content))
        return r.text if r.status_code == 200 else None

    def tail_zip(self, url: str, keep: Optional[str] = None) -> Optional[zipfile.ZipFile]:
        """The archive as seen from its last 64 KiB, or None when the server cannot range.

        A server that ignores Range sends the whole file: it is then saved to ``keep`` (it is
        the payload too) rather than read a second time.

        Artifactory breaks suffix ranges on virtual repositories, so there (URLs under
        ``/api/pypi/``) the length comes from a HEAD and the range is explicit; elsewhere one
        suffix range does, and its answer is checked all the same.
        """
        if "/api/pypi/" not in url:
            r = self.session.get(url, headers={"Range": f"bytes=-{TAIL}"})
            self.counters.add("range", len(r.content))
            span = _content_range(r)
            if r.status_code == 206 and span and len(r.content) == span[1] - span[0] + 1 \
                    and span[1] == span[2] - 1:
                return _zip_or_none(Tail(r.content, span[0], span[2]))
            if r.status_code == 200:  # Range ignored: this is the whole file
                if keep:  # it is the payload too (verified against the index later)
                    atomic_write(keep, r.content, prefix=".tmp-")
                return _zip_or_none(io.BytesIO(r.content))
        head = self.session.head(url, allow_redirects=True)
        self.counters.add("head")
        size = int(head.headers.get("Content-Length", "0") or 0)
        if head.status_code != 200 or size <= 0:
            return None
        start = max(0, size - TAIL)
        r = self.session.get(url, headers={"Range": f"bytes={start}-{size - 1}"}, stream=True)
        if r.status_code == 200 and keep:  # Range ignored: the whole file, streamed to the store
            os.makedirs(os.path.dirname(keep), exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(keep))
            n = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in r.iter_content(1 << 20):
                    out.write(chunk)
                    n += len(chunk)
            os.replace(tmp, keep)
            self.counters.add("payload", n)
            return _zip_or_none(keep)
        if r.status_code != 206 or not r.headers.get("Content-Range", "").startswith(
                f"bytes {start}-{size - 1}/"):
            r.close()
            return None  # a broken range answer: read the whole file instead
        data = r.content
        self.counters.add("range", len(data))
        return _zip_or_none(Tail(data, start, size))

    def fetch(self, f: IndexFile, dest: str) -> Optional[str]:
        """Stream a file to ``dest``; returns its sha256, hashed on the way (the caller
        compares it with the index's, without reading the file again)."""
        from ..http import describe

        digest = hashlib.sha256()
        with self.session.get(f.url, stream=True) as r:
            if r.status_code != 200:
                raise RezwheelError(describe(r, f.url))
            n = 0
            with open(dest, "wb") as out:
                for chunk in r.iter_content(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    n += len(chunk)
        self.counters.add("payload", n)
        return digest.hexdigest()


class LocalSource:
    """A local directory index (``DIR/simple`` pages, ``DIR/files``): no server, no copies."""

    def __init__(self, root: str, counters: Optional[Counters] = None) -> None:
        self.root = os.path.abspath(root)
        self.url = self.root
        self.counters = counters or Counters()
        self.offline = False

    def projects(self) -> set[str]:
        simple = os.path.join(self.root, "simple")
        return set(os.listdir(simple)) - {"index.html"} if os.path.isdir(simple) else set()

    def files(self, project: str) -> list[IndexFile]:
        page = os.path.join(self.root, "simple", project, "index.html")
        if not os.path.exists(page):
            return []
        with open(page, "rb") as fh:
            body = fh.read()
        base = "file://" + os.path.join(self.root, "simple", project) + "/"
        files = parse_project_page(body, "text/html", base)
        return [dataclasses.replace(f, upload_time=_mtime(self._path(f.url))) for f in files]

    def _path(self, url: str) -> str:
        return unquote(urlsplit(url).path)

    def local_path(self, f: IndexFile) -> Optional[str]:
        return self._path(f.url)

    def metadata(self, f: IndexFile) -> Optional[str]:
        p = self._path(f.url) + ".metadata"
        if not os.path.exists(p):
            return None
        with open(p, encoding="utf-8") as fh:
            return fh.read()

    def tail_zip(self, url: str, keep: Optional[str] = None) -> Optional[zipfile.ZipFile]:
        return zipfile.ZipFile(self._path(url))

    def fetch(self, f: IndexFile, dest: str) -> Optional[str]:
        shutil.copyfile(self._path(f.url), dest)
        return None  # not hashed on the way: the caller hashes the copy


class ChainSource:
    """Several indexes read in order as one (a site mirror first, Artifactory second).

    A project's files are the union by file name; the first index listing a name serves it, and
    a download that fails there, or whose sha256 differs from the listed one, falls through to
    the next index holding that file. An unreachable index is skipped while another answers.
    """

    def __init__(self, sources: list) -> None:
        self.sources = sources
        self.url = sources[0].url
        self.counters = sources[0].counters
        self._alternatives: dict[str, list[tuple[object, IndexFile]]] = {}

    @property
    def offline(self) -> bool:
        return all(s.offline for s in self.sources)

    def _each(self, read):  # type: ignore[no-untyped-def]
        answers, failures = [], []
        for s in self.sources:
            try:
                answers.append((s, read(s)))
            except Unreachable as e:
                failures.append(e)
        if not answers:
            raise failures[0]
        return answers

    def projects(self) -> Optional[set[str]]:
        listings = [found for _, found in self._each(lambda s: s.projects()) if found is not None]
        return set().union(*listings) if listings else None

    def files(self, project: str) -> list[IndexFile]:
        merged: dict[str, IndexFile] = {}
        alternatives: dict[str, list] = {}
        for s, found in self._each(lambda s: s.files(project)):
            for f in found:
                merged.setdefault(f.filename, f)
                alternatives.setdefault(f.filename, []).append((s, f))
        for name, f in merged.items():
            self._alternatives[f.url] = alternatives[name]
        return list(merged.values())

    def _owner(self, url: str):  # type: ignore[no-untyped-def]
        return self._alternatives[url][0][0]

    def metadata(self, f: IndexFile) -> Optional[str]:
        return self._owner(f.url).metadata(f)

    def tail_zip(self, url: str, keep: Optional[str] = None) -> Optional[zipfile.ZipFile]:
        return self._owner(url).tail_zip(url, keep)

    def local_path(self, f: IndexFile) -> Optional[str]:
        owner = self._owner(f.url)
        return owner.local_path(f) if isinstance(owner, LocalSource) else None

    def fetch(self, f: IndexFile, dest: str) -> Optional[str]:
        from ..hashing import sha256_file

        alternatives = self._alternatives.get(f.url) or []
        last: Optional[Exception] = None
        for s, g in alternatives:
            if f.sha256 and g.sha256 and g.sha256 != f.sha256:
                continue
            try:
                got = s.fetch(g, dest) or sha256_file(dest)
                if f.sha256 and got != f.sha256:
                    raise RezwheelError(f"{g.url}: sha256 does not match the index's {f.sha256}")
                return got
            except (RezwheelError, OSError) as e:  # requests' errors are OSErrors
                last = e
                log.warning("rezwheel: %s: %s; trying the next index", f.filename, e)
        raise last or RezwheelError(f"{f.filename}: no index holds it")


Source = "HttpSource | LocalSource | ChainSource"


def read_definition(source: "Source", f: IndexFile, keep_payload: Optional[str] = None) -> str:
    """A file's embedded definition, by the cheapest way the index allows (see module doc).

    ``keep_payload``: where to leave the whole file when it had to be downloaded. Raises
    ``NotAnArtifact`` as soon as a complete METADATA or member list shows there is none.
    """
    if f.metadata:
        text = source.metadata(f)
        if text:
            found = definition_from_metadata(text)
            if found is None:  # rezwheel always embeds the definition in METADATA too
                raise NotAnArtifact(f"{f.filename}: not a rezwheel artifact (no {DEFINITION})")
            return found
    z = source.tail_zip(f.url, keep_payload)
    if z is not None:
        try:
            found = definition_from_zip(z)
        except (ValueError, zipfile.BadZipFile, OSError, KeyError):
            pass  # the member starts before the tail
        else:
            if found is None:  # the central directory is complete: there is none
                raise NotAnArtifact(f"{f.filename}: not a rezwheel artifact (no {DEFINITION})")
            return found
    tmpdir = tempfile.mkdtemp(prefix=".rezwheel-")
    try:
        tmp = os.path.join(tmpdir, f.filename)
        source.fetch(f, tmp)
        with zipfile.ZipFile(tmp) as z2:
            found = definition_from_zip(z2)
        if found is None:
            raise NotAnArtifact(f"{f.filename}: not a rezwheel artifact (no {DEFINITION})")
        if keep_payload:
            os.makedirs(os.path.dirname(keep_payload), exist_ok=True)
            os.replace(tmp, keep_payload)
        return found
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _mtime(path: str) -> Optional[float]:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _content_range(r: "requests.Response") -> Optional[tuple[int, int, int]]:
    m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", r.headers.get("Content-Range", "").strip())
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _zip_or_none(fh: object) -> Optional[zipfile.ZipFile]:
    try:
        return zipfile.ZipFile(fh)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
