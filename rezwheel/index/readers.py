"""Where a reader gets index pages, definitions and payloads: an HTTP index or a local directory.

Reading a definition costs, in order: nothing (the store has it, by the wheel's sha256); the PEP
658 metadata file when the page advertises one; a range read of the wheel's tail (HEAD for the
length, then an explicit ``bytes=A-B``: Artifactory may ignore Range, breaks suffix ranges on
virtual repositories and answers 416 past the end, so each answer is checked); the whole file,
which is then kept as the payload. Project pages are kept with their validators, sent back as
conditional requests, and served from the store when the index cannot be reached.

Nothing the index says is taken on trust: pages are parsed through ``simple`` (which checks every
value), every read runs under a deadline and a size cap (``rezwheel.limits``), a PEP 658 file
must match the hash its page gives, and a whole file that a server sent instead of a range is
kept as the payload only once its sha256 matches the page's. A definition read here is still
only a hint: it is tied to the wheel's own ``rez-package.py`` when the payload is localized.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Optional
from urllib.parse import unquote, urlsplit

from rezwheel import limits
from rezwheel.atomic import AtomicFile, atomic_write
from rezwheel.errors import InvalidWheelError, RezwheelError
from rezwheel.index.redaction import get_logger, redact, scrub
from rezwheel.artifact.metadata import DEFINITION, definition_from_metadata
from rezwheel.index.pages import (ACCEPT, IndexFile, filename_problem, parse_project_page, parse_root_page,
                     project_name)

if TYPE_CHECKING:  # requests is imported when an HTTP index is used, not before
    import requests

log = get_logger(__name__)
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
    """The embedded ``rez-package.py``, refused past ``limits.max-dist-info-bytes``."""
    info = next((i for i in z.infolist() if i.filename.endswith(".dist-info/" + DEFINITION)
                 and i.filename.count("/") == 1), None)
    if info is None:
        return None
    cap = int(limits.get("max-dist-info-bytes"))
    if info.file_size > cap:
        raise InvalidWheelError(f"{info.filename}: declares {info.file_size} bytes, more than "
                                f"the limit {cap} (REZWHEEL_MAX_DIST_INFO_BYTES)")
    with z.open(info) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise InvalidWheelError(f"{info.filename}: larger than the limit {cap} "
                                "(REZWHEEL_MAX_DIST_INFO_BYTES)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidWheelError(f"{info.filename}: not UTF-8 text") from None


#: what reading a hostile archive can raise (encrypted members, unknown compression, bad data)
_ZIP_ERRORS = (ValueError, zipfile.BadZipFile, OSError, KeyError, EOFError, RuntimeError,
               NotImplementedError, zlib.error)


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class HttpSource:
    """A PEP 503/691 index over HTTP, with a page cache for conditional and offline reads.

    ``index_url`` carries no credentials (``credentials.split_url`` took them out); the session's
    own credentials go to this origin only. ``files_hosts``: other origins whose file URLs the
    pages may list (a CDN), read without credentials.
    """

    def __init__(self, index_url: str, session: "requests.Session", cache_dir: Optional[str],
                 counters: Optional[Counters] = None, credential: object = None,
                 files_hosts: tuple = (), trust_code: bool = False, ttl: float = 0.0) -> None:
        from rezwheel.index.http import origin

        self.url = index_url if index_url.endswith("/") else index_url + "/"
        self.session = session
        self.cache_dir = cache_dir
        self.counters = counters or Counters()
        self.offline = False
        self.credential = credential  # for other readers of this index (pip, when installing)
        self.trust_code = trust_code
        self.ttl = ttl  # seconds a cached page is used without asking the server
        self.key = _key(self.url)
        self._origins = {origin(self.url)} | {origin(h) for h in files_hosts}

    def allow(self, url: str) -> bool:
        from rezwheel.index.http import origin

        return origin(url) in self._origins

    def key_for(self, f: IndexFile) -> str:
        return self.key

    def trusted(self, f: IndexFile) -> bool:
        return self.trust_code

    def _sent(self) -> Optional[str]:
        return str(self.credential) if self.credential else None

    # -- pages
    def _cache_path(self, url: str) -> Optional[str]:
        if not self.cache_dir:
            return None
        return os.path.join(self.cache_dir, _key(url) + ".json")

    def _cached(self, path: Optional[str]) -> Optional[dict]:
        if not path or not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as fh:
                entry = json.load(fh)
            return entry if isinstance(entry, dict) and isinstance(entry.get("body"), str) else None
        except (OSError, ValueError):
            return None  # a damaged cache entry is no cache entry

    def _page(self, url: str) -> Optional[tuple[bytes, str, str]]:
        """(body, content type, final URL) of a page, None for a 404."""
        import requests

        from rezwheel.index.http import deadline, describe, failure, read_body

        path = self._cache_path(url)
        cached = self._cached(path)
        if cached and self.ttl > 0:  # fresh enough: no request at all (a farm's warm resolve)
            fetched = cached.get("fetched")
            if isinstance(fetched, (int, float)) and 0 <= time.time() - fetched < self.ttl:
                return cached["body"].encode(), str(cached.get("content_type", "")), \
                    str(cached.get("url", url))
        headers = {"Accept": ACCEPT}
        if cached and isinstance(cached.get("etag"), str):
            headers["If-None-Match"] = cached["etag"]
        if cached and isinstance(cached.get("last_modified"), str):
            headers["If-Modified-Since"] = cached["last_modified"]
        if not self.offline:
            try:
                with deadline(url):
                    r = self.session.get(url, headers=headers, stream=True)
                    body = read_body(r, url, int(limits.get("max-page-bytes")), "index page",
                                     "REZWHEEL_MAX_PAGE_BYTES") if r.status_code == 200 else b""
                    r.close()
                self.counters.add("page", len(body))
            except requests.ConnectionError:
                self.offline = True
            except requests.RequestException as e:
                raise failure(e, url) from None
            else:
                if r.status_code == 304 and cached:
                    if self.ttl > 0 and path:  # fresh again from now
                        atomic_write(path, json.dumps(dict(cached, fetched=time.time())).encode())
                    return cached["body"].encode(), cached["content_type"], cached["url"]
                if r.status_code == 404:
                    return None
                if r.status_code != 200:
                    raise RezwheelError(describe(r, url, self._sent()))
                final = redact(r.url)
                if not self.allow(final):
                    raise RezwheelError(f"{redact(url)}: answered from another origin ({final})")
                entry = {"url": final, "etag": r.headers.get("ETag"),
                         "last_modified": r.headers.get("Last-Modified"),
                         "content_type": r.headers.get("Content-Type", ""),
                         "body": body.decode("utf-8", "replace"), "fetched": time.time()}
                if path:
                    atomic_write(path, json.dumps(entry).encode())
                return body, entry["content_type"], final
        if cached:
            if self.url not in _WARNED_OFFLINE:
                _WARNED_OFFLINE.add(self.url)
                log.warning("rezwheel: index %s unreachable: resolving from cached pages",
                            redact(self.url))
            return cached["body"].encode(), str(cached.get("content_type", "")), \
                str(cached.get("url", url))
        raise Unreachable(f"index {redact(self.url)} unreachable and {redact(url)} was never read")

    def projects(self) -> Optional[set[str]]:
        """Every project on the index; None when the index lists none (its root is a 404)."""
        page = self._page(self.url)
        return parse_root_page(page[0], page[1], self.url) if page else None

    def files(self, project: str) -> list[IndexFile]:
        name = project_name(project)
        if name is None:
            return []
        url = f"{self.url}{name}/"
        page = self._page(url)
        return parse_project_page(page[0], page[1], page[2] or url, self.allow) if page else []

    # -- definitions and payloads
    def metadata(self, f: IndexFile) -> Optional[str]:
        """The PEP 658 file, when it exists and matches the hash its page gives."""
        import requests

        from rezwheel.index.http import deadline, failure, read_body

        url = f.url + ".metadata"
        try:
            with deadline(url):
                r = self.session.get(url, stream=True)
                if r.status_code != 200:
                    r.close()
                    self.counters.add("metadata")
                    return None
                body = read_body(r, url, int(limits.get("max-dist-info-bytes")),
                                 "metadata file", "REZWHEEL_MAX_DIST_INFO_BYTES")
        except requests.RequestException as e:
            raise failure(e, url) from None
        self.counters.add("metadata", len(body))
        return _checked_metadata(body, f, url)

    def tail_zip(self, f: IndexFile, keep: Optional[str] = None) -> Optional[zipfile.ZipFile]:
        """The archive as seen from its last 64 KiB, or None when the server cannot range.

        A server that ignores Range sends the whole file: it is then saved to ``keep`` (it is
        the payload too) once its sha256 matches the page's, rather than read a second time.

        Artifactory breaks suffix ranges on virtual repositories, so there the length comes
        from a HEAD and the range is explicit; elsewhere one suffix range does, and its answer
        is checked all the same.
        """
        import requests

        from rezwheel.index.config import is_artifactory
        from rezwheel.index.http import deadline, failure

        url = f.url
        got = [0]
        try:
            with deadline(url, progress=lambda: got[0]):
                if not is_artifactory(url):
                    r = self.session.get(url, headers={"Range": f"bytes=-{TAIL}"}, stream=True)
                    span = _content_range(r)
                    if r.status_code == 206 and span and span[1] == span[2] - 1 \
                            and span[1] - span[0] + 1 <= TAIL:
                        data = _read_exactly(r, span[1] - span[0] + 1)
                        self.counters.add("range", len(data))
                        return _zip_or_none(Tail(data, span[0], span[2])) if data else None
                    if r.status_code == 200:  # Range ignored: this is the whole file
                        return self._whole(r, f, keep, got)
                    r.close()
                head = self.session.head(url, allow_redirects=True)
                self.counters.add("head")
                length = head.headers.get("Content-Length", "")
                size = int(length) if length.isdigit() else 0
                if head.status_code != 200 or size <= 0:
                    return None
                start = max(0, size - TAIL)
                r = self.session.get(url, headers={"Range": f"bytes={start}-{size - 1}"},
                                     stream=True)
                if r.status_code == 200:  # Range ignored: the whole file, streamed to the store
                    return self._whole(r, f, keep, got)
                if r.status_code != 206 or _content_range(r) != (start, size - 1, size):
                    r.close()
                    return None  # a broken range answer: read the whole file instead
                data = _read_exactly(r, size - start)
                self.counters.add("range", len(data))
                return _zip_or_none(Tail(data, start, size)) if data else None
        except requests.RequestException as e:
            raise failure(e, url) from None

    def _whole(self, r: "requests.Response", f: IndexFile, keep: Optional[str],
               got: list) -> Optional[zipfile.ZipFile]:
        """A whole file sent where a range was asked: kept in the store only when verified."""
        if not keep or not f.sha256:
            r.close()
            return None  # read_definition downloads it properly (hashed, capped)
        with AtomicFile(keep, prefix=".tmp-", mode=None) as tmp:
            with open(tmp, "wb") as out:
                digest = _stream(r, out, f.url, got)
            self.counters.add("payload", got[0])
            if digest != f.sha256:
                raise InvalidWheelError(f"{f.filename}: sha256 {digest} does not match the "
                                        f"index's {f.sha256}")
        return _zip_or_none(keep)

    def fetch(self, f: IndexFile, dest: str, show: bool = False) -> Optional[str]:
        """Stream a file to ``dest``; returns its sha256, hashed on the way (the caller
        compares it with the index's, without reading the file again). ``show``: a byte bar
        for a large file when a person watches (``progress.download_bar``)."""
        import requests

        from rezwheel.index.http import deadline, describe, failure
        from rezwheel.progress import download_bar

        got = [0]
        try:
            with deadline(f.url, progress=lambda: got[0]):
                with self.session.get(f.url, stream=True) as r:
                    if r.status_code != 200:
                        raise RezwheelError(describe(r, f.url, self._sent()))
                    size = r.headers.get("Content-Length", "")
                    total = int(size) if size.isdigit() else 0
                    with open(dest, "wb") as out, download_bar(f.filename, total, show) as tick:
                        digest = _stream(r, out, f.url, got, tick)
        except requests.RequestException as e:
            raise failure(e, f.url) from None
        self.counters.add("payload", got[0])
        return digest


def _stream(r: "requests.Response", out: "io.BufferedWriter", url: str, got: list,
            tick: Callable[[int], None] = lambda n: None) -> str:
    """Copy a response body to ``out``, hashing it, refused past the unpacked-size cap."""
    from rezwheel.index.http import HTTPFailure
    from rezwheel.artifact.reader import max_unpacked

    cap = max_unpacked()
    digest = hashlib.sha256()
    for chunk in r.iter_content(1 << 20):
        got[0] += len(chunk)
        if got[0] > cap:
            r.close()
            raise HTTPFailure(f"{redact(url)}: larger than {cap} bytes "
                              "(REZWHEEL_MAX_UNPACKED)")
        out.write(chunk)
        digest.update(chunk)
        tick(len(chunk))
    return digest.hexdigest()


def _read_exactly(r: "requests.Response", n: int) -> bytes:
    """A range answer's body: exactly the bytes its Content-Range promised, or nothing."""
    data = r.raw.read(n + 1, decode_content=False)
    r.close()
    return data if len(data) == n else b""


def _checked_metadata(body: bytes, f: IndexFile, where: str) -> Optional[str]:
    if f.metadata and f.metadata.startswith("sha256="):
        if hashlib.sha256(body).hexdigest() != f.metadata[len("sha256="):]:
            log.warning("rezwheel: %s: does not match the sha256 its page gives; ignored",
                        redact(where))
            return None
    return body.decode("utf-8", "replace")


class LocalSource:
    """A local directory index (``DIR/simple`` pages, ``DIR/files``): no server, no copies.

    A site mirror is filled from upstream, so its pages are checked like any other: a link must
    name a file inside the index directory."""

    def __init__(self, root: str, counters: Optional[Counters] = None,
                 trust_code: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.url = self.root
        self.counters = counters or Counters()
        self.offline = False
        self.trust_code = trust_code
        self.key = _key(self.root)

    def allow(self, url: str) -> bool:
        if not url.startswith("file:"):
            return False
        path = os.path.realpath(self._path(url))
        return path.startswith(os.path.realpath(self.root) + os.sep)

    def key_for(self, f: IndexFile) -> str:
        return self.key

    def trusted(self, f: IndexFile) -> bool:
        return self.trust_code

    def projects(self) -> set[str]:
        simple = os.path.join(self.root, "simple")
        if not os.path.isdir(simple):
            return set()
        return {n for n in map(project_name, (e for e in os.listdir(simple)
                                              if os.path.isdir(os.path.join(simple, e)))) if n}

    def files(self, project: str) -> list[IndexFile]:
        name = project_name(project)
        if name is None:
            return []
        page = os.path.join(self.root, "simple", name, "index.html")
        if not os.path.isfile(page):
            return []
        cap = int(limits.get("max-page-bytes"))
        with open(page, "rb") as fh:
            body = fh.read(cap + 1)
        if len(body) > cap:
            raise RezwheelError(f"{page}: larger than the limit {cap} (REZWHEEL_MAX_PAGE_BYTES)")
        base = "file://" + os.path.join(self.root, "simple", name) + "/"
        files = parse_project_page(body, "text/html", base, self.allow)
        return [dataclasses.replace(f, upload_time=_mtime(self._path(f.url))) for f in files]

    def _path(self, url: str) -> str:
        return unquote(urlsplit(url).path)

    def local_path(self, f: IndexFile) -> Optional[str]:
        return self._path(f.url)

    def metadata(self, f: IndexFile) -> Optional[str]:
        p = self._path(f.url) + ".metadata"
        if not os.path.isfile(p):
            return None
        cap = int(limits.get("max-dist-info-bytes"))
        with open(p, "rb") as fh:
            body = fh.read(cap + 1)
        if len(body) > cap:
            raise InvalidWheelError(f"{p}: larger than the limit {cap} "
                                    "(REZWHEEL_MAX_DIST_INFO_BYTES)")
        return _checked_metadata(body, f, p)

    def tail_zip(self, f: IndexFile, keep: Optional[str] = None) -> Optional[zipfile.ZipFile]:
        return _zip_or_none(self._path(f.url))

    def fetch(self, f: IndexFile, dest: str, show: bool = False) -> Optional[str]:
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

    def key_for(self, f: IndexFile) -> str:
        return self._owner(f.url).key

    def trusted(self, f: IndexFile) -> bool:
        return self._owner(f.url).trust_code

    def metadata(self, f: IndexFile) -> Optional[str]:
        return self._owner(f.url).metadata(f)

    def tail_zip(self, f: IndexFile, keep: Optional[str] = None) -> Optional[zipfile.ZipFile]:
        return self._owner(f.url).tail_zip(f, keep)

    def local_path(self, f: IndexFile) -> Optional[str]:
        owner = self._owner(f.url)
        return owner.local_path(f) if isinstance(owner, LocalSource) else None

    def fetch(self, f: IndexFile, dest: str, show: bool = False) -> Optional[str]:
        from rezwheel.hashing import sha256_file

        alternatives = self._alternatives.get(f.url) or []
        last: Optional[Exception] = None
        for s, g in alternatives:
            if f.sha256 and g.sha256 and g.sha256 != f.sha256:
                continue
            try:
                got = s.fetch(g, dest, show) or sha256_file(dest)
                if f.sha256 and got != f.sha256:
                    raise RezwheelError(f"{redact(g.url)}: sha256 does not match the index's "
                                        f"{f.sha256}")
                return got
            except (RezwheelError, OSError) as e:  # requests' errors are OSErrors
                last = e
                log.warning("rezwheel: %s: %s; trying the next index", f.filename, scrub(str(e)))
        raise last or RezwheelError(f"{f.filename}: no index holds it")


Source = "HttpSource | LocalSource | ChainSource"


def read_definition(source: "Source", f: IndexFile, keep_payload: Optional[str] = None) -> str:
    """A file's embedded definition, by the cheapest way the index allows (see module doc).

    ``keep_payload``: where to leave the whole file when it had to be downloaded (only once
    its sha256 matches the page's). Raises ``NotAnArtifact`` as soon as a complete METADATA or
    member list shows there is none.
    """
    if filename_problem(f.filename) or not f.filename.endswith(".whl"):
        raise NotAnArtifact(f"{f.filename}: not a wheel")
    if f.metadata:
        text = source.metadata(f)
        if text:
            found = definition_from_metadata(text)
            if found is None:  # rezwheel always embeds the definition in METADATA too
                raise NotAnArtifact(f"{f.filename}: not a rezwheel artifact (no {DEFINITION})")
            return found
    z = source.tail_zip(f, keep_payload)
    if z is not None:
        try:
            found = definition_from_zip(z)
        except _ZIP_ERRORS:
            pass  # the member starts before the tail
        else:
            if found is None:  # the central directory is complete: there is none
                raise NotAnArtifact(f"{f.filename}: not a rezwheel artifact (no {DEFINITION})")
            return found
    # kept (renamed into the store) only once verified; else a scratch name the index never chose
    keep = keep_payload if keep_payload and f.sha256 else None
    with AtomicFile(keep, prefix=".tmp-", mode=None) if keep else _scratch() as tmp:
        got = source.fetch(f, tmp)
        if f.sha256 and (got or _sha256(tmp)) != f.sha256:
            raise InvalidWheelError(f"{f.filename}: sha256 does not match the index's {f.sha256}")
        try:
            with zipfile.ZipFile(tmp) as z2:
                found = definition_from_zip(z2)
        except _ZIP_ERRORS as e:
            raise InvalidWheelError(f"{f.filename}: not a wheel: {e}") from None
        if found is None:
            raise NotAnArtifact(f"{f.filename}: not a rezwheel artifact (no {DEFINITION})")
    return found


@contextlib.contextmanager
def _scratch() -> Iterator[str]:
    """A file name in a new temporary directory, removed with it afterwards."""
    tmpdir = tempfile.mkdtemp(prefix=".rezwheel-")
    try:
        yield os.path.join(tmpdir, "download.whl")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _sha256(path: str) -> str:
    from rezwheel.hashing import sha256_file

    return sha256_file(path)


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
    except _ZIP_ERRORS:
        return None
