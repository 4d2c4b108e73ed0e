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
    # int() and float() read these; a person would not, or not the same way
    *[(["install", "multitool", "--into", "{t}/repo", "--index", "{idx}", "--jobs", v],
       ["--jobs", f"{v!r} is not a whole number"]) for v in ["1_000", " 5 ", "+5", "\u0665"]],
    *[(["publish", SAMPLES, "--to", "{t}/repo", "--wait", v], ["--wait", f"{v!r} is not a"])
      for v in ["1e3", "1_0", "\u0665", " 5", "+5"]],
    (["cache", "prune", "--keep-last", "\u0663"], ["--keep-last", "'\u0663'"]),
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


#: every option that names a directory, on every command that takes it (``{f}``: a file)
A_FILE_FOR_A_DIRECTORY = [
    (["publish", SAMPLES, "--to", "{f}"], "--to {f}: is a file"),
    (["publish", SAMPLES, "--to", "{f}/sub"], "--to {f}/sub: {f} is a file"),
    (["mirror", "sync", "--from", "{idx}", "--to", "{f}"], "--to {f}: is a file"),
    (["mirror", "sync", "--from", "{f}", "--to", "{t}/m"], "--from {f}: is a file"),
    (["convert", SAMPLES, "-o", "{f}"], "-o {f}: is a file"),
    (["convert", SAMPLES, "-o", "{f}/out"], "-o {f}/out: {f} is a file"),
    (["install", "multitool", "--into", "{f}", "--index", "{idx}"], "--into {f}: is a file"),
    (["install", "multitool", "--into", "{f}/r", "--index", "{idx}"], "--into {f}/r: {f} is a"),
    (["install", "multitool", "--into", "{t}/repo", "--index", "{f}"], "--index {f}: is a file"),
    (["install", "multitool", "--into", "{t}/repo", "--index", "file://{f}"],
     "--index file://{f}: {f} is a file"),
    (["lock", "multitool", "--index", "{f}", "-o", "{t}/pylock.toml"], "--index {f}: is a file"),
    (["lock", "multitool", "--index", "{idx}", "-o", "{f}/pylock.toml"],
     "-o {f}/pylock.toml: {f} is a file"),
    (["export", "multitool", "--index", "{f}", "--venv", "{t}/v"], "--index {f}: is a file"),
    (["export", "multitool", "--index", "{idx}", "--venv", "{f}"], "--venv {f}: is a file"),
    *[(["--store", "{f}", *args], "--store {f}: is a file") for args in [
        ["cache", "ls"], ["cache", "verify"], ["cache", "prune"],
        ["publish", SAMPLES, "--to", "{t}/idx"], ["convert", SAMPLES, "-o", "{t}/out"],
        ["install", "multitool", "--into", "{t}/repo", "--index", "{idx}"],
        ["lock", "multitool", "--index", "{idx}", "-o", "{t}/pylock.toml"],
        ["export", "multitool", "--index", "{idx}", "--venv", "{t}/v"],
        ["mirror", "sync", "--from", "{idx}", "--to", "{t}/m"]]],
    (["cache", "ls", "--store", "{f}/sub"], "--store {f}/sub: {f} is a file"),
]


@pytest.mark.parametrize("args,said", A_FILE_FOR_A_DIRECTORY,
                         ids=[f"{a[2] if a[0] == '--store' else a[0]} {s.split(' ')[0]}"
                              for a, s in A_FILE_FOR_A_DIRECTORY])
def test_a_file_where_a_directory_goes(local_index, tmp_path, args, said):
    """One line naming the option and the path, exit 2, before anything is read or written:
    the store used to list as empty, --into said only 'File exists', an index file was 'not a
    URL', --from made nothing of it (each exited 0 or 1)."""
    work = tmp_path / "work"
    work.mkdir()
    f = work / "afile"
    f.write_text("mine\n")
    fill = dict(f=f, idx=local_index, t=work)
    args = [a.format(**fill) for a in args]
    r = rezwheel(*args, check=False, cwd=work, env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    last = _refused(r, said.format(**fill), "is a file, not a directory")
    assert r.stderr.strip() == last, r.stderr  # that line only
    assert f.read_text() == "mine\n" and os.listdir(work) == ["afile"]


def test_a_file_as_the_store_in_the_environment(tmp_path):
    f = tmp_path / "afile"
    f.write_text("mine\n")
    r = rezwheel("cache", "ls", check=False, env=env(REZWHEEL_STORE=str(f)))
    _refused(r, f"$REZWHEEL_STORE {f}: is a file, not a directory")


def test_other_paths_of_the_wrong_kind(local_index, tmp_path):
    """A lock file that is a directory, a venv that is not new, an index that names nothing."""
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "keep").write_text("")
    for args, said in [
            (["lock", "multitool", "--index", local_index, "-o", tmp_path], "is a directory, not "
                                                                           "a file"),
            (["export", "multitool", "--index", local_index, "--venv", tmp_path / "v"],
             "exists and is not empty"),
            (["install", "multitool", "--into", tmp_path / "r", "--index", tmp_path / "nothing"],
             "not a URL, a directory, or a configured index name")]:
        r = rezwheel(*args, check=False, env=env(REZWHEEL_STORE=str(tmp_path / "store")))
        _refused(r, said)
    assert sorted(os.listdir(tmp_path)) == ["v"] and os.listdir(tmp_path / "v") == ["keep"]


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


def test_rez_wheel_takes_global_options_before_the_command(tmp_path):
    """rez hands the options it does not know apart from the other words: `rez wheel --store
    DIR cache ls` reached rezwheel as `DIR cache ls --store` ("invalid choice: 'DIR'")."""
    import subprocess

    from helpers import BIN

    f = tmp_path / "afile"
    f.write_text("mine\n")
    e = env(REZ_QUIET="1")
    r = subprocess.run([str(BIN / "rez"), "wheel", "--store", str(f), "cache", "ls"],
                       capture_output=True, text=True, env=e)
    _refused(r, f"--store {f}: is a file, not a directory")
    r = subprocess.run([str(BIN / "rez"), "wheel", "--store", str(tmp_path / "s"), "cache",
                        "ls"], capture_output=True, text=True, env=e)
    assert r.returncode == 0 and "holds no artifacts" in r.stdout, r.stderr
