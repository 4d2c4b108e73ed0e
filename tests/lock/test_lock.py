"""`rezwheel lock` and `rezwheel export`: a rez resolve handed to pip and uv, no rez at runtime.

Real pip (26.3 reads pylock.toml) and uv install the lock files into fresh venvs made with
`python -m venv` (rez is not in them); pypiserver serves the index where a URL is needed.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import BIN, env, rezwheel
from helpers.servers import PyPIServer

try:
    import tomllib
except ImportError:  # python < 3.11
    import tomli as tomllib

UV = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
PY = "%d.%d" % sys.version_info[:2]
pytestmark = pytest.mark.skipif(PY != "3.11" or sys.platform != "linux",
                                reason="the samples' compiled variants are CPython 3.9/3.11 on "
                                "linux; the lock picks the 3.11 one")

def run(*args: str, store: Path, check: bool = True) -> subprocess.CompletedProcess:
    return rezwheel(*args, check=check, env=env(REZWHEEL_STORE=str(store)))


def venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path / "bin" / "python"


def pip_install(python: Path, lock: Path) -> None:
    # this environment's pip (26.3 reads pylock.toml) installing into the fresh venv
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                        "--no-input", "--isolated", "-r", str(lock)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def uv_install(python: Path, lock: Path) -> None:
    r = subprocess.run([UV, "pip", "install", "--python", str(python), "-r", str(lock)],
                       capture_output=True, text=True, env=dict(os.environ, UV_NO_CONFIG="1"))
    assert r.returncode == 0, r.stdout + r.stderr


def check_venv(python: Path) -> None:
    """Importable modules and working console scripts, and no rez in there."""
    r = subprocess.run([str(python), "-c", "import multitool, pyutil, mytool; "
                        "import importlib.util as u; print(u.find_spec('rez'))"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "None", r.stderr
    bindir = python.parent
    assert subprocess.run([str(bindir / "multitool")], capture_output=True,
                          text=True).stdout.strip() == "multitool 2.1.0 (python 3.11)"
    assert subprocess.run([str(bindir / "pyutil"), "--version"], capture_output=True,
                          text=True).stdout.strip() == "pyutil 1.2.0"


def test_pylock_installs_with_pip_and_uv(index, tmp_path):
    lock = tmp_path / "pylock.toml"
    r = run("lock", "mytool-2", "multitool", "python-3.11", "--index", index, "-o", lock,
            store=tmp_path / "store")
    data = tomllib.loads(lock.read_text())
    assert data["lock-version"] == "1.0" and data["created-by"] == "rezwheel"
    assert data["requires-python"] == "==3.11.*"
    assert data["environments"] == ["sys_platform == 'linux' and platform_machine == 'x86_64'"]
    by_name = {p["name"]: p for p in data["packages"]}
    assert sorted(by_name) == ["multitool", "mytool", "pyutil"], r.stdout
    (wheel,) = by_name["multitool"]["wheels"]
    assert wheel["name"] == "multitool-2.1.0-cp311-cp311-linux_x86_64.whl"
    f = index / "files" / wheel["name"]
    assert wheel["size"] == f.stat().st_size and wheel["url"] == f.as_uri()
    import hashlib
    assert wheel["hashes"] == {"sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
    assert by_name["multitool"]["index"] == (index / "simple").as_uri() + "/"
    assert by_name["multitool"]["tool"]["rezwheel"] == {"rez-name": "multitool",
                                                         "rez-version": "2.1.0", "variant": 1}
    rez_only = {p["name"]: p["version"] for p in data["tool"]["rezwheel"]["rez-only"]}
    assert rez_only == {"python": "3.11", "platform": "linux", "arch": "x86_64"}
    try:  # the PEP 751 reader pip itself uses, where this packaging has it
        from packaging.pylock import Pylock
    except ImportError:
        Pylock = None
    if Pylock is not None:
        Pylock.from_dict(data)
    pip_python = venv(tmp_path / "pip")
    pip_install(pip_python, lock)
    check_venv(pip_python)
    uv_python = venv(tmp_path / "uv")
    uv_install(uv_python, lock)
    check_venv(uv_python)


def test_a_lock_for_another_platform_is_refused_here(index, tmp_path):
    """PEP 751 ``environments``: a win_amd64 lock (a pure package's, that would install) names
    its host, and pip and uv on this Linux host refuse it rather than install it."""
    lock = tmp_path / "pylock.toml"
    run("lock", "pyutil", "--python", "3.11", "--platform", "win_amd64", "--index", index, "-o",
        lock, store=tmp_path / "store")
    assert tomllib.loads(lock.read_text())["environments"] == [
        "sys_platform == 'win32' and platform_machine == 'AMD64'"]
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv(tmp_path / "pip")),
                          "install", "--no-input", "--isolated", "-r", str(lock)],
                         capture_output=True, text=True)
    assert pip.returncode == 1 and "does not satisfy any of the environments" in pip.stderr
    uv = subprocess.run([UV, "pip", "install", "--python", str(venv(tmp_path / "uv")), "-r",
                         str(lock)], capture_output=True, text=True,
                        env=dict(os.environ, UV_NO_CONFIG="1"))
    assert uv.returncode != 0 and "not supported by the lockfile" in uv.stderr, uv.stderr
    assert not list(tmp_path.glob("*/lib/python*/site-packages/pyutil*"))


@pytest.fixture()
def server(index, tmp_path):
    srv = PyPIServer(tmp_path / "srv")
    for w in (index / "files").glob("*.whl"):
        shutil.copy(w, srv.root)
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


def test_requirements_txt_from_a_url_never_holds_credentials(server, tmp_path):
    url = server.url.replace("http://", "http://ci:s3cr3t-T0ken@") + "simple/"
    req = tmp_path / "requirements.txt"
    lock = tmp_path / "pylock.toml"
    store = tmp_path / "store"
    for out in (req, lock):
        run("lock", "mytool-2", "multitool", "python-3.11", "--index", url, "-o", out,
            store=store)
        assert "s3cr3t" not in out.read_text() and "ci:" not in out.read_text()
    text = req.read_text()
    assert f"--index-url {server.url}simple/\n" in text
    assert "multitool===2.1.0 \\\n    --hash=sha256:" in text
    assert "# rez-only (no wheel): python-3.11" in text
    python = venv(tmp_path / "pip")
    pip_install(python, req)  # hashes given: pip checks every file (--require-hashes)
    check_venv(python)
    sizes = {w["name"]: w["size"] for p in tomllib.loads(lock.read_text())["packages"]
             for w in p["wheels"]}  # a HEAD each, then remembered in the store by sha256
    assert sizes["pyutil-1.2.0-py3-none-any.whl"] == (
        server.root / "pyutil-1.2.0-py3-none-any.whl").stat().st_size


def plain_wheel(tmp: Path) -> Path:
    """A plain PyPI project (no rez definition) with a console script."""
    src = tmp / "plainlib-src"
    src.mkdir()
    (src / "plainlib.py").write_text("def main():\n    print('plainlib 1.0')\n")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "plainlib"\nversion = "1.0"\n'
        '[project.scripts]\nplainlib = "plainlib:main"\n'
        '[tool.setuptools]\npy-modules = ["plainlib"]\n')
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(tmp / "plain"), str(src)], check=True, capture_output=True)
    return next((tmp / "plain").glob("*.whl"))


def test_plain_projects_are_locked_too(server, tmp_path):
    """A PyPI project the request names is resolved by pip (as for install) and locked."""
    shutil.copy(plain_wheel(tmp_path), server.root)
    lock = tmp_path / "pylock.toml"
    run("lock", "mytool-2", "plainlib", "--python", "3.11", "--index", server.url + "simple/",
        "-o", lock, store=tmp_path / "store")
    data = tomllib.loads(lock.read_text())
    plain = next(p for p in data["packages"] if p["name"] == "plainlib")
    assert plain["version"] == "1.0" and plain["wheels"][0]["name"] == \
        "plainlib-1.0-py3-none-any.whl"
    assert plain["index"] == server.url + "simple/"
    python = venv(tmp_path / "uv")
    uv_install(python, lock)
    assert subprocess.run([str(python.parent / "plainlib")], capture_output=True,
                          text=True).stdout.strip() == "plainlib 1.0"


def test_export_venv_with_rez_environment(index, tmp_path):
    target = tmp_path / "env"
    r = run("export", "mytool-2", "multitool", "python-3.11", "--index", index, "--venv", target,
            store=tmp_path / "store")
    check_venv(target / "bin" / "python")
    # pip seeded, as `python -m venv` does: the venv is a developer's
    pip = subprocess.run([str(target / "bin" / "python"), "-m", "pip", "--version"],
                         capture_output=True, text=True)
    assert pip.returncode == 0 and str(target) in pip.stdout, pip.stderr
    script = (target / "bin" / "rez-env.sh").read_text()
    # what cannot be expressed is said in the script and in the output
    assert "# not expressible (alias): mt mytool --verbose" in script
    assert "# not expressible (runs a program): mytool --warm-cache" in script
    assert "not expressible (alias)" in r.stderr
    assert "PYTHONPATH" not in script  # site-packages: the venv's python has it
    sh = subprocess.run(["sh", "-c", f". {target}/bin/rez-env.sh && echo $MYTOOL_CONFIG && "
                         f"echo $MULTITOOL_VARIANT && {target}/bin/mytool && which multitool"],
                        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    config, variant, said, which = sh.stdout.splitlines()
    assert config == f"{target}/share/rez/mytool/config/mytool.cfg", script
    assert variant == f"{target}/share/rez/multitool"
    assert said == "mytool 2.0.0 colour = blue"
    assert which == f"{target}/bin/multitool"
    assert (target / "share" / "rez" / "multitool").is_dir()  # what $MULTITOOL_VARIANT names


def test_export_restores_what_a_wheel_cannot_carry(index, tmp_path):
    """A directory symlink (sitedata's data/current -> v1) is made in the venv as rez env would
    see it; a file symlink keeps the copy the wheel carries."""
    target = tmp_path / "env"
    run("export", "sitedata", "--index", index, "--venv", target, "--without-pip",
        store=tmp_path / "store")
    data = target / "share" / "rez" / "sitedata" / "data"
    assert os.readlink(data / "current") == "v1"
    assert (data / "current" / "lenses.txt").read_text() == (data / "v1" / "lenses.txt").read_text()
    assert (data / "lenses.txt").is_file()


def test_export_refuses_a_venv_that_is_not_empty(index, tmp_path):
    target = tmp_path / "env"
    target.mkdir()
    (target / "x").touch()
    again = run("export", "pyutil", "--index", index, "--venv", target, store=tmp_path / "s",
                check=False)
    # a usage mistake found before any work (README, "Exit codes"): 2, as for every command
    assert again.returncode == 2 and "not empty" in again.stderr


def test_offline_from_the_store(server, tmp_path):
    """Once a lock or an export has read the index, both work with the server gone (the target
    python given as --python: a `python-3.11` request would also be looked up as a PyPI project
    name, a page never read while online since the index has no such project)."""
    store = tmp_path / "store"
    url = server.url + "simple/"
    run("export", "mytool-2", "--python", "3.11", "--index", url, "--venv", tmp_path / "a",
        store=store)
    run("lock", "mytool-2", "--python", "3.11", "--index", url, "-o",
        tmp_path / "pylock.toml", store=store)
    server.stop()
    lock = tmp_path / "offline" / "pylock.toml"
    lock.parent.mkdir()
    r = run("lock", "mytool-2", "--python", "3.11", "--index", url, "-o", lock, store=store)
    assert "unreachable" in r.stderr
    assert lock.read_text() == (tmp_path / "pylock.toml").read_text(), r.stderr
    run("export", "mytool-2", "--python", "3.11", "--index", url, "--venv", tmp_path / "b",
        "--without-pip", store=store)
    assert not list((tmp_path / "b").glob("lib/python*/site-packages/pip"))
    assert list((tmp_path / "a").glob("lib/python*/site-packages/pip"))
    out = subprocess.run([str(tmp_path / "b" / "bin" / "mytool")], capture_output=True,
                         text=True, env={"MYTOOL_CONFIG": "/dev/null"})
    assert out.stdout.strip() == "mytool 2.0.0", out.stderr


def test_no_fitting_wheel_is_one_line(index, tmp_path):
    store = tmp_path / "store"
    # a manylinux host takes the plain linux_x86_64 wheels rezwheel makes
    run("lock", "multitool", "python-3.11", "--platform", "manylinux_2_28_x86_64", "--index",
        index, "-o", tmp_path / "pylock.toml", store=store)
    os.unlink(tmp_path / "pylock.toml")
    r = run("lock", "multitool", "python-3.11", "--platform", "macosx_11_0_arm64",
            "--index", index, "-o", tmp_path / "pylock.toml", store=store, check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    # rez itself refuses the variant for another platform, in one line
    assert r.stderr.startswith("rezwheel: error: cannot resolve multitool python-3.11: ") \
        and "platform" in r.stderr, r.stderr
    # a variant whose wheel the index does not hold (only the python 3.9 one is published)
    partial = tmp_path / "partial"
    keep = [w for w in (index / "files").glob("*.whl")
            if not w.name.startswith("multitool") or "cp39" in w.name]
    rezwheel("publish", *keep, "--to", partial)
    r = run("lock", "multitool", "python-3.11", "--index", partial, "-o",
            tmp_path / "pylock.toml", store=store, check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    # (the index's lone multitool file is the python 3.9 variant's: never handed out for another)
    assert r.stderr == (f"rezwheel: error: multitool-2.1.0: no file on {partial} for variant 1 "
                        "['platform-linux', 'arch-x86_64', 'python-3.11']\n")
    assert not (tmp_path / "pylock.toml").exists()


def test_lock_file_names(index, tmp_path):
    for wrong in ("lock.toml", "pylock..toml", "pylock.a.b.toml"):  # usage errors: exit 2
        r = run("lock", "pyutil", "--index", index, "-o", tmp_path / wrong,
                store=tmp_path / "store", check=False)
        assert r.returncode == 2 and "pylock.toml or pylock.NAME.toml" in r.stderr, wrong
    r = run("lock", "pyutil", "-o", tmp_path / "pylock.toml", store=tmp_path / "store",
            check=False)
    assert r.returncode == 2 and "give --index" in r.stderr
    # a platform tag that names no host (no machine, or none at all): usage errors, one line
    for tag in ("manylinux_2_28", "bogus", "linux", "macosx_11_0", "any"):
        r = run("lock", "pyutil", "--index", index, "--platform", tag, "-o",
                tmp_path / "pylock.toml", store=tmp_path / "store", check=False)
        assert r.returncode == 2 and r.stderr == (
            f"rezwheel: error: --platform {tag}: not a wheel platform tag naming a host "
            "(linux_x86_64, manylinux_2_28_aarch64, macosx_11_0_arm64, win_amd64)\n"), tag
    assert not (tmp_path / "pylock.toml").exists()
    run("lock", "pyutil", "--index", index, "-o", tmp_path / "pylock.dev.toml",
        store=tmp_path / "store")
    data = tomllib.loads((tmp_path / "pylock.dev.toml").read_text())
    # no python asked: this interpreter's is the target (and is still listed)
    assert data["requires-python"] == f"=={PY}.*"
    assert [p["name"] for p in data["packages"]] == ["pyutil"]


def test_rez_wheel_command(index, tmp_path):
    """`rez wheel lock ...`: the entry point `rez.plugins.command` (a dist-info on the path
    stands in for it when this environment's rezwheel was installed without it)."""
    e = env(REZWHEEL_STORE=str(tmp_path / "store"), REZ_QUIET="1")
    if not any(ep.name == "wheel" and ep.value == "rezwheel.rezplugin.command"
               for ep in importlib.metadata.entry_points(group="rez.plugins.command")):
        info = tmp_path / "site" / "rezwheel_command-0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rezwheel-command\n"
                                       "Version: 0\n")
        (info / "entry_points.txt").write_text("[rez.plugins.command]\n"
                                               "wheel = rezwheel.rezplugin.command\n")
        e["PYTHONPATH"] = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"),
                                                        str(info.parent)]))
    lock = tmp_path / "pylock.toml"
    r = subprocess.run([str(BIN / "rez"), "wheel", "lock", "multitool", "python-3.11", "--index",
                        str(index), "-o", str(lock)], capture_output=True, text=True, env=e)
    assert r.returncode == 0, r.stderr
    assert "locked    multitool-2.1.0  multitool-2.1.0-cp311-cp311-linux_x86_64.whl" in r.stdout
    assert [p["name"] for p in tomllib.loads(lock.read_text())["packages"]] == \
        ["pyutil", "multitool"]


def test_a_failed_export_leaves_no_venv_behind(index, tmp_path, monkeypatch):
    """Whatever fails once the venv exists (here: working out the packages' environment),
    the half-made venv goes, so the same command can be run again."""
    from rezwheel import export as flow
    from rezwheel.errors import RezwheelError
    from rezwheel.lock import resolve

    monkeypatch.setenv("REZWHEEL_STORE", str(tmp_path / "store"))
    resolved = resolve(["mytool-2", "python-3.11"], [str(index)], python="3.11",
                       for_export=True)

    def broken(*_):
        raise RezwheelError("mytool-2.0.0: commands failed")

    monkeypatch.setattr(flow, "_environment", broken)
    with pytest.raises(RezwheelError):
        flow.export(resolved, str(tmp_path / "env"))
    assert not (tmp_path / "env").exists()
