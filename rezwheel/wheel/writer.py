"""A reproducible, streaming wheel writer.

Same members, same bytes: fixed timestamps (``SOURCE_DATE_EPOCH`` or 1980-01-01), members in
the order given (callers sort them), modes normalized to 0644/0755, deflate at level 6, RECORD
last. Files are streamed in chunks and hashed as they are written, so memory stays flat however
large the payload. The archive is written to a temporary name beside its destination and renamed
into place only when complete.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import tempfile
import time
import zipfile
from typing import BinaryIO, Optional

from installer.records import Hash, RecordEntry

CHUNK = 1 << 20
COMPRESS_LEVEL = 6


def _date_time() -> tuple[int, int, int, int, int, int]:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    return time.gmtime(max(epoch, 315532800))[:6]


class WheelWriter:
    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=".rezwheel-", suffix=".tmp", dir=directory)
        self._fh = os.fdopen(fd, "w+b")
        self._zip = zipfile.ZipFile(self._fh, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
        self._records: list[RecordEntry] = []
        self._when = _date_time()

    def _info(self, arcname: str, mode: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(arcname, self._when)
        info.external_attr = (0o100000 | mode) << 16
        info.create_system = 3
        info.compress_type = zipfile.ZIP_DEFLATED
        info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]
        return info

    def add_stream(self, arcname: str, stream: BinaryIO, mode: int = 0o644,
                   first: bytes = b"", size_hint: int = 0) -> None:
        """Write ``first`` then the rest of ``stream`` as one member, recording its hash."""
        digest = hashlib.sha256()
        size = 0
        info = self._info(arcname, mode)
        with self._zip.open(info, "w", force_zip64=size_hint > 2**31) as out:
            chunk = first
            while True:
                if chunk:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
        b64 = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        self._records.append(RecordEntry(arcname, Hash("sha256", b64), size))

    def add_bytes(self, arcname: str, data: bytes, mode: int = 0o644) -> None:
        self.add_stream(arcname, io.BytesIO(data), mode)

    def finish(self, record_path: str) -> str:
        """Write RECORD, close, and rename into place; returns the file's sha256."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for r in self._records:
            writer.writerow(r.to_row())
        writer.writerow((record_path, "", ""))
        self._zip.writestr(self._info(record_path, 0o644), buf.getvalue())
        self._zip.close()
        self._fh.flush()
        self._fh.seek(0)
        digest = hashlib.sha256()
        while chunk := self._fh.read(CHUNK):
            digest.update(chunk)
        self._fh.close()
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)
        return digest.hexdigest()

    def abort(self) -> None:
        try:
            self._zip.close()
            self._fh.close()
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)

    def __enter__(self) -> "WheelWriter":
        return self

    def __exit__(self, exc_type: Optional[type], *_: object) -> None:
        if exc_type is not None:
            self.abort()
