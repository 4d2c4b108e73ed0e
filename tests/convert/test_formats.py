"""Every format rez loads converts, and comes back identical through rez's own API.

A repository written the way a studio's is, over years: ``package.py`` and ``package.yaml``,
combined family files at the root (``versions`` plus ``version_overrides``), single-file
packages at the root, unversioned packages, ``@early`` / ``@late`` functions, config scopes,
timestamps, ``!`` / ``~`` requires in variants, hashed variants. Each goes convert -> publish
-> install by request into an empty repository, and rez's loader must see the same data (all
but the location keys) and, for each variant root, the same tree (caches excluded). Then the
edges of bulk runs: bytecode, links that leave the root, summaries, and file names unique per
variant for any variant list rez accepts (hypothesis).
"""

from __future__ import annotations

import os
import stat
import tempfile
import textwrap
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st
from packaging.utils import parse_wheel_filename

from helpers import CACHES, rezwheel, tree


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def payload(root: Path, marker: str) -> None:
    """A small variant payload with what trips converters: caches, links, an empty dir."""
    write(root / "python" / "mod.py", f"WHO = {marker!r}\n")
    write(root / "python" / "__pycache__" / "mod.cpython-311.pyc", "not really bytecode\n")
    write(root / "python" / "legacy.pyc", "py2-era cache\n")
    write(root / "bin" / "tool", "#!/bin/sh\necho hi\n").chmod(0o755)
    (root / "bin" / "tool-link").symlink_to("tool")
    (root / "empty").mkdir()


def formats_repo(repo: Path) -> list[str]:
    """The repository, and the requests that install every package of it back."""
    pyfam = repo / "pyfam" / "1.0"
    write(pyfam / "package.py", """
        name = "pyfam"
        version = "1.0"
        authors = ["a", "b"]
        timestamp = 1700000000
        requires = ["python-3", "~maya-2024+", "!badlib"]
        hashed_variants = True
        variants = [["platform-linux", "!foo"], ["~bar", "python-3.10.4"]]
        uuid = "123e4567-e89b-12d3-a456-426614174000"
        help = "https://example.com"
        my_custom = {"a": [1, 2], "b": "x"}

        @early()
        def description():
            return "computed " + "early"

        @late()
        def tools():
            return ["t1", "t2"]

        with scope("config") as c:
            c.release_packages_path = "/some/where"
            c.plugins.release_hook.emailer.recipients = ["a@b"]

        def commands():
            env.PYTHONPATH.append("{root}/python")
            env.PATH.append("{root}/bin")
            if building:
                env.X = "1"
        """)
    import hashlib
    for i, requires in enumerate([["platform-linux", "!foo"], ["~bar", "python-3.10.4"]]):
        payload(pyfam / hashlib.sha1(str(requires).encode()).hexdigest(), f"pyfam{i}")
    write(repo / "yamlfam" / "2.0" / "package.yaml", """
        name: yamlfam
        version: '2.0'
        description: a yaml package
        timestamp: 1600000000
        requires: [python-3]
        variants:
        - ['maya-2024']
        - ['maya-2025', '~bar']
        commands: |
          env.PATH.append("{root}/bin")
        """)
    payload(repo / "yamlfam" / "2.0" / "maya-2024", "y0")
    payload(repo / "yamlfam" / "2.0" / "maya-2025" / "~bar", "y1")
    write(repo / "combo.py", """
        name = "combo"
        versions = ["1.0", "1.1", "2.0"]
        requires = ["python-3"]
        description = "combined family"
        version_overrides = {
            "2+": {"requires": ["python-3.11"], "description": "new"},
            "==1.1": {"variants": [["platform-linux"], ["platform-windows"]]},
        }
        def commands():
            env.COMBO.set("{root}")
        """)
    write(repo / "yamlcombo.yaml", """
        name: yamlcombo
        versions: ["0.1", "0.2"]
        description: yaml combined
        version_overrides:
          "0.2":
            requires: ["foo"]
            timestamp: 1500000000
        """)
    write(repo / "solo.py", """
        name = "solo"
        version = "3.2"
        description = "a single file at the root: rez reads it as unversioned"
        """)
    write(repo / "solou.py", 'name = "solou"\ndescription = "unversioned, at the root"\n')
    write(repo / "site" / "package.py", """
        name = "site"
        description = "unversioned, in its own directory"
        def commands():
            env.PATH.append("{root}/bin")
        """)
    payload(repo / "site", "site")
    write(repo / "tool" / "2" / "package.py", """
        name = "tool"
        version = "2"
        variants = [["python-3.10.4"], ["python-3.9.1", "foo"], ["python-3.9.1"], ["foo"]]
        """)
    # variant 1's root lies inside variant 2's: see test_nested_variant_root_survives_install
    for i, sub in enumerate(["python-3.10.4", "", "python-3.9.1", "foo"]):
        if sub:
            write(repo / "tool" / "2" / sub / "which", f"{i}\n")
    return ["pyfam-1.0", "yamlfam-2.0", "combo==1.0", "combo==1.1", "combo==2.0",
            "yamlcombo==0.1", "yamlcombo==0.2", "solo", "solou", "site", "tool-2"]


def rez_view(repo: Path) -> dict:
    """Everything rez's loader says of every package, but where it lives."""
    from rez.config import Config
    from rez.package_repository import package_repository_manager
    from rez.packages import iter_packages
    from rez.utils.sourcecode import SourceCode

    def plain(value):
        if isinstance(value, SourceCode):
            return ("code", value.source, [d.get("name") for d in value.decorators or []])
        if isinstance(value, Config):
            return ("config", value.overrides)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value if isinstance(value, (int, float, bool, type(None))) else str(value)

    out = {}
    for family in package_repository_manager.get_repository(str(repo)).iter_package_families():
        for p in iter_packages(family.name, paths=[str(repo)]):
            data = {k: plain(v) for k, v in p.validated_data().items()
                    if k not in ("base", "repository")}
            roots = [v.root for v in p.iter_variants()]
            out[(p.name, str(p.version))] = (data, roots)
    return out




def test_every_format_round_trips_through_rez(tmp_path):
    src = tmp_path / "src"
    requests = formats_repo(src)
    out, index, repo = tmp_path / "out", tmp_path / "index", tmp_path / "installed"
    r = rezwheel("convert", src, "-o", out)
    assert "error" not in r.stderr, r.stderr
    names = sorted(p.name for p in out.glob("*.whl"))
    assert len(names) == 2 + 2 + 4 + 2 + 2 + 1 + 4  # every variant of every package
    assert len({n for n in names if n.startswith("tool-2-")}) == 4
    rezwheel("publish", *sorted(out.glob("*.whl")), "--to", index)
    rezwheel("install", *requests, "--no-deps", "--into", repo, "--index", index)
    before, after = rez_view(src), rez_view(repo)
    assert sorted(after) == sorted(before)
    for key, (data, roots) in before.items():
        assert after[key][0] == data, key
        for a, b in zip(roots, after[key][1]):
            if a and os.path.isdir(a):
                assert tree(Path(a), roots) == tree(Path(b), after[key][1]), (key, a)
    wheel = next(out.glob("pyfam-1.0-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        assert not [n for n in z.namelist() if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.parametrize("path, count", [
    ("combo.py", 4), ("yamlcombo.yaml", 2), ("solo.py", 1), ("pyfam", 2), ("pyfam/1.0", 2),
    ("pyfam/1.0/package.py", 2), ("site", 1), ("yamlfam/2.0", 2), ("tool", 4)])
def test_each_kind_of_path_converts_what_it_holds(tmp_path, path, count):
    from rezwheel.convert import convert_paths

    src = tmp_path / "src"
    formats_repo(src)
    report = convert_paths([str(src / path)], str(tmp_path / "out"))
    assert not report.failed and not report.bad_paths
    assert len(report.converted) == count


def test_bytecode_is_not_shipped_and_installer_takes_every_member(tmp_path):
    import installer
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile
    from packaging.version import Version

    assert Version(installer.__version__) >= Version("1.1")  # the one that refuses caches
    write(tmp_path / "src" / "cached" / "1.0" / "package.py", """
        name = "cached"
        version = "1.0"
        def commands():
            env.PYTHONPATH.append("{root}/python")
        """)
    payload(tmp_path / "src" / "cached" / "1.0", "c")
    (tmp_path / "src" / "cached" / "1.0" / "python" / "only_cache" / "__pycache__").mkdir(
        parents=True)
    out = tmp_path / "out"
    rezwheel("convert", tmp_path / "src", "-o", out)
    (wheel,) = out.glob("*.whl")
    scheme = {k: str(tmp_path / "pip" / k) for k in
              ("purelib", "platlib", "headers", "scripts", "data")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # installer warns, then skips, cache members
        with WheelFile.open(wheel) as source:
            installer.install(source, SchemeDictionaryDestination(scheme, "/usr/bin/python3",
                                                                  "posix"), {})
    assert (tmp_path / "pip" / "purelib" / "mod.py").exists()
    repo = tmp_path / "repo"
    rezwheel("install", wheel, "--into", repo)
    a, b = tree(tmp_path / "src" / "cached" / "1.0"), tree(repo / "cached" / "1.0")
    assert a == b and a["python/only_cache"] == ("dir",)


def test_links_leaving_the_root_refused_one_line_per_package(tmp_path):
    src = tmp_path / "src"
    # what `rez bind python` writes: bin/python -> the host's interpreter
    write(src / "python" / "3.11.4" / "package.py", 'name = "python"\nversion = "3.11.4"\n')
    (src / "python" / "3.11.4" / "bin").mkdir()
    (src / "python" / "3.11.4" / "bin" / "python").symlink_to("/usr/bin/python3")
    (src / "python" / "3.11.4" / "bin" / "python3").symlink_to("/usr/bin/python3")
    write(src / "esc" / "1.0" / "package.py",
          'name = "esc"\nversion = "1.0"\nvariants = [["foo"]]\n')
    (src / "esc" / "1.0" / "foo").mkdir()
    (src / "esc" / "1.0" / "foo" / "up").symlink_to("../../../elsewhere")
    write(src / "good" / "1.0" / "package.py", 'name = "good"\nversion = "1.0"\n')
    out = tmp_path / "out"
    r = rezwheel("convert", src, "-o", out, check=False)
    assert r.returncode == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("rezwheel: error:")]
    assert errors == [
        f"rezwheel: error: {src}/esc/1.0/package.py: variant 0: symlink 'up' -> "
        "'../../../elsewhere' points outside the variant root: links must stay inside the "
        "variant root; not converted",
        f"rezwheel: error: {src}/python/3.11.4/package.py: symlink 'bin/python' -> "
        "'/usr/bin/python3' points outside the variant root: links must stay inside the "
        "variant root; not converted"]
    assert r.stderr.splitlines()[-1] == "rezwheel: 1 converted, 0 skipped, 2 failed"
    assert sorted(p.name for p in out.iterdir()) == ["good-1.0-py3-none-any.whl"]


def _metadata_only(repo: Path, variants: int) -> None:
    """A mirror of definitions only: no variant directory exists."""
    for v in range(variants // 2):
        write(repo / "meta" / f"1.{v}" / "package.py", f"""
            name = "meta"
            version = "1.{v}"
            variants = [["maya-2024"], ["maya-2025"]]
            """)


def test_bulk_convert_speaks_in_summaries(tmp_path):
    src = tmp_path / "src"
    _metadata_only(src, 24)
    write(src / "broken" / "1.0" / "package.py", "name = 'broken'\nversion = '1.0'\nrequires = 5\n")
    (src / "emptyfamily").mkdir()
    r = rezwheel("convert", src, "-o", tmp_path / "out", check=False)
    lines = r.stderr.splitlines()
    assert lines[0] == ("rezwheel: warning: 24 variants have no payload directory (metadata "
                        "only): converted with empty payloads (--verbose lists them)")
    assert len(lines) == 3 and lines[1].startswith(f"rezwheel: error: {src}/broken/1.0/")
    assert lines[2] == "rezwheel: 24 converted, 1 skipped, 1 failed"
    assert r.returncode == 1 and len(r.stdout.splitlines()) == 24
    r = rezwheel("convert", src, "-o", tmp_path / "out2", "--verbose", check=False)
    assert r.stderr.count("has no directory") == 24
    assert f"rezwheel: skipped: {src}/emptyfamily: no rez package in it" in r.stderr


def test_bulk_publish_converts_with_the_same_summary(tmp_path):
    src = tmp_path / "src"
    _metadata_only(src, 12)
    write(src / "broken" / "1.0" / "package.py", "name = 'broken'\nversion = '1.0'\nrequires = 5\n")
    r = rezwheel("publish", src, "--to", tmp_path / "index", check=False)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines.count("rezwheel: 12 converted, 0 skipped, 1 failed") == 1
    assert len([ln for ln in lines if ln.startswith("rezwheel: error:")]) == 1
    assert len([ln for ln in lines if "no payload directory" in ln]) == 1
    assert len(list((tmp_path / "index").rglob("meta-*.whl"))) == 12
    r = rezwheel("publish", src, "--to", tmp_path / "index2", "--verbose", "--dry-run",
                 check=False)
    assert r.stderr.count("has no directory") == 12


# -- one file name per variant, for any variant list rez accepts ---------------------------------
ATOMS = ["python-3", "python-3.9", "python-3.10.4", "python-3.9.1", "python-3.11",
         "platform-linux", "platform-windows", "arch-x86_64", "maya-2024", "maya-2025", "foo",
         "!foo", "~bar", "~python-3.9", "houdini-20.5.1"]
VARIANTS = st.lists(st.lists(st.sampled_from(ATOMS), unique=True, max_size=3),
                    unique_by=tuple, min_size=1, max_size=4)


def _accepted_by_rez(repo: Path, variants: list, hashed: bool):
    """The package as rez loads it, or None when rez refuses this variant list."""
    from rez.packages import get_package

    text = f"name = 'tool'\nversion = '2'\nvariants = {variants!r}\n"
    if hashed:
        text += "hashed_variants = True\n"
    write(repo / "tool" / "2" / "package.py", text)
    try:
        pkg = get_package("tool", "2", paths=[str(repo)])
        pkg.validate_data()
        roots = [v.root for v in pkg.iter_variants()]  # rez fails on [] unless hashed
    except Exception:
        return None
    return pkg if len(roots) == len(variants) else None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variants=VARIANTS, hashed=st.booleans())
@example(variants=[["python-3.10.4"], ["python-3.9.1", "foo"], ["python-3.9.1"], ["foo"]],
         hashed=False)  # the issue's: variants 0 and 2 once both made tool-2-py3-none-any.whl
@example(variants=[["foo", "maya-2024"], ["foo"]], hashed=False)  # inner root listed first
def test_file_names_unique_and_each_installs_as_its_variant(variants, hashed):
    from rezwheel.install import install_file
    from rezwheel.convert import convert_paths
    from rezwheel.config import IndexConfig
    from rezwheel.publish import publish
    from rezwheel.rezrepo.rezpip import Target
    from rezwheel.resolve.packages import IndexRepository, Settings
    from rezwheel.artifact.identity import VariantId
    from rezwheel.artifact.reader import open_artifact

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        src = tmp_path / "src"
        pkg = _accepted_by_rez(src, variants, hashed)
        assume(pkg is not None)
        roots = [v.root for v in pkg.iter_variants()]
        for i, root in enumerate(roots):
            write(Path(root) / f"marker-{i}", f"{i}\n")
        report = convert_paths([str(src)], str(tmp_path / "out"))
        assert not report.failed and not report.bad_paths, report.failed
        files = [c.file for c in report.converted]
        assert len(files) == len(variants)
        assert len({os.path.basename(f) for f in files}) == len(files)
        for f in files:
            parse_wheel_filename(os.path.basename(f))  # valid names, build tags included
        # the reader's way to a variant's file: by build tag, else by tags
        index_dir = str(tmp_path / "index")
        publish(files, IndexConfig(None, index_dir, index_dir, "local"))
        index = IndexRepository(str(tmp_path / "index"), Settings(store=str(tmp_path / "st")))
        by_variant = {c.id.index: os.path.basename(c.file) for c in report.converted}
        for i in range(len(variants)):
            assert index.file_for_variant(VariantId("tool", "2", i)).filename == by_variant[i]
        repo = tmp_path / "repo"
        # outer roots first: installing a variant replaces its whole root, so one installed
        # after a variant nested in it would delete that one (test_nested_variant_root_...)
        for c in sorted(report.converted, key=lambda c: len(Path(roots[c.id.index]).parts)):
            install_file(c.file, str(repo), Target.current())
        for c in report.converted:
            with open_artifact(c.file) as art:
                assert art.layout.variant_index == c.id.index
        from rez.packages import get_package

        back = get_package("tool", "2", paths=[str(repo)])
        assert [[str(r) for r in v] for v in back.validated_data()["variants"]] == variants
        for i, v in enumerate(back.iter_variants()):
            mine = sorted(p.name for p in Path(v.root).iterdir() if p.name.startswith("marker-"))
            assert mine == [f"marker-{i}"], (variants, i)


def test_nested_variant_root_survives_install(tmp_path):
    """Convert keeps a nested root out of the outer variant's wheel; installing the inner
    variant first, then the outer one, must keep both."""
    write(tmp_path / "src" / "tool" / "2" / "package.py",
          "name = 'tool'\nversion = '2'\nvariants = [['foo', 'maya-2024'], ['foo']]\n")
    write(tmp_path / "src" / "tool" / "2" / "foo" / "maya-2024" / "inner", "0\n")
    write(tmp_path / "src" / "tool" / "2" / "foo" / "outer", "1\n")
    out = tmp_path / "out"
    rezwheel("convert", tmp_path / "src", "-o", out)
    with zipfile.ZipFile(next(out.glob("tool-2-1-*.whl"))) as z:
        assert not [n for n in z.namelist() if n.endswith("/inner")]
    repo = tmp_path / "repo"
    for build in ("0", "1"):
        rezwheel("install", next(out.glob(f"tool-2-{build}-*.whl")), "--into", repo)
    assert (repo / "tool" / "2" / "foo" / "maya-2024" / "inner").exists()
