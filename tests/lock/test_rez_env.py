"""`rezwheel export`'s bin/rez-env.sh replays a package's rez commands as rez's sh shell would:
literal() values are never expanded by the shell, expandable ones are, and prepends and appends
keep what the shell already had; quotes and spaces survive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import env, rezwheel

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="sources rez-env.sh in sh")

ENVTOOL = '''\
name = "envtool"
version = "1.0.0"

def commands():
    env.ENVTOOL_LITERAL = literal("$HOME/x `echo no` \\\\n")
    env.ENVTOOL_EXPANDED = "$HOME/y"
    env.ENVTOOL_MIXED = expandable("$HOME/").literal("$NOT_EXPANDED")
    env.ENVTOOL_QUOTED = 'say "hi" it\\'s {root}/with space'
    env.ENVTOOL_PATH.prepend("{root}/data")
    env.ENVTOOL_PATH.append(literal("/opt/$literal"))
    env.ENVTOOL_PATH.prepend("$HOME/first")
'''


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("envtool") / "envtool" / "1.0.0"
    (root / "data").mkdir(parents=True)
    (root / "data" / "x.txt").write_text("x\n")
    (root / "package.py").write_text(ENVTOOL)
    tmp = tmp_path_factory.mktemp("envtool-out")
    rezwheel("convert", root, "-o", tmp / "wheels")
    rezwheel("publish", *(tmp / "wheels").glob("*.whl"), "--to", tmp / "index")
    rezwheel("export", "envtool", "--index", tmp / "index", "--venv", tmp / "env",
             "--without-pip",
             env=env(REZWHEEL_STORE=str(tmp / "store")))
    return tmp / "env"


def sourced(venv: Path, *names: str, **environ: str) -> list[str]:
    script = f". {venv}/bin/rez-env.sh && " + " && ".join(
        f'printf "%s\\n" "${name}"' for name in names)
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                       env=dict({"PATH": "/usr/bin:/bin", "HOME": "/home/someone"}, **environ))
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_literal_values_are_not_expanded(venv):
    assert sourced(venv, "ENVTOOL_LITERAL", "ENVTOOL_MIXED") == [
        "$HOME/x `echo no` \\n", "/home/someone/$NOT_EXPANDED"]


def test_expandable_values_expand_and_quotes_and_spaces_survive(venv):
    share = f"{venv}/share/rez/envtool"
    assert sourced(venv, "ENVTOOL_EXPANDED", "ENVTOOL_QUOTED") == [
        "/home/someone/y", f"say \"hi\" it's {share}/with space"]


def test_prepends_and_appends_keep_what_the_shell_had(venv):
    share = f"{venv}/share/rez/envtool"
    assert sourced(venv, "ENVTOOL_PATH") == [
        f"/home/someone/first:{share}/data:/opt/$literal"]
    assert sourced(venv, "ENVTOOL_PATH", ENVTOOL_PATH="/had") == [
        f"/home/someone/first:{share}/data:/had:/opt/$literal"]
