"""The mirror flow in-process (``mirror.sync``): what the CLI tests show through a subprocess,
here as library calls a pipeline can make (the lock flow's: tests/lock/test_flow_lock.py)."""

from __future__ import annotations

import os

import pytest

from helpers import copy_samples, publish_local


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    from rezwheel.convert import convert_paths

    tmp = tmp_path_factory.mktemp("flow-mirror")
    report = convert_paths([str(copy_samples(tmp / "packages"))], str(tmp / "wheels"))
    publish_local([c.file for c in report.converted], tmp / "index")
    return tmp / "index", sorted(os.path.basename(c.file) for c in report.converted)


def test_sync_copies_every_file_once_then_finds_them_present(upstream, tmp_path):
    from rezwheel.index.readers import LocalReader
    from rezwheel.mirror import sync

    index, files = upstream
    first = sync(str(index), str(tmp_path / "mirror"))
    assert sorted(r.file for r in first) == files
    assert {r.status for r in first} == {"copied"} and not [r for r in first if r.error]
    again = sync(str(index), str(tmp_path / "mirror"))
    assert {r.status for r in again} == {"present"}
    # the mirror is an index in its own right: its pages list every file with its sha256
    reader = LocalReader(str(tmp_path / "mirror"))
    listed = {f.filename: f.sha256 for p in reader.projects() for f in reader.files(p)}
    assert sorted(listed) == files and all(listed.values())


def test_sync_refuses_a_different_file_under_a_name_the_mirror_holds(upstream, tmp_path):
    from rezwheel.mirror import sync

    import shutil
    import zipfile

    index, files = upstream
    other = tmp_path / "other" / files[0]  # the same name, other bytes (a zip comment)
    other.parent.mkdir()
    shutil.copy(index / "files" / files[0], other)
    with zipfile.ZipFile(other, "a") as z:
        z.comment = b"not upstream's"
    publish_local([other], tmp_path / "mirror")
    results = {r.file: r for r in sync(str(index), str(tmp_path / "mirror"))}
    assert results[files[0]].status == "failed"
    assert "holds a different file" in (results[files[0]].error or "")


@pytest.mark.parametrize("marker", [".write-in-progress", ".publish-in-progress",
                                    ".sync-in-progress"])
def test_a_killed_writer_s_marker_makes_the_next_sync_write_every_page(upstream, tmp_path,
                                                                      marker):
    """A sync or a publish killed between its files and its pages leaves a marker (this
    rezwheel's, or an older one's): the next sync writes every page, even with nothing to copy,
    and clears it."""
    from rezwheel.mirror import sync

    index, files = upstream
    mirror = tmp_path / "mirror"
    sync(str(index), str(mirror))
    pages = sorted(mirror.glob("simple/*/index.html"))
    text = {p: p.read_text() for p in pages}
    for p in pages:
        p.unlink()
    (mirror / marker).touch()
    assert {r.status for r in sync(str(index), str(mirror))} == {"present"}
    assert {p: p.read_text() for p in pages} == text
    assert not (mirror / marker).exists()
