"""Reading a rezwheel artifact safely: what it is, and whether it may be unpacked.

Everything in a wheel from an index is untrusted. ``open_artifact`` checks the archive before any
byte is extracted: member names (no absolute paths, no ``..``), declared sizes (a zip bomb is
refused from its central directory), RECORD hashes, the embedded definition (parsed with ``ast``,
never run) and the layout map against the archive.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

from installer.sources import WheelFile
from packaging.utils import parse_wheel_filename, InvalidWheelFilename

from .. import rezdef
from ..errors import InvalidWheelError
from ..layout import FILENAME as LAYOUT, Layout, is_safe_relpath

from .metadata import DEFINITION
#: Largest total unpacked size accepted, overridable for studios with huge payloads.
MAX_UNPACKED = int(os.environ.get("REZWHEEL_MAX_UNPACKED", str(64 << 30)))
_MAX_RATIO = 1100  # deflate cannot do better than ~1032:1; more means a forged header


@dataclass
class Artifact:
    """An opened artifact: its embedded rez definition and layout, ready to install."""

    path: str
    zip: zipfile.ZipFile
    source: WheelFile
    definition_text: str
    definition: dict
    layout: Layout

    def records(self) -> dict:
        """RECORD entries by member path."""
        from installer.records import RecordEntry, parse_record_file

        rows = parse_record_file(self.source.read_dist_info("RECORD").splitlines())
        return {r[0]: RecordEntry.from_elements(*r) for r in rows}

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


def open_artifact(path: str, verify_record: bool = True) -> Artifact:
    """Open and check a rezwheel artifact; raises InvalidWheelError naming the file."""
    name = os.path.basename(path)
    try:
        parse_wheel_filename(name)
        zf = zipfile.ZipFile(path)
    except (InvalidWheelFilename, zipfile.BadZipFile, OSError) as e:
        raise InvalidWheelError(f"{path}: not a wheel: {e}") from None
    try:
        _check_members(zf, path)
        source = WheelFile(zf)
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
                _check_dist_info_hashes(source, zf)
        except InvalidWheelError:
            raise
        except Exception as e:
            issues = getattr(e, "issues", None) or [str(e)]
            raise InvalidWheelError(f"{path}: RECORD check failed: {issues[0]}") from None
        text = source.read_dist_info(DEFINITION)
        definition = rezdef.parse(text, f"{path}:{dist_info}/{DEFINITION}")
        layout = Layout.from_json(source.read_dist_info(LAYOUT), path)
        _check_layout(zf, layout, definition, path, dist_info)
    except BaseException:
        zf.close()
        raise
    return Artifact(path, zf, source, text, definition, layout)


def _check_dist_info_hashes(source: WheelFile, zf: zipfile.ZipFile) -> None:
    from installer.records import RecordEntry, parse_record_file

    base = source.dist_info_dir + "/"
    for row in parse_record_file(source.read_dist_info("RECORD").splitlines()):
        if row[0].startswith(base) and row[0] != base + "RECORD":
            if not RecordEntry.from_elements(*row).validate(zf.read(row[0])):
                raise InvalidWheelError(f"{zf.filename}: RECORD check failed: hash of {row[0]} "
                                        "does not match RECORD")


def _check_members(zf: zipfile.ZipFile, path: str) -> None:
    total = 0
    for info in zf.infolist():
        n = info.filename.rstrip("/")
        if not is_safe_relpath(n):
            raise InvalidWheelError(f"{path}: unsafe member path {info.filename!r}")
        total += info.file_size
        if info.file_size > MAX_UNPACKED or total > MAX_UNPACKED or (
                info.file_size > 1 << 20 and info.file_size > _MAX_RATIO * max(info.compress_size, 1)):
            raise InvalidWheelError(
                f"{path}: member {info.filename!r} declares {info.file_size} bytes "
                f"({info.compress_size} compressed): refused as a zip bomb")


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

