"""An HTTP index's snapshot (``index.snapshot``): the truth under its serial, or a hint.

``SnapshotReads`` is the part of ``httpreader.HttpReader`` that finds, keeps and opens the
snapshot (a mixin over the reader's session, cache and serial). Where the index declares a
serial, the snapshot of that serial gives every page and bundle (asked beside the root page on
a host that never read the index; kept in the store for the next process; a serial it was
found without is noted, ``.none``). On Artifactory, which declares none, it is a hint only
(``start_hints``, ``hinted``): which families to read ahead, which definitions the bundles
hold; a kept one is used without asking for ``HINTS_MAX_AGE`` (or the ttl), and a repository
found without one is not asked again for as long.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Callable, Optional

from rezwheel.atomic import read_or_none as _read
from rezwheel.errors import RezwheelError
from rezwheel.index import bundle
from rezwheel.index import snapshot as snapshot_
from rezwheel.index.pages import IndexFile, parse_project_page, project_name
from rezwheel.index.readers import Counters
from rezwheel.redaction import get_logger, redact

if TYPE_CHECKING:
    import concurrent.futures as cf

    import requests

log = get_logger(__name__)
HINTS_MAX_AGE = 3600.0  # seconds a kept hint snapshot is used without asking (``start_hints``)


class SnapshotReads:
    """Finding and opening the index's snapshot (see the module docstring)."""

    url: str
    session: "requests.Session"
    counters: Counters
    cache_dir: Optional[str]
    key: str
    ttl: float
    offline: bool
    _lock: threading.Lock
    _snapshot_lock: threading.Lock
    _snapshot: Optional[list]
    _early: "Optional[cf.Future]"
    _hints: "Optional[cf.Future]"
    _hinted: dict
    _pool: "Callable[[], cf.Executor]"  # the reader's pool for side reads
    _snapshot_trouble: bool  # a read of the snapshot failed (not "none there"): note nothing

    def serial(self) -> Optional[str]:
        raise NotImplementedError

    def allow(self, url: str) -> bool:
        raise NotImplementedError

    _early_seen: dict
    _kept_snapshot: Optional[list]

    def _cache_path(self, url: str) -> Optional[str]:
        raise NotImplementedError

    def _keep_file(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def snapshot(self) -> Optional[snapshot_.Snapshot]:
        """The index's snapshot (``index.snapshot``) for the serial it declares now: kept from
        an earlier process, or read once (beside the root page on a cold host); None when the
        index has no serial or no snapshot of it (pages are then read one by one)."""
        stamp = self.serial()
        with self._snapshot_lock:
            if self._snapshot is None:
                self._snapshot = [self._snapshot_for(stamp) if stamp is not None else None]
            return self._snapshot[0]

    def kept_snapshot(self) -> Optional[snapshot_.Snapshot]:
        """The snapshot this host keeps of the index, whatever its serial (once per process):
        what an unreachable index's pages were when last read whole."""
        with self._snapshot_lock:
            if self._kept_snapshot is None:
                path = self._snapshot_path()
                data = _read(path) if path else None
                self._kept_snapshot = [snapshot_.open_snapshot(data, path) if data else None]
            return self._kept_snapshot[0]

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
            # sent before the root: a publish came between, or the index's snapshot is behind
            # its root (then the server says it is unchanged, and it is not sent again)
            data = self._download_snapshot(self._early_seen)
            got = snapshot_.open_snapshot(data, snapshot_.url_for(self.url)) if data else None
        if got is None or got.serial != stamp:
            if path and not self.offline and not self._snapshot_trouble:  # (a failed read
                self._keep_file(path + ".none", stamp.encode())  # asked again next time)
            return None
        if path:
            self._keep_file(path, data)  # type: ignore[arg-type]
        return got

    def _download_snapshot(self, seen: Optional[dict] = None) -> Optional[bytes]:
        import requests

        url = snapshot_.url_for(self.url)
        try:
            data = snapshot_.download(self.session, url, seen)
        except requests.RequestException as e:
            log.debug("rezwheel: %s: %s", redact(url), e)
            data, self._snapshot_trouble = None, True
        except RezwheelError as e:  # past the deadline, redirected away: no snapshot, no failure
            snapshot_.unusable(url, str(e))
            data, self._snapshot_trouble = None, True
        self.counters.add("snapshot", len(data or b""))
        return data

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

    def hinted(self, project: str) -> Optional[tuple[list[IndexFile], dict[str, str]]]:
        """(the files, the bundle's entries) the index's hint snapshot gives for ``project``
        (waiting for it), or None. Hints say what to read ahead, never which files the index
        holds (the page read on its own says); their definitions count as a bundle's do."""
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
                got = files, bundle.decode(hints.bundle(name), name, f"{hints.where}:{name}",
                                            hints.where)
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
        data = got  # b"": none there (noted), or not read (asked again by the next process)
        opened = snapshot_.open_snapshot(data, snapshot_.url_for(self.url)) if data else None
        path = self._snapshot_path()
        if path and opened is not None:
            self._keep_file(path, data)
        elif path and not self._snapshot_trouble:  # none there: not asked again for a while
            self._keep_file(f"{path}.none", b"")
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
