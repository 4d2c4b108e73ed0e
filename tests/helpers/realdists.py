"""Real projects from the package registry, pinned, downloaded once into the repository's
ignored ``.cache``.

``real_dists(dest)`` fills ``dest`` with the files listed in SERVED (wheels, and docopt's
sdist, which exists only as an sdist) and returns it; ``tool(name)`` is one of TOOLS (pip 23.2).
The download goes through ``python -m pip download`` with the machine's pip configuration (its
mirror), into a temporary directory renamed into place once every file is there and matches
its pinned sha256: a killed run leaves nothing half-written, and a later run finds the whole
set or downloads it again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "real-projects"

#: pip download runs: (extra pip options, requirements).  ``--no-deps`` everywhere: every
#: dependency is pinned here, so the set does not move when a dependency publishes.
RUNS = [
    # requests[socks]==2.34.2 and what it brings today
    ((), ("requests==2.34.2", "urllib3==2.8.0", "idna==3.20", "certifi==2026.10.19.post1",
          "charset-normalizer==3.5.3", "PySocks==1.7.1")),
    # an older idna for the constraint test (in a run of its own: pip refuses two versions)
    ((), ("idna==3.10",)),
    ((), ("pyyaml==6.0.4",)),
    # importlib-metadata==10.2.0 and its dependencies on python 3.11 (packaging is "test" only)
    ((), ("importlib-metadata==10.2.0", "zipp==4.1.2", "lazy-importer==0.1.0")),
    # only an sdist exists
    ((), ("docopt==0.6.2",)),
    # what pip needs to build an sdist against an index holding only these files
    (("--only-binary", ":all:"), ("setuptools==84.2.1", "wheel==0.48.0", "packaging==26.4")),
    # not served: an old pip for rezwheel to drive (see TOOLS)
    (("--only-binary", ":all:"), ("pip==23.2",)),
]

#: every file, with its sha256: the downloads must be exactly these
FILES = {
    "requests-2.34.2-py3-none-any.whl":
        "2a0d60c172f83ac6ab31e4554906c0f3b3588d37b5cb939b1c061f4907e278e0",
    "urllib3-2.8.0-py3-none-any.whl":
        "0cf3cae568d36aa9576b28dfb35f11328f1cb974ca7647d9475ebb86c75ac6e3",
    "idna-3.20-py3-none-any.whl":
        "ab7ae7122974553370f0bdb919e1a960b2cd1bc1ef0276416d896db81c14582c",
    "idna-3.10-py3-none-any.whl":
        "946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3",
    "certifi-2026.10.19.post1-py3-none-any.whl":
        "1324c476b4811eff41a8bc2122cd0bbd4d9c7234c725446d99ab1612b3a7fdd2",
    "charset_normalizer-3.5.3-cp311-cp311-manylinux1_x86_64.manylinux_2_28_x86_64"
    ".manylinux_2_5_x86_64.whl":
        "2a6f937e0b70133d1f826d0a253331b6fe1a4c874808cc12e16f2fb8177042f4",
    "PySocks-1.7.1-py3-none-any.whl":
        "2725bd0a9925919b9b51739eea5f9e2bae91e83288108a9ad338b2e3a4435ee5",
    "pyyaml-6.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64"
    ".manylinux_2_28_x86_64.whl":
        "622aa875fa6533f25fedcffe23079357d65a690d462200afed5d8e9d0e01ebee",
    "importlib_metadata-10.2.0-py3-none-any.whl":
        "c7a4bf1c7479601f6b8e437cfc14f4f77028ba62a8f34ae95cd93d9774dfba51",
    "zipp-4.1.2-py3-none-any.whl":
        "b30cb6cd253122169c47de245ca24a86bac2a5d3802ba15bf7ba6414eb9e144d",
    "lazy_importer-0.1.0-py3-none-any.whl":
        "bd93fab7bef18e842eea02b839410954d37889140dc64ca4d9680aec6880c739",
    "docopt-0.6.2.tar.gz":
        "49b3a825280bd66b3aa83585ef59c4a8c82f2c8a522dbe754a8bc8d08c85c491",
    "setuptools-84.2.1-py3-none-any.whl":
        "ca140b45d5325a9478f880e351484f62fef15f336462e449ca0c03c873d589c2",
    "wheel-0.48.0-py3-none-any.whl":
        "3217dcc807155e45db462d7ef2431f5ddda0d7273b700d05a67b271ceb1287ab",
    "packaging-26.4-py3-none-any.whl":
        "81383611a09c1bc0b08b76e0fd5829d7c6824c65b27a6aee339da133f4233ea2",
    "pip-23.2-py3-none-any.whl":
        "78e5353a9dda374b462f2054f83a7b63f3f065c98236a68361845c1b0ee7e35f",
}

#: cached with the rest, but no index serves them
TOOLS = {"pip-23.2-py3-none-any.whl"}
SERVED = {name: sha for name, sha in FILES.items() if name not in TOOLS}

#: what pip says when it cannot reach the registry at all
UNREACHABLE = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
               "Name or service not known", "Network is unreachable", "Connection refused",
               "ProxyError", "ConnectTimeoutError", "Could not fetch URL")


def pin_key() -> str:
    text = repr((RUNS, sorted(FILES.items()), sys.version_info[:2], sys.platform))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _complete(folder: Path) -> bool:
    return folder.is_dir() and all((folder / name).is_file() and
                                   (want is None or sha256(folder / name) == want)
                                   for name, want in FILES.items())


def _download(into: Path) -> None:
    for options, pins in RUNS:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--retries", "2", "--timeout", "60", "-d", str(into), *options, *pins]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            said = [ln.strip() for ln in (r.stdout + r.stderr).splitlines()
                    if any(m in ln for m in UNREACHABLE)]
            if said:
                pytest.skip(f"the package registry is unreachable (pip download {' '.join(pins)}): "
                            f"{said[0][:300]}")
            raise AssertionError(f"pip download {' '.join(pins)} failed:\n{r.stderr}")
    got = sorted(p.name for p in into.iterdir())
    if got != sorted(FILES):
        raise AssertionError(f"pip download gave {got}, the pins expect {sorted(FILES)}")
    for name, want in FILES.items():
        if want is not None and sha256(into / name) != want:
            raise AssertionError(f"{name}: sha256 {sha256(into / name)}, pinned {want}")


def cached_dists() -> Path:
    """The cache directory holding every pinned file (downloaded when incomplete). One
    download at a time: xdist workers, or runs side by side, wait for the first one's."""
    from filelock import FileLock

    folder = CACHE / pin_key()
    if _complete(folder):
        return folder
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(CACHE / ".download.lock")):
        if _complete(folder):  # another process's download, finished while this one waited
            return folder
        for stale in CACHE.glob(".download-*"):  # left by a run killed mid-download
            if time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=CACHE))
        try:
            _download(tmp)
            if folder.exists():  # incomplete or damaged: replaced whole
                shutil.rmtree(folder)
            os.rename(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def real_dists(dest: Path) -> Path:
    """Copy every pinned file an index should serve into ``dest`` (created) and return it."""
    src = cached_dists()
    dest.mkdir(parents=True, exist_ok=True)
    for name in SERVED:
        shutil.copy(src / name, dest / name)
    return dest


def tool(name: str) -> Path:
    """One of TOOLS, in the cache."""
    assert name in TOOLS, name
    return cached_dists() / name
