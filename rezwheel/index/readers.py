"""Index readers: where pages, definitions and payloads come from, behind one protocol.

``IndexReader`` is what every reader does: list projects and a project's files, read a file's
PEP 658 metadata or the tail of its archive, fetch it, and say where it already lies on this
host (``local_path``: a local directory index's file is read in place; None over HTTP). The
readers are ``HttpReader`` (``rezwheel.index.httpreader``: a PEP 503/691 index over HTTP),
``LocalReader`` (a local directory index) and ``ChainReader`` (several indexes read in order as
one). Callers hold an ``IndexReader`` and never ask which one it is.

Reading a definition costs, in order: nothing (the store has it, by the wheel's sha256); an entry
of the project's bundle (``bundle``: one read per family, see ``rezwheel.index.bundle``); the PEP
658 metadata file when the page advertises one; a range read of the wheel's tail (HEAD for the
length, then an explicit ``bytes=A-B``: Artifactory may ignore Range, breaks suffix ranges on
virtual repositories and answers 416 past the end, so each answer is checked); the whole file,
which is then kept as the payload. Project pages are kept with their validators, sent back as
conditional requests, and served from the store when the index cannot be reached.

Nothing the index says is taken on trust: pages are parsed through ``pages`` (which checks every
value), every read runs under a deadline and a size cap (``rezwheel.limits``), a PEP 658 file
must match the hash its page gives, and a whole file that a server sent instead of a range is
kept as the payload only once its sha256 matches the page's. A definition read here is still
only a hint: it is tied to the wheel's own ``rez-package.py`` when the payload is localized.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from rezwheel import limits
from rezwheel.atomic import AtomicFile
from rezwheel.errors import InvalidWheelError, RezwheelError, Unreachable  # noqa: F401
from rezwheel.redaction import get_logger, redact, scrub
from rezwheel.artifact.metadata import DEFINITION, definition_from_metadata
from rezwheel.index import bundle
from rezwheel.index.pages import IndexFile, filename_problem, parse_project_page, project_name

log = get_logger(__name__)
_T = TypeVar("_T")



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


class IndexReader(Protocol):
    """What every index reader does (see the module docstring)."""

    url: str  # the index URL, or the local index's directory
    counters: Counters

    @property
    def offline(self) -> bool:
        """True once the index could not be reached (pages then come from the cache)."""

    @property
    def remote(self) -> bool:
        """True when a read costs a round trip: worth reading ahead, side by side."""

    def allow(self, url: str) -> bool:
        """Whether ``url`` may be one of this index's files (its origin, files hosts or
        directory): a page or pip report naming anything else is refused."""

    def pip_url(self) -> str:
        """The index as pip reads it (credentials in the URL, which pip redacts)."""

    def projects(self) -> Optional[set[str]]:
        """Every project on the index; None when the index lists none."""

    def files(self, project: str) -> list[IndexFile]:
        """A project's files, as its page lists them ([] when there is no such project)."""

    def key_for(self, f: IndexFile) -> str:
        """The store's key for the index that serves ``f`` (hints are kept per index)."""

    def trusted(self, f: IndexFile) -> bool:
        """Whether the index serving ``f`` is trusted to run code while rez resolves."""

    def bundle(self, project: str, files: list[IndexFile]) -> dict[str, str]:
        """Definition texts of ``files`` by sha256, from the project's bundle on the index
        serving them ({} when there is none; see ``index.bundle``): one read per project."""

    def metadata(self, f: IndexFile) -> Optional[str]:
        """The PEP 658 file of ``f``, when it exists and matches its page's hash."""

    def tail_zip(self, f: IndexFile, keep: Optional[str] = None) -> Optional[zipfile.ZipFile]:
        """The archive as seen from its end, or None when it cannot be read that way."""

    def fetch(self, f: IndexFile, dest: str, show: bool = False) -> Optional[str]:
        """Copy ``f`` to ``dest``; its sha256 when hashed on the way, else None."""

    def local_path(self, f: IndexFile) -> Optional[str]:
        """Where ``f`` already lies on this host (read in place), else None."""

    def size(self, f: IndexFile) -> Optional[int]:
        """``f``'s size in bytes (a lock file records it), None when the index will not say."""


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


def _listed(entries: dict[str, str], files: list[IndexFile]) -> dict[str, str]:
    """The bundle entries for files the page lists (the page is the truth: nothing else)."""
    return {f.sha256: entries[f.sha256] for f in files if f.sha256 and f.sha256 in entries}


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _checked_metadata(body: bytes, f: IndexFile, where: str) -> Optional[str]:
    if f.metadata and f.metadata.startswith("sha256="):
        if hashlib.sha256(body).hexdigest() != f.metadata[len("sha256="):]:
            log.warning("rezwheel: %s: does not match the sha256 its page gives; ignored",
                        redact(where))
            return None
    return body.decode("utf-8", "replace")


class LocalReader:
    """A local directory index (``DIR/simple`` pages, ``DIR/files``): no server, no copies.

    A site mirror is filled from upstream, so its pages are checked like any other: a link must
    name a file inside the index directory."""

    remote = False  # read in place: nothing to gain by reading ahead

    def __init__(self, root: str, counters: Optional[Counters] = None,
                 trust_code: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.url = self.root
        self.counters = counters or Counters()
        self.offline = False
        self.trust_code = trust_code
        self.key = _key(self.root)

    def pip_url(self) -> str:
        return "file://" + os.path.join(self.root, "simple") + "/"

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
        path = self._path(f.url)
        return path if os.path.isfile(path) else None  # listed but gone: ``fetch`` says so

    def size(self, f: IndexFile) -> Optional[int]:
        try:
            return os.path.getsize(self._path(f.url))
        except OSError:
            return None

    def bundle(self, project: str, files: list[IndexFile]) -> dict[str, str]:
        name = project_name(project)
        path = os.path.join(self.root, "simple", name or "", bundle.NAME)
        if name is None or not files or not os.path.isfile(path):
            return {}
        with open(path, "rb") as fh:
            body = fh.read(int(limits.get("max-page-bytes")) + 1)
        return _listed(bundle.decode(body, name, path), files)

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
        path = self._path(f.url)
        if not os.path.isfile(path):  # the index's doing (deleted by hand), not the store's
            raise RezwheelError(f"{path}: listed by the index {self.root}, but not there")
        shutil.copyfile(path, dest)
        return None  # not hashed on the way: the caller hashes the copy


class ChainReader:
    """Several indexes read in order as one (a site mirror first, Artifactory second).

    A project's files are the union by file name; the first index listing a name serves it, and
    a download that fails there, or whose sha256 differs from the listed one, falls through to
    the next index holding that file. An unreachable index is skipped while another answers.
    """

    def __init__(self, readers: list[IndexReader]) -> None:
        self.readers = readers
        self.url = readers[0].url
        self.counters = readers[0].counters
        self._alternatives: dict[str, list[tuple[IndexReader, IndexFile]]] = {}

    @property
    def offline(self) -> bool:
        return all(r.offline for r in self.readers)

    @property
    def remote(self) -> bool:
        return any(r.remote for r in self.readers)

    def allow(self, url: str) -> bool:
        return any(r.allow(url) for r in self.readers)

    def pip_url(self) -> str:
        return self.readers[0].pip_url()  # pip is given each index of a chain (``readers``)

    def _each(self, read: Callable[[IndexReader], _T]) -> list[tuple[IndexReader, _T]]:
        answers, failures = [], []
        for s in self.readers:
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

    def _owner(self, url: str) -> IndexReader:
        return self._alternatives[url][0][0]

    def key_for(self, f: IndexFile) -> str:
        return self._owner(f.url).key_for(f)

    def trusted(self, f: IndexFile) -> bool:
        return self._owner(f.url).trusted(f)

    def bundle(self, project: str, files: list[IndexFile]) -> dict[str, str]:
        """Each file's entry from the bundle of the index that serves it (never another's)."""
        by_owner: dict[int, list[IndexFile]] = {}
        for f in files:
            by_owner.setdefault(id(self._owner(f.url)), []).append(f)
        found: dict[str, str] = {}
        for s in self.readers:
            if id(s) in by_owner:
                with contextlib.suppress(Unreachable):
                    found.update(s.bundle(project, by_owner[id(s)]))
        return found

    def metadata(self, f: IndexFile) -> Optional[str]:
        return self._owner(f.url).metadata(f)

    def tail_zip(self, f: IndexFile, keep: Optional[str] = None) -> Optional[zipfile.ZipFile]:
        return self._owner(f.url).tail_zip(f, keep)

    def local_path(self, f: IndexFile) -> Optional[str]:
        return self._owner(f.url).local_path(f)

    def size(self, f: IndexFile) -> Optional[int]:
        return self._owner(f.url).size(f)

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


def read_definition(reader: IndexReader, f: IndexFile, keep_payload: Optional[str] = None) -> str:
    """A file's embedded definition, by the cheapest way the index allows (see module doc).

    ``keep_payload``: where to leave the whole file when it had to be downloaded (only once
    its sha256 matches the page's). Raises ``NotAnArtifact`` as soon as a complete METADATA or
    member list shows there is none.
    """
    if filename_problem(f.filename) or not f.filename.endswith(".whl"):
        raise NotAnArtifact(f"{f.filename}: not a wheel")
    if f.metadata:
        text = reader.metadata(f)
        if text:
            found = definition_from_metadata(text)
            if found is None:  # rezwheel always embeds the definition in METADATA too
                raise NotAnArtifact(f"{f.filename}: not a rezwheel artifact (no {DEFINITION})")
            return found
    z = reader.tail_zip(f, keep_payload)
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
        got = reader.fetch(f, tmp)
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


def _zip_or_none(fh: object) -> Optional[zipfile.ZipFile]:
    try:
        return zipfile.ZipFile(fh)  # type: ignore[arg-type]
    except _ZIP_ERRORS:
        return None
