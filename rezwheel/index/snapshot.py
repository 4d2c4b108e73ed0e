"""A whole index in one file, under its serial: a cold reader's pages and bundles in one request.

A cold host otherwise pays two requests per family it touches (its page and its bundle), and a
resolve pays one round trip per level of its dependency graph. An index rezwheel writes (a local
index: ``rezwheel publish``, ``rezwheel mirror``, served by any static server) therefore also
keeps, beside its root page, ``rez-snapshot.zip``: every project page exactly as written, its
definitions bundle (``index.bundle``) beside it, and the serial (``index.serial``) it was written
under::

    serial                                  the serial, as the root page declares it
    <project>/index.html                    the project's page (deflated)
    <project>/rez-definitions.json.gz       its bundle, when it has one (stored: already gzip)

The writer, holding the index lock, writes it after every project page and before the root page
that declares the same serial; when nothing changed it is written only if missing or stale. The
reader (``index.httpreader``) takes it only when its serial is the one the root page declares
now: the snapshot is then exactly the pages of that state, and a project it does not hold is not
on the index. Any other snapshot (an older serial: a publish in progress, or an older rezwheel
that bumped the serial but wrote no snapshot) is not used, and pages are read one by one as
before.

Artifactory generates its own pages and declares no serial. There publish deploys the same file
(``index.upload``: read, merged with the projects it touched, their pages as publish knows them,
put back) at the top of the repository's storage, and a reader takes it as a hint only: which
families a cold family's graph will need, read ahead side by side (``resolve.packages``), and
which definitions the bundles hold. Pages read from the server stay the truth there. pypiserver
and devpi hold no snapshot.

Everything in it is attacker-controlled, as pages are: the file is capped (``max-snapshot-bytes``)
and so is each member (``max-page-bytes``); a page from it is parsed and checked exactly like a
page read on its own, a bundle decoded like one fetched. A snapshot unfit in any way is no
snapshot (said once). Its zip entries carry a fixed time: the same pages give the same bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING, Iterator, Optional

from rezwheel import limits
from rezwheel.redaction import get_logger, redact

if TYPE_CHECKING:
    import requests

log = get_logger(__name__)

NAME = "rez-snapshot.zip"
PAGE = "index.html"
SERIAL = "serial"
_EPOCH = (1980, 1, 1, 0, 0, 0)
#: Members a snapshot may have (a serial, and a page and a bundle per project: 65535 projects).
#: zipfile builds an object per central directory entry before anything can be checked, about
#: 400 bytes of memory for each 47 bytes sent: a file within ``max-snapshot-bytes`` made of
#: nothing else would cost a reader over a gigabyte and seconds of parsing.
MAX_MEMBERS = 1 << 17
_ENTRY = b"PK\x01\x02"  # what every central directory entry starts with (zipfile checks it)
_MEMBER = re.compile(r"([a-z0-9][a-z0-9._-]{0,199})/(index\.html|rez-definitions\.json\.gz)")
_warned: set[str] = set()


def url_for(index_url: str) -> str:
    """Where an index's snapshot lives: beside its root page; on Artifactory, at the top of
    the repository's storage (deployed there by publish, as bundles are: ``index.bundle``)."""
    from rezwheel.config import artifactory_storage

    base = index_url if index_url.endswith("/") else index_url + "/"
    storage = artifactory_storage(base)
    return f"{storage}/{NAME}" if storage else base + NAME


def encode(serial: str, projects: dict[str, tuple[bytes, Optional[bytes]]]) -> bytes:
    """The snapshot's bytes for ``projects`` ({project: (page, bundle or None)}), sorted and
    with fixed times: the same index state gives the same file."""
    from rezwheel.index.bundle import NAME as BUNDLE

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        _add(zf, SERIAL, serial.encode(), zipfile.ZIP_STORED)
        for project in sorted(projects):
            page, bundle = projects[project]
            _add(zf, f"{project}/{PAGE}", page, zipfile.ZIP_DEFLATED)
            if bundle:
                _add(zf, f"{project}/{BUNDLE}", bundle, zipfile.ZIP_STORED)
    return out.getvalue()


def _add(zf: zipfile.ZipFile, name: str, data: bytes, method: int) -> None:
    info = zipfile.ZipInfo(name, _EPOCH)
    info.compress_type = method
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=1 if method == zipfile.ZIP_DEFLATED else None)


class Snapshot:
    """An opened snapshot: its serial, and each project's page and bundle, read on demand (a
    resolve touches a few of the index's projects: only those are inflated)."""

    def __init__(self, data: bytes, where: str) -> None:
        """Raises ValueError (said by ``open_snapshot``) when ``data`` is not a snapshot."""
        if members(data) > MAX_MEMBERS:
            raise ValueError(f"more than {MAX_MEMBERS} members")
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
            raise ValueError(f"not a zip archive ({e})") from None
        self.where = where
        self._members: dict[tuple[str, str], zipfile.ZipInfo] = {}
        serial_info = None
        for info in infos:
            if info.filename == SERIAL:
                serial_info = info
                continue
            m = _MEMBER.fullmatch(info.filename)
            if m:  # anything else (a newer writer's member, a hostile path) is never read
                self._members[(m.group(1), m.group(2))] = info
        if serial_info is None:
            raise ValueError("no serial in it")
        from rezwheel.index.serial import is_serial

        value = self._read(serial_info, 128)
        text = value.decode("ascii", "replace").strip() if value is not None else ""
        if not is_serial(text):
            raise ValueError("its serial is not a serial")
        self.serial = text

    def projects(self, budget: int, skip: frozenset = frozenset()
                 ) -> Iterator[tuple[str, tuple[bytes, Optional[bytes]]]]:
        """Projects it holds fit to read (but ``skip``), with their page and bundle (to write
        them again), until their bytes reach ``budget``: the rest are left out, as a racing
        publisher would leave them (a hint: hosts read those as before). Each member inflates
        up to its cap: without a bound for the whole, a snapshot within its own cap (a few
        kilobytes a member) would make a publisher inflate and hold gigabytes."""
        from rezwheel.index.bundle import NAME as BUNDLE

        cap = int(limits.get("max-page-bytes"))
        for (project, kind) in sorted(self._members):
            if kind != PAGE or project in skip:
                continue
            got: list[Optional[bytes]] = []
            for info in (self._members[(project, PAGE)], self._members.get((project, BUNDLE))):
                if info is None:
                    got.append(None)
                    continue
                if budget <= 0:
                    return
                limit = min(cap, budget)
                data = self._read(info, limit, say=False)
                budget -= limit if data is None else len(data)  # what inflating it cost
                if data is None:
                    break
                got.append(data)
            if len(got) == 2 and got[0] is not None:
                yield project, (got[0], got[1])

    def holds(self, project: str) -> bool:
        return (project, PAGE) in self._members

    def page(self, project: str) -> Optional[bytes]:
        """The project's page as written, or None when the snapshot does not hold the project
        (or its member is unfit: then the page is read on its own)."""
        info = self._members.get((project, PAGE))
        return self._read(info, int(limits.get("max-page-bytes"))) if info else None

    def bundle(self, project: str) -> Optional[bytes]:
        """The project's bundle (gzip bytes, decoded and capped by ``index.bundle``), or None."""
        from rezwheel.index.bundle import NAME as BUNDLE

        info = self._members.get((project, BUNDLE))
        return self._read(info, int(limits.get("max-page-bytes"))) if info else None

    def _read(self, info: zipfile.ZipInfo, cap: int, say: bool = True) -> Optional[bytes]:
        """A member's bytes, at most ``cap`` inflated (a declared size is the index's word,
        not a bound: the read itself stops at the cap); None when over it or damaged."""
        try:
            with self._zip.open(info) as fh:
                data = fh.read(cap + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
                RuntimeError) as e:
            if say:
                _say(self.where, f"member {info.filename!r} is damaged ({e})")
            return None
        if len(data) > cap:
            if say:
                _say(self.where, f"member {info.filename!r} is larger than the limit {cap} "
                                 "(REZWHEEL_MAX_PAGE_BYTES)")
            return None
        return data


def members(data: bytes) -> int:
    """At most how many members zipfile would list in ``data`` (counted without parsing)."""
    return data.count(_ENTRY)


def fits(data: bytes) -> bool:
    """Whether readers would take ``data`` (a writer writes no snapshot they would refuse)."""
    return len(data) <= int(limits.get("max-snapshot-bytes")) and members(data) <= MAX_MEMBERS


def open_snapshot(data: bytes, where: str) -> Optional[Snapshot]:
    """The snapshot in ``data``, or None (said once) when it is not one."""
    try:
        return Snapshot(data, where)
    except ValueError as e:
        _say(where, str(e))
        return None


def download(session: "requests.Session", url: str, seen: Optional[dict] = None
             ) -> Optional[bytes]:
    """The snapshot's bytes at ``url``, None when the server holds none (or sends one past
    ``max-snapshot-bytes``: said once, then pages are read one by one). A server failing
    (5xx, 429, after the session's retries) raises ``requests.HTTPError``: that is no word
    on the snapshot, which the next process asks for again. ``seen``: the validators of the
    answer are put there, and those already there are sent: a snapshot unchanged since
    (304) is None, not the same bytes again."""
    import requests

    from rezwheel.errors import RezwheelError
    from rezwheel.index.http import RedirectRefused, deadline, read_body

    headers = {h: v for h, v in (("If-None-Match", (seen or {}).get("ETag")),
                                 ("If-Modified-Since", (seen or {}).get("Last-Modified"))) if v}
    with deadline(url):
        try:
            r = session.get(url, stream=True, headers=headers)
        except RedirectRefused:  # sent elsewhere (pypiserver: to pypi.org): none here
            return None
        try:
            if r.status_code >= 500 or r.status_code == 429:
                raise requests.HTTPError(f"HTTP {r.status_code}", response=r)
            if r.status_code != 200:
                return None
            if seen is not None:
                seen.update({h: r.headers[h] for h in ("ETag", "Last-Modified")
                             if isinstance(r.headers.get(h), str)})
            try:
                return read_body(r, url, int(limits.get("max-snapshot-bytes")), "index snapshot",
                                 "REZWHEEL_MAX_SNAPSHOT_BYTES")
            except RezwheelError as e:
                _say(url, str(e))
                return None
        finally:
            r.close()


def unusable(where: str, why: str) -> None:
    """Say once that the snapshot at ``where`` is not used, and why (pages are read instead)."""
    _say(where, why)


def _say(where: str, why: str) -> None:
    if where not in _warned:
        _warned.add(where)
        named = f"{redact(where)}: "
        why = why[len(named):] if why.startswith(named) else why  # an HTTP error names it too
        log.warning("rezwheel: %snot a usable index snapshot: %s; reading pages one by one",
                    named, why)
