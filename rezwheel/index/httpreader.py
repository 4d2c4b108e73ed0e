"""``HttpReader``: the ``IndexReader`` of a PEP 503/691 index over HTTP (see ``readers``).

Pages are kept in the store with their validators and sent back as conditional requests (or
not sent at all within the index's ``ttl``), and served from there when the index cannot be
reached; a project page keeps its checked files too, so a page the server says is unchanged is
not parsed again. A project's definitions are read in bulk from its bundle (``index.bundle``:
one request, a 404 where the server holds none; sent beside the page for a family never read
before, ``start_bundle``); one definition alone, and payloads, as ``httpfiles`` reads files.

An index that declares a serial (``index.serial``, where the guarantee is spelled out: a local
index rezwheel writes) is revalidated as a whole: its root is read once per process, before any
project page, and a kept page read under the serial the root still declares is current without
a request (a warm resolve: one request). A publish completed before the process started is
always seen. Its snapshot (``httpsnapshot``), when it has one of that serial, gives every page
and bundle of a cold host in one request; on Artifactory the snapshot publish deploys is a hint
for reading ahead. Other indexes have their pages revalidated one by one, as before.
"""

from __future__ import annotations

import json
import os
import threading
import time
import typing
from typing import TYPE_CHECKING, Callable, Optional
from urllib.parse import urlsplit

from rezwheel import limits
from rezwheel.atomic import keep
from rezwheel.errors import RezwheelError
from rezwheel.index.pages import ACCEPT, IndexFile, parse_project_page, parse_root_page, project_name
from rezwheel.index import bundle, serial
from rezwheel.index import snapshot as snapshot_
from rezwheel.index.httpfiles import FileReads
from rezwheel.index.httpsnapshot import SnapshotReads
from rezwheel.index.readers import Counters, Unreachable, _key, _listed
from rezwheel.pools import LazyPool
from rezwheel.redaction import get_logger, redact

if TYPE_CHECKING:  # requests is imported when an HTTP index is used, not before
    import concurrent.futures as cf

    import requests

log = get_logger(__name__)
NO_BUNDLES = 4  # bundle requests answered without one before an index is taken to hold none
_WARNED_OFFLINE: set[str] = set()  # say it once per process, however many readers there are
_WARNED_UNKEPT: set = set()  # stores found unwritable, said once each


class HttpReader(SnapshotReads, FileReads):
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
        self._pool = LazyPool(4, "rezwheel-bundle").get  # bundles, the snapshot, hints
        self._lock = threading.Lock()
        self._serial_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._snapshot_trouble = False
        self._bundle_answers = {True: 0, False: 0}  # bundle requests answered with one, without
        self._serial: Optional[list] = None  # [the index's serial or None], once asked
        self._snapshot: Optional[list] = None  # [its snapshot for that serial, or None]
        self._early: "Optional[cf.Future[Optional[bytes]]]" = None  # sent beside the root
        self._early_seen: dict = {}  # its answer's validators (asked again: only if changed)
        self._kept_snapshot: Optional[list] = None  # [the one kept, whatever its serial]
        self._hints: "Optional[cf.Future]" = None  # the snapshot as a hint (``start_hints``)
        self._hinted: dict[str, Optional[tuple[list[IndexFile], dict[str, str]]]] = {}
        self._entries: dict[str, tuple[tuple, dict]] = {}  # path -> (stat, kept entry)
        self._root_read: Optional[tuple[bytes, dict, str]] = None  # read whole with the serial

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
        if self._within_ttl(cached) or self._same_serial(cached, self.serial()):
            return True
        return name is not None and self.snapshot() is not None  # its page is in the snapshot

    def _within_ttl(self, cached: Optional[dict]) -> bool:
        """A kept page read within the ttl: current without asking anything (a farm's warm
        resolve sends no request)."""
        fetched = cached.get("fetched") if cached else None
        return self.ttl > 0 and isinstance(fetched, (int, float)) and \
            0 <= time.time() - fetched < self.ttl

    @staticmethod
    def _same_serial(cached: Optional[dict], stamp: Optional[str]) -> bool:
        """A kept page read under the serial the index still declares: no publish since."""
        return stamp is not None and bool(cached) and cached.get("serial") == stamp  # type: ignore[union-attr]

    def _page(self, url: str, files: bool = False, project: Optional[str] = None
              ) -> Optional[tuple[bytes, str, str, Optional[list[IndexFile]]]]:
        """(body, content type, final URL, its files) of a page, None for a 404. ``files``: a
        project page, whose checked files are kept with it (a page the server says is unchanged
        is then not parsed again; they are None when the caller must parse the body); taken
        from the index's snapshot when it has one for its serial (``project``: whose page)."""
        path = self._cache_path(url)
        cached = self._cached(path)
        if self._within_ttl(cached):
            return self._from_cache(cached, url, files)  # type: ignore[arg-type]
        root = url == self.url and bool(self.cache_dir)  # kept, so worth stamping
        # read before the page: it is at least as new
        stamp = self.serial() if files or root else None
        if self._same_serial(cached, stamp):
            return self._from_cache(cached, url, files)  # type: ignore[arg-type]
        if root and self._root_read is not None:  # the serial's own read was the whole root
            body, got, final = self._root_read
            return self._keep(path, url, final, got, body, False, stamp)
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
                        self._keep_file(path, json.dumps(dict(cached, fetched=time.time(),
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
        kept = self.kept_snapshot() if not cached and files and project else None
        body = kept.page(project) if kept is not None and project else None
        if cached or body is not None:
            if self.url not in _WARNED_OFFLINE:
                _WARNED_OFFLINE.add(self.url)
                log.warning("rezwheel: index %s unreachable: resolving from cached pages",
                            redact(self.url))
            if cached:
                return self._from_cache(cached, url, files)
            # a family this host never asked for, in the snapshot it keeps: as current as the
            # pages it read with it (not stamped: asked again once the index is back)
            return self._keep(None, url, url, {"Content-Type": "text/html"}, body, files, None)
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
                self._keep_file(path, json.dumps(entry).encode())
        return body, entry["content_type"], final, found

    def _keep_file(self, path: str, data: bytes) -> None:
        """Keep a page (or the snapshot) in the store; a store that cannot take it (read-only,
        full) is said once, and the resolve goes on with what was read."""
        e = keep(path, data)
        if e is not None and self.cache_dir not in _WARNED_UNKEPT:
            _WARNED_UNKEPT.add(self.cache_dir)
            log.warning("rezwheel: cannot keep pages in the store (%s: %s); resolving without "
                        "keeping them", e.strerror or type(e).__name__, self.cache_dir)

    def serial(self) -> Optional[str]:
        """The serial the index declares now (``index.serial``), read once per process (the
        first project page waits for it), or None: no serial, not asked, or not readable."""
        from rezwheel.config import is_artifactory

        with self._serial_lock:
            if self._serial is None and self.ttl > 0:  # as the index said it within the ttl
                kept = serial.confirmed(self._cache_path(self.url + "#serial"))
                if kept is not None and 0 <= time.time() - kept[1] < self.ttl:
                    self._serial = [kept[0]]
            if self._serial is None:  # Artifactory writes none: its root lists every package
                far = not (self.offline or is_artifactory(self.url))
                if far and self._never_asked():  # a cold host: the snapshot beside the root
                    self._early = self._pool().submit(self._download_snapshot,
                                                      self._early_seen)
                found, reachable = serial.ask(
                    self.session, self.url, self.allow, self._cache_path(self.url + "#serial"),
                    self.counters, self._whole_root) if far else (None, True)
                self.offline = self.offline or not reachable  # pages then come from the cache
                self._serial = [found]
            return self._serial[0]

    def _whole_root(self, body: bytes, headers: "typing.Mapping", final: str) -> None:
        """The root page as the serial's request read it whole (``serial.ask``): the listing
        of projects then costs no request of its own."""
        self._root_read = (body, dict(headers), final)

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
        if self._holds_no_bundles():
            return
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
        snap = self.snapshot() if asked else self.kept_snapshot() if self.offline else None
        if snap is not None:  # a hint like any bundle: used for the files the page lists
            where = snapshot_.url_for(self.url)
            return _listed(bundle.decode(snap.bundle(name), name, f"{where}:{name}", where),
                           files)
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

        if self._holds_no_bundles():
            return {}
        url = bundle.url_for(self.url, name)
        try:
            body = bundle.download(self.session, url)
        except (requests.RequestException, RezwheelError) as e:
            log.debug("rezwheel: %s: %s", redact(url), e)
            return {}
        finally:
            self.counters.add("bundle")
        with self._lock:
            self._bundle_answers[bool(body)] += 1
        return bundle.decode(body, name, url)

    def _holds_no_bundles(self) -> bool:
        """Whether this index answered ``NO_BUNDLES`` bundle requests in this process without
        a single bundle (pypiserver, devpi, an index twine fills): the rest are not sent, and
        definitions are read file by file at once. An index that gave one keeps being asked."""
        with self._lock:
            return self._bundle_answers[True] == 0 and \
                self._bundle_answers[False] >= NO_BUNDLES

def _file_row(f: IndexFile) -> list:
    return [f.filename, f.url, f.sha256, f.metadata, f.requires_python, f.upload_time, f.yanked]


def _file_rows(rows: object) -> Optional[list[IndexFile]]:
    """The files kept with a page (checked when it was read), None when they are not fit.
    Rows of six fields were kept before the yanked flag was: not fit (a 304 would otherwise
    keep a yanked file unyanked), so the page is read again."""
    if not isinstance(rows, list):
        return None
    found = []
    for row in rows:
        if not (isinstance(row, list) and len(row) == 7 and isinstance(row[0], str)
                and isinstance(row[1], str) and all(x is None or isinstance(x, str)
                                                    for x in (*row[2:5], row[6]))
                and (row[5] is None or isinstance(row[5], (int, float)))):
            return None
        found.append(IndexFile(*row))
    return found

