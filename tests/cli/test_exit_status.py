"""The exit status, one rule for every command (README, "Exit codes"): 2 for a usage or config
mistake found before any work (what argparse finds, and what only rezwheel can: a value of the
wrong kind, an index that names nothing, a missing --index), 1 for a failure while working (a
package, a file, an index), 0 for done. The same mistake used to exit 1 in one command and 2 in
the next (a missing --index: 1 for install, 2 for lock; an index that names nothing: 1
everywhere; a bad --prefix: 0 for convert, 1 for publish)."""

from __future__ import annotations

import os

import pytest

from helpers import ROOT, env, rezwheel

PYUTIL = str(ROOT / "samples" / "packages" / "pyutil")
DOWN = "http://127.0.0.1:9/simple/"  # the discard port: nothing answers on loopback

TABLE = [
    # 0: done
    (0, ["--version"]),
    (0, ["cache", "ls"]),
    (0, ["convert", PYUTIL, "-o", "{t}/out"]),
    (0, ["lock", "pyutil", "--index", "{idx}", "-o", "{t}/pylock.toml"]),
    # 2: argparse's mistakes, one per command
    (2, []),
    (2, ["no-such-command"]),
    (2, ["convert", PYUTIL]),
    (2, ["inspect"]),
    (2, ["verify"]),
    (2, ["publish", PYUTIL]),
    (2, ["install", "pyutil"]),
    (2, ["lock", "pyutil", "--index", "{idx}"]),
    (2, ["export", "pyutil", "--index", "{idx}"]),
    (2, ["mirror", "sync", "--to", "{t}/m"]),
    (2, ["mirror"]),
    (2, ["cache"]),
    (2, ["completion", "fish"]),
    (2, ["install", "pyutil", "--into", "{t}/repo", "--index", "{idx}", "--no-such-option"]),
    # 2: rezwheel's own usage mistakes, the same on every command that can make them
    (2, ["install", "pyutil", "--into", "{t}/repo"]),  # no --index (was 1; lock's was 2)
    (2, ["lock", "pyutil", "-o", "{t}/pylock.toml"]),
    (2, ["export", "pyutil", "--venv", "{t}/v"]),
    (2, ["install", "pyutil", "--into", "{t}/repo", "--index", "{t}/nothing"]),  # was 1
    (2, ["lock", "pyutil", "--index", "{t}/nothing", "-o", "{t}/pylock.toml"]),  # was 1
    (2, ["export", "pyutil", "--index", "{t}/nothing", "--venv", "{t}/v"]),  # was 1
    (2, ["mirror", "sync", "--from", "{t}/nothing", "--to", "{t}/m"]),  # was 1
    (2, ["convert", PYUTIL, "-o", "{t}/out", "--prefix", "bad!"]),  # was 0, made bad names
    (2, ["publish", PYUTIL, "--to", "{t}/idx", "--prefix", "bad!"]),  # was 1 per file
    (2, ["install", "pyutil", "--into", "{t}/repo", "--index", "{idx}", "--prefix", "a b"]),
    (2, ["lock", "pyutil", "--index", "{idx}", "-o", "{t}/pylock.toml", "--prefix", "-x"]),
    (2, ["mirror", "sync", "--from", "{idx}", "--to", "{t}/m", "--prefix", "x/"]),
    (2, ["lock", "pyutil", "--index", "{idx}", "-o", "{t}/lock.toml"]),
    (2, ["lock", "pyutil", "--index", "{idx}", "-o", "{t}/pylock.toml", "--platform", "x"]),
    (2, ["install", "foo bar", "--into", "{t}/repo", "--index", "{idx}"]),
    (2, ["lock", "pyutil", "--index", "{idx}", "-o", "{t}/pylock.toml", "--python", " 3.11"]),
    (2, ["lock", "pyutil", "--index", "{idx}", "-o", "{t}/pylock.toml", "--python",
         "\u0663.\u0661\u0661"]),  # an internal error before
    (2, ["install", "pyutil", "--into", "{t}/repo", "--index", "{idx}", "--python", "3.x"]),
    (2, ["export", "pyutil", "--index", "{idx}", "--venv", "{t}/v", "--python", "abc"]),
    (2, ["install", "{t}/gone.whl", "--into", "{t}/repo", "--index", "{idx}"]),
    (2, ["install", "-r", "{t}/none.txt", "--into", "{t}/repo", "--index", "{idx}"]),
    (2, ["--config", "{t}/none.toml", "cache", "ls"]),
    (2, ["--config", "{t}", "cache", "ls"]),
    (2, ["install", "pyutil", "--into", "{t}/repo", "--index", "{idx}", "--jobs", "0"]),
    (2, ["install", "pyutil", "--into", "{t}/repo", "--index", "ftp://x/"]),  # was 1
    (2, ["lock", "pyutil", "--index", "http://", "-o", "{t}/pylock.toml"]),  # was 1
    (2, ["export", "pyutil", "--index", "http://127.0.0.1:99999/", "--venv", "{t}/v"]),  # was 1
    (2, ["mirror", "sync", "--from", "ftp://x/", "--to", "{t}/m"]),  # was 1
    (2, ["publish", PYUTIL, "--to", "ftp://x/"]),  # was 1
    # 1: failures while working
    (1, ["inspect", "{t}/missing.whl"]),
    (1, ["verify", "{t}/missing.whl"]),
    (1, ["convert", "{t}/nothing", "-o", "{t}/out"]),
    (1, ["install", "nosuchpkg", "--into", "{t}/repo", "--index", "{idx}"]),
    (1, ["lock", "nosuchpkg", "--index", "{idx}", "-o", "{t}/pylock.toml"]),
    (1, ["publish", PYUTIL, "--to", DOWN.replace("/simple/", "/")]),
    (1, ["mirror", "sync", "--from", DOWN, "--to", "{t}/m"]),
]


def _id(case) -> str:
    status, args = case
    words = [a for a in args if a != PYUTIL and not a.startswith("{")]
    return f"{status}: {' '.join(words) or '(nothing)'}"


@pytest.mark.parametrize("status,args", TABLE, ids=[_id(c) for c in TABLE])
def test_exit_status(local_index, tmp_path, status, args):
    work = tmp_path / "work"
    work.mkdir()
    args = [a.format(t=work, idx=local_index) for a in args]
    r = rezwheel(*args, check=False, cwd=work, env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    assert "Traceback" not in r.stderr and "please report" not in r.stderr, r.stderr
    assert r.returncode == status, f"rezwheel {' '.join(args)}: exit {r.returncode}\n{r.stderr}"
    if status == 2 and args:  # one line, nothing written
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert os.listdir(work) == [], os.listdir(work)
    if status == 1:
        assert r.stderr.strip() and all(
            line.startswith("rezwheel: ") for line in r.stderr.strip().splitlines()), r.stderr
