"""`rezwheel install` as a host meets it: rez requests resolved over real indexes into a
filesystem rez repository, plain PyPI wheels (built here with `build` from small source trees)
turned into rez packages the way rez-pip does."""

import json
import os
import sys

from helpers import (ARTIFACTORY_TOKENS, env, families, host_repo, install, rez_env, rezwheel,
                     unwritable_repo)


def test_plain_wheels_become_rez_packages(pypi, tmp_path):
    repo = host_repo(tmp_path)
    r = install("markerapp", "--into", repo, "--index", pypi.url + "simple/", tmp_path=tmp_path)
    assert families(repo) == ["arch", "fast_ext", "markerapp", "platform", "pureapp",
                                        "python"], r.stdout
    # pure: no variants, payload under python/, the console script under bin/ for rez's python
    pure = (repo / "pureapp" / "1.0.2")
    text = (pure / "package.py").read_text()
    assert "variants" not in text and "python-3.8+" in text and "'pureapp'" in text
    assert "pip_name = 'pureapp (1.0.2)'" in text and "from_pip = True" in text
    assert (pure / "python" / "pureapp" / "data" / "greeting.txt").exists()
    assert (pure / "bin" / "pureapp").read_text().startswith("#!/usr/bin/env python\n")
    # binary: one hashed variant on platform/arch/python
    fast = (repo / "fast_ext" / "0.3" / "package.py").read_text()
    py = "%d.%d" % sys.version_info[:2]
    assert "hashed_variants = True" in fast and f"'python-{py}'" in fast, fast
    assert "'platform-linux'" in fast and "'arch-x86_64'" in fast
    # markers: the python one became a variant requirement, the never-true one is gone
    marker = (repo / "markerapp" / "2.0" / "package.py").read_text()
    assert "neverlib" not in marker and "pureapp-1.0+" in marker and f"python-{py}" in marker
    r = rez_env(repo, "markerapp", "--", "python", "-c", "import markerapp; print(markerapp.DEP)")
    assert r.stdout.strip() == "pureapp", r.stderr
    r = rez_env(repo, "pureapp", "--", "pureapp")
    assert r.stdout.strip() == "hello from pureapp data", r.stderr
    # installing what is present is a no-op, and says so
    r = install("markerapp", "--into", repo, "--index", pypi.url + "simple/", tmp_path=tmp_path)
    assert {ln.split()[0] for ln in r.stdout.splitlines()} == {"present"}, r.stdout


def test_mixed_request_dry_run_then_install(pypi, tmp_path):
    repo = host_repo(tmp_path)
    args = ["mixtool", "--into", repo, "--index", pypi.url + "simple/"]
    plan = json.loads(install(*args, "--dry-run", "--json", tmp_path=tmp_path).stdout)
    kinds = {p["package"].rsplit("-", 1)[0]: p["kind"] for p in plan}
    assert kinds == {"mixtool": "rezwheel", "markerapp": "pypi", "pureapp": "pypi",
                     "fast_ext": "pypi", "platform": "rezwheel", "arch": "rezwheel",
                     "python": "installed"}, plan
    assert all(p["status"] in ("install", "present") and p["sha256"] for p in plan
               if p["kind"] != "installed")
    assert sorted(os.listdir(repo)) == ["python"]  # a dry run writes nothing, not even locks
    assert not (tmp_path / "store" / "wheels").exists()  # nor downloads a payload
    install(*args, tmp_path=tmp_path)
    r = rez_env(repo, "mixtool", "--", "mixtool")
    assert r.stdout.strip() == "mixtool with pureapp fast", r.stderr


def test_wheel_files_on_the_command_line(plain_wheels, tmp_path):
    repo = host_repo(tmp_path)
    (pure,) = plain_wheels.glob("pureapp-*.whl")
    r = install(pure, "--into", repo, tmp_path=tmp_path)
    assert r.stdout.split()[0] == "installed"
    assert install(pure, "--into", repo, tmp_path=tmp_path).stdout.split()[0] == "present"
    r = rez_env(repo, "pureapp", "--", "pureapp")
    assert r.stdout.strip() == "hello from pureapp data", r.stderr


def test_unknown_package_names_the_indexes_tried(pypi, local_index, tmp_path):
    r = install("nosuchpkg", "--into", tmp_path / "repo", "--index", local_index, "--index",
                pypi.url + "simple/", tmp_path=tmp_path, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"rezwheel: error: nosuchpkg: no such package on {local_index}, "
                                f"{pypi.url}simple/ nor in {tmp_path / 'repo'}")


def test_unsatisfiable_plain_request_gives_pips_reason(pypi, tmp_path):
    repo = host_repo(tmp_path)
    r = install("pureapp>=9", "--into", repo, "--index", pypi.url + "simple/",
                tmp_path=tmp_path, check=False)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"rezwheel: error: pip could not resolve pureapp>=9 from {pypi.url}"
                               "simple/: Could not find a version that satisfies")
    assert "No matching distribution found for pureapp>=9" in r.stderr
    # a rez range on a plain project is pinned against the releases the index lists
    r = install("pureapp-9+", "--into", repo, "--index", pypi.url + "simple/",
                tmp_path=tmp_path, check=False)
    assert r.stderr == (f"rezwheel: error: pureapp-9+: no release of pureapp on {pypi.url}simple/ "
                        "is in that rez range (releases: 1.0.2)\n"), r.stderr


def test_unsatisfiable_request_gives_rez_conflict(local_index, tmp_path):
    r = install("pyutil-1.2", "!pyutil", "--into", tmp_path / "repo", "--index", local_index,
                tmp_path=tmp_path, check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("rezwheel: error: cannot resolve pyutil-1.2 !pyutil: ")
    assert "pyutil-1.2 <--!--> !pyutil" in r.stderr and len(r.stderr.splitlines()) == 1


def test_sha256_mismatch_is_refused_and_nothing_written(wheels, tmp_path):
    idx = tmp_path / "idx"
    rezwheel("publish", *sorted(wheels.glob("pyutil-*.whl")), "--to", idx)
    (published,) = (idx / "files").glob("pyutil-*.whl")
    data = bytearray(published.read_bytes())
    data[100] ^= 0xFF  # the file changes after the index listed its sha256
    published.write_bytes(bytes(data))
    repo = host_repo(tmp_path)
    r = install("pyutil", "--into", repo, "--index", idx, tmp_path=tmp_path, check=False)
    assert r.returncode == 1 and "does not match the index's" in r.stderr, r.stderr
    assert str(published) in r.stderr
    assert not (repo / "pyutil").exists() or not os.listdir(repo / "pyutil")


def test_unwritable_repository_fails_before_downloading(local_index, tmp_path):
    repo = unwritable_repo(tmp_path)
    r = install("pyutil", "--into", repo, "--index", local_index, tmp_path=tmp_path, check=False)
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"rezwheel: error: {repo}: cannot write to the repository")


def test_pip_install_remaps_decide_where_data_files_go(plain_wheels, tmp_path):
    (wheel,) = plain_wheels.glob("datapkg-*.whl")
    repo = tmp_path / "repo"
    r = install(wheel, "--into", repo, tmp_path=tmp_path, check=False)
    assert r.returncode == 1 and r.stderr.strip() == (
        f"rezwheel: error: {wheel}: no pip_install_remaps rule (rez config) places "
        "../../share/datapkg/notes.txt")
    assert not (repo / "datapkg" / "0.1").exists()
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text("pip_install_remaps = [{'record_path': r'^{p}{s}{p}{s}share{s}(.*)', "
                   "'pip_install': r'\\1', 'rez_install': r'share{s}\\1'}]\n")
    rezwheel("install", wheel, "--into", repo,
             env=env(REZ_CONFIG_FILE=str(cfg), REZWHEEL_STORE=str(tmp_path / "store")))
    assert (repo / "datapkg/0.1/share/datapkg/notes.txt").read_text() == "shared notes\n"
    assert (repo / "datapkg/0.1/python/datapkg/__init__.py").exists()


def test_install_from_artifactory_with_a_token(artifactory, wheels, plain_wheels, tmp_path):
    """Anonymous reads get 404 there: our reads and pip's both need the token."""
    token = ARTIFACTORY_TOKENS[1]
    (pure,) = plain_wheels.glob("pureapp-*.whl")
    rezwheel("publish", wheels / "pyutil-1.2.0-py3-none-any.whl",
             wheels / "python-3.11-py3-none-any.whl", pure, "--allow-foreign-name",
             "--to", artifactory.url, env=env(REZWHEEL_TOKEN=token))
    repo = tmp_path / "repo"
    r = rezwheel("install", "pyutil", "pureapp", "--into", repo, "--index",
                 artifactory.url + "/simple/", "--json",
                 env=env(REZWHEEL_TOKEN=token, REZWHEEL_STORE=str(tmp_path / "s")))
    plan = json.loads(r.stdout)
    assert {p["package"]: p["status"] for p in plan} == {
        "pyutil-1.2.0": "installed", "python-3.11": "installed", "pureapp-1.0.2": "installed"}
    assert token not in r.stdout + r.stderr
    assert (repo / "pyutil" / "1.2.0" / "bin" / "pyutil").exists()
    text = (repo / "pureapp" / "1.0.2" / "package.py").read_text()
    assert f"'index': '{artifactory.url}/simple/'" in text and token not in text


def test_python_picks_the_variant_and_no_deps_installs_the_request_only(local_index, tmp_path):
    plan = json.loads(install("multitool", "--python", "3.9", "--into", tmp_path / "repo",
                              "--index", local_index, "--dry-run", "--json",
                              tmp_path=tmp_path).stdout)
    files = {p["package"]: p["file"] for p in plan}
    assert files["multitool-2.1.0"] == "multitool-2.1.0-cp39-cp39-linux_x86_64.whl"
    assert files["python-3.9"] == "python-3.9-py3-none-any.whl" and "pyutil-1.2.0" in files
    install("multitool", "--no-deps", "--into", tmp_path / "repo", "--index", local_index,
            tmp_path=tmp_path)
    assert families(tmp_path / "repo") == ["multitool"]
    assert "python-3.9" in (tmp_path / "repo/multitool/2.1.0/package.py").read_text()


def test_requirement_names_follow_the_families_spelling(pypi, tmp_path):
    repo = host_repo(tmp_path)
    install("caseapp", "--into", repo, "--index", pypi.url + "simple/", tmp_path=tmp_path)
    text = (repo / "caseapp" / "0.2" / "package.py").read_text()
    assert "'pureapp-1.0+'" in text and "PureApp" not in text, text
    assert "pureapp" in families(repo)


def test_staging_left_by_a_killed_install_is_swept(pypi, tmp_path):
    """Ctrl-C does not wait for writers: their staging (a hidden name rez never lists) is
    swept by the next install of that package version, under its lock."""
    repo = host_repo(tmp_path)
    stale = repo / "pureapp" / ".rezwheel-tmp-pureapp+1.0.2+killed" / "root" / "python"
    stale.mkdir(parents=True)
    (stale / "half.py").write_text("x = ")
    install("pureapp", "--into", repo, "--index", pypi.url + "simple/", tmp_path=tmp_path)
    assert sorted(os.listdir(repo / "pureapp")) == ["1.0.2"]
