"""The convert flow in-process: ``convert_paths`` on the samples, without the CLI around it.

The CLI tests (``test_convert.py``) hold the contract a user sees; these hold the library's:
what the report says, that its files are the CLI's byte for byte, that a second run and a run
split among processes write the same bytes, that ``reuse`` passes over unchanged packages, and
what a ``VariantPlan`` decides before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from helpers import copy_samples
from rezwheel.artifact.identity import VariantId
from rezwheel.artifact.plan import PayloadItem, VariantPlan
from rezwheel.artifact.reuse import Reuse
from rezwheel import convert
from rezwheel.convert import NO_PAYLOAD, convert_paths
from rezwheel.rezrepo import scan


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir())}


def test_report_and_files_are_the_clis(sample_repo, wheels, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    report = convert_paths([str(sample_repo)], str(out), jobs=1)
    assert report.summary() == f"{len(report.converted)} converted, 0 skipped, 0 failed"
    assert not report.failed and not report.skipped and not report.bad_paths
    # one Converted per file, naming its variant and its digest
    assert sorted(os.path.basename(c.file) for c in report.converted) == sorted(os.listdir(out))
    for c in report.converted:
        assert hashlib.sha256(Path(c.file).read_bytes()).hexdigest() == c.sha256
        assert os.path.basename(c.file).startswith(c.id.name.replace("-", "_") + "-")
    assert {(c.id.name, c.id.index) for c in report.converted} >= {
        ("ghostvar", 0), ("ghostvar", 1), ("pyutil", None)}
    assert report.dists["pyutil"] == "pyutil"
    # ``convert --json`` records: the documented keys, in order, whatever the type holds
    (ghost,) = [c for c in report.converted if c.id.name == "ghostvar" and c.id.index == 1]
    assert ghost.as_json() == {"rez_name": "ghostvar", "rez_version": "0.1.0",
                               "variant_index": 1, "file": ghost.file, "sha256": ghost.sha256}
    assert list(ghost.as_json()) == ["rez_name", "rez_version", "variant_index", "file", "sha256"]
    # the CLI (the ``wheels`` fixture) wrote the same bytes from the same packages
    assert digests(out) == digests(wheels)
    # a variant whose root is missing converts with an empty payload, and is said once
    assert [line.split(": ")[1] for line in report.notices[NO_PAYLOAD]] == [
        "variant 0 has no directory " + str(sample_repo / "ghostvar/0.1.0/maya-2024"),
        "variant 1 has no directory " + str(sample_repo / "ghostvar/0.1.0/maya-2025")]
    assert report.warnings() == report.notices[NO_PAYLOAD]


def test_reproducible_across_runs_copies_and_processes(sample_repo, tmp_path, monkeypatch):
    first, second, split = (tmp_path / n for n in ("first", "second", "split"))
    for d in (first, second, split):
        d.mkdir()
    convert_paths([str(sample_repo)], str(first), jobs=1)
    # another copy of the samples, converted again (paths and times differ, bytes do not)
    other = copy_samples(tmp_path / "copy" / "packages")
    convert_paths([str(other)], str(second), jobs=1)
    # split by family among two processes and the reports merged (the samples are below the
    # size worth splitting: lower it)
    splits = []

    def shards(paths, n):
        splits.append(scan.shards(paths, n, at_least=1))
        return splits[-1]

    monkeypatch.setattr(convert, "shards", shards)
    report = convert_paths([str(other)], str(split), jobs=2)
    assert len(splits) == 1 and len(splits[0]) == 2
    assert digests(first) == digests(second) == digests(split)
    assert not report.failed and len(report.converted) == len(digests(split))


def test_sidecars_hold_each_wheels_metadata(sample_repo, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    report = convert_paths([str(sample_repo)], str(out), jobs=1, sidecars=True)
    for c in report.converted:
        with zipfile.ZipFile(c.file) as z:
            (name,) = [n for n in z.namelist()
                       if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
            assert Path(c.file + ".metadata").read_bytes() == z.read(name)


def test_reuse_passes_over_unchanged_packages(sample_repo, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    store = str(tmp_path / "store")

    def present(name: str, sha256: str) -> bool:
        p = out / name
        return p.exists() and hashlib.sha256(p.read_bytes()).hexdigest() == sha256

    reuse = Reuse(store, str(out), "settings", present)
    first = convert_paths([str(sample_repo)], str(out), reuse=reuse, jobs=1)
    reuse.save()
    again = convert_paths([str(sample_repo)], str(out), jobs=1,
                          reuse=Reuse(store, str(out), "settings", present))
    assert not again.converted and not again.failed
    assert sorted(again.reused) == sorted((os.path.basename(c.file), c.sha256)
                                          for c in first.converted)
    assert again.summary() == f"0 converted, {len(first.converted)} skipped, 0 failed"
    # a wheel the target lost is made again, the others still pass
    lost = first.converted[0]
    os.unlink(lost.file)
    third = convert_paths([str(sample_repo)], str(out), jobs=1,
                          reuse=Reuse(store, str(out), "settings", present))
    assert {c.id.name for c in third.converted} == {lost.id.name}
    assert hashlib.sha256(Path(lost.file).read_bytes()).hexdigest() == lost.sha256


def test_broken_package_reported_the_others_converted(sample_repo, tmp_path):
    repo = copy_samples(tmp_path / "packages")
    (repo / "pyutil" / "1.2.0" / "package.py").write_text("name = 'pyutil'\nversion = 1.2.0\n")
    out = tmp_path / "out"
    out.mkdir()
    report = convert_paths([str(repo), str(tmp_path / "nothing-here")], str(out), jobs=1)
    (failed,) = report.failed
    assert failed.startswith(str(repo / "pyutil" / "1.2.0" / "package.py"))
    (bad,) = report.bad_paths
    assert str(tmp_path / "nothing-here") in bad
    assert report.converted and not any(c.id.name == "pyutil" for c in report.converted)
    assert sorted(os.listdir(out)) == sorted(os.path.basename(c.file) for c in report.converted)


def test_variant_plan_decides_names_placement_and_wheel_file():
    plan = VariantPlan(
        variant=VariantId("my-tool", "1.0", 1), requires=("python-3.11",), dist="my-tool",
        version="1.0", tags="py3-none-any", build="1", compiled=False, root="/r", missing=False,
        items=(PayloadItem("bin/tool", "file", 0o755), PayloadItem("data/x.txt", "file"),
               PayloadItem("empty", "dir"), PayloadItem("python/mytool/__init__.py", "file"),
               PayloadItem("python/mytool-1.0.dist-info/METADATA", "file")),
        py_dirs=("python",), bin_dirs=("bin",))
    assert plan.stem == "my_tool-1.0"
    assert plan.filename == "my_tool-1.0-1-py3-none-any.whl"
    share = "my_tool-1.0.data/data/share/rez/my-tool"
    assert plan.placement() == {
        "bin/tool": "my_tool-1.0.data/scripts/tool",
        "data/x.txt": f"{share}/data/x.txt",
        "python/mytool/__init__.py": "mytool/__init__.py",
        # a payload's own .dist-info would read as the wheel's: kept as data
        "python/mytool-1.0.dist-info/METADATA": f"{share}/python/mytool-1.0.dist-info/METADATA"}
    wheel = plan.wheel_file()
    assert "Root-Is-Purelib: true\nTag: py3-none-any\nBuild: 1\n" in wheel
    metadata = plan.metadata({"description": "A  tool\n", "requires": ["pyutil-1.2+"]},
                             "name = 'my-tool'\n")
    assert metadata.startswith("Metadata-Version: 2.1\nName: my-tool\nVersion: 1.0\n"
                               "Summary: A tool\n")
    assert "Requires-Python: " in metadata and "Requires-Dist: pyutil>=1.2" in metadata
    assert "# rez package `my-tool` version `1.0` (variant 1)" in metadata
    assert "```python\nname = 'my-tool'\n```\n" in metadata
