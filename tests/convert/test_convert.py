import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile

from packaging.utils import parse_wheel_filename

from helpers import copy_samples, rezwheel


def _names(d):
    return sorted(p.name for p in d.glob("*.whl"))


def test_every_sample_passes_twine_check_strict(wheels):
    files = sorted(map(str, wheels.glob("*.whl")))
    assert len(files) >= 20
    r = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_conversion_is_reproducible_after_touch(sample_repo, tmp_path):
    src = copy_samples(tmp_path / "src")
    rezwheel("convert", src, "-o", tmp_path / "a")
    later = time.time() + 2  # every time changes (no waiting for the clock to move)
    for dirpath, dirs, files in os.walk(src):
        for n in dirs + files:
            os.utime(os.path.join(dirpath, n), (later, later), follow_symlinks=False)
    rezwheel("convert", src, "-o", tmp_path / "b")
    a = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "a").glob("*.whl")}
    b = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "b").glob("*.whl")}
    assert a == b and a


def test_tags_and_file_names(wheels):
    names = _names(wheels)
    assert "multitool-2.1.0-cp39-cp39-linux_x86_64.whl" in names
    assert "multitool-2.1.0-cp311-cp311-linux_x86_64.whl" in names
    assert "pyutil-1.2.0-py3-none-any.whl" in names
    maya = [n for n in names if n.startswith("mayaplug-")]
    assert len(maya) == 2 and len({parse_wheel_filename(n)[2] for n in maya}) == 2  # build tags
    assert "tabulate-0.9.0-py3-none-any.whl" in names  # rez-pip package keeps its PyPI name
    assert {n for n in names if n.startswith("relfam-")} == {
        "relfam-1.0-py3-none-any.whl", "relfam-1.0.0-py3-none-any.whl",
        "relfam-1.0.0+rc.1-py3-none-any.whl", "relfam-1.0.1-py3-none-any.whl"}


def test_metadata_carries_definition_and_no_build_paths(wheels, sample_repo):
    with zipfile.ZipFile(wheels / "multitool-2.1.0-cp39-cp39-linux_x86_64.whl") as z:
        meta = z.read("multitool-2.1.0.dist-info/METADATA").decode()
        definition = z.read("multitool-2.1.0.dist-info/rez-package.py").decode()
        names = z.namelist()
    assert "Requires-Python: ==3.9.*" in meta
    assert "Requires-Dist: pyutil>=1.2,<2" in meta
    assert definition in meta  # PEP 658 readers get the definition from METADATA alone
    assert names[-1].endswith("/RECORD") and all(".dist-info/" in n for n in names[-5:])
    for w in wheels.glob("*.whl"):
        with zipfile.ZipFile(w) as z:
            text = b"".join(z.read(n) for n in z.namelist() if ".dist-info/" in n)
        assert str(sample_repo).encode() not in text, w.name
        assert b"base = " not in text and b"repository = " not in text


def test_prefix_names_the_distribution_but_not_the_rez_package(sample_repo, tmp_path):
    r = rezwheel("convert", sample_repo / "pyutil", "-o", tmp_path, "--prefix", "studio-", "--json")
    import json
    (item,) = json.loads(r.stdout)
    assert os.path.basename(item["file"]) == "studio_pyutil-1.2.0-py3-none-any.whl"
    assert (item["rez_name"], item["rez_version"], item["variant_index"]) == ("pyutil", "1.2.0", None)
    shutil.copy(item["file"], tmp_path / "studio_pyutil-9.9-py3-none-any.whl")
    info = rezwheel("inspect", tmp_path / "studio_pyutil-9.9-py3-none-any.whl", "--json")
    got = json.loads(info.stdout)
    assert (got["rez_name"], got["rez_version"]) == ("pyutil", "1.2.0")  # embedded, not the name


def test_missing_variant_root_warns_once_per_variant(sample_repo, tmp_path):
    r = rezwheel("convert", sample_repo / "ghostvar", "-o", tmp_path)
    assert r.stderr.count("has no directory") == 2
    assert len(_names(tmp_path)) == 2


def test_path_without_package(tmp_path):
    (tmp_path / "empty").mkdir()
    r = rezwheel("convert", tmp_path / "empty", "-o", tmp_path / "out", check=False)
    assert r.returncode != 0
    assert r.stderr.strip() == f"rezwheel: error: {tmp_path / 'empty'}: no rez package found"
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_broken_packages_reported_each_others_converted(sample_repo, tmp_path):
    repo = copy_samples(tmp_path / "repo")
    (repo / "pyutil" / "1.3.0").mkdir()
    (repo / "pyutil" / "1.3.0" / "package.py").write_text("name = 'pyutil'\nversion = '1.3.0'\ndef (:\n")
    (repo / "badattr" / "1.0").mkdir(parents=True)
    (repo / "badattr" / "1.0" / "package.py").write_text("name = 'badattr'\nversion = '1.0'\nrequires = 5\n")
    out = tmp_path / "out"
    r = rezwheel("convert", repo, "-o", out, check=False)
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("rezwheel: error:")]
    assert len(errors) == 2
    assert any("pyutil/1.3.0/package.py" in e for e in errors)
    assert any("badattr/1.0/package.py" in e for e in errors)
    assert "pyutil-1.2.0-py3-none-any.whl" in _names(out)
    assert not [p for p in out.iterdir() if not p.name.endswith(".whl")]  # no temp files left


def test_identical_variants_refused(tmp_path):
    pkg = tmp_path / "repo" / "dupe" / "1.0"
    pkg.mkdir(parents=True)
    (pkg / "package.py").write_text(
        "name = 'dupe'\nversion = '1.0'\nvariants = [['python-3.11'], ['python-3.11']]\n")
    r = rezwheel("convert", pkg, "-o", tmp_path / "out", check=False)
    assert r.returncode != 0
    assert "variants 0 and 1 would both produce dupe-1.0-py311-none-any.whl" in r.stderr
    assert not list(tmp_path.glob("out/*"))


def test_two_families_one_distribution_refused(tmp_path):
    for name in ("foo_bar", "foo.bar"):
        d = tmp_path / "repo" / name / "1.0"
        d.mkdir(parents=True)
        (d / "package.py").write_text(f"name = '{name}'\nversion = '1.0'\n")
    r = rezwheel("convert", tmp_path / "repo", "-o", tmp_path / "out", check=False)
    assert r.returncode != 0 and "both map to distribution 'foo-bar'" in r.stderr


def test_one_bad_path_does_not_stop_the_others(sample_repo, tmp_path):
    (tmp_path / "empty").mkdir()
    r = rezwheel("convert", tmp_path / "empty", sample_repo / "pyutil", "-o", tmp_path / "out",
                 check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == f"rezwheel: error: {tmp_path / 'empty'}: no rez package found"
    assert _names(tmp_path / "out") == ["pyutil-1.2.0-py3-none-any.whl"]
