"""The harness serves a valid index: every entry point works against it before any tampering."""

from helpers.hostile import RELFAM, TOKEN


def test_valid_index_works_everywhere(run, index, srv, tmp_path):
    loc = [f"artifactory@{index.url}"]
    r = run.rez(loc, "search", "relfam")
    assert r.returncode == 0 and r.stdout.split() == [
        "relfam-1.0", "relfam-1.0.0", "relfam-1.0.0.rc1", "relfam-1.0.1"], r
    r = run.rez(loc, "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", r
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url)
    assert r.returncode == 0 and (tmp_path / "repo" / "relfam" / "1.0.1" / "package.py").is_file(), r
    r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", tmp_path / "mirror")
    assert r.returncode == 0, r
    assert sorted(p.name for p in (tmp_path / "mirror" / "files").glob("relfam-*.whl")) == sorted(RELFAM)


def test_token_goes_to_the_index_only_as_auth(run, index, srv, tmp_path):
    loc = [f"artifactory@{index.url}"]
    r = run.rez(loc, "env", "relfam", "--", "printenv", "RELFAM_VERSION",
                env={"REZWHEEL_TOKEN": TOKEN})
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", r
    assert srv.log and all("authorization" in q.headers for q in srv.log)


def test_json_index_works(run, json_index, tmp_path):
    r = run.rez([f"artifactory@{json_index.url}"], "env", "relfam", "--", "printenv",
                "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", r
