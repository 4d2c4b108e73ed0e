"""What the tests share: running the CLI and rez, a clean environment, the samples, a variant
root compared as a tree, rewritten wheels, and a host's repository.

Fixtures live in ``tests/conftest.py``; servers in ``helpers.servers`` (pypiserver, devpi),
``helpers.artifactory`` (the Artifactory fixture) and ``helpers.realdists`` (real projects,
pinned); the small projects built for the install and mirror tests in ``helpers.projects``;
the hostile tests' token and wheel names in ``helpers.hostile``.
Test modules import from here, never from each other.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

#: the repository's root (the samples, README.md, .cache)
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "packages"
BIN = Path(sys.executable).parent

#: access tokens the Artifactory fixture accepts (test_publish and test_credentials use one each)
ARTIFACTORY_TOKENS = ("tok-ci", "tok-5ecret-9f2c")

#: bytecode caches: never shipped, so never compared
CACHES = ("__pycache__",)


def copy_samples(dest: Path) -> Path:
    """The samples as a user has them built: git cannot store the empty directory, so add it."""
    shutil.copytree(SAMPLES, dest, symlinks=True)
    (dest / "sitedata" / "2023.01" / "cache" / "empty").mkdir(parents=True, exist_ok=True)
    return dest


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A directory ``build(dir)`` fills, made once for the whole run. Under pytest-xdist the
    workers share it (the first one to ask builds it under a file lock, the others wait and
    read it): a conversion or a setuptools build repeated by every worker is CPU the 2 cores
    of CI spend on nothing. Alone, it is a directory of this session's. Tests only read it, as
    they already do for every session fixture; ``NAME.done`` beside it says it is complete."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    from filelock import FileLock

    top = tmp_path_factory.getbasetemp().parent  # the run's directory, above gw0, gw1...
    folder, done = top / name, top / f"{name}.done"
    with FileLock(str(top / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker's build that failed
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def env(**kw) -> dict:
    """This environment without rezwheel's own settings or the user's config and netrc, plus
    ``kw``: each test says which index credentials exist."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("REZWHEEL_")}
    e.update(kw)
    e.setdefault("REZWHEEL_CONFIG", "/nonexistent/rezwheel.toml")
    e.setdefault("NETRC", "/nonexistent/netrc")
    return e


def rezwheel(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "rezwheel", *map(str, args)],
                       capture_output=True, text=True, **kw)
    if check and r.returncode:
        raise AssertionError(f"rezwheel {' '.join(map(str, args))} failed:\n{r.stderr}")
    return r


def rez(*args: str, packages_path: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, REZ_PACKAGES_PATH=packages_path, REZ_QUIET="1")
    return subprocess.run([str(BIN / "rez"), *args], capture_output=True, text=True, env=env, **kw)


def unwritable_repo(tmp_path: Path) -> Path:
    """A repository path this user cannot create (root ignores modes: use /proc)."""
    if os.geteuid() == 0:
        return Path("/proc/rezwheel-repo")
    repo = tmp_path / "ro"
    repo.mkdir(mode=0o500)
    return repo


def tree(root: Path, others=(), skip=("package.py", "package.yaml")) -> dict:
    """Types, modes, link targets and bytes under a variant root, caches excluded, and the
    roots of ``others`` variants nested in it too (they are theirs)."""
    out = {}
    nested = {os.path.relpath(o, root) for o in others if str(o).startswith(f"{root}/")}
    for dirpath, dirs, files in os.walk(root):
        here = os.path.relpath(dirpath, root)
        dirs[:] = [d for d in dirs if d not in CACHES and
                   os.path.normpath(os.path.join(here, d)) not in nested]
        for n in dirs + files:
            p = Path(dirpath) / n
            if (n in skip and p.parent == root) or n.endswith(".pyc"):
                continue
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", st.st_mode & 0o111 != 0, p.read_bytes())
    return out


# -- wheels rewritten as a hostile author would ---------------------------------------------------

GOOD = "pyutil-1.2.0-py3-none-any.whl"
DI = "pyutil-1.2.0.dist-info"


def rebuild(src: Path, dest: Path, change, fix_record: bool = True) -> Path:
    """Copy a wheel, letting ``change(name, data)`` return new bytes; a hostile author would
    also rewrite RECORD to match (``fix_record``)."""
    with zipfile.ZipFile(src) as zin:
        members = [(i, change(i.filename, zin.read(i))) for i in zin.infolist()]
    rows = []
    for info, data in members:
        if fix_record and not info.filename.endswith("RECORD"):
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{info.filename},sha256={digest},{len(data)}")
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in members:
            if fix_record and info.filename.endswith("RECORD"):
                data = ("\n".join(rows) + f"\n{info.filename},,\n").encode()
            zout.writestr(info, data)
    return dest


def add_member(src: Path, dest: Path, name: str, data: bytes) -> Path:
    shutil.copy(src, dest)
    with zipfile.ZipFile(dest, "a") as z:
        z.writestr(name, data)
    return dest


def check_refused(wheel: Path, message: str, tmp_path: Path) -> None:
    r = rezwheel("verify", wheel, check=False)
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"rezwheel: error: {wheel}") and message in line, line
    repo = tmp_path / "repo"
    r = rezwheel("install", wheel, "--into", repo, check=False)
    assert r.returncode == 1 and message in r.stderr
    assert not (repo / "pyutil").exists() or not any((repo / "pyutil").iterdir())


# -- a host's repository and its installs ---------------------------------------------------------

def host_repo(tmp_path: Path) -> Path:
    """A host's repository already holds its python package: this interpreter."""
    repo = tmp_path / "repo"
    py = "%d.%d" % sys.version_info[:2]
    (repo / "python" / py).mkdir(parents=True)
    (repo / "python" / py / "package.py").write_text(
        f"name = 'python'\nversion = '{py}'\n\ndef commands():\n    env.PATH.prepend('{BIN}')\n")
    return repo


def families(repo: Path) -> list:
    """What rez lists in the repository (it skips names that are not package names)."""
    return sorted(n for n in os.listdir(repo) if not n.startswith("."))


def install(*args, tmp_path, check=True):
    return rezwheel("install", *map(str, args), check=check,
                    env=env(REZWHEEL_STORE=str(tmp_path / "store")))


def rez_env(repo, *args):
    e = env(REZ_PACKAGES_PATH=str(repo), REZ_QUIET="1")
    return subprocess.run([str(BIN / "rez"), "env", *args], capture_output=True, text=True, env=e)


def publish_local(files: list, index_dir: str) -> None:
    """Publish wheel files to a local directory index in-process, through the publish flow."""
    from rezwheel.config import IndexConfig
    from rezwheel.publish import publish

    outcome = publish([str(f) for f in files], IndexConfig(None, str(index_dir), str(index_dir),
                                                           "local"))
    assert not outcome.problems and all(r.status != "failed" for r in outcome.results), outcome
