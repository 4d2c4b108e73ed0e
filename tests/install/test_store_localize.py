"""The store's extraction path as the plugin drives it (``Store.localize``): a local index's
file is hashed while it is extracted, and only a root from the file the index lists is kept;
the lock the store and repositories are written under excludes other holders."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

import pytest

from helpers import GOOD
from rezwheel.atomic import FileLock
from rezwheel.errors import InvalidWheelError
from rezwheel.resolve.store import DefinitionMismatch, Store
from rezwheel.rezrepo.restore import restore_variant


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _other(wheels: Path) -> Path:
    return next(w for w in sorted(wheels.glob("*.whl")) if w.name != GOOD)


def test_a_local_copy_read_in_place_becomes_the_root(wheels, tmp_path):
    store = Store(str(tmp_path / "store"))
    good = wheels / GOOD
    fetched = []
    root = store.localize(_sha(good), GOOD, fetched.append, restore_variant,
                          local_path=str(good))
    assert not fetched  # read in place, not copied into the store
    assert (Path(root) / "python" / "pyutil" / "__init__.py").is_file()
    assert sorted(os.listdir(tmp_path / "store" / "roots")) == [_sha(good)]


def test_a_local_copy_that_is_not_the_listed_file_is_fetched_instead(wheels, tmp_path):
    """The local file is a valid artifact, but not the one whose sha256 the page lists: its
    extraction is dropped and the listed file is fetched."""
    store = Store(str(tmp_path / "store"))
    good, wrong = wheels / GOOD, _other(wheels)

    def fetch(dest: str) -> None:
        shutil.copy(good, dest)

    root = store.localize(_sha(good), GOOD, fetch, restore_variant, local_path=str(wrong))
    assert (Path(root) / "python" / "pyutil" / "__init__.py").is_file()
    assert os.listdir(tmp_path / "store" / "roots") == [_sha(good)]
    assert os.listdir(tmp_path / "store" / "wheels") == [_sha(good)]


def test_a_damaged_local_copy_is_fetched_instead(wheels, tmp_path):
    store = Store(str(tmp_path / "store"))
    good = wheels / GOOD
    damaged = tmp_path / GOOD
    damaged.write_bytes(good.read_bytes()[:-100])  # not even a zip any more
    root = store.localize(_sha(good), GOOD, lambda dest: shutil.copy(good, dest) and None,
                          restore_variant, local_path=str(damaged))
    assert (Path(root) / "python" / "pyutil" / "__init__.py").is_file()


def test_nothing_is_kept_when_neither_copy_is_the_listed_file(wheels, tmp_path):
    store = Store(str(tmp_path / "store"))
    wrong = _other(wheels)
    with pytest.raises(InvalidWheelError, match="does not match the index's"):
        store.localize(_sha(wheels / GOOD), GOOD, lambda dest: shutil.copy(wrong, dest) and None,
                       restore_variant, local_path=str(wrong))
    roots = tmp_path / "store" / "roots"
    assert not roots.exists() or os.listdir(roots) == []


def test_a_definition_other_than_the_resolved_one_is_refused_and_nothing_kept(wheels, tmp_path):
    store = Store(str(tmp_path / "store"))
    good = wheels / GOOD
    with pytest.raises(DefinitionMismatch, match=GOOD):
        store.localize(_sha(good), GOOD, lambda dest: None, restore_variant,
                       local_path=str(good), definition="name = 'pyutil'\n")
    roots = tmp_path / "store" / "roots"
    assert not roots.exists() or os.listdir(roots) == []


def test_file_lock_excludes_other_holders(tmp_path):
    path = str(tmp_path / "locks" / "x.lock")  # its directory is made when missing
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with FileLock(path):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(10)
        with pytest.raises(TimeoutError):
            FileLock(path).acquire(timeout=0)
    finally:
        release.set()
        t.join()
    lock = FileLock(path)
    lock.acquire(timeout=0)  # free again
    lock.release()


def test_store_remove_skips_an_artifact_another_holder_has_locked(wheels, tmp_path):
    store = Store(str(tmp_path / "store"))
    good = wheels / GOOD
    sha = _sha(good)
    store.localize(sha, GOOD, lambda dest: None, restore_variant, local_path=str(good))
    with store.lock(sha):
        assert store.remove(sha) is False
    assert store.remove(sha) is True
    assert not os.path.exists(store.root_path(sha))


def _big_package(tmp_path: Path) -> Path:
    """A rez package whose variant holds two 5 MB files (restored side by side) and a small
    one, converted to a wheel."""
    from helpers import rezwheel

    base = tmp_path / "src" / "bigdata" / "1.0.0"
    (base / "data").mkdir(parents=True)
    (base / "package.py").write_text("name = 'bigdata'\nversion = '1.0.0'\n")
    for name in ("a.bin", "b.bin"):
        (base / "data" / name).write_bytes(os.urandom(5 << 20))
    (base / "data" / "small.txt").write_text("small\n")
    rezwheel("convert", tmp_path / "src", "-o", tmp_path / "wheels")
    (wheel,) = (tmp_path / "wheels").glob("bigdata-*.whl")
    return wheel


def test_big_members_are_restored_side_by_side_byte_for_byte(tmp_path):
    from helpers import rezwheel, tree

    wheel = _big_package(tmp_path)
    rezwheel("install", wheel, "--into", tmp_path / "repo")
    assert tree(tmp_path / "src" / "bigdata" / "1.0.0") == \
        tree(tmp_path / "repo" / "bigdata" / "1.0.0")


def test_a_lying_big_member_is_refused_and_nothing_is_left(tmp_path):
    """One of the members written by worker threads does not hash as RECORD says: refused,
    and no root, staging or temporary name stays behind."""
    from helpers import rebuild, rezwheel

    wheel = _big_package(tmp_path)
    bad = tmp_path / "bad" / wheel.name
    bad.parent.mkdir()
    rows = {}

    def change(name: str, data: bytes) -> bytes:
        if name.endswith("RECORD"):
            lines = data.decode().splitlines()
            return "\n".join(ln if not ln.startswith(rows["member"] + ",") else
                             ln.replace("sha256=", "sha256=AAAA", 1) for ln in lines).encode()
        if name.endswith("b.bin"):
            rows["member"] = name
        return data

    rebuild(wheel, bad, change, fix_record=False)
    sha = _sha(bad)
    store = Store(str(tmp_path / "store"))
    with pytest.raises(InvalidWheelError, match="RECORD check failed: hash of .*b.bin"):
        store.localize(sha, bad.name, lambda dest: None, restore_variant, local_path=str(bad))
    roots = tmp_path / "store" / "roots"
    assert not roots.exists() or os.listdir(roots) == []
    r = rezwheel("install", bad, "--into", tmp_path / "repo", check=False)
    assert r.returncode == 1 and "RECORD check failed" in r.stderr
    left = tmp_path / "repo" / "bigdata"
    assert not left.exists() or os.listdir(left) == []
