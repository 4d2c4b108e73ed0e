"""An index seen as a rez repository: families, versions, definitions and variant roots.

The rez plugin (``rezwheel.rezplugin``) is a thin adapter over this. Versions come from file
names (the version mapping is reversible), definitions from the store, else the family's bundle
(one read for all its versions, ``index.bundle``), else the cheapest read per file the index
allows, and a variant's root is localized into the store the first time rez asks for it.
A definition that is not plain data, names a package unfit for a path, or makes rez run index
code while resolving (a late-bound ``requires``, unless the index is trusted to) is reported
once, on one line naming the file, and its package is left out: rez resolves around it. Nothing
from the index is ever executed here.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Optional

from packaging.utils import canonicalize_name, parse_wheel_filename

from rezwheel.artifact import naming, rezdef
from rezwheel.artifact.identity import VariantId
from rezwheel.artifact.rezdef import Definition
from rezwheel.errors import RezwheelError
from rezwheel.index.httpreader import HttpReader
from rezwheel.index.pages import IndexFile
from rezwheel.index.readers import (ChainReader, Counters, IndexReader, LocalReader, NotAnArtifact,
                                    read_definition)
from rezwheel.redaction import get_logger, redact
from rezwheel.resolve.store import Store

log = get_logger(__name__)


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


@dataclass(frozen=True)
class Where:
    """One index a location points at: ``kind`` "local" (a directory) or "http" (an index URL,
    perhaps with credentials in it), and what its configuration says about it."""
    kind: str
    where: str
    name: Optional[str] = None  # the configured name: its own credentials, never the unnamed
    config: Optional[object] = None  # IndexConfig of a name from the config file
    trust_code: bool = False
    files_hosts: tuple = ()
    ttl: Optional[float] = None  # seconds a page read stays fresh; None: the settings' default


@dataclass
class Settings:
    """The plugin's rez settings (``plugins.package_repository.artifactory``)."""
    indexes: dict = field(default_factory=dict)
    prefix: str = ""
    store: str = ""
    site_path: str = ""
    ttl: float = 0.0  # for every index that sets none itself


def resolve_location(location: str, settings: Settings, name: Optional[str] = None,
                     trust: bool = False, hosts: tuple = (),
                     ttl: Optional[float] = None) -> list[Where]:
    """Where a location points, in the order to read them.

    A location is a URL, a directory, or a name looked up in the plugin's ``indexes`` setting,
    then in the rezwheel config file (the names `rezwheel publish --to` knows). A name may list
    several indexes (``urls = [mirror, upstream]``): they are read in order, file by file.
    """
    if "://" in location:
        if location.startswith("file://"):
            return [Where("local", _index_root(location[len("file://"):]), name, None, trust,
                          hosts, ttl)]
        return [Where("http", location, name, None, trust, hosts, ttl)]
    named = settings.indexes.get(location)
    if named is None:
        from rezwheel.config import index_entry, load_config, resolve_target

        cfg = index_entry(location, load_config())
        if cfg is not None and cfg.get("urls"):
            named = cfg
        elif cfg is not None:
            target = resolve_target(location, upload=False)
            if target.type == "local":
                return [Where("local", target.upload_url, location, target,
                              target.trust_code, target.files_hosts, target.ttl)]
            return [Where("http", target.index_url, location, target, target.trust_code,
                          target.files_hosts, target.ttl)]
    if named is not None:
        if isinstance(named, str):
            urls, trust, hosts = [named], False, ()
        elif isinstance(named, (list, tuple)):
            urls, trust, hosts = list(named), False, ()
        elif hasattr(named, "get"):  # a dict, or rez's read-only wrapper of one
            urls = list(named.get("urls") or [named.get("url")])
            trust = named.get("trust_code", named.get("trust-code", False)) is True
            hosts = tuple(named.get("files_hosts", named.get("files-hosts")) or ())
            ttl = _seconds(named.get("ttl"), f"artifactory@{location}: ttl")
        else:
            raise RezwheelError(f"artifactory@{location}: the setting must be a URL, a list of "
                                "URLs or a table")
        if not urls or not all(isinstance(u, str) and u for u in urls):
            raise RezwheelError(f"artifactory@{location}: no index URL configured")
        return [w for url in urls
                for w in resolve_location(url, Settings(), location, trust, hosts, ttl)]
    if os.path.isdir(os.path.expanduser(location)):
        return [Where("local", _index_root(os.path.expanduser(location)), None, None,
                      trust, hosts, ttl)]
    raise RezwheelError(f"{location}: not a URL, a directory, or a configured index name")


def _index_root(path: str) -> str:
    """A local index's directory, also when given as its ``simple/`` (the URL pip users get)."""
    path = os.path.abspath(path.rstrip("/") or "/")
    if os.path.basename(path) == "simple" and os.path.isfile(os.path.join(path, "index.html")) \
            and os.path.isdir(os.path.join(os.path.dirname(path), "files")):
        return os.path.dirname(path)
    return path


def _seconds(value: object, what: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RezwheelError(f"{what} must be a number of seconds, not {value!r}")
    return float(value)


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
        self._projects: dict[str, tuple[list[IndexFile], dict[str, IndexVersion]]] = {}
        self._project_locks: dict[str, threading.Lock] = {}
        self._families: dict[str, dict[str, IndexVersion]] = {}
        self._bundles: dict[str, dict[str, str]] = {}  # project -> its bundle's listed entries
        self._plain: set[str] = set()  # projects whose files are plain wheels, not ours
        self._pool: Optional[cf.ThreadPoolExecutor] = None
        self._ahead: dict[str, cf.Future] = {}  # families read ahead (``_follow``)
        self._lock = threading.Lock()

    def _http_reader(self, w: Where) -> HttpReader:
        from rezwheel.config import IndexConfig, guess_type
        from rezwheel.credentials import find_credentials, split_url
        from rezwheel.index.http import OriginAuth, make_session

        url, in_url = split_url(w.where)
        cfg = w.config if isinstance(w.config, IndexConfig) else \
            IndexConfig(w.name, url, url, guess_type(url))
        cred = in_url or find_credentials(cfg)
        session = make_session(pool=8, retries=2, origins=w.files_hosts)
        if cred:
            session.auth = OriginAuth(cred.headers(cfg.type), [url])
        pages = os.path.join(self.store.pages, hashlib.sha256(url.encode()).hexdigest()[:16])
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
            _warn_once(f"rezwheel: {redact(self.location)} lists {len(projects)} projects, more "
                       f"than {cap} (REZWHEEL_MAX_LIST_PROJECTS): name the family to search")
            return []
        names = []
        for project in sorted(projects):
            found = self.versions_of_project(project)
            for version in sorted(found, key=_version_key, reverse=True):
                v = found[version]
                with v.lock:
                    if not v.loaded:
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

    def _versions(self, rez_name: str) -> dict[str, IndexVersion]:
        project = self.project(rez_name)
        found = self.versions_of_project(project)
        if found and not self._is_rez_family(found):
            self._plain.add(project)
            found = {}
        with self._lock:
            self._families[rez_name] = found
        if self.reader.remote and len(found) > 1:
            # rez reads every version in a requested range: fetch the newest side by side now
            # (a bounded number: a page may list any number of versions)
            from rezwheel import limits

            pool = self._prefetcher()
            newest = sorted(found, key=_version_key, reverse=True)
            for version in newest[:int(limits.get("max-prefetch"))]:
                pool.submit(self._prefetch, found[version])
        return found

    def _is_rez_family(self, found: dict[str, IndexVersion]) -> bool:
        """A project whose files carry no rez definition (a plain PyPI distribution on a shared
        index) is not a rez family here; one definition read tells, and rez needs it anyway."""
        v = found[max(found, key=_version_key)]
        with v.lock:
            if not v.loaded:
                self._load(v)
        return not v.foreign

    def is_plain_project(self, project: str) -> bool:
        """True when the index holds ``project`` and its files are not rezwheel artifacts."""
        if project in self._plain:
            return True
        found = self.versions_of_project(project)
        if found:
            return not self._is_rez_family(found)
        return any(_is_sdist(f.filename, project)  # e.g. docopt: no wheel
                   for f in self.files(project))

    def family_of(self, project: str) -> Optional[str]:
        """The rez family a rezwheel project on the index holds (its newest definition names
        it; a pip spelling of a rez name may differ in case and separators), else None."""
        found = self.versions_of_project(project)
        if not found or not self._is_rez_family(found):
            return None
        v = found[max(found, key=_version_key)]
        name = v.definition.name if v.definition else None
        return name if name and self.project(name) == project else None

    def _prefetcher(self) -> "cf.ThreadPoolExecutor":
        with self._lock:
            if self._pool is None:
                self._pool = cf.ThreadPoolExecutor(8, thread_name_prefix="rezwheel-prefetch")
                atexit.register(self._pool.shutdown, wait=False, cancel_futures=True)
            return self._pool

    def _follow(self, data: dict) -> None:
        """Read ahead the families a definition requires, side by side, before rez asks: the
        sequential round trips of a cold resolve then follow the depth of the dependency
        graph, not the number of families."""
        wanted = [str(r) for r in data.get("requires") or []]
        for variant in data.get("variants") or []:
            wanted += [str(r) for r in variant]
        pool = self._prefetcher()
        for text in wanted:
            m = _FAMILY.match(text)
            if not m:
                continue
            name = m.group(1)
            with self._lock:
                if name in self._families or name in self._ahead:
                    continue
                self._ahead[name] = pool.submit(self._versions, name)

    def _prefetch(self, v: IndexVersion) -> None:
        with v.lock:
            if not v.loaded:
                self._load(v)

    def files(self, project: str) -> list[IndexFile]:
        """A project's files as the index lists them (its page read once, then kept)."""
        return self._project(project)[0]

    def versions_of_project(self, project: str) -> dict[str, IndexVersion]:
        """A project's versions, by rez version (the same objects on every call, so a
        definition is read and parsed once whoever asks: planning, solving, installing)."""
        return self._project(project)[1]

    def _project(self, project: str) -> tuple[list[IndexFile], dict[str, IndexVersion]]:
        with self._project_lock(project):  # read ahead and asked for at once: one page read
            if project not in self._projects:
                files = self.reader.files(project)
                self._projects[project] = (files, _versions_of(project, files))
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
        with v.lock:
            if not v.loaded:
                self._load(v)
        d = v.definition
        if d is None:
            return None
        if d.name != rez_name:
            _warn_once(f"rezwheel: skipping {rez_name}-{rez_version}: its definition "
                       f"names {d.data.get('name')!r}")
            return None
        return d

    def _load(self, v: IndexVersion) -> None:
        """Read, parse and check a version's definition (once: ``v.loaded``); a file that is
        not ours marks the version foreign, an unfit definition is reported and left out."""
        f = sorted(v.files, key=lambda x: x.filename)[0]
        label = f"{f.filename}:{DEFINITION_LABEL}"
        v.loaded = True
        try:
            key = self.reader.key_for(f)
            text = self.store.definition(f.sha256, key) if f.sha256 else None
            if text is None and f.sha256 and self._from_bundle(v, f, key, label):
                return
            if text is None and f.sha256:
                # one reader per artifact across processes: a server that ignores Range sends
                # the whole file, which the first reader keeps and the others then read
                with self.store.lock(f.sha256):
                    text = self.store.definition(f.sha256, key) or self._read(f, key)
            elif text is None:
                text = self._read(f, None)
            self._accept(v, f, text, label)
        except NotAnArtifact:
            v.foreign = True
        except RezwheelError as e:
            _warn_once(f"rezwheel: skipping invalid package: {e}")
        except Exception as e:  # what index input can still make a library raise: not a crash
            _warn_once(f"rezwheel: skipping invalid package: {label}: {type(e).__name__}: "
                       f"{' '.join(str(e).split())[:200]}")

    def _accept(self, v: IndexVersion, f: IndexFile, text: str, label: str) -> None:
        """Parse and check a definition read for ``v`` (the same checks whoever read it)."""
        if not text:
            raise NotAnArtifact(f.filename)
        d = Definition.read(text, label)
        if not self.reader.trusted(f):
            rezdef.check_resolvable(d.data, label)
        if d.version != v.rez_version:
            raise RezwheelError(f"{label}: defines version {d.data.get('version')!r}, "
                                f"the file name says {v.rez_version!r}")
        if "base" in d.data:  # a location is the repository's to say, never the index's
            d = Definition(d.text, {k: x for k, x in d.data.items() if k != "base"})
        v.definition = d
        if self.reader.remote:
            self._follow(d.data)

    def _from_bundle(self, v: IndexVersion, f: IndexFile, key: str, label: str) -> bool:
        """Whether the family's bundle (read once, for every version) settled ``v``. An entry
        that fails a check is no entry: the file's own definition decides, read as before."""
        entries = self._bundles.get(v.project)
        if entries is None:
            with self._project_lock(v.project + "\0bundle"):  # one read, whoever asks first
                if v.project not in self._bundles:
                    try:
                        found = self.reader.bundle(v.project, self.files(v.project))
                    except (RezwheelError, OSError):  # no bundle to read: files one by one
                        found = {}
                    self._bundles[v.project] = found
            entries = self._bundles[v.project]
        text = entries.get(f.sha256)  # type: ignore[arg-type]
        if text is None:
            return False
        try:
            self._accept(v, f, text, label)
        except Exception:  # unfit here: read the file's own (refused there as it would be)
            return False
        self.store.put_hint(f.sha256, key, text)  # type: ignore[arg-type]
        return True

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
        variant's requires alone: those are computed again here from the definition rez
        resolved with (the file name is all the page gives; the layout map naming the index is
        inside the wheel, a read per file)."""
        from rezwheel.artifact.tags import variant_tags

        v = self.versions(vid.name).get(vid.version)
        if v is None:
            raise RezwheelError(f"{vid.package}: not on {redact(self.location)}")
        if vid.index is None:
            return v.files[0]
        d = self.definition(vid.name, vid.version)
        requires = [str(r) for r in (d.data if d else {}).get("variants", [])[vid.index]]
        for f in v.files:
            _, _, build, tags = parse_wheel_filename(f.filename)
            if build:
                if build[0] == vid.index:
                    return f
                continue
            names = {str(t) for t in tags}
            if any(str(variant_tags(requires, compiled)) in names for compiled in (False, True)):
                return f
        raise RezwheelError(f"{vid.package}: no file on {redact(self.location)} for variant "
                            f"{vid.index} {requires}")

    def state(self, vid: VariantId) -> Optional[str]:
        try:
            return self.file_for_variant(vid).sha256
        except RezwheelError:
            return None

    def localize(self, vid: VariantId, subpath: Optional[str]) -> str:
        """The variant's root on disk: extracted into the store, or a site path for packages
        that ask never to be localized (``rezwheel = {"localize": "never"}``)."""
        d = self.definition(vid.name, vid.version)
        if ((d.data if d else {}).get("rezwheel") or {}).get("localize") == "never":
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
        return self.store.localize(f.sha256, f.filename,
                                   lambda dest: self.reader.fetch(f, dest, show=True),
                                   restore_variant,
                                   local_path=self.reader.local_path(f),
                                   definition=d.text if d else None)

    def drop_extracted(self, root: str) -> None:
        """Forget a store root once another cache holds the copy (the wheel stays)."""
        if os.path.dirname(root) == os.path.join(self.store.root, "roots"):
            self.store.remove_root(os.path.basename(root))


DEFINITION_LABEL = "rez-package.py"
_warned: set[str] = set()


#: the family a requirement names; weak (~) and conflict (!) requests are not read ahead
_FAMILY = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)")


def _versions_of(project: str, files: list[IndexFile]) -> dict[str, IndexVersion]:
    """A project's wheels by rez version (the version mapping is reversible); other files
    (sdists, foreign names on a shared index) are no version of a rez family."""
    by_version: dict[str, IndexVersion] = {}
    for f in files:
        try:
            name, version, _, _ = parse_wheel_filename(f.filename)
            rez_version = naming.pep440_to_rez(str(version))
            _version_key(rez_version)
        except Exception:  # not a wheel of ours: a foreign file on a shared index
            continue
        if canonicalize_name(name) != project:
            continue
        by_version.setdefault(rez_version, IndexVersion(rez_version, [], project)).files.append(f)
    return by_version


def _is_sdist(filename: str, project: str) -> bool:
    from rezwheel.index.pages import dist_of

    dist = dist_of(filename)
    return not filename.endswith(".whl") and dist is not None and dist[0] == project


def _warn_once(message: str) -> None:
    """rez may open one location twice (as given, and normalized): say each thing once."""
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


def _version_key(rez_version: str) -> object:
    from rez.version import Version
    return Version(rez_version)
