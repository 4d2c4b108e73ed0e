"""Plain PyPI wheels (no embedded rez definition) as rez packages, the way rez-pip makes them.

pip resolves them (``resolve.pip``: ``pip install --dry-run --report``, against the same
indexes, so pip's resolver, markers and Requires-Python apply); each pick becomes a rez
definition built with rez's own pip helpers (here), and ``installer`` writes the payload:
importable code under ``python/``, scripts under ``bin/`` with a ``#!/usr/bin/env python``
line (the python of the rez context), everything else where rez's ``pip_install_remaps`` puts
it. Pure wheels get no variants; binary wheels, and pure ones whose dependencies hang on python
or platform markers, get one hashed variant on platform/arch/python, as rez-pip does.

Everything a plain wheel or pip's report says is untrusted: the project name and version become
directory names in the rez repository, so they must be valid PEP 508 / PEP 440 values whose rez
forms pass ``rezdef.check_identity``; a file name must be a plain wheel basename.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from email.parser import HeaderParser
from typing import BinaryIO, Optional

from packaging.requirements import Requirement
from packaging.utils import InvalidName, InvalidSdistFilename, InvalidWheelFilename, \
    canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from rezwheel.rezrepo import fsrepo

from rezwheel.artifact import rezdef
from rezwheel.artifact.tags import tag_facts
from rezwheel.errors import InstallError, RezwheelError, UnsafeDefinitionError

INTERPRETER = "/usr/bin/env python"
_MULTI = {"classifier", "requires_dist", "provides_extra", "project_url", "dynamic",
          "license_file", "platform", "supported_platform", "obsoletes_dist", "provides_dist",
          "requires_external"}


@dataclass(frozen=True)
class Target:
    """The python a host runs (``--python``), and its wheel platform tag (``lock --platform``;
    None: this host): markers, wheels and variants are chosen for it."""
    python: str  # "3.11" or "3.11.4"
    platform: Optional[str] = None  # e.g. "win_amd64", "macosx_11_0_arm64"

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
        if self.platform:
            env.update(tag_facts(self.platform)[2])
        return env

    def rez_system(self) -> tuple[str, str]:
        """(rez platform, rez arch) of the target, as ``rez.system`` names this host's."""
        if self.platform:
            return tag_facts(self.platform)[:2]
        from rez.system import system

        return system.platform, system.arch

    def pip_platforms(self) -> list[str]:
        """pip's ``--platform`` values: every platform tag the target installs (pip expands
        only macOS and the legacy manylinux names itself)."""
        from rezwheel.artifact.tags import compatible_platforms

        return compatible_platforms(self.platform) if self.platform else []




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
    from rezwheel.artifact.reader import READ_ERRORS, open_zip

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


def check_filename(filename: str, what: str, sdist: bool = False) -> None:
    """A wheel's file name as an index or pip's report gives it: a plain basename that parses
    as a wheel name (it is joined to directories); ``sdist``: an sdist's name is fine too."""
    try:
        if not filename or filename != os.path.basename(filename) or filename.startswith(".") \
                or any(c in filename for c in "/\\\0"):
            raise InvalidWheelFilename(filename)
        if sdist and not filename.endswith(".whl"):
            parse_sdist_filename(filename)
        else:
            parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        kind = "wheel or sdist" if sdist else "wheel"
        raise InstallError(f"{what}: not a {kind} file name: {filename!r}") from None


def is_pure(filename: str) -> bool:
    tags = parse_wheel_filename(os.path.basename(filename))[3]
    return all(t.abi == "none" and t.platform == "any" for t in tags)


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
               sha256: Optional[str] = None, extras: tuple[str, ...] = (),
               sdist: Optional[tuple[str, str]] = None,
               names: Optional[dict[str, str]] = None) -> dict:
    """A rez-pip style definition for a plain wheel (``tools`` is added at install time).

    ``extras``: the extras asked of it, whose dependencies it then requires (recorded in
    ``pip``); ``sdist``: the (file name, sha256) it was built from; ``names``: the rez family
    names of projects (by canonical name) its requirements use, as rez-pip's ``name_casings``
    (``pygments`` in rich's metadata is the family ``Pygments``). Refused with one line
    naming the wheel unless the metadata's name, version and requirements make a definition
    ``rezdef.check_identity`` accepts.
    """
    check_filename(os.path.basename(filename), filename)
    name, version = check_project(meta, filename)
    try:
        data = _definition(meta, name, version, filename, target, extras, names or {})
        data["pip"] = {"name": name, "version": version, "index": index,
                       "file": os.path.basename(filename), "sha256": sha256,
                       **({"extras": list(extras)} if extras else {}),
                       **({"sdist": sdist[0], "sdist_sha256": sdist[1]} if sdist else {})}
        rezdef.check_identity(data, filename)
    except UnsafeDefinitionError as e:
        raise InstallError(str(e)) from None
    except Exception as e:  # packaging's and rez's errors converting requirements and markers
        raise InstallError(f"{filename}: unusable METADATA: {' '.join(str(e).split())[:200]}") \
            from None
    return data


def _definition(meta: dict, name: str, version: str, filename: str, target: Target,
                extras: tuple[str, ...], names: dict[str, str]) -> dict:
    import time

    from packaging.specifiers import SpecifierSet
    from rez.utils.pip import (get_marker_sys_requirements, packaging_req_to_rez_req,
                               pip_specifier_to_rez_requirement, pip_to_rez_version)
    from rez.utils.sourcecode import SourceCode

    pure = is_pure(filename)
    sys_requires = set() if pure else {"platform", "arch", "python"}
    envs = [dict(target.markers(), extra=x) for x in ("", *extras)]
    requires, variant_requires = [], []
    for line in _strings(meta, "requires_dist"):
        req = Requirement(line)
        marked = set()
        if req.marker:
            if not any(req.marker.evaluate(env) for env in envs):
                continue  # another python or platform, or an extra nobody asked for
            marked = set(get_marker_sys_requirements(str(req.marker)))
        converted = packaging_req_to_rez_req(req)
        family = names.get(canonicalize_name(req.name))
        rez_req = str(converted) if not family else family + str(converted)[len(converted.name):]
        (variant_requires if marked else requires).append(rez_req)
        sys_requires |= marked
    rez_platform, rez_arch = target.rez_system()
    variant = ([f"platform-{rez_platform}"] if "platform" in sys_requires else []) + \
        ([f"arch-{rez_arch}"] if "arch" in sys_requires else []) + \
        ([f"python-{target.short}"] if "python" in sys_requires else []) + variant_requires
    requires_python = meta.get("requires_python")
    if not variant:  # no python variant: it still needs a python (docopt says nothing of it)
        rng = str(pip_specifier_to_rez_requirement(SpecifierSet(requires_python))) \
            if requires_python else ""
        requires.append(f"python-{rng}" if rng and rng != "*" else "python")
    commands = SourceCode(source="env.PYTHONPATH.append('{root}/python')\n"
                                 "env.PATH.append('{root}/bin')")
    commands.funcname = "commands"
    data: dict = {
        "name": rez_name(name),
        "version": pip_to_rez_version(version),
        "description": _text(meta.get("summary")),
        "requires": list(dict.fromkeys(requires)) or None,
        "commands": commands,
        # when it was installed, as rez-pip's packages have it: ``rez env --time`` works
        "timestamp": int(os.environ.get("SOURCE_DATE_EPOCH") or time.time()),
        "help": _help(meta),
        "license": _license(meta),
        "authors": _authors(meta),
        "pip_name": f"{name} ({version})",
        "from_pip": True,
        "is_pure_python": pure,
    }
    if variant:
        data["variants"] = [variant]
        data["hashed_variants"] = True
    return {k: v for k, v in data.items() if v is not None}


def _text(value: object, limit: int = 300) -> Optional[str]:
    """One metadata value fit for a definition: a string, on one line, of a sane length."""
    if not isinstance(value, str) or not value.strip() or value.strip().upper() == "UNKNOWN":
        return None
    return " ".join(value.split())[:limit]


def _help(meta: dict) -> Optional[list[list[str]]]:
    """rez-pip's ``help``: the home page and download URL, plus the project's URLs (where
    modern metadata keeps its home page); only http(s) links."""
    pairs = [("Home Page", meta.get("home_page")), ("Source Code", meta.get("download_url"))]
    for entry in meta.get("project_url") or []:
        if isinstance(entry, str) and "," in entry:
            label, url = entry.split(",", 1)
            pairs.append((label, url))
    out: list[list[str]] = []
    for label, url in pairs:
        label, url = _text(label, 80), _text(url, 500)
        if label and url and re.match(r"https?://[^\s]+\Z", url) and [label, url] not in out:
            out.append([label, url])
    return out or None


def _license(meta: dict) -> Optional[str]:
    found = _text(meta.get("license_expression"), 200) or _text(meta.get("license"), 200)
    if found:
        return found
    for c in meta.get("classifier") or []:
        if isinstance(c, str) and c.startswith("License :: "):
            return _text(c.rsplit(" :: ", 1)[-1], 200)
    return None


def _authors(meta: dict) -> Optional[list[str]]:
    author = " ".join(x for x in (_text(meta.get("author"), 200),
                                  _text(meta.get("author_email"), 200)) if x)
    return [author] if author else None


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

    from rezwheel.artifact.reader import READ_ERRORS, CheckedWheelFile, open_zip

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


def install_plain(wheel: str, repo: str, data: dict) -> str:
    """Install a plain wheel as the rez package ``data`` into ``repo``; returns its root.

    ``fsrepo.put_variant`` stages it beside its final place and renames it in; ``package.py``
    (with the wheel's scripts as ``tools``) is written last and atomically, merging variants
    already installed for other pythons or platforms.
    """
    def write(stage: str) -> dict:
        tools = restore_plain(wheel, stage)
        return dict(data, **({"tools": tools} if tools else {}))

    variant = 0 if data.get("variants") else None
    with fsrepo.package_lock(repo, data["name"], data["version"]):
        installed = fsrepo.installed_definition(repo, data["name"], data["version"])
        return fsrepo.put_variant(repo, data, variant, write, installed)
