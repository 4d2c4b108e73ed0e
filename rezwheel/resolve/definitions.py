"""Where a version's definition comes from, cheapest first, for ``packages.IndexRepository``.

In order: the wheel's own definition once its payload was verified here (the store's
``verified``); the definitions this index gave for the family before, kept parsed
(``resolve.parsed``: no read and no parse); what this index said before for the file (a store
hint); the family's bundle (``index.bundle``: one read for all its versions); the file's own
definition, by the cheapest read the index allows. Whoever read a text, it is parsed and checked
the same way (``accept``). A definition that is not plain data, names a package unfit for a
path, or makes rez run index code while resolving (a late-bound ``requires``, unless the index
is trusted to) is reported once, on one line naming the file, and its package is left out: rez
resolves around it. Nothing from the index is ever executed here.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Optional

from rezwheel.artifact import rezdef
from rezwheel.artifact.rezdef import Definition
from rezwheel.errors import RezwheelError
from rezwheel.index.pages import IndexFile
from rezwheel.index.readers import IndexReader, NotAnArtifact, Unreachable, read_definition
from rezwheel.redaction import get_logger
from rezwheel.resolve import parsed
from rezwheel.resolve.store import Store

log = get_logger(__name__)
DEFINITION_LABEL = "rez-package.py"
_warned: set[str] = set()


@dataclass
class IndexVersion:
    """One version of a project on the index: its files, and its definition once read (parsed
    and checked once here, then carried as is to the plugin, the planner and install)."""
    rez_version: str
    files: list[IndexFile]
    project: str = ""
    definition: Optional[Definition] = None  # None until loaded, or when unfit (reported)
    loaded: bool = False
    foreign: bool = False  # a plain wheel, no rez definition
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def yanked(self) -> Optional[str]:
        """PEP 592: the reason ("" for none) when every file of the version is yanked, else
        None. A version with one file left unyanked is offered whole, as pip installs a
        release from the files not yanked."""
        reasons = [f.yanked for f in self.files]
        if not reasons or any(r is None for r in reasons):
            return None
        return next((r for r in reasons if r), "")

    @property
    def first_file(self) -> IndexFile:
        """The file whose definition speaks for the version (every variant's wheel embeds the
        same one): the first by name, so every reader, process and host picks the same."""
        return min(self.files, key=lambda x: x.filename)


class DefinitionSource:
    """Reads, parses and checks definitions for one ``IndexReader`` and store (see the module
    docstring). ``files(project)``: the project's files as its page lists them (read once by
    the caller)."""

    def __init__(self, reader: IndexReader, store: Store,
                 files: Callable[[str], list[IndexFile]]) -> None:
        self.reader = reader
        self.store = store
        self._files = files
        self._bundles: dict[str, dict[str, str]] = {}  # project -> its bundle's listed entries
        self._kept: dict[tuple[str, str], dict[str, Definition]] = {}  # (index key, project)
        self._dirty: set[tuple[str, str]] = set()
        self._verified: Optional[frozenset[str]] = None
        self._hinted: dict[str, frozenset[str]] = {}  # index key -> its hints, when first asked
        self._locks: dict[str, threading.Lock] = {}
        self._parsed_ahead: dict[str, Definition] = {}  # sha256 -> parsed ahead (``parse_ahead``)
        self._lock = threading.Lock()
        _SOURCES.add(self)

    def load(self, v: IndexVersion) -> None:
        """Read, parse and check a version's definition (once: ``v.loaded``; the caller holds
        ``v.lock``); a file that is not ours marks the version foreign, an unfit definition is
        reported and left out."""
        f = v.first_file
        label = f"{f.filename}:{DEFINITION_LABEL}"
        v.loaded = True
        try:
            key = self.reader.key_for(f)
            if f.sha256 and self._from_kept(v, f, key):
                return
            text = self.store.definition(f.sha256, key) if f.sha256 and self._stored(
                f.sha256, key) else None
            if text is None and f.sha256 and self._from_bundle(v, f, key, label):
                return
            if text is None and f.sha256:
                # one reader per artifact across processes: a server that ignores Range sends
                # the whole file, which the first reader keeps and the others then read
                with self.store.lock(f.sha256):
                    text = self.store.definition(f.sha256, key) or self._read(f, key)
            elif text is None:
                text = self._read(f, None)
            self.accept(v, f, text, label)
            if f.sha256 and v.definition is not None:
                self._keep(key, v.project, f.sha256, v.definition)
        except NotAnArtifact:
            v.foreign = True
        except Unreachable:  # the index went away: no word on the package (asked again)
            v.loaded = False
            raise
        except RezwheelError as e:
            warn_once(f"rezwheel: skipping invalid package: {e}")
        except Exception as e:  # what index input can still make a library raise: not a crash
            warn_once(f"rezwheel: skipping invalid package: {label}: {type(e).__name__}: "
                      f"{' '.join(str(e).split())[:200]}")

    def parse_ahead(self, files: list[IndexFile], entries: dict[str, str],
                    enough: Callable[[], bool]) -> bool:
        """Parse (``parsed``) the definitions ``entries`` (a bundle's or a hint's, by sha256)
        give for ``files`` in turn, until ``enough()`` (then False). After each the
        interpreter is handed back: the thread that waited on the network takes it at once,
        not after a switch interval."""
        for f in files:
            if enough():
                return False
            text = entries.get(f.sha256 or "")
            if text:
                self.parsed(f, text)
                time.sleep(0)
        return True

    def parsed(self, f: IndexFile, text: str) -> Optional[Definition]:
        """``text`` parsed for ``f``, once: kept for ``accept``, which takes it for that very
        text only, and checks it as any. None when unfit (refused where rez asks for it)."""
        with self._lock:
            d = self._parsed_ahead.get(f.sha256 or "")
        if d is not None and d.text == text:
            return d
        try:
            d = Definition.read(text, f"{f.filename}:{DEFINITION_LABEL}")
        except Exception:
            return None
        with self._lock:
            self._parsed_ahead[f.sha256 or ""] = d
        return d

    def kept(self, f: IndexFile, project: str) -> Optional[Definition]:
        """The definition of ``f`` kept parsed for this index, if any (not checked here)."""
        try:
            return self._kept_of(self.reader.key_for(f), project).get(f.sha256 or "")
        except Exception:
            return None

    def needs_read(self, v: IndexVersion) -> bool:
        """Whether loading ``v`` will read its file: neither kept, stored nor in the family's
        bundle. Told without parsing or sending anything: False while the bundle is not read
        (a warm family whose newest version was kept: the rest waits until rez asks)."""
        f = v.first_file
        if not f.sha256:
            return True
        try:
            key = self.reader.key_for(f)
        except Exception:
            return True
        if f.sha256 in self._kept_of(key, v.project) or self._stored(f.sha256, key):
            return False
        entries = self._bundles.get(v.project)
        return entries is not None and f.sha256 not in entries

    def accept(self, v: IndexVersion, f: IndexFile, text: str, label: str,
               d: Optional[Definition] = None) -> None:
        """Check a definition read for ``v`` (parsed here unless ``d`` was kept parsed): the
        same checks whoever read it."""
        if d is None:
            if not text:
                raise NotAnArtifact(f.filename)
            with self._lock:
                ahead = self._parsed_ahead.pop(f.sha256 or "", None)
            d = ahead if ahead is not None and ahead.text == text else Definition.read(text, label)
        if not self.reader.trusted(f):
            rezdef.check_resolvable(d.data, label)
        if d.version != v.rez_version:
            raise RezwheelError(f"{label}: defines version {d.data.get('version')!r}, "
                                f"the file name says {v.rez_version!r}")
        if "base" in d.data:  # a location is the repository's to say, never the index's
            d = Definition(d.text, {k: x for k, x in d.data.items() if k != "base"})
        v.definition = d

    # -- kept parsed (``resolve.parsed``)
    def _from_kept(self, v: IndexVersion, f: IndexFile, key: str) -> bool:
        """Whether this index's definition of the file, parsed before, settled ``v`` (never
        over the wheel's own definition, once verified: that one decides)."""
        sha = f.sha256 or ""
        if sha in self._verified_shas():
            return False
        d = self._kept_of(key, v.project).get(sha)
        if d is None:
            return False
        try:
            self.accept(v, f, d.text, f"{f.filename}:{DEFINITION_LABEL}", d)
        except Exception:  # e.g. a version that no longer matches: read it as before
            v.definition = None
            return False
        return True

    def _kept_of(self, key: str, project: str) -> dict[str, Definition]:
        with self._lock:
            found = self._kept.get((key, project))
        if found is None:
            found = parsed.load(parsed.path_for(self.store.root, key, project))
            with self._lock:
                found = self._kept.setdefault((key, project), found)
        return found

    def _keep(self, key: str, project: str, sha: str, d: Definition) -> None:
        kept = self._kept_of(key, project)
        with self._lock:
            if kept.get(sha) is not d:
                kept[sha] = d
                self._dirty.add((key, project))

    def flush(self, project: Optional[str] = None) -> None:
        """Write the families whose kept definitions grew (``project``: that one only), each
        limited to the files its page lists now. Done as the process ends (``_flush_all``),
        or as its ``IndexRepository`` closes: never while rez solves (inside ``rez env``,
        after the shell it started has ended)."""
        with self._lock:
            todo = [k for k in self._dirty if project is None or k[1] == project]
            self._dirty.difference_update(todo)
            snapshot = {k: dict(self._kept[k]) for k in todo}
        for (key, name), entries in snapshot.items():
            try:
                listed = {f.sha256 for f in self._files(name) if f.sha256}
            except Exception:  # the page cannot be read now: keep what was read
                listed = set(entries)
            left = parsed.save(parsed.path_for(self.store.root, key, name),
                               {sha: d for sha, d in entries.items() if sha in listed})
            for sha in left:  # kept as text then, a hint for the next process to parse
                self.store.put_hint(sha, key, entries[sha].text)

    def _verified_shas(self) -> frozenset[str]:
        """Wheels whose own definition the store holds (one directory listing a process)."""
        if self._verified is None:
            self._verified = _listing(os.path.join(self.store.root, "verified"))
        return self._verified

    def _stored(self, sha: str, key: str) -> bool:
        """Whether the store may hold a definition of ``sha`` for this index (listings of its
        ``verified`` and ``hints`` directories, once a process: a cold family then costs no
        store lookup per version)."""
        if sha in self._verified_shas():
            return True
        with self._lock:
            hinted = self._hinted.get(key)
        if hinted is None:
            hinted = _listing(os.path.join(self.store.root, "hints", key))
            with self._lock:
                self._hinted[key] = hinted
        return sha in hinted

    # -- the family's bundle, then the file itself
    def _from_bundle(self, v: IndexVersion, f: IndexFile, key: str, label: str) -> bool:
        """Whether the family's bundle (read once, for every version) settled ``v``. An entry
        that fails a check is no entry: the file's own definition decides, read as before."""
        text = self._bundle_of(v.project).get(f.sha256)  # type: ignore[arg-type]
        if text is None:
            return False
        try:
            self.accept(v, f, text, label)
        except Exception:  # unfit here: read the file's own (refused there as it would be)
            v.definition = None
            return False
        self._keep(key, v.project, f.sha256, v.definition)  # type: ignore[arg-type]
        return True

    def _bundle_of(self, project: str) -> dict[str, str]:
        entries = self._bundles.get(project)
        if entries is None:
            with self._project_lock(project):  # one read, whoever asks first
                if project not in self._bundles:
                    try:
                        found = self.reader.bundle(project, self._files(project))
                    except (RezwheelError, OSError):  # no bundle to read: files one by one
                        found = {}
                    self._bundles[project] = found
            entries = self._bundles[project]
        return entries

    def _project_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(name, threading.Lock())

    def _read(self, f: IndexFile, key: Optional[str]) -> str:
        """Read a definition from the index (or a payload kept earlier), remembering it as this
        index's hint; "" for a file that is not ours."""
        import zipfile

        from rezwheel.index.readers import definition_from_zip

        keep = self.store.wheel_path(f.sha256, f.filename) if f.sha256 else None
        if keep and os.path.exists(keep):  # kept only once verified against its sha256
            try:
                with zipfile.ZipFile(keep) as z:
                    text = definition_from_zip(z) or ""
                self.store.put_verified(f.sha256, text)  # type: ignore[arg-type]
                return text
            except (zipfile.BadZipFile, OSError):
                pass
        try:
            text = read_definition(self.reader, f, keep_payload=keep)
        except NotAnArtifact:
            text = ""  # remembered as "not ours", like a definition
        if f.sha256 and key:
            self.store.put_hint(f.sha256, key, text)
        return text


def _listing(path: str) -> frozenset[str]:
    try:
        return frozenset(os.listdir(path))
    except OSError:
        return frozenset()


#: every source of the process, written out at exit (what a batch has not written already)
_SOURCES: "weakref.WeakSet[DefinitionSource]" = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for source in list(_SOURCES):
        try:
            source.flush()
        except Exception:  # a cache: never an error on the way out
            pass


def warn_once(message: str) -> None:
    """rez may open one location twice (as given, and normalized): say each thing once."""
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)
