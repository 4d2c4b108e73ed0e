"""Convert: one rez variant becomes one wheel (DESIGN.md section 2).

``convert_package`` reads like the steps: serialize the definition, walk each variant root,
decide where each file goes for pip users, pick tags and names, and stream everything into a
reproducible archive with the definition and layout map last. ``convert_paths`` does that for
every package under some paths and returns a ``Report``: what was converted, skipped and failed
(one line per package), and the warnings of a bulk run counted by kind, so a repository of
metadata-only mirrors says "20000 variants have no payload directory" once.

What is not shipped: ``__pycache__`` directories and ``*.pyc`` / ``*.pyo`` files. They are
caches: installer >= 1.1 refuses to install ``__pycache__`` members (so a root restored from such
a wheel would silently differ from its source), and pip users would get stray files. The
round-trip promise is "byte for byte, caches excluded". Symlinks that leave the variant root
(absolute, or escaping through ``..``; every ``rez bind python`` package has one) are refused
here, with one line naming the package and the link, because every reader refuses them.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Optional

from rezwheel.artifact import naming, rezdef, writer
from rezwheel.atomic import make_dir
from rezwheel.artifact.identity import VariantId
from rezwheel.artifact.plan import PayloadItem, VariantPlan, under
from rezwheel.errors import ConversionError, InvalidWheelError, RezwheelError
from rezwheel.artifact.layout import FILENAME as LAYOUT_FILE, FileEntry, Layout, LinkEntry
from rezwheel.rezrepo.scan import DEFINITION_FILES, LoadFailure, Skipped, iter_packages, shards
from rezwheel.artifact.tags import build_tags, variant_tags
from rezwheel.artifact.reader import DEFINITION
from rezwheel.artifact.writer import WheelWriter

if TYPE_CHECKING:
    from rezwheel.artifact.reuse import Reuse

_EXT_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES) + (".so", ".pyd")
_PYTHON_SHEBANG = re.compile(rb"#![^\n]*\bpython[0-9.]*[ \t]*\r?\n")
_ENV_DIR = r"""env\.{var}\.(?:append|prepend)\(\s*(?:r?["'])\{{(?:this\.)?root\}}/?([^"']*)["']"""
#: bytecode caches: never shipped (see the module docstring)
_CACHE_DIR = "__pycache__"
_CACHE_SUFFIXES = (".pyc", ".pyo")

#: a bulk run lists at most this many warnings of one kind; more are counted (--verbose lists)
LISTED_AT_MOST = 10
NO_PAYLOAD = "no-payload"
RESOLVE_TIME_CODE = "resolve-time-code"
_COUNTED = {
    NO_PAYLOAD: "{n} variants have no payload directory (metadata only): converted with empty "
                "payloads",
    RESOLVE_TIME_CODE: "{n} packages have code in attributes rez reads while resolving: hosts "
                       "resolving from an index will refuse them unless the index is trusted "
                       "to run code",
}


@dataclass(frozen=True)
class Converted:
    """One wheel made: the variant it holds (the identity the plan carried), where, its sha256."""

    id: VariantId
    file: str
    sha256: str

    def as_json(self) -> dict:
        """The ``convert --json`` record (a documented contract: its keys never change)."""
        return {"rez_name": self.id.name, "rez_version": self.id.version,
                "variant_index": self.id.index, "file": self.file, "sha256": self.sha256}


@dataclass
class Report:
    """What a conversion run did: one line per skipped item, per failed package and per path
    that holds no package (``bad_paths``: the user's input, not a package, so not counted as
    a failed package), and warnings by kind (``NO_PAYLOAD``, ``RESOLVE_TIME_CODE``)."""
    converted: list[Converted] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_paths: list[str] = field(default_factory=list)
    notices: dict[str, list[str]] = field(default_factory=dict)
    reused: list[tuple[str, str]] = field(default_factory=list)  # (file, sha256): unchanged
    dists: dict[str, str] = field(default_factory=dict)  # distribution name -> rez family
    fresh: dict = field(default_factory=dict)  # what ``reuse`` learnt (from a worker)

    def note(self, kind: str, line: str) -> None:
        self.notices.setdefault(kind, []).append(line)

    def warnings(self, verbose: bool = False) -> list[str]:
        """Warning lines to show: each item when few (or ``verbose``), else one count per kind."""
        out: list[str] = []
        for kind, lines in self.notices.items():
            if verbose or len(lines) <= LISTED_AT_MOST:
                out += lines
            else:
                out.append(_COUNTED[kind].format(n=len(lines)) + " (--verbose lists them)")
        return out

    def summary(self) -> str:
        """``N converted, M skipped, K failed``: wheels made, wheels not made again (their
        package is unchanged and the target holds them) plus items skipped, packages failed."""
        return (f"{len(self.converted)} converted, {len(self.skipped) + len(self.reused)} "
                f"skipped, {len(self.failed)} failed")


def convert_paths(paths: Iterable[str], outdir: str, prefix: str = "",
                  linux_tag: str = "linux", reuse: Optional["Reuse"] = None,
                  jobs: Optional[int] = None, sidecars: bool = False,
                  counters: Optional[tuple] = None) -> Report:
    """Convert every variant under ``paths``; failures are reported, not raised, one per
    package (or per path that holds none), and the other packages still convert.

    The flow: find the packages under ``paths`` and split them by family among ``jobs``
    processes (default: every core, or ``REZWHEEL_JOBS``: loading definitions through rez is
    Python-bound, so one process uses one core); each process converts its packages
    (``_convert_each``); the reports are merged, and the distribution-name check spans them all.

    ``reuse``: packages unchanged since a conversion whose wheels the target still holds are
    reported in ``Report.reused`` without being loaded or converted again. ``sidecars``: also
    leave each wheel's PEP 658 ``.metadata`` file beside it (a local index takes both by
    renaming: the file is written by the worker that has the text at hand). ``counters``: what
    ``progress.conversion_bar`` shows (the writers count into them).
    """
    make_dir(outdir, "the output directory")
    with writer.counting(counters):
        return _convert_paths(list(paths), outdir, prefix, linux_tag, reuse, jobs, sidecars)


def _convert_paths(paths: list[str], outdir: str, prefix: str, linux_tag: str,
                   reuse: Optional["Reuse"], jobs: Optional[int], sidecars: bool) -> Report:
    jobs = jobs or writer.jobs()
    split = shards(paths, jobs) if jobs > 1 else None
    if split is None:
        return _convert_each(paths, outdir, prefix, linux_tag, reuse, None, sidecars)
    parts = _in_workers(_convert_each, [(paths, outdir, prefix, linux_tag, reuse, only, sidecars)
                                        for only in split])
    return _merge(parts, reuse)


def _convert_each(paths: list[str], outdir: str, prefix: str, linux_tag: str,
                  reuse: Optional["Reuse"], only: Optional[set], sidecars: bool = False) -> Report:
    """The flow in one process, package by package (``only``: these families; None: all):
    report what is not a package; pass over what ``reuse`` knows unchanged; check the package
    lies where rez reads it; claim its distribution name; write a wheel per variant; note the
    code rez would run while resolving."""
    report = Report()
    for pkg in iter_packages(paths, validate=reuse is None, only=only):
        if _not_a_package(pkg, report) or _reused(pkg, reuse, report):
            continue
        try:
            data = _definition(pkg)
            dist = _claim(report.dists, naming.dist_name(pkg.name, prefix, data.get("pip_name")),
                          pkg)
            made = convert_package(pkg, data, outdir, dist, linux_tag, report, sidecars)
            report.converted.extend(made)
            if reuse is not None:
                reuse.record(pkg, [(os.path.basename(c.file), c.sha256) for c in made])
            _note_resolve_time_code(pkg, data, report)
        except RezwheelError as e:
            report.failed.append(str(e))
        except Exception as e:  # rez's own load and validation errors
            report.failed.append(_failure(pkg, e))
    if reuse is not None:
        report.fresh = reuse.learnt()
    return report


def _not_a_package(pkg: Any, report: Report) -> bool:
    """Report a path that failed to load or holds nothing to convert; True if it was one."""
    if isinstance(pkg, LoadFailure):
        (report.failed if pkg.package else report.bad_paths).append(pkg.message)
        return True
    if isinstance(pkg, Skipped):
        report.skipped.append(pkg.message)
        return True
    return False


def _reused(pkg: Any, reuse: Optional["Reuse"], report: Report) -> bool:
    """With ``reuse`` (packages are then loaded unvalidated, for speed): True if the package
    is unchanged and its wheels are reported reused, or if it fails rez's validation now."""
    if reuse is None:
        return False
    files = reuse.reusable(pkg)
    if files is not None:
        report.reused.extend(files)
        return True
    try:
        pkg.validate_data()
    except Exception as e:
        report.failed.append(_failure(pkg, e))
        return True
    return False


def _definition(pkg: Any) -> dict:
    """The package's data, refused when its definition names another package than the one rez
    reads at its place (a directory above a repository was given)."""
    data = rezdef.package_data(pkg)
    raw = getattr(pkg, "_data", None) or getattr(pkg.resource, "_data", None) or {}
    if raw.get("name", pkg.name) != pkg.name:
        raise ConversionError(
            f"{_where(pkg)}: its definition names {raw.get('name')!r}, but it lies "
            f"where rez reads {pkg.qualified_name}: is {pkg.repository.location} "
            "really a package repository?")
    return data


def _claim(families: dict[str, str], dist: str, pkg: Any) -> str:
    """Claim the distribution name ``dist`` for the package's family (``families``: distribution
    name -> rez family), refused when another family holds it."""
    other = families.setdefault(dist, pkg.name)
    if other != pkg.name:
        raise ConversionError(f"{pkg.uri}: rez families {other!r} and {pkg.name!r} "
                              f"both map to distribution {dist!r}")
    return dist


def _note_resolve_time_code(pkg: Any, data: dict, report: Report) -> None:
    """Say now what a host will refuse later (``rezdef.check_resolvable``)."""
    for key in rezdef.resolve_time_code(data):
        report.note(RESOLVE_TIME_CODE, f"{pkg.uri}: {key} is {rezdef.binding(data[key])}: "
                    "hosts resolving from an index will refuse it unless the index is "
                    "trusted to run code")


def _in_workers(work: Any, calls: list[tuple]) -> list[Report]:
    """``work(*call)`` for each call, each in a forked process."""
    import multiprocessing

    # forked workers inherit rez, already imported for the split: no second start-up; and
    # they are stopped at once when this process is interrupted (Ctrl-C, SIGTERM from CI)
    pool = multiprocessing.get_context("fork").Pool(len(calls))
    try:
        return pool.starmap(work, calls)
    finally:
        pool.terminate()
        pool.join()


def _merge(parts: list[Report], reuse: Optional["Reuse"]) -> Report:
    """One report of the processes' reports; a distribution name two processes gave to two
    families fails the packages of the second (their wheels are removed)."""
    report = Report()
    owner: dict[str, str] = {}  # distribution name -> rez family, across the parts
    for part in parts:
        clash = {dist: fam for dist, fam in part.dists.items() if owner.setdefault(dist, fam) != fam}
        for c in part.converted:
            dist = next((d for d, f in part.dists.items() if f == c.id.name), None)
            if dist in clash:
                os.unlink(c.file)
                report.failed.append(f"{c.id.package}: rez families "
                                     f"{owner[dist]!r} and {c.id.name!r} both map to "
                                     f"distribution {dist!r}")
            else:
                report.converted.append(c)
        report.skipped += part.skipped
        report.failed += part.failed
        report.bad_paths += [b for b in part.bad_paths if b not in report.bad_paths]
        report.reused += part.reused
        for kind, lines in part.notices.items():
            report.notices.setdefault(kind, []).extend(lines)
        if reuse is not None and part.fresh:
            reuse.merge(part.fresh)
    report.dists = owner
    return report


def _definition_text(pkg: Any, data: dict) -> str:
    """The definition a wheel carries, read back as every host will read it: what no host can
    read (``@include``, whose modules live outside any variant root; a ``ModifyList`` rez's
    writer cannot write) is refused here on one line, not shipped for each host to refuse. The
    written text's line number would mislead (the package's file is another): it is dropped."""
    try:
        return rezdef.dump_checked(data, pkg.uri)
    except RezwheelError as e:  # UnsafeDefinitionError: the text does not read back
        culprit = rezdef.unwritable(data)
        reason = f"{culprit}, which rez's writer cannot write" if culprit else \
            re.sub(r"^line [0-9?]+: ", "", str(e)[len(str(pkg.uri)) + 2:])
        raise ConversionError(f"{pkg.uri}: {reason}; hosts could not read its definition: "
                              "not converted") from None


def convert_package(pkg: Any, data: dict, outdir: str, dist: str, linux_tag: str = "linux",
                    report: Optional[Report] = None, sidecars: bool = False) -> list[Converted]:
    """Every variant of one package, or none: a failure removes the files already written.

    File names are unique per variant: where tags do not tell the variants apart, build tags
    (the variant index) do (``tags.build_tags``). Variants with identical requires share one
    root in rez, so they are refused. A variant root nested in another's (``[["a"], ["a",
    "b"]]``) belongs to its own variant only.
    """
    definition = _definition_text(pkg, data)
    variants = list(pkg.iter_variants())
    requires = [[str(r) for r in v.variant_requires] for v in variants]
    builds = build_tags(requires) if len(variants) > 1 or variants[0].index is not None \
        else [None]
    roots = [_root(v) for v in variants]
    names: dict[str, int] = {}
    seen: dict[tuple[str, ...], tuple[int, str]] = {}
    plans: list[VariantPlan] = []
    for variant, build, root in zip(variants, builds, roots):
        nested = {os.path.relpath(r, root) for r in roots
                  if r and root and r.startswith(root.rstrip(os.sep) + os.sep)}
        plan = _plan(pkg, variant, data, dist, linux_tag, build, root, nested)
        key = plan.requires
        if key in seen:
            raise ConversionError(
                f"{pkg.uri}: variants {seen[key][0]} and {variant.index} would both produce "
                f"{seen[key][1]}: their requires are identical (rez gives them one root)")
        seen[key] = (variant.index, f"{plan.stem}-{plan.tags}.whl")
        if plan.filename in names:
            raise ConversionError(
                f"{pkg.uri}: variants {names[plan.filename]} and {variant.index} would both "
                f"produce {plan.filename}")
        names[plan.filename] = variant.index
        plans.append(plan)
    done: list[Converted] = []
    try:
        for plan in plans:
            done.append(_write(pkg, plan, data, definition, outdir, sidecars))
    except BaseException:
        for c in done:
            for leftover in (c.file, c.file + ".metadata"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
        raise
    if report is not None:
        for plan in plans:
            if plan.missing and plan.root:
                report.note(NO_PAYLOAD, f"{pkg.uri}: variant {plan.variant.index} has no "
                            f"directory {plan.root}: converting with an empty payload")
    return done


def _root(variant: Any) -> Optional[str]:
    """The variant's root on disk; None where rez gives it none (combined family files hold
    definitions only)."""
    root = variant.root
    return root if isinstance(root, str) and root not in ("", "None") else None


def _plan(pkg: Any, variant: Any, data: dict, dist: str, linux_tag: str,
          build: Optional[str], root: Optional[str], nested: set[str]) -> VariantPlan:
    """What this variant's wheel will hold and be named: its payload walked, its links
    checked, its python and script directories read from ``commands``, its tags picked."""
    missing = root is None or not os.path.isdir(root)
    # a root that is the package directory itself holds the definition: rez's, not payload
    skip = set(DEFINITION_FILES) if not rezdef.variant_subpath(data, variant.index) else set()
    items = () if missing else _walk(root, skip, nested)  # type: ignore[arg-type]
    _check_links(pkg, variant, items)
    commands = str(data.get("commands") or "")
    py_dirs = _env_dirs(commands, "PYTHONPATH")
    # (truthiness, as it always was: a payload on PYTHONPATH at the root ("") is not counted)
    compiled = any(i.kind == "file" and i.rel.endswith(_EXT_SUFFIXES) and under(i.rel, py_dirs)
                   for i in items)
    requires = tuple(str(r) for r in variant.variant_requires)
    return VariantPlan(
        variant=VariantId(pkg.name, str(pkg.version), variant.index), requires=requires,
        dist=dist, version=naming.rez_to_pep440(str(pkg.version)),
        tags=variant_tags(list(requires), compiled, linux_tag), build=build, compiled=compiled,
        root=root, missing=missing, items=items, py_dirs=py_dirs,
        bin_dirs=_env_dirs(commands, "PATH"))


def _check_links(pkg: Any, variant: Any, items: tuple[PayloadItem, ...]) -> None:
    """Refuse, before writing anything, a symlink that every reader would refuse: absolute,
    or leaving the variant root (through ``..`` or through other links)."""
    links = tuple(LinkEntry(i.rel, i.target) for i in items if i.kind == "link")
    if not links:
        return
    where = pkg.uri if variant.index is None else f"{pkg.uri}: variant {variant.index}"
    try:
        Layout(pkg.name, str(pkg.version), variant.index, (), None, links=links).check(where)
    except InvalidWheelError as e:
        message = str(e).replace(f" in {LAYOUT_FILE}", "")
        if message.endswith("outside the variant root"):
            message += ": links must stay inside the variant root"
        raise ConversionError(f"{message}; not converted") from None


def _walk(root: str, skip_top: set, nested: set[str]) -> tuple[PayloadItem, ...]:
    """Every file, symlink and empty directory under root, sorted, without following links;
    not bytecode caches, nor other variants' roots nested in this one."""
    items: list[PayloadItem] = []

    def visit(directory: str, rel: str) -> bool:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
        any_child = False
        for e in entries:
            r = f"{rel}{e.name}"
            if (not rel and e.name in skip_top) or r in nested or e.name == _CACHE_DIR or \
                    e.name.endswith(_CACHE_SUFFIXES):
                continue
            any_child = True
            st = e.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                items.append(PayloadItem(r, "link", target=os.readlink(e.path)))
            elif stat.S_ISDIR(st.st_mode):
                if not visit(e.path, r + "/"):
                    items.append(PayloadItem(r, "dir"))
            elif stat.S_ISREG(st.st_mode):
                items.append(PayloadItem(r, "file", 0o755 if st.st_mode & 0o111 else 0o644))
        return any_child

    visit(root, "")
    return tuple(items)


def _env_dirs(commands: str, var: str) -> tuple[str, ...]:
    return tuple(d.strip("/") for d in re.findall(_ENV_DIR.format(var=var), commands))


def _write(pkg: Any, plan: VariantPlan, data: dict, definition: str, outdir: str,
           sidecar: bool = False) -> Converted:
    root = plan.root
    placement = plan.placement()
    files, links = [], []
    by_rel = {i.rel: i for i in plan.items}
    members: list[tuple[str, str, int, bool]] = []  # (wheel path, source rel, mode, link copy)
    for item in plan.items:
        if item.kind == "link":
            src = _link_source(root, item, by_rel)
            wheel_path = placement[item.rel] if src else None
            links.append(LinkEntry(item.rel, item.target, wheel_path))
            if src and wheel_path:
                members.append((wheel_path, src, by_rel[src].mode, True))
        elif item.kind == "file":
            members.append((placement[item.rel], item.rel, item.mode, False))
    members.sort()

    path = os.path.join(outdir, plan.filename)
    dist_info = f"{plan.stem}.dist-info"
    scripts = f"{plan.stem}.data/scripts/"
    with WheelWriter(path) as w:
        for wheel_path, src, mode, link_copy in members:
            with open(os.path.join(root, src), "rb") as fh:  # type: ignore[arg-type]
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
            rez_name=plan.variant.name, rez_version=plan.variant.version,
            variant_index=plan.variant.index,
            variant_requires=plan.requires,
            # where rez looks without shortlinks (a host's repository has none for it)
            subpath=rezdef.variant_subpath(data, plan.variant.index) or None,
            files=tuple(sorted(files, key=lambda f: f.path)),
            links=tuple(links), dirs=tuple(i.rel for i in plan.items if i.kind == "dir"),
            missing_root=plan.missing)
        layout.check(pkg.uri)  # what every reader will check: fail here, not on the hosts
        metadata = plan.metadata(data, definition).encode()
        w.add_bytes(f"{dist_info}/METADATA", metadata)
        w.add_bytes(f"{dist_info}/WHEEL", plan.wheel_file().encode())
        w.add_bytes(f"{dist_info}/{DEFINITION}", definition.encode())
        w.add_bytes(f"{dist_info}/{LAYOUT_FILE}", layout.to_json().encode())
        sha = w.finish(f"{dist_info}/RECORD")
    if sidecar:
        with open(path + ".metadata", "wb") as fh:
            fh.write(metadata)
    return Converted(plan.variant, path, sha)


def _link_source(root: Optional[str], item: PayloadItem, by_rel: dict) -> Optional[str]:
    """The regular file a symlink resolves to inside the root, if any (copied for pip users)."""
    rel = os.path.normpath(os.path.join(os.path.dirname(item.rel), item.target))
    seen = 0
    while rel in by_rel and by_rel[rel].kind == "link" and seen < 40:
        nxt = by_rel[rel]
        rel = os.path.normpath(os.path.join(os.path.dirname(nxt.rel), nxt.target))
        seen += 1
    target = by_rel.get(rel)
    return rel if target is not None and target.kind == "file" else None


def _failure(pkg: Any, e: BaseException) -> str:
    """One line for an error rez raised about a package."""
    return f"{_where(pkg)}: {' '.join(str(e).split())[:300]}"


def _where(pkg: object) -> str:
    """A package as messages name it: its file, else its rez name (rez has no file for a
    package whose definition is missing)."""
    uri = getattr(pkg, "uri", None)
    if uri:
        return str(uri)
    where = getattr(getattr(pkg, "resource", None), "location", None)
    name = getattr(pkg, "qualified_name", None) or "a package"
    return f"{name} (in {where})" if where else str(name)
