"""A reproducible, streaming, parallel wheel writer.

Same members, same bytes: fixed timestamps (``SOURCE_DATE_EPOCH`` or 1980-01-01), members in
the order given (callers sort them), modes normalized to 0644/0755, deflate at level 6, RECORD
last. The archive is written to a temporary name beside its destination and renamed into place
only when complete.

Every core (``REZWHEEL_JOBS``, default: the CPUs this process may use). Deflate is nearly all of
the work of a conversion, and zlib releases the GIL, so members are compressed in a thread pool
and written strictly in member order. The bytes never depend on the thread count, because the
unit of work is fixed by the data alone:

- A member of at most ``BLOCK`` bytes (1 MiB) is one raw deflate stream, compressed whole.
  Consecutive small members travel to the pool in batches (~``BATCH`` bytes), so tens of
  thousands of small files do not cost one thread hand-off each; the worker also computes their
  CRC-32 and sha256 (both release the GIL).
- A larger member is cut into ``BLOCK``-sized pieces at fixed offsets of its data, as pigz does:
  each piece gets its own ``compressobj(6, DEFLATED, -15)`` primed (``zdict``) with the 32 KiB
  before it, so the ratio stays within a few bytes per MiB of one stream; every piece but the last
  ends with ``Z_SYNC_FLUSH`` (byte-aligned, no final bit), the last with ``Z_FINISH``, and their
  concatenation is one valid deflate stream. CRC-32 and sha256 are chained in order as the pieces
  are read.
- Memory stays flat: at most ``4 * jobs`` MiB of input (128 MiB in all) is in flight, plus its
  compressed form; past that, the oldest piece is written (waited for if need be) before more
  is read.
- A wheel smaller than one batch is compressed in the calling thread: the pool (and its threads)
  is created only when there is enough work to share, so a metadata-only wheel costs nothing
  extra.

``zipfile`` cannot store data compressed elsewhere, so the archive structure is written here,
after APPNOTE 6.3.x and with the field values ``zipfile`` used (version 2.0, 4.5 with zip64;
flags 0, or the UTF-8 bit for a non-ASCII name; ``create_system`` 3; ``external_attr`` the
normalized mode): a local header, the data, no data descriptor (a streamed member's header is
rewritten in place once its CRC and sizes are known, as ``zipfile`` does on a seekable file),
the central directory, and the end records. Zip64 where a field does not fit: a member declared
over 2 GiB (``size_hint``, the same margin ``zipfile``'s ``force_zip64`` was given) carries the
zip64 extra in its local header; sizes and offsets of 4 GiB or more go to the central directory's
zip64 extra; 65,535 entries or more, or a central directory at or past 4 GiB, add the zip64 end
records. The file's sha256 is read back once at the end (hardware sha256, page cache).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import csv
import hashlib
import io
import os
import struct
import time
import zlib
from typing import BinaryIO, Callable, Iterator, Optional

from installer.records import Hash, RecordEntry

from rezwheel.atomic import AtomicFile
from rezwheel.pools import Pool

CHUNK = 1 << 20          # read size used by readers of this module's output (install.py)
COMPRESS_LEVEL = 6
BLOCK = 1 << 20          # deflate piece of a large member; members up to this size go whole
BATCH = 256 << 10        # small members sent to a worker together, about this many bytes
WINDOW_BLOCKS = 4        # in-flight input per worker, in BLOCKs ...
WINDOW_MAX = 128 << 20   # ... and in all, however many cores
DICT = 32 << 10          # deflate window: how much of the previous piece primes the next

# zip format limits (module constants so tests can force the zip64 paths with small data)
LIMIT16 = 0xFFFF
LIMIT32 = 0xFFFFFFFF

#: (bytes read, wheels finished) shared with a process that shows a bar (``progress.
#: conversion_bar`` makes them, ``counting`` sets them); forked conversion workers inherit
#: them. None: nobody watches.
COUNTERS: Optional[tuple] = None


@contextlib.contextmanager
def counting(counters: Optional[tuple]) -> Iterator[None]:
    """Count what the writers of this process (and its forks) do into ``counters``."""
    global COUNTERS
    COUNTERS = counters
    try:
        yield
    finally:
        COUNTERS = None


def _count(nbytes: int, wheels: int = 0) -> None:
    counters = COUNTERS
    if counters is not None:
        with counters[0].get_lock():
            counters[0].value += nbytes
        if wheels:
            with counters[1].get_lock():
                counters[1].value += wheels
ZIP64_HINT = 1 << 31     # a streamed member declared larger gets a zip64 local header

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_DEFLATED, _VERSION, _VERSION64, _UNIX = 8, 20, 45, 3
_UTF8 = 0x800


def _date_time() -> tuple[int, int, int, int, int, int]:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or 315532800)  # checked: limits.check
    return time.gmtime(max(epoch, 315532800))[:6]


def jobs() -> int:
    """Compression threads: ``REZWHEEL_JOBS`` if a positive integer, else the usable CPUs."""
    try:
        n = int(os.environ.get("REZWHEEL_JOBS", ""))
    except ValueError:
        n = 0
    if n > 0:
        return n
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _deflate(data: bytes, zdict: bytes = b"", last: bool = True) -> bytes:
    """One piece of a raw deflate stream: the whole of it when ``last`` and no ``zdict``."""
    if zdict:
        c = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15, zdict=zdict)
    else:
        c = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _whole(items: list[bytes]) -> list[tuple[int, bytes, bytes]]:
    """(CRC-32, sha256, deflated) of each small member of a batch."""
    return [(zlib.crc32(d), hashlib.sha256(d).digest(), _deflate(d)) for d in items]


def _blocks(stream: BinaryIO, first: bytes) -> Iterator[bytes]:
    """``first`` then the rest of ``stream``, in pieces of exactly BLOCK bytes (the last shorter);
    nothing for an empty member. Offsets depend on the data only, never on how reads split."""
    buf = first
    while True:
        if len(buf) < BLOCK:
            parts, have = ([buf] if buf else []), len(buf)
            while have < BLOCK:
                chunk = stream.read(BLOCK - have)
                if not chunk:
                    break
                parts.append(chunk)
                have += len(chunk)
            buf = parts[0] if len(parts) == 1 else b"".join(parts)
            if len(buf) < BLOCK:
                if buf:
                    yield buf
                return
        yield buf[:BLOCK]
        buf = buf[BLOCK:]


class _Member:
    __slots__ = ("arcname", "name", "flags", "attr", "offset", "crc", "csize", "usize", "zip64",
                 "record", "sha")

    def __init__(self, arcname: str, mode: int, record: bool) -> None:
        self.arcname = arcname
        try:
            self.name, self.flags = arcname.encode("ascii"), 0
        except UnicodeEncodeError:
            self.name, self.flags = arcname.encode("utf-8"), _UTF8
        self.attr = (0o100000 | mode) << 16
        self.offset = self.crc = self.csize = self.usize = 0
        self.zip64 = False
        self.record = record
        self.sha = b""


def _too_large(m: _Member) -> ValueError:
    return ValueError(f"{m.arcname}: {m.usize} bytes or more, past what its declared size allowed "
                      "for (zip64 is decided from the size given before the data is read)")


class _Done:
    """A finished result, for work done in the calling thread."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def done(self) -> bool:
        return True

    def result(self) -> object:
        return self.value


class WheelWriter:
    def __init__(self, path: str) -> None:
        self.path = path
        self._out = AtomicFile(path, prefix=".rezwheel-", suffix=".tmp")
        self._fh = open(self._out.tmp, "w+b")
        self._pos = 0
        self._members: list[_Member] = []
        dt = _date_time()
        self._dostime = dt[3] << 11 | dt[4] << 5 | (dt[5] // 2)
        self._dosdate = (dt[0] - 1980) << 9 | dt[1] << 5 | dt[2]
        self._jobs = jobs()
        self._pool: Optional[Pool] = None
        # in member order: ("batch", [members], future) | ("start", member, None)
        # | ("block", member, future) | ("end", member, None)
        self._queue: collections.deque = collections.deque()
        self._queued = 0  # input bytes in the queue
        self._window = min(WINDOW_BLOCKS * BLOCK * self._jobs, max(WINDOW_MAX, 2 * BLOCK))
        self._batch: list[tuple[_Member, bytes]] = []
        self._batch_bytes = 0
        self._closed = False

    # -- scheduling ---------------------------------------------------------------------------

    def _submit(self, fn: Callable, *args: object) -> object:
        if self._jobs <= 1:
            return _Done(fn(*args))
        if self._pool is None:
            self._pool = Pool(self._jobs, "rezwheel-deflate")
        return self._pool.submit(fn, *args)

    def _enqueue(self, kind: str, what: object, future: object, nbytes: int) -> None:
        self._queue.append((kind, what, future, nbytes))
        self._queued += nbytes
        # write what is ready; past the window, wait for the oldest piece
        while self._queue and (self._queued > self._window or self._queue[0][2] is None
                               or self._queue[0][2].done()):
            self._write_next()

    def _flush_batch(self, inline: bool = False) -> None:
        if not self._batch:
            return
        members = [m for m, _ in self._batch]
        data = [d for _, d in self._batch]
        future = _Done(_whole(data)) if inline else self._submit(_whole, data)
        self._batch, nbytes, self._batch_bytes = [], self._batch_bytes, 0
        self._enqueue("batch", members, future, nbytes)

    def _drain(self) -> None:
        while self._queue:
            self._write_next()

    # -- writing, strictly in order -----------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._fh.write(data)
        self._pos += len(data)

    def _write_next(self) -> None:
        kind, what, future, nbytes = self._queue.popleft()
        self._queued -= nbytes
        if kind == "batch":
            for m, (crc, sha, deflated) in zip(what, future.result()):
                m.crc, m.sha, m.csize = crc, sha, len(deflated)
                m.zip64 = m.usize >= LIMIT32 or m.csize >= LIMIT32
                m.offset = self._pos
                self._write(self._local_header(m))
                self._write(deflated)
                self._done(m)
        elif kind == "start":  # CRC and sizes are rewritten at "end"
            what.offset = self._pos
            self._write(self._local_header(what))
        elif kind == "block":
            deflated = future.result()
            what.csize += len(deflated)
            self._write(deflated)
        else:  # "end"
            m = what
            if not m.zip64 and (m.usize >= LIMIT32 or m.csize >= LIMIT32):
                raise _too_large(m)
            self._fh.seek(m.offset)
            self._fh.write(self._local_header(m))
            self._fh.seek(self._pos)
            self._done(m)

    def _done(self, m: _Member) -> None:
        self._members.append(m)  # its RECORD row is made at the end: no object per row till then

    def _local_header(self, m: _Member) -> bytes:
        usize, csize, extra, version = m.usize, m.csize, b"", _VERSION
        if m.zip64:
            extra = struct.pack("<HHQQ", 1, 16, usize, csize)
            usize = csize = 0xFFFFFFFF
            version = _VERSION64
        return _LOCAL.pack(0x04034B50, version, m.flags, _DEFLATED, self._dostime, self._dosdate,
                           m.crc, csize, usize, len(m.name), len(extra)) + m.name + extra

    def _central(self, m: _Member) -> bytes:
        usize, csize, offset, fields = m.usize, m.csize, m.offset, []
        if usize >= LIMIT32 or csize >= LIMIT32:
            fields += [usize, csize]
            usize = csize = 0xFFFFFFFF
        if offset >= LIMIT32:
            fields.append(offset)
            offset = 0xFFFFFFFF
        extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
        version = _VERSION64 if fields or m.zip64 else _VERSION
        return _CENTRAL.pack(0x02014B50, _UNIX << 8 | version, version, m.flags, _DEFLATED,
                             self._dostime, self._dosdate, m.crc, csize, usize, len(m.name),
                             len(extra), 0, 0, 0, m.attr, offset) + m.name + extra

    def _end_records(self) -> None:
        start = self._pos
        for m in self._members:
            self._write(self._central(m))
        count, size = len(self._members), self._pos - start
        if count >= LIMIT16 or size >= LIMIT32 or start >= LIMIT32:
            end64 = self._pos
            self._write(_END64.pack(0x06064B50, _END64.size - 12, _UNIX << 8 | _VERSION64,
                                    _VERSION64, 0, 0, count, count, size, start))
            self._write(_LOCATOR64.pack(0x07064B50, 0, end64, 1))
            count = 0xFFFF if count >= LIMIT16 else count
            size = 0xFFFFFFFF if size >= LIMIT32 else size
            start = 0xFFFFFFFF if start >= LIMIT32 else start
        self._write(_END.pack(0x06054B50, 0, 0, count, count, size, start, 0))

    # -- public API ---------------------------------------------------------------------------

    def add_stream(self, arcname: str, stream: BinaryIO, mode: int = 0o644,
                   first: bytes = b"", size_hint: int = 0) -> None:
        """Write ``first`` then the rest of ``stream`` as one member, recording its hash. The
        stream is fully read before this returns; its compression may still be under way."""
        self._add(arcname, stream, mode, first, size_hint, record=True)

    def add_bytes(self, arcname: str, data: bytes, mode: int = 0o644) -> None:
        self._add(arcname, io.BytesIO(data), mode, b"", len(data), record=True)

    def _add(self, arcname: str, stream: BinaryIO, mode: int, first: bytes, size_hint: int,
             record: bool) -> None:
        if self._closed:
            raise ValueError(f"{self.path}: wheel already finished")
        m = _Member(arcname, mode, record)
        blocks = _blocks(stream, first)
        cur = next(blocks, b"")
        nxt = next(blocks, None)
        if nxt is None:  # small: compressed whole, in a batch
            _count(len(cur))
            m.usize = len(cur)
            self._batch.append((m, cur))
            self._batch_bytes += len(cur)
            if self._batch_bytes >= BATCH:
                self._flush_batch()
            return
        self._flush_batch()
        m.zip64 = size_hint > ZIP64_HINT
        self._enqueue("start", m, None, 0)
        digest, crc, zdict = hashlib.sha256(), 0, b""
        while cur is not None:
            digest.update(cur)
            crc = zlib.crc32(cur, crc)
            m.usize += len(cur)
            if m.usize >= LIMIT32 and not m.zip64:
                raise _too_large(m)
            last = nxt is None
            _count(len(cur))
            self._enqueue("block", m, self._submit(_deflate, cur, zdict, last), len(cur))
            zdict = cur[-DICT:]
            cur, nxt = nxt, (None if last else next(blocks, None))
        m.crc, m.sha = crc, digest.digest()
        self._enqueue("end", m, None, 0)

    def finish(self, record_path: str) -> str:
        """Write RECORD, close, and rename into place; returns the file's sha256."""
        self._flush_batch(inline=self._pool is None)
        self._drain()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for m in self._members:
            if m.record:
                b64 = base64.urlsafe_b64encode(m.sha).rstrip(b"=").decode()
                writer.writerow(RecordEntry(m.arcname, Hash("sha256", b64), m.usize).to_row())
        writer.writerow((record_path, "", ""))
        text = buf.getvalue().encode()
        self._add(record_path, io.BytesIO(text), 0o644, b"", len(text), record=False)
        self._flush_batch(inline=True)
        self._drain()
        self._shutdown()
        self._end_records()
        self._closed = True
        self._fh.flush()
        self._fh.seek(0)
        digest = hashlib.sha256()
        while chunk := self._fh.read(CHUNK):
            digest.update(chunk)
        self._fh.close()
        self._out.commit()
        _count(0, wheels=1)
        return digest.hexdigest()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        self._closed = True
        self._queue.clear()
        self._batch.clear()
        try:
            self._shutdown()
            self._fh.close()
        finally:
            self._out.discard()

    def __enter__(self) -> "WheelWriter":
        return self

    def __exit__(self, exc_type: Optional[type], *_: object) -> None:
        if exc_type is not None or not self._closed:
            self.abort()
