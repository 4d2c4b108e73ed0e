"""Real PyPI projects for the install benchmark, and the rez `python` package the tools need.

The files are downloaded once with `python -m pip download` (the machine's pip configuration
picks the index) into .cache/real-projects-bench/ at the top of the checkout, and reused while
that folder is there: the download goes to a temporary folder beside it that is renamed into
place when complete, so a folder that is there is whole. Remove it to download again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "real-projects-bench"
# what each tool is asked to install
REQUESTS = ["requests[socks]", "pyyaml", "importlib-metadata", "docopt"]
# what is downloaded: the pinned releases with their dependencies as wheels, docopt as its sdist
# only, and the build backend a pip or uv build of that sdist needs from an index holding only
# these files
WHEELS = ["requests[socks]==2.34.2", "pyyaml==6.0.4", "importlib-metadata==10.2.0"]
SDISTS = ["docopt==0.6.2"]
BUILD = ["setuptools", "wheel"]


def _pip_download(dest: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                    "-d", str(dest), *args], check=True)


def real_projects() -> Path:
    """The folder of downloaded files, downloading them first when it is not there."""
    if CACHE.is_dir():
        return CACHE
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{CACHE.name}-", dir=CACHE.parent))
    try:
        print(f"downloading real projects into {CACHE} ...", file=sys.stderr, flush=True)
        _pip_download(tmp, "--only-binary=:all:", *WHEELS)
        _pip_download(tmp, "--no-deps", "--no-binary=:all:", *SDISTS)
        _pip_download(tmp, "--no-deps", "--only-binary=:all:", *BUILD)
        try:
            os.rename(tmp, CACHE)
        except OSError:  # another run finished first: keep its copy
            if not CACHE.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return CACHE


def project_names(folder: Path) -> list:
    """The PEP 503 names of the distributions in ``folder`` (wheels and .tar.gz sdists)."""
    names = set()
    for f in folder.iterdir():
        if f.name.endswith(".whl"):
            name = f.name.split("-")[0]
        elif f.name.endswith(".tar.gz"):
            name = f.name[:-len(".tar.gz")].rsplit("-", 1)[0]
        else:
            continue
        names.add(normalize(name, "-"))
    return sorted(names)


def normalize(name: str, sep: str = "_") -> str:
    return re.sub(r"[-_.]+", sep, name).lower()


def write_python_package(repo: Path, bin_dir: Path) -> str:
    """A rez package ``python-X.Y`` for this interpreter in ``repo``: its commands put
    ``bin_dir`` first on PATH. Returns the version."""
    version = "%d.%d" % sys.version_info[:2]
    pkg = repo / "python" / version
    pkg.mkdir(parents=True)
    (pkg / "package.py").write_text(
        f'name = "python"\nversion = "{version}"\n\n\ndef commands():\n'
        f'    env.PATH.prepend({str(bin_dir)!r})\n')
    return version


def bind_host_packages(repo: Path, rez: Path) -> None:
    """``rez bind`` platform, arch and os into ``repo``, as every rez site has them: the rez
    variants of binary wheels (pyyaml here) name the platform and arch."""
    for name in ("platform", "arch", "os"):
        subprocess.run([str(rez), "bind", "-i", str(repo), name], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
