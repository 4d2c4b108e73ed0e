"""A cap on what an index may make rezwheel read (``rezwheel.limits``) set to something that is
not a positive number is refused on one line naming where it was set, by the CLI and by
``rez env`` through the plugin: a typo in a safety limit must not quietly become the default."""

from __future__ import annotations

import os
import subprocess

import pytest

from helpers import BIN, env, rezwheel


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1e999", "nan", "2.5",
                                   # int() takes these, a person reads them otherwise (or not)
                                   "1_000", " 5 ", "+5", "\u0665", "5\n"])
def test_the_cli_refuses_a_cap_that_is_no_positive_number(local_index, tmp_path, value):
    r = rezwheel("install", "multitool", "--into", tmp_path / "repo", "--index", local_index,
                 check=False, env=env(REZWHEEL_MAX_PAGE_BYTES=value,
                                      REZWHEEL_STORE=str(tmp_path / "store")))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "$REZWHEEL_MAX_PAGE_BYTES" in lines[0] \
        and "whole number" in lines[0] and repr(value) in lines[0], r.stderr
    assert not (tmp_path / "repo").exists()  # refused before anything was done


@pytest.mark.parametrize("value", ["'1_000'", "' 5'", "2.5", "'\u0665'"])
def test_a_whole_cap_in_the_config_file_in_plain_digits(tmp_path, value):
    """TOML's own numbers are typed; a string there is read as the environment's text is."""
    cfg = tmp_path / "rezwheel.toml"
    cfg.write_text(f"[limits]\nmax-page-links = {value}\n")
    r = rezwheel("cache", "ls", check=False, env=env(REZWHEEL_CONFIG=str(cfg),
                                                     REZWHEEL_STORE=str(tmp_path / "store")))
    assert r.returncode == 2 and "max-page-links under [limits]" in r.stderr, r.stderr
    cfg.write_text("[limits]\nmax-page-links = '1000'\nhttp-deadline = '2.5'\n")
    r = rezwheel("cache", "ls", check=False, env=env(REZWHEEL_CONFIG=str(cfg),
                                                     REZWHEEL_STORE=str(tmp_path / "store")))
    assert r.returncode == 0, r.stderr


def test_a_misspelt_cap_in_the_config_file_is_refused(tmp_path):
    """``max_page_bytes`` (underscores) or ``max-pages-bytes``: no such cap, said on one line
    (it was taken silently, and the cap stayed at its default)."""
    cfg = tmp_path / "rezwheel.toml"
    cfg.write_text("[limits]\nmax_page_bytes = 1000\n")
    r = rezwheel("cache", "ls", check=False, env=env(REZWHEEL_CONFIG=str(cfg),
                                                     REZWHEEL_STORE=str(tmp_path / "store")))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "'max_page_bytes' under [limits]" in lines[0] and "no such limit" in lines[0]


def test_a_cap_in_the_config_file_is_named_where_it_is(local_index, tmp_path):
    cfg = tmp_path / "rezwheel.toml"
    cfg.write_text('[limits]\nhttp-deadline = "soon"\n')
    r = rezwheel("install", "multitool", "--into", tmp_path / "repo", "--index", local_index,
                 check=False, env=env(REZWHEEL_CONFIG=str(cfg),
                                      REZWHEEL_STORE=str(tmp_path / "store")))
    assert r.returncode == 2 and "http-deadline under [limits]" in r.stderr, r.stderr
    # the environment wins over the file, and a fractional deadline is a number of seconds
    r = rezwheel("install", "multitool", "--into", tmp_path / "repo", "--index", local_index,
                 "--python", "3.11", check=False,
                 env=env(REZWHEEL_CONFIG=str(cfg), REZWHEEL_HTTP_DEADLINE="2.5",
                         REZWHEEL_STORE=str(tmp_path / "store")))
    assert r.returncode == 0, r.stderr


def test_rez_env_through_the_plugin_refuses_it_on_one_line(local_index, tmp_path):
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = ['artifactory@{local_index}']\n")
    e = env(REZ_CONFIG_FILE=str(cfg), REZWHEEL_STORE=str(tmp_path / "store"),
            REZWHEEL_MAX_PREFETCH="lots", REZ_QUIET="1")
    r = subprocess.run([str(BIN / "rez"), "env", "multitool", "python-3.11", "--", "true"],
                       capture_output=True, text=True, env=e, cwd=os.fspath(tmp_path))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "$REZWHEEL_MAX_PREFETCH: 'lots' is not a whole number above 0" in r.stderr, r.stderr


@pytest.mark.parametrize("variable,value", [("REZWHEEL_JOBS", "abc"), ("REZWHEEL_JOBS", "0"),
                                            ("SOURCE_DATE_EPOCH", "yesterday"),
                                            ("SOURCE_DATE_EPOCH", "-5"),
                                            ("REZWHEEL_TTL", "5m"), ("REZWHEEL_TTL", "nan"),
                                            ("REZWHEEL_MAX_UNPACKED", "lots"),
                                            ("REZWHEEL_JOBS", "1_0"), ("REZWHEEL_JOBS", "+2"),
                                            ("SOURCE_DATE_EPOCH", " 5"),
                                            ("SOURCE_DATE_EPOCH", "\u0661\u0660"),
                                            ("REZWHEEL_TTL", "1e3"), ("REZWHEEL_TTL", "3_0"),
                                            ("REZWHEEL_HTTP_DEADLINE", "\u0665"),
                                            ("REZWHEEL_HTTP_DEADLINE", "infinity")])
def test_other_numbers_from_the_environment_are_refused_alike(tmp_path, variable, value):
    """Before, ``SOURCE_DATE_EPOCH=yesterday`` failed every package with ``invalid literal for
    int()`` and ``REZWHEEL_JOBS=abc`` printed an internal error."""
    from helpers import ROOT

    r = rezwheel("convert", ROOT / "samples" / "packages", "-o", tmp_path / "w", check=False,
                 env=env(**{variable: value}))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"${variable}: {value!r} is not" in lines[0], r.stderr
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_named_index_ttl_that_is_no_number_of_seconds(local_index, tmp_path, value):
    """TOML writes nan and inf: an index that is never read again was taken quietly."""
    cfg = tmp_path / "rezwheel.toml"
    cfg.write_text(f'[index.studio]\nindex-url = "{local_index}"\ntype = "local"\n'
                   f"ttl = {value}\n")
    r = rezwheel("install", "multitool", "--into", tmp_path / "repo", "--index", "studio",
                 check=False, env=env(REZWHEEL_CONFIG=str(cfg),
                                      REZWHEEL_STORE=str(tmp_path / "store")))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "ttl must be a number of seconds" in r.stderr.strip().splitlines()[-1], r.stderr


def test_publish_with_a_store_it_cannot_write_still_publishes(tmp_path):
    """The store only keeps the record of what was converted (so the next publish converts
    less): one that cannot be written is said, and the publish that worked exits 0 (it said
    it failed, after uploading everything)."""
    from helpers import ROOT, unwritable_repo

    r = rezwheel("publish", ROOT / "samples" / "packages" / "pyutil", "--to", tmp_path / "idx",
                 check=False, env=env(REZWHEEL_STORE=str(unwritable_repo(tmp_path) / "store")))
    assert r.returncode == 0, r.stderr
    assert "cannot keep the record of what was converted" in r.stderr, r.stderr
    assert "uploaded" in r.stdout and (tmp_path / "idx" / "simple" / "index.html").is_file()


def test_a_local_index_named_with_a_url_says_so(tmp_path):
    """``type = "local"`` beside an http URL ended in 'family not found' from rez env."""
    cfg = tmp_path / "rezwheel.toml"
    cfg.write_text('[index.studio]\nindex-url = "http://127.0.0.1:9/simple/"\ntype = "local"\n')
    r = rezwheel("install", "multitool", "--into", tmp_path / "repo", "--index", "studio",
                 check=False, env=env(REZWHEEL_CONFIG=str(cfg),
                                      REZWHEEL_STORE=str(tmp_path / "store")))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "type 'local' is a directory" in r.stderr.strip().splitlines()[-1], r.stderr
