import os
import stat
import subprocess
import sys
from pathlib import Path

from helpers import rez, rezwheel, tree, unwritable_repo


def _data(path: str, name: str):
    from rez.packages import iter_packages
    return {str(p.version): {k: (str(v) if k == "commands" else v)
                             for k, v in p.validated_data().items() if k not in ("base", "repository")}
            for p in iter_packages(name, paths=[path])}


def test_round_trip_restores_definitions_and_trees(sample_repo, wheels, tmp_path):
    repo = tmp_path / "repo"
    rezwheel("install", *sorted(wheels.glob("*.whl")), "--into", repo)
    families = [d.name for d in sample_repo.iterdir() if d.is_dir()]
    for fam in families:
        assert _data(str(repo), fam) == _data(str(sample_repo), fam), fam
    for pkg in ("pyutil/1.2.0", "sitedata/2023.01", "multitool/2.1.0", "mayaplug/1.3.0",
                "tabulate/0.9.0", "relfam/1.0.0.rc1", "localtools", "yamlpkg/0.5.0"):
        a, b = tree(sample_repo / pkg), tree(repo / pkg)
        assert a == b, pkg
    lt = tree(repo / "sitedata/2023.01")
    assert lt["data/current"] == ("link", "v1") and lt["cache/empty"] == ("dir",)
    assert lt["scripts/sitedata-info"][1] is True
    assert (repo / "sitedata/2023.01/data/v1/lenses.txt").read_bytes().endswith(b"focal 50")
    r = rez("env", "multitool", "python-3.11", "--", "pyutil", "--version", packages_path=str(repo))
    assert r.returncode == 0 and r.stdout.strip() == "pyutil 1.2.0", r.stderr
    r = rez("env", "sitedata", "--", "sitedata-info", packages_path=str(repo))
    assert r.stdout.strip() == f"sitedata at {repo}/sitedata/2023.01", r.stderr


def test_second_variant_beside_first_present_noop_and_conflicts(wheels, tmp_path):
    repo = tmp_path / "repo"
    v1, v0 = wheels / "multitool-2.1.0-cp311-cp311-linux_x86_64.whl", \
        wheels / "multitool-2.1.0-cp39-cp39-linux_x86_64.whl"
    assert "installed" in rezwheel("install", v1, "--into", repo).stdout
    text = (repo / "multitool/2.1.0/package.py").read_text()
    assert "python-3.11" in text and "python-3.9" not in text
    rezwheel("install", v0, "--into", repo)
    text = (repo / "multitool/2.1.0/package.py").read_text()
    assert text.index("python-3.9") < text.index("python-3.11")  # original variant order
    assert rezwheel("install", v0, "--into", repo).stdout.startswith("present")
    # a different definition under the same name and version
    other = tmp_path / "other" / "multitool" / "2.1.0"
    other.mkdir(parents=True)
    (other / "package.py").write_text("name = 'multitool'\nversion = '2.1.0'\ndescription = 'x'\n")
    out = tmp_path / "w"
    rezwheel("convert", other, "-o", out)
    (w,) = out.glob("*.whl")
    r = rezwheel("install", w, "--into", repo, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"rezwheel: error: {repo}/multitool/2.1.0/package.py: a different "
                                "definition of multitool-2.1.0 is already installed (use --force)")
    assert "replaced" in rezwheel("install", w, "--into", repo, "--force").stdout
    assert not [p for p in (repo / "multitool").iterdir() if p.name.startswith(".")]


def test_install_by_request_from_local_index(local_index, tmp_path):
    repo = tmp_path / "repo"
    r = rezwheel("install", "relfam==1.0.0.rc1", "--index", local_index, "--into", repo)
    assert (repo / "relfam/1.0.0.rc1/VERSION").read_text() == "1.0.0.rc1\n"
    assert sorted(os.listdir(repo / "relfam")) == ["1.0.0.rc1"], r.stdout
    r = rezwheel("install", "relfam==9.9", "--index", local_index, "--into", repo, check=False)
    assert r.returncode == 1 and r.stderr.strip() == (
        "rezwheel: error: cannot resolve relfam==9.9: Package could not be found: relfam==9.9")


def test_unwritable_repository(wheels, tmp_path):
    repo = unwritable_repo(tmp_path)
    r = rezwheel("install", wheels / "pyutil-1.2.0-py3-none-any.whl", "--into", repo, check=False)
    assert r.returncode == 1 and "cannot write to the repository" in r.stderr


def test_concurrent_variant_installs_keep_both(wheels, tmp_path):
    """Two processes installing the two variants of one package at once: both stay listed."""
    v0, v1 = wheels / "multitool-2.1.0-cp39-cp39-linux_x86_64.whl", \
        wheels / "multitool-2.1.0-cp311-cp311-linux_x86_64.whl"
    for round_ in range(6):
        repo = tmp_path / f"repo{round_}"
        procs = [subprocess.Popen([sys.executable, "-m", "rezwheel", "install", w, "--into", repo],
                                  stdout=subprocess.DEVNULL) for w in (v0, v1)]
        assert [p.wait() for p in procs] == [0, 0]
        text = (repo / "multitool/2.1.0/package.py").read_text()
        assert "python-3.9" in text and "python-3.11" in text, f"round {round_}: {text}"
        assert sorted(os.listdir(repo)) == [".rezwheel-locks", "multitool"]
