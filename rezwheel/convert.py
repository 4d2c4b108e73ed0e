"""Convert: one rez variant becomes one wheel (DESIGN.md section 2).

``convert_variant`` reads like the steps: serialize the definition, walk the variant root,
decide where each file goes for pip users, pick tags and names, and stream everything into a
reproducible archive with the definition and layout map last.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Union

from . import __version__, fsrepo, naming, rezdef
from .errors import ConversionError, RezwheelError
from .layout import FILENAME as LAYOUT_FILE, FileEntry, Layout, LinkEntry
from .rezsource import DEFINITION_FILES, LoadFailure, iter_packages
from .tags import variant_tags
from .wheel.reader import DEFINITION
from .wheel.writer import WheelWriter
from .redaction import get_logger

log = get_logger(__name__)

_EXT_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES) + (".so", ".pyd")
_PYTHON_SHEBANG = re.compile(rb"#![^\n]*\bpython[0-9.]*[ \t]*\r?\n")
_ENV_DIR = r"""env\.{var}\.(?:append|prepend)\(\s*(?:r?["'])\{{(?:this\.)?root\}}/?([^"']*)["']"""


@dataclass(frozen=True)
class Converted:
    rez_name: str
    rez_version: str
    variant_index: Optional[int]
    file: str
    sha256: str

    def as_json(self) -> dict:
        return {"rez_name": self.rez_name, "rez_version": self.rez_version,
                "variant_index": self.variant_index, "file": self.file, "sha256": self.sha256}


@dataclass(frozen=True)
class Failure:
    message: str  # one line, naming the package or path


@dataclass(frozen=True)
class _Item:
    rel: str
    kind: str  # "file" | "link" | "dir"
    mode: int = 0o644
    target: str = ""


def convert_paths(paths: Iterable[str], outdir: str, prefix: str = "",
                  linux_tag: str = "linux") -> list[Union[Converted, Failure]]:
    """Convert every variant under ``paths``; failures are returned, not raised, one per package."""
    results: list[Union[Converted, Failure]] = []
    families: dict[str, str] = {}  # distribution name -> rez family
    for pkg in iter_packages(list(paths)):
        if isinstance(pkg, LoadFailure):
            results.append(Failure(pkg.message))
            continue
        try:
            data = rezdef.package_data(pkg)
            dist = naming.dist_name(pkg.name, prefix, data.get("pip_name"))
            other = families.setdefault(dist, pkg.name)
            if other != pkg.name:
                raise ConversionError(f"{pkg.uri}: rez families {other!r} and {pkg.name!r} "
                                      f"both map to distribution {dist!r}")
            _warn_resolve_time_code(pkg, data)
            results.extend(convert_package(pkg, data, outdir, dist, linux_tag))
        except RezwheelError as e:
            results.append(Failure(str(e)))
        except Exception as e:  # rez's own load and validation errors
            results.append(Failure(f"{pkg.uri}: {' '.join(str(e).split())[:300]}"))
    return results


def _warn_resolve_time_code(pkg: Any, data: dict) -> None:
    """Say now what a host will refuse later: a definition whose solve would run its code
    (``rezdef.check_resolvable``) is skipped by hosts resolving from an untrusted index."""
    for key in rezdef.resolve_time_code(data):
        log.warning("%s: %s is %s: hosts resolving from an index will refuse it unless the "
                    "index is trusted to run code", pkg.uri, key, rezdef.binding(data[key]))


def convert_package(pkg: Any, data: dict, outdir: str, dist: str,
                    linux_tag: str = "linux") -> list[Converted]:
    definition = rezdef.dump(data)
    variants = list(pkg.iter_variants())
    names: dict[str, int] = {}
    plans = []
    for variant in variants:
        plan = _plan(pkg, variant, data, dist, linux_tag)
        if plan["filename"] in names:
            raise ConversionError(
                f"{pkg.uri}: variants {names[plan['filename']]} and {variant.index} would both "
                f"produce {plan['filename']}")
        names[plan["filename"]] = variant.index
        plans.append(plan)
    return [_write(pkg, plan, data, definition, outdir) for plan in plans]


def _plan(pkg: Any, variant: Any, data: dict, dist: str, linux_tag: str) -> dict:
    root = variant.root
    missing = not os.path.isdir(root)
    if missing:
        log.warning("%s: variant %s has no directory %s: converting with an empty payload",
                    pkg.uri, variant.index, root)
    skip = set(DEFINITION_FILES) if variant.index is None else set()
    items = [] if missing else _walk(root, skip)
    commands = str(data.get("commands") or "")
    py_dirs = _env_dirs(commands, "PYTHONPATH")
    bin_dirs = _env_dirs(commands, "PATH")
    compiled = any(i.kind == "file" and i.rel.endswith(_EXT_SUFFIXES) and _under(i.rel, py_dirs)
                   for i in items)
    requires = [str(r) for r in variant.variant_requires]
    tags = variant_tags(requires, compiled, linux_tag)
    build = str(variant.index) if tags.extra and variant.index is not None else None
    version = naming.rez_to_pep440(str(pkg.version))
    stem = f"{dist.replace('-', '_')}-{version}"
    filename = f"{stem}{'-' + build if build else ''}-{tags}.whl"
    return dict(variant=variant, root=root, missing=missing, items=items, py_dirs=py_dirs,
                bin_dirs=bin_dirs, compiled=compiled, tags=tags, build=build, dist=dist,
                version=version, stem=stem, filename=filename)


def _walk(root: str, skip_top: set) -> list[_Item]:
    """Every file, symlink and empty directory under root, sorted, without following links."""
    items: list[_Item] = []

    def visit(directory: str, rel: str) -> bool:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
        any_child = False
        for e in entries:
            r = f"{rel}{e.name}"
            if not rel and e.name in skip_top:
                continue
            any_child = True
            st = e.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                items.append(_Item(r, "link", target=os.readlink(e.path)))
            elif stat.S_ISDIR(st.st_mode):
                if not visit(e.path, r + "/"):
                    items.append(_Item(r, "dir"))
            elif stat.S_ISREG(st.st_mode):
                items.append(_Item(r, "file", 0o755 if st.st_mode & 0o111 else 0o644))
        return any_child

    visit(root, "")
    return items


def _env_dirs(commands: str, var: str) -> list[str]:
    return [d.strip("/") for d in re.findall(_ENV_DIR.format(var=var), commands)]


def _under(rel: str, dirs: list[str]) -> Optional[str]:
    for d in dirs:
        if not d or rel.startswith(d + "/"):
            return d
    return None


def _placement(plan: dict) -> dict[str, str]:
    """Wheel path for each payload path: PYTHONPATH dirs at the root, PATH dirs as scripts."""
    data_dir = f"{plan['stem']}.data"
    share = f"{data_dir}/data/share/rez/{plan['variant'].name}"
    used: set[str] = set()
    out: dict[str, str] = {}
    for item in plan["items"]:
        if item.kind == "dir":
            continue
        rel = item.rel
        dest = f"{share}/{rel}"
        d = _under(rel, plan["py_dirs"])
        if d is not None:
            inner = rel[len(d) + 1:] if d else rel
            top = inner.split("/", 1)[0]
            if not top.endswith((".dist-info", ".data")) and "/__pycache__/" not in f"/{inner}":
                dest = inner
        elif os.path.dirname(rel) in plan["bin_dirs"] and os.path.dirname(rel):
            dest = f"{data_dir}/scripts/{os.path.basename(rel)}"
        if dest in used:
            dest = f"{share}/{rel}"
        used.add(dest)
        out[rel] = dest
    return out


def _write(pkg: Any, plan: dict, data: dict, definition: str, outdir: str) -> Converted:
    variant = plan["variant"]
    root = plan["root"]
    placement = _placement(plan)
    files, links = [], []
    by_rel = {i.rel: i for i in plan["items"]}
    members: list[tuple[str, str, int, bool]] = []  # (wheel path, source rel, mode, link copy)
    for item in plan["items"]:
        if item.kind == "link":
            src = _link_source(root, item, by_rel)
            wheel_path = placement[item.rel] if src else None
            links.append(LinkEntry(item.rel, item.target, wheel_path))
            if src and wheel_path:
                members.append((wheel_path, src, by_rel[src].mode, True))
        elif item.kind == "file":
            members.append((placement[item.rel], item.rel, item.mode, False))
    members.sort()

    path = os.path.join(outdir, plan["filename"])
    dist_info = f"{plan['stem']}.dist-info"
    scripts = f"{plan['stem']}.data/scripts/"
    with WheelWriter(path) as w:
        for wheel_path, src, mode, link_copy in members:
            with open(os.path.join(root, src), "rb") as fh:
                first, shebang = b"", None
                if wheel_path.startswith(scripts) and not link_copy:
                    first = fh.read(256)
                    m = _PYTHON_SHEBANG.match(first)
                    if m:  # pip and uv point "#!python" at the venv's interpreter
                        shebang = m.group(0).decode()
                        first = b"#!python\n" + first[m.end():]
                w.add_stream(wheel_path, fh, mode, first=first,
                             size_hint=os.fstat(fh.fileno()).st_size)
            if not link_copy:
                files.append(FileEntry(wheel_path, src, mode, shebang))
        layout = Layout(
            rez_name=pkg.name, rez_version=str(pkg.version), variant_index=variant.index,
            variant_requires=tuple(str(r) for r in variant.variant_requires),
            # where rez looks without shortlinks (a host's repository has none for it)
            subpath=fsrepo.variant_subpath(data, variant.index) or None,
            files=tuple(sorted(files, key=lambda f: f.path)),
            links=tuple(links), dirs=tuple(i.rel for i in plan["items"] if i.kind == "dir"),
            missing_root=plan["missing"])
        layout.check(pkg.uri)  # what every reader will check: fail here, not on the hosts
        w.add_bytes(f"{dist_info}/METADATA", _metadata(pkg, plan, data, definition).encode())
        w.add_bytes(f"{dist_info}/WHEEL", _wheel_file(plan).encode())
        w.add_bytes(f"{dist_info}/{DEFINITION}", definition.encode())
        w.add_bytes(f"{dist_info}/{LAYOUT_FILE}", layout.to_json().encode())
        sha = w.finish(f"{dist_info}/RECORD")
    return Converted(pkg.name, str(pkg.version), variant.index, path, sha)


def _link_source(root: str, item: _Item, by_rel: dict) -> Optional[str]:
    """The regular file a symlink resolves to inside the root, if any (copied for pip users)."""
    rel = os.path.normpath(os.path.join(os.path.dirname(item.rel), item.target))
    seen = 0
    while rel in by_rel and by_rel[rel].kind == "link" and seen < 40:
        nxt = by_rel[rel]
        rel = os.path.normpath(os.path.join(os.path.dirname(nxt.rel), nxt.target))
        seen += 1
    target = by_rel.get(rel)
    return rel if target is not None and target.kind == "file" else None


def _metadata(pkg: Any, plan: dict, data: dict, definition: str) -> str:
    variant = plan["variant"]
    # late-bound description / requires: code, unknown until a context is built, so pip
    # users get the default summary and no Requires-Dist from them
    description = data.get("description")
    summary = " ".join((description if isinstance(description, str) and description
                        else f"rez package {pkg.name}").split())
    requires = data.get("requires")
    requests = [str(r) for r in requires] if isinstance(requires, list) else []
    requests += [str(r) for r in variant.variant_requires]
    reqs = [r for r in (naming.request_to_requirement(q) for q in requests) if r]
    from rez.version import Requirement
    parsed = [Requirement(q) for q in requests]
    requires_python = naming.python_requirement(
        str(r.range) for r in parsed if r.name == "python" and not r.range.is_any())
    lines = ["Metadata-Version: 2.1", f"Name: {plan['dist']}", f"Version: {plan['version']}",
             f"Summary: {summary[:500]}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in dict.fromkeys(reqs)]
    lines.append("Description-Content-Type: text/markdown")
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", definition)), default=0))
    where = "no variants" if variant.index is None else f"variant {variant.index}"
    requires = ", ".join(f"`{r}`" for r in variant.variant_requires) or "none"
    body = (f"# rez package `{pkg.name}` version `{pkg.version}` ({where})\n\n"
            f"Variant requires: {requires}.\n\nRez definition:\n\n"
            f"{fence}python\n{definition}{fence}\n")
    return "\n".join(lines) + "\n\n" + body


def _wheel_file(plan: dict) -> str:
    lines = ["Wheel-Version: 1.0", f"Generator: rezwheel {__version__}",
             f"Root-Is-Purelib: {'false' if plan['compiled'] else 'true'}", f"Tag: {plan['tags']}"]
    if plan["build"]:
        lines.append(f"Build: {plan['build']}")
    return "\n".join(lines) + "\n"

