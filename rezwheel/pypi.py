"""Plain PyPI wheels (no embedded rez definition) as rez packages, the way rez-pip makes them.

pip resolves them (``pip install --dry-run --report``, against the same indexes, so pip's
resolver, markers and Requires-Python apply); each pick becomes a rez definition built with
rez's own pip helpers, and ``installer`` writes the payload: importable code under ``python/``,
scripts under ``bin/`` with a ``#!/usr/bin/env python`` line (the python of the rez context),
everything else where rez's ``pip_install_remaps`` puts it. Pure wheels get no variants; binary
wheels, and pure ones whose dependencies hang on python or platform markers, get one hashed
variant on platform/arch/python, as rez-pip does.

Everything a plain wheel or pip's report says is untrusted: the project name and version become
directory names in the rez repository, so they must be valid PEP 508 / PEP 440 values whose rez
forms pass ``rezdef.check_identity``; a file name must be a plain wheel basename.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from email.parser import HeaderParser
from typing import BinaryIO, Optional
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.utils import InvalidName, InvalidWheelFilename, canonicalize_name, \
    parse_wheel_filename
from packaging.version import InvalidVersion, Version

from . import fsrepo, limits, rezdef
from .errors import InstallError, RezwheelError, UnsafeDefinitionError

INTERPRETER = "/usr/bin/env python"
_PIP_INDEX_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX")
_MULTI = {"classifier", "requires_dist", "provides_extra", "project_url", "dynamic",
          "license_file", "platform", "supported_platform", "obsoletes_dist", "provides_dist",
          "requires_external"}


@dataclass(frozen=True)
class Target:
    """The python a host runs (``--python``): markers and variants are evaluated for it."""
    python: str  # "3.11" or "3.11.4"

    @classmethod
    def current(cls, python: Optional[str] = None) -> "Target":
        return cls(python or "%d.%d" % sys.version_info[:2])

    @property
    def short(self) -> str:
        return ".".join(self.python.split(".")[:2])

    def markers(self) -> dict[str, str]:
        from packaging.markers import default_environment

        full = self.python if self.python.count(".") >= 2 else self.python + ".0"
        env = dict(default_environment())
        env.update(python_version=self.short, python_full_version=full,
                   implementation_version=full, extra="")
        return env


@dataclass(frozen=True)
class Pick:
    """One distribution pip chose: where to get it and what its metadata says."""
    name: str
    version: str
    filename: str
    url: str
    sha256: Optional[str]
    metadata: dict  # PEP 566 JSON form of the core metadata


def metadata_json(text: str) -> dict:
    """Core metadata (RFC 822 form) as PEP 566 JSON, the form pip's report uses."""
    msg = HeaderParser().parsestr(text)
    out: dict = {}
    for key, value in msg.items():
        k = key.lower().replace("-", "_")
        if k in _MULTI:
            out.setdefault(k, []).append(value)
        elif k not in out:
            out[k] = value
    return out


def wheel_metadata(path: str) -> dict:
    """The METADATA of a plain wheel file, checked like an artifact's members (caps,
    duplicates, empty or non-zip files: one line naming the wheel)."""
    from .wheel.reader import READ_ERRORS, open_zip

    check_filename(os.path.basename(path), path)
    with open_zip(path) as z:
        names = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")
                 and n.count("/") == 1]
        if len(names) != 1:
            raise InstallError(f"{path}: not a wheel: no single .dist-info/METADATA")
        try:
            text = z.read(names[0]).decode("utf-8")
        except READ_ERRORS as e:
            raise InstallError(f"{path}: cannot read {names[0]}: {e}") from None
    return metadata_json(text)


def check_filename(filename: str, what: str) -> None:
    """A wheel's file name as an index or pip's report gives it: a plain basename that parses
    as a wheel name (it is joined to directories)."""
    try:
        if not filename or filename != os.path.basename(filename) or filename.startswith(".") \
                or any(c in filename for c in "/\\\0"):
            raise InvalidWheelFilename(filename)
        parse_wheel_filename(filename)
    except InvalidWheelFilename:
        raise InstallError(f"{what}: not a wheel file name: {filename!r}") from None


def is_pure(filename: str) -> bool:
    tags = parse_wheel_filename(os.path.basename(filename))[3]
    return all(t.abi == "none" and t.platform == "any" for t in tags)


# -- resolving with pip
def pip_resolve(requirements: list[str], index_urls: list[str], target: Target,
                no_deps: bool = False) -> list[Pick]:
    """What ``pip install`` would install for ``requirements`` on ``target``, without installing.

    ``index_urls`` may carry credentials: they reach pip through its environment (readable by
    this user only), never its command line (which ``ps`` shows everyone); pip redacts them
    from what it prints and from its report.
    """
    if not requirements:
        return []
    with tempfile.TemporaryDirectory(prefix="rezwheel-pip-") as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--report", report,
               "--quiet", "--ignore-installed", "--only-binary=:all:", "--no-input",
               "--disable-pip-version-check", "--python-version", target.python,
               *(["--no-deps"] if no_deps else []), *requirements]
        # only the indexes given: a pip config or PIP_* index settings could add public PyPI,
        # and with it dependency confusion (certificates and proxies in the environment stay)
        env = {k: v for k, v in os.environ.items() if k not in _PIP_INDEX_ENV}
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index_urls[0],
                   PIP_EXTRA_INDEX_URL=" ".join(index_urls[1:]))
        # pip's own timeout is per socket read: a server dripping bytes would hold it forever
        cmd[4:4] = ["--timeout", str(limits.get("http-deadline")), "--retries", "2"]
        budget = float(limits.get("pip-timeout"))
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=budget)
        except subprocess.TimeoutExpired:
            raise RezwheelError(f"pip could not resolve {', '.join(requirements)} within "
                                f"{budget:g} s (REZWHEEL_PIP_TIMEOUT)") from None
        if r.returncode:
            lines = r.stderr.strip().splitlines()
            said = "; ".join(ln.strip() for ln in lines if ln.startswith("ERROR:")) or (
                lines[-1].strip() if lines else f"exit status {r.returncode}")
            raise RezwheelError(f"pip could not resolve {', '.join(requirements)}: {said}")
        with open(report, encoding="utf-8") as fh:
            doc = json.load(fh)
    try:
        return [_pick(item) for item in doc.get("install", [])]
    except (KeyError, TypeError, AttributeError):
        raise RezwheelError(f"pip could not resolve {', '.join(requirements)}: "
                            "unreadable installation report") from None


def _pick(item: dict) -> Pick:
    """One entry of pip's report, checked: its values come from an index."""
    info = item["download_info"]
    hashes = (info.get("archive_info") or {}).get("hashes") or {}
    url, meta = info["url"], item["metadata"]
    sha256 = hashes.get("sha256")
    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    check_filename(filename, f"pip's pick {url}")
    if sha256 is not None and not (isinstance(sha256, str) and
                                   re.fullmatch(r"[0-9a-fA-F]{64}", sha256)):
        raise InstallError(f"{filename}: bad sha256 in pip's report: {sha256!r}")
    name, version = check_project(meta, filename)
    return Pick(name, version, filename, url, sha256.lower() if sha256 else None, meta)


def check_project(meta: dict, wheel: str) -> tuple[str, str]:
    """``Name`` and ``Version`` of a plain wheel's metadata, if valid PEP 508 / PEP 440."""
    name, version = meta.get("name"), meta.get("version")
    try:
        if not isinstance(name, str):
            raise InvalidName(name)
        canonicalize_name(name, validate=True)
    except InvalidName:
        raise InstallError(f"{wheel}: invalid project name {name!r} in METADATA") from None
    try:
        if not isinstance(version, str):
            raise InvalidVersion(version)
        Version(version)
    except InvalidVersion:
        raise InstallError(f"{wheel}: invalid version {version!r} in METADATA") from None
    return name, version


# -- rez definitions
def rez_name(dist: str) -> str:
    from rez.utils.pip import pip_to_rez_package_name

    return pip_to_rez_package_name(dist)


def definition(meta: dict, filename: str, target: Target, index: str = "",
               sha256: Optional[str] = None) -> dict:
    """A rez-pip style definition for a plain wheel (``tools`` is added at install time).

    Refused with one line naming the wheel unless the metadata's name, version and
    requirements make a definition ``rezdef.check_identity`` accepts.
    """
    check_filename(os.path.basename(filename), filename)
    name, version = check_project(meta, filename)
    try:
        data = _definition(meta, name, version, filename, target, index, sha256)
        rezdef.check_identity(data, filename)
    except UnsafeDefinitionError as e:
        raise InstallError(str(e)) from None
    except Exception as e:  # packaging's and rez's errors converting requirements and markers
        raise InstallError(f"{filename}: unusable METADATA: {' '.join(str(e).split())[:200]}") \
            from None
    return data


def _definition(meta: dict, name: str, version: str, filename: str, target: Target,
                index: str, sha256: Optional[str]) -> dict:
    from packaging.specifiers import SpecifierSet
    from rez.system import system
    from rez.utils.pip import (get_marker_sys_requirements, packaging_req_to_rez_req,
                               pip_specifier_to_rez_requirement, pip_to_rez_version)
    from rez.utils.sourcecode import SourceCode

    pure = is_pure(filename)
    sys_requires = set() if pure else {"platform", "arch", "python"}
    env = target.markers()
    requires, variant_requires = [], []
    for line in _strings(meta, "requires_dist"):
        req = Requirement(line)
        marked = set()
        if req.marker:
            if not req.marker.evaluate(env):
                continue  # another python or platform, or an extra nobody asked for
            marked = set(get_marker_sys_requirements(str(req.marker)))
        rez_req = str(packaging_req_to_rez_req(req))
        (variant_requires if marked else requires).append(rez_req)
        sys_requires |= marked
    variant = ([f"platform-{system.platform}"] if "platform" in sys_requires else []) + \
        ([f"arch-{system.arch}"] if "arch" in sys_requires else []) + \
        ([f"python-{target.short}"] if "python" in sys_requires else []) + variant_requires
    requires_python = meta.get("requires_python")
    if not variant and requires_python:
        requires.append(f"python-{pip_specifier_to_rez_requirement(SpecifierSet(requires_python))}")
    commands = SourceCode(source="env.PYTHONPATH.append('{root}/python')\n"
                                 "env.PATH.append('{root}/bin')")
    commands.funcname = "commands"
    summary = meta.get("summary")
    data: dict = {
        "name": rez_name(name),
        "version": pip_to_rez_version(version),
        "description": summary if isinstance(summary, str) and summary else None,
        "requires": requires or None,
        "commands": commands,
        "pip_name": f"{name} ({version})",
        "from_pip": True,
        "is_pure_python": pure,
        "pip": {"name": name, "version": version, "index": index,
                "file": os.path.basename(filename), "sha256": sha256},
    }
    if variant:
        data["variants"] = [variant]
        data["hashed_variants"] = True
    author = meta.get("author") or meta.get("author_email")
    if isinstance(author, str) and author:
        data["authors"] = [author]
    return {k: v for k, v in data.items() if v is not None}


def _strings(meta: dict, key: str) -> list[str]:
    value = meta.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{key} is not a list of strings")
    return value


# -- installing
def _remap(record_path: str, wheel: str) -> str:
    """Where rez-pip puts a file pip would record outside site-packages (``../../bin/x``)."""
    from rez.config import config

    for remap in config.pip_install_remaps:
        pattern = remap["record_path"]
        if re.search(pattern, record_path):
            return re.sub(pattern, remap["rez_install"], record_path)
    raise InstallError(f"{wheel}: no pip_install_remaps rule (rez config) places {record_path}")


_PLACEHOLDER = "/rezwheel/python"  # installer quotes an interpreter with a space: swap it in after


def _env_shebang(data: bytes) -> bytes:
    if data.startswith(b"#!" + _PLACEHOLDER.encode()):
        return b"#!" + INTERPRETER.encode() + data[data.index(b"\n"):]
    return data


def _rez_pip_destination(root: str, wheel: str):  # type: ignore[no-untyped-def]
    import io

    from installer.destinations import SchemeDictionaryDestination
    from installer.scripts import Script
    from installer.utils import fix_shebang

    class RezPipDestination(SchemeDictionaryDestination):
        def write_file(self, scheme, path, stream: BinaryIO, is_executable: bool):  # type: ignore[no-untyped-def,override]
            path = os.fspath(path)
            if scheme in ("purelib", "platlib"):
                return self.write_to_fs(scheme, path, stream, is_executable)
            sub = {"scripts": "bin/", "headers": "include/"}.get(scheme, "")
            placed = _remap(os.path.join(os.pardir, os.pardir, sub + path), wheel)
            if scheme == "scripts":
                with fix_shebang(stream, _PLACEHOLDER) as fixed:
                    stream = io.BytesIO(_env_shebang(fixed.read()))
            return self.write_to_fs("data", placed, stream, is_executable)  # type: ignore[arg-type]

        def write_script(self, name, module, attr, section):  # type: ignore[no-untyped-def]
            _, data = Script(name, module, attr, section).generate(_PLACEHOLDER, "posix")
            data = _env_shebang(data)
            placed = _remap(os.path.join(os.pardir, os.pardir, "bin", name), wheel)
            return self.write_to_fs("data", placed, io.BytesIO(data), True)  # type: ignore[arg-type]

    python = os.path.join(root, "python")
    return RezPipDestination({"purelib": python, "platlib": python, "data": root,
                              "scripts": os.path.join(root, "bin"),
                              "headers": os.path.join(root, "include")},
                             interpreter=INTERPRETER, script_kind="posix")


def restore_plain(wheel: str, root: str) -> list[str]:
    """Write a plain wheel's payload into ``root`` (new) rez-pip style; returns its tools.

    The archive is checked as an artifact's is (``reader.check_members``) and every failure
    while writing (a member colliding with another, a lying size) is one line naming it.
    """
    import installer

    from .wheel.reader import READ_ERRORS, CheckedWheelFile, open_zip

    os.makedirs(root)
    with open_zip(wheel) as zf:
        try:
            installer.install(CheckedWheelFile(zf, wheel), _rez_pip_destination(root, wheel),
                              {"INSTALLER": b"rezwheel"})
        except RezwheelError:
            raise
        except (KeyError, *READ_ERRORS) as e:
            raise InstallError(f"{wheel}: cannot install: {e}") from None
    bindir = os.path.join(root, "bin")
    return sorted(os.listdir(bindir)) if os.path.isdir(bindir) else []


def is_installed(repo: str, data: dict) -> bool:
    """The same pip file is installed there, in this variant."""
    pkg_dir = fsrepo.package_dir(repo, data["name"], data["version"])
    try:
        have = fsrepo.read_definition(os.path.join(pkg_dir, "package.py"))
    except RezwheelError:
        return False
    if have is None or (have.get("pip") or {}).get("sha256") != data["pip"].get("sha256"):
        return False
    root = os.path.join(pkg_dir, fsrepo.variant_subpath(data, 0))
    if not data.get("variants"):
        return os.path.isdir(root)
    return fsrepo.has_variant(have, fsrepo.requires_key(data["variants"][0]), root)


def install_plain(wheel: str, repo: str, data: dict) -> str:
    """Install a plain wheel as the rez package ``data`` into ``repo``; returns its root.

    Staged beside its final place and renamed in; ``package.py`` is written last and
    atomically, merging variants already installed for other pythons or platforms.
    """
    with fsrepo.package_lock(repo, data["name"], data["version"]):
        return _install_plain(wheel, repo, data)


def _install_plain(wheel: str, repo: str, data: dict) -> str:
    pkg_dir = fsrepo.package_dir(repo, data["name"], data["version"])
    fsrepo.make_dirs(repo, os.path.dirname(pkg_dir))
    sub = fsrepo.variant_subpath(data, 0)
    staging = tempfile.mkdtemp(prefix=".rezwheel-tmp-", dir=os.path.dirname(pkg_dir))
    try:
        stage = os.path.join(staging, "root")
        tools = restore_plain(wheel, stage)
        final = dict(data, **({"tools": tools} if tools else {}))
        if not sub:  # pure: the package is its own root, replaced whole
            fsrepo.write_definition(os.path.join(stage, "package.py"), final)
            fsrepo.swap_in(stage, pkg_dir, staging)
        else:  # one variant among those installed for other pythons or platforms
            have = fsrepo.read_definition(os.path.join(pkg_dir, "package.py")) or {}
            fsrepo.swap_in(stage, os.path.join(pkg_dir, sub), staging)
            variants = [list(fsrepo.requires_key(v)) for v in have.get("variants") or []]
            mine = list(fsrepo.requires_key(data["variants"][0]))
            final["variants"] = variants + ([mine] if mine not in variants else [])
            fsrepo.write_definition(os.path.join(pkg_dir, "package.py"), final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(pkg_dir, sub) if sub else pkg_dir
