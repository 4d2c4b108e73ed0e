"""What `rezwheel lock` and `rezwheel export` say: --json, --quiet, counts, errors, and
`rez wheel --help`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import env, rezwheel

PY = "%d.%d" % sys.version_info[:2]
pytestmark = pytest.mark.skipif(PY != "3.11" or sys.platform != "linux",
                                reason="the samples' compiled variants are CPython 3.9/3.11 on "
                                "linux; the lock picks the 3.11 one")


def run(*args: object, store: Path, check: bool = True) -> subprocess.CompletedProcess:
    return rezwheel(*map(str, args), check=check, env=env(REZWHEEL_STORE=str(store)))


def test_json_names_each_rez_variant(index, tmp_path):
    r = run("lock", "multitool", "python-3.11", "--index", index, "-o", tmp_path / "pylock.toml",
            "--json", store=tmp_path / "store")
    by_name = {p["rez_name"]: p for p in json.loads(r.stdout)["packages"]}
    assert (by_name["multitool"]["rez_version"], by_name["multitool"]["variant"]) == ("2.1.0", 1)
    assert by_name["multitool"]["filename"] == "multitool-2.1.0-cp311-cp311-linux_x86_64.whl"
    assert by_name["python"]["filename"] is None and by_name["python"]["variant"] is None
