"""The index-wide serial (``rezwheel.index.serial``): a local index's root page declares one,
bumped by every publish or sync that writes a page; a warm process over HTTP then costs one
request (the root) while it is unchanged, sees a completed publish at once, and an index
without a serial is revalidated page by page as before. The root page is hostile input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import publish_local, rezwheel
from helpers.servers import LoggedStatic as Static

VERSIONS = 4


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """``serfam`` in VERSIONS versions, each requiring ``serdep`` (one version)."""
    root = tmp_path_factory.mktemp("serial-repo")
    for i in range(VERSIONS):
        d = root / "serfam" / f"1.0.{i}"
        d.mkdir(parents=True)
        (d / "package.py").write_text(f'name = "serfam"\nversion = "1.0.{i}"\n'
                                      'requires = ["serdep"]\n')
    d = root / "serdep" / "2.0"
    d.mkdir(parents=True)
    (d / "package.py").write_text('name = "serdep"\nversion = "2.0"\n')
    out = tmp_path_factory.mktemp("serial-wheels")
    rezwheel("convert", root, "-o", out)
    return out


def _repo(url: str, store: Path):
    from rezwheel.resolve.packages import IndexRepository, Settings

    return IndexRepository(url, Settings(store=str(store)))


def _resolve_all(repo) -> dict:
    """Every version's definition data, as rez reads them (serdep: read ahead, waited for)."""
    got = {(family, v): (d.data["version"] if (d := repo.definition(family, v)) else None)
           for family in ("serfam", "serdep") for v in sorted(repo.versions(family))}
    repo.close()
    return got


def _serial(index: Path) -> str:
    m = re.search(r'<meta name="rezwheel:serial" content="([0-9a-f]+)">',
                  (index / "simple" / "index.html").read_text())
    assert m, "no serial on the root page"
    return m.group(1)


def _split(wheels: Path) -> tuple[list[Path], Path]:
    files = sorted(wheels.glob("*.whl"))
    newest = next(w for w in files if w.name.startswith(f"serfam-1.0.{VERSIONS - 1}-"))
    return [w for w in files if w != newest], newest


def test_publish_bumps_the_serial_only_when_a_page_changes(wheels, tmp_path):
    older, newest = _split(wheels)
    idx = tmp_path / "idx"
    publish_local(older, str(idx))
    first = _serial(idx)
    publish_local(older, str(idx))  # nothing new: no page written, same serial
    assert _serial(idx) == first
    publish_local([newest], str(idx))
    second = _serial(idx)
    assert second != first and int(second) > int(first)
    # the root page is the last thing written: its serial names a state whose pages are there
    root = (idx / "simple" / "index.html").stat().st_mtime
    assert all(p.stat().st_mtime <= root for p in (idx / "simple").glob("*/index.html"))


def test_mirror_sync_bumps_the_serial(wheels, tmp_path):
    older, newest = _split(wheels)
    from rezwheel.mirror import sync

    src, dst = tmp_path / "src", tmp_path / "dst"
    publish_local(older, str(src))
    sync(str(src), str(dst))
    first = _serial(dst)
    sync(str(src), str(dst))
    assert _serial(dst) == first  # nothing copied, nothing bumped
    publish_local([newest], str(src))
    sync(str(src), str(dst))
    assert _serial(dst) != first


def test_warm_process_with_an_unchanged_serial_sends_one_request(wheels, tmp_path):
    older, newest = _split(wheels)
    idx = tmp_path / "idx"
    publish_local(older + [newest], str(idx))
    server = Static(idx)
    try:
        cold = _repo(server.url, tmp_path / "store")
        expected = _resolve_all(cold)
        # pages and bundles from the snapshot, asked beside the root (``test_snapshot``)
        assert cold.counters.by_kind == {"root": 1, "snapshot": 1}, cold.counters
        server.log.clear()
        warm = _repo(server.url, tmp_path / "store")
        assert _resolve_all(warm) == expected
        assert warm.counters.by_kind == {"root": 1}, warm.counters.by_kind
        assert server.log == [("GET", "/simple/")], server.log
    finally:
        server.stop()


def test_warm_process_with_an_unchanged_serial_reads_nothing_ahead_of_rez(wheels, tmp_path):
    """Read-ahead buys round trips; a warm family under an unchanged serial costs none, so
    the families it requires are read when rez asks for them, not before (in threads that
    would only take turns with rez for the interpreter)."""
    older, newest = _split(wheels)
    idx = tmp_path / "idx"
    publish_local(older + [newest], str(idx))
    server = Static(idx)
    try:
        _resolve_all(_repo(server.url, tmp_path / "store"))
        warm = _repo(server.url, tmp_path / "store")
        found = warm.versions("serfam")
        assert sorted(found) == [f"1.0.{i}" for i in range(VERSIONS)]
        assert warm.definition("serfam", f"1.0.{VERSIONS - 1}").data["requires"] == ["serdep"]
        assert "serdep" not in warm._families and not warm._ahead, "read ahead of rez"
        assert warm.counters.by_kind == {"root": 1}, warm.counters.by_kind
        warm.close()
    finally:
        server.stop()


def test_a_publish_is_seen_by_the_next_process(wheels, tmp_path):
    """No waiting for a later second: the serial changes, and the pages a publish rewrote
    carry validators that changed too, whatever the server's granularity."""
    older, newest = _split(wheels)
    idx = tmp_path / "idx"
    publish_local(older, str(idx))
    server = Static(idx)
    try:
        before = _resolve_all(_repo(server.url, tmp_path / "store"))
        assert ("serfam", f"1.0.{VERSIONS - 1}") not in before
        publish_local([newest], str(idx))
        after = _repo(server.url, tmp_path / "store")
        got = _resolve_all(after)
        assert got[("serfam", f"1.0.{VERSIONS - 1}")] == f"1.0.{VERSIONS - 1}"
        # the serial changed: the new snapshot (``test_snapshot``) says what every page is
        assert after.counters.by_kind == {"root": 1, "snapshot": 1}, after.counters.by_kind
        again = _repo(server.url, tmp_path / "store")
        assert _resolve_all(again) == got and again.counters.by_kind == {"root": 1}
    finally:
        server.stop()


def test_an_index_without_serial_is_revalidated_page_by_page(wheels, tmp_path):
    older, newest = _split(wheels)
    idx = tmp_path / "idx"
    publish_local(older + [newest], str(idx))
    root = idx / "simple" / "index.html"
    root.write_text(re.sub(r"\s*<meta name=\"rezwheel:serial\"[^>]*>", "", root.read_text()))
    server = Static(idx)
    try:
        cold = _repo(server.url, tmp_path / "store")
        expected = _resolve_all(cold)
        # a cold host asks for a snapshot beside the root; without a serial it is not used
        assert cold.counters.by_kind == {"root": 1, "snapshot": 1, "page": 2, "bundle": 2}, \
            cold.counters
        for _ in range(2):  # found without a serial: not asked again (for a day)
            warm = _repo(server.url, tmp_path / "store")
            assert _resolve_all(warm) == expected
            assert warm.counters.by_kind == {"page": 2}, warm.counters.by_kind
    finally:
        server.stop()


@pytest.mark.parametrize("declared", [
    "", "x" * 65, "1" * 65, "-1", "0x10", "ABC", "1 2", "1.5", "&#49;", "1;2",
])
def test_a_hostile_serial_is_no_serial(declared):
    from rezwheel.index import serial

    page = f'<html><head><meta name="rezwheel:serial" content="{declared}"></head>'.encode()
    assert serial.parse(page, "text/html") is None


def test_serial_forms():
    from rezwheel.index import serial

    assert serial.parse(b'<head><meta name="rezwheel:serial" content="42"></head>') == "42"
    assert serial.parse(b'<head></head><body><meta name="rezwheel:serial" content="42">') is None
    assert serial.parse(b'{"meta": {"api-version": "1.1", "_rezwheel:serial": "7"}, '
                        b'"projects": []}', "application/vnd.pypi.simple.v1+json") == "7"
    assert serial.parse(b'{"meta": {"_rezwheel:serial": true}}', "application/json") is None
    assert serial.parse(b'{"meta": {"_rezwheel:serial": [1]}}', "application/json") is None
    assert serial.parse(b'{"meta": {', "application/json") is None
    assert int(serial.following("5")) > 5
    assert int(serial.following(str(10 ** 19))) == 10 ** 19 + 1
    assert serial.following("ff").isdigit()  # another kind: the count starts anew
