"""The install flow called in-process (``rezwheel.install.install``), with the repository
side below it (``fsrepo.put_variant``, ``fsrepo.is_installed``). The store and cache flow are
in tests/plugin/test_flow_resolve.py, the atomic writer in tests/test_atomic.py, the import
graph in tests/test_layers.py."""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import copy_samples, publish_local

from rezwheel.install import install
from rezwheel.resolve.store import Store
from rezwheel.resolve.wanted import Asked, parse
from rezwheel.rezrepo import fsrepo

PY = "%d.%d" % sys.version_info[:2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The samples converted in-process and published to a local directory index."""
    from rezwheel.convert import convert_paths

    tmp = tmp_path_factory.mktemp("flow")
    report = convert_paths([str(copy_samples(tmp / "packages"))], str(tmp / "wheels"))
    assert report.converted and not report.failed
    publish_local([r.file for r in report.converted], tmp / "index")
    return tmp, {os.path.basename(r.file): r.file for r in report.converted}


def _asked(*texts: str) -> Asked:
    return Asked([parse(t) for t in texts])


def _plain_wheel(directory: Path, name: str = "tinyplain", version: str = "1.0") -> str:
    """A plain (not rezwheel) pure wheel with one module and a RECORD that holds."""
    files = {f"{name}/__init__.py": b"VALUE = 1\n",
             f"{name}-{version}.dist-info/METADATA":
                 f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{name}-{version}.dist-info/WHEEL":
                 b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()}"
        f",{len(b)}\n" for p, b in files.items()) + f"{name}-{version}.dist-info/RECORD,,\n"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for p, b in files.items():
            z.writestr(p, b)
        z.writestr(f"{name}-{version}.dist-info/RECORD", record)
    return str(path)


# -- the install flow
def test_requests_planned_from_a_local_index_then_met_by_what_is_installed(built, tmp_path):
    tmp, _ = built
    repo, store = tmp_path / "repo", Store(str(tmp_path / "store"))
    plan = install([], _asked("multitool"), str(repo), indexes=[str(tmp / "index")],
                   python="3.9", dry_run=True, store=store)
    assert {d.step.package: d.status for d in plan}["multitool-2.1.0"] == "install"
    assert not repo.exists()  # a dry run writes nothing

    done = install([], _asked("multitool"), str(repo), indexes=[str(tmp / "index")],
                   python="3.9", store=store)
    by_package = {d.step.package: d for d in done}
    assert {p: d.status for p, d in by_package.items()} == {p: "installed" for p in (
        "multitool-2.1.0", "pyutil-1.2.0", "python-3.9", "platform-linux", "arch-x86_64")}
    mine = by_package["multitool-2.1.0"].step
    assert mine.id.index == 0 and mine.root == str(
        repo / "multitool" / "2.1.0" / "platform-linux" / "arch-x86_64" / "python-3.9")
    assert (Path(mine.root) / "bin").is_dir()
    data = fsrepo.installed_definition(str(repo), "multitool", "2.1.0")
    assert data["variants"] == [["platform-linux", "arch-x86_64", "python-3.9"]]

    # a re-run: what is installed meets the request, no index is read
    again = install([], _asked("multitool"), str(repo), python="3.9", store=store)
    assert {d.step.package: d.status for d in again} == {p: "present" for p in by_package}


def test_no_index_for_requests_is_one_error(tmp_path):
    from rezwheel.errors import RezwheelError

    with pytest.raises(RezwheelError, match="give --index"):
        install([], _asked("multitool"), str(tmp_path / "repo"), python=PY, upgrade=True)


def test_wheel_files_ours_and_plain(built, tmp_path):
    _, wheels = built
    repo = tmp_path / "repo"
    ours = wheels["pyutil-1.2.0-py3-none-any.whl"]
    plain = _plain_wheel(tmp_path)

    dry = install([ours, plain], Asked([]), str(repo), dry_run=True)
    assert [(d.step.kind, d.status) for d in dry] == [("rezwheel", "install"), ("pypi", "install")]
    assert not repo.exists()

    done = install([ours, plain], Asked([]), str(repo))
    assert [(d.step.package, d.status) for d in done] == [("pyutil-1.2.0", "installed"),
                                                          ("tinyplain-1.0", "installed")]
    assert (repo / "tinyplain" / "1.0" / "python" / "tinyplain" / "__init__.py").is_file()
    pip = fsrepo.installed_definition(str(repo), "tinyplain", "1.0")["pip"]
    assert pip["file"] == os.path.basename(plain)

    again = install([ours, plain], Asked([]), str(repo))
    assert [d.status for d in again] == ["present", "present"]
    assert [d.as_json()["status"] for d in again] == ["present", "present"]


def test_a_different_definition_is_refused_unless_forced(built, tmp_path):
    from rezwheel.errors import InstallError

    _, wheels = built
    repo = tmp_path / "repo"
    ours = wheels["pyutil-1.2.0-py3-none-any.whl"]
    install([ours], Asked([]), str(repo))
    pkg = repo / "pyutil" / "1.2.0" / "package.py"
    pkg.write_text(pkg.read_text().replace("Small path", "Other path"))
    with pytest.raises(InstallError, match="a different definition"):
        install([ours], Asked([]), str(repo))
    assert [d.status for d in install([ours], Asked([]), str(repo), force=True)] == ["replaced"]
    assert "Small path" in pkg.read_text()


# -- one installed-check, one staging-and-merge routine
def test_variants_merge_in_the_definitions_order_whatever_the_install_order(tmp_path):
    data = {"name": "tool", "version": "1", "variants": [["a"], ["b"], ["c"]]}
    repo = str(tmp_path)

    def put(i: int) -> None:
        def write(stage: str) -> dict:
            os.makedirs(stage)
            Path(stage, f"marker-{i}").write_text(str(i))
            return data

        installed = fsrepo.installed_definition(repo, "tool", "1")
        fsrepo.put_variant(repo, data, i, write, installed)

    for i in (2, 0, 1):
        put(i)
    assert fsrepo.installed_definition(repo, "tool", "1")["variants"] == [["a"], ["b"], ["c"]]
    for i, v in enumerate("abc"):
        assert (tmp_path / "tool" / "1" / v / f"marker-{i}").is_file()
        assert fsrepo.is_installed(repo, data, i)
    assert not [n for n in os.listdir(tmp_path / "tool") if n.startswith(".")]  # no staging


def test_installed_variants_keep_their_places():
    """rez-pip style: one variant per definition; those of other pythons stay first."""
    have = {"variants": [["python-3.9"]]}
    data = {"variants": [["python-3.11"]]}
    assert fsrepo.merged_variants(have, data, 0) == [["python-3.9"], ["python-3.11"]]
    assert fsrepo.merged_variants(None, data, 0) == [["python-3.11"]]


def test_one_installed_check_for_both_kinds(tmp_path):
    repo = str(tmp_path)
    ours = {"name": "tool", "version": "1", "description": "x"}
    plain = {"name": "lib", "version": "2", "timestamp": 1,
             "pip": {"name": "lib", "version": "2", "sha256": "ab" * 32, "extras": ["fast"]}}
    for data in (ours, plain):
        assert not fsrepo.is_installed(repo, data, None)
        fsrepo.put_variant(repo, data, None, lambda stage, d=data: (os.makedirs(stage), d)[1],
                           None)
        assert fsrepo.is_installed(repo, data, None)
    assert not fsrepo.is_installed(repo, dict(ours, description="y"), None)
    # a plain package's definition is remade (new timestamp) at each install: the pip file
    # and the extras asked decide
    assert fsrepo.is_installed(repo, dict(plain, timestamp=2), None)
    assert not fsrepo.is_installed(repo, dict(plain, pip=dict(plain["pip"], extras=["x"])), None)
    assert not fsrepo.is_installed(repo, dict(plain, pip=dict(plain["pip"], sha256="cd" * 32)),
                                   None)


def test_host_requests_are_never_looked_up_on_an_index(built, artifactory, monkeypatch,
                                                       tmp_path):
    """``python-3.11`` is rez's host package, not the PyPI project ``python-3-11``: planning
    asks no index about it (a page per run, and offline an error)."""
    from helpers import ARTIFACTORY_TOKENS
    from rezwheel.resolve.planner import Planner
    from rezwheel.resolve.wanted import Asked, parse
    from rezwheel.rezplugin.artifactory import bind, unbind
    from rezwheel.rezrepo.rezpip import Target

    monkeypatch.setenv("REZWHEEL_TOKEN", ARTIFACTORY_TOKENS[0])
    monkeypatch.setenv("REZWHEEL_STORE", str(tmp_path / "store"))
    with Planner([artifactory.url], Target.current("3.11"), bind=bind, unbind=unbind) as planner:
        planner.classify(Asked([parse("python-3.11"), parse("platform-linux")]), [])
    asked = [p for _, p in artifactory.log]
    assert not [p for p in asked if "python" in p or "platform" in p], asked
