"""The parallel wheel writer: a spec-faithful zip that every reader opens, the same bytes whatever
the thread count, zip64 where a field does not fit, flat memory."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from helpers import rezwheel
from rezwheel.artifact import writer as W

UNZIP = shutil.which("unzip")
RND = random.Random(11)
NOISE = RND.randbytes(1 << 16)


def mixed(n: int) -> bytes:
    """n bytes of alternating incompressible and zero runs, like the benchmark's binaries."""
    out, i = bytearray(), 0
    while len(out) < n:
        out += NOISE[: 3000 + 777 * (i % 5)] if i % 2 == 0 else bytes(5000)
        i += 1
    return bytes(out[:n])


def text(n: int) -> bytes:
    words = [b"token%d" % i for i in range(300)]
    rnd = random.Random(n)
    return b" ".join(rnd.choices(words, k=n // 6 + 1))[:n]


class Generated(io.RawIOBase):
    """A stream of `size` bytes made on the fly (zeros with a marker every MiB), in short reads."""

    def __init__(self, size: int, short: int = 0) -> None:
        self.size, self.pos, self.short = size, 0, short

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        if self.short:
            n = min(n, self.short)
        chunk = bytearray(n)
        for off in range(-self.pos % (1 << 20), n, 1 << 20):
            chunk[off] = 1 + (self.pos + off >> 20) % 255
        self.pos += n
        return bytes(chunk)

    def expected_crc_sha(self) -> tuple[int, str]:
        other, crc, h = Generated(self.size), 0, hashlib.sha256()
        while chunk := other.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
            h.update(chunk)
        return crc, h.hexdigest()


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4 KiB and batches of 8 KiB: the multi-block and batch paths with little data."""
    monkeypatch.setattr(W, "BLOCK", 4096)
    monkeypatch.setattr(W, "BATCH", 8192)


MEMBERS = [  # (name, data, mode, first)
    ("pkg/__init__.py", b"", 0o644, b""),
    ("pkg/mod.py", text(3000), 0o644, b""),
    ("pkg/block.bin", mixed(4096), 0o644, b""),           # exactly one block
    ("pkg/three.bin", mixed(3 * 4096), 0o644, b""),       # exactly three blocks
    ("pkg/big.bin", mixed(11 * 4096 + 7), 0o755, b""),   # many blocks, a short last one
    ("pkg/text.txt", text(50_000), 0o644, b""),
    ("pkg.data/scripts/tool", b"#!python\n" + text(9000), 0o755, b"#!python\n"),
    ("pkg/caf\u00e9.txt", "d\u00e9j\u00e0 vu\n".encode(), 0o644, b""),
] + [(f"pkg/many/f{i:03d}.txt", text(10 + 37 * i), 0o644, b"") for i in range(60)]


def write_wheel(path: Path, members=MEMBERS, record="pkg-1.0.dist-info/RECORD") -> str:
    with W.WheelWriter(str(path)) as w:
        for name, data, mode, first in members:
            rest = data[len(first):]
            w.add_stream(name, io.BytesIO(rest), mode, first=first, size_hint=len(data))
        w.add_bytes("pkg-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
        return w.finish(record)


def check_archive(path: Path, members=MEMBERS) -> None:
    """What every reader checks: zipfile, unzip -t, RECORD, attributes; nothing left beside it."""
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        infos = z.infolist()
        names = [i.filename for i in infos]
        assert names == [m[0] for m in members] + ["pkg-1.0.dist-info/METADATA",
                                                   "pkg-1.0.dist-info/RECORD"]
        for (name, data, mode, _), info in zip(members, infos):
            assert z.read(info) == data, name
            assert info.compress_type == zipfile.ZIP_DEFLATED and info.create_system == 3
            assert info.external_attr == (0o100000 | mode) << 16
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.flag_bits == (0x800 if not name.isascii() else 0)
        rows = list(csv.reader(io.StringIO(z.read("pkg-1.0.dist-info/RECORD").decode())))
    assert rows[-1] == ["pkg-1.0.dist-info/RECORD", "", ""]
    for (name, data, _, _), row in zip(members, rows):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert row == [name, f"sha256={digest}", str(len(data))]
    if UNZIP:
        r = subprocess.run([UNZIP, "-t", str(path)], capture_output=True, text=True)
        assert r.returncode == 0 and "No errors detected" in r.stdout, r.stdout + r.stderr
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".rezwheel-")]


def test_archive_opens_everywhere_with_record_hashes(tmp_path, small_blocks, monkeypatch):
    monkeypatch.setenv("REZWHEEL_JOBS", "3")
    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    sha = write_wheel(path)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    check_archive(path)


@pytest.mark.parametrize("block", [4096, 1 << 20])
def test_same_bytes_whatever_the_thread_count(tmp_path, monkeypatch, block):
    monkeypatch.setattr(W, "BLOCK", block)
    monkeypatch.setattr(W, "BATCH", 2 * block)
    members = MEMBERS + [("pkg/huge.bin", mixed(3 * block + 100), 0o644, b"")]
    shas = set()
    for jobs in ("1", "2", "5", "1", "5"):
        monkeypatch.setenv("REZWHEEL_JOBS", jobs)
        shas.add(write_wheel(tmp_path / f"j{jobs}.whl", members))
    assert len(shas) == 1
    check_archive(tmp_path / "j5.whl", members)


def test_pieces_are_one_deflate_stream_at_the_ratio_of_one(tmp_path, monkeypatch):
    """Sync-flushed pieces primed with the previous 32 KiB: one raw deflate stream, within a
    hundred bytes per block (a Huffman table and a sync marker) of one compressobj."""
    monkeypatch.setattr(W, "BLOCK", 64 << 10)
    data = text(40 * (64 << 10) + 5)
    path = tmp_path / "t.whl"
    write_wheel(path, [("a.txt", data, 0o644, b"")])
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("a.txt")
        raw = path.read_bytes()
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    # the member's own header: no zip64, no data descriptor
    assert raw[info.header_offset:info.header_offset + 4] == b"PK\x03\x04" and not info.extra
    d = zlib.decompressobj(-15)
    assert d.decompress(raw[start:start + info.compress_size]) == data and d.eof
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    single = len(c.compress(data) + c.flush())
    assert single < info.compress_size <= single + 40 * 100, (single, info.compress_size)


def test_record_is_last_and_empty_members(tmp_path):
    path = tmp_path / "e.whl"
    with W.WheelWriter(str(path)) as w:
        w.add_bytes("x/empty", b"")
        sha = w.finish("x-1.dist-info/RECORD")
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["x/empty", "x-1.dist-info/RECORD"] and z.read("x/empty") == b""
        assert z.testzip() is None
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


def test_zip64_forced_on_small_data(tmp_path, small_blocks, monkeypatch):
    """Every zip64 field, on small data: the thresholds lowered so sizes, offsets, the entry count
    and the central directory all take the zip64 form."""
    monkeypatch.setattr(W, "LIMIT16", 5)
    monkeypatch.setattr(W, "LIMIT32", 2000)
    monkeypatch.setattr(W, "ZIP64_HINT", 1000)
    monkeypatch.setenv("REZWHEEL_JOBS", "2")
    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    write_wheel(path)
    check_archive(path)
    raw = path.read_bytes()
    assert b"PK\x06\x06" in raw[-200:] and b"PK\x06\x07" in raw[-200:]
    eocd = raw.rindex(b"PK\x05\x06")
    assert struct.unpack("<HHII", raw[eocd + 8:eocd + 20]) == (0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    with zipfile.ZipFile(path) as z:
        big = z.getinfo("pkg/big.bin")
        assert big.file_size == 11 * 4096 + 7 and big.header_offset > 2000
        assert struct.unpack("<HH", big.extra[:4]) == (1, 24)  # sizes and offset, in that order
        local = raw[big.header_offset:big.header_offset + 30]
        assert struct.unpack("<II", local[18:26]) == (0xFFFFFFFF, 0xFFFFFFFF)
        assert struct.unpack("<H", local[4:6]) == (45,)


def test_streamed_member_past_its_declared_size_is_refused(tmp_path, small_blocks, monkeypatch):
    monkeypatch.setattr(W, "LIMIT32", 20000)
    path = tmp_path / "x.whl"
    with pytest.raises(ValueError, match="past what its declared size allowed for"):
        with W.WheelWriter(str(path)) as w:
            w.add_stream("a.bin", io.BytesIO(mixed(30000)), size_hint=100)
            w.finish("x-1.dist-info/RECORD")
    assert not path.exists() and not list(tmp_path.iterdir())


def test_abort_leaves_nothing(tmp_path, small_blocks, monkeypatch):
    monkeypatch.setenv("REZWHEEL_JOBS", "2")
    with pytest.raises(RuntimeError):
        with W.WheelWriter(str(tmp_path / "x.whl")) as w:
            w.add_bytes("a.bin", mixed(50000))
            raise RuntimeError("boom")
    assert not list(tmp_path.iterdir())


def test_more_than_65535_entries(tmp_path):
    members = [(f"d/{i:05d}", b"%d" % i, 0o644, b"") for i in range(70000)]
    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    write_wheel(path, members)
    raw = path.read_bytes()
    assert b"PK\x06\x06" in raw[-200:]
    with zipfile.ZipFile(path) as z:
        assert len(z.infolist()) == 70002 and z.read("d/69999") == b"69999"
    if UNZIP:
        r = subprocess.run([UNZIP, "-tq", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_memory_stays_flat(tmp_path, monkeypatch):
    """64 MiB streamed in short reads: at most the window (4 MiB a thread) is held."""
    monkeypatch.setenv("REZWHEEL_JOBS", "2")
    stream = Generated(64 << 20, short=100_000)
    tracemalloc.start()
    try:
        with W.WheelWriter(str(tmp_path / "m.whl")) as w:
            w.add_stream("z.bin", stream, size_hint=64 << 20)
            w.finish("m-1.dist-info/RECORD")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20, peak
    with zipfile.ZipFile(tmp_path / "m.whl") as z:
        info = z.getinfo("z.bin")
    assert (info.CRC, info.file_size) == (Generated(64 << 20).expected_crc_sha()[0], 64 << 20)


@pytest.mark.skipif(not os.environ.get("REZWHEEL_SLOW_TESTS"),
                    reason="4 GiB of deflate (a minute on two cores): set REZWHEEL_SLOW_TESTS=1")
def test_real_zip64_member_past_4_gib(tmp_path):
    size = (4 << 30) + (3 << 20) + 5
    path = tmp_path / "big-1.0-py3-none-any.whl"
    with W.WheelWriter(str(path)) as w:
        w.add_bytes("big/small.txt", b"before\n")
        w.add_stream("big/huge.bin", Generated(size), size_hint=size)
        w.add_bytes("big/tail.txt", b"after\n")
        w.finish("big-1.0.dist-info/RECORD")
    crc, sha = Generated(size).expected_crc_sha()
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("big/huge.bin")
        assert (info.file_size, info.CRC) == (size, crc)
        h = hashlib.sha256()
        with z.open(info) as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
        assert h.hexdigest() == sha and z.read("big/tail.txt") == b"after\n"
    if UNZIP:
        r = subprocess.run([UNZIP, "-tq", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_jobs_from_environment(monkeypatch):
    monkeypatch.setenv("REZWHEEL_JOBS", "3")
    assert W.jobs() == 3
    for bad in ("0", "-2", "many", ""):
        monkeypatch.setenv("REZWHEEL_JOBS", bad)
        assert W.jobs() >= 1


# -- through the CLI: convert, verify, install with rezwheel and pip ------------------------------

def make_package(root: Path) -> Path:
    base = root / "bigtool" / "1.0.0"
    (base / "python" / "bigtool").mkdir(parents=True)
    (base / "bin").mkdir()
    (base / "share" / "many").mkdir(parents=True)
    (base / "package.py").write_text(
        "name = 'bigtool'\nversion = '1.0.0'\n\ndef commands():\n"
        "    env.PYTHONPATH.append('{root}/python')\n    env.PATH.append('{root}/bin')\n")
    (base / "python" / "bigtool" / "__init__.py").write_text("ANSWER = 42\n")
    (base / "python" / "bigtool" / "blob.bin").write_bytes(mixed((5 << 20) + 123))
    tool = base / "bin" / "bigtool"
    tool.write_text("#!/usr/bin/env python\nimport bigtool\nprint(bigtool.ANSWER)\n")
    tool.chmod(0o755)
    (base / "share" / "exact.bin").write_bytes(mixed(2 << 20))
    for i in range(150):
        (base / "share" / "many" / f"f{i:03d}.txt").write_bytes(text(100 + 97 * i))
    return base


def test_convert_is_reproducible_and_installs(tmp_path):
    base = make_package(tmp_path / "repo")
    shas = []
    for n, jobs in enumerate(("1", "2", "4", "4")):
        out = tmp_path / f"out{n}"
        subprocess.run([sys.executable, "-m", "rezwheel", "convert", str(base), "-o", str(out)],
                       check=True, capture_output=True, env=dict(os.environ, REZWHEEL_JOBS=jobs))
        (w,) = out.glob("*.whl")
        shas.append(hashlib.sha256(w.read_bytes()).hexdigest())
    assert len(set(shas)) == 1, shas
    if UNZIP:
        subprocess.run([UNZIP, "-tq", str(w)], check=True, capture_output=True)
    rezwheel("verify", w)
    # rezwheel install (installer, RECORD checked): the variant comes back byte for byte
    repo = tmp_path / "installed"
    rezwheel("install", w, "--into", repo)
    for p in base.rglob("*"):
        if p.is_file() and p.name != "package.py":
            q = repo / "bigtool" / "1.0.0" / p.relative_to(base)
            assert q.read_bytes() == p.read_bytes(), p
            assert os.access(q, os.X_OK) == os.access(p, os.X_OK), p
    # pip into a fresh venv: the module imports, the large member is intact, the script runs
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--no-index", str(w)], check=True)
    r = subprocess.run([str(py), "-c", "import bigtool, hashlib, pathlib; p = pathlib.Path("
                        "bigtool.__file__).with_name('blob.bin'); "
                        "print(hashlib.sha256(p.read_bytes()).hexdigest())"],
                       capture_output=True, text=True, check=True)
    want = hashlib.sha256((base / "python" / "bigtool" / "blob.bin").read_bytes()).hexdigest()
    assert r.stdout.strip() == want
    r = subprocess.run([str(venv / "bin" / "bigtool")], capture_output=True, text=True)
    assert r.stdout.strip() == "42", r.stderr
