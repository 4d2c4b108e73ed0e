import hashlib
import re
import shutil

from helpers import rezwheel


def test_pages_hashes_and_metadata_sidecars(local_index, wheels):
    page = (local_index / "simple" / "relfam" / "index.html").read_text()
    links = re.findall(r'href="\.\./\.\./files/([^"#]+)#sha256=([0-9a-f]{64})"', page)
    assert sorted(links) == sorted((p.name, hashlib.sha256(p.read_bytes()).hexdigest())
                                   for p in wheels.glob("relfam-*.whl"))
    assert page.count('data-core-metadata="sha256=') == 4
    assert (local_index / "files" / "relfam-1.0.0+rc.1-py3-none-any.whl.metadata").read_text() \
        .startswith("Metadata-Version: 2.1\nName: relfam\nVersion: 1.0.0+rc.1\n")
    root = (local_index / "simple" / "index.html").read_text()
    assert 'href="multitool/"' in root


def test_republish_is_a_noop_and_changed_file_refused(local_index, wheels, tmp_path):
    before = {p.name: p.stat().st_mtime_ns for p in (local_index / "files").iterdir()}
    r = rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", local_index, "--json")
    import json
    assert {x["status"] for x in json.loads(r.stdout)} == {"skipped"}
    assert before == {p.name: p.stat().st_mtime_ns for p in (local_index / "files").iterdir()}
    changed = tmp_path / "pyutil-1.2.0-py3-none-any.whl"
    shutil.copy(wheels / changed.name, changed)
    with open(changed, "ab") as fh:
        fh.write(b"\0")
    r = rezwheel("publish", changed, "--to", local_index, check=False)
    assert r.returncode == 1
    assert re.search(r"already holds a different file under this name \(index sha256 [0-9a-f]{64}, "
                     r"new sha256 [0-9a-f]{64}\)", r.stderr)


def test_publish_rez_directories_directly(sample_repo, tmp_path):
    r = rezwheel("publish", sample_repo / "relfam", "--to", tmp_path / "idx")
    assert r.stdout.count("uploaded") == 4
    assert not list((tmp_path / "idx" / "files").glob(".rezwheel-*"))


def test_family_order_break_refused(tmp_path):
    for v in ("1.0.rc1", "1.0.RC1"):
        d = tmp_path / "repo" / "fam" / v
        d.mkdir(parents=True)
        (d / "package.py").write_text(f"name = 'fam'\nversion = '{v}'\n")
    r = rezwheel("publish", tmp_path / "repo", "--to", tmp_path / "idx", check=False)
    assert r.returncode == 1 and "rez orders" in r.stderr and "but PEP 440 orders" in r.stderr
