"""Locking a rez resolve for plain Python tooling: ``pylock.toml`` (PEP 751) or a pip
hash-checking requirements file, so hosts without rez install it with pip or uv.

Every variant on an index is already a wheel, so a rez resolve names exact files. The resolve
is rez's own (``resolve.planner``: the plugin's repositories, rez-pip style plain projects,
implicit packages, the package filter) and downloads no payload. Packages rez resolves that have
no wheel to install (``python``, ``platform``, ``arch``, ``os``, which the target host itself
provides, and anything found only in a filesystem repository) are listed under
``[tool.rezwheel]``, never dropped in silence. The target (``--python X.Y``, ``--platform
TAG``) stands in for those host packages when no repository has them, so a lock needs no
``rez bind``; each chosen wheel must then fit that target, or the lock fails on one line.

Sizes: ``IndexFile`` carries none, so a wheel's size is read where it is free (a local index's
or a site mirror's file, a payload the store holds, a size remembered in the store by sha256),
else asked once with a HEAD and remembered (a file's sha256 fixes its size for good). Index
URLs are written without their user information: credentials never reach a lock file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from rezwheel.artifact.identity import VariantId
from rezwheel.errors import RezwheelError

#: rez families the target host provides: never installed from a wheel
HOST = ("python", "platform", "arch", "os")


@dataclass(frozen=True)
class Locked:
    """One resolved rez package: the wheel that installs it, or none (``rez_only``)."""
    id: VariantId  # the rez family, version and variant index rez chose
    project: Optional[str] = None  # distribution name on the index
    version: Optional[str] = None  # PEP 440 version, as the file name gives it
    filename: Optional[str] = None
    url: Optional[str] = None  # without credentials
    sha256: Optional[str] = None
    size: Optional[int] = None
    index: Optional[str] = None  # the simple index URL, without credentials
    upload_time: Optional[float] = None
    why: str = ""  # rez-only: why there is no wheel

    @property
    def rez_only(self) -> bool:
        return self.filename is None

    @property
    def package(self) -> str:
        return self.id.package

    def as_json(self) -> dict:
        """``--json``'s entry: the identity spelled out beside the file."""
        out = {"rez_name": self.id.name, "rez_version": self.id.version,
               "variant": self.id.index}
        out.update((k, v) for k, v in vars(self).items() if k != "id")
        return out


@dataclass
class Resolved:
    """What a lock writes, and what ``export`` installs."""
    requests: list[str]
    python: str  # major.minor the wheels were checked against
    platform: str  # the platform tag they were checked against
    packages: list[Locked]
    indexes: list[str]  # simple index URLs, without credentials, in the order read
    steps: list[Any] = field(default_factory=list, repr=False)  # planner steps (export)
    variants: dict = field(default_factory=dict, repr=False)  # VariantId -> rez variant

    @property
    def wheels(self) -> list[Locked]:
        return [p for p in self.packages if not p.rez_only]

    @property
    def rez_only(self) -> list[Locked]:
        return [p for p in self.packages if p.rez_only]


def resolve(requests: list[str], indexes: list[str], python: Optional[str] = None,
            platform: Optional[str] = None, prefix: str = "", store: Optional[str] = None,
            for_export: bool = False) -> Resolved:
    """rez's resolve of ``requests`` over ``indexes``, each variant tied to its wheel file.

    ``for_export``: sdists of plain projects are built into wheels here (as ``install`` does)
    and the rez variants are kept for their ``commands``."""
    from rezwheel.resolve.solve import skip_context_cleanup
    from rezwheel.resolve.store import Store

    target_python = python or "%d.%d" % _running()[:2]
    with tempfile.TemporaryDirectory(prefix="rezwheel-host-") as host:
        _host_packages(host, target_python, platform)
        try:
            with _implicit_packages(platform):
                steps, variants, clean, sources = _plan(requests, indexes, target_python,
                                                        platform, bool(python), prefix, store,
                                                        host, for_export)
        except RezwheelError as e:  # the stand-ins' directory is ours, not the user's to see
            said = str(e).replace(f" nor in {host}", "").replace(
                host, "the target host's packages")
            if said == str(e):
                raise
            raise type(e)(said) from None
    skip_context_cleanup()
    resolved_python = next((s.id.version for s in steps if s.id.name == "python"), "")
    short = ".".join((resolved_python if _is_xy(resolved_python) else target_python)
                     .split(".")[:2])
    supported, plat = _supported_tags(short, platform)
    packages = _locked(steps, clean, Store(store), sources)
    for p in packages:
        if not p.rez_only and not _fits(p.filename or "", supported):
            raise RezwheelError(f"{p.package}: {p.filename} does not fit python {short} on {plat}"
                                f" (the variant rez chose has no wheel for this target on "
                                f"{p.index})")
    return Resolved(list(requests), short, plat, packages, _unique(clean.values()), steps,
                    variants)


# -- the one place the resolve layers are called (their signatures may move)
def _plan(requests: list[str], indexes: list[str], python: str, platform: Optional[str],
          explicit: bool, prefix: str, store: Optional[str], host: str, for_export: bool
          ) -> tuple[list[Any], dict, dict, list[Any]]:
    """(planner steps, rez variants, reader -> clean index URL, readers) for ``requests``.

    The host packages count as installed; the indexes come first (``force``), so a package a
    filesystem repository also holds is still locked as the index's wheel. Plain projects'
    markers and wheels are pip's choice for the target platform (``Target.platform``)."""
    from rezwheel.resolve.planner import Planner
    from rezwheel.rezplugin import artifactory
    from rezwheel.rezrepo.rezpip import Target

    with Planner(indexes, Target(python, platform), prefix, store=store,
                 explicit_python=explicit, force=True, build=for_export,
                 bind=artifactory.bind, unbind=artifactory.unbind) as planner:
        try:
            steps = planner.plan(list(requests), host)
        except RezwheelError as e:  # rez names the paths it searched: not the planner's own
            said = str(e).replace(planner.scratch, "the plain projects pip resolved")
            if said == str(e):
                raise
            raise type(e)(said) from None
        sources = [s for r in planner.repos for s in r.readers]
        clean = {id(s): index_url(s.url) for s in sources}
        variants = {}
        if for_export:
            from rez.packages import get_package

            paths = planner.package_paths() + planner.have
            for s in steps:
                pkg = get_package(s.id.name, s.id.version, paths=paths)
                if pkg is not None:
                    variants[s.id] = pkg.get_variant(s.id.index) \
                        if s.id.index is not None else next(pkg.iter_variants())
    return steps, variants, clean, sources


def _locked(steps: list[Any], clean: dict, store: Any, sources: list[Any]) -> list[Locked]:
    from rezwheel.index.pages import dist_of
    from rezwheel.pools import threads

    def one(s: Any) -> Locked:
        if s.kind == "installed" or s.id.name in HOST or s.file is None:
            why = "the target host provides it" if s.id.name in HOST else \
                "found in a filesystem repository, not on an index"
            return Locked(s.id, why=why)
        f = s.file
        dist = dist_of(f.filename)
        if dist is None:
            raise RezwheelError(f"{s.package}: {f.filename} is not a wheel or sdist file name")
        owner = _owner(f.url, sources)
        return Locked(s.id, dist[0], str(dist[1]), f.filename,
                      _file_url(f.url), f.sha256, _size(s, owner, store),
                      clean.get(id(owner)) if owner is not None else None, f.upload_time)

    with threads(8, "rezwheel-lock") as pool:  # a size may cost a HEAD: side by side
        return list(pool.map(one, steps))


def _owner(url: str, sources: list[Any]) -> Any:
    return next((s for s in sources if s.allow(url)), None)


def _size(step: Any, owner: Any, store: Any) -> Optional[int]:
    """The file's size: from a file on this host, from what the store remembers by sha256,
    else from a HEAD (remembered); None when the server will not say."""
    from rezwheel.atomic import atomic_write

    f = step.file
    candidates = [step.local, owner.local_path(f) if owner is not None else None,
                  store.wheel_path(f.sha256, f.filename) if f.sha256 else None]
    for path in candidates:
        if path and os.path.isfile(path):
            return os.path.getsize(path)
    if not f.sha256:
        return None
    memo = os.path.join(store.root, "sizes", f.sha256)
    try:
        with open(memo, encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        pass
    size = owner.size(f) if owner is not None else None
    if size is not None:
        os.makedirs(os.path.dirname(memo), exist_ok=True)
        atomic_write(memo, str(size).encode(), prefix=".tmp-")
    return size


# -- the target
def _running() -> tuple[int, ...]:
    import sys

    return tuple(sys.version_info[:3])


def _is_xy(version: str) -> bool:
    parts = version.split(".")
    return len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit()


def host_facts(platform_tag: Optional[str]) -> tuple[str, str]:
    """(rez platform, rez arch) of a wheel platform tag (this host's without one)."""
    if platform_tag is None:  # as rez.system names them (which costs 0.2 s to import)
        import platform
        import sys

        plat = {"darwin": "osx", "win32": "windows"}.get(sys.platform, sys.platform)
        return ("linux" if plat.startswith("linux") else plat), platform.machine()
    from rezwheel.artifact.tags import tag_facts

    plat, arch, _ = tag_facts(platform_tag)
    return plat, arch


def _host_packages(root: str, python: str, platform_tag: Optional[str]) -> None:
    """Stand-ins for what the target host provides (python, platform, arch), so a lock needs
    no ``rez bind``; a repository that has them wins for the same version."""
    plat, arch = host_facts(platform_tag)
    for name, version in (("python", python), ("platform", plat), ("arch", arch)):
        d = os.path.join(root, name, version)
        os.makedirs(d)
        with open(os.path.join(d, "package.py"), "w", encoding="utf-8") as fh:
            fh.write(f"name = {name!r}\nversion = {version!r}\n")


class _implicit_packages:
    """rez's implicit packages for another platform (this host's ``~platform==linux`` would
    refuse a macOS lock); unchanged without ``--platform``."""

    def __init__(self, platform_tag: Optional[str]) -> None:
        self.tag = platform_tag

    def __enter__(self) -> None:
        if self.tag is None:
            return
        from rez.config import config

        plat, arch = host_facts(self.tag)
        self.saved = list(config.implicit_packages)
        config.override("implicit_packages", [f"~platform=={plat}", f"~arch=={arch}"])

    def __exit__(self, *exc: Any) -> None:
        if self.tag is not None:
            from rez.config import config

            config.override("implicit_packages", self.saved)


def _environments(platform_tag: str) -> list[str]:
    """PEP 751's ``environments``: the lock holds the wheels of one platform (rez resolved its
    variants for it), so an installer on another host refuses it instead of installing them."""
    from rezwheel.artifact.tags import tag_facts
    from rezwheel.errors import UsageError

    try:
        _, _, m = tag_facts(platform_tag)
    except UsageError:  # a host no tag pattern here names: say nothing rather than guess
        return []
    marker = f"sys_platform == '{m['sys_platform']}'"
    if m["platform_machine"] not in ("universal2", "universal", "intel"):
        marker += f" and platform_machine == '{m['platform_machine']}'"
    return [f"environments = [{_q(marker)}]"]


def _supported_tags(python: str, platform_tag: Optional[str]) -> tuple[set, str]:
    """The wheel tags an installer accepts for ``python`` on the platform (this host's when
    no tag is given), and the platform tag named in messages."""
    from packaging import tags

    from rezwheel.artifact.tags import compatible_platforms

    major, minor = (int(x) for x in python.split(".")[:2])
    platforms = compatible_platforms(platform_tag) if platform_tag else \
        list(tags.platform_tags())
    found = set(tags.cpython_tags((major, minor), platforms=platforms)) | set(
        tags.compatible_tags((major, minor), platforms=platforms))
    if platform_tag is None:
        import sysconfig

        platform_tag = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return {str(t) for t in found}, platform_tag


def _fits(filename: str, supported: set) -> bool:
    from packaging.utils import parse_wheel_filename

    if not filename.endswith(".whl"):
        return True  # an sdist: built for the target by the installer
    return any(str(t) in supported for t in parse_wheel_filename(filename)[3])


# -- URLs
def index_url(where: str) -> str:
    """The simple index URL of a reader's location, without user information."""
    if "://" not in where:  # a local directory index (a site mirror)
        from pathlib import Path

        return Path(os.path.join(os.path.abspath(where), "simple")).as_uri() + "/"
    return _file_url(where)


def _file_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    from rezwheel.redaction import scrub

    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    return scrub(urlunsplit(parts))


def _unique(values: Any) -> list[str]:
    out: list[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


# -- writing
def check_path(path: str) -> None:
    """A lock file's name says its format (checked before anything is resolved): PEP 751
    wants ``pylock.toml`` or ``pylock.NAME.toml`` (NAME not empty, no dot); ``.txt`` is a
    requirements file."""
    import re

    from rezwheel.resolve.wanted import UsageError

    name = os.path.basename(path)
    if not (name.endswith(".txt") or re.fullmatch(r"pylock(\.[^.]+)?\.toml", name)):
        raise UsageError(f"-o {path}: a PEP 751 lock file is named pylock.toml or "
                         "pylock.NAME.toml (or give a .txt name for a requirements file)")


def write(resolved: Resolved, path: str) -> str:
    """Write ``path``: a requirements file when its name ends in ``.txt``, else pylock.toml
    (PEP 751 wants ``pylock.toml`` or ``pylock.<name>.toml``). Returns the format written."""
    from rezwheel.atomic import atomic_write

    check_path(path)
    if path.endswith(".txt"):
        text, kind = requirements_txt(resolved), "requirements"
    else:
        text, kind = pylock_toml(resolved), "pylock"
    try:
        atomic_write(os.path.abspath(path), text.encode("utf-8"), prefix=".tmp-")
    except OSError as e:  # the error names the temporary file beside it: say which file it is
        parent = os.path.dirname(os.path.abspath(path))
        why = "a parent is not a directory" if isinstance(e, (FileExistsError,
                                                              NotADirectoryError)) else \
            e.strerror or type(e).__name__
        raise RezwheelError(f"-o {path}: cannot write the lock file in {parent}: {why}") \
            from None
    return kind


def pylock_toml(r: Resolved) -> str:
    lines = ['lock-version = "1.0"', *_environments(r.platform),
             f"requires-python = {_q('==' + r.python + '.*')}", 'created-by = "rezwheel"', ""]
    for p in r.wheels:
        lines += ["[[packages]]", f"name = {_q(p.project)}", f"version = {_q(p.version)}"]
        if p.index:
            lines.append(f"index = {_q(p.index)}")
        kind = "wheels" if (p.filename or "").endswith(".whl") else "sdist"
        entry = [f"name = {_q(p.filename)}", f"url = {_q(p.url)}"]
        if p.upload_time:
            entry.append(f"upload-time = {_time(p.upload_time)}")
        if p.size is not None:
            entry.append(f"size = {p.size}")
        entry.append(f"hashes = {{sha256 = {_q(p.sha256)}}}")
        lines.append(f"{kind} = [{{{', '.join(entry)}}}]" if kind == "wheels" else
                     f"sdist = {{{', '.join(entry)}}}")
        lines += ["[packages.tool.rezwheel]", f"rez-name = {_q(p.id.name)}",
                  f"rez-version = {_q(p.id.version)}"]
        if p.id.index is not None:
            lines.append(f"variant = {p.id.index}")
        lines.append("")
    lines += ["[tool.rezwheel]", f"request = [{', '.join(_q(x) for x in r.requests)}]",
              f"python = {_q(r.python)}", f"platform = {_q(r.platform)}",
              "# rez packages with no wheel to install: the host provides them, or only a "
              "filesystem repository has them",
              "rez-only = ["]
    lines += [f"    {{name = {_q(p.id.name)}, version = {_q(p.id.version)}, "
              f"why = {_q(p.why)}}}," for p in r.rez_only]
    lines += ["]", ""]
    return "\n".join(lines)


def requirements_txt(r: Resolved) -> str:
    lines = [f"# created by rezwheel: {' '.join(r.requests)} (python {r.python}, "
             f"{r.platform})"]
    lines += [f"# rez-only (no wheel): {p.package} ({p.why})" for p in r.rez_only]
    used = _unique(p.index for p in r.wheels if p.index)
    lines += [f"{'--index-url' if i == 0 else '--extra-index-url'} {u}"
              for i, u in enumerate(used)]
    for p in r.wheels:  # ``===``: this exact version, not ``1.0.0`` or ``1.0+rc.1`` for ``1.0``
        lines.append(f"{p.project}==={p.version} \\\n    --hash=sha256:{p.sha256}")
    return "\n".join(lines) + "\n"


def _q(value: Optional[str]) -> str:
    """A TOML basic string."""
    out = ['"']
    for c in value or "":
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 32 or ord(c) == 127:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out) + '"'


def _time(epoch: float) -> str:
    """A TOML offset date-time (UTC)."""
    import datetime

    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def iter_lines(r: Resolved) -> Iterator[str]:
    """What the command prints: one line per package, wheel or rez-only."""
    for p in r.packages:
        if p.rez_only:
            yield f"rez-only  {p.package}  ({p.why})"
        else:
            yield f"locked    {p.package}  {p.filename}"
