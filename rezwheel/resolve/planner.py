"""Planning installs and mirror syncs: rez requests -> index files -> target paths.

One rez solve decides everything, so rez semantics hold (variants, weak and conflict requests,
implicit packages, the package filter). Our artifacts take part through the plugin's repository
class. Plain PyPI distributions are resolved by pip against the same indexes and join the solve
as rez-pip style definitions in a scratch repository: the requested ones before the first
solve, one that our packages require when rez reports its family missing (then solved again).
What is already in the target repository counts as installed (``solve``: rez's solver, and
what counts as installed). Planning downloads no payload:
definitions come from the store, PEP 658 files or range reads, and pip reads metadata alike.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from packaging.requirements import Requirement as PipRequirement
from packaging.utils import canonicalize_name

from rezwheel.artifact import rezdef
from rezwheel.artifact.identity import VariantId
from rezwheel.errors import RezwheelError
from rezwheel.index.pages import IndexFile
from rezwheel.pools import Pool, threads
from rezwheel.resolve.pip import Pick, pip_resolve
from rezwheel.resolve.solve import (HOST_FAMILIES, MissingFamily, as_rez, families_in,
                                    installed_paths, pythons, solve)
from rezwheel.resolve import yanked
from rezwheel.resolve.wanted import Asked, Wanted, parse, pep_pin, pip_pin, release_of, rez_pin
from rezwheel.rezrepo import fsrepo, rezpip

if TYPE_CHECKING:
    from rezwheel.artifact.rezdef import Definition
    from rezwheel.index.readers import IndexReader
    from rezwheel.resolve.packages import IndexRepository

@dataclass
class Step:
    """One variant to put in place: what rez chose, which file holds it, where it goes.

    ``definition``: ours, the definition rez resolved with (parsed once, by the index
    repository; install checks the wheel embeds exactly that). ``data``: a plain project's
    rez-pip definition, made from pip's report and written by install as it is (a dict: it was
    never text, and a ``Definition`` would cost a dump for nothing)."""
    id: VariantId
    kind: str  # "rezwheel" | "pypi" | "installed" (resolved from the target repository)
    file: Optional[IndexFile]  # None when installed already
    root: str
    status: str  # "install" | "present"
    reader: Optional["IndexReader"] = field(default=None, repr=False)  # fetches ``file``
    definition: Optional["Definition"] = field(default=None, repr=False)
    data: Optional[dict] = field(default=None, repr=False)
    local: Optional[str] = field(default=None, repr=False)  # a wheel built here from an sdist

    @property
    def package(self) -> str:
        return self.id.package

    @property
    def filename(self) -> str:
        return self.file.filename if self.file else ""

    def as_json(self) -> dict:
        f = self.file
        return {"package": self.package, "variant": self.id.index, "kind": self.kind,
                "file": self.filename, "url": _redact(f.url) if f else "",
                "sha256": f.sha256 if f else None, "root": self.root, "status": self.status}


def _redact(url: str) -> str:
    from rezwheel.index.http import redact
    return redact(url)


class Planner:
    """Reads the indexes (in order) for one install or sync."""

    def __init__(self, indexes: "list[str] | list[IndexRepository]", target: rezpip.Target,
                 prefix: str = "", store: Optional[str] = None, explicit_python: bool = False,
                 force: bool = False, only_binary: bool = False, build: bool = True, *,
                 bind: Callable[["IndexRepository"], str], unbind: Callable[[str], None]
                 ) -> None:
        """``indexes``: locations (URLs, directories, configured names), or index repositories
        already open (a mirror's upstream, whose pages its caller has read).

        ``bind``/``unbind``: the plugin's (``rezplugin.artifactory``), given by the flow that
        plans: ``bind`` makes an index repository rez's repository at the package path it
        returns, ``unbind`` gives rez back what that path held. The plugin sits above this
        layer, so the planner is handed them rather than finding the plugin itself."""
        if not indexes:
            raise RezwheelError("no index given (--index URL|NAME|DIR)")
        self.target = target
        self.explicit_python = explicit_python
        self.force = force
        self.only_binary = only_binary
        self.build = build  # sdists become wheels (install); a mirror copies them as they are
        self.store = store
        self.have: list[str] = []  # the repositories counted as installed (``plan``)
        self._builds: Optional[Pool] = None  # sdists built ahead (_prebuild)
        from rezwheel.resolve.packages import IndexRepository, Settings

        self.repos = [i if isinstance(i, IndexRepository) else
                      IndexRepository(i, Settings(prefix=prefix, store=store or ""))
                      for i in indexes]
        self.scratch = tempfile.mkdtemp(prefix="rezwheel-plan-")
        self.last_chosen: set[VariantId] = set()
        self._bind, self._unbind = bind, unbind
        #: package path bound to rez (``package_paths``) -> the index repository it reads
        self._bound: dict[str, "IndexRepository"] = {}
        self.pins: set[tuple[str, str]] = set()  # pinned exactly: offered even if yanked
        self._said: set[tuple[str, str]] = set()  # yanked packages chosen, said once

    def close(self) -> None:
        if self._builds is not None:  # a guess pip did not confirm is not waited for
            self._builds.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.scratch, ignore_errors=True)
        for path in self._bound:
            self._unbind(path)
        self._bound = {}

    def __enter__(self) -> "Planner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def tried(self) -> str:
        return ", ".join(_redact(s.url) for r in self.repos for s in r.readers)

    # -- which requests are rez requests, which are pip requirements (see ``wanted``)
    def _plain(self, name: str) -> bool:
        project = canonicalize_name(name)
        return any(r.is_plain_project(project) for r in self.repos)

    def _lookup(self, key: tuple[str, str], have: list[str]) -> Optional[str]:
        """("rez", family) -> "local" | "ours" | None; ("pep", project) -> "plain" |
        "ours:<family>" | None."""
        kind, name = key
        if kind == "rez":  # the indexes first: an installed plain project may be upgraded
            if any(r.versions(name) for r in self.repos):
                return "ours"
            if self._plain(name):
                return "plain"
            return "local" if any(os.path.isdir(os.path.join(p, name)) for p in have) else None
        for r in self.repos:
            family = r.family_of(name)
            if family:
                return "ours:" + family
        return "plain" if self._plain(name) else None

    def _lookups(self, keys: set[tuple[str, str]], have: list[str]) -> dict:
        with threads(8, "rezwheel-plan") as pool:
            return dict(zip(sorted(keys), pool.map(lambda k: self._lookup(k, have),
                                                   sorted(keys))))

    def classify(self, asked: Asked, have: list[str], repo: Optional[str] = None
                 ) -> tuple[list[str], list[Wanted], list[str], list[str]]:
        """(rez requests, pip requirements, rez constraints, pip constraints) for ``asked``.

        The index reads happen side by side (pages and definitions land in memory for the
        solve). A request nothing holds is an error naming every index tried."""
        env = self.target.markers()
        live = [w for w in asked.wanted if not (w.pep and w.pep.marker and w.rez is None
                                                and not w.pep.marker.evaluate(env))]
        # the rez readings first; the PEP 508 reading only of tokens whose rez reading names
        # nothing (``importlib-metadata``), so no page is read twice for one token
        rez_keys = {("rez", w.rez) for w in live if w.rez and not (
            w.text[:1] in "!~" or _host(w))}
        kinds = self._lookups(rez_keys, have)
        _warm_imports()  # rez's solver and installer load while the pages are on the wire
        kinds.update(self._lookups({("pep", canonicalize_name(w.pep.name)) for w in (
            *live, *asked.constraints) if w.pep and w.text[:1] not in "!~" and not kinds.get(
            ("rez", w.rez)) and not _host(w)}, have))
        rez_reqs: list[str] = []
        pip_reqs: list[Wanted] = []
        for w in live:
            rez_kind = kinds.get(("rez", w.rez)) if w.rez else None
            if rez_kind == "plain":  # a plain project: pip's spelling as typed, else a pin
                pip_reqs.append(w if w.pep and canonicalize_name(w.pep.name) == canonicalize_name(
                    w.rez) else self._pin(w))
                continue
            if w.text[:1] in "!~" or _host(w) or (w.rez and rez_kind):
                rez_reqs.append(w.text)
                continue
            kind = kinds.get(("pep", canonicalize_name(w.pep.name))) if w.pep else None
            if kind is None:
                raise RezwheelError(f"{w.where}: no such package on {self.tried()}"
                                    + (f" nor in {repo}" if repo else ""))
            if kind.startswith("ours:"):
                rez_reqs.append(as_rez(w, kind[5:]))
                self.pins |= {p for p in [pep_pin(w, kind[5:])] if p}
            else:
                pip_reqs.append(w)
        rez_constraints, pip_constraints = [], []
        for w in asked.constraints:
            kind = kinds.get(("pep", canonicalize_name(w.pep.name))) if w.pep else None
            if kind and kind.startswith("ours:"):
                rez_constraints.append("~" + as_rez(w, kind[5:]))
            elif kind:
                pip_constraints.append(str(w.pep))
        return rez_reqs, pip_reqs, rez_constraints, pip_constraints

    def _pin(self, w: Wanted) -> Wanted:
        project = canonicalize_name(w.rez or "")
        return pip_pin(w, [f for r in self.repos for f in r.files(project)], self.tried())

    def pip_index_urls(self) -> list[str]:
        return [reader.pip_url() for r in self.repos for reader in r.readers]

    def resolve_plain(self, requirements: list[str], no_deps: bool = False,
                      constraints: Optional[list[str]] = None) -> dict[str, tuple]:
        """pip's picks as rez definitions, written to the scratch repository for the solve
        (sdists built into wheels first, when installing)."""
        pending = self._prebuild(requirements)
        picks = pip_resolve(requirements, self.pip_index_urls(), self.target, no_deps,
                            constraints, self.only_binary)
        # requirement names as the families are spelled: installed ones, then pip's picks
        names = {canonicalize_name(n): n for p in reversed(self.have) for n in families_in(p)}
        names.update({canonicalize_name(p.name): rezpip.rez_name(p.name) for p in picks})
        out = {}
        for p in picks:
            index = _redact(self._index_for(p.url).url)
            wheel = p.filename
            if p.is_sdist and self.build:
                from rezwheel.resolve import sdist
                from rezwheel.resolve.store import Store

                if p.sha256 in pending:  # built while pip resolved: wait for it
                    cf.wait([pending[p.sha256]])
                p = sdist.build(p, self._index_for(p.url), self.pip_index_urls(),
                                Store(self.store))
                wheel = p.filename
            elif p.is_sdist:  # a mirror copies the sdist; the solve only needs a definition
                wheel = f"{canonicalize_name(p.name).replace('-', '_')}-{p.version}-py3-none-any.whl"
            data = rezpip.definition(p.metadata, wheel, self.target, index, p.sha256, p.extras,
                                   p.sdist, names)
            pkg_dir = os.path.join(self.scratch, data["name"], data["version"])
            os.makedirs(pkg_dir, exist_ok=True)
            fsrepo.write_definition(os.path.join(pkg_dir, "package.py"), data)
            out[data["name"]] = (p, data)
        return out

    def _prebuild(self, requirements: list[str]) -> dict[str, "cf.Future"]:
        """Builds started while pip resolves, by sdist sha256: a requested project whose
        releases in range are sdists only (pip will pick the newest) is built now, since the
        build is the long wait. A guess pip does not confirm costs a build kept in the store;
        a failed one is reported when the real build runs."""
        if not self.build or self.only_binary or self.target.short != "%d.%d" % \
                sys.version_info[:2]:
            return {}
        from rezwheel.resolve import sdist
        from rezwheel.resolve.store import Store

        futures: dict[str, cf.Future] = {}
        for text in requirements:
            req = PipRequirement(text)
            project = canonicalize_name(req.name)
            files = [(f, r.reader) for r in self.repos for f in r.files(project)]
            releases = [(v, f, reader) for f, reader in files
                        if (v := release_of(f.filename, project)) is not None and f.yanked is None]
            in_range = [t for t in releases if req.specifier.contains(t[0])]
            if not in_range or any(f.filename.endswith(".whl") for _, f, _ in in_range):
                continue
            v, f, reader = max(in_range, key=lambda t: t[0])
            if f.sha256 and f.sha256 not in futures:
                pick = Pick(project, str(v), f.filename, f.url, f.sha256, {})
                futures[f.sha256] = self._builder().submit(
                    sdist.build, pick, reader, self.pip_index_urls(), Store(self.store))
        return futures

    def _builder(self) -> Pool:
        if self._builds is None:  # a build in flight never holds the process at exit
            self._builds = Pool(2, "rezwheel-build")
        return self._builds

    def _index_for(self, url: str) -> "IndexReader":
        """The index reader a file pip picked comes from: the one whose files that URL may be
        (its origin or files hosts; a local index's directory). pip's report is as much index
        input as a page, so a URL that belongs to no index given is refused."""
        for reader in (s for r in self.repos for s in r.readers):
            if reader.allow(url):
                return reader
        raise RezwheelError(f"{_redact(url)}: pip picked a file from outside the indexes given "
                            f"({self.tried()}); refused")

    # -- the plan
    def plan(self, asked: "Asked | list[str]", repo: Optional[str], no_deps: bool = False,
             all_variants: bool = False) -> list[Step]:
        """Steps for ``asked``; ``repo`` (the install target) and the filesystem repositories
        on rez's packages path count as installed.

        ``all_variants``: every variant of each chosen package version (a mirror serves hosts
        that differ from this one), not just the one rez chose here. (``satisfied`` first
        tells, without reading an index, when nothing is to be done.)
        """
        if not isinstance(asked, Asked):
            asked = Asked([parse(r) for r in asked])
        have = self.have = installed_paths(repo)
        if self.explicit_python:
            self._check_python(have)
        pinned = set(self.pins)
        requests, pip_wanted, rez_constraints, pip_constraints = self.classify(asked, have, repo)
        # PEP 592 as pip and uv apply it: a yanked version is chosen only when pinned exactly
        self.pins |= {p for r in requests if (p := rez_pin(r)) is not None}
        for r in self.repos:
            r.pins |= self.pins
        if self._bound:  # rez keeps what an earlier solve was offered
            yanked.forget_offered(self._bound, self.pins - pinned)
        pip_reqs = [str(w.pep) for w in pip_wanted]
        plain = self.resolve_plain(pip_reqs, no_deps, pip_constraints) if pip_reqs else {}
        # pip chose the versions of what was asked its way: the solve takes exactly those
        by_project = {canonicalize_name(p.name): data for p, data in plain.values()}
        requests = requests + [f"{d['name']}=={d['version']}" for d in (
            by_project.get(canonicalize_name(w.pep.name)) for w in pip_wanted) if d]
        asked_projects = {canonicalize_name(w.pep.name) for w in pip_wanted}
        while True:
            try:
                variants = self._latest(requests) if no_deps else self._solve(
                    requests + rez_constraints, have)
                break
            except MissingFamily as e:
                # one of our packages requires a plain PyPI project: pip picks it (by name:
                # the rez solve then checks its version against every range that applies)
                project = canonicalize_name(e.name)
                if project in asked_projects or not self._plain(e.name):
                    raise RezwheelError(e.message) from None
                asked_projects.add(project)
                pip_reqs.append(project)
                plain = self.resolve_plain(pip_reqs, no_deps, pip_constraints)
        # the variants rez chose, before all_variants widens the steps
        self.last_chosen = {VariantId(v.name, str(v.version), v.index) for v in variants}
        yanked.say_chosen(variants, self._bound, self._said)
        steps = []
        for v in variants:
            index = self._bound.get(str(v.repository))  # rez names a repository type@location
            if index is not None:
                indices = range(len(v.parent.variants or [])) if all_variants and v.index \
                    is not None else [v.index]
                for i in indices:
                    steps.append(self._ours_step(index, VariantId(v.name, str(v.version), i),
                                                 repo))
            elif os.path.realpath(v.resource.location) == os.path.realpath(self.scratch):
                pick, data = plain[v.name]
                steps.append(self._plain_step(pick, data, repo))
            else:  # already installed: the target repository, or rez's packages path
                steps.append(Step(VariantId(v.name, str(v.version), v.index), "installed",
                                  None, v.root, "present"))
        return steps

    def package_paths(self) -> list[str]:
        """The package paths of the indexes for rez's solver: rez's own ``artifactory``
        repository type (``bind``, given to the planner) reading through this planner's
        IndexRepository instances, so one set of page reads serves planning and solving.
        ``close`` gives rez back what those paths held."""
        if not self._bound:
            self._bound = {self._bind(r): r for r in self.repos}
        return list(self._bound)

    def _scratch(self) -> list[str]:
        return [self.scratch] if os.listdir(self.scratch) else []

    def _solve(self, requests: list[str], have: list[str]) -> list[Any]:
        # what is installed wins over the same version on an index (present is a no-op),
        # unless --force asks for the index's definition
        read = self.package_paths() + self._scratch()
        paths = (have if not self.force else []) + read + (have if self.force else [])
        return solve(requests, paths,
                     [f"~python-{self.target.short}"] if self.explicit_python else [])

    def _check_python(self, have: list[str]) -> None:
        """The target python is a package somewhere (else pip would say no wheel fits, and
        rez that python-X.Y conflicts with ~python-X.Y): say what is missing, first."""
        found = set(pythons(have))
        for r in self.repos:
            found |= {".".join(v.split(".")[:2]) for v in r.versions("python")}
        if self.target.short not in found:
            raise RezwheelError(
                f"--python {self.target.python}: no python-{self.target.short} package on rez's "
                "packages path or the indexes" + (f" (there: {', '.join(sorted(found))})"
                                                  if found else " (rez bind python makes one)"))

    def _latest(self, requests: list[str]) -> list[Any]:
        """--no-deps: the newest version in range of each request, by itself."""
        from rez.packages import iter_packages

        from rez.version import Requirement

        paths = self.package_paths() + self._scratch()
        out = []
        for request in requests:
            req = Requirement(request)
            found = sorted(iter_packages(req.name, range_=req.range, paths=paths),
                           key=lambda p: p.version)
            if not found:
                raise RezwheelError(f"{request}: no such package on {self.tried()}")
            out.extend(found[-1].iter_variants())
        return out

    def _ours_step(self, index: "IndexRepository", vid: VariantId, repo: Optional[str]) -> Step:
        f = index.file_for_variant(vid)
        definition = index.definition(vid.name, vid.version)
        root = fsrepo.variant_root(repo or "", vid.name, vid.version,
                                   definition.variant_subpath(vid.index) if definition else "")
        present = bool(repo) and fsrepo.is_installed(repo, definition.data if definition else {},
                                                     vid.index)
        return Step(vid, "rezwheel", f, root, "present" if present else "install", index.reader,
                    definition)

    def _plain_step(self, pick: Pick, data: dict, repo: Optional[str]) -> Step:
        root = fsrepo.variant_root(repo or "", data["name"], data["version"],
                                   rezdef.variant_subpath(data, 0))
        variant = 0 if data.get("variants") else None
        present = bool(repo) and fsrepo.is_installed(repo, data, variant)
        return Step(VariantId(data["name"], data["version"], variant),
                    "pypi", IndexFile(pick.filename, pick.url, pick.sha256, None), root,
                    "present" if present else "install",
                    None if pick.local else self._index_for(pick.url), data=data,
                    local=pick.local)


def satisfied(asked: Asked, repo: str, target: rezpip.Target,
              explicit_python: bool = False) -> Optional[list[Step]]:
    """Without reading any index: the steps when every request is met by what is installed
    (the target repository and rez's packages path), else None. A pip requirement is met by
    the installed package of that project (any spelling) in range, with its extras. This is a
    re-run's whole cost, so it imports no HTTP or index code."""
    have = installed_paths(repo)
    if not have or not asked.wanted:
        return None
    installed = {canonicalize_name(n): n for p in reversed(have) for n in families_in(p)}
    requests, extras = [], {}
    env = target.markers()
    for w in asked.wanted:
        if w.pep and w.pep.marker and w.rez is None and not w.pep.marker.evaluate(env):
            continue
        if w.text[:1] in "!~" or (w.rez and (w.rez in HOST_FAMILIES or any(
                os.path.isdir(os.path.join(p, w.rez)) for p in have))):
            requests.append(w.text)
            continue
        family = installed.get(canonicalize_name(w.pep.name)) if w.pep else None
        if family is None:
            return None
        requests.append(w)
        extras[family] = {canonicalize_name(x) for x in w.pep.extras}
    extra = [f"~python-{target.short}"] if explicit_python else []
    try:
        requests = [r if isinstance(r, str) else as_rez(r, installed[canonicalize_name(
            r.pep.name)]) for r in requests] + [
            "~" + as_rez(w, installed[canonicalize_name(w.pep.name)]) for w in asked.constraints
            if w.pep and canonicalize_name(w.pep.name) in installed]
        variants = solve(requests, have, extra)
    except (RezwheelError, MissingFamily):
        return None
    for v in variants:
        if extras.get(v.name) and not extras[v.name] <= set(
                ((v.parent.data or {}).get("pip") or {}).get("extras") or []):
            return None
    return [Step(VariantId(v.name, str(v.version), v.index), "installed", None, v.root,
                 "present") for v in variants]


def _host(w: Wanted) -> bool:
    """A request rez answers from the host (``python-3.11``, ``platform-linux``) or a
    ``.build`` one: never looked up on an index, under either reading (``python-3.11`` is no
    PyPI project ``python-3-11``: asking would cost a page, and offline an error)."""
    return bool(w.rez) and (w.rez in HOST_FAMILIES or w.rez.startswith("."))


def _warm_imports() -> None:
    import rez.package_filter  # noqa: F401
    import rez.package_order  # noqa: F401
    import rez.solver  # noqa: F401

    import rezwheel.rezrepo.restore  # noqa: F401
