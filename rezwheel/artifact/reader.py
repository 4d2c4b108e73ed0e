"""Reading a rezwheel artifact safely: what it is, and whether it may be unpacked.

Everything in a wheel from an index is untrusted. ``open_artifact`` checks the archive before any
byte is extracted: member names (no absolute paths, no ``..``), declared sizes (a zip bomb is
refused from its central directory), RECORD hashes, the embedded definition (parsed with ``ast``,
never run) and the layout map against the archive.

A forged archive can also lie: sizes in its central directory that differ from the data,
duplicate names, unsupported compression. Every read goes through ``ZipFile`` (which stops at the
declared size and then fails its CRC check), and every such failure, here or while ``installer``
streams the payload, is one ``InvalidWheelError`` naming the file.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

from installer.sources import WheelFile
from packaging.utils import parse_wheel_filename, InvalidWheelFilename

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
    """Largest total unpacked size accepted (``REZWHEEL_MAX_UNPACKED``, default 64 GiB), read
    when used so a long-lived process sees a change."""
    try:
        value = int(os.environ.get("REZWHEEL_MAX_UNPACKED", ""))
    except ValueError:
        value = 0
    return value if value > 0 else 64 << 30


def max_dist_info() -> int:
    """Largest ``.dist-info`` member read into memory (``REZWHEEL_MAX_DIST_INFO_BYTES``)."""
    return int(limits.get("max-dist-info-bytes"))


@dataclass
class Artifact:
    """An opened artifact: its embedded rez definition and layout, ready to install."""

    path: str
    zip: zipfile.ZipFile
    source: "CheckedWheelFile"
    definition_text: str
    definition: dict
    layout: Layout

    def records(self) -> dict:
        """RECORD entries by member path."""
        from installer.records import RecordEntry, parse_record_file

        try:
            rows = parse_record_file(self.source.read_dist_info("RECORD").splitlines())
            return {r[0]: RecordEntry.from_elements(*r) for r in rows}
        except InvalidWheelError:
            raise
        except Exception as e:  # installer's InvalidRecordEntry and parse errors
            raise InvalidWheelError(f"{self.path}: unreadable RECORD: {e}") from None

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
            "requires": [str(r) for r in self.definition.get("requires") or []],
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


class CheckedWheelFile(WheelFile):
    """``installer``'s WheelFile whose reads fail as one ``InvalidWheelError`` naming the wheel:
    the payload is streamed (and its RECORD hashes checked) only while being installed, so a
    lying member is found then, inside ``installer.install``."""

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
                raise InvalidWheelError(f"{self.path}: cannot read the archive: {e}") from None
            yield record, _GuardedStream(stream, self.path, record[0]), executable


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
        source = CheckedWheelFile(zf, path)
        try:
            dist_info = source.dist_info_dir
            files = source.dist_info_filenames
        except Exception as e:
            raise InvalidWheelError(f"{path}: {e}") from None
        if DEFINITION not in files or LAYOUT not in files:
            raise InvalidWheelError(f"{path}: not a rezwheel artifact (no {DEFINITION} in {dist_info})")
        try:
            # everything, or (when payload hashes are checked as they are extracted) the names
            # and the small files read here
            source.validate_record(validate_contents=verify_record)
            if not verify_record:
                _check_dist_info_hashes(source, zf, path)
        except InvalidWheelError:
            raise
        except Exception as e:
            issues = getattr(e, "issues", None) or [str(e)]
            raise InvalidWheelError(f"{path}: RECORD check failed: {issues[0]}") from None
        text = source.read_dist_info(DEFINITION)
        label = f"{path}:{dist_info}/{DEFINITION}"
        if known is not None and text == known.text:
            definition = dict(known.data)
        else:
            definition = rezdef.parse(text, label)
            rezdef.check_identity(definition, label)
        layout = Layout.from_json(source.read_dist_info(LAYOUT), path)
        _check_layout(zf, layout, definition, path, dist_info)
    except BaseException:
        zf.close()
        raise
    return Artifact(path, zf, source, text, definition, layout)


def _check_dist_info_hashes(source: WheelFile, zf: zipfile.ZipFile, path: str) -> None:
    from installer.records import RecordEntry, parse_record_file

    base = source.dist_info_dir + "/"
    for row in parse_record_file(source.read_dist_info("RECORD").splitlines()):
        if row[0].startswith(base) and row[0] != base + "RECORD":
            try:
                data = zf.read(row[0])
            except READ_ERRORS as e:
                raise InvalidWheelError(f"{path}: cannot read {row[0]}: {e}") from None
            if not RecordEntry.from_elements(*row).validate(data):
                raise InvalidWheelError(f"{path}: RECORD check failed: hash of {row[0]} "
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

