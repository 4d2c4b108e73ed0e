"""The lock tests' index: the samples plus ``mytool``, a package whose rez commands set
variables, make an alias and run a program (what ``rez-env.sh`` can and cannot replay)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import rezwheel

MYTOOL = '''\
name = "mytool"
version = "2.0.0"
description = "A tool that reads its config from MYTOOL_CONFIG."
requires = ["python-3", "pyutil-1.2"]
tools = ["mytool"]

def commands():
    env.PYTHONPATH.append("{root}/python")
    env.PATH.append("{root}/bin")
    env.MYTOOL_CONFIG = "{root}/config/mytool.cfg"
    alias("mt", "mytool --verbose")
    command("mytool --warm-cache")
'''
SCRIPT = '''\
#!/usr/bin/env python
import os
import mytool
with open(os.environ["MYTOOL_CONFIG"]) as fh:
    print("mytool", mytool.VERSION, fh.read().strip())
'''


@pytest.fixture(scope="session")
def index(wheels, tmp_path_factory) -> Path:
    """The samples plus ``mytool`` (rez commands with an alias and a command) in a local index."""
    root = tmp_path_factory.mktemp("mytool") / "mytool" / "2.0.0"
    (root / "python" / "mytool").mkdir(parents=True)
    (root / "python" / "mytool" / "__init__.py").write_text('VERSION = "2.0.0"\n')
    (root / "bin").mkdir()
    (root / "bin" / "mytool").write_text(SCRIPT)
    (root / "bin" / "mytool").chmod(0o755)
    (root / "config").mkdir()
    (root / "config" / "mytool.cfg").write_text("colour = blue\n")
    (root / "package.py").write_text(MYTOOL)
    out = tmp_path_factory.mktemp("mytool-wheel")
    rezwheel("convert", root, "-o", out)
    idx = tmp_path_factory.mktemp("lock-index")
    rezwheel("publish", *sorted(wheels.glob("*.whl")), *out.glob("*.whl"), "--to", idx)
    return idx
