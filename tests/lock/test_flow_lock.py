"""The lock flow in-process (``lock.resolve`` + ``lock.write``): what the CLI tests show
through a subprocess, here as library calls a pipeline can make."""

from __future__ import annotations

import os
import sys

import pytest

PY = "%d.%d" % sys.version_info[:2]


@pytest.mark.skipif(PY != "3.11" or sys.platform != "linux",
                    reason="the samples' compiled variants are CPython 3.11 on Linux")
def test_lock_ties_each_resolved_variant_to_its_wheel(index, tmp_path):
    import tomllib

    from rezwheel.lock import resolve, write

    files = {p.name for p in (index / "files").glob("*.whl")}
    resolved = resolve(["pyutil", "python-3.11"], [str(index)], python="3.11",
                       store=str(tmp_path / "store"))
    assert write(resolved, str(tmp_path / "pylock.toml")) == "pylock"
    lock = tomllib.loads((tmp_path / "pylock.toml").read_text(encoding="utf-8"))
    assert lock["created-by"] == "rezwheel"
    wheels = {w["name"] for p in lock["packages"] for w in p.get("wheels", [])}
    assert wheels and wheels <= files
    assert any(p["name"] == "pyutil" for p in lock["packages"])
    assert not os.path.exists(tmp_path / "store" / "wheels")  # no payload downloaded
