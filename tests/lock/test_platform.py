"""`rezwheel lock --platform TAG`: plain PyPI projects' markers are those of the target host
(sys_platform, platform_system, os_name, platform_machine from the tag), not this one's."""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import env, rezwheel
from helpers.servers import PyPIServer

try:
    import tomllib
except ImportError:  # python < 3.11
    import tomli as tomllib

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the host must not be windows")


def plain(out: Path, name: str, requires: list[str], platform: str = "any") -> None:
    """A plain wheel (pure unless ``platform``): one module and its metadata, nothing built."""
    tags = "".join(f"Tag: py3-none-{p}\n" for p in platform.split("."))
    files = {f"{name}.py": b"",
             f"{name}-1.0.dist-info/METADATA": "".join(
                 [f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"] +
                 [f"Requires-Dist: {r}\n" for r in requires]).encode(),
             f"{name}-1.0.dist-info/WHEEL": (f"Wheel-Version: 1.0\nGenerator: test\n"
                                             f"Root-Is-Purelib: {str(platform == 'any').lower()}"
                                             f"\n{tags}").encode()}
    record = "".join(
        f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()}"
        f",{len(d)}\n" for n, d in files.items()) + f"{name}-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(out / f"{name}-1.0-py3-none-{platform}.whl", "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
        z.writestr(f"{name}-1.0.dist-info/RECORD", record)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = PyPIServer(tmp_path_factory.mktemp("srv"))
    plain(srv.root, "plainmark", ['winonly; sys_platform == "win32"',
                                  'posixonly; os_name == "posix"',
                                  'armonly; platform_machine == "arm64"',
                                  'macdeps; platform_system == "Darwin"'])
    for name in ("winonly", "posixonly", "armonly", "macdeps"):
        plain(srv.root, name, [])
    for platform in ("manylinux_2_17_x86_64.manylinux2014_x86_64", "macosx_10_9_universal2",
                     "win_amd64"):  # the tags wheels on PyPI carry
        plain(srv.root, "binlib", [], platform)
    yield srv
    srv.stop()


@pytest.mark.parametrize("tag, expected", [
    ("win_amd64", ["plainmark", "winonly"]),
    ("macosx_11_0_arm64", ["armonly", "macdeps", "plainmark", "posixonly"]),
    ("manylinux_2_28_x86_64", ["plainmark", "posixonly"]),
])
def test_markers_are_the_target_platforms(server, tmp_path, tag, expected):
    lock = tmp_path / "pylock.toml"
    r = rezwheel("lock", "plainmark", "--python", "3.11", "--platform", tag, "--index",
                 server.url + "simple/", "-o", lock, env=env(REZWHEEL_STORE=str(tmp_path / "s")))
    data = tomllib.loads(lock.read_text())
    assert sorted(p["name"] for p in data["packages"]) == expected, r.stdout
    assert data["tool"]["rezwheel"]["platform"] == tag


@pytest.mark.parametrize("tag, wheel", [
    ("win_amd64", "binlib-1.0-py3-none-win_amd64.whl"),
    ("macosx_12_0_arm64", "binlib-1.0-py3-none-macosx_10_9_universal2.whl"),
    ("manylinux_2_28_x86_64", "binlib-1.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
])
def test_plain_binary_wheels_for_the_target(server, tmp_path, tag, wheel):
    """An older macOS or glibc in a wheel's tag fits a newer target, as installers judge it."""
    lock = tmp_path / "pylock.toml"
    rezwheel("lock", "binlib", "--python", "3.11", "--platform", tag, "--index",
             server.url + "simple/", "-o", lock, env=env(REZWHEEL_STORE=str(tmp_path / "s")))
    (package,) = tomllib.loads(lock.read_text())["packages"]
    assert [w["name"] for w in package["wheels"]] == [wheel]
