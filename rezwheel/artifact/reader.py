"""Reading a rezwheel artifact safely: what it is, and whether it may be unpacked.

Everything in a wheel from an index is untrusted. ``open_artifact`` checks the archive before any
byte is extracted: member names (no absolute paths, no ``..``), declared sizes (a zip bomb is
refused from its central directory), RECORD hashes, the embedded definition (parsed with ``ast``,
never run) and the layout map against the archive.

A forged archive can also lie: sizes in its central directory that differ from the data,
duplicate names, unsupported compression. Every read goes through ``ZipFile`` (which stops at the
declared size; the payload's RECORD hash, checked as it is restored, catches any other lie),
and every such failure is one ``InvalidWheelError`` naming the file.

Artifacts are read without ``installer`` (``WheelSource``: the dist-info, RECORD as data): it
costs a tenth of a second of imports on every ``rez env`` that localizes a variant. Plain
wheels, which ``installer`` does install, get ``CheckedWheelFile`` (made on first use).
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any, BinaryIO, Iterator, Optional

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from rezwheel import limits

from rezwheel.artifact import rezdef
from rezwheel.errors import InvalidWheelError
from rezwheel.artifact.layout import FILENAME as LAYOUT, Layout, is_safe_relpath

from rezwheel.artifact.metadata import DEFINITION

_MAX_RATIO = 1100  # deflate cannot do better than ~1032:1; more means a forged header
#: what reading a damaged or forged member raises (CRC/size mismatch, bad deflate data, an
#: unsupported or encrypted entry, a truncated file)
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
               NotImplementedError, UnicodeDecodeError)


def max_unpacked() -> int:
    """Largest total unpacked size accepted (``REZWHEEL_MAX_UNPACKED``, default 64 GiB)."""
    return int(limits.get("max-unpacked"))


def max_dist_info() -> int:
    """Largest ``.dist-info`` member read into memory (``REZWHEEL_MAX_DIST_INFO_BYTES``)."""
    return int(limits.get("max-dist-info-bytes"))


@dataclass
class Artifact:
    """An opened artifact: its embedded rez definition and layout, ready to install."""

    path: str
    zip: zipfile.ZipFile
    source: "WheelSource"
    definition: rezdef.Definition  # the embedded rez-package.py: its text and what it says
    layout: Layout

    def records(self) -> "dict[str, Record]":
        """RECORD entries by member path."""
        return self.source.records

    def summary(self) -> dict:
        """What ``rezwheel inspect`` shows: the rez variant held, the wheel's name parts, the
        requirements, and the payload's size (JSON-ready, in display order)."""
        lay = self.layout
        _, version, build, tags = parse_wheel_filename(os.path.basename(self.path))
        return {
            "file": os.path.basename(self.path), "rez_name": lay.rez_name,
            "rez_version": lay.rez_version, "variant_index": lay.variant_index,
            "variant_requires": list(lay.variant_requires), "wheel_version": str(version),
            "build": build[0] if build else None, "tags": sorted(str(t) for t in tags),
            "requires": self.definition.requires,
            "payload": {"files": len(lay.files), "symlinks": len(lay.links),
                        "empty_dirs": len(lay.dirs),
                        "bytes": sum(i.file_size for i in self.zip.infolist()
                                     if i.filename in lay.by_wheel_path)},
        }

    @property
    def rez_name(self) -> str:
        return self.layout.rez_name

    @property
    def rez_version(self) -> str:
        return self.layout.rez_version

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> "Artifact":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


#: hashes a RECORD may use: the wheel spec's "sha256 or better" (md5 and sha1 are refused)
_ALGORITHMS = frozenset(hashlib.algorithms_guaranteed) - {"md5", "sha1"}
_SIGNATURES = ("RECORD.jws", "RECORD.p7s")


@dataclass(frozen=True)
class Record:
    """One RECORD row: what a member must hash to (both None for RECORD itself)."""
    algorithm: Optional[str]
    digest: Optional[str]  # urlsafe base64, no padding
    size: Optional[int]

    def hasher(self) -> Any:
        return hashlib.new(self.algorithm or "sha256")

    def matches(self, digest: bytes, size: int) -> bool:
        return self.digest == base64.urlsafe_b64encode(digest).rstrip(b"=").decode() and \
            (self.size is None or self.size == size)


class WheelSource:
    """A wheel's ``.dist-info`` read from its archive: the one directory named for the
    wheel's project, its files (each read failure one ``InvalidWheelError`` naming the wheel)
    and RECORD as data. The checks are ``installer``'s (``WheelFile``), without its imports."""

    def __init__(self, f: zipfile.ZipFile, path: str) -> None:
        self._zip = f
        self.path = path

    @cached_property
    def dist_info_dir(self) -> str:
        tops = {n.split("/", 1)[0] for n in self._zip.namelist()}
        found = sorted(n for n in tops if n.endswith(".dist-info"))
        if len(found) != 1:
            raise InvalidWheelError(f"{self.path}: the wheel holds {len(found)} .dist-info "
                                    f"directories ({', '.join(found) or 'none'}), not one")
        project = str(parse_wheel_filename(os.path.basename(self.path))[0])
        if canonicalize_name(found[0][:-len(".dist-info")].rsplit("-", 1)[0]) != project:
            raise InvalidWheelError(f"{self.path}: {found[0]} does not match the file name")
        return found[0]

    @property
    def dist_info_filenames(self) -> list[str]:
        base = self.dist_info_dir + "/"
        return [n[len(base):] for n in self._zip.namelist()
                if n.startswith(base) and not n.endswith("/")]

    def read_dist_info(self, filename: str) -> str:
        name = f"{self.dist_info_dir}/{filename}"
        try:
            return self._zip.read(name).decode("utf-8")
        except KeyError:
            raise InvalidWheelError(f"{self.path}: no {name} in the archive") from None
        except READ_ERRORS as e:
            raise InvalidWheelError(f"{self.path}: cannot read {name}: {e}") from None

    @cached_property
    def records(self) -> dict[str, Record]:
        """RECORD by member path; a row that is not (path, algorithm=digest, size) is refused."""
        import csv

        text = self.read_dist_info("RECORD")
        out: dict[str, Record] = {}
        try:
            for n, row in enumerate(csv.reader(text.splitlines(), delimiter=",",
                                               quotechar='"', lineterminator="\n")):
                if len(row) != 3:
                    raise ValueError(f"row {n}: expected 3 elements, got {len(row)}")
                path, hashed, size = row
                algorithm, _, digest = hashed.partition("=")
                if hashed and (algorithm not in _ALGORITHMS or not digest):
                    raise ValueError(f"row {n}: hash {hashed[:40]!r} is not sha256 or better")
                out[path.replace("\\", "/")] = Record(
                    algorithm if hashed else None, digest if hashed else None,
                    int(size) if size else None)
        except (ValueError, csv.Error) as e:
            raise InvalidWheelError(f"{self.path}: unreadable RECORD: {e}") from None
        return out

    def validate_record(self) -> None:
        """Every member is in RECORD with a hash and a size (RECORD itself with neither,
        signatures not at all): the first failure as ``RECORD check failed``."""
        records = dict(self.records)
        base = self.dist_info_dir + "/"
        for info in self._zip.infolist():
            name = info.filename
            if name.endswith("/"):
                continue
            rec = records.pop(name, None)
            issue = None
            if name.startswith(base) and name.rsplit("/", 1)[-1] in _SIGNATURES:
                issue = rec and f"digital signature file {name} is incorrectly contained in RECORD"
            elif rec is None:
                issue = f"{name} is not mentioned in RECORD"
            elif name == base + "RECORD":
                issue = (rec.digest or rec.size is not None) and \
                    "RECORD file incorrectly contains hash / size"
            elif rec.digest is None or rec.size is None:
                issue = f"hash / size of {name} is not included in RECORD"
            if issue:
                raise InvalidWheelError(f"{self.path}: RECORD check failed: {issue}")

    def check_dist_info_hashes(self) -> None:
        """The ``.dist-info`` files read into memory hash as RECORD says (the payload is
        checked as it is restored)."""
        base = self.dist_info_dir + "/"
        for name, rec in self.records.items():
            if not name.startswith(base) or rec.digest is None:
                continue
            try:
                data = self._zip.read(name)
            except KeyError:
                continue  # a RECORD row for no member: nothing read, nothing restored
            except READ_ERRORS as e:
                raise InvalidWheelError(f"{self.path}: cannot read {name}: {e}") from None
            h = rec.hasher()
            h.update(data)
            if not rec.matches(h.digest(), len(data)):
                raise InvalidWheelError(f"{self.path}: RECORD check failed: hash of {name} "
                                        "does not match RECORD")


def _checked_wheel_file() -> type:
    """``installer``'s WheelFile whose reads fail as one ``InvalidWheelError`` naming the wheel
    (plain wheels: ``rezpip``, ``export``): the payload is streamed (and its RECORD hashes
    checked) only while being installed, so a lying member is found then, inside
    ``installer.install``."""
    from installer.sources import WheelFile

    class CheckedWheelFile(WheelFile):
        def __init__(self, f: zipfile.ZipFile, path: str) -> None:
            super().__init__(f)
            self.path = path

        def read_dist_info(self, filename: str) -> str:
            name = f"{self.dist_info_dir}/{filename}"
            try:
                return super().read_dist_info(filename)
            except KeyError:
                raise InvalidWheelError(f"{self.path}: no {name} in the archive") from None
            except READ_ERRORS as e:
                raise InvalidWheelError(f"{self.path}: cannot read {name}: {e}") from None

        def get_contents(self) -> Iterator[tuple[Any, BinaryIO, bool]]:
            contents = super().get_contents()
            while True:
                try:
                    record, stream, executable = next(contents)
                except StopIteration:
                    return
                except READ_ERRORS as e:
                    raise InvalidWheelError(f"{self.path}: cannot read the archive: {e}") \
                        from None
                yield record, _GuardedStream(stream, self.path, record[0]), executable

    return CheckedWheelFile


_LAZY: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    """``CheckedWheelFile`` is made, importing ``installer``, the first time it is asked for."""
    if name != "CheckedWheelFile":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _LAZY:
        _LAZY[name] = _checked_wheel_file()
    return _LAZY[name]


class _GuardedStream:
    """A member being read: a read failure names the wheel and the member."""

    def __init__(self, stream: BinaryIO, path: str, member: str) -> None:
        self._stream, self._path, self._member = stream, path, member

    def read(self, n: int = -1) -> bytes:
        try:
            return self._stream.read(n)
        except READ_ERRORS as e:
            raise InvalidWheelError(f"{self._path}: cannot read {self._member}: {e}") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def open_zip(path: str) -> zipfile.ZipFile:
    """A zip file whose members passed ``check_members``; one line for anything else."""
    try:
        zf = zipfile.ZipFile(path)
    except READ_ERRORS as e:
        raise InvalidWheelError(f"{path}: not a wheel: {e}") from None
    try:
        check_members(zf, path)
    except BaseException:
        zf.close()
        raise
    return zf


def open_artifact(path: str, verify_record: bool = True,
                  known: "rezdef.Definition | None" = None) -> Artifact:
    """Open and check a rezwheel artifact; raises InvalidWheelError naming the file.

    ``known``: the definition the caller resolved with (already parsed and checked): a wheel
    embedding exactly that text is not parsed a second time."""
    name = os.path.basename(path)
    try:
        parse_wheel_filename(name)
    except InvalidWheelFilename as e:
        raise InvalidWheelError(f"{path}: not a wheel: {e}") from None
    zf = open_zip(path)
    try:
        source = WheelSource(zf, path)
        dist_info = source.dist_info_dir
        files = source.dist_info_filenames
        if DEFINITION not in files or LAYOUT not in files:
            raise InvalidWheelError(f"{path}: not a rezwheel artifact (no {DEFINITION} in {dist_info})")
        # the names, and the small files read here; the payload too unless its hashes are
        # checked as it is restored (``rezrepo.restore``)
        source.validate_record()
        source.check_dist_info_hashes()
        if verify_record:
            _check_payload_hashes(source, zf, path)
        text = source.read_dist_info(DEFINITION)
        label = f"{path}:{dist_info}/{DEFINITION}"
        if known is not None and text == known.text:  # a copy: restore may add to its data
            definition = rezdef.Definition(text, dict(known.data))
        else:
            definition = rezdef.Definition.read(text, label)
        layout = Layout.from_json(source.read_dist_info(LAYOUT), path)
        _check_layout(zf, layout, definition.data, path, dist_info)
    except BaseException:
        zf.close()
        raise
    return Artifact(path, zf, source, definition, layout)


def _check_payload_hashes(source: WheelSource, zf: zipfile.ZipFile, path: str) -> None:
    base = source.dist_info_dir + "/"
    for info in zf.infolist():
        rec = source.records.get(info.filename)
        if info.filename.endswith("/") or info.filename.startswith(base) or rec is None:
            continue
        h, size = rec.hasher(), 0
        try:
            with zf.open(info) as stream:
                while chunk := stream.read(1 << 20):
                    h.update(chunk)
                    size += len(chunk)
        except READ_ERRORS as e:
            raise InvalidWheelError(f"{path}: cannot read {info.filename}: {e}") from None
        if not rec.matches(h.digest(), size):
            raise InvalidWheelError(f"{path}: RECORD check failed: hash of {info.filename} "
                                    "does not match RECORD")


def check_members(zf: zipfile.ZipFile, path: str) -> None:
    """Refuse, from the central directory alone, archives that cannot be extracted safely:
    unsafe or duplicate names, a member under another member file, zip bombs (declared sizes
    past the caps), and ``.dist-info`` files bigger than ``max_dist_info()`` (they are read
    whole into memory). Used for plain wheels too (``pypi``)."""
    infos = zf.infolist()
    if not infos:
        raise InvalidWheelError(f"{path}: not a wheel: the archive is empty")
    cap, dist_cap = max_unpacked(), max_dist_info()
    total = 0
    seen: dict[str, bool] = {}  # name -> is a directory entry
    for info in infos:
        n = info.filename.rstrip("/")
        if not is_safe_relpath(n):
            raise InvalidWheelError(f"{path}: unsafe member path {info.filename!r}")
        if n in seen:
            raise InvalidWheelError(f"{path}: duplicate member {n!r}")
        seen[n] = info.is_dir()
        total += info.file_size
        if info.file_size > cap or total > cap or (
                info.file_size > 1 << 20 and info.file_size > _MAX_RATIO * max(info.compress_size, 1)):
            raise InvalidWheelError(
                f"{path}: member {info.filename!r} declares {info.file_size} bytes "
                f"({info.compress_size} compressed): refused as a zip bomb")
        if n.split("/", 1)[0].endswith(".dist-info") and info.file_size > dist_cap:
            raise InvalidWheelError(
                f"{path}: {n} declares {info.file_size} bytes, more than the "
                f"{dist_cap} allowed for a .dist-info file (REZWHEEL_MAX_DIST_INFO_BYTES)")
    for n, is_dir in seen.items():
        parts = n.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if seen.get(parent) is False:
                raise InvalidWheelError(f"{path}: member {n!r} lies under the file {parent!r}")


def _check_layout(zf: zipfile.ZipFile, layout: Layout, definition: dict, path: str,
                  dist_info: str) -> None:
    names = {i.filename for i in zf.infolist() if not i.filename.endswith("/")}
    payload = {n for n in names if not n.startswith(dist_info + "/")}
    mapped = set(layout.by_wheel_path)
    if payload - mapped:
        raise InvalidWheelError(f"{path}: member {sorted(payload - mapped)[0]!r} is not in {LAYOUT}")
    if mapped - payload:
        raise InvalidWheelError(f"{path}: {LAYOUT} names {sorted(mapped - payload)[0]!r}, "
                                "which is not in the archive")
    if definition.get("name") != layout.rez_name or \
            str(definition.get("version", "")) != layout.rez_version:
        raise InvalidWheelError(f"{path}: {LAYOUT} and {DEFINITION} name different packages")
    # the variant installed is the one the definition lists, at the place rez looks for it
    from rezwheel.artifact.rezdef import variant_subpath

    variants = definition.get("variants") or []
    index = layout.variant_index
    if index is None:
        ok = not variants and not layout.subpath
    else:
        ok = 0 <= index < len(variants) and \
            layout.variant_requires == tuple(variants[index]) and \
            (layout.subpath or "") == variant_subpath(definition, index)
    if not ok:
        raise InvalidWheelError(f"{path}: the variant in {LAYOUT} (index {index}, "
                                f"{'/'.join(layout.variant_requires) or 'no requires'}) is not "
                                f"the one {DEFINITION} lists")

