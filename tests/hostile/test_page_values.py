"""Values from an index page (sha256, file name, URL, JSON types) are validated where the page is
parsed: a bad link is skipped with one warning naming the page and the value, the rest of the
page still works, and nothing is written outside the store / repository / mirror."""

import pytest

from helpers.hostile import RELFAM
from .harness import Index, Reply

NEWEST = "relfam-1.0.1-py3-none-any.whl"


def escape(tmp_path, name):
    """A relative path that climbs out of any directory and lands in tmp_path/name."""
    return "../" * 24 + str(tmp_path).lstrip("/") + "/" + name


def _named(r, page, bad_value):
    """Warning lines naming the page and the bad link (its value, maybe shortened, or the
    file it was listed for)."""
    return [ln for ln in r.stderr.splitlines()
            if page in ln and (bad_value[:30] in ln or NEWEST in ln)]


def _entry_points_skip(run, index, tmp_path, bad_value, expect_files=None):
    """Plugin, install and mirror all work around the bad link and name it once."""
    loc = [f"artifactory@{index.url}"]
    page = index.url + "relfam/"
    r = run.rez(loc, "search", "relfam")
    assert r.returncode == 0, str(r)
    assert "relfam-1.0.0" in r.stdout.split(), str(r)
    assert len(_named(r, page, bad_value)) == 1, str(r)
    r = run.rez(loc, "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() in ("1.0.0", "1.0.0.rc1", "1.0"), str(r)
    repo = tmp_path / "repo"
    r = run.rezwheel("install", "relfam", "--into", repo, "--index", index.url)
    assert r.returncode == 0, str(r)
    assert not (repo / "relfam" / "1.0.1").exists()
    assert len(_named(r, page, bad_value)) == 1, str(r)
    mirror = tmp_path / "mirror"
    r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", mirror)
    assert r.returncode == 0, str(r)
    got = sorted(p.name for p in (mirror / "files").iterdir() if p.suffix == ".whl")
    assert got == sorted(expect_files or [n for n in RELFAM if n != NEWEST] + [
        "python-3.11-py3-none-any.whl", "python-3.9-py3-none-any.whl",
        "pyutil-1.2.0-py3-none-any.whl", "sitedata-2023+x0.2e3031-py3-none-any.whl"]), str(r)


@pytest.mark.parametrize("bad", ["../../CANARY-sha/usercustomize", "ESCAPE", "abc",
                                 "0" * 63, "0" * 65, "g" * 64, "0" * 62 + "/x"])
def test_page_sha256_must_be_64_hex(run, index, tmp_path, bad):
    if bad == "ESCAPE":
        bad = escape(tmp_path, "CANARY-sha")
    index.entry(NEWEST).sha256 = bad
    index.publish()
    _entry_points_skip(run, index, tmp_path, bad)


def test_json_hashes_sha256_must_be_64_hex(run, json_index, tmp_path):
    bad = escape(tmp_path, "usercustomize")
    json_index.entry(NEWEST).sha256 = bad
    json_index.publish()
    _entry_points_skip(run, json_index, tmp_path, bad)


def test_upper_case_sha256_is_accepted(run, index, tmp_path):
    e = index.entry(NEWEST)
    e.sha256 = e.sha256.upper()
    index.publish()
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url)
    assert r.returncode == 0 and (tmp_path / "repo" / "relfam" / "1.0.1").is_dir(), str(r)


def test_a_directory_named_by_a_fake_sha_is_not_a_root(run, index, tmp_path):
    """A fake sha that names an existing directory must not become a variant root."""
    victim = tmp_path / "victim"
    (victim / "bin").mkdir(parents=True)
    bad = "../../victim"
    index.entry(NEWEST).sha256 = bad
    index.publish()
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam-1.0.1", "--", "printenv",
                "REZ_RELFAM_ROOT")
    assert r.returncode != 0, str(r)
    assert str(victim) not in r.stdout


# -- file names -----------------------------------------------------------------------------------
def _bad_names(tmp_path):
    return {
        "dotdot": "../../CANARY-up-1.0.1-py3-none-any.whl",
        "escape": escape(tmp_path, "CANARY-rel-1.0.1-py3-none-any.whl"),
        "absolute": str(tmp_path / "CANARY-abs-1.0.1-py3-none-any.whl"),
        "backslash": "..\\..\\CANARY-bs-1.0.1-py3-none-any.whl",
        "hidden": ".relfam-1.0.1-py3-none-any.whl",
        "nul": "relfam-1.0.1-py3-none-any.whl\x00.txt",
        "not-a-wheel": "relfam-1.0.1.exe",
    }


@pytest.mark.parametrize("kind", ["dotdot", "escape", "absolute", "backslash", "hidden",
                                  "not-a-wheel"])
def test_link_text_file_name_must_be_a_plain_wheel_name(run, index, tmp_path, kind):
    bad = _bad_names(tmp_path)[kind]
    e = index.entry(NEWEST)
    e.filename = bad  # link text; the href still serves the real wheel
    index.publish()
    _entry_points_skip(run, index, tmp_path, bad)


def test_href_file_name_with_encoded_slashes(run, index, tmp_path):
    """No link text: the name comes from the href, whose %2F must not become a path."""
    e = index.entry(NEWEST)
    bad_path = "/files/..%2F..%2FCANARY-href-1.0.1-py3-none-any.whl"
    e.href, e.text = bad_path, ""
    index.publish()
    index.server.routes["/files/..%2F..%2FCANARY-href-1.0.1-py3-none-any.whl"] = \
        Reply(200, {}, e.body, ranges=True)
    loc = [f"artifactory@{index.url}"]
    r = run.rez(loc, "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() != "1.0.1", str(r)
    r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", tmp_path / "mirror")
    assert r.returncode == 0, str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url)
    assert r.returncode == 0 and not (tmp_path / "repo" / "relfam" / "1.0.1").exists(), str(r)


@pytest.mark.parametrize("kind", ["dotdot", "escape", "absolute"])
def test_json_filename_must_be_a_plain_wheel_name(run, json_index, tmp_path, kind):
    bad = _bad_names(tmp_path)[kind]
    json_index.entry(NEWEST).filename = bad
    json_index.publish()
    _entry_points_skip(run, json_index, tmp_path, bad)


@pytest.mark.parametrize("kind", ["escape", "absolute"])
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_publish_owner_check_never_writes_a_page_file_name(run, srv, wheels, tmp_path, kind,
                                                           dry_run):
    """publish reads the project page first and downloads an existing file for its owner
    check: the page's file name must not choose where that file is written."""
    idx = Index(srv)
    e = idx.add(wheels / "relfam-1.0-py3-none-any.whl")
    e.filename = _bad_names(tmp_path)[kind]
    idx.publish()
    srv.routes["/"] = Reply(200, {"Content-Type": "text/plain"}, b"ok")
    r = run.rezwheel("publish", wheels / NEWEST, "--to", srv.url("/"),
                     *(["--dry-run"] if dry_run else []))
    assert "Traceback" not in r.stderr
    assert not list(tmp_path.rglob("CANARY*")), str(r)
    if dry_run:
        assert not srv.requests_to("/", "POST"), "a dry run uploaded"


# -- URLs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("href", ["javascript:alert(1)//relfam-1.0.2-py3-none-any.whl",
                                  "data:application/zip;base64,UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==",
                                  "file:///etc/passwd",
                                  "FILE", "ftp://127.0.0.1/relfam-1.0.2-py3-none-any.whl"])
def test_non_http_links_are_skipped(run, index, wheels, tmp_path, href):
    """A newer version whose link is not http(s): skipped, the family resolves to 1.0.1."""
    if href == "FILE":
        local = tmp_path / "local" / "relfam-1.0.2-py3-none-any.whl"
        local.parent.mkdir()
        local.write_bytes((wheels / NEWEST).read_bytes())
        href = f"file://{local}"
    e = index.add(wheels / NEWEST, filename="relfam-1.0.2-py3-none-any.whl")
    e.href = href
    e.metadata = None
    index.publish()
    loc = [f"artifactory@{index.url}"]
    r = run.rez(loc, "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url,
                     "--dry-run")
    assert r.returncode == 0 and "relfam-1.0.2" not in r.stdout, str(r)
    r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", tmp_path / "mirror")
    assert r.returncode == 0, str(r)
    assert not (tmp_path / "mirror" / "files" / "relfam-1.0.2-py3-none-any.whl").exists()


# -- PEP 691 JSON of the wrong types ---------------------------------------------------------------
@pytest.mark.parametrize("change", [
    {"hashes": 5}, {"hashes": ["sha256"]}, {"hashes": {"sha256": 5}}, {"filename": 5},
    {"filename": None}, {"url": None}, {"url": 7}, {"core-metadata": 7},
    {"core-metadata": {"sha256": ["x"]}}, {"requires-python": []}, {"upload-time": 5},
    {"yanked": {"x": 1}},
], ids=lambda c: "-".join(f"{k}={v!r}" for k, v in c.items()))
def test_json_entry_of_the_wrong_type_is_skipped(run, json_index, tmp_path, change):
    json_index.entry(NEWEST).extra_json = change
    json_index.publish()
    loc = [f"artifactory@{json_index.url}"]
    r = run.rez(loc, "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() in ("1.0.1", "1.0.0", "1.0.0.rc1", "1.0"), str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", json_index.url)
    assert r.returncode == 0, str(r)


@pytest.mark.parametrize("doc", [b'{"files": "x"}', b'{"files": [5, "x", null]}', b'[1, 2]',
                                 b'{"files": {"a": 1}}', b'not json at all', b'{"files": [{}]}'])
def test_malformed_json_page_is_one_line(run, json_index, srv, tmp_path, doc):
    srv.routes["/simple/relfam/"] = Reply(200, {"Content-Type": "application/vnd.pypi.simple.v1+json"},
                                          doc)
    loc = [f"artifactory@{json_index.url}"]
    r = run.rez(loc, "env", "relfam", "--", "true")
    assert r.returncode != 0, str(r)
    assert "Traceback" not in r.stderr
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", json_index.url)
    assert r.returncode == 1, str(r)
    errors = r.lines("rezwheel: error:")
    assert len(errors) == 1, str(r)
    # the other families of the index are unaffected
    r = run.rez(loc, "env", "pyutil", "--", "true")
    assert r.returncode == 0, str(r)
