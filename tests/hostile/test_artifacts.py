"""Names, layouts and sizes from an artifact: refused with one line by verify, install WHEEL,
install REQ from an index and the plugin; nothing written outside the repository or store."""

import json
import os
import zipfile
from pathlib import Path

import pytest

from helpers.hostile import PYUTIL
from .harness import Index, declare_size, definition_of, forge, plain_wheel

MULTI = "multitool-2.1.0-cp311-cp311-linux_x86_64.whl"


def refused_by_file(run, wheel, tmp_path, needle=None):
    """verify and install WHEEL refuse it with one line naming the wheel; nothing installed."""
    r = run.rezwheel("verify", wheel)
    assert r.returncode == 1, str(r)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rezwheel: error: {wheel}"), str(r)
    if needle:
        assert needle in lines[0], str(r)
    repo = tmp_path / "repo"
    r = run.rezwheel("install", wheel, "--into", repo)
    assert r.returncode == 1, str(r)
    assert len(r.lines("rezwheel: error:")) == 1, str(r)
    dist = "-".join(wheel.name.split("-")[:2])
    assert wheel.name in r.stderr or dist in r.stderr, str(r)
    installed = [p for p in repo.rglob("*") if not any(
        part.startswith(".") for part in p.relative_to(repo).parts)] if repo.exists() else []
    assert installed == [], installed


def escaped_links(top: Path):
    """Symlinks under ``top`` whose target resolves outside ``top``."""
    out = []
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            p = Path(root, n)
            if p.is_symlink() and not Path(os.path.realpath(p)).is_relative_to(top.resolve()):
                out.append(p)
    return out


# -- names from the artifact ----------------------------------------------------------------------
def _name_forgeries(wheels, tmp_path):
    src = wheels / PYUTIL
    d = definition_of(src)
    out = {}

    def both(key, value):
        def lay(doc):
            doc[key] = value
        return lay
    out["def-name"] = forge(src, tmp_path / "a" / PYUTIL,
                            definition=d.replace("name = 'pyutil'", "name = '../../CANARY-esc'"))
    out["def-and-layout-name"] = forge(
        src, tmp_path / "b" / PYUTIL,
        definition=d.replace("name = 'pyutil'", "name = '../../CANARY-esc'"),
        layout=both("rez_name", "../../CANARY-esc"))
    out["version-slash"] = forge(
        src, tmp_path / "c" / PYUTIL,
        definition=d.replace("version = '1.2.0'", "version = '1.2.0/../../../CANARY-ver'"),
        layout=both("rez_version", "1.2.0/../../../CANARY-ver"))
    out["layout-name-only"] = forge(src, tmp_path / "d" / PYUTIL,
                                    layout=both("rez_name", "other"))
    m = wheels / MULTI
    md = definition_of(m)
    out["variant-requires-dotdot"] = forge(
        m, tmp_path / "e" / MULTI,
        definition=md.replace("'python-3.11']", "'../../../CANARY-var']"),
        layout=lambda doc: doc.update(
            variant_requires=["platform-linux", "arch-x86_64", "../../../CANARY-var"],
            subpath="platform-linux/arch-x86_64/../../../CANARY-var"))
    out["subpath-escape"] = forge(
        m, tmp_path / "f" / MULTI,
        layout=lambda doc: doc.update(subpath="../../../../CANARY-sub"))
    return out


@pytest.mark.parametrize("kind", ["def-name", "def-and-layout-name", "version-slash",
                                  "layout-name-only", "variant-requires-dotdot", "subpath-escape"])
def test_names_from_the_artifact_are_validated(run, wheels, tmp_path, kind):
    wheel = _name_forgeries(wheels, tmp_path)[kind]
    refused_by_file(run, wheel, tmp_path)


@pytest.mark.parametrize("kind", ["def-and-layout-name", "version-slash"])
def test_served_artifact_with_a_hostile_name(run, srv, wheels, tmp_path, kind):
    """Served through an index (sidecar consistent with the wheel): the plugin and install skip
    the package; nothing lands outside the store or repository."""
    wheel = _name_forgeries(wheels, tmp_path)[kind]
    idx = Index(srv).add_all([wheel, wheels / "python-3.11-py3-none-any.whl"]).publish()
    r = run.rez([f"artifactory@{idx.url}"], "env", "pyutil", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr, str(r)
    r = run.rezwheel("install", "pyutil", "--into", tmp_path / "repo", "--index", idx.url)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    r = run.rezwheel("mirror", "sync", "--from", idx.url, "--to", tmp_path / "mirror",
                     "--filter", "pyutil")
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)


def test_install_compares_the_wheel_with_the_plan(run, srv, wheels, tmp_path):
    """A file listed as relfam-1.0.1 whose own definition is relfam 1.0: install refuses the
    mismatch instead of installing under the wheel's own name and version."""
    idx = Index(srv)
    idx.add(wheels / "relfam-1.0-py3-none-any.whl", filename="relfam-1.0.1-py3-none-any.whl",
            sidecar=False)
    idx.publish()
    repo = tmp_path / "repo"
    r = run.rezwheel("install", "relfam-1.0.1", "--into", repo, "--index", idx.url)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    assert "relfam-1.0.1" in r.stderr, str(r)
    assert not (repo / "relfam").exists() or not any(
        p for p in (repo / "relfam").iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("name,version", [("../../CANARY-plain", "1.0"), ("/abs/CANARY", "1.0"),
                                          ("plainx", "1.0/../../CANARY"), ("plainx", "..")])
def test_plain_wheel_metadata_names(run, tmp_path, name, version):
    wheel = plain_wheel(tmp_path / "w", "plainx-1.0-py3-none-any.whl", name, version)
    repo = tmp_path / "repo"
    r = run.rezwheel("install", wheel, "--into", repo)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    assert "plainx-1.0-py3-none-any.whl" in r.stderr, str(r)
    assert not repo.exists() or [p for p in repo.iterdir() if not p.name.startswith(".")] == []


def test_plain_wheel_metadata_name_served(run, srv, tmp_path):
    wheel = plain_wheel(tmp_path / "w", "plainx-1.0-py3-none-any.whl", "../../CANARY-plain", "1.0")
    idx = Index(srv)
    idx.add(wheel, project="plainx")
    idx.publish()
    r = run.rezwheel("install", "plainx", "--into", tmp_path / "repo", "--index", idx.url)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)


# -- layout: symlink chains and collisions --------------------------------------------------------
def _chain(doc):
    doc["dirs"] = sorted(set(doc.get("dirs") or []) | {"d", "a/b/c"})
    doc["links"] = (doc.get("links") or []) + [
        {"path": "a/b/c/s", "target": "../../../d", "wheel_path": None},
        {"path": "a/b/c/s/t", "target": "../../../../CANARY-chain", "wheel_path": None},
    ]


def _collisions():
    return {
        "link-then-file-under-it": lambda doc: doc.update(
            links=[{"path": "python/l", "target": "../..", "wheel_path": None}],
            files=doc["files"] + [dict(doc["files"][1], path="python/l/CANARY-under-link")]),
        "file-and-dir": lambda doc: doc.update(
            files=doc["files"] + [dict(doc["files"][1], path="python/pyutil")]),
        "duplicate-path": lambda doc: doc.update(
            files=doc["files"] + [dict(doc["files"][2], path=doc["files"][1]["path"])]),
        "link-and-file": lambda doc: doc.update(
            links=[{"path": "python/pyutil/cli.py", "target": "__init__.py", "wheel_path": None}]),
        "dir-under-file": lambda doc: doc.update(dirs=["python/pyutil/cli.py/sub"]),
        "link-to-absolute": lambda doc: doc.update(
            links=[{"path": "python/abs", "target": "/etc", "wheel_path": None}]),
    }


def test_symlink_chain_escaping_is_refused(run, srv, wheels, tmp_path):
    wheel = forge(wheels / PYUTIL, tmp_path / "w" / PYUTIL, layout=_chain)
    refused_by_file(run, wheel, tmp_path)
    idx = Index(srv).add_all([wheel, wheels / "python-3.11-py3-none-any.whl"]).publish()
    r = run.rez([f"artifactory@{idx.url}"], "env", "pyutil", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr, str(r)
    assert escaped_links(run.store) == []
    repo = tmp_path / "repo2"
    r = run.rezwheel("install", "pyutil", "--into", repo, "--index", idx.url)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    assert not repo.exists() or escaped_links(repo) == []


@pytest.mark.parametrize("kind", list(_collisions()))
def test_layout_collisions_are_one_line(run, wheels, tmp_path, kind):
    wheel = forge(wheels / PYUTIL, tmp_path / "w" / PYUTIL, layout=_collisions()[kind])
    refused_by_file(run, wheel, tmp_path)


def test_duplicate_zip_members_are_refused(run, wheels, tmp_path):
    wheel = tmp_path / "w" / PYUTIL
    wheel.parent.mkdir()
    wheel.write_bytes((wheels / PYUTIL).read_bytes())
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(wheel, "a") as z:
            z.writestr("pyutil/cli.py", b"open('CANARY-dup', 'w')\n")
    refused_by_file(run, wheel, tmp_path)


# -- sizes and broken archives --------------------------------------------------------------------
@pytest.mark.parametrize("member", ["rez-package.py", "rez-layout.json", "METADATA", "RECORD"])
def test_declared_huge_dist_info_member(run, srv, wheels, tmp_path, member):
    """200 MB declared in the zip header of a small wheel: refused before reading."""
    wheel = tmp_path / "w" / PYUTIL
    wheel.parent.mkdir()
    wheel.write_bytes((wheels / PYUTIL).read_bytes())
    declare_size(wheel, ".dist-info/" + member, 200 << 20)
    refused_by_file(run, wheel, tmp_path)


def test_actual_dist_info_size_is_capped(run, srv, wheels, tmp_path):
    """A real 64 KiB rez-package.py with the cap at 16 KiB (REZWHEEL_MAX_DIST_INFO_BYTES)."""
    d = definition_of(wheels / PYUTIL) + "\n# " + "x" * (64 << 10) + "\n"
    wheel = forge(wheels / PYUTIL, tmp_path / "w" / PYUTIL, definition=d)
    run.base["REZWHEEL_MAX_DIST_INFO_BYTES"] = str(16 << 10)
    refused_by_file(run, wheel, tmp_path)
    idx = Index(srv).add_all([wheel, wheels / "python-3.11-py3-none-any.whl"]).publish()
    r = run.rez([f"artifactory@{idx.url}"], "env", "pyutil", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr, str(r)
    assert PYUTIL in r.stderr, str(r)


def test_huge_sidecar_is_capped(run, srv, wheels, tmp_path):
    run.base["REZWHEEL_MAX_DIST_INFO_BYTES"] = str(16 << 10)
    idx = Index(srv).add_all([wheels / n for n in ("relfam-1.0-py3-none-any.whl",
                                                   "relfam-1.0.1-py3-none-any.whl")])
    e = idx.entry("relfam-1.0.1-py3-none-any.whl")
    e.metadata = e.metadata + b"\n" + b"x" * (1 << 20)
    idx.publish()
    r = run.rez([f"artifactory@{idx.url}"], "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert "Traceback" not in r.stderr
    assert r.returncode == 0 and r.stdout.strip() in ("1.0", "1.0.1"), str(r)
    assert len(r.lines("relfam-1.0.1")) <= 1, str(r)


@pytest.mark.parametrize("content", [b"", b"PK\x05\x06" + bytes(18), b"not a zip at all"],
                         ids=["empty-file", "empty-zip", "not-zip"])
def test_empty_or_non_zip_wheel(run, srv, wheels, tmp_path, content):
    wheel = tmp_path / "w" / PYUTIL
    wheel.parent.mkdir()
    wheel.write_bytes(content)
    refused_by_file(run, wheel, tmp_path)
    idx = Index(srv).add_all([wheels / "python-3.11-py3-none-any.whl"])
    idx.add(wheel, sidecar=False, project="pyutil")
    idx.publish()
    r = run.rez([f"artifactory@{idx.url}"], "env", "pyutil", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr, str(r)
    r = run.rezwheel("install", "pyutil", "--into", tmp_path / "repo2", "--index", idx.url)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    r = run.rezwheel("mirror", "sync", "--from", idx.url, "--to", tmp_path / "mirror")
    assert "Traceback" not in r.stderr, str(r)
