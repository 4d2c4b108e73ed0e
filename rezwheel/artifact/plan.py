"""What convert decided about one variant's wheel before writing a byte of it.

A ``VariantPlan`` is a value: convert builds it once from the variant on disk (its payload,
the directories its ``commands`` put on ``PYTHONPATH`` and ``PATH``, its tags and build tag),
checks that no two variants of a package would share a file name, and only then writes. The
writing steps read it: where each payload path goes in the wheel (``placement``), the ``WHEEL``
file, the METADATA and the layout map. Nothing here touches the disk, so the wheel's shape can
be read (and tested) apart from the walk that found the payload and the writer that streams it.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import Optional

from rezwheel import __version__
from rezwheel.artifact import naming
from rezwheel.artifact.identity import VariantId
from rezwheel.artifact.tags import parse_requirement


@dataclass(frozen=True)
class PayloadItem:
    """One entry under a variant root, path relative to it (``/``-separated)."""
    rel: str
    kind: str  # "file" | "link" | "dir" (a dir only when empty: the others are implied)
    mode: int = 0o644
    target: str = ""  # a link's target, as the link holds it


@dataclass(frozen=True)
class VariantPlan:
    variant: VariantId
    requires: tuple[str, ...]  # the variant's requires, as rez prints them
    dist: str  # the distribution name
    version: str  # the PEP 440 version
    tags: str  # ``py3-none-any`` style, compressed
    build: Optional[str]  # the build tag telling variants apart, where tags do not
    compiled: bool  # extension modules on PYTHONPATH: the wheel is platlib
    root: Optional[str]  # the variant root on disk; None where rez gives it none
    missing: bool  # no directory at ``root``: an empty payload
    items: tuple[PayloadItem, ...]  # sorted by path
    py_dirs: tuple[str, ...]  # directories ``commands`` puts on PYTHONPATH
    bin_dirs: tuple[str, ...]  # and on PATH

    @property
    def stem(self) -> str:
        """``dist-version`` as wheel file and ``.dist-info`` names spell it."""
        return f"{self.dist.replace('-', '_')}-{self.version}"

    @property
    def filename(self) -> str:
        build = f"-{self.build}" if self.build else ""
        return f"{self.stem}{build}-{self.tags}.whl"

    def placement(self) -> dict[str, str]:
        """Wheel path for each payload path: PYTHONPATH dirs at the root, PATH dirs as scripts,
        the rest as data under ``share/rez/<name>``."""
        data_dir = f"{self.stem}.data"
        share = f"{data_dir}/data/share/rez/{self.variant.name}"
        used: set[str] = set()
        out: dict[str, str] = {}
        for item in self.items:
            if item.kind == "dir":
                continue
            rel = item.rel
            dest = f"{share}/{rel}"
            d = under(rel, self.py_dirs)
            if d is not None:
                inner = rel[len(d) + 1:] if d else rel
                top = inner.split("/", 1)[0]
                if not top.endswith((".dist-info", ".data")):
                    dest = inner
            elif os.path.dirname(rel) in self.bin_dirs and os.path.dirname(rel):
                dest = f"{data_dir}/scripts/{os.path.basename(rel)}"
            if dest in used:
                dest = f"{share}/{rel}"
            used.add(dest)
            out[rel] = dest
        return out

    def metadata(self, data: dict, definition: str) -> str:
        """The ``.dist-info/METADATA`` text: what pip users see, and the definition for hosts
        (``metadata.definition_from_metadata`` finds it again); ``data``: the package's."""
        # late-bound description / requires: code, unknown until a context is built, so pip
        # users get the default summary and no Requires-Dist from them
        description = data.get("description")
        summary = " ".join((description if isinstance(description, str) and description
                            else f"rez package {self.variant.name}").split())
        requires = data.get("requires")
        requests = [str(r) for r in requires] if isinstance(requires, list) else []
        requests += self.requires
        reqs = [r for r in map(_pip_requirement, requests) if r]
        requires_python = _requires_python(tuple(r for r in map(_python_range, requests) if r))
        lines = ["Metadata-Version: 2.1", f"Name: {self.dist}", f"Version: {self.version}",
                 f"Summary: {summary[:500]}"]
        if requires_python:
            lines.append(f"Requires-Python: {requires_python}")
        lines += [f"Requires-Dist: {r}" for r in dict.fromkeys(reqs)]
        lines.append("Description-Content-Type: text/markdown")
        fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", definition)), default=0))
        v = self.variant
        where = "no variants" if v.index is None else f"variant {v.index}"
        requires = ", ".join(f"`{r}`" for r in self.requires) or "none"
        body = (f"# rez package `{v.name}` version `{v.version}` ({where})\n\n"
                f"Variant requires: {requires}.\n\nRez definition:\n\n"
                f"{fence}python\n{definition}{fence}\n")
        return "\n".join(lines) + "\n\n" + body

    def wheel_file(self) -> str:
        """The ``.dist-info/WHEEL`` text."""
        lines = ["Wheel-Version: 1.0", f"Generator: rezwheel {__version__}",
                 f"Root-Is-Purelib: {'false' if self.compiled else 'true'}", f"Tag: {self.tags}"]
        if self.build:
            lines.append(f"Build: {self.build}")
        return "\n".join(lines) + "\n"


# A repository repeats a few requests (``python-3.9``, ``platform-linux``) thousands of times:
# parse each once per run.
@functools.lru_cache(maxsize=8192)
def _pip_requirement(request: str) -> Optional[str]:
    return naming.request_to_requirement(request)


@functools.lru_cache(maxsize=8192)
def _python_range(request: str) -> Optional[str]:
    """The rez range a request asks of python, for ``Requires-Python`` (not weak or conflict
    requests: ``~python-3.9`` is held as an inverted range)."""
    r = parse_requirement(request)
    if r.name != "python" or r.conflict or r.weak or r.range.is_any():
        return None
    return str(r.range)


@functools.lru_cache(maxsize=1024)
def _requires_python(ranges: tuple[str, ...]) -> Optional[str]:
    return naming.python_requirement(ranges)


def under(rel: str, dirs: tuple[str, ...]) -> Optional[str]:
    """The first of ``dirs`` holding ``rel`` ("" holds everything), else None."""
    for d in dirs:
        if not d or rel.startswith(d + "/"):
            return d
    return None
