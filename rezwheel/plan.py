"""Planning installs and mirror syncs: rez requests -> index files -> target paths.

One rez solve decides everything, so rez semantics hold (variants, weak and conflict requests,
implicit packages, the package filter). Our artifacts take part through the plugin's repository
class. Plain PyPI distributions are resolved by pip against the same indexes and join the solve
as rez-pip style definitions in a scratch repository: the requested ones before the first
solve, one that our packages require when rez reports its family missing (then solved again).
What is already in the target repository counts as installed. Planning downloads no payload:
definitions come from the store, PEP 658 files or range reads, and pip reads metadata alike.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Optional

from packaging.requirements import Requirement as PipRequirement
from packaging.utils import canonicalize_name

from . import fsrepo, pypi
from .errors import RezwheelError
from .index.simple import IndexFile
from .repository import IndexRepository, Settings

#: families rez gets from the host (implicit packages); never looked up as PyPI projects
HOST_FAMILIES = ("platform", "arch", "os", "python")


@dataclass
class Step:
    """One variant to put in place: what rez chose, which file holds it, where it goes."""
    rez_name: str
    rez_version: str
    variant: Optional[int]
    kind: str  # "rezwheel" | "pypi" | "installed" (resolved from the target repository)
    file: str
    url: str
    sha256: Optional[str]
    root: str
    status: str  # "install" | "present"
    source: Any = field(default=None, repr=False)  # the index reader that fetches the file
    index_file: Optional[IndexFile] = field(default=None, repr=False)
    data: Optional[dict] = field(default=None, repr=False)  # pypi: the rez definition
    definition: Optional[str] = field(default=None, repr=False)  # ours: the text resolved with

    @property
    def package(self) -> str:
        return f"{self.rez_name}-{self.rez_version}" if self.rez_version else self.rez_name

    def as_json(self) -> dict:
        return {"package": self.package, "variant": self.variant, "kind": self.kind,
                "file": self.file, "url": _redact(self.url), "sha256": self.sha256,
                "root": self.root, "status": self.status}


def _redact(url: str) -> str:
    from .http import redact
    return redact(url)


class MissingFamily(Exception):
    """rez found no package family of this name (perhaps a plain PyPI project)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message


class Planner:
    """Reads the indexes (in order) for one install or sync."""

    def __init__(self, indexes: list[str], target: pypi.Target, prefix: str = "",
                 store: Optional[str] = None, explicit_python: bool = False,
                 force: bool = False) -> None:
        if not indexes:
            raise RezwheelError("no index given (--index URL|NAME|DIR)")
        self.locations = indexes
        self.target = target
        self.explicit_python = explicit_python
        self.force = force
        self.repos = [IndexRepository(loc, Settings(prefix=prefix, store=store or ""))
                      for loc in indexes]
        self.scratch = tempfile.mkdtemp(prefix="rezwheel-plan-")
        self.last_chosen: set[tuple[str, str, Optional[int]]] = set()

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> "Planner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def tried(self) -> str:
        return ", ".join(_redact(s.url) for r in self.repos for s in r.sources)

    # -- which families are ours, which are plain PyPI projects
    def _plain(self, name: str) -> bool:
        project = canonicalize_name(name)
        return any(r.is_plain_project(project) for r in self.repos)

    def classify(self, requests: list[str], repo: Optional[str]) -> list[str]:
        """Read the requested families side by side (pages and definitions land in memory for
        the solve); returns pip requirements for the plain PyPI projects among them. A family
        that is nowhere is an error naming every index tried."""
        from rez.version import Requirement

        reqs = [Requirement(r) for r in requests]
        names = sorted({r.name for r in reqs if not (r.conflict or r.weak or r.name.startswith(
            ".") or r.name in HOST_FAMILIES)})
        with cf.ThreadPoolExecutor(8, thread_name_prefix="rezwheel-plan") as pool:
            found = pool.map(self._kind, names)
            _warm_imports()  # rez's solver and installer load while the pages are on the wire
            kinds = dict(zip(names, found))
        unknown = [n for n, k in kinds.items()
                   if k is None and not (repo and os.path.isdir(os.path.join(repo, n)))]
        if unknown:
            raise RezwheelError(f"{', '.join(unknown)}: no such package on {self.tried()}"
                                + (f" nor in {repo}" if repo else ""))
        return [canonicalize_name(r.name) + _specifier(r) for r in reqs
                if kinds.get(r.name) == "pypi"]

    def _kind(self, name: str) -> Optional[str]:
        if any(r.versions(name) for r in self.repos):
            return "rezwheel"
        return "pypi" if self._plain(name) else None

    def pip_index_urls(self) -> list[str]:
        urls = []
        for r in self.repos:
            for src in r.sources:
                if "://" not in src.url:
                    urls.append("file://" + os.path.join(src.url, "simple") + "/")
                else:
                    urls.append(_with_credentials(src.url, src.credential))
        return urls

    def resolve_plain(self, requirements: list[str], no_deps: bool = False) -> dict[str, tuple]:
        """pip's picks as rez definitions, written to the scratch repository for the solve."""
        picks = pypi.pip_resolve(requirements, self.pip_index_urls(), self.target, no_deps)
        out = {}
        for p in picks:
            data = pypi.definition(p.metadata, p.filename, self.target,
                                   _redact(self._index_for(p.url).url), p.sha256)
            pkg_dir = os.path.join(self.scratch, data["name"], data["version"])
            os.makedirs(pkg_dir, exist_ok=True)
            fsrepo.write_definition(os.path.join(pkg_dir, "package.py"), data)
            out[data["name"]] = (p, data)
        return out

    def _index_for(self, url: str) -> Any:
        """The index reader a file pip picked comes from: the one whose files that URL may be
        (its origin or files hosts; a local index's directory). pip's report is as much index
        input as a page, so a URL that belongs to no index given is refused."""
        for src in (s for r in self.repos for s in r.sources):
            if src.allow(url):
                return src
        raise RezwheelError(f"{_redact(url)}: pip picked a file from outside the indexes given "
                            f"({self.tried()}); refused")

    # -- the plan
    def plan(self, requests: list[str], repo: Optional[str], no_deps: bool = False,
             all_variants: bool = False) -> list[Step]:
        """Steps for ``requests``; ``repo`` (the install target) counts as installed.

        ``all_variants``: every variant of each chosen package version (a mirror serves hosts
        that differ from this one), not just the one rez chose here.
        """
        pip_reqs = self.classify(requests, repo)
        plain = self.resolve_plain(pip_reqs, no_deps) if pip_reqs else {}
        asked = {canonicalize_name(PipRequirement(r).name) for r in pip_reqs}
        while True:
            try:
                variants = self._latest(requests) if no_deps else self._solve(requests, repo)
                break
            except MissingFamily as e:
                # one of our packages requires a plain PyPI project: pip picks it (by name:
                # the rez solve then checks its version against every range that applies)
                project = canonicalize_name(e.name)
                if project in asked or not self._plain(e.name):
                    raise RezwheelError(e.message) from None
                asked.add(project)
                pip_reqs.append(project)
                plain = self.resolve_plain(pip_reqs, no_deps)
        # the variants rez chose, before all_variants widens the steps
        self.last_chosen = {(v.name, str(v.version), v.index) for v in variants}
        steps = []
        for v in variants:
            if v.repository.name() == "artifactory":
                index = v.repository.index
                indices = range(len(v.parent.variants or [])) if all_variants and v.index \
                    is not None else [v.index]
                for i in indices:
                    steps.append(self._ours_step(index, v.name, str(v.version), i, repo))
            elif os.path.realpath(v.resource.location) == os.path.realpath(self.scratch):
                pick, data = plain[v.name]
                steps.append(self._plain_step(pick, data, repo))
            else:  # already in the target repository
                steps.append(Step(v.name, str(v.version), v.index, "installed", "", "", None,
                                  v.root, "present"))
        return steps

    def _bind(self) -> list[str]:
        """The package paths of the solve, with rez's repository objects reading through our
        IndexRepository instances (so one set of page reads serves planning and solving)."""
        from rez.package_repository import package_repository_manager

        paths = []
        for loc, r in zip(self.locations, self.repos):
            # the location as the plugin normalizes it: rez finds a variant's repository by it
            path = f"artifactory@{loc.rstrip('/') if '://' in loc else loc}"
            package_repository_manager.get_repository(path).index = r
            paths.append(path)
        return paths

    def _scratch(self) -> list[str]:
        return [self.scratch] if os.listdir(self.scratch) else []

    def _solve(self, requests: list[str], repo: Optional[str]) -> list[Any]:
        """rez's solver, with what a context adds (implicit packages, the configured package
        filter and orderers); a context itself is never built, so no root is asked for."""
        from rez.config import config
        from rez.exceptions import RezError
        from rez.package_filter import PackageFilterList
        from rez.package_order import PackageOrderList
        from rez.solver import Solver, SolverStatus
        from rez.version import Requirement

        # what the repository holds wins over the same version on an index (present is a no-op),
        # unless --force asks for the index's definition
        have = [repo] if repo and os.path.isdir(repo) else []
        paths = (have if not self.force else []) + self._bind() + self._scratch() + (
            have if self.force else [])
        extra = [f"~python-{self.target.short}"] if self.explicit_python else []
        try:
            reqs = [Requirement(r) for r in [*requests, *extra, *config.implicit_packages]]
            solver = Solver(reqs, paths, package_filter=PackageFilterList.singleton,
                            package_orderers=PackageOrderList(PackageOrderList.singleton))
            solver.solve()
        except RezError as e:  # a family or version no repository has, a bad request
            message = f"cannot resolve {' '.join(requests)}: {' '.join(str(e).split())}"
            m = re.match(r"package family not found: ([^\s,(]+)", str(e))
            if m:
                raise MissingFamily(m.group(1), message) from None
            raise RezwheelError(message) from None
        if solver.status != SolverStatus.solved:
            why = solver.failure_description() if solver.status == SolverStatus.failed \
                else solver.abort_reason
            raise RezwheelError(f"cannot resolve {' '.join(requests)}: {' '.join(str(why).split())}")
        return [pv.variant for pv in solver.resolved_packages or []]

    def _latest(self, requests: list[str]) -> list[Any]:
        """--no-deps: the newest version in range of each request, by itself."""
        from rez.packages import iter_packages

        from rez.version import Requirement

        paths = self._bind() + self._scratch()
        out = []
        for request in requests:
            req = Requirement(request)
            found = sorted(iter_packages(req.name, range_=req.range, paths=paths),
                           key=lambda p: p.version)
            if not found:
                raise RezwheelError(f"{request}: no such package on {self.tried()}")
            out.extend(found[-1].iter_variants())
        return out

    def _ours_step(self, index: IndexRepository, name: str, version: str, variant: Optional[int],
                   repo: Optional[str]) -> Step:
        f = index.file_for_variant(name, version, variant)
        data = index.definition(name, version) or {}
        root = fsrepo.variant_root(repo or "", name, version, fsrepo.variant_subpath(data, variant))
        present = bool(repo) and fsrepo.is_installed(repo, data, variant)
        return Step(name, version, variant, "rezwheel", f.filename, f.url, f.sha256, root,
                    "present" if present else "install", index.source, f,
                    definition=index.definition_text(name, version))

    def _plain_step(self, pick: pypi.Pick, data: dict, repo: Optional[str]) -> Step:
        root = fsrepo.variant_root(repo or "", data["name"], data["version"],
                                   fsrepo.variant_subpath(data, 0))
        present = bool(repo) and pypi.is_installed(repo, data)
        return Step(data["name"], data["version"], 0 if data.get("variants") else None, "pypi",
                    pick.filename, pick.url, pick.sha256, root,
                    "present" if present else "install", self._index_for(pick.url), None, data)


def _warm_imports() -> None:
    import importlib

    for module in ("rez.solver", "rez.package_filter", "rez.package_order", "rezwheel.apply"):
        importlib.import_module(module)


def _specifier(req: Any) -> str:
    from . import naming

    return "" if req.range.is_any() else naming.range_to_specifier(str(req.range))


def _with_credentials(url: str, cred: Any) -> str:
    """An index URL pip can read: credentials go in it (pip redacts them when printing)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    if not cred:
        return url
    user, secret = cred.basic()
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(secret, safe='')}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc))
