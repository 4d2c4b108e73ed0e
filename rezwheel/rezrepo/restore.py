"""Install: restore a variant from an artifact into a rez filesystem repository.

``restore_variant`` writes each payload member where ``rez-layout.json`` says (original
shebangs back), hashing it against RECORD as it goes, then recreates empty directories and
symlinks (last: ``Layout.check`` guarantees no write goes through one). It reads the archive
itself rather than through ``installer`` (whose imports cost a tenth of a second on every
``rez env`` that localizes a variant): the archive was checked when it was opened
(``artifact.reader``), and the members are read through ``zipfile`` (never past their declared
size). ``fsrepo.put_variant`` stages the variant beside its final place, swaps it in and
rewrites ``package.py`` atomically, so a half-installed variant is never visible to rez.
"""

from __future__ import annotations

import errno
import os
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from rezwheel.errors import InstallError, InvalidWheelError
from rezwheel.hashing import CHUNK
from rezwheel.rezrepo import fsrepo

if TYPE_CHECKING:  # the archive reader is imported when a variant is restored: the plugin
    # imports this module for every root rez asks for, mostly already in the store
    from rezwheel.artifact.identity import VariantId
    from rezwheel.artifact.layout import FileEntry
    from rezwheel.artifact.reader import Artifact
    from rezwheel.artifact.rezdef import Definition

#: members at least this big are written by worker threads (zlib, hashing and writing let go
#: of the GIL); smaller ones cost less than a hand-off
_PARALLEL_BYTES = 4 << 20


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
    layout, zf = artifact.layout, artifact.zip
    _check_wheel(artifact)
    os.makedirs(root)
    jobs, made = [], {root}
    for entry in layout.files:
        if "__pycache__" in entry.wheel_path.split("/")[:-1]:
            continue  # as installer: a cache is never installed (convert ships none)
        target = os.path.join(root, entry.path)
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        # every mapped path is a member and every entry path fresh (``reader._check_layout``)
        jobs.append((entry, zf.getinfo(entry.wheel_path), target))
    big = [j for j in jobs if j[1].file_size >= _PARALLEL_BYTES]
    if len(big) > 1:
        import concurrent.futures as cf

        from rezwheel.pools import Pool

        # every writer has stopped before this returns or raises: the caller then discards
        # or renames ``root``, with nothing still writing into it
        with Pool(min(len(big), 4), "rezwheel-restore") as pool:
            pending = [pool.submit(_restore_member, artifact, *j) for j in big]
            try:
                for j in jobs:
                    if j[1].file_size < _PARALLEL_BYTES:
                        _restore_member(artifact, *j)
                for f in pending:
                    f.result()
            except BaseException:
                for f in pending:
                    f.cancel()  # those not started; the ones writing are waited for
                cf.wait(pending)
                raise
    else:
        for j in jobs:
            _restore_member(artifact, *j)
    for d in layout.dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for link in layout.links:
        path = os.path.join(root, link.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(link.target, path)


_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")


def _check_wheel(artifact: Artifact) -> None:
    """What ``installer`` refused before writing: a wheel format other than 1.x, entry-point
    scripts (an artifact never has them), members under ``.data`` outside its schemes."""
    source = artifact.source
    wheel = dict(line.partition(":")[::2] for line in source.read_dist_info("WHEEL").splitlines())
    version = wheel.get("Wheel-Version", "").strip()
    if version.split(".")[0] != "1":
        raise InvalidWheelError(f"{artifact.path}: Wheel-Version {version[:20]!r}: only 1.x "
                                "wheels are supported")
    if "entry_points.txt" in source.dist_info_filenames:
        text = source.read_dist_info("entry_points.txt")
        if "[console_scripts]" in text or "[gui_scripts]" in text:
            raise InstallError(f"{artifact.layout.rez_name}: artifacts do not carry entry-point "
                               "scripts")
    data_dir = source.dist_info_dir[: -len(".dist-info")] + ".data/"
    for entry in artifact.layout.files:
        if entry.wheel_path.startswith(data_dir):
            scheme, sep, _ = entry.wheel_path[len(data_dir):].partition("/")
            if scheme not in _SCHEMES or not sep:
                raise InvalidWheelError(f"{artifact.path}: {entry.wheel_path} is not in a valid "
                                        ".data subdirectory")


def _restore_member(artifact: Artifact, entry: FileEntry, info: zipfile.ZipInfo,
                    target: str) -> None:
    """One member to ``target`` with its mode; refused unless it hashes as RECORD says."""
    from rezwheel.artifact.reader import READ_ERRORS

    record = artifact.records().get(info.filename)
    if record is None or record.digest is None:  # reader.validate_record made sure of it
        raise InvalidWheelError(f"{artifact.path}: RECORD check failed: no hash of "
                                f"{entry.wheel_path} in RECORD")
    try:
        digest, size = _write_member(artifact.zip, info, entry, target, record.hasher())
    except READ_ERRORS as e:
        if isinstance(e, OSError) and (getattr(e, "filename", None) == target
                                       or e.errno in _DISK_ERRNOS):
            raise  # the disk written to, not the archive
        raise InvalidWheelError(f"{artifact.path}: cannot read {info.filename}: {e}") from None
    if not record.matches(digest, size):
        raise InvalidWheelError(f"{artifact.path}: RECORD check failed: hash of "
                                f"{entry.wheel_path} does not match RECORD")


#: a write that failed for the target disk's sake (what ``open_artifact``'s reads never give)
_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM}


def _write_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, entry: FileEntry, target: str,
                  h: Any) -> tuple[bytes, int]:
    """Stream one member into ``target`` (new) with its mode, hashing what the archive holds
    with ``h``: (digest, size). A ``#!python`` line is given back its original text."""
    size = 0
    with zf.open(info) as stream, open(target, "xb") as out:
        chunk = stream.read(CHUNK)
        if entry.shebang and chunk.startswith(b"#!python"):
            h.update(chunk)
            size += len(chunk)
            nl = chunk.find(b"\n")
            if nl < 0 and len(chunk) == CHUNK:  # a line longer than a chunk: refuse, not cut
                raise InvalidWheelError(f"{info.filename}: its #!python line has no end")
            out.write(entry.shebang.encode() + (chunk[nl + 1:] if nl >= 0 else b""))
            chunk = stream.read(CHUNK)
        while chunk:
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
            chunk = stream.read(CHUNK)
        os.fchmod(out.fileno(), entry.mode)
    return h.digest(), size


def restore_wheel(path: str, repo: str, force: bool = False,
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
    if expect.definition is not None and art.definition.text != expect.definition.text:
        raise InstallError(f"{os.path.basename(path)}: the definition served by the index differs "
                           "from the wheel's own rez-package.py; refused")


def _install(art: Artifact, repo: str, force: bool) -> Installed:
    """Present when this definition and variant are there; a different definition of the
    package is refused unless ``force`` (then replaced, dropping its other variants)."""
    layout, data = art.layout, art.definition.data
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
