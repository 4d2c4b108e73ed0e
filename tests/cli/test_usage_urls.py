"""Index URLs that can never work, and config-file mistakes, are usage mistakes: one line naming
what is at fault, exit 2, before any work. An ``ftp://`` index, one with no host or a port of
99999 used to fail once the work had begun (exit 1), naming a page derived from the URL
(``ftp://x/python/``), or not at all (``install`` with everything installed already exited 0);
a broken config file was said as a mistake of ``--index`` (``--index /some/afile: cannot read
the config file``), and ``$REZWHEEL_CONFIG`` naming a directory said ``[Errno 21]``."""

from __future__ import annotations

import os

import pytest

from helpers import ROOT, env, rezwheel

PYUTIL = str(ROOT / "samples" / "packages" / "pyutil")
BAD_URLS = [("ftp://x/", "unsupported URL scheme 'ftp'"),
            ("FTP://u:s3cr3t-pw@x/", "unsupported URL scheme 'FTP'"),
            ("http://", "names no host"),
            ("https:///simple/", "names no host"),
            ("http://127.0.0.1:99999/simple/", "port"),
            ("http://127.0.0.1:0/simple/", "port"),
            ("http://[::1/simple/", "not a URL"),
            ("http://u:s3cr3t-pw@h:99999/", "port")]
#: every option that takes an index or a target URL, on every command that has it
COMMANDS = [("--index", ["install", "multitool", "--into", "{t}/repo", "--index", "{u}"]),
            ("--index", ["install", "multitool", "--into", "{t}/repo", "--index", "{idx}",
                         "--index", "{u}"]),
            ("--index", ["lock", "multitool", "--index", "{u}", "-o", "{t}/pylock.toml"]),
            ("--index", ["export", "multitool", "--index", "{u}", "--venv", "{t}/v"]),
            ("--from", ["mirror", "sync", "--from", "{u}", "--to", "{t}/m"]),
            ("--to", ["publish", PYUTIL, "--to", "{u}"])]


def _one_line(r) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.mark.parametrize("url,said", BAD_URLS, ids=[u for u, _ in BAD_URLS])
@pytest.mark.parametrize("option,args", COMMANDS,
                         ids=["install", "install 2nd", "lock", "export", "mirror", "publish"])
def test_an_index_url_that_can_never_work(local_index, tmp_path, url, said, option, args):
    work = tmp_path / "work"
    work.mkdir()
    args = [a.format(t=work, idx=local_index, u=url) for a in args]
    r = rezwheel(*args, check=False, cwd=work, env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    line = _one_line(r)
    shown = url.replace("u:s3cr3t-pw@", "***@")  # user information is never said
    assert line.startswith(f"rezwheel: error: {option} {shown}: ") and said in line, line
    assert "s3cr3t-pw" not in r.stderr + r.stdout
    assert os.listdir(work) == [] and not (tmp_path / "store").exists()


def test_install_with_everything_installed_still_refuses_a_url_without_a_host(
        local_index, tmp_path):
    """Nothing to fetch, so nothing read the index: it exited 0."""
    e = env(REZWHEEL_STORE=str(tmp_path / "store"))
    rezwheel("install", "multitool", "--into", tmp_path / "repo", "--index", local_index, env=e)
    r = rezwheel("install", "multitool", "--into", tmp_path / "repo", "--index", "http://",
                 check=False, env=e)
    assert _one_line(r) == "rezwheel: error: --index http://: the URL names no host"


def test_a_configured_index_url_that_can_never_work_names_the_config_file(tmp_path):
    cfg = tmp_path / "rezwheel.toml"
    cfg.write_text('[index.a]\nindex-url = "ftp://h/simple/"\n'
                   '[index.b]\nurls = ["http://h:0/"]\n[index.c]\nupload-url = "gopher://h/"\n')
    e = env(REZWHEEL_CONFIG=str(cfg), REZWHEEL_STORE=str(tmp_path / "store"))
    for args, name in [
            (["install", "multitool", "--into", tmp_path / "repo", "--index", "a"], "a"),
            (["lock", "multitool", "--index", "b", "-o", tmp_path / "pylock.toml"], "b"),
            (["publish", PYUTIL, "--to", "c"], "c")]:
        line = _one_line(rezwheel(*args, check=False, env=e))
        assert line.startswith(f"rezwheel: error: {cfg}: index {name!r}: "), line
    assert sorted(os.listdir(tmp_path)) == ["rezwheel.toml"]


@pytest.mark.parametrize("how", ["--config", "$REZWHEEL_CONFIG"])
def test_a_config_file_no_toml_reads_is_its_mistake_not_the_index_option(local_index, tmp_path,
                                                                          how):
    cfg = tmp_path / "afile"
    cfg.write_text("x y\n")
    args = ["install", "multitool", "--into", tmp_path / "repo", "--index", local_index]
    if how == "--config":
        r = rezwheel("--config", cfg, *args, check=False, env=env())
    else:
        r = rezwheel(*args, check=False, env=env(REZWHEEL_CONFIG=str(cfg)))
    line = _one_line(r)
    assert line.startswith(f"rezwheel: error: {cfg}: cannot read the config file: "), line
    assert "--index" not in line


def test_rezwheel_config_naming_a_directory_says_so(local_index, tmp_path):
    """As ``--config DIR`` does (it said ``[Errno 21] Is a directory``, as a ``--index`` one)."""
    r = rezwheel("install", "multitool", "--into", tmp_path / "repo", "--index", local_index,
                 check=False, env=env(REZWHEEL_CONFIG=str(tmp_path)))
    assert _one_line(r) == \
        f"rezwheel: error: $REZWHEEL_CONFIG {tmp_path}: is a directory, not a file"


def test_a_config_value_of_the_wrong_kind_names_the_file_and_key(local_index, tmp_path):
    cfg = tmp_path / "cfg2.toml"
    cfg.write_text(f'[index.studio]\nindex-url = "{local_index}"\ntype = "local"\nttl = "5"\n')
    r = rezwheel("install", "multitool", "--into", tmp_path / "repo", "--index", "studio",
                 check=False, env=env(REZWHEEL_CONFIG=str(cfg)))
    assert _one_line(r) == (f"rezwheel: error: {cfg}: index 'studio': ttl must be a number of "
                            "seconds, not str")
