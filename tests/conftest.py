"""Shared fixtures: a private copy of the sample repository, its wheels, and a CLI runner."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "packages"
BIN = Path(sys.executable).parent


def copy_samples(dest: Path) -> Path:
    """The samples as a user has them built: git cannot store the empty directory, so add it."""
    shutil.copytree(SAMPLES, dest, symlinks=True)
    (dest / "sitedata" / "2023.01" / "cache" / "empty").mkdir(parents=True, exist_ok=True)
    return dest


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


@pytest.fixture(scope="session")
def sample_repo(tmp_path_factory) -> Path:
    return copy_samples(tmp_path_factory.mktemp("samples") / "packages")


@pytest.fixture(scope="session")
def wheels(sample_repo, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    rezwheel("convert", sample_repo, "-o", out)
    return out


@pytest.fixture(scope="session")
def local_index(wheels, tmp_path_factory) -> Path:
    idx = tmp_path_factory.mktemp("index")
    rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", idx)
    return idx


#: access tokens the Artifactory fixture accepts (test_publish and test_credentials use one each)
ARTIFACTORY_TOKENS = ("tok-ci", "tok-5ecret-9f2c")


@pytest.fixture()
def artifactory():
    """The Artifactory fixture on an ephemeral port; ``.url`` is the repository's PyPI API."""
    from artifactory import Artifactory, serve

    app = Artifactory(tokens=ARTIFACTORY_TOKENS)
    base, server = serve(app)
    app.url = f"{base}/artifactory/api/pypi/rez"
    yield app
    server.shutdown()


#: bytecode caches: never shipped, so never compared
CACHES = ("__pycache__",)


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
