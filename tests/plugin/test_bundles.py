"""Definitions in bulk: publish keeps one bundle per project, a cold resolve reads a family in
two requests (its page, its bundle) whatever its versions, and the page stays the truth: a
stale, missing, garbage, oversized or hostile bundle falls back to the per-file reads."""

import gzip
import json
import logging
import subprocess
from pathlib import Path

import pytest

from helpers import ARTIFACTORY_TOKENS, BIN, env, publish_local, rebuild, rezwheel
from helpers.servers import LoggedStatic as Static

VERSIONS = 30
BUNDLE = "rez-definitions.json.gz"


def _family_repo(root: Path, n: int = VERSIONS) -> Path:
    """``manyver`` in ``n`` versions, each requiring ``depfam`` (one version)."""
    for i in range(n):
        d = root / "manyver" / f"1.0.{i}"
        d.mkdir(parents=True)
        (d / "package.py").write_text(f'name = "manyver"\nversion = "1.0.{i}"\n'
                                      f'requires = ["depfam"]\n')
    d = root / "depfam" / "2.0"
    d.mkdir(parents=True)
    (d / "package.py").write_text('name = "depfam"\nversion = "2.0"\n')
    return root


@pytest.fixture(scope="module")
def family_wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("family-wheels")
    rezwheel("convert", _family_repo(tmp_path_factory.mktemp("family-repo")), "-o", out)
    return out


@pytest.fixture()
def index(family_wheels, tmp_path) -> Path:
    idx = tmp_path / "index"
    publish_local(sorted(family_wheels.glob("*.whl")), str(idx))
    (idx / "simple" / "rez-snapshot.zip").unlink()  # the bundles on their own (test_snapshot)
    return idx


def _repo(location: str, tmp_path: Path, store: str = "store"):
    from rezwheel.resolve.packages import IndexRepository, Settings

    return IndexRepository(location, Settings(store=str(tmp_path / store)))


def _definitions(repo) -> dict:
    """Every version's definition data (None: left out), as rez would read them all: manyver's,
    then depfam's (which they require: read ahead, and waited for here)."""
    return {(family, v): (d.data if (d := repo.definition(family, v)) else None)
            for family in ("manyver", "depfam") for v in sorted(repo.versions(family))}


def _bundle_path(index: Path, project: str = "manyver") -> Path:
    return index / "simple" / project / BUNDLE


def _read_bundle(index: Path) -> dict:
    return json.loads(gzip.decompress(_bundle_path(index).read_bytes()))


def _write_bundle(index: Path, doc) -> None:
    _bundle_path(index).write_bytes(gzip.compress(json.dumps(doc).encode()))


@pytest.fixture()
def reference(index, tmp_path) -> dict:
    """The definitions as the per-file reads give them (no bundle), from the local index."""
    saved = _bundle_path(index).read_bytes()
    _bundle_path(index).unlink()
    try:
        return _definitions(_repo(str(index), tmp_path, "ref-store"))
    finally:
        _bundle_path(index).write_bytes(saved)


# -- what publish writes ------------------------------------------------------------------------

def test_publish_keeps_one_bundle_per_project_keyed_by_sha256(index, family_wheels):
    doc = _read_bundle(index)
    assert doc["format"] == 1 and doc["project"] == "manyver"
    page = (index / "simple" / "manyver" / "index.html").read_text()
    assert len(doc["definitions"]) == VERSIONS
    assert all(f"#sha256={sha}" in page for sha in doc["definitions"])
    assert all('name = "manyver"' in text or "name = 'manyver'" in text
               for text in doc["definitions"].values())
    # publishing again (nothing new) leaves it byte for byte; a new version is merged in
    before = _bundle_path(index).read_bytes()
    publish_local(sorted(family_wheels.glob("*.whl")), str(index))
    assert _bundle_path(index).read_bytes() == before
    doc["definitions"] = dict(list(doc["definitions"].items())[:5])  # an older publisher's
    _write_bundle(index, doc)
    (index / ".publish-in-progress").touch()  # a killed publish: every page written again
    publish_local(sorted(family_wheels.glob("depfam*.whl")), str(index))
    assert len(_read_bundle(index)["definitions"]) == VERSIONS


# -- what a cold resolve costs ------------------------------------------------------------------

def test_cold_family_costs_two_requests_over_http(static, index, reference, tmp_path):
    repo = _repo(static.url, tmp_path)
    assert _definitions(repo) == reference
    # + depfam; the root page first, for the index's serial (``test_serial``), and beside it
    # the snapshot a cold host asks for (``test_snapshot``), which this index does not hold
    assert repo.counters.by_kind == {"root": 1, "snapshot": 1, "page": 2, "bundle": 2}, \
        repo.counters.by_kind
    repo.close()  # as the process ends
    warm = _repo(static.url, tmp_path)  # a new process, the store warm: pages only
    assert _definitions(warm) == reference
    assert "bundle" not in warm.counters.by_kind, warm.counters.by_kind
    # before: one read per version
    _bundle_path(index).unlink()
    static.log.clear()
    before = _repo(static.url, tmp_path, "store-before")
    assert _definitions(before) == reference
    assert before.counters.by_kind["metadata"] == VERSIONS, before.counters.by_kind


def test_stale_bundle_falls_back_file_by_file(static, index, reference, tmp_path):
    doc = _read_bundle(index)
    shas = sorted(doc["definitions"])
    dropped = doc["definitions"].pop(shas[0])  # a listed file without an entry
    doc["definitions"]["f" * 64] = dropped  # an entry for a file the page does not list
    _write_bundle(index, doc)
    repo = _repo(static.url, tmp_path)
    assert _definitions(repo) == reference
    assert repo.counters.by_kind.get("metadata") == 1, repo.counters.by_kind


@pytest.mark.parametrize("body", [
    b"not gzip at all", gzip.compress(b"{ not json"), gzip.compress(b"[1, 2, 3]"),
    gzip.compress(b'{"format": 1, "project": "manyver", "definitions": []}'),
    gzip.compress(b'{"format": 1, "project": "other", "definitions": {}}'),
    gzip.compress(b'{"format": 2, "project": "manyver", "definitions": {}}'),
    gzip.compress(b" " * (4 << 20)),  # a gzip bomb, past the cap set below
], ids=["garbage", "not-json", "not-a-dict", "no-table", "other-project", "other-format",
        "bomb"])
def test_garbage_bundle_falls_back(body, static, index, reference, tmp_path, monkeypatch):
    monkeypatch.setenv("REZWHEEL_MAX_PAGE_BYTES", str(1 << 20))
    _bundle_path(index).write_bytes(body)
    repo = _repo(static.url, tmp_path)
    assert _definitions(repo) == reference
    assert repo.counters.by_kind.get("metadata") == VERSIONS, repo.counters.by_kind


def test_oversized_bundle_is_not_read(static, index, reference, tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("REZWHEEL_MAX_PAGE_BYTES", str(1 << 20))  # pages are far smaller
    doc = _read_bundle(index)
    doc["definitions"]["e" * 64] = os.urandom(1 << 20).hex()  # does not compress
    _write_bundle(index, doc)
    assert _bundle_path(index).stat().st_size > 1 << 20
    repo = _repo(static.url, tmp_path)
    assert _definitions(repo) == reference
    assert repo.counters.by_kind.get("metadata") == VERSIONS, repo.counters.by_kind


HOSTILE = {
    "code": 'name = "manyver"\nversion = "1.0.{v}"\nx = __import__("os").system("touch {c}")\n',
    "path": 'name = "../manyver"\nversion = "1.0.{v}"\n',
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_bundle_entry_is_never_used(kind, static, index, reference, tmp_path):
    """Every entry hostile: each is refused, and the file's own definition decides."""
    canary = tmp_path / "CANARY"
    doc = _read_bundle(index)
    versions = {f.sha256: f.filename.split("-")[1]
                for f in _repo(str(index), tmp_path, "s0").files("manyver")}
    doc["definitions"] = {sha: HOSTILE[kind].format(v=versions[sha].split(".")[-1], c=canary)
                          for sha in doc["definitions"]}
    _write_bundle(index, doc)
    repo = _repo(static.url, tmp_path)
    assert _definitions(repo) == reference
    assert not canary.exists()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_wheel_is_refused_alike_with_or_without_bundle(kind, family_wheels, tmp_path,
                                                               caplog):
    """A wheel whose own definition is hostile: the bundle carries the same text, and the
    version is refused with the same words as when its file is read alone."""
    from rezwheel.resolve import definitions

    canary = tmp_path / "CANARY"
    text = HOSTILE[kind].format(v=0, c=canary)

    def change(name, data):
        if name.endswith(".dist-info/rez-package.py"):
            return text.encode()
        if name.endswith(".dist-info/METADATA"):
            head, sep, _ = data.decode().partition("```python\n")
            return (head + sep + text + "```\n").encode() if sep else data
        return data

    src = family_wheels / "manyver-1.0.0-py3-none-any.whl"
    (tmp_path / "w").mkdir()
    bad = rebuild(src, tmp_path / "w" / src.name, change)
    idx = tmp_path / "idx"
    publish_local([bad, *sorted(family_wheels.glob("depfam*.whl"))], str(idx))
    assert text in json.loads(gzip.decompress(_bundle_path(idx).read_bytes()))["definitions"]\
        .values()
    said = {}
    for mode in ("bundle", "alone"):
        if mode == "alone":
            _bundle_path(idx).unlink()
        server = Static(idx)
        definitions._warned.clear()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="rezwheel.resolve.definitions"):
            repo = _repo(server.url, tmp_path, f"store-{mode}")
            assert repo.definition("manyver", "1.0.0") is None
        server.stop()
        said[mode] = [r.getMessage().replace(server.url, "URL") for r in caplog.records]
        assert any("skipping invalid package" in m for m in said[mode]), said
    assert said["bundle"] == said["alone"]
    assert not canary.exists()


# -- the Artifactory fixture --------------------------------------------------------------------

def _rez_resolve(tmp_path: Path, location: str, request: str, store: Path) -> str:
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = {[location]!r}\n")
    e = env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1", REZWHEEL_STORE=str(store),
            REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0])
    r = subprocess.run([str(BIN / "rez"), "env", *request.split(), "--output",
                        str(tmp_path / "ctx.rxt")], capture_output=True, text=True, env=e)
    assert r.returncode == 0, r.stderr
    return json.loads((tmp_path / "ctx.rxt").read_text())["resolved_packages"]


def _requests(app) -> list:
    return [(m, p) for m, p in app.log if m in ("GET", "HEAD", "PUT", "POST")]


def _families_touched(app) -> set:
    prefix = f"/artifactory/api/pypi/{app.repo}/simple/"
    return {p[len(prefix):].strip("/") for m, p in _requests(app) if p.startswith(prefix)}


def test_artifactory_bundle_deployed_and_read_in_two_requests(artifactory, family_wheels,
                                                              tmp_path):
    rezwheel("publish", *sorted(family_wheels.glob("*.whl")), "--to", artifactory.url,
             env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
    assert ("PUT", f"/artifactory/rez/manyver/{BUNDLE}") in artifactory.log
    doc = json.loads(gzip.decompress(artifactory.deployed[f"manyver/{BUNDLE}"].data))
    assert len(doc["definitions"]) == VERSIONS
    loc = f"artifactory@{artifactory.url}/simple/"
    artifactory.log.clear()
    got = _rez_resolve(tmp_path, loc, "manyver-1.0", tmp_path / "store")
    cold = _requests(artifactory)
    touched = _families_touched(artifactory)
    assert {"manyver", "depfam"} <= touched
    assert len(cold) <= 2 * len(touched), cold
    assert not any(m in ("range", "metadata", "full") for m, _ in artifactory.log)
    # the bundles came in the repository's snapshot (a hint there: test_snapshot), not apart
    assert ("GET", "/artifactory/rez/rez-snapshot.zip") in cold
    assert not [p for m, p in cold if p.endswith(BUNDLE)], cold
    del artifactory.deployed["rez-snapshot.zip"]  # the bundles alone: one request each
    artifactory.log.clear()
    assert _rez_resolve(tmp_path, loc, "manyver-1.0", tmp_path / "store-bundles") == got
    assert sorted(p for m, p in _requests(artifactory) if p.endswith(BUNDLE)) == [
        f"/artifactory/rez/depfam/{BUNDLE}", f"/artifactory/rez/manyver/{BUNDLE}"]
    # before bundles: a HEAD and a range read per version rez reads
    del artifactory.deployed[f"manyver/{BUNDLE}"], artifactory.deployed[f"depfam/{BUNDLE}"]
    artifactory.log.clear()
    assert _rez_resolve(tmp_path, loc, "manyver-1.0", tmp_path / "store-before") == got
    assert len(_requests(artifactory)) > 2 * VERSIONS, _requests(artifactory)


def test_artifactory_bundle_merges_across_publishes(artifactory, family_wheels):
    e = env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0])
    wheels = sorted(family_wheels.glob("manyver-*.whl"))
    rezwheel("publish", *wheels[:10], "--to", artifactory.url, env=e)
    rezwheel("publish", *wheels[10:], "--to", artifactory.url, env=e)
    doc = json.loads(gzip.decompress(artifactory.deployed[f"manyver/{BUNDLE}"].data))
    assert len(doc["definitions"]) == VERSIONS


def test_artifactory_bundle_is_completed_from_the_listed_files(artifactory, family_wheels):
    """Files published before bundles existed (or dropped by a racing publisher) are read
    once by the next publish, by range reads, rather than by every host."""
    e = env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0])
    wheels = sorted(family_wheels.glob("manyver-*.whl"))
    rezwheel("publish", *wheels[:-1], "--to", artifactory.url, env=e)
    artifactory.deployed.clear()
    artifactory.log.clear()
    rezwheel("publish", wheels[-1], "--to", artifactory.url, env=e)
    doc = json.loads(gzip.decompress(artifactory.deployed[f"manyver/{BUNDLE}"].data))
    assert len(doc["definitions"]) == VERSIONS
    assert not any(m == "full" for m, _ in artifactory.log)  # never a whole download


# -- where no bundle can live, and a mirror --------------------------------------------------------

def test_pypiserver_holds_no_bundle_and_costs_one_request_per_family(family_wheels, tmp_path,
                                                                      index, reference):
    """pypiserver takes distributions only: publish deploys nothing, and a cold resolve pays
    one bundle request per family (a 404) before the per-file reads, for its first few
    families only (``test_snapshot``: an index that gave none is not asked again); a warm one
    none."""
    from helpers.servers import PyPIServer

    server = PyPIServer(tmp_path / "srv")
    try:
        rezwheel("publish", *sorted(family_wheels.glob("*.whl")), "--to", server.url)
        assert not list(server.root.glob("*.gz"))
        repo = _repo(f"{server.url}simple/", tmp_path)
        assert _definitions(repo) == reference
        kinds = repo.counters.by_kind
        assert kinds["page"] == 2 and kinds["bundle"] == 2, kinds
        repo.close()  # as the process ends
        warm = _repo(f"{server.url}simple/", tmp_path)
        assert _definitions(warm) == reference
        assert "bundle" not in warm.counters.by_kind, warm.counters.by_kind
    finally:
        server.stop()


def test_mirror_sync_writes_the_bundles(artifactory, family_wheels, index, reference, tmp_path,
                                        monkeypatch):
    from rezwheel.mirror import sync

    rezwheel("publish", *sorted(family_wheels.glob("*.whl")), "--to", artifactory.url,
             env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
    artifactory.deployed.clear()  # the mirror writes its own, from the files it holds
    monkeypatch.setenv("REZWHEEL_TOKEN", ARTIFACTORY_TOKENS[0])
    results = sync(f"{artifactory.url}/simple/", str(tmp_path / "mirror"))
    assert {r.status for r in results} == {"copied"}
    assert _read_bundle(tmp_path / "mirror") == _read_bundle(index)
    static = Static(tmp_path / "mirror")
    try:
        repo = _repo(static.url, tmp_path, "mirror-store")
        assert _definitions(repo) == reference
        # the mirror's snapshot holds the pages and bundles (``test_snapshot``)
        assert repo.counters.by_kind == {"root": 1, "snapshot": 1}, repo.counters.by_kind
        (tmp_path / "mirror" / "simple" / "rez-snapshot.zip").unlink()
        repo = _repo(static.url, tmp_path, "mirror-store-2")
        assert _definitions(repo) == reference
        assert repo.counters.by_kind == {"root": 1, "snapshot": 1, "page": 2, "bundle": 2}, \
            repo.counters.by_kind
    finally:
        static.stop()


# -- a warm process: definitions kept parsed (``resolve.parsed``) -------------------------------

def _count_parses(monkeypatch) -> list:
    from rezwheel.artifact.rezdef import Definition

    seen: list = []
    read = Definition.read.__func__

    def counted(cls, text, filename):
        seen.append(filename)
        return read(cls, text, filename)

    monkeypatch.setattr(Definition, "read", classmethod(counted))
    return seen


def test_warm_process_neither_reads_nor_parses_a_definition(static, index, reference, tmp_path,
                                                           monkeypatch):
    cold = _repo(static.url, tmp_path)
    assert _definitions(cold) == reference
    cold.close()  # as the process ends: what it parsed is written
    parses = _count_parses(monkeypatch)
    from rezwheel.index import httpreader

    pages: list = []
    parse_page = httpreader.parse_project_page
    monkeypatch.setattr(httpreader, "parse_project_page",
                        lambda *a: pages.append(a[2]) or parse_page(*a))
    warm = _repo(static.url, tmp_path)
    assert _definitions(warm) == reference
    # the index's serial is unchanged: its root page alone is asked (``test_serial``)
    assert parses == [] and warm.counters.by_kind == {"root": 1}, (parses, warm.counters)
    assert pages == []  # unchanged (304): the files kept with the page, not parsed again


def test_a_new_publish_is_seen_by_the_next_process(family_wheels, tmp_path, monkeypatch):
    import os

    wheels = sorted(family_wheels.glob("*.whl"))
    newest = next(w for w in wheels if w.name.startswith(f"manyver-1.0.{VERSIONS - 1}-"))
    idx = tmp_path / "idx"
    publish_local([w for w in wheels if w != newest], str(idx))
    server = Static(idx)
    try:
        cold = _repo(server.url, tmp_path)
        assert f"1.0.{VERSIONS - 1}" not in cold.versions("manyver")
        assert len(_definitions(cold)) == VERSIONS  # 29 of manyver, depfam's one
        cold.close()
        publish_local([newest], str(idx))
        page = _bundle_path(idx).with_name("index.html")
        os.utime(page, (page.stat().st_atime, page.stat().st_mtime + 10))  # a later second
        parses = _count_parses(monkeypatch)
        warm = _repo(server.url, tmp_path)  # ttl 0: every page asked again
        got = _definitions(warm)
        assert got[("manyver", f"1.0.{VERSIONS - 1}")]["version"] == f"1.0.{VERSIONS - 1}"
        assert len(got) == VERSIONS + 1 and None not in got.values()
        assert len(parses) == 1, parses  # only the new version's definition: from the bundle
        # a new serial: the new snapshot holds every page and bundle (``test_snapshot``)
        assert warm.counters.by_kind == {"root": 1, "snapshot": 1}, warm.counters.by_kind
    finally:
        server.stop()


def test_kept_definitions_are_a_cache_never_the_truth(static, index, reference, tmp_path):
    """A damaged file is no file; an entry for a file the page does not list is never used."""
    from rezwheel.resolve import parsed

    cold = _repo(static.url, tmp_path)
    assert _definitions(cold) == reference
    cold.close()
    kept = list((tmp_path / "store" / "parsed").rglob("manyver.json"))
    assert len(kept) == 1
    doc = json.loads(kept[0].read_text())
    assert len(doc["entries"]) == VERSIONS
    sha = sorted(doc["entries"])[0]
    other = doc["entries"][sha]
    forged = [other[0], dict(other[1], description="forged")]  # were it used, it would show
    doc["entries"] = {"f" * 64: forged}  # not listed: never used
    kept[0].write_text(json.dumps(doc))
    assert _definitions(_repo(static.url, tmp_path)) == reference
    kept[0].write_text("{ damaged")
    assert parsed.load(str(kept[0])) == {}
    assert _definitions(_repo(static.url, tmp_path)) == reference


def test_what_json_cannot_carry_exactly_is_not_kept(tmp_path):
    from rez.utils.sourcecode import SourceCode

    from rezwheel.artifact.rezdef import Definition
    from rezwheel.resolve import parsed

    text = ('name = "x"\nversion = "1"\nrequires = ["y-1+"]\nconfig = {"a": {"b": [1, 2.5]}}\n'
            '\n@late()\ndef tools():\n    return ["t"]\n\ndef commands():\n'
            '    env.PATH.append("{root}/bin")\n')
    d = Definition.read(text, "x")
    odd = Definition("text", {"name": "y", "pair": (1, 2)})  # a tuple would come back a list
    path = parsed.path_for(str(tmp_path), "0" * 16, "x")
    assert parsed.save(path, {"a" * 64: d, "b" * 64: odd}) == ["b" * 64]
    back = parsed.load(path)
    assert list(back) == ["a" * 64] and back["a" * 64].text == text
    data = back["a" * 64].data
    assert {k: v for k, v in data.items() if not isinstance(v, SourceCode)} == \
        {k: v for k, v in d.data.items() if not isinstance(v, SourceCode)}
    for key in ("tools", "commands"):
        assert isinstance(data[key], SourceCode) and data[key].source == d.data[key].source
        assert data[key].decorators == d.data[key].decorators
        assert data[key].funcname == d.data[key].funcname
    assert parsed.path_for(str(tmp_path), "../x", "x") is None
    assert parsed.path_for(str(tmp_path), "0" * 16, "../x") is None


def test_the_wheels_own_definition_wins_over_a_kept_one(static, index, reference, tmp_path):
    """Once a payload is verified, its own rez-package.py decides (as before kept ones)."""
    cold = _repo(static.url, tmp_path)
    assert _definitions(cold) == reference
    cold.close()
    f = sorted(cold.files("manyver"), key=lambda x: x.filename)[0]
    own = cold.definition("manyver", "1.0.0").text + "\ndescription = 'the wheel says'\n"
    cold.store.put_verified(f.sha256, own)
    warm = _repo(static.url, tmp_path)
    assert warm.definition("manyver", "1.0.0").data["description"] == "the wheel says"
