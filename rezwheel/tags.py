"""Wheel tags from a variant's ``platform-*``, ``arch-*`` and ``python-*`` requires.

pip and uv pick a file by its tags, so the tags must say what the variant really needs: a
variant built for ``python-3.9`` with compiled extensions is ``cp39-cp39-<plat>``, one without
is ``py39-none-<plat>``, and a variant with none of those requires is ``py3-none-any``. Requires
that are not host facts (``maya-2024``) cannot be tags: the caller turns them into a build tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

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


def variant_tags(requires: Iterable[str], compiled: bool, linux_tag: str = "linux") -> VariantTags:
    """Tags for a variant; ``compiled`` says whether its payload holds extension modules."""
    from rez.version import Requirement

    platform = arch = None
    python_ranges: list[str] = []
    extra: list[str] = []
    host: list[str] = []
    for request in requires:
        req = Requirement(str(request))
        rng = "" if req.range.is_any() else str(req.range)
        if req.conflict or req.weak:
            extra.append(str(request))
        elif req.name == "platform" and rng and platform is None:
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
