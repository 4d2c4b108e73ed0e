"""``rez-layout.json``: how a wheel's members rebuild a rez variant root byte for byte.

Wheels cannot hold symlinks, empty directories or exact script bytes (pip rewrites ``#!python``),
and their placement serves pip users; this map is what serves rez. Parsing validates every path:
the file comes from an index, so a path that escapes the variant root is refused here, before
anything is written.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import asdict, dataclass, field
from typing import Optional, Union

from .errors import InvalidWheelError

FILENAME = "rez-layout.json"
FORMAT = 1


@dataclass(frozen=True)
class FileEntry:
    wheel_path: str
    path: str  # under the variant root
    mode: int  # 0o644 or 0o755
    shebang: Optional[str] = None  # original first line, when the wheel holds "#!python"


@dataclass(frozen=True)
class LinkEntry:
    path: str
    target: str
    wheel_path: Optional[str] = None  # a dereferenced copy for pip users, skipped on restore


@dataclass(frozen=True)
class Layout:
    rez_name: str
    rez_version: str
    variant_index: Optional[int]
    variant_requires: tuple[str, ...]
    subpath: Optional[str]  # variant root relative to the package directory
    files: tuple[FileEntry, ...] = ()
    links: tuple[LinkEntry, ...] = ()
    dirs: tuple[str, ...] = ()  # empty directories
    missing_root: bool = False  # the source variant had no directory at all
    by_wheel_path: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        entries: list[Union[FileEntry, LinkEntry]] = [*self.files, *self.links]
        self.by_wheel_path.update({e.wheel_path: e for e in entries if e.wheel_path})

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("by_wheel_path")
        return json.dumps({"format": FORMAT, **d}, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, filename: str) -> "Layout":
        try:
            d = json.loads(text)
            layout = cls(
                rez_name=str(d["rez_name"]),
                rez_version=str(d["rez_version"]),
                variant_index=d["variant_index"],
                variant_requires=tuple(d["variant_requires"]),
                subpath=d["subpath"],
                files=tuple(FileEntry(**f) for f in d["files"]),
                links=tuple(LinkEntry(**k) for k in d["links"]),
                dirs=tuple(d["dirs"]),
                missing_root=bool(d.get("missing_root", False)),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidWheelError(f"{filename}: unreadable {FILENAME}: {e}") from None
        layout.check(filename)
        return layout

    def check(self, filename: str) -> None:
        """Refuse paths that would write outside the variant root."""
        paths = [f.path for f in self.files] + [k.path for k in self.links] + list(self.dirs)
        if self.subpath:
            paths.append(self.subpath)
        for p in paths:
            if not is_safe_relpath(p):
                raise InvalidWheelError(f"{filename}: unsafe path in {FILENAME}: {p!r}")
        for f in self.files:
            if f.mode not in (0o644, 0o755):
                raise InvalidWheelError(f"{filename}: bad mode {f.mode:o} for {f.path!r}")
        for k in self.links:
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(k.path), k.target))
            if posixpath.isabs(k.target) or not is_safe_relpath(resolved):
                raise InvalidWheelError(
                    f"{filename}: symlink {k.path!r} -> {k.target!r} points outside the variant root")


def is_safe_relpath(p: str) -> bool:
    if not p or p.startswith("/") or "\\" in p or "\0" in p or (len(p) > 1 and p[1] == ":"):
        return False
    return all(part not in ("", ".", "..") for part in p.split("/"))
