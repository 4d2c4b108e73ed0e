"""The plugin-side flow in process: a local index built from the samples, read as rez packages
through ``IndexRepository`` (one reader protocol, one page read per project, definitions parsed
once), a variant localized into a store, and an install plan whose steps carry the identity,
the index file, its reader and the definition resolved with."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import copy_samples, publish_local

from rezwheel.artifact import rezdef
from rezwheel.artifact.identity import VariantId
from rezwheel.artifact.rezdef import Definition
from rezwheel.index.readers import ChainReader, IndexReader, LocalReader


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    """The samples converted and published to a local directory index (once per module)."""
    from rezwheel.convert import convert_paths

    tmp = tmp_path_factory.mktemp("flow")
    src = copy_samples(tmp / "src")
    report = convert_paths([str(src)], str(tmp / "out"))
    assert not report.failed, report.failed
    publish_local([c.file for c in report.converted], tmp / "index")
    return tmp / "index"


def _repo(index_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    from rezwheel.resolve.packages import IndexRepository, Settings

    return IndexRepository(str(index_dir), Settings(store=str(tmp_path / "store")))


@pytest.fixture
def page_reads(monkeypatch) -> dict:
    """How many times each project's page is read, by any local reader."""
    reads: dict = {}
    files = LocalReader.files

    def counting(self, project):  # type: ignore[no-untyped-def]
        reads[project] = reads.get(project, 0) + 1
        return files(self, project)

    monkeypatch.setattr(LocalReader, "files", counting)
    return reads


@pytest.fixture
def parses(monkeypatch) -> list:
    """Every ``rezdef.parse`` call, by file label."""
    calls: list = []
    parse = rezdef.parse

    def counting(text, filename):  # type: ignore[no-untyped-def]
        calls.append(filename)
        return parse(text, filename)

    monkeypatch.setattr(rezdef, "parse", counting)
    return calls


def test_readers_share_one_protocol(index_dir, tmp_path):
    local: IndexReader = LocalReader(str(index_dir))
    chain: IndexReader = ChainReader([LocalReader(str(index_dir)), LocalReader(str(tmp_path))])
    for reader in (local, chain):
        assert not reader.remote
        files = reader.files("pyutil")
        assert files and all(reader.allow(f.url) for f in files)
        f = files[0]
        path = reader.local_path(f)  # read in place, whichever index of a chain lists it
        assert path and os.path.isfile(path) and path.startswith(str(index_dir))
        assert reader.pip_url() == "file://" + os.path.join(str(index_dir), "simple") + "/"
    assert not chain.allow("https://elsewhere.example/pyutil.whl")


def test_http_reader_reads_nothing_in_place():
    import requests

    from rezwheel.index.httpreader import HttpReader
    from rezwheel.index.pages import IndexFile

    reader = HttpReader("https://index.example/simple", requests.Session(), None)
    f = IndexFile("x-1-py3-none-any.whl", "https://index.example/x-1-py3-none-any.whl", None, None)
    assert reader.remote and reader.local_path(f) is None
    assert reader.pip_url() == "https://index.example/simple/"


def test_a_project_page_is_read_once_per_repository(index_dir, tmp_path, page_reads, parses):
    repo = _repo(index_dir, tmp_path)
    assert repo.family_of("pyutil") == "pyutil"  # what the planner's lookup asks first
    assert not repo.is_plain_project("pyutil")  # then this: the same page, not read again
    assert set(repo.versions("pyutil")) == {"1.2.0"}
    assert repo.files("pyutil")
    assert page_reads == {"pyutil": 1}
    d = repo.definition("pyutil", "1.2.0")
    assert isinstance(d, Definition) and d.name == "pyutil" and d.version == "1.2.0"
    assert repo.definition("pyutil", "1.2.0") is d
    assert len([p for p in parses if "pyutil" in p]) == 1  # parsed once, whoever asked


def test_variant_file_and_localize(index_dir, tmp_path):
    repo = _repo(index_dir, tmp_path)
    files = {repo.file_for_variant(VariantId("multitool", "2.1.0", i)).filename
             for i in (0, 1)}
    assert len(files) == 2 and all("cp" in f or "py3" in f for f in files), files
    vid = VariantId("multitool", "2.1.0", 1)
    assert repo.state(vid) == repo.file_for_variant(vid).sha256
    root = repo.localize(vid, None)
    assert root.startswith(str(tmp_path / "store")) and os.listdir(root)
    # the local index's wheel was read in place: no copy of it in the store
    assert not [n for _, _, names in os.walk(tmp_path / "store") for n in names
                if n.endswith(".whl")]
    assert repo.localize(vid, None) == root  # the second time: the root as it is


def test_variant_files_named_for_another_linux_flavour_are_found(tmp_path):
    """A variant converted with another Linux tag (``manylinux_2_28_x86_64``, not
    ``linux_x86_64``) is still found on the page by the rule convert named it with."""
    from rezwheel.convert import convert_paths

    src = copy_samples(tmp_path / "src")
    report = convert_paths([str(src / "multitool")], str(tmp_path / "out"),
                           linux_tag="manylinux_2_28")
    made = {c.id.index: os.path.basename(c.file) for c in report.converted}
    assert all("manylinux_2_28_x86_64" in f for f in made.values()), made
    publish_local([c.file for c in report.converted], tmp_path / "index")
    repo = _repo(tmp_path / "index", tmp_path)
    assert {i: repo.file_for_variant(VariantId("multitool", "2.1.0", i)).filename
            for i in made} == made


def test_plugin_reads_through_the_planner_index(index_dir, tmp_path):
    from rez.package_repository import package_repository_manager

    from rezwheel.rezplugin.artifactory import bind, normalized, unbind

    repo = _repo(index_dir, tmp_path)
    path = f"artifactory@{index_dir}"
    before = package_repository_manager.get_repository(path)
    assert bind(repo) == path
    assert package_repository_manager.get_repository(path).index is repo
    unbind(path)  # rez gets back the repository it had (a user's packages_path entry)
    assert package_repository_manager.get_repository(path) is before
    assert normalized("https://user:pw@host.example/simple/") == "https://host.example/simple"


def test_plan_steps_carry_identity_file_reader_and_definition(index_dir, tmp_path, parses):
    from rezwheel.install import apply
    from rezwheel.resolve.planner import Planner
    from rezwheel.resolve.store import Store
    from rezwheel.rezrepo.rezpip import Target

    target = tmp_path / "repo"
    target.mkdir()
    from rezwheel.rezplugin.artifactory import bind, unbind

    with Planner([str(index_dir)], Target.current(), store=str(tmp_path / "store"), bind=bind,
                 unbind=unbind) as planner:
        steps = planner.plan(["shotbundle"], str(target))
        ours = [s for s in steps if s.kind == "rezwheel"]
        assert {s.package for s in ours} >= {"shotbundle-3.0", "pyutil-1.2.0", "sitedata-2023.01"}
        for s in ours:
            assert s.file and s.reader and s.reader.local_path(s.file)
            assert isinstance(s.definition, Definition) and s.definition.name == s.id.name
            assert set(s.as_json()) == {"package", "variant", "kind", "file", "url", "sha256",
                                        "root", "status"}
            assert s.as_json()["file"] == s.file.filename
            assert s.as_json()["sha256"] == s.file.sha256
        done = apply(steps, str(target), Store(str(tmp_path / "store")))
    assert all(d.status == "installed" for d in done), [(d.step.package, d.error) for d in done]
    # each wheel's definition parsed once, from resolve to install (the other parses read back
    # the package.py files install writes)
    wheels = [os.path.basename(p.split(":")[0]) for p in parses if ".whl:" in p]
    assert wheels and len(wheels) == len(set(wheels)), wheels
    assert (target / "shotbundle" / "3.0" / "package.py").is_file()
    shutil.rmtree(target)


def test_a_local_index_may_be_named_by_its_simple_directory(index_dir, tmp_path):
    """``--index DIR/simple`` (or ``file://DIR/simple/``, what pip users are given) reads the
    same index as ``DIR``."""
    from rezwheel.resolve.packages import IndexRepository, Settings

    for given in (f"{index_dir}/simple", f"file://{index_dir}/simple/"):
        repo = IndexRepository(given, Settings(store=str(tmp_path / "store")))
        assert repo.versions("pyutil"), given


# -- the store's extract callable, and the cache flow (the store is the plugin's)
def test_store_localizes_with_the_extract_it_is_given_and_cache_prunes(index_dir, tmp_path):
    """The store is the plugin's: it extracts with the callable it is given, once; the cache
    flow (``rezwheel.cache``) lists, verifies and prunes it, never an entry in use."""
    from rezwheel import cache
    from rezwheel.hashing import sha256_file
    from rezwheel.resolve.store import Store
    from rezwheel.rezrepo.restore import restore_variant

    wheels = {p.name: str(p) for p in (index_dir / "files").glob("*.whl")}
    store = Store(str(tmp_path / "store"))
    names = ["pyutil-1.2.0-py3-none-any.whl", "tabulate-0.9.0-py3-none-any.whl"]
    extracted = []

    def extract(art, root):
        extracted.append(art.rez_name)
        restore_variant(art, root)

    for name in names:
        sha = sha256_file(wheels[name])
        root = store.localize(sha, name, lambda dest, n=name: _copy(wheels[n], dest), extract)
        assert os.path.isdir(root) and root == store.root_path(sha)
        assert store.localize(sha, name, lambda dest: None, extract) == root  # once
    assert extracted == ["pyutil", "tabulate"]

    listed = cache.ls(store)
    assert sorted(e.file for e in listed) == names
    assert all(e.wheel_bytes > 0 and e.root_bytes > 0 for e in listed)
    assert list(listed[0].as_json()) == ["sha256", "file", "wheel_bytes", "root_bytes", "used"]
    assert cache.verify(store).as_json() == {"verified": 2, "failed": []}

    damaged = store.wheel_path(listed[0].sha256, listed[0].file)
    os.chmod(damaged, 0o644)
    with open(damaged, "ab") as fh:
        fh.write(b"x")
    verified = cache.verify(store)
    assert verified.ok == 1 and len(verified.failed) == 1 and damaged in verified.failed[0]

    assert cache.prune(store, older_than=1).tried == []  # both used just now
    os.utime(store.root_path(listed[0].sha256), (0, 0))
    report = cache.prune(store, keep_last=1)
    assert [(p.name, p.removed) for p in report.tried] == [(listed[0].file, True)]
    assert (report.removed, report.kept) == (1, 1)
    with store.lock(listed[1].sha256):  # in use: never removed
        report = cache.prune(store)
    assert [(p.name, p.removed) for p in report.tried] == [(listed[1].file, False)]
    assert [e.file for e in cache.ls(store)] == [listed[1].file]


def _copy(src: str, dest: str) -> None:
    with open(src, "rb") as a, open(dest, "wb") as b:
        b.write(a.read())
