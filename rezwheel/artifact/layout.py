"""``rez-layout.json``: how a wheel's members rebuild a rez variant root byte for byte.

Wheels cannot hold symlinks, empty directories or exact script bytes (pip rewrites ``#!python``),
and their placement serves pip users; this map is what serves rez. Parsing validates every path:
the file comes from an index, so a path that escapes the variant root is refused here, before
anything is written.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Union

from rezwheel.artifact.identity import VariantId
from rezwheel.errors import InvalidWheelError

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

    @property
    def id(self) -> VariantId:
        return VariantId(self.rez_name, self.rez_version, self.variant_index)

    def __post_init__(self) -> None:
        entries: list[Union[FileEntry, LinkEntry]] = [*self.files, *self.links]
        self.by_wheel_path.update({e.wheel_path: e for e in entries if e.wheel_path})

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("by_wheel_path")
        return json.dumps({"format": FORMAT, **d}, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, filename: str) -> "Layout":
        """Parse and check a layout map; every field is type-checked, since a forged map
        would otherwise fail later with a traceback (or worse, be used)."""
        try:
            d = json.loads(text)
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
            layout = cls(
                rez_name=_typed(d, "rez_name", str),
                rez_version=_typed(d, "rez_version", str),
                variant_index=_typed(d, "variant_index", int, optional=True),
                variant_requires=tuple(_list_of(d, "variant_requires", str)),
                subpath=_typed(d, "subpath", str, optional=True),
                files=tuple(FileEntry(_typed(f, "wheel_path", str), _typed(f, "path", str),
                                      _typed(f, "mode", int),
                                      _typed(f, "shebang", str, optional=True, default=None))
                            for f in _list_of(d, "files", dict)),
                links=tuple(LinkEntry(_typed(k, "path", str), _typed(k, "target", str),
                                      _typed(k, "wheel_path", str, optional=True, default=None))
                            for k in _list_of(d, "links", dict)),
                dirs=tuple(_list_of(d, "dirs", str)),
                missing_root=_typed(d, "missing_root", bool, optional=True, default=False),
            )
        except (ValueError, KeyError, TypeError, RecursionError) as e:
            raise InvalidWheelError(f"{filename}: unreadable {FILENAME}: {e}") from None
        layout.check(filename)
        return layout

    def check(self, filename: str) -> None:
        """Refuse a layout that would write anywhere but fresh paths inside the variant root.

        Installing creates files, then empty directories, then symlinks, with plain
        ``os.makedirs`` / ``open`` / ``os.symlink`` (``rezrepo.restore.restore_variant``). That is
        safe only because this check guarantees: every path is relative and clean; no two
        entries share a path; no entry lies under a file or a symlink of the layout (so no
        write ever goes through a link, whatever order they are made in); and every symlink,
        resolved as the kernel would against the tree being built (through the other links,
        ``..`` applied after each link), stays inside the root.
        """
        def refuse(what: str) -> None:
            raise InvalidWheelError(f"{filename}: {what} in {FILENAME}")

        if self.subpath is not None and not is_safe_relpath(self.subpath):
            refuse(f"unsafe path {self.subpath!r}")
        kinds: dict[str, str] = {}
        for kind, path in [*(("file", f.path) for f in self.files),
                           *(("symlink", k.path) for k in self.links),
                           *(("directory", p) for p in self.dirs)]:
            if not is_safe_relpath(path):
                refuse(f"unsafe path {path!r}")
            if path in kinds:
                refuse(f"path {path!r} listed twice ({kinds[path]} and {kind})")
            kinds[path] = kind
        _check_collisions(kinds, refuse)
        wheel_paths: set[str] = set()
        for e in [*self.files, *self.links]:
            if e.wheel_path is not None:
                if e.wheel_path in wheel_paths:
                    refuse(f"wheel path {e.wheel_path!r} mapped twice")
                wheel_paths.add(e.wheel_path)
        for f in self.files:
            if f.mode not in (0o644, 0o755):
                refuse(f"bad mode {f.mode:o} for {f.path!r}")
            if f.shebang is not None and not (f.shebang.startswith("#!") and
                                              f.shebang.endswith("\n") and
                                              f.shebang.count("\n") == 1):
                refuse(f"bad shebang for {f.path!r}")
        links = {k.path: k.target for k in self.links}
        folded_links = {_fold(p): p for p in links}
        for k in self.links:
            if not k.target:
                refuse(f"empty target for symlink {k.path!r}")
            if not _resolves_inside(k.path, links, folded_links):
                raise InvalidWheelError(f"{filename}: symlink {k.path!r} -> {k.target!r} points "
                                        "outside the variant root")


def _check_collisions(kinds: dict[str, str], refuse: Callable[[str], None]) -> None:
    """No entry under a file or a symlink, and none that a case-insensitive filesystem (macOS,
    Windows) would merge with a symlink or an entry of another kind."""
    by_fold: dict[str, str] = {}
    for path, kind in kinds.items():
        other = by_fold.setdefault(_fold(path), path)
        if other != path and ("symlink" in (kind, kinds[other]) or kinds[other] != kind):
            refuse(f"paths {other!r} and {path!r} collide on a case-insensitive filesystem")
    leaves = {_fold(p): p for p, k in kinds.items() if k != "directory"}
    for path in kinds:
        parts = path.split("/")
        for i in range(1, len(parts)):
            other = leaves.get(_fold("/".join(parts[:i])))
            if other is not None:
                refuse(f"path {path!r} lies under the {kinds[other]} {other!r}")


#: as the kernel's MAXSYMLINKS: more links followed than this is a loop
MAX_LINK_HOPS = 40


def _resolves_inside(link: str, links: dict[str, str], folded: dict[str, str]) -> bool:
    """Resolve ``link`` component by component through the layout's other links, as the
    kernel would on the restored tree; False if it leaves the root, is absolute anywhere
    along the chain, or loops. A component that matches a link only case-insensitively
    counts as escaping: on a case-insensitive filesystem it would be that link."""
    target = links[link]
    if "\0" in target or "\\" in target:
        return False
    pending = target.split("/") if target else []
    if target.startswith("/"):
        return False
    stack = link.split("/")[:-1]  # resolved components of the directory holding the link
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return False
            stack.pop()
            continue
        stack.append(part)
        here = "/".join(stack)
        real = folded.get(_fold(here))
        if real is None:
            continue
        if real != here:
            return False
        hops += 1
        nxt = links[real]
        if hops > MAX_LINK_HOPS or nxt.startswith("/") or "\0" in nxt or "\\" in nxt:
            return False
        stack.pop()
        pending = (nxt.split("/") if nxt else []) + pending
    return True


def _fold(path: str) -> str:
    """A path as a case- and normalization-insensitive filesystem (macOS, Windows) sees it."""
    return unicodedata.normalize("NFD", path).casefold()


def _typed(d: dict, key: str, kind: type, optional: bool = False, default: object = ...) -> Any:
    if key not in d and default is not ...:
        return default
    value = d[key]
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key} is {type(value).__name__}, not {kind.__name__}")
    return value


def _list_of(d: dict, key: str, kind: type) -> list:
    value = d[key]
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise TypeError(f"{key} is not a list of {kind.__name__}")
    return value


def is_safe_relpath(p: str) -> bool:
    if not p or p.startswith("/") or "\\" in p or "\0" in p or (len(p) > 1 and p[1] == ":"):
        return False
    return all(part not in ("", ".", "..") for part in p.split("/"))
