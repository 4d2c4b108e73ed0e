"""A packages_path entry or a setting a person got wrong is one line from `rez env`, saying
what to do: a URL that $REZ_PACKAGES_PATH cut at its colons (the first thing a TD tries), one
no URL parser reads (which was a traceback out of the repository's constructor), a ttl that is
no number of seconds."""

from __future__ import annotations

import subprocess

import pytest

from helpers import BIN, env


def _rez_env(tmp_path, **kw) -> subprocess.CompletedProcess:
    e = env(REZWHEEL_STORE=str(tmp_path / "store"), REZ_QUIET="1", **kw)
    return subprocess.run([str(BIN / "rez"), "env", "multitool", "--", "true"],
                          capture_output=True, text=True, env=e, timeout=120)


def test_a_url_cut_by_rez_packages_path_says_why(tmp_path):
    r = _rez_env(tmp_path, REZ_PACKAGES_PATH="artifactory@http://127.0.0.1:9/simple/")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "artifactory@http: a URL cut at its first ':'" in r.stderr, r.stderr
    assert "packages_path in a rezconfig file" in r.stderr


@pytest.mark.parametrize("url", ["http://[::1/simple/", "http://user:pw-s3cr3t@[::1/simple/"])
def test_a_url_no_parser_reads_is_one_line(tmp_path, url):
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = ['artifactory@{url}']\n")
    r = _rez_env(tmp_path, REZ_CONFIG_FILE=str(cfg))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "PackageRepositoryError" in r.stderr and "pw-s3cr3t" not in r.stderr, r.stderr
    assert ("not a URL" in r.stderr) or ("credentials in a package path" in r.stderr), r.stderr


@pytest.mark.parametrize("ttl", ["abc", "-5", "300s", "nan", "inf"])
def test_a_ttl_that_is_no_number_of_seconds_is_one_line(local_index, tmp_path, ttl):
    """Was a 63-line traceback (abc, -5, 300s); nan and inf were taken (inf: a node that never
    looks at its index again)."""
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = ['artifactory@{local_index}']\n")
    r = _rez_env(tmp_path, REZ_CONFIG_FILE=str(cfg), REZWHEEL_TTL=ttl)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert f"$REZWHEEL_TTL: {ttl!r} is not a number of seconds" in r.stderr, r.stderr


def test_a_store_that_cannot_be_written(local_index, tmp_path):
    """A read-only or full store (a node's disk): a resolve still resolves, saying once that
    pages are not kept; localizing is one line naming the store (both were tracebacks)."""
    from helpers import unwritable_repo
    from helpers.servers import static_server

    store = unwritable_repo(tmp_path) / "store"
    server = static_server(local_index, tmp_path)
    try:
        cfg = tmp_path / "rezconfig.py"
        cfg.write_text(f"packages_path = ['artifactory@{server.url}simple/']\n")
        e = env(REZ_CONFIG_FILE=str(cfg), REZWHEEL_STORE=str(store), REZ_QUIET="1")
        r = subprocess.run([str(BIN / "rez"), "env", "multitool", "python-3.11", "--output",
                            str(tmp_path / "ctx.rxt")], capture_output=True, text=True, env=e,
                           timeout=120)
        assert r.returncode == 0 and (tmp_path / "ctx.rxt").is_file(), r.stderr
        assert r.stderr.count("cannot keep pages in the store") == 1, r.stderr
        r = subprocess.run([str(BIN / "rez"), "env", "multitool", "python-3.11", "--", "true"],
                           capture_output=True, text=True, env=e, timeout=120)
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert f"cannot localize into the store {store}" in r.stderr, r.stderr
    finally:
        server.stop()


def test_a_store_that_is_a_file_is_one_line_before_any_request(local_index, tmp_path):
    """$REZWHEEL_STORE naming a file: one line naming it, before anything is read (it was a
    whole resolve, a line that pages could not be kept, then the localizing failure)."""
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = ['artifactory@{local_index}']\n")
    afile = tmp_path / "afile"
    afile.write_text("")
    r = subprocess.run([str(BIN / "rez"), "env", "multitool", "--", "true"], capture_output=True,
                       text=True, timeout=120, env=env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1",
                                                       REZWHEEL_STORE=str(afile)))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    said = [x for x in r.stderr.splitlines() if str(afile) in x]
    assert len(said) == 1 and "is a file, not a directory" in said[0], r.stderr
