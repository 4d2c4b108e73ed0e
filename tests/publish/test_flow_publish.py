"""The publish flow in-process (``rezwheel.publish.publish``): one path for every target, so
the same cases run against a local directory index and the Artifactory fixture."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from helpers import ARTIFACTORY_TOKENS
from rezwheel.config import (IndexConfig, artifactory_storage, artifactory_storage_url,
                             is_artifactory, resolve_target)
from rezwheel.index.writers import Result
from rezwheel.publish import publish


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No user config, netrc or rezwheel settings; the Artifactory fixture's token; a private
    store (the conversion record of a local index lives there)."""
    for k in [k for k in os.environ if k.startswith("REZWHEEL_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("REZWHEEL_CONFIG", "/nonexistent/rezwheel.toml")
    monkeypatch.setenv("NETRC", "/nonexistent/netrc")
    monkeypatch.setenv("REZWHEEL_TOKEN", ARTIFACTORY_TOKENS[0])
    monkeypatch.setenv("REZWHEEL_STORE", str(tmp_path / "store"))


@pytest.fixture(params=["local", "artifactory"])
def target(request, tmp_path) -> IndexConfig:
    """Each target kind the flow writes to, as ``--to`` would name it."""
    if request.param == "local":
        return resolve_target(str(tmp_path / "index"), config={})
    app = request.getfixturevalue("artifactory")
    return resolve_target(app.url, config={})


def _files(wheels: Path, *names: str) -> list[str]:
    return sorted(str(p) for p in wheels.glob("*.whl") if not names or p.name in names)


def _plain_wheel(dest: Path, name: str, version: str) -> str:
    """A wheel of a project that is not a rezwheel one (no rez definition in METADATA)."""
    path = dest / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\n"
                                       f"Version: {version}\nSummary: not ours\n\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: "
                                    "true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return str(path)


class Recorder:
    """A ``publish.Progress`` that keeps what it is told."""

    def __init__(self) -> None:
        self.started: tuple = ()
        self.seen: list[tuple[str, str, int]] = []
        self.finished = False

    def start(self, files: int, size: int) -> None:
        self.started = (files, size)

    def advance(self, result: Result, size: int) -> None:
        self.seen.append((result.file, result.status, size))

    def finish(self) -> None:
        self.finished = True


def test_publish_then_republish_skips_everything(target, wheels):
    files = _files(wheels)
    progress = Recorder()
    first = publish(files, target, progress=progress)
    assert [r.file for r in first.results] == [os.path.basename(f) for f in files]
    assert {r.status for r in first.results} == {"uploaded"}
    assert all(r.sha256 and not r.error for r in first.results)
    assert progress.started == (len(files), sum(os.path.getsize(f) for f in files))
    assert sorted(s[0] for s in progress.seen) == sorted(os.path.basename(f) for f in files)
    assert progress.finished
    again = publish(files, target)
    assert [r.status for r in again.results] == ["skipped"] * len(files)
    assert [r.sha256 for r in again.results] == [r.sha256 for r in first.results]
    assert not again.problems and again.conversion is None


def test_a_different_file_under_a_taken_name_is_refused(target, wheels, tmp_path):
    (good,) = _files(wheels, "pyutil-1.2.0-py3-none-any.whl")
    assert publish([good], target).results[0].status == "uploaded"
    changed = tmp_path / "changed" / os.path.basename(good)
    changed.parent.mkdir()
    changed.write_bytes(Path(good).read_bytes() + b"\0")
    (result,) = publish([str(changed)], target).results
    assert result.status == "failed"
    assert "already holds a different file under this name (index sha256 " in result.error
    again = publish([good], target).results[0]  # the index still holds the first file
    assert again.status == "skipped"


def test_owner_guard_on_every_target(target, wheels, tmp_path):
    """Dependency confusion: a name that exists on the index and is not a rezwheel project is
    refused for every target, unless asked (--allow-foreign-name)."""
    plain = _plain_wheel(tmp_path, "pyutil", "0.1")
    assert publish([plain], target).results[0].status == "uploaded"
    (ours,) = _files(wheels, "pyutil-1.2.0-py3-none-any.whl")
    (refused,) = publish([ours], target).results
    assert refused.status == "failed"
    assert "'pyutil' already exists on the index and is not a rezwheel project " \
           "(pyutil-0.1-py3-none-any.whl has no rez definition)" in refused.error
    (allowed,) = publish([ours], target, allow_foreign_name=True).results
    assert allowed.status == "uploaded"


def test_dry_run_sends_nothing(target, wheels, tmp_path):
    files = _files(wheels, "pyutil-1.2.0-py3-none-any.whl", "tabulate-0.9.0-py3-none-any.whl")
    done = publish(files, target, dry_run=True)
    assert [r.status for r in done.results] == ["would-upload"] * 2
    assert publish(files, target).results[0].status == "uploaded"  # nothing was taken


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


def test_a_dry_run_leaves_a_local_index_as_it_was(wheels, sample_repo, tmp_path):
    """Not a page rewritten, not a marker cleared, not a lock file or a staging directory
    made; an index that does not exist is not created."""
    from rezwheel.index.local import MARKER

    files = _files(wheels, "pyutil-1.2.0-py3-none-any.whl", "tabulate-0.9.0-py3-none-any.whl")
    absent = tmp_path / "absent"
    done = publish([*files, str(sample_repo / "relfam")], resolve_target(str(absent), config={}),
                   dry_run=True)
    assert {r.status for r in done.results} == {"would-upload"} and not absent.exists()
    index = tmp_path / "index"
    target = resolve_target(str(index), config={})
    publish(files[:1], target)
    (index / "simple" / "pyutil" / "index.html").unlink()  # a lost page, a killed writer
    (index / MARKER).touch()
    before = _tree(index)
    done = publish([*files, str(sample_repo / "relfam")], target, dry_run=True)
    assert sorted(r.status for r in done.results).count("would-upload") == 5
    assert _tree(index) == before


def test_damaged_wheel_is_a_problem_and_the_others_go(target, wheels, tmp_path):
    bad = tmp_path / "broken-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    (good,) = _files(wheels, "pyutil-1.2.0-py3-none-any.whl")
    done = publish([str(bad), good], target)
    assert [r.file for r in done.results] == [os.path.basename(good)]
    assert len(done.problems) == 1 and str(bad) in done.problems[0]


def test_rez_packages_are_converted_in_the_flow(target, sample_repo, tmp_path):
    seen = []
    done = publish([str(sample_repo / "relfam")], target, on_converted=seen.append)
    assert [r.status for r in done.results] == ["uploaded"] * 4
    assert seen == [done.conversion] and len(done.conversion.converted) == 4
    if target.type == "local":  # made inside the index, renamed in, nothing left behind
        root = Path(target.upload_url)
        assert not [e for e in os.listdir(root) if e.startswith(".rezwheel-publish-")]
        assert len(list((root / "files").glob("relfam-*.whl.metadata"))) == 4
        # unchanged packages whose wheels a local index holds are not converted again
        again = publish([str(sample_repo / "relfam")], target)
        assert again.reused == 4 and not again.conversion.converted
        assert [r.status for r in again.results] == ["skipped"] * 4


def test_local_index_pages_follow_the_batch(wheels, tmp_path):
    from rezwheel.index.local import MARKER

    index = tmp_path / "index"
    target = resolve_target(str(index), config={})
    files = _files(wheels, "pyutil-1.2.0-py3-none-any.whl", "tabulate-0.9.0-py3-none-any.whl")
    publish(files, target)
    page = index / "simple" / "pyutil" / "index.html"
    text = page.read_text()
    assert "pyutil-1.2.0-py3-none-any.whl#sha256=" in text
    assert 'href="tabulate/"' in (index / "simple" / "index.html").read_text()
    page.unlink()  # a page lost: the next publish of that project writes it again
    assert publish(files, target).results[0].status == "skipped"
    assert page.read_text() == text
    assert not (index / MARKER).exists()
    # a killed writer's marker (this rezwheel's, or an older one's publish or sync): every
    # page is written again, whatever the next publish holds, and the marker is cleared
    for marker in (MARKER, ".publish-in-progress", ".sync-in-progress"):
        page.unlink()
        (index / marker).touch()
        publish(files[1:], target)  # tabulate only, already there
        assert page.read_text() == text and not (index / marker).exists(), marker


def test_a_publish_killed_before_its_pages_is_finished_by_the_next(wheels, tmp_path,
                                                                   monkeypatch):
    """Files in, pages not written (the writer killed in between): the marker it left makes
    the next publish write every page, whatever it publishes."""
    from rezwheel.index.local import MARKER, LocalIndex

    index = tmp_path / "index"
    target = resolve_target(str(index), config={})
    with monkeypatch.context() as m:
        m.setattr(LocalIndex, "finish", lambda self, uploaded: None)  # killed before the pages
        publish(_files(wheels, "pyutil-1.2.0-py3-none-any.whl"), target)
    assert (index / "files" / "pyutil-1.2.0-py3-none-any.whl").exists()
    assert (index / MARKER).exists() and not (index / "simple" / "pyutil").exists()
    publish(_files(wheels, "tabulate-0.9.0-py3-none-any.whl"), target)
    assert "pyutil-1.2.0-py3-none-any.whl#sha256=" in \
        (index / "simple" / "pyutil" / "index.html").read_text()
    assert not (index / MARKER).exists()


def test_artifactory_wait_and_requests(artifactory, wheels):
    target = resolve_target(artifactory.url, config={})
    files = _files(wheels, "pyutil-1.2.0-py3-none-any.whl", "tabulate-0.9.0-py3-none-any.whl")
    done = publish(files, target, wait=10)
    assert [(r.status, r.error) for r in done.results] == [("uploaded", None)] * 2
    assert all(artifactory.uploads_of(os.path.basename(f)) == 1 for f in files)
    posts = sum(m == "POST" for m, _ in artifactory.log)
    publish(files, target)
    assert sum(m == "POST" for m, _ in artifactory.log) == posts  # a republish sends nothing


def test_a_batch_refused_alike_stops_and_says_how_many_were_not_tried(artifactory, wheels,
                                                                      monkeypatch):
    """As twine does: once the first uploads all fail for one reason (a token Artifactory does
    not know), the rest are not sent; each result says whether it was, and the CLI says the
    reason once with the count of those never tried."""
    from rezwheel.cli import _grouped
    from rezwheel.index.upload import STOP_AFTER

    monkeypatch.setenv("REZWHEEL_TOKEN", "not-a-token-it-knows")
    files = _files(wheels)[:STOP_AFTER + 3]
    results = publish(files, resolve_target(artifactory.url, config={}), jobs=1).results
    assert [r.status for r in results] == ["failed"] * len(files)
    assert [r.tried for r in results] == [True] * STOP_AFTER + [False] * 3
    (line,) = _grouped(results)
    assert line == f"{len(files)} files not published: {results[0].reason} " \
        "(3 not tried after the first failures)"


def test_artifactory_detection_and_storage_url():
    url = "https://a.example/artifactory/api/pypi/rez"
    assert is_artifactory(url) and not is_artifactory("https://pypi.example/legacy/")
    assert artifactory_storage_url(url + "/", "pyutil", "1.2.0", "pyutil-1.2.0-py3-none-any.whl") \
        == "https://a.example/artifactory/rez/pyutil/1.2.0/pyutil-1.2.0-py3-none-any.whl"
    # the repository's storage, from its upload URL or its index URL alike (bundles live there)
    assert {artifactory_storage(u) for u in (url, url + "/", url + "/simple/")} == \
        {"https://a.example/artifactory/rez"}
    assert artifactory_storage("https://pypi.example/simple/") is None
    assert artifactory_storage("https://a.example/artifactory/api/pypi/") is None  # no repository


def test_a_studio_sized_repository_converts_in_worker_processes(target, tmp_path, monkeypatch):
    """Enough versions to split among conversion processes: what each worker is handed
    (the target's record of what it holds) crosses a process boundary."""
    repo = tmp_path / "repo"
    for family in ("alpha", "beta", "gamma"):
        for minor in range(25):
            pkg = repo / family / f"1.{minor}"
            pkg.mkdir(parents=True)
            (pkg / "package.py").write_text(f'name = "{family}"\nversion = "1.{minor}"\n')
    monkeypatch.setenv("REZWHEEL_JOBS", "2")
    done = publish([str(repo)], target)
    assert not done.problems and [r.status for r in done.results] == ["uploaded"] * 75
    if target.type == "local":
        again = publish([str(repo)], target)
        assert again.reused == 75 and not again.problems
