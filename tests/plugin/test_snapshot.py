"""The index snapshot (``rezwheel.index.snapshot``): a local index keeps every page and bundle in
one file under its serial, so a cold host resolves in two requests (the root and the snapshot)
whatever the number of families; a snapshot of another state is never used, and one that is
unfit in any way is no snapshot: pages are read one by one, as from any index."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from pathlib import Path

import pytest

from helpers import publish_local, rezwheel

SNAPSHOT = "rez-snapshot.zip"
FAMILIES = 6  # chain0 <- chain1 <- ... : each requires the one before, two versions each


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("snap-repo")
    for i in range(FAMILIES):
        for v in ("1.0", "1.1"):
            d = root / f"chain{i}" / v
            d.mkdir(parents=True)
            req = f'requires = ["chain{i - 1}-1+"]\n' if i else ""
            (d / "package.py").write_text(f'name = "chain{i}"\nversion = "{v}"\n{req}')
    out = tmp_path_factory.mktemp("snap-wheels")
    rezwheel("convert", root, "-o", out)
    return out


@pytest.fixture()
def index(wheels, tmp_path) -> Path:
    idx = tmp_path / "index"
    publish_local(sorted(wheels.glob("*.whl")), str(idx))
    return idx


def _repo(location: str, store: Path):
    from rezwheel.resolve.packages import IndexRepository, Settings

    return IndexRepository(location, Settings(store=str(store)))


def _resolve_all(repo, families: int = FAMILIES) -> dict:
    """Every version's definition data, as rez reads them, deepest family first."""
    got = {(f"chain{i}", v): (d.data if (d := repo.definition(f"chain{i}", v)) else None)
           for i in reversed(range(families)) for v in sorted(repo.versions(f"chain{i}"))}
    repo.close()
    return got


@pytest.fixture()
def reference(index, tmp_path) -> dict:
    """What the local index gives read as a directory (no HTTP, no snapshot)."""
    got = _resolve_all(_repo(str(index), tmp_path / "ref-store"))
    assert len(got) == 2 * FAMILIES and None not in got.values()
    return got


def _serial(index: Path) -> str:
    m = re.search(r'<meta name="rezwheel:serial" content="([0-9a-f]+)">',
                  (index / "simple" / "index.html").read_text())
    assert m
    return m.group(1)


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rewrite(index: Path, members: dict[str, bytes]) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    (index / "simple" / SNAPSHOT).write_bytes(out.getvalue())


# -- what publish writes ------------------------------------------------------------------------

def test_publish_writes_every_page_and_bundle_under_the_root_serial(index, wheels, tmp_path):
    simple = index / "simple"
    members = _members(simple / SNAPSHOT)
    assert members.pop("serial").decode() == _serial(index)
    on_disk = {str(p.relative_to(simple)): p.read_bytes() for p in simple.glob("*/*")}
    assert members == on_disk and len(on_disk) == 2 * FAMILIES  # a page and a bundle each
    # the same wheels give the same file, but for the serial
    again = tmp_path / "again"
    publish_local(sorted(wheels.glob("*.whl")), str(again))
    other = _members(again / "simple" / SNAPSHOT)
    other.pop("serial")
    assert other == members


def test_a_missing_snapshot_is_written_again_without_a_new_serial(index, wheels):
    """An index an older rezwheel wrote has none: the next publish, even of nothing new,
    writes one for the serial the root already declares (readers then use it at once)."""
    first = _serial(index)
    (index / "simple" / SNAPSHOT).unlink()
    publish_local(sorted(wheels.glob("*.whl"))[:1], str(index))  # already there: no page
    assert _serial(index) == first
    assert _members(index / "simple" / SNAPSHOT)["serial"].decode() == first


def test_mirror_sync_writes_a_snapshot(index, tmp_path):
    from rezwheel.mirror import sync

    sync(str(index), str(tmp_path / "mirror"))
    got = _members(tmp_path / "mirror" / "simple" / SNAPSHOT)
    assert got.pop("serial").decode() == _serial(tmp_path / "mirror")
    want = _members(index / "simple" / SNAPSHOT)
    want.pop("serial")
    assert got == want


# -- what a reader makes of it ------------------------------------------------------------------

def test_cold_host_resolves_in_two_requests_whatever_the_families(static, index, reference,
                                                                  tmp_path):
    repo = _repo(static.url, tmp_path / "store")
    assert _resolve_all(repo) == reference
    assert repo.counters.by_kind == {"root": 1, "snapshot": 1}, repo.counters.by_kind
    assert sorted(static.log) == [("GET", "/simple/"), ("GET", f"/simple/{SNAPSHOT}")]
    static.log.clear()  # a warm process, same serial: the root alone
    warm = _repo(static.url, tmp_path / "store")
    assert _resolve_all(warm) == reference and static.log == [("GET", "/simple/")]


def test_a_family_first_asked_by_a_later_process_costs_no_request(static, index, reference,
                                                                 tmp_path):
    """The snapshot is kept with the pages: a warm host under the same serial reads a family it
    never read before from it, not from the server."""
    first = _repo(static.url, tmp_path / "store")
    assert first.definition("chain0", "1.0") is not None
    first.close()
    static.log.clear()
    later = _repo(static.url, tmp_path / "store")
    assert _resolve_all(later) == reference
    assert static.log == [("GET", "/simple/")], static.log


def test_with_the_index_down_a_family_never_asked_comes_from_the_kept_snapshot(
        static, index, reference, tmp_path, caplog):
    """A warm node whose index is unreachable resolves from what it keeps: the pages it read,
    and, for a family it never asked for, the snapshot it read them with (that family's page
    was 'never read' before)."""
    first = _repo(static.url, tmp_path / "store")
    assert first.definition("chain0", "1.0") is not None
    first.close()
    static.stop()
    caplog.set_level(logging.WARNING)
    later = _repo(static.url, tmp_path / "store")
    assert _resolve_all(later) == reference
    assert caplog.text.count("unreachable: resolving from cached pages") == 1, caplog.text


def test_a_snapshot_of_another_state_is_never_used(static, index, reference, tmp_path):
    """A root page that declares another serial than the snapshot (an older rezwheel bumped it
    without writing a snapshot, or a publish is between the two): pages are read one by one,
    and a snapshot that lies about a page is not believed."""
    members = _members(index / "simple" / SNAPSHOT)
    members["chain5/index.html"] = b"<html><body></body></html>"  # says chain5 holds nothing
    members["serial"] = b"1"
    _rewrite(index, members)
    repo = _repo(static.url, tmp_path / "store")
    assert _resolve_all(repo) == reference
    assert repo.counters.by_kind["page"] == FAMILIES, repo.counters.by_kind
    # asked again in case a publish came between it and the root, but only if it changed:
    # a snapshot behind its root is not sent twice to every cold host
    snapshots = [s for m, p, s in static.answers if m == "GET" and p.endswith(SNAPSHOT)]
    assert snapshots == ["200", "304"], static.answers


def test_the_snapshot_is_the_state_it_names(static, index, tmp_path):
    """Under the serial the root declares, the snapshot is the index: a project it does not
    hold is not on the index (no page asked for it). This is what it promises, and what a
    hostile index could say on its pages as well."""
    members = _members(index / "simple" / SNAPSHOT)
    del members["chain5/index.html"], members["chain5/rez-definitions.json.gz"]
    _rewrite(index, members)
    repo = _repo(static.url, tmp_path / "store")
    assert repo.versions("chain5") == {}
    assert repo.counters.by_kind == {"root": 1, "snapshot": 1}, repo.counters.by_kind


def _zip_bomb_member() -> bytes:
    return b"<html>" + b" " * (4 << 20) + b"</html>"


HOSTILE = {
    "not a zip": lambda m: b"PK\x03\x04 garbage" * 100,
    "no serial": lambda m: {k: v for k, v in m.items() if k != "serial"},
    "serial not hex": lambda m: dict(m, serial=b"../../etc"),
    "page inflates past the cap": lambda m: dict(m, **{"chain5/index.html": _zip_bomb_member()}),
    "page with hostile links": lambda m: dict(m, **{"chain5/index.html": (
        b'<a href="../../files/../../../etc/passwd#sha256=' + b"0" * 64 + b'">x.whl</a>')}),
    "bundle not gzip": lambda m: dict(m, **{"chain5/rez-definitions.json.gz": b"\x1f\x8bjunk"}),
    "every bundle not gzip": lambda m: {k: b"\x1f\x8bjunk" if k.endswith(".json.gz") else v
                                        for k, v in m.items()},
    "traversal member": lambda m: dict(m, **{"../../../tmp/evil/index.html": b"x"}),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_an_unfit_snapshot_is_no_snapshot(kind, static, index, reference, tmp_path, monkeypatch,
                                         caplog):
    monkeypatch.setenv("REZWHEEL_MAX_PAGE_BYTES", str(1 << 20))
    members = _members(index / "simple" / SNAPSHOT)
    made = HOSTILE[kind](members)
    if isinstance(made, bytes):
        (index / "simple" / SNAPSHOT).write_bytes(made)
    else:
        _rewrite(index, made)
    caplog.set_level(logging.WARNING)
    repo = _repo(static.url, tmp_path / "store")
    got = _resolve_all(repo)
    assert not (tmp_path / "tmp" / "evil").exists() and not Path("/tmp/evil").exists()
    if kind == "page with hostile links":  # a page like any other: its bad link is skipped
        assert not repo.versions("chain5") and got.keys() <= reference.keys()
        assert "chain5" in caplog.text
        return
    assert got == reference
    if kind in ("bundle not gzip", "page inflates past the cap"):  # that member, read apart
        assert "snapshot" in caplog.text or "bundle" in caplog.text
    elif kind == "every bundle not gzip":  # said once for the snapshot, not once per family
        assert caplog.text.count("unfit bundles inside") == 1, caplog.text
        assert caplog.text.count("rezwheel:") == 1, caplog.text
    elif kind != "traversal member":  # the whole snapshot refused: pages one by one
        assert repo.counters.by_kind["page"] == FAMILIES, repo.counters.by_kind
        assert "not a usable index snapshot" in caplog.text
    assert caplog.text.count("not a usable index snapshot") <= 1
    assert "Traceback" not in caplog.text


def test_a_snapshot_past_its_cap_is_not_read(static, index, reference, tmp_path, monkeypatch,
                                            caplog):
    monkeypatch.setenv("REZWHEEL_MAX_SNAPSHOT_BYTES", "100")
    caplog.set_level(logging.WARNING)
    repo = _repo(static.url, tmp_path / "store")
    assert _resolve_all(repo) == reference
    assert repo.counters.by_kind["page"] == FAMILIES
    assert "REZWHEEL_MAX_SNAPSHOT_BYTES" in caplog.text
    said = [r.getMessage() for r in caplog.records if "snapshot" in r.getMessage()]
    assert len(said) == 1 and said[0].count(SNAPSHOT) == 1, said  # the URL named once


def test_a_publish_never_writes_a_snapshot_readers_would_refuse(wheels, tmp_path, monkeypatch):
    monkeypatch.setenv("REZWHEEL_MAX_SNAPSHOT_BYTES", "100")
    idx = tmp_path / "idx"
    publish_local(sorted(wheels.glob("*.whl")), str(idx))
    assert not (idx / "simple" / SNAPSHOT).exists()
    assert (idx / "simple" / "chain0" / "index.html").exists()


# -- Artifactory: the snapshot as a hint ----------------------------------------------------------

def _publish_to(artifactory, files) -> None:
    from helpers import ARTIFACTORY_TOKENS, env

    rezwheel("publish", *files, "--to", artifactory.url,
             env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))


def _art_repo(artifactory, store: Path, monkeypatch):
    from helpers import ARTIFACTORY_TOKENS

    monkeypatch.setenv("REZWHEEL_TOKEN", ARTIFACTORY_TOKENS[0])
    return _repo(f"{artifactory.url}/simple/", store)


def test_artifactory_publish_deploys_and_merges_the_snapshot(artifactory, wheels):
    """Beside the bundles, publish keeps the repository's snapshot: every project's files and
    bundle, merged across publishes (a racing publisher may drop some: it is a hint there)."""
    files = sorted(wheels.glob("*.whl"))
    _publish_to(artifactory, [w for w in files if not w.name.startswith("chain5-")])
    _publish_to(artifactory, [w for w in files if w.name.startswith("chain5-")])
    snap = zipfile.ZipFile(io.BytesIO(artifactory.deployed[SNAPSHOT].data))
    projects = {n.split("/")[0] for n in snap.namelist() if "/" in n}
    assert projects == {f"chain{i}" for i in range(FAMILIES)}
    page = snap.read("chain5/index.html").decode()
    assert sorted(re.findall(r">([^<]+\.whl)<", page)) == sorted(
        w.name for w in files if w.name.startswith("chain5-"))
    assert snap.read("chain5/rez-definitions.json.gz") == \
        artifactory.deployed["chain5/rez-definitions.json.gz"].data


def test_artifactory_cold_resolve_reads_the_whole_graph_side_by_side(artifactory, wheels,
                                                                    reference, tmp_path,
                                                                    monkeypatch):
    """With the hints, a cold family's whole dependency chain is asked for at once: its pages
    are in flight together (not one level per round trip), and no bundle is asked apart."""
    _publish_to(artifactory, sorted(wheels.glob("*.whl")))
    artifactory.log.clear()
    _resolve_far(artifactory, reference, tmp_path / "store", monkeypatch)
    gets = [p for m, p in artifactory.log if m == "GET"]
    assert sorted(gets) == sorted([f"/artifactory/rez/{SNAPSHOT}"] + [
        f"/artifactory/api/pypi/rez/simple/chain{i}/" for i in range(FAMILIES)]), gets
    assert artifactory.most_in_flight >= FAMILIES - 1, artifactory.most_in_flight
    # without the hints: one level of the chain at a time
    del artifactory.deployed[SNAPSHOT]
    artifactory.most_in_flight = 0
    _resolve_far(artifactory, reference, tmp_path / "store-nohints", monkeypatch)
    assert artifactory.most_in_flight <= 2, artifactory.most_in_flight  # a page and its bundle


def _resolve_far(artifactory, reference: dict, store: Path, monkeypatch) -> None:
    """Resolve every family cold with 0.2 s added to each request: requests sent side by side
    are then in flight together."""
    artifactory.latency = 0.2
    try:
        assert _resolve_all(_art_repo(artifactory, store, monkeypatch)) == reference
    finally:
        artifactory.latency = 0


@pytest.mark.parametrize("kind", ["garbage", "lying"])
def test_artifactory_hints_never_change_what_the_index_holds(kind, artifactory, wheels,
                                                             reference, tmp_path, monkeypatch):
    """Hints choose what is read ahead; the pages say which files exist. A snapshot that is
    not one, or whose pages lie (a family listing files it does not hold) or whose bundle is
    unfit, resolves exactly as the index says."""
    _publish_to(artifactory, sorted(wheels.glob("*.whl")))
    if kind == "garbage":
        artifactory.deployed[SNAPSHOT].data = b"PK\x05\x06" + b"\0" * 18
    else:
        members = _members_of(artifactory.deployed[SNAPSHOT].data)
        members["chain5/index.html"] = (b'<a href="../../chain5/9.0/chain5-9.0-py3-none-any.whl'
                                        b'#sha256=' + b"a" * 64 + b'">chain5-9.0-py3-none-any.whl'
                                        b'</a>')
        members["chain4/rez-definitions.json.gz"] = b"\x1f\x8b" + b"x" * 50
        artifactory.deployed[SNAPSHOT].data = _zip_of(members)
    repo = _art_repo(artifactory, tmp_path / "store", monkeypatch)
    assert _resolve_all(repo) == reference


def _members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


# -- attacks (a stranger's review) ----------------------------------------------------------------

def _handler_for(index: Path, snapshot_answer):
    """A static server over ``index`` whose snapshot URL answers as ``snapshot_answer(handler)``
    says (it returns True when it answered)."""
    from helpers.servers import QuietHandler

    class Handler(QuietHandler):
        def do_GET(self):
            if self.path.endswith("/" + SNAPSHOT) and snapshot_answer(self):
                return
            super().do_GET()

    return Handler


def _bump(index: Path) -> None:
    """A publish: every page written again under a new serial (so is the snapshot)."""
    from rezwheel.index.local import LocalIndex

    before = _serial(index)
    idx = LocalIndex(str(index))
    with idx.lock():
        idx.write_pages()
    assert _serial(index) != before


def _redirect_away(handler) -> bool:
    port = handler.server.server_address[1]
    handler.send_response(302)
    handler.send_header("Location", f"http://localhost:{port}{handler.path}")  # another origin
    handler.send_header("Content-Length", "0")
    handler.end_headers()
    return True


def _too_slow(handler) -> bool:
    import time

    time.sleep(3)
    return False


@pytest.mark.parametrize("answer", [_redirect_away, _too_slow], ids=["redirect", "slow"])
def test_a_snapshot_unreadable_after_a_publish_is_no_snapshot(answer, index, wheels, reference,
                                                              tmp_path, monkeypatch, caplog):
    """A host that kept a snapshot, after a publish (a new serial: its snapshot is read again,
    not beside the root): a snapshot the server redirects to another origin, or does not send
    in time, is no snapshot (pages one by one), never a failed resolve."""
    from helpers.servers import PythonStatic

    on = []
    server = PythonStatic(index, _handler_for(index, lambda h: bool(on) and answer(h)))
    url = server.url + "simple/"
    try:
        assert _resolve_all(_repo(url, tmp_path / "store")) == reference  # keeps the snapshot
        _bump(index)
        on.append(True)
        monkeypatch.setenv("REZWHEEL_HTTP_DEADLINE", "1")
        caplog.set_level(logging.WARNING)
        repo = _repo(url, tmp_path / "store")
        assert _resolve_all(repo) == reference
        assert "Traceback" not in caplog.text
    finally:
        server.stop()


def test_a_snapshot_sent_to_another_origin_is_none_there(index, reference, tmp_path, caplog):
    """pypiserver, as shipped, redirects every name it does not know to pypi.org, the snapshot's
    too: that is no snapshot there, said nowhere (it was a warning on every cold resolve)."""
    from helpers.servers import PythonStatic

    server = PythonStatic(index, _handler_for(index, _redirect_away))
    try:
        caplog.set_level(logging.DEBUG)
        assert _resolve_all(_repo(server.url + "simple/", tmp_path / "store")) == reference
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warned == [], warned
    finally:
        server.stop()


def _gz_bundle(project: str, definitions: dict[str, str]) -> bytes:
    import gzip
    import json

    return gzip.compress(json.dumps({"format": 1, "project": project,
                                     "definitions": definitions}).encode())


def _ghost(name: str, requires: list[str]) -> tuple[bytes, bytes]:
    """A hint page and bundle for a family the index does not hold, requiring ``requires``."""
    import hashlib

    sha = hashlib.sha256(name.encode()).hexdigest()
    whl = f"{name}-1.0-py3-none-any.whl"
    page = f'<a href="../../{name}/1.0/{whl}#sha256={sha}">{whl}</a>'.encode()
    text = f"name = '{name}'\n\nversion = '1.0'\n\nrequires = {requires!r}\n"
    return page, _gz_bundle(name, {sha: text})


def _settle(log: list, quiet: float = 1.0) -> None:
    """Wait until the server has been asked nothing for ``quiet`` seconds (reads ahead end)."""
    import time

    n = -1
    while n != len(log):
        n = len(log)
        time.sleep(quiet)


def test_artifactory_hints_read_ahead_a_bounded_number_of_families(artifactory, wheels, tmp_path,
                                                                   monkeypatch):
    """A hint snapshot whose graph goes on and on (families the index does not hold, each
    requiring the next): a cold resolve reads at most ``max-prefetch`` families ahead of rez,
    not the whole graph the hints make up."""
    _publish_to(artifactory, sorted(wheels.glob("*.whl")))
    members = _members_of(artifactory.deployed[SNAPSHOT].data)
    ghosts = 300
    for i in range(ghosts):
        page, body = _ghost(f"ghost{i}", [f"ghost{i + 1}", f"ghost{i + 1000}"])
        members[f"ghost{i}/index.html"] = page
        members[f"ghost{i}/rez-definitions.json.gz"] = body
    chain0 = members["chain0/index.html"].decode()
    sha = re.findall(r"chain0-1\.1-py3-none-any\.whl#sha256=([0-9a-f]{64})", chain0)[0]
    members["chain0/rez-definitions.json.gz"] = _gz_bundle("chain0", {
        sha: "name = 'chain0'\n\nversion = '1.1'\n\nrequires = ['ghost0']\n"})
    artifactory.deployed[SNAPSHOT].data = _zip_of(members)
    monkeypatch.setenv("REZWHEEL_MAX_PREFETCH", "16")
    artifactory.log.clear()
    repo = _art_repo(artifactory, tmp_path / "store", monkeypatch)
    assert sorted(repo.versions("chain0")) == ["1.0", "1.1"]
    repo.close()
    _settle(artifactory.log)
    asked = {p for m, p in artifactory.log if m == "GET" and "/simple/ghost" in p}
    assert len(asked) <= 16, len(asked)


def test_artifactory_a_long_lived_process_keeps_reading_ahead(artifactory, wheels, tmp_path,
                                                               monkeypatch):
    """The bound is per family rez asks for, not per process: a long-lived process (a farm
    daemon resolving all day) asking for more families than ``max-prefetch`` still reads
    ahead for the last one as it did for the first."""
    _publish_to(artifactory, sorted(wheels.glob("*.whl")))
    members = _members_of(artifactory.deployed[SNAPSHOT].data)
    for i in range(FAMILIES):
        page, body = _ghost(f"ghost{i}", [])
        members[f"ghost{i}/index.html"] = page
        members[f"ghost{i}/rez-definitions.json.gz"] = body
        shas = re.findall(rf"chain{i}-1\.1-py3-none-any\.whl#sha256=([0-9a-f]{{64}})",
                          members[f"chain{i}/index.html"].decode())
        members[f"chain{i}/rez-definitions.json.gz"] = _gz_bundle(f"chain{i}", {
            shas[0]: f"name = 'chain{i}'\n\nversion = '1.1'\n\nrequires = ['ghost{i}']\n"})
    artifactory.deployed[SNAPSHOT].data = _zip_of(members)
    monkeypatch.setenv("REZWHEEL_MAX_PREFETCH", "2")
    repo = _art_repo(artifactory, tmp_path / "store", monkeypatch)
    try:
        for i in range(FAMILIES):  # three times the bound, one family at a time
            artifactory.log.clear()
            assert sorted(repo.versions(f"chain{i}")) == ["1.0", "1.1"]
            _settle(artifactory.log, 0.3)
            asked = {p for m, p in artifactory.log if m == "GET" and "/simple/ghost" in p}
            assert asked == {f"/artifactory/api/pypi/rez/simple/ghost{i}/"}, (i, asked)
    finally:
        repo.close()


def test_a_snapshot_of_too_many_members_is_not_parsed(static, index, reference, tmp_path,
                                                      caplog):
    """A snapshot within its byte cap made mostly of empty members (zipfile builds an object per
    entry before anything is checked: a gigabyte for a 128 MiB file) is refused before it is
    parsed: pages are read one by one."""
    from rezwheel.index import snapshot

    members = _members(index / "simple" / SNAPSHOT)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for i in range(snapshot.MAX_MEMBERS):
            zf.writestr(zipfile.ZipInfo(f"{i:x}"), b"")
    (index / "simple" / SNAPSHOT).write_bytes(out.getvalue())
    caplog.set_level(logging.WARNING)
    repo = _repo(static.url, tmp_path / "store")
    assert _resolve_all(repo) == reference
    assert repo.counters.by_kind["page"] == FAMILIES, repo.counters.by_kind
    assert f"more than {snapshot.MAX_MEMBERS} members" in caplog.text


def test_artifactory_publish_does_not_inflate_a_hostile_snapshot_whole(artifactory, wheels):
    """The snapshot publish reads back and merges may be made of members that each inflate to
    just under the page cap: publish carries the old projects only as far as the snapshot's own
    cap (the rest are dropped from the hint, as a racing publisher would), never holding them
    all, and never deploys a snapshot readers would refuse."""
    from helpers import ARTIFACTORY_TOKENS, env

    bomb = b"<html>" + b" " * (2 << 20) + b"</html>"  # 2 MiB, a few KiB deflated
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("serial", b"7")
        for i in range(40):
            zf.writestr(f"bomb{i:02d}/index.html", bomb)
    artifactory.deployed[SNAPSHOT] = _stored(out.getvalue())
    cap = 5 << 20
    rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", artifactory.url,
             env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0], REZWHEEL_MAX_SNAPSHOT_BYTES=str(cap)))
    got = _members_of(artifactory.deployed[SNAPSHOT].data)
    assert {f"chain{i}/index.html" for i in range(FAMILIES)} <= set(got)
    assert sum(len(v) for v in got.values()) <= cap


def _stored(data: bytes):
    import hashlib
    import time

    from helpers.artifactory import Stored

    return Stored(data, hashlib.sha256(data).hexdigest(), time.time())



def test_artifactory_a_cold_family_does_not_wait_for_the_hints(artifactory, wheels, tmp_path,
                                                               monkeypatch):
    """The hint snapshot is a whole repository's: a large one takes long to arrive. A cold
    family's own page is asked while it is on its way, not after it (the hints only add reads
    ahead, they never hold back the read rez waits for)."""
    import threading

    _publish_to(artifactory, sorted(wheels.glob("*.whl")))
    asked, release = threading.Event(), threading.Event()
    route = artifactory.route

    def slow_snapshot(environ):
        path = environ.get("PATH_INFO", "")
        if path.endswith("/simple/chain0/"):
            asked.set()
        if path.endswith(SNAPSHOT):
            release.wait(10)
        return route(environ)

    artifactory.route = slow_snapshot
    try:
        repo = _art_repo(artifactory, tmp_path / "store", monkeypatch)
        reading = threading.Thread(target=repo.versions, args=("chain0",), daemon=True)
        reading.start()
        page_first = asked.wait(5)
        release.set()
        reading.join(20)
        repo.close()
    finally:
        release.set()
        artifactory.route = route
    assert page_first, "the family's page was asked only once the whole hint snapshot came"


@pytest.mark.parametrize("kind", ["none", "garbage"])
def test_artifactory_a_repository_without_hints_is_not_asked_by_every_process(
        kind, artifactory, wheels, reference, tmp_path, monkeypatch):
    """A repository publish never deployed a snapshot to (an older rezwheel, twine), or one
    that is no snapshot: the host says so in its store and does not send for it again in
    every process (a garbage one would be downloaded whole each time)."""
    _publish_to(artifactory, sorted(wheels.glob("*.whl")))
    if kind == "none":
        del artifactory.deployed[SNAPSHOT]
    else:
        artifactory.deployed[SNAPSHOT].data = b"PK\x05\x06" + b"\0" * 18
    artifactory.log.clear()
    for family in ("chain0", "chain3", "chain5"):  # each process meets a cold family
        repo = _art_repo(artifactory, tmp_path / "store", monkeypatch)
        assert sorted(repo.versions(family)) == ["1.0", "1.1"]
        repo.close()
    assert _resolve_all(_art_repo(artifactory, tmp_path / "store", monkeypatch)) == reference
    asked = [p for m, p in artifactory.log if p.endswith(SNAPSHOT) and m == "GET"]
    assert len(asked) == 1, asked


def test_artifactory_a_hint_definition_is_tied_to_its_wheel(artifactory, wheels, tmp_path):
    """A hint's definition for a file the page lists is used as a bundle's is (whoever deploys
    the snapshot can deploy the bundle too): a hint, tied to the wheel's own rez-package.py
    when the payload is localized. One that differs is refused there, on one line."""
    import gzip
    import json
    import subprocess

    from helpers import ARTIFACTORY_TOKENS, BIN, env

    _publish_to(artifactory, sorted(wheels.glob("*.whl")))
    members = _members_of(artifactory.deployed[SNAPSHOT].data)
    doc = json.loads(gzip.decompress(members["chain0/rez-definitions.json.gz"]))
    doc["definitions"] = {sha: text + "\ndescription = 'forged'\n"
                          for sha, text in doc["definitions"].items()}
    assert all("forged" in t for t in doc["definitions"].values())
    members["chain0/rez-definitions.json.gz"] = gzip.compress(json.dumps(doc).encode())
    artifactory.deployed[SNAPSHOT].data = _zip_of(members)
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = ['artifactory@{artifactory.url}/simple/']\n")
    r = subprocess.run([str(BIN / "rez"), "env", "chain0-1.1", "--", "true"],
                       capture_output=True, text=True,
                       env=env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1",
                               REZWHEEL_STORE=str(tmp_path / "store"),
                               REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "differs from the wheel's own rez-package.py; refused" in r.stderr, r.stderr


def test_artifactory_a_definition_parsed_while_waiting_is_used_only_for_its_text(
        artifactory, wheels, reference, tmp_path, monkeypatch):
    """While a family's page is on its way, the definitions its hints give are parsed (time
    the process would spend idle). The hint for chain0-1.1 is forged and the one for 1.0
    dropped, so the hints no longer stand for a bundle and each wheel's own definition is
    read: what was parsed from the forged hint is never what rez gets."""
    import gzip
    import json
    import time

    _publish_to(artifactory, sorted(wheels.glob("*.whl")))
    members = _members_of(artifactory.deployed[SNAPSHOT].data)
    doc = json.loads(gzip.decompress(members["chain0/rez-definitions.json.gz"]))
    texts = doc["definitions"]
    newer = next(sha for sha, t in texts.items() if "'1.1'" in t or '"1.1"' in t)
    doc["definitions"] = {newer: texts[newer] + "\ndescription = 'forged'\n"}
    members["chain0/rez-definitions.json.gz"] = gzip.compress(json.dumps(doc).encode())
    artifactory.deployed[SNAPSHOT].data = _zip_of(members)
    route = artifactory.route

    def slow_page(environ):  # the page comes well after the hints: time to parse them
        if environ.get("PATH_INFO", "").endswith("/simple/chain0/"):
            time.sleep(0.5)
        return route(environ)

    monkeypatch.setattr(artifactory, "route", slow_page)
    repo = _art_repo(artifactory, tmp_path / "store", monkeypatch)
    parsed = []
    ahead = repo.source.parse_ahead
    monkeypatch.setattr(repo.source, "parse_ahead",
                        lambda files, entries, enough: parsed.extend(entries.values()) or
                        ahead(files, entries, enough))
    got = {v: repo.definition("chain0", v).data for v in sorted(repo.versions("chain0"))}
    repo.close()
    assert any("forged" in t for t in parsed), parsed  # it was parsed while waiting...
    assert got == {v: d for (f, v), d in reference.items() if f == "chain0"}  # ...and unused


def test_a_snapshot_that_failed_to_come_is_asked_again_by_the_next_process(
        artifactory, wheels, tmp_path, monkeypatch):
    """Only an index that answered "none" is noted as having none: a read that failed (a reset,
    a timeout) leaves nothing behind, so the next process asks again and gets the hints."""
    import requests

    from rezwheel.index import snapshot

    _publish_to(artifactory, sorted(wheels.glob("*.whl")))
    real = snapshot.download

    def broken(session, url):
        raise requests.ConnectionError("reset")

    monkeypatch.setattr(snapshot, "download", broken)
    first = _art_repo(artifactory, tmp_path / "store", monkeypatch)
    assert first.definition("chain0", "1.1") is not None  # chain0 only: chain5 stays cold
    first.close()
    monkeypatch.setattr(snapshot, "download", real)
    artifactory.log.clear()
    second = _art_repo(artifactory, tmp_path / "store", monkeypatch)
    second.versions("chain5")
    second.close()
    assert ("GET", f"/artifactory/rez/{SNAPSHOT}") in artifactory.log, artifactory.log


@pytest.mark.parametrize("status", [500, 503])
def test_a_snapshot_the_server_failed_to_send_is_asked_again_by_the_next_process(
        status, index, reference, tmp_path):
    """A farm's cold start can meet a server failing for a moment (500, 503 after the retries):
    that is no answer, not "this index has no snapshot". The host reads pages one by one, and
    the next process asks for the snapshot again (and gets it) rather than taking the failure
    as the index's word until the next publish."""
    from helpers.servers import PythonStatic

    failing, log = [True], []

    def fail_once(h) -> bool:
        log.append(h.path)
        if not failing:
            return False
        h.send_response(status)
        h.send_header("Retry-After", "0")
        h.send_header("Content-Length", "0")
        h.end_headers()
        return True

    server = PythonStatic(index, _handler_for(index, fail_once))
    url = server.url + "simple/"
    try:
        first = _resolve_all(_repo(url, tmp_path / "store"), families=1)  # chain0 only
        assert first == {k: v for k, v in reference.items() if k[0] == "chain0"}
        assert set(log) == {f"/simple/{SNAPSHOT}"}, log  # asked, and failed (retried)
        failing.clear()
        log.clear()
        repo = _repo(url, tmp_path / "store")
        assert _resolve_all(repo) == reference  # chain1-5 first asked now
        assert log == [f"/simple/{SNAPSHOT}"], log
        assert repo.counters.by_kind == {"root": 1, "snapshot": 1}, repo.counters.by_kind
    finally:
        server.stop()


def test_an_index_that_gave_no_bundle_is_not_asked_for_more(index, reference, tmp_path):
    """pypiserver, devpi, an index twine fills: after a few families answered without a
    bundle, the others' are not asked for (their definitions are read file by file at once);
    an index that gives bundles is asked for every family."""
    from helpers.servers import LoggedStatic
    from rezwheel.index.httpreader import NO_BUNDLES

    (index / "simple" / SNAPSHOT).unlink()  # pages and bundles one by one
    saved = {p: p.read_bytes() for p in (index / "simple").glob("*/rez-definitions.json.gz")}
    for p in saved:
        p.unlink()
    server = LoggedStatic(index)
    try:
        assert _resolve_all(_repo(server.url, tmp_path / "store")) == reference
        asked = {p for m, p in server.log if p.endswith("/rez-definitions.json.gz")}
        assert NO_BUNDLES <= len(asked) < FAMILIES, asked  # (a 404 is logged twice: a set)
        for p, data in saved.items():
            p.write_bytes(data)
        server.log.clear()
        assert _resolve_all(_repo(server.url, tmp_path / "store-bundles")) == reference
        asked = {p for m, p in server.log if p.endswith("/rez-definitions.json.gz")}
        assert len(asked) == FAMILIES, asked
    finally:
        server.stop()
