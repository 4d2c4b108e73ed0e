"""The one atomic writer (``rezwheel.atomic``): a file or directory is whole or absent, never
half-written, and a copy another process made first is kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rezwheel.atomic import AtomicFile, atomic_dir, atomic_write


def test_atomic_file_is_all_or_nothing(tmp_path):
    target = tmp_path / "d" / "f"
    atomic_write(str(target), b"one")
    with pytest.raises(RuntimeError):
        with AtomicFile(str(target)) as tmp:
            Path(tmp).write_bytes(b"two")
            raise RuntimeError("killed half-way")
    assert target.read_bytes() == b"one" and os.listdir(target.parent) == ["f"]
    with AtomicFile(str(target), mode=0o600) as tmp:
        Path(tmp).write_bytes(b"two")
    assert target.read_bytes() == b"two" and target.stat().st_mode & 0o777 == 0o600


def test_atomic_dir_keeps_a_copy_made_meanwhile(tmp_path):
    target = tmp_path / "built"
    with atomic_dir(str(target)) as new:
        os.makedirs(new)
        Path(new, "mine").write_text("1")
    assert os.listdir(target) == ["mine"]
    with atomic_dir(str(target)) as new:  # another process was first: its copy stays
        os.makedirs(new)
        Path(new, "theirs").write_text("2")
    assert os.listdir(target) == ["mine"] and os.listdir(tmp_path) == ["built"]
    with pytest.raises(RuntimeError):
        with atomic_dir(str(tmp_path / "other")) as new:
            os.makedirs(new)
            raise RuntimeError
    assert os.listdir(tmp_path) == ["built"]
