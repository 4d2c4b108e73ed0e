"""The files of an HTTP index: payloads, PEP 658 files, and definitions from an archive's tail.

``FileReads`` is the part of ``httpreader.HttpReader`` that reads files rather than pages (a
mixin: it uses the reader's session, counters and credentials). One definition alone comes from
the PEP 658 file, else from the archive's last 64 KiB (a ``Tail``), else from the whole file,
which is then kept as the payload once its sha256 matches; a payload is streamed to disk,
hashed on the way and capped.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from typing import TYPE_CHECKING, Callable, Optional

from rezwheel import limits
from rezwheel.atomic import AtomicFile
from rezwheel.errors import InvalidWheelError, RezwheelError
from rezwheel.index.pages import IndexFile
from rezwheel.index.readers import Counters, _checked_metadata, _zip_or_none
from rezwheel.redaction import redact

if TYPE_CHECKING:
    import requests

TAIL = 1 << 16
#: a file is the bytes the server sends (as pip reads them): never inflated on the way, so a
#: small gzip body cannot become gigabytes in the store before its sha256 is found wrong
AS_SENT = {"Accept-Encoding": "identity"}


class Tail:
    """A read-only file over the last bytes of a remote archive: enough for zipfile to list the
    members and read those stored at the end (rezwheel writes .dist-info last)."""

    def __init__(self, data: bytes, start: int, size: int) -> None:
        self.data, self.start, self.size, self.pos = data, start, size, 0

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else (self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if self.pos < self.start:
            raise ValueError("outside the fetched tail")
        end = self.size if n < 0 else min(self.size, self.pos + n)
        out = self.data[self.pos - self.start:end - self.start]
        self.pos += len(out)
        return out


class FileReads:
    """Reading files of the index (see the module docstring); ``HttpReader`` holds the state."""

    session: "requests.Session"
    counters: Counters

    def _sent(self) -> Optional[str]:
        raise NotImplementedError

    def size(self, f: IndexFile) -> Optional[int]:
        """From a HEAD (PEP 691 pages may list sizes; the parsed page keeps none)."""
        import requests

        from rezwheel.index.http import deadline, failure

        try:
            with deadline(f.url):
                r = self.session.head(f.url, allow_redirects=True)
        except requests.RequestException as e:
            raise failure(e, f.url) from None
        length = r.headers.get("Content-Length", "")
        return int(length) if r.status_code == 200 and length.isdigit() else None

    def metadata(self, f: IndexFile) -> Optional[str]:
        """The PEP 658 file, when it exists and matches the hash its page gives."""
        import requests

        from rezwheel.index.http import deadline, failure, read_body

        url = f.url + ".metadata"
        try:
            with deadline(url):
                r = self.session.get(url, stream=True)
                if r.status_code != 200:
                    r.close()
                    self.counters.add("metadata")
                    return None
                body = read_body(r, url, int(limits.get("max-dist-info-bytes")),
                                 "metadata file", "REZWHEEL_MAX_DIST_INFO_BYTES")
        except requests.RequestException as e:
            raise failure(e, url) from None
        self.counters.add("metadata", len(body))
        return _checked_metadata(body, f, url)

    def tail_zip(self, f: IndexFile, keep: Optional[str] = None) -> Optional[zipfile.ZipFile]:
        """The archive as seen from its last 64 KiB, or None when the server cannot range.

        A server that ignores Range sends the whole file: it is then saved to ``keep`` (it is
        the payload too) once its sha256 matches the page's, rather than read a second time.

        Artifactory breaks suffix ranges on virtual repositories, so there the length comes
        from a HEAD and the range is explicit; elsewhere one suffix range does, and its answer
        is checked all the same.
        """
        import requests

        from rezwheel.config import is_artifactory
        from rezwheel.index.http import deadline, failure

        url = f.url
        got = [0]
        try:
            with deadline(url, progress=lambda: got[0]):
                if not is_artifactory(url):
                    r = self.session.get(url, headers={"Range": f"bytes=-{TAIL}", **AS_SENT},
                                         stream=True)
                    span = _content_range(r)
                    if r.status_code == 206 and span and span[1] == span[2] - 1 \
                            and span[1] - span[0] + 1 <= TAIL:
                        data = _read_exactly(r, span[1] - span[0] + 1)
                        self.counters.add("range", len(data))
                        return _zip_or_none(Tail(data, span[0], span[2])) if data else None
                    if r.status_code == 200:  # Range ignored: this is the whole file
                        return self._whole(r, f, keep, got)
                    r.close()
                head = self.session.head(url, allow_redirects=True, headers=AS_SENT)
                self.counters.add("head")
                length = head.headers.get("Content-Length", "")
                size = int(length) if length.isdigit() else 0
                if head.status_code != 200 or size <= 0:
                    return None
                start = max(0, size - TAIL)
                r = self.session.get(url, stream=True,
                                     headers={"Range": f"bytes={start}-{size - 1}", **AS_SENT})
                if r.status_code == 200:  # Range ignored: the whole file, streamed to the store
                    return self._whole(r, f, keep, got)
                if r.status_code != 206 or _content_range(r) != (start, size - 1, size):
                    r.close()
                    return None  # a broken range answer: read the whole file instead
                data = _read_exactly(r, size - start)
                self.counters.add("range", len(data))
                return _zip_or_none(Tail(data, start, size)) if data else None
        except requests.RequestException as e:
            raise failure(e, url) from None

    def _whole(self, r: "requests.Response", f: IndexFile, keep: Optional[str],
               got: list) -> Optional[zipfile.ZipFile]:
        """A whole file sent where a range was asked: kept in the store only when verified."""
        if not keep or not f.sha256:
            r.close()
            return None  # read_definition downloads it properly (hashed, capped)
        with AtomicFile(keep, prefix=".tmp-", mode=None) as tmp:
            with open(tmp, "wb") as out:
                digest = _stream(r, out, f.url, got)
            self.counters.add("payload", got[0])
            if digest != f.sha256:
                raise InvalidWheelError(f"{f.filename}: sha256 {digest} does not match the "
                                        f"index's {f.sha256}")
        return _zip_or_none(keep)

    def fetch(self, f: IndexFile, dest: str, show: bool = False) -> Optional[str]:
        """Stream a file to ``dest``; returns its sha256, hashed on the way (the caller
        compares it with the index's, without reading the file again). ``show``: a byte bar
        for a large file when a person watches (``progress.download_bar``)."""
        import requests

        from rezwheel.index.http import deadline, describe, failure
        from rezwheel.progress import download_bar

        got = [0]
        try:
            with deadline(f.url, progress=lambda: got[0]):
                with self.session.get(f.url, stream=True, headers=AS_SENT) as r:
                    if r.status_code != 200:
                        raise RezwheelError(describe(r, f.url, self._sent()))
                    size = r.headers.get("Content-Length", "")
                    total = int(size) if size.isdigit() else 0
                    with open(dest, "wb") as out, download_bar(f.filename, total, show) as tick:
                        digest = _stream(r, out, f.url, got, tick)
        except requests.RequestException as e:
            raise failure(e, f.url) from None
        self.counters.add("payload", got[0])
        return digest


def _stream(r: "requests.Response", out: "io.BufferedWriter", url: str, got: list,
            tick: Callable[[int], None] = lambda n: None) -> str:
    """Copy a response body to ``out``, hashing it, refused past the unpacked-size cap."""
    from rezwheel.index.http import HTTPFailure, raw_chunks
    from rezwheel.artifact.reader import max_unpacked

    cap = max_unpacked()
    digest = hashlib.sha256()
    for chunk in raw_chunks(r, 1 << 20):
        got[0] += len(chunk)
        if got[0] > cap:
            r.close()
            raise HTTPFailure(f"{redact(url)}: larger than {cap} bytes "
                              "(REZWHEEL_MAX_UNPACKED)")
        out.write(chunk)
        digest.update(chunk)
        tick(len(chunk))
    return digest.hexdigest()


def _read_exactly(r: "requests.Response", n: int) -> bytes:
    """A range answer's body: exactly the bytes its Content-Range promised, or nothing."""
    data = r.raw.read(n + 1, decode_content=False)
    r.close()
    return data if len(data) == n else b""


def _content_range(r: "requests.Response") -> Optional[tuple[int, int, int]]:
    m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", r.headers.get("Content-Range", "").strip())
    return (int(m[1]), int(m[2]), int(m[3])) if m else None
