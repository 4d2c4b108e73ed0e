"""What a user asks ``install`` for: rez requests, PEP 508 requirements, requirement files.

A token on the command line can be read two ways: ``importlib-metadata`` is rez's family
``importlib`` at version ``metadata`` and pip's project ``importlib-metadata``. Which reading holds
is decided against what exists (``plan.Planner.classify``): the rez reading when its family is a
rez family (installed, on rez's packages path, or a rezwheel project on an index), else the PEP 508
reading when it names a project on an index. Tokens only one grammar accepts (``!foo``,
``requests[socks]``, ``foo~=1.2``, markers) have one reading. Lines of requirement and constraint
files are PEP 508 only, as pip reads them.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Optional

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement

from rezwheel.errors import RezwheelError, UsageError
from rezwheel.index.pages import IndexFile, dist_of


@dataclass
class Wanted:
    """One request as given, with the readings its text allows."""
    text: str
    origin: str  # "command line" or "requirements.txt:3"
    rez: Optional[str] = None  # the rez reading's family, when rez parses the text
    pep: Optional[Requirement] = field(default=None, repr=False)  # the PEP 508 reading

    @property
    def where(self) -> str:
        return self.text if self.origin == "command line" else f"{self.origin}: {self.text}"


def parse(text: str, origin: str = "command line", pep_only: bool = False) -> Wanted:
    """Both readings of ``text``; a usage error naming it when neither grammar accepts it."""
    w = Wanted(text.strip(), origin)
    if not pep_only:
        from rez.utils.formatting import is_valid_package_name
        from rez.version import Requirement as RezRequirement

        try:
            r = RezRequirement(w.text)
        except Exception:  # rez's parser raises its own errors, not all of them RezError
            pass
        else:  # rez takes "requests[socks]" or "foo bar" as a family name
            if is_valid_package_name(r.name) and not any(c.isspace() for c in w.text):
                w.rez = r.name
    try:
        w.pep = Requirement(w.text)
    except (InvalidRequirement, InvalidMarker):
        pass
    else:
        if w.pep.url:
            raise UsageError(f"{w.where}: direct URL requirements are not installed (only "
                             "what the indexes list)")
    if w.rez is None and w.pep is None:
        raise UsageError(f"{w.where}: neither a rez request nor a PEP 508 requirement")
    return w


@dataclass
class Asked:
    """Everything asked for: requests in order, and pip-style constraints."""
    wanted: list[Wanted] = field(default_factory=list)
    constraints: list[Wanted] = field(default_factory=list)


def read_file(path: str, into: Asked, constraint: bool = False,
              seen: Optional[set[str]] = None) -> None:
    """A pip requirements (``-r``) or constraints (``-c``) file, nested ``-r``/``-c`` lines
    included. Lines are PEP 508 requirements; comments, blank lines and continuations as pip
    reads them. Options that would change where packages come from (``-i``, ``-e``,
    ``--find-links``) are refused: the indexes are rezwheel's to choose."""
    seen = seen if seen is not None else set()
    real = os.path.realpath(path)
    if real in seen:
        return
    seen.add(real)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    for number, line in _logical_lines(text):
        origin = f"{path}:{number}"
        if line.startswith("-"):
            _option(line, origin, os.path.dirname(path), into, constraint, seen)
            continue
        w = parse(line.split(" --hash", 1)[0], origin, pep_only=True)
        (into.constraints if constraint else into.wanted).append(w)


def _option(line: str, origin: str, base: str, into: Asked, constraint: bool,
            seen: set[str]) -> None:
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    opt, rest = words[0], words[1:]
    if "=" in opt and opt.startswith("--"):
        opt, value = opt.split("=", 1)
        rest = [value, *rest]
    elif opt[:2] in ("-r", "-c") and len(opt) > 2:
        opt, rest = opt[:2], [opt[2:], *rest]
    if opt in ("-r", "--requirement", "-c", "--constraint") and len(rest) == 1:
        nested = rest[0] if os.path.isabs(rest[0]) else os.path.join(base, rest[0])
        read_file(nested, into, constraint or opt in ("-c", "--constraint"), seen)
    elif opt in ("--pre", "--prefer-binary", "--only-binary", "--no-binary"):
        pass  # choices pip's resolver makes; rezwheel's own options decide them
    else:
        raise UsageError(f"{origin}: {opt}: not supported in a requirements file here "
                         "(indexes and paths are given to rezwheel itself)")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """pip's reading: ``\\`` joins lines, `` #`` starts a comment, blank lines are skipped."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = pending + raw
        pending = ""
        if line.lstrip().startswith("#"):
            continue
        line = line.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if line:
            out.append((start, line))
    if pending.strip():
        out.append((start, pending.strip()))
    return out


# -- exact pins: PEP 592 lets them choose a yanked version (``yanked``)
#: a rez range naming one version in full: ``==1.0.2`` or ``1.0.2``
_PINNED = re.compile(r"(?:==)?([A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*)")


def rez_pin(request: str) -> Optional[tuple[str, str]]:
    """(family, version) when a rez request names one version in full; None for ranges, weak
    and conflict requests, and anything rez cannot read."""
    from rez.version import Requirement as RezRequirement

    try:
        r = RezRequirement(request)
    except Exception:  # rez's parser raises its own errors, not all of them RezError
        return None
    m = _PINNED.fullmatch(str(r.range)) if not (r.conflict or r.weak) else None
    return (r.name, m.group(1)) if m else None


def pep_pin(w: Wanted, family: str) -> Optional[tuple[str, str]]:
    """(family, rez version) when a PEP 508 requirement on one of our families is one ``==``
    or ``===`` without ``.*``."""
    from rezwheel.resolve.versions import rez_version_spelled

    specs = list(w.pep.specifier) if w.pep else []
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or \
            specs[0].version.endswith(".*"):
        return None
    version = rez_version_spelled(specs[0].version)  # None: not a version our names map
    return (family, version) if version is not None else None


def release_of(filename: str, project: str) -> Optional[object]:
    """The PEP 440 version of a wheel or sdist of ``project`` (normalized), from its name."""
    dist = dist_of(filename)
    return dist[1] if dist and dist[0] == project else None


def pip_pin(w: Wanted, files: list[IndexFile], where: str) -> Wanted:
    """A rez request on a plain project (``black-26.1.a1``, ``click-8+``) as the pip pin of
    the newest release in ``files`` whose rez-pip version is in the rez range (rez ranges and
    PEP 440 specifiers do not translate one to one). A release whose files are all yanked is
    taken only when the request names it in full (PEP 592, as pip does)."""
    from packaging.utils import canonicalize_name
    from rez.utils.pip import pip_to_rez_version
    from rez.version import Requirement as RezRequirement, Version as RezVersion

    project = canonicalize_name(w.rez or "")
    rng = RezRequirement(w.text).range
    found, kept = set(), set()  # releases; those with a file not yanked
    for f in files:
        release = release_of(f.filename, project)
        if release is not None:
            found.add(release)
            if f.yanked is None:
                kept.add(release)
    pin = rez_pin(w.text)
    for v in sorted(found, reverse=True):  # type: ignore[type-var]
        try:
            rez_version = pip_to_rez_version(str(v))
            if v not in kept and (pin is None or pin[1] != rez_version):
                continue
            if rng.contains_version(RezVersion(rez_version)):
                return Wanted(w.text, w.origin, w.rez, Requirement(f"{project}=={v}"))
        except Exception:  # a release rez-pip cannot name: not this one
            continue
    raise RezwheelError(f"{w.where}: no release of {project} on {where} is in that rez range "
                        f"(releases: {', '.join(map(str, sorted(found))) or 'none'})")  # type: ignore[type-var]
