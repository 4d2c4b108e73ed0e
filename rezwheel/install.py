"""Install: restore a variant from an artifact into a rez filesystem repository.

``installer.install`` does the reading (RECORD-checked streams); ``RezVariantDestination`` puts
each member where ``rez-layout.json`` says, restores original shebangs, then recreates symlinks
and empty directories. The variant is staged in a temporary directory beside its final place and
renamed in, and ``package.py`` is rewritten atomically, so a half-installed variant is never
visible to rez.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Iterable, Optional

import installer
from installer.records import RecordEntry

from . import rezdef
from .errors import InstallError, InvalidWheelError, RezwheelError
from .layout import FileEntry, Layout
from .wheel.reader import Artifact, open_artifact
from .wheel.writer import CHUNK

if TYPE_CHECKING:
    from filelock import FileLock


class RezVariantDestination:
    """An installer ``WheelDestination`` that writes a rez variant root from its layout map."""

    def __init__(self, root: str, layout: Layout, data_dir: str,
                 records: Optional[dict] = None, wheel: str = "") -> None:
        self.root = root
        self.layout = layout
        self.data_dir = data_dir
        self.records = records  # when given, each file is checked against RECORD as written
        self.wheel = wheel

    def _wheel_path(self, scheme: str, path: str) -> str:
        if scheme in ("purelib", "platlib"):
            return path
        return f"{self.data_dir}/{scheme}/{path}"

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        raise InstallError(f"{self.layout.rez_name}: artifacts do not carry entry-point scripts")

    def write_file(self, scheme: str, path: str, stream: BinaryIO,
                   is_executable: bool) -> RecordEntry:
        entry = self.layout.by_wheel_path.get(self._wheel_path(scheme, path))
        if not isinstance(entry, FileEntry):
            return RecordEntry(path, None, None)  # dist-info files, link copies: not in the variant
        target = os.path.join(self.root, entry.path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        digest = hashlib.sha256()
        with open(target, "wb") as out:
            first = stream.read(CHUNK)
            digest.update(first)
            if entry.shebang and first.startswith(b"#!python"):
                first = entry.shebang.encode() + first[first.index(b"\n") + 1:]
            while first:
                out.write(first)
                first = stream.read(CHUNK)
                digest.update(first)
        os.chmod(target, entry.mode)
        if self.records is not None:
            record = self.records.get(entry.wheel_path)
            want = record.hash_.value if record is not None and record.hash_ else None
            got = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
            if want != got:
                raise InvalidWheelError(f"{self.wheel}: RECORD check failed: hash of "
                                        f"{entry.wheel_path} does not match RECORD")
        return RecordEntry(path, None, None)

    def finalize_installation(self, scheme: str, record_file_path: str,
                              records: Iterable[tuple[str, RecordEntry]]) -> None:
        for d in self.layout.dirs:
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        for link in self.layout.links:
            path = os.path.join(self.root, link.path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(link.target, path)


@dataclass(frozen=True)
class Installed:
    rez_name: str
    rez_version: str
    variant_index: Optional[int]
    root: str
    status: str  # "installed" | "present" | "replaced"


def restore_variant(artifact: Artifact, root: str, check_as_written: bool = False) -> None:
    """Write the variant's payload into ``root`` (which must not exist yet).

    ``check_as_written``: verify RECORD hashes while extracting (one pass over the archive)
    instead of trusting an earlier full check; a mismatch raises and ``root`` is to be discarded.
    """
    os.makedirs(root)
    data_dir = artifact.source.dist_info_dir[: -len(".dist-info")] + ".data"
    records = artifact.records() if check_as_written else None
    destination = RezVariantDestination(root, artifact.layout, data_dir, records, artifact.path)
    installer.install(artifact.source, destination, {})


def install_wheel(path: str, repo: str, force: bool = False) -> Installed:
    """Restore one artifact's variant into the rez repository ``repo``."""
    repo = os.path.abspath(repo)
    with open_artifact(path, verify_record=False) as art:  # payload hashes: checked as written
        with package_lock(repo, art.layout.rez_name, art.layout.rez_version):
            return _install(art, repo, force)


def package_lock(repo: str, name: str, version: str) -> "FileLock":
    """One writer per package at a time, across processes: variants installed side by side
    would otherwise race on the merged ``package.py``. The lock directory's name is not a valid
    rez family name, so rez never lists it."""
    from filelock import FileLock

    locks = os.path.join(repo, ".rezwheel-locks")
    try:
        os.makedirs(locks, exist_ok=True)
    except OSError as e:
        raise InstallError(f"{repo}: cannot write to the repository: {e.strerror}") from None
    return FileLock(os.path.join(locks, f"{name}-{version or '_'}.lock"))


def _install(art: Artifact, repo: str, force: bool) -> Installed:
    layout, data = art.layout, art.definition
    family_dir = os.path.join(repo, layout.rez_name)
    pkg_dir = os.path.join(family_dir, layout.rez_version) if layout.rez_version else family_dir
    pkg_file = os.path.join(pkg_dir, "package.py")
    try:
        os.makedirs(family_dir, exist_ok=True)
    except OSError as e:
        raise InstallError(f"{repo}: cannot write to the repository: {e.strerror}") from None

    existing = _read_existing(pkg_file)
    variantless = layout.variant_index is None
    status = "installed"
    if existing is not None:
        if _without_variants(existing) != _without_variants(data) or (
                variantless and existing.get("variants")):
            if not force:
                raise InstallError(f"{pkg_file}: a different definition of {layout.rez_name}-"
                                   f"{layout.rez_version} is already installed (use --force)")
            status = "replaced"
        elif _variant_present(existing, layout, pkg_dir):
            return Installed(layout.rez_name, layout.rez_version, layout.variant_index,
                             _root(pkg_dir, layout), "present")

    staging = tempfile.mkdtemp(prefix=".rezwheel-tmp-", dir=os.path.dirname(pkg_dir))
    try:
        stage_root = os.path.join(staging, "root")
        restore_variant(art, stage_root, check_as_written=True)
        if variantless:
            write_definition(os.path.join(stage_root, "package.py"), data)
            _swap_in(stage_root, pkg_dir, staging)
        else:
            final = _root(pkg_dir, layout)
            if os.path.lexists(final):
                os.rename(final, os.path.join(staging, "old-variant"))
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.rename(stage_root, final)
            merged = dict(data)
            merged["variants"] = _merged_variants(existing if status != "replaced" else None,
                                                  data, layout)
            write_definition(pkg_file, merged)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Installed(layout.rez_name, layout.rez_version, layout.variant_index,
                     _root(pkg_dir, layout), status)


def is_installed(repo: str, data: dict, variant: Optional[int]) -> bool:
    """This definition is installed in ``repo`` with this variant (None: the package)."""
    name, version = data["name"], str(data.get("version") or "")
    pkg_dir = os.path.join(repo, name, version) if version else os.path.join(repo, name)
    try:
        existing = _read_existing(os.path.join(pkg_dir, "package.py"))
    except RezwheelError:
        return False
    if existing is None or _without_variants(existing) != _without_variants(data):
        return False
    if variant is None:
        return os.path.isdir(pkg_dir)
    want = _requires_key(data["variants"][variant])
    have = {_requires_key(v) for v in existing.get("variants") or []}
    return want in have and os.path.isdir(os.path.join(pkg_dir, variant_subpath(data, variant)))


def variant_subpath(data: dict, variant: Optional[int]) -> str:
    """Where rez looks for a variant under its package directory (what rez computes)."""
    if variant is None or not data.get("variants"):
        return ""
    requires = [str(r) for r in data["variants"][variant]]
    if data.get("hashed_variants"):  # rez: sha1 of the printed list of requires
        return hashlib.sha1(str(requires).encode("utf8")).hexdigest()
    return os.path.join(*requires) if requires else ""


def _root(pkg_dir: str, layout: Layout) -> str:
    return os.path.join(pkg_dir, layout.subpath) if layout.subpath else pkg_dir


def _swap_in(stage_root: str, pkg_dir: str, staging: str) -> None:
    if os.path.lexists(pkg_dir):
        os.rename(pkg_dir, os.path.join(staging, "old"))
    os.rename(stage_root, pkg_dir)


def _read_existing(pkg_file: str) -> Optional[dict]:
    if not os.path.exists(pkg_file):
        return None
    with open(pkg_file, encoding="utf-8") as fh:
        return rezdef.parse(fh.read(), pkg_file)


def _without_variants(data: dict) -> str:
    return rezdef.dump({k: v for k, v in data.items() if k != "variants"})


def _requires_key(requires: Iterable) -> tuple[str, ...]:
    return tuple(str(r) for r in requires)


def _variant_present(existing: dict, layout: Layout, pkg_dir: str) -> bool:
    if layout.variant_index is None:
        return True
    installed = {_requires_key(v) for v in existing.get("variants") or []}
    return layout.variant_requires in installed and os.path.isdir(_root(pkg_dir, layout))


def _merged_variants(existing: Optional[dict], data: dict, layout: Layout) -> list:
    """Installed variants plus this one, in the order of the original definition."""
    full = [_requires_key(v) for v in data.get("variants") or []]
    have = {_requires_key(v) for v in (existing or {}).get("variants") or []}
    have.add(layout.variant_requires)
    ordered = [v for v in full if v in have] + sorted(have - set(full))
    return [list(v) for v in ordered]


def write_definition(path: str, data: dict) -> None:
    text = rezdef.dump(data)
    fd, tmp = tempfile.mkstemp(prefix=".package.py-", dir=os.path.dirname(path))
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)

