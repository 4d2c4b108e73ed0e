"""A packages_path entry a person got wrong is one line from `rez env`, saying what to do: a URL
that $REZ_PACKAGES_PATH cut at its colons (the first thing a TD tries), and one no URL parser
reads (which was a traceback out of the repository's constructor)."""

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
