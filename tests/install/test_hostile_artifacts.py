"""Hostile artifacts (issue 10), as a user meets them through ``verify``, ``install WHEEL`` and
``convert``: each class is refused with one line, nothing is written outside ``--into``, and
no code from the artifact runs while reading it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import threading
import zipfile
from pathlib import Path

import pytest

from helpers import DI, GOOD, add_member, check_refused, rebuild, rezwheel


def change_layout(edit):
    """A ``rebuild`` change that edits the parsed ``rez-layout.json`` in place (or replaces it)."""
    def change(name, data):
        if name.endswith("rez-layout.json"):
            layout = json.loads(data)
            new = edit(layout)
            return json.dumps(layout if new is None else new).encode()
        return data
    return change


def change_definition(edit, layout_edit=None):
    """Replace ``rez-package.py`` text with ``edit(text)`` (and the layout, to stay consistent)."""
    def change(name, data):
        if name.endswith("rez-package.py"):
            return edit(data.decode()).encode()
        if layout_edit and name.endswith("rez-layout.json"):
            layout = json.loads(data)
            layout_edit(layout)
            return json.dumps(layout).encode()
        return data
    return change


def one_line_error(r) -> str:
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("rezwheel: error: "), line
    return line


def nothing_escaped(tmp_path: Path) -> None:
    """The canary: a forged name or link target aims at ``tmp_path/esc``."""
    assert not list(tmp_path.rglob("esc*")), list(tmp_path.rglob("esc*"))


# -- names and versions from the embedded definition --------------------------------------------
@pytest.mark.parametrize("old,new,layout,message", [
    ("name = 'pyutil'", "name = '../../esc'", {"rez_name": "../../esc"},
     "invalid package name '../../esc'"),
    ("name = 'pyutil'", "name = 'a/esc'", {"rez_name": "a/esc"}, "invalid package name"),
    ("name = 'pyutil'", "name = 5", {}, "invalid package name 5"),
    ("version = '1.2.0'", "version = '1/esc'", {"rez_version": "1/esc"}, "invalid version '1/esc'"),
    ("version = '1.2.0'", "version = '../esc'", {"rez_version": "../esc"}, "invalid version"),
    ("version = '1.2.0'", "version = 120", {"rez_version": "120"}, "invalid version 120"),
    ("requires = ['python-3']", "requires = ['../../esc']", {}, "invalid requirement '../../esc'"),
    ("requires = ['python-3']", "requires = 'python-3'", {}, "requires is not a list"),
    ("requires = ['python-3']", "requires = [3]", {}, "invalid requirement 3 in requires"),
    ("requires = ['python-3']", "build_requires = ['a-1/2']", {}, "in build_requires"),
    ("requires = ['python-3']", "hashed_variants = 'yes'", {}, "hashed_variants is not a bool"),
    ("requires = ['python-3']", "timestamp = 'yesterday'", {}, "timestamp is not valid"),
    ("requires = ['python-3']", "tools = 5", {}, "tools is not valid"),
])
def test_definition_identity_refused(wheels, tmp_path, old, new, layout, message):
    w = rebuild(wheels / GOOD, tmp_path / GOOD,
                change_definition(lambda t: t.replace(old, new), lambda lay: lay.update(layout)))
    check_refused(w, message, tmp_path)
    nothing_escaped(tmp_path)


@pytest.mark.parametrize("variant,message", [
    ("../../esc", "invalid requirement '../../esc' in variants"),
    ("..", "invalid requirement '..' in variants"),
    ("maya-2024/../../../esc", "in variants"),
    ("maya\\\\esc", "in variants"),
    ("foo-..", "invalid requirement 'foo-..' in variants"),  # rez would name it foo==
])
def test_variant_requirements_are_safe_directory_names(wheels, tmp_path, variant, message):
    def layout(lay):
        lay.update(variant_index=0, variant_requires=[variant], subpath=variant)
    w = rebuild(wheels / GOOD, tmp_path / GOOD, change_definition(
        lambda t: t + f"\nvariants = [[{variant!r}]]\n", layout))
    check_refused(w, message, tmp_path)
    nothing_escaped(tmp_path)


@pytest.mark.parametrize("edit", [
    lambda lay: lay.update(subpath="python"),                               # not where rez looks
    lambda lay: lay.update(variant_index=0, variant_requires=["maya-2024"],  # no such variant
                           subpath="maya-2024"),
])
def test_layout_must_be_the_variant_the_definition_lists(wheels, tmp_path, edit):
    w = rebuild(wheels / GOOD, tmp_path / GOOD, change_layout(edit))
    check_refused(w, "is not the one rez-package.py lists", tmp_path)


# -- rez-layout.json: chains, collisions, types -------------------------------------------------
def add_links(*links):
    return change_layout(lambda lay: lay["links"].extend(
        {"path": p, "target": t, "wheel_path": None} for p, t in links))


@pytest.mark.parametrize("links,message", [
    # the example: each link alone looks inside; t goes through s
    ((("a/b/c/s", "../../../d"), ("a/b/c/s/t", "../../../../esc")),
     "path 'a/b/c/s/t' lies under the symlink 'a/b/c/s'"),
    # .. after a link applies to where the link led, not to the text
    ((("a/b/c/s", "../../../d"), ("x", "a/b/c/s/../../../esc")),
     "symlink 'x' -> 'a/b/c/s/../../../esc' points outside the variant root"),
    ((("up", ".."), ("x", "up/esc")), "symlink 'up' -> '..' points outside"),
    ((("d/up", ".."), ("x", "d/up/../esc")), "symlink 'x' -> 'd/up/../esc' points outside"),
    ((("l1", "l2"), ("l2", "l1")), "points outside the variant root"),  # a loop
    ((("abs", "/etc"),), "symlink 'abs' -> '/etc' points outside"),
    ((("e", ""),), "empty target for symlink 'e'"),
    ((("python/pyutil/cli.py", "x"),), "listed twice (file and symlink)"),
    ((("python", "bin"),), "path 'python/pyutil/__init__.py' lies under the symlink 'python'"),
    ((("Python", "bin"),), "lies under the symlink 'Python'"),  # one path on macOS
])
def test_symlinks_resolved_as_a_chain(wheels, tmp_path, links, message):
    w = rebuild(wheels / GOOD, tmp_path / GOOD, add_links(*links))
    check_refused(w, message, tmp_path)
    nothing_escaped(tmp_path)


def test_links_inside_the_root_still_install(wheels, tmp_path):
    w = rebuild(wheels / GOOD, tmp_path / GOOD, add_links(
        ("lib", "python"), ("share/py", "../lib/pyutil"), ("share/self", ".."),
        ("share/cli", "self/lib/pyutil/cli.py")))
    rezwheel("verify", w)
    repo = tmp_path / "repo"
    rezwheel("install", w, "--into", repo)
    root = repo / "pyutil" / "1.2.0"
    assert (root / "share" / "cli").resolve() == (root / "python" / "pyutil" / "cli.py").resolve()


@pytest.mark.parametrize("edit,message", [
    (lambda lay: lay["dirs"].append("python/pyutil/cli.py"), "listed twice (file and directory)"),
    (lambda lay: lay["dirs"].append("bin/pyutil/x"), "lies under the file 'bin/pyutil'"),
    (lambda lay: lay["files"].append(dict(lay["files"][1], wheel_path="pyutil-1.2.0.data/x")),
     "listed twice (file and file)"),
    (lambda lay: lay["files"][2].update(path="python/pyutil/__init__.py/x"),
     "lies under the file 'python/pyutil/__init__.py'"),
    (lambda lay: lay["dirs"].append("BIN/PYUTIL"), "collide on a case-insensitive filesystem"),
    (lambda lay: lay.update(subpath="../esc"), "unsafe path '../esc'"),
    (lambda lay: lay["files"][0].update(shebang="#!/bin/sh\nrm -rf /\n"), "bad shebang"),
])
def test_layout_path_collisions(wheels, tmp_path, edit, message):
    w = rebuild(wheels / GOOD, tmp_path / GOOD, change_layout(edit))
    check_refused(w, message, tmp_path)


@pytest.mark.parametrize("edit,message", [
    (lambda lay: [], "not a JSON object"),
    (lambda lay: lay.update(files="x"), "files is not a list of dict"),
    (lambda lay: lay["files"][0].update(mode="493"), "mode is str, not int"),
    (lambda lay: lay.update(variant_index="0"), "variant_index is str, not int"),
    (lambda lay: lay.update(variant_index=True), "variant_index is bool, not int"),
    (lambda lay: lay["links"].append({"path": 1, "target": "x"}), "path is int, not str"),
    (lambda lay: lay.update(rez_name=["pyutil"]), "rez_name is list, not str"),
    (lambda lay: lay.update(dirs={"a": 1}), "dirs is not a list of str"),
    (lambda lay: lay.pop("files") and None, "'files'"),
])
def test_layout_json_types(wheels, tmp_path, edit, message):
    w = rebuild(wheels / GOOD, tmp_path / GOOD, change_layout(edit))
    check_refused(w, "unreadable rez-layout.json", tmp_path)
    r = rezwheel("verify", w, check=False)
    assert message in one_line_error(r)


# -- the archive: duplicates, caps, lying sizes, empty files ------------------------------------
def patch_central_size(wheel: Path, member: str, size: int) -> None:
    """Make the central directory lie about ``member``'s uncompressed size."""
    data = bytearray(wheel.read_bytes())
    entry = data.rfind(member.encode()) - 46
    assert data[entry:entry + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, entry + 24, size)
    wheel.write_bytes(bytes(data))


def test_duplicate_members(wheels, tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        w = add_member(wheels / GOOD, tmp_path / GOOD, "pyutil/cli.py", b"print('other')\n")
    check_refused(w, "duplicate member 'pyutil/cli.py'", tmp_path)


def test_member_under_a_member_file(wheels, tmp_path):
    w = add_member(wheels / GOOD, tmp_path / GOOD, "pyutil/cli.py/x", b"x")
    check_refused(w, "member 'pyutil/cli.py/x' lies under the file 'pyutil/cli.py'", tmp_path)


def test_dist_info_cap(wheels, tmp_path, monkeypatch):
    pad = "# " + "x" * 2000 + "\n"
    w = rebuild(wheels / GOOD, tmp_path / GOOD,
                change_definition(lambda t: t + pad))
    rezwheel("verify", w)  # the default cap is 8 MiB
    monkeypatch.setenv("REZWHEEL_MAX_DIST_INFO_BYTES", "1000")
    check_refused(w, "REZWHEEL_MAX_DIST_INFO_BYTES", tmp_path)
    r = rezwheel("verify", w, check=False)
    assert f"{DI}/rez-package.py declares" in one_line_error(r)


def test_dist_info_declared_size_is_checked_before_reading(wheels, tmp_path):
    w = tmp_path / GOOD
    shutil.copy(wheels / GOOD, w)
    patch_central_size(w, f"{DI}/rez-package.py", 200 << 20)  # 200 MB claimed in a 3 KB wheel
    r = rezwheel("verify", w, check=False)
    line = one_line_error(r)
    assert "rez-package.py" in line and str(200 << 20) in line


@pytest.mark.parametrize("member", [f"{DI}/rez-package.py", "pyutil/cli.py"])
def test_lying_sizes(wheels, tmp_path, member):
    """Declared smaller than the data: zipfile stops there and fails the CRC check, while
    verifying or (payload) while installing: one line either way."""
    w = tmp_path / GOOD
    shutil.copy(wheels / GOOD, w)
    patch_central_size(w, member, 10)
    check_refused(w, "Bad CRC-32", tmp_path)


@pytest.mark.parametrize("content", [b"", b"PK\x05\x06" + bytes(18), b"not a zip at all"])
def test_empty_and_non_zip_files(tmp_path, content):
    w = tmp_path / GOOD
    w.write_bytes(content)
    for args in (("verify", w), ("install", w, "--into", tmp_path / "repo")):
        line = one_line_error(rezwheel(*args, check=False))
        assert str(w) in line and "not a wheel" in line


# -- plain wheels: names and versions from METADATA --------------------------------------------
def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def plain_wheel(dest: Path, name: str = "plain", version: str = "1.0", extra: str = "",
                members: dict | None = None) -> Path:
    dist = "plain-1.0"
    files = dict(members if members is not None else {"plain.py": b"X = 1\n"})
    files[f"{dist}.dist-info/METADATA"] = \
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{extra}\n".encode()
    files[f"{dist}.dist-info/WHEEL"] = \
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    rows = [f"{n},sha256={_digest(d)},{len(d)}" for n, d in files.items()]
    files[f"{dist}.dist-info/RECORD"] = \
        ("\n".join(rows) + f"\n{dist}.dist-info/RECORD,,\n").encode()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
    return dest


@pytest.mark.parametrize("kw,message", [
    (dict(name="../../esc"), "invalid project name '../../esc' in METADATA"),
    (dict(name=""), "invalid project name '' in METADATA"),
    (dict(name="a..b"), "invalid package name 'a..b'"),  # PEP 508 allows it, rez does not
    (dict(version="1.0/../../esc"), "invalid version '1.0/../../esc' in METADATA"),
    (dict(version="latest"), "invalid version 'latest' in METADATA"),
    (dict(extra="Requires-Dist: foo >>> 1"), "unusable METADATA"),
    (dict(extra="Requires-Dist: a..b"), "invalid requirement 'a..b' in requires"),
    (dict(extra="Requires-Python: any"), "unusable METADATA: Invalid specifier"),
    (dict(members={"plain/x": b"1", "plain/x/y": b"2"}), "lies under the file 'plain/x'"),
    (dict(members={"plain/x": b"1", "plain-1.0.data/purelib/plain/x": b"2"}),
     "cannot install: File already exists"),
])
def test_plain_wheel_refused(tmp_path, kw, message):
    w = plain_wheel(tmp_path / "w" / "plain-1.0-py3-none-any.whl", **kw)
    repo = tmp_path / "repo"
    line = one_line_error(rezwheel("install", w, "--into", repo, check=False))
    assert line.startswith(f"rezwheel: error: {w}") and message in line, line
    nothing_escaped(tmp_path)
    assert not (repo / "plain").exists() or not any(
        p for p in (repo / "plain").iterdir() if not p.name.startswith("."))


def test_plain_wheel_without_metadata(tmp_path):
    w = tmp_path / "plain-1.0-py3-none-any.whl"
    with zipfile.ZipFile(w, "w") as z:
        z.writestr("plain.py", "")
    line = one_line_error(rezwheel("install", w, "--into", tmp_path / "repo", check=False))
    assert "no single .dist-info/METADATA" in line


def test_plain_wheel_good_still_installs(tmp_path):
    w = plain_wheel(tmp_path / "w" / "plain-1.0-py3-none-any.whl", extra="Requires-Dist: six")
    r = rezwheel("install", w, "--into", tmp_path / "repo")
    assert "installed" in r.stdout
    assert (tmp_path / "repo" / "plain" / "1.0" / "python" / "plain.py").is_file()


@pytest.mark.parametrize("item,message", [
    ({"download_info": {"url": "https://h/simple/%2E%2E%2Fesc-1.0-py3-none-any.whl"},
      "metadata": {"name": "esc", "version": "1.0"}}, "not a wheel or sdist file name: '../esc-1.0"),
    ({"download_info": {"url": "https://h/f/esc-1.0.exe"},
      "metadata": {"name": "esc", "version": "1.0"}}, "not a wheel or sdist file name"),
    ({"download_info": {"url": "https://h/f/esc-1.0.tar.gz"},  # an sdist: built, with extras
      "metadata": {"name": "esc", "version": "1.0"}, "requested_extras": ["../x"]},
     "bad extras"),
    ({"download_info": {"url": "https://h/f/esc-1.0-py3-none-any.whl"},
      "metadata": {"name": "../esc", "version": "1.0"}}, "invalid project name '../esc'"),
    ({"download_info": {"url": "https://h/f/esc-1.0-py3-none-any.whl"},
      "metadata": {"name": "esc", "version": ["1.0"]}}, "invalid version ['1.0']"),
    ({"download_info": {"url": "https://h/f/esc-1.0-py3-none-any.whl",
                        "archive_info": {"hashes": {"sha256": "../../x"}}},
      "metadata": {"name": "esc", "version": "1.0"}}, "bad sha256"),
])
def test_pip_report_picks_are_checked(item, message):
    from rezwheel.errors import RezwheelError
    from rezwheel.resolve import pip

    with pytest.raises(RezwheelError) as e:
        pip._pick(item)
    assert message in str(e.value) and "\n" not in str(e.value)


# -- code at resolve time ----------------------------------------------------------------------
DEFINITION_WITH_CODE = '''\
name = 'foo'
version = '1.0'
@late()
def tools():
    return ['x']
@late()
def custom():
    return 1
def commands():
    env.PATH.append('{root}/bin')
def pre_commands():
    pass
'''


@pytest.mark.parametrize("extra,flagged", [
    ("", []),
    ("@late()\ndef requires():\n    return ['bar']\n", ["requires"]),
    ("@late()\ndef build_requires():\n    return []\n", ["build_requires"]),
    ("@late()\ndef timestamp():\n    return 1\n", ["timestamp"]),
    ("@late()\ndef cachable():\n    return True\n", ["cachable"]),
    ("@late()\ndef plugin_for():\n    return []\n", ["plugin_for"]),
    ("@early()\ndef description():\n    return 'x'\n", ["description"]),
    ("@early()\ndef custom2():\n    return 'x'\n", ["custom2"]),
    ("def help():\n    return 'x'\n", ["help"]),             # undecorated, not a rex function
    ("@late()\ndef post_commands():\n    pass\n", ["post_commands"]),
])
def test_resolve_time_code(extra, flagged):
    from rezwheel.artifact import rezdef
    from rezwheel.errors import UnsafeDefinitionError

    data = rezdef.parse(DEFINITION_WITH_CODE + extra, "x/rez-package.py")
    assert rezdef.resolve_time_code(data) == flagged
    if not flagged:
        rezdef.check_resolvable(data, "x/rez-package.py")
        return
    with pytest.raises(UnsafeDefinitionError) as e:
        rezdef.check_resolvable(data, "x/rez-package.py")
    assert str(e.value).startswith(f"x/rez-package.py: ") and f" {flagged[0]}() would run " \
        "index code while resolving; refused (set trust-code on the index to allow)" in str(e.value)


def test_convert_warns_about_late_requires(tmp_path):
    pkg = tmp_path / "repo" / "foo" / "1.0"
    pkg.mkdir(parents=True)
    (pkg / "package.py").write_text(
        "name = 'foo'\nversion = '1.0'\n"
        "@early()\ndef description():\n    return 'computed when rez loads the file'\n"
        "@late()\ndef requires():\n    return ['python']\n"
        "@late()\ndef tools():\n    return ['foo']\n")
    out = tmp_path / "out"
    r = rezwheel("convert", tmp_path / "repo", "-o", out)
    (warning,) = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert warning == (f"rezwheel: warning: {pkg / 'package.py'}: requires is late-bound: hosts "
                       "resolving from an index will refuse it unless the index is trusted to "
                       "run code")
    (wheel,) = out.glob("*.whl")
    rezwheel("verify", wheel)  # a studio's own wheel: installable; only index reads refuse it
    with zipfile.ZipFile(wheel) as z:
        text = z.read("foo-1.0.dist-info/rez-package.py").decode()
    # rez ran @early when loading: the dump holds its value, so @early in an index is suspicious
    assert "@early" not in text and "computed when rez loads the file" in text


# -- replacing an installed package is atomic -----------------------------------------------------
def test_swap_in_exchanges(tmp_path):
    from rezwheel.rezrepo import fsrepo

    dest, staging = tmp_path / "dest", tmp_path / "staging"
    (dest / "old").mkdir(parents=True)
    (staging / "root" / "new").mkdir(parents=True)
    fsrepo.swap_in(str(staging / "root"), str(dest), str(staging))
    assert sorted(os.listdir(dest)) == ["new"]
    if fsrepo._load_renameat2() is not fsrepo._unsupported:  # Linux: one rename-exchange
        assert sorted(os.listdir(staging / "root")) == ["old"]


def test_force_replace_never_leaves_the_package_missing(wheels, tmp_path):
    (tmp_path / "other").mkdir()
    other = rebuild(wheels / GOOD, tmp_path / "other" / GOOD, change_definition(
        lambda t: t.replace("Small path and string helpers", "Other helpers")))
    repo = tmp_path / "repo"
    rezwheel("install", wheels / GOOD, "--into", repo)
    pkg_dir = repo / "pyutil" / "1.2.0"
    missing = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            if not os.path.exists(pkg_dir):
                missing.append(1)

    t = threading.Thread(target=poll)
    t.start()
    try:
        for wheel in (other, wheels / GOOD, other, wheels / GOOD):
            r = rezwheel("install", wheel, "--into", repo, "--force")
            assert "replaced" in r.stdout
    finally:
        stop.set()
        t.join()
    assert not missing
    assert "Small path and string helpers" in (pkg_dir / "package.py").read_text()
