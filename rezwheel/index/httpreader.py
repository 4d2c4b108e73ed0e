"""``HttpReader``: the ``IndexReader`` of a PEP 503/691 index over HTTP (see ``readers``).

Pages are kept in the store with their validators and sent back as conditional requests (or
not sent at all within the index's ``ttl``), and served from there when the index cannot be
reached; a project page keeps its checked files too, so a page the server says is unchanged is
not parsed again. A project's definitions are read in bulk from its bundle (``index.bundle``:
one request, a 404 where the server holds none; sent beside the page for a family never read
before, ``start_bundle``); one definition alone from the PEP 658 file, else
from the archive's last 64 KiB (a ``Tail``), else from the whole file, which is then kept as the
payload once its sha256 matches.

An index that declares a serial (``index.serial``, where the guarantee is spelled out: a local
index rezwheel writes) is revalidated as a whole: its root is read once per process, before any
project page, and a kept page read under the serial the root still declares is current without
a request (a warm resolve: one request). A publish completed before the process started is
always seen. Other indexes have their pages revalidated one by one, as before.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import os
import re
import threading
import time
import typing
import zipfile
from typing import TYPE_CHECKING, Callable, Optional
from urllib.parse import urlsplit

from rezwheel import limits
from rezwheel.atomic import AtomicFile, atomic_write
from rezwheel.errors import InvalidWheelError, RezwheelError
from rezwheel.index.pages import ACCEPT, IndexFile, parse_project_page, parse_root_page, project_name
from rezwheel.index import bundle, serial
from rezwheel.index import snapshot as snapshot_
from rezwheel.index.readers import (Counters, Unreachable, _checked_metadata, _key, _listed,
                                    _zip_or_none)
from rezwheel.redaction import get_logger, redact

if TYPE_CHECKING:  # requests is imported when an HTTP index is used, not before
    import concurrent.futures as cf

    import requests

log = get_logger(__name__)
TAIL = 1 << 16
HINTS_MAX_AGE = 3600.0  # seconds a kept hint snapshot is used without asking (``start_hints``)
_WARNED_OFFLINE: set[str] = set()  # say it once per process, however many readers there are


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


class HttpReader:
    """A PEP 503/691 index over HTTP, with a page cache for conditional and offline reads.

    ``index_url`` carries no credentials (``credentials.split_url`` took them out); the session's
    own credentials go to this origin only. ``files_hosts``: other origins whose file URLs the
    pages may list (a CDN), read without credentials.
    """

    remote = True  # every read is a round trip

    def __init__(self, index_url: str,
                 session: "typing.Union[requests.Session, Callable[[], requests.Session]]",
                 cache_dir: Optional[str],
                 counters: Optional[Counters] = None, credential: object = None,
                 files_hosts: tuple = (), trust_code: bool = False, ttl: float = 0.0) -> None:
        from rezwheel.index.origins import origin

        self.url = index_url if index_url.endswith("/") else index_url + "/"
        self._session = session  # or what makes it, on the first request (``session``)
        self._session_lock = threading.Lock()
        self.cache_dir = cache_dir
        self.counters = counters or Counters()
        self.offline = False
        self.credential = credential  # for other readers of this index (pip, when installing)
        self.trust_code = trust_code
        self.ttl = ttl  # seconds a cached page is used without asking the server
        self.key = _key(self.url)
        self._origins = {origin(self.url)} | {origin(h) for h in files_hosts}
        self._allowed = sorted(list(o) for o in self._origins)  # what checked the kept files
        parts = urlsplit(self.url)
        self._root = f"{parts.scheme}://{parts.netloc}/" if "@" not in parts.netloc else "\0"
        self._bundles: dict[str, "cf.Future[dict[str, str]]"] = {}  # started (``start_bundle``)
        self._bundle_pool: "Optional[cf.ThreadPoolExecutor]" = None
        self._lock = threading.Lock()
        self._serial_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._serial: Optional[list] = None  # [the index's serial or None], once asked
        self._snapshot: Optional[list] = None  # [its snapshot for that serial, or None]
        self._early: "Optional[cf.Future[Optional[bytes]]]" = None  # sent beside the root
        self._hints: "Optional[cf.Future]" = None  # the snapshot as a hint (``start_hints``)
        self._hinted: dict[str, Optional[tuple[list[IndexFile], dict[str, str]]]] = {}
        self._entries: dict[str, tuple[tuple, dict]] = {}  # path -> (stat, kept entry)

    @property
    def session(self) -> "requests.Session":
        """The HTTP session, made on first use when given as a factory: a warm resolve within
        the ttl sends nothing, and imports nothing to send it with."""
        if callable(self._session) and not hasattr(self._session, "request"):
            with self._session_lock:
                if callable(self._session) and not hasattr(self._session, "request"):
                    self._session = self._session()
        return self._session  # type: ignore[return-value]

    def allow(self, url: str) -> bool:
        from rezwheel.index.origins import origin

        if url.startswith(self._root):  # the index's own origin, spelled as the index is
            return True
        return origin(url) in self._origins

    def pip_url(self) -> str:
        """The index URL with its credentials in it (pip redacts them when printing)."""
        from urllib.parse import quote, urlsplit, urlunsplit

        if not self.credential:
            return self.url
        user, secret = self.credential.basic()  # type: ignore[attr-defined]
        parts = urlsplit(self.url)
        netloc = f"{quote(user, safe='')}:{quote(secret, safe='')}@{parts.netloc}"
        return urlunsplit(parts._replace(netloc=netloc))

    def local_path(self, f: IndexFile) -> Optional[str]:
        return None  # every file is fetched

    def size(self, f: IndexFile) -> Optional[int]:
        """From a HEAD (PEP 691 pages may list sizes; the parsed page keeps none)."""
        import requests

        from rezwheel.index.http import deadline, failure

        try:
            with deadline(f.url):
                r = self.session.head(f.url, allow_redirects=True)
        except requests.RequestException as e:
            raise failure(e, f.url) from None
        length = r.headers.get("Content-Length", "")
        return int(length) if r.status_code == 200 and length.isdigit() else None

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
        """The kept entry at ``path``, decoded once per process while the file stays the same
        (a warm family asks for its page several times: read ahead, listed, revalidated); a
        file replaced since (``atomic_write``: a new inode) is read again. The entry is only
        the page as it came: its files are checked again by every ``_from_cache``."""
        if not path:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        memo = self._entries.get(path)
        if memo is not None and memo[0] == stamp:
            return memo[1]
        try:
            with open(path, encoding="utf-8") as fh:
                entry = json.load(fh)
        except (OSError, ValueError):
            return None  # a damaged cache entry is no cache entry
        if not (isinstance(entry, dict) and isinstance(entry.get("body"), str)):
            return None
        self._entries[path] = (stamp, entry)
        return entry

    def fresh(self, project: str) -> bool:
        """Whether the kept page of ``project`` is current without a request of its own
        (within ``ttl``, or read under the serial the index still declares): then nothing is
        gained by reading ahead of rez, whose own asking costs no round trip. Asks the
        index's serial (once per process) when not known yet."""
        name = project_name(project)
        cached = self._cached(self._cache_path(f"{self.url}{name}/")) if name else None
        if cached:
            fetched = cached.get("fetched")
            if self.ttl > 0 and isinstance(fetched, (int, float)) and \
                    0 <= time.time() - fetched < self.ttl:
                return True
        stamp = self.serial()
        if stamp is not None and cached and cached.get("serial") == stamp:
            return True
        return name is not None and self.snapshot() is not None  # its page is in the snapshot

    def _page(self, url: str, files: bool = False, project: Optional[str] = None
              ) -> Optional[tuple[bytes, str, str, Optional[list[IndexFile]]]]:
        """(body, content type, final URL, its files) of a page, None for a 404. ``files``: a
        project page, whose checked files are kept with it (a page the server says is unchanged
        is then not parsed again; they are None when the caller must parse the body); taken
        from the index's snapshot when it has one for its serial (``project``: whose page)."""
        path = self._cache_path(url)
        cached = self._cached(path)
        if cached and self.ttl > 0:  # fresh enough: no request at all (a farm's warm resolve)
            fetched = cached.get("fetched")
            if isinstance(fetched, (int, float)) and 0 <= time.time() - fetched < self.ttl:
                return self._from_cache(cached, url, files)
        stamp = self.serial() if files else None  # read before the page: it is at least as new
        if stamp is not None and cached and cached.get("serial") == stamp:
            return self._from_cache(cached, url, files)  # no publish since it was read
        snap = self.snapshot() if files and project and stamp is not None else None
        if snap is not None and project:
            body = snap.page(project)
            if body is None and not snap.holds(project):
                return None  # not on the index in the state the snapshot is of
            if body is not None:
                return self._keep(path, url, url, {"Content-Type": "text/html"}, body, files,
                                  stamp)
        import requests

        from rezwheel.index.http import deadline, describe, failure, read_body

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
                    if path and (self.ttl > 0 or cached.get("serial") != stamp):  # fresh again
                        atomic_write(path, json.dumps(dict(cached, fetched=time.time(),
                                                           serial=stamp)).encode())
                    return self._from_cache(cached, url, files)
                if r.status_code == 404:
                    return None
                if r.status_code != 200:
                    raise RezwheelError(describe(r, url, self._sent()))
                final = redact(r.url)
                if not self.allow(final):
                    raise RezwheelError(f"{redact(url)}: answered from another origin ({final})")
                return self._keep(path, url, final, r.headers, body, files, stamp)
        if cached:
            if self.url not in _WARNED_OFFLINE:
                _WARNED_OFFLINE.add(self.url)
                log.warning("rezwheel: index %s unreachable: resolving from cached pages",
                            redact(self.url))
            return self._from_cache(cached, url, files)
        raise Unreachable(f"index {redact(self.url)} unreachable and {redact(url)} was never read")

    def _keep(self, path: Optional[str], url: str, final: str, headers: "typing.Mapping",
              body: bytes, files: bool, stamp: Optional[str]
              ) -> tuple[bytes, str, str, Optional[list[IndexFile]]]:
        """A page as read (from the server, or from the snapshot), parsed when a project's and
        kept with its validators, its serial and its checked files."""
        entry = {"url": final, "etag": headers.get("ETag"),
                 "last_modified": headers.get("Last-Modified"),
                 "content_type": headers.get("Content-Type", ""),
                 "body": body.decode("utf-8", "replace"), "fetched": time.time(),
                 "serial": stamp}
        found = None
        try:
            if files:
                found = parse_project_page(body, entry["content_type"], final or url,
                                           self.allow)
                entry.update(files=[_file_row(f) for f in found], allow=self._allowed)
        finally:
            if path:
                atomic_write(path, json.dumps(entry).encode())
        return body, entry["content_type"], final, found

    def serial(self) -> Optional[str]:
        """The serial the index declares now (``index.serial``), read once per process (the
        first project page waits for it), or None: no serial, not asked, or not readable."""
        from rezwheel.config import is_artifactory

        with self._serial_lock:
            if self._serial is None:  # Artifactory writes none: its root lists every package
                far = not (self.offline or is_artifactory(self.url))
                if far and self._never_asked():  # a cold host: the snapshot beside the root
                    self._early = self._pool().submit(self._download_snapshot)
                found, reachable = serial.ask(
                    self.session, self.url, self.allow, self._cache_path(self.url + "#serial"),
                    self.counters) if far else (None, True)
                self.offline = self.offline or not reachable  # pages then come from the cache
                self._serial = [found]
            return self._serial[0]

    def snapshot(self) -> Optional[snapshot_.Snapshot]:
        """The index's snapshot (``index.snapshot``) for the serial it declares now: kept from
        an earlier process, or read once (beside the root page on a cold host); None when the
        index has no serial or no snapshot of it (pages are then read one by one)."""
        stamp = self.serial()
        with self._snapshot_lock:
            if self._snapshot is None:
                self._snapshot = [self._snapshot_for(stamp) if stamp is not None else None]
            return self._snapshot[0]

    def _snapshot_for(self, stamp: str) -> Optional[snapshot_.Snapshot]:
        path = self._snapshot_path()
        if path:
            kept = _read(path)
            got = snapshot_.open_snapshot(kept, path) if kept else None
            if got is not None and got.serial == stamp:
                return got
            if _read(path + ".none") == stamp.encode():
                return None  # asked under this serial already: the index has none
        early, self._early = self._early, None
        data = None
        if early is not None:
            try:
                data = early.result()
            except Exception:
                data = None
        elif not self.offline:
            data = self._download_snapshot()
        got = snapshot_.open_snapshot(data, snapshot_.url_for(self.url)) if data else None
        if got is not None and got.serial != stamp and early is not None:
            data = self._download_snapshot()  # sent before the root: a publish came between
            got = snapshot_.open_snapshot(data, snapshot_.url_for(self.url)) if data else None
        if got is None or got.serial != stamp:
            if path and not self.offline:
                atomic_write(path + ".none", stamp.encode())
            return None
        if path:
            atomic_write(path, data)  # type: ignore[arg-type]
        return got

    def _download_snapshot(self) -> Optional[bytes]:
        import requests

        url = snapshot_.url_for(self.url)
        try:
            data = snapshot_.download(self.session, url)
        except requests.RequestException as e:
            log.debug("rezwheel: %s: %s", redact(url), e)
            data = None
        except RezwheelError as e:  # past the deadline, redirected away: no snapshot, no failure
            snapshot_.unusable(url, str(e))
            data = None
        self.counters.add("snapshot", len(data or b""))
        return data

    # -- hints: a snapshot where the index declares no serial (Artifactory)
    def start_hints(self) -> None:
        """Send for the index's snapshot as a hint, once per process, beside whatever is read
        now (Artifactory only: the one server rezwheel deploys it to). One kept from an
        earlier process is used without asking while younger than ``HINTS_MAX_AGE`` (or the
        ttl): a hint older than a publish only reads less ahead, never anything wrong."""
        from rezwheel.config import is_artifactory

        if self._hints is not None or self.offline or not is_artifactory(self.url):
            return
        pool = self._pool()
        with self._lock:
            if self._hints is not None:
                return
            path = self._snapshot_path()
            for kept in (path, f"{path}.none") if path else ():  # a snapshot, or word of none
                try:
                    if 0 <= time.time() - os.stat(kept).st_mtime < max(self.ttl, HINTS_MAX_AGE):
                        self._hints = self._done(_read(kept) if kept == path else None)
                        return
                except OSError:
                    pass
            self._hints = pool.submit(lambda: self._download_snapshot() or b"")

    def hints_ready(self) -> bool:
        """Whether ``hinted`` answers without waiting (the hints came, or none were asked)."""
        pending = self._hints
        return pending is None or pending.done()

    def hinted(self, project: str) -> Optional[tuple[list[IndexFile], dict[str, str]]]:
        """(the files, the bundle's entries) the index's hint snapshot gives for ``project``
        (waiting for it), or None. Hints say what to read ahead, never what the index holds:
        the page read on its own stays the truth."""
        name = project_name(project)
        hints = self._hint_snapshot()
        if name is None or hints is None:
            return None
        with self._lock:
            if name in self._hinted:
                return self._hinted[name]
        body, got = hints.page(name), None
        if body is not None:
            try:
                files = parse_project_page(body, "text/html", f"{self.url}{name}/", self.allow)
                got = files, bundle.decode(hints.bundle(name), name, f"{hints.where}:{name}")
            except RezwheelError:
                got = None
        with self._lock:
            self._hinted[name] = got
        return got

    def _hint_snapshot(self) -> Optional[snapshot_.Snapshot]:
        with self._lock:
            pending = self._hints
        if pending is None:
            return None
        try:
            got = pending.result()
        except Exception:
            return None
        if isinstance(got, snapshot_.Snapshot) or got is None:
            return got
        data = got  # b"": the index has none (or did not answer): not asked again for a while
        opened = snapshot_.open_snapshot(data, snapshot_.url_for(self.url)) if data else None
        path = self._snapshot_path()
        if path:
            atomic_write(path, data) if opened is not None else atomic_write(f"{path}.none", b"")
        with self._lock:
            self._hints = self._done(opened)
        return opened

    @staticmethod
    def _done(value: object) -> "cf.Future":
        import concurrent.futures as cf

        f: cf.Future = cf.Future()
        if isinstance(value, bytes):
            value = snapshot_.open_snapshot(value, "kept index snapshot")
        f.set_result(value)
        return f

    def _never_asked(self) -> bool:
        """Whether this host never asked the index for its serial or snapshot (a pypiserver
        found without a serial, or an index without a snapshot, is not asked again early)."""
        path = self._snapshot_path()
        return bool(path) and not any(os.path.exists(p) for p in (
            path, f"{path}.none", self._cache_path(self.url + "#serial")))

    def _snapshot_path(self) -> Optional[str]:
        return os.path.join(self.cache_dir, self.key + "-" + snapshot_.NAME) \
            if self.cache_dir else None

    def _pool(self) -> "cf.ThreadPoolExecutor":
        import concurrent.futures as cf

        with self._lock:
            if self._bundle_pool is None:
                self._bundle_pool = cf.ThreadPoolExecutor(4, thread_name_prefix="rezwheel-bundle")
                atexit.register(self._bundle_pool.shutdown, wait=False, cancel_futures=True)
            return self._bundle_pool

    def _from_cache(self, cached: dict, url: str, files: bool
                    ) -> tuple[bytes, str, str, Optional[list[IndexFile]]]:
        kept = None
        if files and cached.get("allow") == self._allowed:  # checked against today's origins
            kept = _file_rows(cached.get("files"))
        return cached["body"].encode(), str(cached.get("content_type", "")), \
            str(cached.get("url", url)), kept

    def projects(self) -> Optional[set[str]]:
        """Every project on the index; None when the index lists none (its root is a 404)."""
        page = self._page(self.url)
        return parse_root_page(page[0], page[1], self.url) if page else None

    def files(self, project: str) -> list[IndexFile]:
        name = project_name(project)
        if name is None:
            return []
        url = f"{self.url}{name}/"
        page = self._page(url, files=True, project=name)
        if page is None:
            return []
        if page[3] is not None:
            return page[3]
        return parse_project_page(page[0], page[1], page[2] or url, self.allow)

    def has_page(self, project: str) -> bool:
        """Whether a page of ``project`` is kept from an earlier read (a warm family)."""
        name = project_name(project)
        path = self._cache_path(f"{self.url}{name}/") if name else None
        return bool(path) and os.path.exists(path)  # type: ignore[arg-type]

    def kept_files(self, project: str) -> Optional[list[IndexFile]]:
        """The files the kept page of ``project`` listed when last read (no request: what it
        probably still lists), None when none is kept."""
        name = project_name(project)
        cached = self._cached(self._cache_path(f"{self.url}{name}/")) if name else None
        return self._from_cache(cached, self.url, True)[3] if cached else None

    # -- definitions and payloads
    def start_bundle(self, project: str) -> None:
        """Send for the project's bundle now, beside its page (a cold family: one round trip
        for both, not two in turn); ``bundle`` then takes the answer."""
        name = project_name(project)
        if name is None or self.offline or self.snapshot() is not None:
            return  # the snapshot holds the bundle
        hints = self._hints
        if hints is not None and (not hints.done() or self.hinted(name) is not None):
            return  # the hint snapshot most likely holds it, or will say (``bundle`` checks)
        pool = self._pool()
        with self._lock:
            if name not in self._bundles:
                self._bundles[name] = pool.submit(self._bundle_entries, name)

    def bundle(self, project: str, files: list[IndexFile]) -> dict[str, str]:
        """The bundle's entries for ``files``: one request (sent earlier by ``start_bundle``,
        or now); {} when the server holds none, is unreachable, or sends something unfit (the
        files are then read one by one)."""
        name = project_name(project)
        if name is None or not files:
            return {}
        asked = self._serial is not None and self._serial[0] is not None  # (never asks: ttl)
        snap = self.snapshot() if asked else None
        if snap is not None:  # a hint like any bundle: used for the files the page lists
            return _listed(bundle.decode(snap.bundle(name), name,
                                         f"{snapshot_.url_for(self.url)}:{name}"), files)
        hinted = self.hinted(name) if self._hints is not None else None
        if hinted is not None:  # from the hint snapshot, when it has every listed wheel's
            entries = _listed(hinted[1], files)
            if len(entries) == len({f.sha256 for f in files if f.sha256 and
                                    f.filename.endswith(".whl")}):
                with self._lock:
                    self._bundles.pop(name, None)
                return entries
        with self._lock:
            started = self._bundles.pop(name, None)
        if started is not None:
            try:
                return _listed(started.result(), files)
            except Exception:  # read below, where its error is logged
                pass
        return {} if self.offline else _listed(self._bundle_entries(name), files)

    def _bundle_entries(self, name: str) -> dict[str, str]:
        import requests

        url = bundle.url_for(self.url, name)
        try:
            body = bundle.download(self.session, url)
        except (requests.RequestException, RezwheelError) as e:
            log.debug("rezwheel: %s: %s", redact(url), e)
            return {}
        finally:
            self.counters.add("bundle")
        return bundle.decode(body, name, url)

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

        from rezwheel.config import is_artifactory
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


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _file_row(f: IndexFile) -> list:
    return [f.filename, f.url, f.sha256, f.metadata, f.requires_python, f.upload_time]


def _file_rows(rows: object) -> Optional[list[IndexFile]]:
    """The files kept with a page (checked when it was read), None when they are not fit."""
    if not isinstance(rows, list):
        return None
    found = []
    for row in rows:
        if not (isinstance(row, list) and len(row) == 6 and isinstance(row[0], str)
                and isinstance(row[1], str) and all(x is None or isinstance(x, str)
                                                    for x in row[2:5])
                and (row[5] is None or isinstance(row[5], (int, float)))):
            return None
        found.append(IndexFile(*row))
    return found


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


def _content_range(r: "requests.Response") -> Optional[tuple[int, int, int]]:
    m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", r.headers.get("Content-Range", "").strip())
    return (int(m[1]), int(m[2]), int(m[3])) if m else None
