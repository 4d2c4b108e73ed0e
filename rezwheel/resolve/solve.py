"""rez's solver as the library runs it, and what counts as installed.

One solve decides an install or a sync (``planner``), so rez semantics hold: variants, weak
and conflict requests, implicit packages, the configured package filter and orderers. What is
installed is what ``rez pip`` counts: the target repository, then the filesystem repositories on
rez's packages path. A context is never built, so no variant root is asked for.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Optional

from rezwheel.errors import RezwheelError
from rezwheel.resolve.wanted import Wanted

#: families rez gets from the host (implicit packages); never looked up as PyPI projects
HOST_FAMILIES = ("platform", "arch", "os", "python")


class MissingFamily(Exception):
    """rez found no package family of this name (perhaps a plain PyPI project)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message


def solve(requests: list[str], paths: list[str], extra: list[str]) -> list[Any]:
    """rez's solver, with what a context adds (implicit packages, the configured package
    filter and orderers); a context itself is never built, so no root is asked for."""
    from rez.config import config
    from rez.exceptions import RezError
    from rez.package_filter import PackageFilterList
    from rez.package_order import PackageOrderList
    from rez.solver import Solver, SolverStatus
    from rez.version import Requirement

    try:
        reqs = [Requirement(r) for r in [*requests, *extra, *config.implicit_packages]]
        solver = Solver(reqs, paths, package_filter=PackageFilterList.singleton,
                        package_orderers=PackageOrderList(PackageOrderList.singleton))
        solver.solve()
    except RezError as e:  # a family or version no repository has, a bad request
        message = f"cannot resolve {' '.join(requests)}: {' '.join(str(e).split())}"
        m = re.match(r"package family not found: ([^\s,(]+)", str(e))
        if m and m.group(1) in HOST_FAMILIES:  # rez-pip's variants name the host
            raise RezwheelError(f"{message}; no repository on rez's packages path has "
                                f"'{m.group(1)}' (rez bind {m.group(1)})") from None
        if m:
            raise MissingFamily(m.group(1), message) from None
        raise RezwheelError(message) from None
    if solver.status != SolverStatus.solved:
        why = solver.failure_description() if solver.status == SolverStatus.failed \
            else solver.abort_reason
        raise RezwheelError(f"cannot resolve {' '.join(requests)}: {' '.join(str(why).split())}")
    return [pv.variant for pv in solver.resolved_packages or []]


def installed_paths(repo: Optional[str]) -> list[str]:
    """The repositories whose packages count as installed, as ``rez pip`` sees them: the
    target first, then the filesystem repositories on rez's configured packages path (other
    locations there, such as this plugin's indexes, are not installed packages)."""
    from rez.config import config

    out: list[str] = []
    for path in ([repo] if repo else []) + list(config.packages_path):
        kind, _, location = path.rpartition("@") if "@" in path else ("filesystem", "", path)
        if kind != "filesystem" or not os.path.isdir(location):
            continue
        if all(os.path.realpath(location) != os.path.realpath(p) for p in out):
            out.append(location)
    return out


def default_python(paths: list[str]) -> Optional[str]:
    """The python to target when none is given (major.minor): this interpreter's when a
    ``python`` package of that version is installed (pip builds sdists only for the python it
    runs on), else the newest one installed, as ``rez pip`` picks it; None when none is."""
    versions = pythons(paths)
    mine = "%d.%d" % sys.version_info[:2]
    return mine if mine in versions else (versions[-1] if versions else None)


def pythons(paths: list[str]) -> list[str]:
    """The major.minor versions of the ``python`` packages installed, oldest first."""
    from rez.packages import iter_packages
    from rez.version import Version as RezVersion

    found = set()
    for p in iter_packages("python", paths=paths):
        parts = str(p.version).split(".")[:2]
        if all(x.isdigit() for x in parts):
            found.add(".".join(parts))
    return sorted(found, key=RezVersion)


def families_in(path: str) -> list[str]:
    try:
        return [n for n in os.listdir(path) if not n.startswith(".")]
    except OSError:
        return []


def as_rez(w: Wanted, family: str) -> str:
    """A PEP 508 request as a rez request on ``family`` (its range from the specifier)."""
    if w.pep is None:
        return w.text if w.rez == family else family
    if not w.pep.specifier:
        return family
    from rez.utils.pip import pip_specifier_to_rez_requirement

    try:
        rng = str(pip_specifier_to_rez_requirement(w.pep.specifier))
    except Exception:  # rez's converter knows no rez range for some (===, some != and ~=)
        raise RezwheelError(f"{w.where}: {w.pep.specifier} has no rez range") from None
    if not rng or rng == "*":
        return family
    return f"{family}{rng}" if rng[0] in "<>=!~" else f"{family}-{rng}"


def skip_context_cleanup() -> None:
    """Unregister rez's exit hook, which imports ``rez.resolved_context`` (0.2 s: pydot,
    pyparsing) to clear the temporary directories of contexts, when no context can exist: the
    module was never imported. Called once rez has solved (``lock.resolve``,
    ``install.install``)."""
    import atexit

    util = sys.modules.get("rez.util")
    if util is not None and "rez.resolved_context" not in sys.modules \
            and hasattr(util, "_atexit"):
        atexit.unregister(util._atexit)
