"""Install: restore a variant from an artifact into a rez filesystem repository.

``installer.install`` does the reading (RECORD-checked streams); ``RezVariantDestination`` puts
each member where ``rez-layout.json`` says, restores original shebangs, then recreates symlinks
and empty directories. ``fsrepo.put_variant`` stages the variant beside its final place, swaps
it in and rewrites ``package.py`` atomically, so a half-installed variant is never visible to
rez.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Iterable, Optional

from rezwheel.errors import InstallError, InvalidWheelError
from rezwheel.hashing import CHUNK
from rezwheel.rezrepo import fsrepo

if TYPE_CHECKING:  # installer and the archive reader are imported when a variant is restored:
    # the plugin imports this module for every root rez asks for, mostly already in the store
    from installer.records import RecordEntry

    from rezwheel.artifact.identity import VariantId
    from rezwheel.artifact.layout import Layout
    from rezwheel.artifact.reader import Artifact
    from rezwheel.artifact.rezdef import Definition


class RezVariantDestination:
    """An installer ``WheelDestination`` that writes a rez variant root from its layout map."""

    def __init__(self, root: str, layout: Layout, data_dir: str, records: dict,
                 wheel: str) -> None:
        self.root = root
        self.layout = layout
        self.data_dir = data_dir
        self.records = records  # each file is checked against RECORD as written
        self.wheel = wheel

    def _wheel_path(self, scheme: str, path: str) -> str:
        if scheme in ("purelib", "platlib"):
            return path
        return f"{self.data_dir}/{scheme}/{path}"

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        raise InstallError(f"{self.layout.rez_name}: artifacts do not carry entry-point scripts")

    def write_file(self, scheme: str, path: str, stream: BinaryIO,
                   is_executable: bool) -> RecordEntry:
        from installer.records import RecordEntry

        from rezwheel.artifact.layout import FileEntry

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
class Expected:
    """What the plan resolved a file to: the wheel must hold exactly that (an index chose the
    file, the wheel's own definition chooses where it is written)."""
    id: VariantId
    definition: Optional[Definition] = None  # what rez resolved with


@dataclass(frozen=True)
class Installed:
    id: VariantId
    root: str
    status: str  # "installed" | "present" | "replaced"


def restore_variant(artifact: Artifact, root: str) -> None:
    """Write the variant's payload into ``root`` (which must not exist yet), checking RECORD
    hashes as it writes (one pass over the archive); a mismatch raises and ``root`` is to be
    discarded. The store extracts roots with it too (``Store.localize``)."""
    os.makedirs(root)
    data_dir = artifact.source.dist_info_dir[: -len(".dist-info")] + ".data"
    destination = RezVariantDestination(root, artifact.layout, data_dir, artifact.records(),
                                        artifact.path)
    import installer

    installer.install(artifact.source, destination, {})


def install_wheel(path: str, repo: str, force: bool = False,
                  expect: Optional[Expected] = None) -> Installed:
    """Restore one artifact's variant into the rez repository ``repo``."""
    from rezwheel.artifact.reader import open_artifact

    repo = os.path.abspath(repo)
    known = expect.definition if expect else None
    # payload hashes: checked as written; the definition: parsed when it was resolved
    with open_artifact(path, verify_record=False, known=known) as art:
        if expect is not None:
            _check_expected(art, expect, path)
        with fsrepo.package_lock(repo, art.layout.rez_name, art.layout.rez_version):
            return _install(art, repo, force)


def _check_expected(art: Artifact, expect: Expected, path: str) -> None:
    if art.layout.id != expect.id:
        raise InstallError(f"{os.path.basename(path)}: holds {art.layout.id}, the index listed "
                           f"it as {expect.id}; refused")
    if expect.definition is not None and art.definition_text != expect.definition.text:
        raise InstallError(f"{os.path.basename(path)}: the definition served by the index differs "
                           "from the wheel's own rez-package.py; refused")


def _install(art: Artifact, repo: str, force: bool) -> Installed:
    """Present when this definition and variant are there; a different definition of the
    package is refused unless ``force`` (then replaced, dropping its other variants)."""
    layout, data = art.layout, art.definition
    pkg_dir = fsrepo.package_dir(repo, layout.rez_name, layout.rez_version)
    root = os.path.join(pkg_dir, layout.subpath) if layout.subpath else pkg_dir
    state, existing = fsrepo.installed_state(repo, data, layout.variant_index)
    status = "installed"
    if state == "different":
        if not force:
            raise InstallError(f"{os.path.join(pkg_dir, 'package.py')}: a different "
                               f"definition of {layout.rez_name}-{layout.rez_version} is "
                               "already installed (use --force)")
        status = "replaced"
    elif state == "present":
        return Installed(layout.id, root, "present")

    def write(stage: str) -> dict:
        restore_variant(art, stage)
        return data

    fsrepo.put_variant(repo, data, layout.variant_index, write,
                       existing if status != "replaced" else None)
    return Installed(layout.id, root, status)
