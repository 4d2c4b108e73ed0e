"""Rez names, versions and requests <-> Python distribution names, PEP 440 versions, PEP 508.

The version mapping is a bijection between rez version strings and the PEP 440 strings it
produces, so an index listing (file names only) tells the exact rez versions without reading any
definition. It keeps rez order in the common cases and is checked per family before publishing.

Rules (``rez_to_pep440``):
- a post release as PEP 440 writes it (``2026.10.19.post1``: canonical integers, then
  ``.postN``) is its own PEP 440 version, so a package rez-pip made from a PyPI project keeps that
  project's version (``pip install certifi==2026.10.19.post1`` holds on the studio index); both
  orders agree (``X < X.post1 < X.1``);
- the leading tokens that are canonical integers (``0`` or no leading zero) are the public
  version, unchanged; a version with no such token gets public version ``0``;
- the remaining tokens, when they are lowercase ``alpha[digits]`` or canonical integers, become
  the local label split at alpha/digit boundaries (``1.0.0.rc10`` -> ``1.0.0+rc.10``), which sorts
  like rez (alphas before numbers, numbers numerically, longer after shorter);
- anything else (upper case, ``-`` separators, zero-padded numbers such as ``2023.01``, ``_``,
  a version starting with letters, the empty version) is escaped as ``+x0.<hex of the rest>``:
  exact and reversible, but ordered only by its public part.
The empty (unversioned) rez version maps to ``0+x0``.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

_CANON_INT = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_POST = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*\.post(?:0|[1-9][0-9]*)\Z")
_NATURAL_TOKEN = re.compile(r"([a-z]+)(0|[1-9][0-9]*)?\Z|(0|[1-9][0-9]*)\Z")
_REZ_TOKEN = re.compile(r"[a-zA-Z0-9_]+")
_SPLIT = re.compile(r"[a-z]+|[0-9]+")
_ESCAPE = "x0"

#: rez families that describe the host, not a dependency: they become wheel tags.
TAG_FAMILIES = frozenset({"platform", "arch", "os", "python"})


def dist_name(rez_name: str, prefix: str = "", pip_name: Optional[str] = None) -> str:
    """The normalized distribution name of a rez family.

    A package rez-pip made from a PyPI project (``pip_name = "PyYAML (6.0)"``) keeps that project's
    name, so pip users get the name they know; everything else is the rez name plus the prefix.
    """
    if pip_name:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", pip_name)
        if m:
            return canonicalize_name(m.group(1))
    return canonicalize_name(prefix + rez_name)


def _numeric_prefix(tokens: list[str], seps: list[str]) -> int:
    n = 0
    while n < len(tokens) and _CANON_INT.match(tokens[n]) and (n == 0 or seps[n - 1] == "."):
        n += 1
    return n


def _natural_label(tokens: list[str], seps: list[str]) -> Optional[str]:
    if any(s != "." for s in seps) or not all(_NATURAL_TOKEN.match(t) for t in tokens):
        return None
    label = ".".join(p for t in tokens for p in _SPLIT.findall(t))
    return label if _decode_label(label) == ".".join(tokens) else None


def _decode_label(label: str) -> str:
    tokens: list[str] = []
    for seg in label.split("."):
        if seg.isdigit() and tokens and tokens[-1].isalpha():
            tokens[-1] += seg
        else:
            tokens.append(seg)
    return ".".join(tokens)


def rez_to_pep440(rez_version: str) -> str:
    """Map a rez version string to a normalized PEP 440 version string (see module rules)."""
    if _POST.match(rez_version):
        return rez_version
    tokens = _REZ_TOKEN.findall(rez_version)
    seps = _REZ_TOKEN.split(rez_version)[1:-1] if tokens else []
    n = _numeric_prefix(tokens, seps)
    public = ".".join(tokens[:n]) if n else "0"
    if n == len(tokens) and n:
        return str(Version(public))
    label = _natural_label(tokens[n:], seps[n - 1:]) if n else None
    if label is None:
        rest = rez_version[len(".".join(tokens[:n])):] if n else rez_version
        label = _ESCAPE + ("." + rest.encode().hex() if rest else "")
    return str(Version(f"{public}+{label}"))


def pep440_to_rez(version: str) -> str:
    """Inverse of ``rez_to_pep440`` for the strings it produces."""
    try:
        v = Version(version)
    except InvalidVersion as e:
        raise ValueError(f"not a PEP 440 version: {version!r}") from e
    public = ".".join(str(x) for x in v.release)
    if v.local is None:
        if v.post is not None and v.pre is None and v.dev is None and not v.epoch:
            return f"{public}.post{v.post}"
        return public
    segs = v.local.split(".")
    if segs[0] != _ESCAPE:
        return f"{public}.{_decode_label(v.local)}"
    rest = bytes.fromhex("".join(segs[1:])).decode()
    if not rest:
        return ""  # unversioned
    if (rest[0].isalnum() or rest[0] == "_"):
        return rest  # the rez version had no numeric prefix
    return public + rest


class FamilyVersions:
    """A family's published versions, each parsed once, kept in rez order, so that checking
    and adding a new version costs O(log n) comparisons instead of re-reading the family.

    Two rez versions whose PEP 440 strings are equal collide (distinct files would share a name);
    a new version that PEP 440 orders differently from rez among its neighbours breaks
    ``pip install "x>=..."``. Versions equal under PEP 440 but written differently (``1.0`` and
    ``1.0.0``) are allowed: their files differ and every rez path reads the exact version from
    the definition. The published set is taken as it is: only problems a new version brings
    are reported.
    """

    def __init__(self, rez_versions: Iterable[str] = ()) -> None:
        self._keys: list = []  # rez Versions, sorted
        self._entries: list[tuple[str, Version]] = []  # (rez string, PEP 440), same order
        self._pep: dict[str, str] = {}  # PEP 440 string -> rez string
        for v in set(rez_versions):
            self.add(v)

    def __contains__(self, rez_version: str) -> bool:
        return self._pep.get(rez_to_pep440(rez_version)) == rez_version

    def __len__(self) -> int:
        return len(self._keys)

    def problem(self, new: str) -> Optional[str]:
        """What adding rez version ``new`` would break, or None (a version already there is
        not new, so never a problem)."""
        p = rez_to_pep440(new)
        have = self._pep.get(p)
        if have == new:
            return None
        if have is not None:
            return f"rez versions {have!r} and {new!r} both map to {p!r}"
        import bisect

        from rez.version import Version as RezVersion

        key = RezVersion(new)
        lo, hi = bisect.bisect_left(self._keys, key), bisect.bisect_right(self._keys, key)
        pv = Version(p)
        # the neighbours are runs, not entries: rez-equal spellings (1.0, 1-0) map to distinct
        # PEP 440 versions in no particular order, so each whole run is compared
        if lo > 0:
            a, pa = max(self._run(lo - 1), key=lambda e: e[1])
            if pa > pv:
                return f"rez orders {a!r} < {new!r} but PEP 440 orders {str(pa)!r} > {p!r}"
        if hi < len(self._entries):
            b, pb = min(self._run(hi), key=lambda e: e[1])
            if pv > pb:
                return f"rez orders {new!r} < {b!r} but PEP 440 orders {p!r} > {str(pb)!r}"
        return None

    def _run(self, i: int) -> list[tuple[str, Version]]:
        """The entries rez-equal to entry ``i``."""
        import bisect

        lo = bisect.bisect_left(self._keys, self._keys[i])
        hi = bisect.bisect_right(self._keys, self._keys[i])
        return self._entries[lo:hi]

    def add(self, rez_version: str) -> None:
        import bisect

        from rez.version import Version as RezVersion

        p = rez_to_pep440(rez_version)
        if self._pep.get(p) == rez_version:
            return
        key = RezVersion(rez_version)
        i = bisect.bisect_left(self._keys, key)
        self._keys.insert(i, key)
        self._entries.insert(i, (rez_version, Version(p)))
        self._pep.setdefault(p, rez_version)


def python_requirement(ranges: Iterable[str]) -> Optional[str]:
    """``Requires-Python`` from the rez ranges requested of ``python`` (``3.9``, ``3.7+``)."""
    specs = [s for r in ranges if (s := range_to_specifier(r))]
    return ",".join(specs) or None


def range_to_specifier(rez_range: str) -> str:
    """A rez version range as a PEP 440 specifier set; "" when no single set says the same.

    ``1.2+<2`` -> ``>=1.2,<2``; ``1.2`` (a prefix family) -> ``==1.2.*``; ``==1.2`` -> ``==1.2``.
    Unions (``1|3``) have no PEP 440 form: they are left unconstrained rather than wrong.
    """
    from rez.version import VersionRange

    bounds = VersionRange(rez_range).bounds
    if len(bounds) != 1:
        return ""
    b = bounds[0]
    lo, hi = b.lower, b.upper
    if b.lower_bounded() and b.upper_bounded():
        if lo.version == hi.version and lo.inclusive and hi.inclusive:
            return "==" + rez_to_pep440(str(lo.version))
        if lo.inclusive and not hi.inclusive and hi.version == lo.version.next():
            p = rez_to_pep440(str(lo.version))
            return f"=={p}.*" if "+" not in p else _ordered(">=", str(lo.version))
    specs = []
    if b.lower_bounded():
        specs.append(_ordered(">=" if lo.inclusive else ">", str(lo.version)))
    if b.upper_bounded():
        specs.append(_ordered("<=" if hi.inclusive else "<", str(hi.version)))
    return ",".join(specs)


def _ordered(op: str, rez_version: str) -> str:
    """PEP 440 forbids local labels in ordered comparisons: loosen to the public version."""
    v = Version(rez_to_pep440(rez_version))
    if v.local is None:
        return op + str(v)
    return (">=" if op[0] == ">" else "<=") + v.public


def request_to_requirement(request: str, prefix: str = "") -> Optional[str]:
    """A rez request as a PEP 508 requirement, or None when pip has no such notion.

    Weak (``~``), conflict (``!``) and ephemeral (``.``) requests, and the host families that
    become tags (platform, arch, os, python), are not dependencies a pip user could install.
    """
    from rez.version import Requirement

    req = Requirement(request)
    if req.conflict or req.weak or req.name.startswith(".") or req.name in TAG_FAMILIES:
        return None
    spec = range_to_specifier(str(req.range)) if not req.range.is_any() else ""
    return dist_name(req.name, prefix) + spec
