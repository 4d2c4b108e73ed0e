"""The same artifacts are ordinary wheels for pip and uv users."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename

UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")


def fitting(wheels: Path) -> list[Path]:
    supported = set(sys_tags())
    return [w for w in sorted(wheels.glob("*.whl")) if parse_wheel_filename(w.name)[3] & supported]


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path / "bin"


def _check_env(bindir: Path) -> None:
    py = str(bindir / "python")
    out = subprocess.run([py, "-c", "import pyutil, multitool, tabulate, mayaplug; "
                          "print(multitool.BUILT_FOR)"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"{sys.version_info[0]}.{sys.version_info[1]}", out.stderr
    assert subprocess.run([str(bindir / "pyutil"), "--version"], capture_output=True,
                          text=True).stdout.strip() == "pyutil 1.2.0"
    r = subprocess.run([str(bindir / "tabulate")], input="a bb\nccc d\n", capture_output=True, text=True)
    assert r.stdout.splitlines() == ["a    bb", "ccc  d"], r.stderr
    assert (bindir / "multitool").stat().st_mode & 0o111


def _one_per_dist(wheels):
    seen, out = set(), []
    for w in wheels:
        name = parse_wheel_filename(w.name)[0]
        if name not in seen and name != "python":
            seen.add(name)
            out.append(str(w))
    return out


@pytest.mark.skipif(sys.version_info[:2] != (3, 11) or sys.platform != "linux",
                    reason="the samples' compiled variants are built for CPython 3.9/3.11 on linux")
def test_pip_and_uv_install_and_run(wheels, tmp_path):
    chosen = _one_per_dist(fitting(wheels))
    assert any("cp311" in w for w in chosen) and not any("cp39" in w for w in chosen)
    b = _venv(tmp_path / "pip")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(b / "python"), "install", "-q",
                    "--no-deps", "--no-index", *chosen], check=True)
    _check_env(b)
    u = _venv(tmp_path / "uv")
    subprocess.run([UV, "pip", "install", "-q", "--python", str(u / "python"), "--no-deps",
                    "--offline", *chosen], check=True, env=dict(os.environ, UV_NO_CONFIG="1"))
    _check_env(u)


def test_pip_download_picks_variant_for_target_python(local_index, tmp_path):
    def download(version: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", version, "--platform", "linux_x86_64", "--isolated",
             "--index-url", (local_index / "simple").as_uri(), "-d", str(tmp_path / version),
             "multitool==2.1.0"], capture_output=True, text=True)
    r = download("3.9")
    assert r.returncode == 0, r.stderr
    assert os.listdir(tmp_path / "3.9") == ["multitool-2.1.0-cp39-cp39-linux_x86_64.whl"]
    r = download("3.11")  # the 3.9 variant is refused for 3.11: pip takes the 3.11 one
    assert os.listdir(tmp_path / "3.11") == ["multitool-2.1.0-cp311-cp311-linux_x86_64.whl"]
    r = download("3.10")
    assert r.returncode != 0 and "No matching distribution" in r.stderr
