"""An index seen as a rez repository: families, versions, definitions and variant roots.

The rez plugin (``rezwheel.rezplugin``) is a thin adapter over this. Versions come from file
names (the version mapping is reversible), definitions from ``definitions.DefinitionSource``
(kept parsed from an earlier process, else the store, else the family's bundle, else the
cheapest read per file the index allows), and a variant's root is localized into the store the
first time rez asks for it (the rest of what rez resolved with it side by side:
``localize_ahead``).

Over HTTP a cold family costs its page and its bundle, read side by side; once its newest
definition is in, the families that one requires are read ahead (``_follow``), so the sequential
round trips of a resolve follow the depth of the dependency graph, not the number of families.
A warm family costs one conditional request for its page (none within the index's ``ttl``).
While rez waits for a page, what the hints give is parsed (``_parse_hinted``).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Iterator, Optional

from rezwheel.artifact import naming
from rezwheel.artifact.identity import VariantId
from rezwheel.artifact.rezdef import Definition
from rezwheel.errors import RezwheelError
from rezwheel.index.httpreader import HttpReader
from rezwheel.index.pages import IndexFile
from rezwheel.index.readers import ChainReader, Counters, IndexReader, LocalReader
from rezwheel.pools import LazyPool
from rezwheel.redaction import redact
from rezwheel.resolve.definitions import DefinitionSource, IndexVersion, warn_once
from rezwheel.resolve.locations import Settings, Where, resolve_location
from rezwheel.resolve.store import Store
from rezwheel.resolve.versions import is_sdist, not_yanked, version_key, versions_of

if TYPE_CHECKING:
    import requests

SAY_WAITING = 3.0  # seconds rez waits for a root localized side by side before a line says so

__all__ = ["IndexRepository", "IndexVersion", "Settings", "Where", "resolve_location"]


class IndexRepository:
    """The packages of one location (an index, or several read in order), read through one
    ``IndexReader``. Each project's page is read once for the life of the instance (a planner's,
    or the plugin's for the process): its files and versions are kept here."""

    def __init__(self, location: str, settings: Optional[Settings] = None) -> None:
        self.settings = settings or Settings()
        self.location = location
        self.store = Store(self.settings.store or None)
        self.counters = Counters()
        readers: list[IndexReader] = [
            LocalReader(w.where, self.counters, w.trust_code) if w.kind == "local"
            else self._http_reader(w) for w in resolve_location(location, self.settings)]
        self.readers = readers  # each index, in the order read (``url``: its URL or directory)
        self.reader: IndexReader = readers[0] if len(readers) == 1 else ChainReader(readers)
        self.source = DefinitionSource(self.reader, self.store, self.files)
        self._projects: dict[str, tuple[list[IndexFile], dict[str, IndexVersion]]] = {}
        self._project_locks: dict[str, threading.Lock] = {}
        self._families: dict[str, dict[str, IndexVersion]] = {}
        self._plain: set[str] = set()  # projects whose files are plain wheels, not ours
        self._pool = LazyPool(8, "rezwheel-prefetch")
        self._ahead: dict[str, cf.Future] = {}  # families read ahead (``_follow``)
        self._hint_deps: dict[str, list[str]] = {}  # project -> what the hints say it requires
        self._localizer = LazyPool(4, "rezwheel-localize")
        self._localizing: dict[tuple[VariantId, Optional[str]], cf.Future] = {}
        self._lock = threading.Lock()
        #: (rez name, rez version) a request names in full (``fam==1.0.2``, ``fam-1.0.2``):
        #: offered to the solver even when yanked (``offered``); the library's own solves set
        #: it from their requests, the plugin never (``rez env`` hands it no request)
        self.pins: set[tuple[str, str]] = set()

    def _http_reader(self, w: Where) -> HttpReader:
        from rezwheel.config import IndexConfig, guess_type
        from rezwheel.credentials import find_credentials, split_url

        url, in_url = split_url(w.where)
        cfg = w.config if isinstance(w.config, IndexConfig) else \
            IndexConfig(w.name, url, url, guess_type(url))
        cred = in_url or find_credentials(cfg)

        def session() -> "requests.Session":  # made on the first request: none within the ttl
            from rezwheel.index.http import OriginAuth, make_session

            s = make_session(pool=8, retries=2, origins=w.files_hosts)
            if cred:
                s.auth = OriginAuth(cred.headers(cfg.type), [url])
            return s
        # one page cache per index however its URL is spelled: rez names the repository
        # without the trailing slash in saved contexts, packages_path usually has one
        keyed = url if url.endswith("/") else url + "/"
        pages = os.path.join(self.store.pages, hashlib.sha256(keyed.encode()).hexdigest()[:16])
        ttl = self.settings.ttl if w.ttl is None else w.ttl
        return HttpReader(url, session, pages, self.counters, cred, w.files_hosts, w.trust_code,
                          ttl)

    # -- families and versions
    def project(self, rez_name: str) -> str:
        return naming.dist_name(rez_name, self.settings.prefix)

    def family_names(self) -> list[str]:
        """Rez family names on the index: the newest valid wheel of each project tells (the
        distribution name cannot: rez names are case-sensitive and may hold "_" or "."). A
        project with no wheel (sdists only) is skipped unread; an index listing more projects
        than ``max-list-projects`` (a public one lists hundreds of thousands) is not listed."""
        from rezwheel import limits

        projects = self.reader.projects() or set()
        cap = int(limits.get("max-list-projects"))
        if len(projects) > cap:
            warn_once(f"rezwheel: {redact(self.location)} lists {len(projects)} projects, more "
                       f"than {cap} (REZWHEEL_MAX_LIST_PROJECTS): name the family to search")
            return []
        names = []
        for project in sorted(projects):
            found = self.versions_of_project(project)
            for version in sorted(found, key=version_key, reverse=True):
                v = found[version]
                self._load(v)
                if v.foreign:  # a plain project: no rez family
                    break
                if v.definition is not None:  # else an invalid version (reported): try the next
                    names.append(v.definition.name)
                    break
        return names

    def versions(self, rez_name: str) -> dict[str, IndexVersion]:
        """The family's versions, from its project page (read once per process); definitions
        are read only when rez asks for a package's data (``definition``)."""
        with self._lock:
            if rez_name in self._families:
                return self._families[rez_name]
            ahead = self._ahead.get(rez_name)
        if ahead is not None:  # read ahead along a dependency: wait for it
            try:
                return ahead.result()
            except Exception:  # read it again here, where its error is reported
                pass
        return self._versions(rez_name)

    def offered(self, rez_name: str) -> dict[str, IndexVersion]:
        """The versions rez's solver is offered: all but the yanked ones (PEP 592), unless a
        request pins one exactly (``pins``). ``versions`` keeps them all: yanking is not
        deletion, and a context saved before the yank still finds, reads and localizes its
        variants by name and version."""
        return not_yanked(rez_name, self.versions(rez_name), self.pins, self.location)

    def _versions(self, rez_name: str, asked: bool = True) -> dict[str, IndexVersion]:
        """``asked``: by rez (or a caller), not read ahead: only those walk the hints."""
        project = self.project(rez_name)
        ahead = self.reader.remote and not self._fresh(project)
        if ahead and not self._follow_kept(project) and asked:
            self._follow_hints(project)  # a family never read here: what the index hints
        found = self._project(project, family=True)[1]
        if found and not self._is_rez_family(found):
            self._plain.add(project)
            found = {}
        with self._lock:
            self._families[rez_name] = found
        if found and ahead:
            newest = found[max(found, key=version_key)]
            if newest.definition is not None:
                self._follow(newest.definition.data)
        if found and self.reader.remote and (ahead or self._reads_needed(found)):
            # rez reads every version in a requested range: read them now
            self._pool.get().submit(self._read_family, project, found)
        return found

    def _fresh(self, project: str) -> bool:
        """Whether every index answers for ``project`` from its kept page without a request (a
        warm resolve): reading ahead of rez then gains no round trip and only takes turns with
        rez for the interpreter, so rez asks for each family itself."""
        return all(r.fresh(project) if isinstance(r, HttpReader) else True
                   for r in self.readers)

    def _reads_needed(self, found: dict[str, IndexVersion]) -> bool:
        """Whether a version of a family would read its definition's file (not kept, stored or
        in its bundle): those are still read ahead, side by side."""
        return any(not v.loaded and self.source.needs_read(v) for v in found.values())

    def _follow_kept(self, project: str) -> bool:
        """A warm family: what its newest version required when last read is read ahead now,
        beside the family's own conditional request rather than after its answer (a page
        rarely changes: a chain of families is revalidated side by side, not link by link;
        a changed page costs at most a read ahead rez did not need). False when none is kept."""
        for r in self.readers:
            files = r.kept_files(project) if isinstance(r, HttpReader) else None
            found = versions_of(project, files) if files else None
            if found:
                newest = found[max(found, key=version_key)]
                d = self.source.kept(newest.first_file, project)
                if d is not None:
                    self._follow(d.data)
                    return True
        return False

    def _read_family(self, project: str, found: dict[str, IndexVersion]) -> None:
        """A family's definitions that need a read of their file (not kept, stored or in the
        family's bundle), newest first and a bounded number (a page may list any number of
        versions), read side by side. The others are parsed when rez asks: parsing here would
        only take turns with rez for the interpreter, and slow the reads ahead down."""
        from rezwheel import limits

        newest = sorted(found, key=version_key, reverse=True)[:int(limits.get("max-prefetch"))]
        pool = self._pool.get()
        for version in newest:
            v = found[version]
            if not v.loaded and self.source.needs_read(v):
                pool.submit(self._load, v)

    def _is_rez_family(self, found: dict[str, IndexVersion]) -> bool:
        """A project whose files carry no rez definition (a plain PyPI distribution on a shared
        index) is not a rez family here; one definition read tells, and rez needs it anyway."""
        v = found[max(found, key=version_key)]
        self._load(v)
        return not v.foreign

    def is_plain_project(self, project: str) -> bool:
        """True when the index holds ``project`` and its files are not rezwheel artifacts."""
        if project in self._plain:
            return True
        found = self.versions_of_project(project)
        if found:
            return not self._is_rez_family(found)
        return any(is_sdist(f.filename, project)  # e.g. docopt: no wheel
                   for f in self.files(project))

    def family_of(self, project: str) -> Optional[str]:
        """The rez family a rezwheel project on the index holds (its newest definition names
        it; a pip spelling of a rez name may differ in case and separators), else None."""
        found = self.versions_of_project(project)
        if not found or not self._is_rez_family(found):
            return None
        v = found[max(found, key=version_key)]
        name = v.definition.name if v.definition else None
        return name if name and self.project(name) == project else None

    def close(self) -> None:
        """Wait for what is read ahead, and keep what was parsed for the next process (done at
        exit otherwise)."""
        self._pool.close()
        self.source.flush()

    def _follow(self, data: dict) -> None:
        """Read ahead, side by side, the families a family's newest definition requires (rez
        tries the newest first: what it asks for next), before rez asks: the sequential round
        trips of a cold resolve then follow the depth of the dependency graph, not the number
        of families; a warm one revalidates those pages side by side."""
        self._read_ahead(_required(data))

    def _read_ahead(self, names: list[str]) -> None:
        pool = self._pool.get()
        for name in names:
            with self._lock:
                if name in self._families or name in self._ahead:
                    continue
                self._ahead[name] = pool.submit(self._versions, name, False)

    def _follow_hints(self, project: str) -> None:
        """A cold family on an index that gives hints (Artifactory's snapshot, deployed by
        publish: ``HttpReader.hinted``): the families its newest version requires, and theirs,
        as far as the hints go (at most ``max-prefetch`` families), are read ahead now, side by
        side. A resolve then waits one round trip for its whole graph, not one per level. The
        hints choose what is read; what is read is the truth (a wrong hint costs a request).
        Only a family asked for walks them, never one read ahead: hints that make up an
        endless graph read at most that many families ahead per family rez actually needs."""
        hinting = [r for r in self.readers if isinstance(r, HttpReader)]
        for r in hinting:
            r.start_hints()
        self._pool.get().submit(self._walk_hints, project)  # beside the family's own page

    def _walk_hints(self, project: str) -> None:
        """``_follow_hints`` once the hints are in hand (waiting for them), then
        ``_parse_hinted`` while rez still waits for the page of ``project``."""
        from rezwheel import limits

        cap = int(limits.get("max-prefetch"))
        seen, todo, names = {project}, [project], []
        while todo and len(names) < cap:
            time.sleep(0)  # hand the interpreter back (rez's thread may be sending its page)
            for name in self._hinted_requires(todo.pop()):
                other = self.project(name)
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
                    names.append(name)
        self._read_ahead(names[:cap])
        self._parse_hinted(project, names[:cap], cap)

    def _parse_hinted(self, project: str, names: list[str], cap: int) -> None:
        """While rez waits for the page of ``project``, the definitions the hints give for it
        and what it requires are parsed (``DefinitionSource.parse_ahead``), newest first and
        ``cap`` in all, until that page is in: time the interpreter would otherwise idle."""
        for name in [project, *(self.project(n) for n in names)]:
            found, entries = next(self._hints(name), ({}, {}))
            newest = [found[v].first_file
                      for v in sorted(found, key=version_key, reverse=True)[:cap]]
            cap -= len(newest)
            if not self.source.parse_ahead(newest, entries,
                                           lambda: project in self._projects) or cap <= 0:
                return

    def _hints(self, project: str) -> Iterator[tuple[dict[str, IndexVersion], dict[str, str]]]:
        """(versions, bundle entries) each hinting index gives for ``project``, in order."""
        for r in self.readers:
            hinted = r.hinted(project) if isinstance(r, HttpReader) else None
            versions = versions_of(project, hinted[0]) if hinted else None
            if hinted and versions:
                yield versions, hinted[1]

    def _hinted_requires(self, project: str) -> list[str]:
        """The families the newest version of ``project`` requires, as the hints say ([] when
        they say nothing usable); parsed once per process."""
        with self._lock:
            if project in self._hint_deps:
                return self._hint_deps[project]
        found: list[str] = []
        for versions, entries in self._hints(project):
            f = versions[max(versions, key=version_key)].first_file
            text = entries.get(f.sha256 or "")
            if text:  # parsed once: rez may ask for it next (a hint unfit to read is no hint)
                d = self.source.parsed(f, text)
                found = _required(d.data) if d is not None else []
                break
        with self._lock:
            self._hint_deps[project] = found
        return found

    def _load(self, v: IndexVersion) -> None:
        with v.lock:
            if not v.loaded:
                self.source.load(v)

    def files(self, project: str) -> list[IndexFile]:
        """A project's files as the index lists them (its page read once, then kept)."""
        return self._project(project)[0]

    def files_read(self) -> list[IndexFile]:
        """Every file of the project pages read so far (a mirror restates their yanked flags)."""
        with self._lock:
            read = list(self._projects.values())
        return [f for files, _ in read for f in files]

    def versions_of_project(self, project: str) -> dict[str, IndexVersion]:
        """A project's versions, by rez version (the same objects on every call, so a
        definition is read and parsed once whoever asks: planning, solving, installing)."""
        return self._project(project)[1]

    def _project(self, project: str, family: bool = False
                 ) -> tuple[list[IndexFile], dict[str, IndexVersion]]:
        """``family``: read for rez, which will want the definitions: an HTTP index never read
        here before is asked for the bundle at once, beside the page."""
        with self._project_lock(project):  # read ahead and asked for at once: one page read
            if project not in self._projects:
                if family:
                    for r in self.readers:
                        if isinstance(r, HttpReader) and not r.has_page(project):
                            r.start_bundle(project)
                files = self.reader.files(project)
                self._projects[project] = (files, versions_of(project, files))
            return self._projects[project]

    def _project_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._project_locks.setdefault(name, threading.Lock())

    def definition(self, rez_name: str, rez_version: str) -> Optional[Definition]:
        """A package's definition, or None (reported once) when it is not plain data, names
        another package or version than the file does, or is not a rezwheel artifact."""
        v = self.versions(rez_name).get(rez_version)
        if v is None:
            return None
        self._load(v)
        d = v.definition
        if d is None:
            return None
        if d.name != rez_name:
            warn_once(f"rezwheel: skipping {rez_name}-{rez_version}: its definition "
                      f"names {d.name!r}")
            return None
        return d

    def last_release_time(self, rez_name: str) -> int:
        """When the family last changed, from upload times the index gives (PEP 700 JSON, a
        local index's files); 0, which rez reads as unknown, when it gives none."""
        times = [f.upload_time for v in self.versions(rez_name).values() for f in v.files
                 if f.upload_time]
        return int(max(times)) if times else 0

    # -- variants
    def file_for_variant(self, vid: VariantId) -> IndexFile:
        """The file that holds a variant. Convert names a variant's file by a build tag (the
        variant index) where tags would not tell the variants apart, else by the tags of the
        variant's requires alone (``tags.names_variant``, convert's own rule, applied to the
        definition rez resolved with: the file name is all the page gives; the layout map
        naming the index is inside the wheel, a read per file)."""
        from packaging.utils import parse_wheel_filename

        from rezwheel.artifact.tags import names_variant

        v = self.versions(vid.name).get(vid.version)
        if v is None:
            raise RezwheelError(f"{vid.package}: not on {redact(self.location)}")
        if vid.index is None:
            return v.files[0]
        d = self.definition(vid.name, vid.version)
        requires = d.variant_requires(vid.index) if d else []
        for f in v.files:
            _, _, build, tags = parse_wheel_filename(f.filename)
            if build:
                if build[0] == vid.index:
                    return f
                continue
            if names_variant(tags, requires):
                return f
        raise RezwheelError(f"{vid.package}: no file on {redact(self.location)} for variant "
                            f"{vid.index} {requires}")

    def state(self, vid: VariantId) -> Optional[str]:
        try:
            return self.file_for_variant(vid).sha256
        except RezwheelError:
            return None

    def localize_ahead(self, variants: list[tuple[VariantId, Optional[str]]]) -> None:
        """Start localizing, side by side, variants rez resolved: it asks for their roots one
        at a time and waits for each, so their payloads would come one after the other. Quiet
        (no bar): ``localize`` waits for one started, and reports what went wrong with it."""
        pool = self._localizer.get()
        with self._lock:
            for key in variants:
                if key not in self._localizing:
                    self._localizing[key] = pool.submit(self._localize, *key, False)

    def localize(self, vid: VariantId, subpath: Optional[str]) -> str:
        """The variant's root on disk: extracted into the store, or a site path for packages
        that ask never to be localized (``rezwheel = {"localize": "never"}``)."""
        with self._lock:
            ahead = self._localizing.pop((vid, subpath), None)
        if ahead is not None and not ahead.cancel():  # under way: wait for it
            with contextlib.suppress(Exception):  # else done again here, where it is said
                if not cf.wait([ahead], SAY_WAITING).done:  # a large payload, and no bar
                    warn_once(f"rezwheel: {vid.package}: still downloading (the context's "
                              "payloads come side by side)")
                return ahead.result()
        return self._localize(vid, subpath, True)

    def _localize(self, vid: VariantId, subpath: Optional[str], show: bool) -> str:
        d = self.definition(vid.name, vid.version)
        if d is not None and d.localize_never:
            base = os.path.join(self.settings.site_path or "", vid.name, vid.version)
            root = os.path.join(base, subpath) if subpath else base
            if not self.settings.site_path or not os.path.isdir(root):
                raise RezwheelError(f"{vid.package}: is never localized, and its site "
                                    f"path {root!r} does not exist (setting site_path)")
            return root
        f = self.file_for_variant(vid)
        if not f.sha256:
            raise RezwheelError(f"{f.filename}: the index gives no sha256 to verify it against")
        from rezwheel.rezrepo.restore import restore_variant

        # inside `rez env` the payload download is the one long wait: a bar when it is large
        try:
            return self.store.localize(f.sha256, f.filename,
                                       lambda dest: self.reader.fetch(f, dest, show=show),
                                       restore_variant,
                                       local_path=self.reader.local_path(f),
                                       definition=d.text if d else None)
        except OSError as e:  # the store's disk (read-only, full), never the index's doing
            raise RezwheelError(f"{vid.package}: cannot localize into the store "
                                f"{self.store.root}: {e.strerror or e}") from None

    def drop_extracted(self, root: str) -> None:
        """Forget a store root once another cache holds the copy (the wheel stays)."""
        if os.path.dirname(root) == os.path.join(self.store.root, "roots"):
            self.store.remove_root(os.path.basename(root))


#: the family a requirement names; weak (~) and conflict (!) requests are not read ahead
_FAMILY = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)")


def _required(data: dict) -> list[str]:
    """The families a definition's requires and variants name (but weak and conflict ones)."""
    requires, variants = data.get("requires"), data.get("variants")
    wanted = [str(r) for r in requires] if isinstance(requires, list) else []
    for variant in variants if isinstance(variants, list) else []:
        wanted += [str(r) for r in variant] if isinstance(variant, list) else []
    return [m.group(1) for text in wanted if (m := _FAMILY.match(text))]
