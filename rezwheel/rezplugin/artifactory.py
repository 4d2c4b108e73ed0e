"""rez package repository type ``artifactory``: resolve from a PyPI-style index of rezwheel
artifacts (``artifactory@https://…/simple/``, ``artifactory@studio``, ``artifactory@/dir``).

A thin adapter in the shape of rez's in-memory repository: rez resources on one side,
``rezwheel.resolve.packages.IndexRepository`` on the other. This module imports nothing heavy (rez
loads every repository plugin on start, and one that fails to import breaks all of them); the
library is imported the first time a repository of this type is used. The library's own solves
(install, mirror, lock) hand rez the ``IndexRepository`` they planned with: their flows give
the planner this module's ``bind``/``unbind``, so planning and solving read each page and
definition once.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Iterator, Optional

from rez.package_repository import PackageRepository
from rez.package_resources import (PackageFamilyResource, PackageResourceHelper,
                                   VariantResourceHelper, package_pod_schema)
from rez.utils.resources import cached_property
from rez.vendor.schema.schema import Or
from rez.version import VersionedObject

if TYPE_CHECKING:
    from rezwheel.artifact.identity import VariantId
    from rezwheel.resolve.packages import IndexRepository

TYPE = "artifactory"


def _rez_errors(fn: Any, *args: Any) -> Any:
    """Library errors as rez's own, so rez prints one line instead of a traceback. (Called
    for every family and package rez reads: the imports wait for an error.)"""
    try:
        return fn(*args)
    except Exception as e:
        from rezwheel.errors import RezwheelError

        if not isinstance(e, RezwheelError):
            raise
        from rez.exceptions import PackageRepositoryError

        from rezwheel.redaction import scrub

        raise PackageRepositoryError(scrub(str(e))) from None


class ArtifactoryFamilyResource(PackageFamilyResource):
    key = "artifactory.family"
    repository_type = TYPE

    def _uri(self) -> str:
        return f"{TYPE}@{self.location}:{self.name}"

    def iter_packages(self) -> Iterator["ArtifactoryPackageResource"]:
        # yanked versions are not offered (PEP 592); a saved context's variants are still
        # found by name and version (``get_resource``), so they read and localize as before
        for version in _rez_errors(self._repository.index.offered, self.name):
            yield self._repository.get_resource(
                ArtifactoryPackageResource.key, location=self.location, name=self.name,
                version=version)


class ArtifactoryPackageResource(PackageResourceHelper):
    key = "artifactory.package"
    variant_key = "artifactory.variant"
    repository_type = TYPE
    schema = package_pod_schema

    def _uri(self) -> str:
        return f"{TYPE}@{self.location}:{VersionedObject.construct(self.name, self.version)}"

    @property
    def base(self) -> Optional[str]:
        return None  # there is no package directory; variant roots are localized one by one

    @cached_property
    def parent(self) -> ArtifactoryFamilyResource:
        return self._repository.get_resource(
            ArtifactoryFamilyResource.key, location=self.location, name=self.name)

    def _load(self) -> dict:
        version = self.get("version") or ""
        definition = _rez_errors(self._repository.index.definition, self.name, version)
        if definition is None:
            # unfit (already reported, one line naming the file): a package that requires a
            # version of its own family below every version can never be chosen, so rez resolves
            # around it (a family nobody has would fail the whole solve instead)
            return {"name": self.name, "version": version, "requires": [f"{self.name}<0"]}
        index = self._repository.index
        v = index.versions(self.name).get(version)
        if v is not None and index.reader.trusted(v.first_file):
            return dict(definition.data)
        from rezwheel.rezplugin.latecode import context_only

        return context_only(definition.data)  # its @late() functions: in a context only


_copying = threading.local()  # set while rez's package cache copies from our root


def _package_cache() -> Any:
    """rez's package cache when it is configured for use, else None."""
    from rez.config import config

    if not (config.cache_packages_path and config.read_package_cache
            and config.write_package_cache):
        return None
    from rez.exceptions import PackageCacheError
    from rez.package_cache import PackageCache

    try:
        return PackageCache(config.cache_packages_path)
    except PackageCacheError:
        return None


class ArtifactoryVariantResource(VariantResourceHelper):
    key = "artifactory.variant"
    repository_type = TYPE

    @property
    def variant_id(self) -> "VariantId":
        from rezwheel.artifact.identity import VariantId

        return VariantId(self.name, self.get("version") or "", self.index)

    @property
    def base(self) -> Optional[str]:
        """A package without variants has its root at its base, as on disk: rez sets
        REZ_<NAME>_BASE and binds ``base`` (and finds ``@include`` modules) from it, so it is the
        localized root, not None. A variant of a package with variants has no package directory
        around it (each is localized alone): None, as the package's own base."""
        return self.root if self.index is None else None

    def _root(self, ignore_shortlinks: bool = False) -> str:
        # rez reads root once per resolved variant when it builds a context (never while
        # solving): that is when the payload is localized, synchronously, so rez env works.
        index = self._repository.index
        if getattr(_copying, "root", None):
            return _copying.root
        cache = _package_cache()
        self._repository.localize_resolved(self, cache)
        if cache is None:
            return _rez_errors(index.localize, self.variant_id, self._subpath())
        # rez users know one cache: the variant lives in rez's package cache (rez-pkg-cache lists
        # and evicts it), copied there from the store, whose extracted copy is then dropped
        from rez.packages import Variant

        variant = Variant(self)
        cached = cache.get_cached_root(variant)
        if cached:
            return cached
        store_root = _rez_errors(index.localize, self.variant_id, self._subpath())
        _copying.root = store_root
        try:
            path, _ = cache.add_variant(variant, force=True, wait_for_copying=True)
        finally:
            _copying.root = None
        if path and os.path.isdir(path):
            index.drop_extracted(store_root)
            return path
        return store_root

    @cached_property
    def parent(self) -> ArtifactoryPackageResource:
        return self._repository.get_resource(
            ArtifactoryPackageResource.key, location=self.location, name=self.name,
            version=self.get("version"))


class ArtifactoryPackageRepository(PackageRepository):
    """Packages from an index of rezwheel artifacts (see the module docstring)."""

    schema_dict = {"indexes": dict, "prefix": str, "store": str, "site_path": str,
                   "ttl": Or(int, float)}

    @classmethod
    def name(cls) -> str:
        return TYPE

    def __init__(self, location: str, resource_pool: Any,
                 index: Optional["IndexRepository"] = None) -> None:
        """``index``: read through this one (``bind``), not one of the plugin's own."""
        self._given = location
        super().__init__(normalized(location), resource_pool)
        self.register_resource(ArtifactoryFamilyResource)
        self.register_resource(ArtifactoryPackageResource)
        self.register_resource(ArtifactoryVariantResource)
        if index is not None:
            self.index = index  # what the cached property below would otherwise make
        elif self._given != self.location:
            # rez keeps a repository by its packages_path entry as written (``…/simple/``) but
            # finds each resolved variant's by ``location`` (no slash): one repository under
            # both, or every ``rez env`` would read the index again while localizing
            from rez.package_repository import package_repository_manager as manager

            if resource_pool is manager.pool:
                manager.repositories.setdefault(f"{TYPE}@{self.location}", self)

    @cached_property
    def index(self) -> "IndexRepository":
        from rez.config import config

        from rezwheel import limits, pools
        from rezwheel.resolve.packages import IndexRepository, Settings

        _rez_errors(limits.check)
        pools.quiet_exit()  # a Ctrl-C in rez's exit hooks, or in ours, ends it without a trace
        if self._given != self.location and "@" in self._given.split("://", 1)[-1].split("/")[0]:
            from rez.exceptions import PackageRepositoryError

            raise PackageRepositoryError(
                f"{TYPE}@{self.location}: credentials in a package path are refused: rez writes "
                "packages_path into every context it saves; use REZWHEEL_TOKEN, ~/.netrc or a "
                "named index")
        s = config.plugins.package_repository.artifactory
        return _rez_errors(IndexRepository, self._given, Settings(
            indexes=dict(s.indexes or {}), prefix=s.prefix or "", store=s.store or "",
            site_path=s.site_path or "", ttl=_rez_errors(_ttl, s)))

    def _uid(self) -> tuple:
        return (TYPE, self.location)

    def get_resource_from_handle(self, resource_handle: Any, verify_repo: bool = True) -> Any:
        resource = super().get_resource_from_handle(resource_handle, verify_repo)
        if verify_repo and isinstance(resource, ArtifactoryVariantResource):
            # rez finds a variant by its handle once it is resolved (after a solve, or from a
            # saved context), never while solving: the set whose roots it asks for next
            self.__dict__.setdefault("_resolved", []).append(resource)
        return resource

    def localize_resolved(self, asked: ArtifactoryVariantResource, cache: Any) -> None:
        """rez asks for the root of one variant it resolved: the others found with it by
        handle are localized side by side now (but those rez's package cache holds)."""
        from rez.packages import Variant

        resolved, self.__dict__["_resolved"] = self.__dict__.get("_resolved", []), []
        others = [(r.variant_id, r._subpath()) for r in resolved if r is not asked and
                  (cache is None or not cache.get_cached_root(Variant(r)))]
        if others:
            _rez_errors(self.index.localize_ahead, others)

    def get_package_family(self, name: str) -> Optional[ArtifactoryFamilyResource]:
        # rez asks for a family, its packages and their variants again and again while solving:
        # each answered once per process, as rez's filesystem repository does (``clear_caches``)
        self.__dict__["_resolved"] = []  # a new solve: what the last one resolved is not asked
        memo = self._memo("families")
        if name not in memo:
            memo[name] = self.get_resource(ArtifactoryFamilyResource.key, location=self.location,
                                           name=name) \
                if _rez_errors(self.index.versions, name) else None
        return memo[name]

    def _memo(self, kind: str) -> dict:
        memo = self.__dict__.setdefault("_memos", {})
        return memo.setdefault(kind, {})

    def clear_caches(self) -> None:
        self.__dict__.pop("_memos", None)
        super().clear_caches()

    def iter_package_families(self) -> Iterator[ArtifactoryFamilyResource]:
        for name in _rez_errors(self.index.family_names):
            family = self.get_package_family(name)
            if family is not None:
                yield family

    def iter_packages(self, package_family_resource: Any) -> Iterator[Any]:
        memo, key = self._memo("packages"), package_family_resource.name
        if key not in memo:
            memo[key] = list(package_family_resource.iter_packages())
        yield from memo[key]

    def iter_variants(self, package_resource: Any) -> Iterator[Any]:
        memo, key = self._memo("variants"), (package_resource.name, package_resource.get("version"))
        if key not in memo:
            memo[key] = list(package_resource.iter_variants())
        yield from memo[key]

    def get_parent_package_family(self, package_resource: Any) -> Any:
        return package_resource.parent

    def get_parent_package(self, variant_resource: Any) -> Any:
        return variant_resource.parent

    def get_variant_state_handle(self, variant_resource: Any) -> Optional[str]:
        return self.index.state(variant_resource.variant_id)

    def get_last_release_time(self, package_family_resource: Any) -> int:
        return _rez_errors(self.index.last_release_time, package_family_resource.name)


def register_plugin() -> type:
    return ArtifactoryPackageRepository


def normalized(location: str) -> str:
    """A location as rez knows the repository: the cache identity, which rez writes into
    contexts, so without a trailing slash and never holding secrets (credentials in a URL are
    kept for the index reader alone: scrubbed from every message, then refused by ``index``)."""
    if "://" not in location:
        return location
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(location)
    except ValueError:  # not a URL (``http://[::1``): said on one line when the index is made
        from rezwheel.redaction import redact

        return redact(location).rstrip("/")
    if "@" in parts.netloc:
        from rezwheel.credentials import split_url

        split_url(location)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])).rstrip("/")


#: package path -> the repository rez held there before ``bind`` (None: none)
_BOUND: dict[str, Any] = {}


def bind(index: "IndexRepository") -> str:
    """The package path (``artifactory@<location>``) whose rez repository reads through
    ``index``, for a solve run by the library itself: an install plans with ``index`` and
    rez's solver then reads the same pages and definitions, not a second copy. Until
    ``unbind``, that path in rez's repository manager is this one (what was there comes back)."""
    from rez.package_repository import package_repository_manager as manager

    path = f"{TYPE}@{normalized(index.location)}"
    _BOUND.setdefault(path, manager.repositories.get(path))
    manager.repositories[path] = ArtifactoryPackageRepository(index.location, manager.pool, index)
    return path


def unbind(path: str) -> None:
    """Give rez's repository manager back what it held at ``path`` before ``bind``."""
    from rez.package_repository import package_repository_manager as manager

    previous = _BOUND.pop(path, None)
    if previous is None:
        manager.repositories.pop(path, None)
    else:
        manager.repositories[path] = previous


def _ttl(settings: object) -> float:
    """The plugin-wide ``ttl`` (seconds), or ``$REZWHEEL_TTL`` (a farm node's environment)."""
    from rezwheel.config import seconds

    value = os.environ.get("REZWHEEL_TTL") or getattr(settings, "ttl", 0) or 0
    ttl = seconds(value)
    if ttl is None:
        from rezwheel.errors import UsageError

        where = "$REZWHEEL_TTL" if os.environ.get("REZWHEEL_TTL") else "ttl"
        raise UsageError(f"{where}: {str(value)[:40]!r} is not a number of seconds")
    return ttl
