"""What a person mistypes on the command line is refused on one line (exit 2) naming it, before
anything is read or written: numbers that are no count, empty paths (which meant the current
directory), a file where a directory goes, a URL no parser reads. Each of these used to run
on quietly with a default, write into the current directory, fail once per package, or print
an internal error asking to be reported."""

from __future__ import annotations

import os

import pytest

from helpers import ROOT, env, rezwheel

SAMPLES = str(ROOT / "samples" / "packages")


def _refused(r, *said: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "please report" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    for s in said:
        assert s in last, r.stderr
    return last


@pytest.mark.parametrize("args,said", [
    (["install", "multitool", "--into", "{t}/repo", "--index", "{idx}", "--jobs", "0"],
     ["--jobs", "'0' is not a whole number (1 or more)"]),
    (["install", "multitool", "--into", "{t}/repo", "--index", "{idx}", "--jobs", "-3"],
     ["--jobs"]),
    (["publish", SAMPLES, "--to", "{t}/repo", "--jobs", "many"], ["--jobs", "'many'"]),
    (["publish", SAMPLES, "--to", "{t}/repo", "--wait", "-5"], ["--wait", "'-5'"]),
    (["publish", SAMPLES, "--to", "{t}/repo", "--wait", "inf"], ["--wait", "'inf'"]),
    (["mirror", "sync", "--from", "{idx}", "--to", "{t}/repo", "--jobs", "0"], ["--jobs"]),
    (["cache", "prune", "--older-than", "-1"], ["--older-than", "'-1'"]),
    (["cache", "prune", "--older-than", "nan"], ["--older-than", "'nan'"]),
    (["cache", "prune", "--keep-last", "-1"],
     ["--keep-last", "'-1' is not a whole number (0 or more)"]),
    (["publish", SAMPLES, "--to", ""], ["--to", "empty"]),
    (["convert", SAMPLES, "-o", " "], ["--output", "empty"]),
    (["install", "multitool", "--into", "", "--index", "{idx}"], ["--into", "empty"]),
    (["install", "multitool", "--into", "{t}/repo", "--index", ""], ["--index", "empty"]),
])
def test_numbers_and_empty_paths(local_index, tmp_path, args, said):
    args = [a.format(t=tmp_path, idx=local_index) for a in args]
    r = rezwheel(*args, check=False, cwd=tmp_path,
                 env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    _refused(r, *said)
    assert sorted(os.listdir(tmp_path)) == []  # nothing written, in the cwd least of all


@pytest.mark.parametrize("args", [
    ["publish", SAMPLES, "--to", "{f}"],
    ["publish", SAMPLES, "--to", "{f}/sub"],
    ["mirror", "sync", "--from", "{idx}", "--to", "{f}"],
    ["convert", SAMPLES, "-o", "{f}"],
])
def test_a_file_where_a_directory_goes(local_index, tmp_path, args):
    f = tmp_path / "afile"
    f.write_text("mine\n")
    args = [a.format(f=f, idx=local_index) for a in args]
    r = rezwheel(*args, check=False, env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    _refused(r, str(f), "is a file" if args[-1].endswith("sub") else "is not a directory")
    assert f.read_text() == "mine\n"


@pytest.mark.parametrize("args", [
    ["install", "multitool", "--into", "{t}/repo", "--index", "http://[::1"],
    ["lock", "multitool", "--index", "http://[::1", "-o", "{t}/pylock.toml"],
    ["mirror", "sync", "--from", "http://user:s3cr3t-pw@[::1/simple/", "--to", "{t}/m"],
    ["publish", SAMPLES, "--to", "http://user:s3cr3t-pw@[::1"],
])
def test_a_url_no_parser_reads(tmp_path, args):
    args = [a.format(t=tmp_path) for a in args]
    r = rezwheel(*args, check=False, env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    last = _refused(r, "not a URL")
    assert "s3cr3t-pw" not in r.stderr + r.stdout, last
    assert not (tmp_path / "repo").exists() and not (tmp_path / "m").exists()
