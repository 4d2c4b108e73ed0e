"""Wheel tags from a variant's ``platform-*``, ``arch-*`` and ``python-*`` requires.

pip and uv pick a file by its tags, so the tags must say what the variant really needs: a
variant built for ``python-3.9`` with compiled extensions is ``cp39-cp39-<plat>``, one without
is ``py39-none-<plat>``, and a variant with none of those requires is ``py3-none-any``. Requires
that are not host facts (``maya-2024``) cannot be tags: ``build_tags`` decides when a package's
variants need build tags to keep one file name per variant. The other way round,
``tag_facts`` says what host a platform tag names (``lock --platform``): rez's platform and arch,
and the PEP 508 marker values a resolve for that host evaluates.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from rezwheel.errors import UsageError

_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "arm64"}
_MAC_FLOOR = {"x86_64": "macosx_10_9", "arm64": "macosx_11_0", "aarch64": "macosx_11_0"}


@dataclass(frozen=True)
class VariantTags:
    python: str
    abi: str
    platform: str
    python_ranges: tuple[str, ...]  # rez ranges requested of python, for Requires-Python
    extra: tuple[str, ...]  # requires that are not tags (they need a build tag)

    def __str__(self) -> str:
        return f"{self.python}-{self.abi}-{self.platform}"


def _platform_tag(platform: Optional[str], arch: Optional[str], linux_tag: str) -> Optional[str]:
    a = _ARCH.get((arch or "").lower())
    if platform == "linux" and a:
        return f"{linux_tag}_{a}"
    if platform == "windows" and a == "x86_64":
        return "win_amd64"
    if platform == "osx" and a:
        return f"{_MAC_FLOOR[a]}_{'arm64' if a == 'aarch64' else a}"
    return None


def names_variant(tags: Iterable[Any], requires: Iterable[str]) -> bool:
    """Whether a wheel's tags are the ones ``variant_tags`` gives a variant with ``requires``
    (pure or compiled, for whichever Linux flavour it was named): how a resolver finds again
    the file convert made, by the same rule, from the page's file name alone."""
    names = {str(t) for t in tags}
    flavours = {"linux"} | {t.platform[:-len(a) - 1] for t in tags for a in set(_ARCH.values())
                            if "linux" in t.platform and t.platform.endswith("_" + a)}
    requires = list(requires)
    return any(str(variant_tags(requires, compiled, flavour)) in names
               for flavour in sorted(flavours) for compiled in (False, True))


@functools.lru_cache(maxsize=8192)
def parse_requirement(request: str) -> Any:
    """rez's ``Requirement`` of a request string, parsed once per run (a repository repeats
    the same few requests thousands of times). Callers only read it."""
    from rez.version import Requirement

    return Requirement(request)


def variant_tags(requires: Iterable[str], compiled: bool, linux_tag: str = "linux") -> VariantTags:
    """Tags for a variant; ``compiled`` says whether its payload holds extension modules."""
    platform = arch = None
    python_ranges: list[str] = []
    extra: list[str] = []
    host: list[str] = []
    for request in requires:
        req = parse_requirement(str(request))
        if req.conflict or req.weak:  # "~bar" has no range; "~python-3.9" an inverted one
            extra.append(str(request))
            continue
        rng = "" if req.range.is_any() else str(req.range)
        if req.name == "platform" and rng and platform is None:
            platform = rng
            host.append(str(request))
        elif req.name == "arch" and rng and arch is None:
            arch = rng
            host.append(str(request))
        elif req.name == "python":
            python_ranges.append(rng)
        else:
            extra.append(str(request))

    plat = _platform_tag(platform, arch, linux_tag)
    if plat is None:
        plat = "any"
        extra = host + extra  # the host requires still tell variants apart

    minor = next((m.groups() for r in python_ranges if (m := re.fullmatch(r"(\d+)\.(\d+)", r))), None)
    if minor:
        py = f"{'cp' if compiled else 'py'}{minor[0]}{minor[1]}"
        abi = py if compiled else "none"
    else:
        py, abi = "py3", "none"
    return VariantTags(py, abi, plat, tuple(python_ranges), tuple(extra))


def build_tags(variants: Sequence[Sequence[str]]) -> list[Optional[str]]:
    """The build tag of each of a package's variants (its index), or None where tags suffice.

    Tags tell variants apart when every variant's tags, computed from its requires alone (as
    ``repository.IndexRepository.file_for_variant`` computes them to find a variant's file),
    differ from every other's. Then only variants with requires that are not tags get a build
    tag, as always (so names already published stay the same). Otherwise (python requires that
    are not ``X.Y``, variants differing only in other requires, variants equal once mapped)
    every variant gets one: a reader then finds each variant by its build tag alone, never by
    tags another variant shares. Build tags must start with a digit: the variant index does.
    """
    tags = [variant_tags(requires, False) for requires in variants]
    keys = [str(t) for t in tags]
    shared = len(set(keys)) != len(keys)
    return [str(i) if shared or t.extra else None for i, t in enumerate(tags)]


#: the platform tags a target host may be named by: a system and, but for Windows' own
#: names, the machine (``manylinux_2_28`` alone names no host)
_MACHINE = r"(x86_64|i686|aarch64|armv7l|armv6l|ppc64le|ppc64|s390x|riscv64|loongarch64)"
_HOST_TAG = re.compile(
    rf"(?:(?:manylinux|musllinux)_\d+_\d+|manylinux(?:2014|2010|1)|linux)_{_MACHINE}"
    r"|macosx_\d+_\d+_(x86_64|arm64|universal2|intel|universal)"
    r"|win32|win_amd64|win_arm64")


def tag_facts(tag: str) -> tuple[str, str, dict[str, str]]:
    """(rez platform, rez arch, PEP 508 marker values) of a host a wheel platform tag names."""
    t = tag.lower()
    if not _HOST_TAG.fullmatch(t):
        raise UsageError(f"--platform {tag}: not a wheel platform tag naming a host "
                         "(linux_x86_64, manylinux_2_28_aarch64, macosx_11_0_arm64, win_amd64)")
    for prefix, plat, sys_platform, system, os_name in (
            ("manylinux", "linux", "linux", "Linux", "posix"),
            ("musllinux", "linux", "linux", "Linux", "posix"),
            ("linux", "linux", "linux", "Linux", "posix"),
            ("macosx", "osx", "darwin", "Darwin", "posix"),
            ("win", "windows", "win32", "Windows", "nt")):
        if t.startswith(prefix):
            arch = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}.get(t) or \
                ("x86_64" if t.endswith("x86_64") else t.rsplit("_", 1)[-1])
            return plat, arch, {"sys_platform": sys_platform, "platform_system": system,
                                "os_name": os_name, "platform_machine": arch,
                                "platform_release": "", "platform_version": ""}
    raise AssertionError(t)  # _HOST_TAG admits only the prefixes above


#: manylinux's legacy names: the glibc minor each stands for
_LEGACY = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def compatible_platforms(tag: str) -> list[str]:
    """The platform tags a host named by ``tag`` installs, best first, as installers expand
    them: older macOS releases and universal2 for ``macosx``, older glibc or musl and the
    legacy names for ``manylinux``/``musllinux`` (such a host takes plain ``linux_<arch>``
    wheels too: rezwheel makes those)."""
    t = tag.lower()
    mac = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", t)
    if mac:
        from packaging.tags import mac_platforms

        return list(mac_platforms((int(mac[1]), int(mac[2])), mac[3]))
    linux = re.fullmatch(r"(manylinux|musllinux)_(\d+)_(\d+)_(\w+)", t)
    if not linux:
        return [t]
    kind, major, minor, arch = linux[1], int(linux[2]), int(linux[3]), linux[4]
    floor = 5 if kind == "manylinux" and major == 2 else 0
    out = []
    for m in range(minor, floor - 1, -1):
        out.append(f"{kind}_{major}_{m}_{arch}")
        if kind == "manylinux" and major == 2 and m in _LEGACY:
            out.append(f"{_LEGACY[m]}_{arch}")
    return out + [f"linux_{arch}"]
