"""`rezwheel install` and `rezwheel mirror sync` as a host and a site meet them: rez requests
resolved over real indexes into a filesystem rez repository, plain PyPI wheels (built here with
`build` from small source trees) turned into rez packages the way rez-pip does."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import BIN, env, rezwheel, unwritable_repo
from servers import PyPIServer

PROJECTS = {
    # pure: a console script and package data
    "pureapp": {
        "pyproject.toml": """
            [project]
            name = "pureapp"
            version = "1.0.2"
            description = "A pure package with a console script"
            requires-python = ">=3.8"
            [project.scripts]
            pureapp = "pureapp.cli:main"
            [tool.setuptools.package-data]
            pureapp = ["data/*.txt"]
            """,
        "pureapp/__init__.py": "NAME = 'pureapp'\n",
        "pureapp/cli.py": """
            import os
            def main():
                here = os.path.dirname(__file__)
                with open(os.path.join(here, "data", "greeting.txt")) as fh:
                    print(fh.read().strip())
            """,
        "pureapp/data/greeting.txt": "hello from pureapp data\n",
    },
    # an extension-like platform tag (cpXY-cpXY-linux_x86_64)
    "fastext": {
        "pyproject.toml": """
            [project]
            name = "fast-ext"
            version = "0.3"
            description = "Pretends to hold a compiled extension"
            """,
        "setup.py": """
            from setuptools import setup
            from setuptools.dist import Distribution
            class Binary(Distribution):
                def has_ext_modules(self):
                    return True
            setup(distclass=Binary, packages=["fastext"])
            """,
        "fastext/__init__.py": "SPEED = 'fast'\n",
    },
    # a data file outside site-packages: where it goes is rez's pip_install_remaps' call
    "datapkg": {
        "pyproject.toml": """
            [project]
            name = "datapkg"
            version = "0.1"
            """,
        "setup.py": """
            from setuptools import setup
            setup(packages=["datapkg"], data_files=[("share/datapkg", ["notes.txt"])])
            """,
        "datapkg/__init__.py": "",
        "notes.txt": "shared notes\n",
    },
    # dependencies behind environment markers: one for this python, one never
    "markerapp": {
        "pyproject.toml": """
            [project]
            name = "markerapp"
            version = "2.0"
            description = "Depends through markers"
            dependencies = [
                'pureapp>=1.0; python_version >= "3.8"',
                'neverlib>=1; python_version < "3"',
                'fast-ext',
            ]
            """,
        "markerapp/__init__.py": "from pureapp import NAME as DEP\nimport fastext\n",
    },
    # a requirement spelled otherwise than the project it names (rich's "pygments" is the
    # family Pygments): the family is spelled as installed, as rez-pip's name_casings does
    "caseapp": {
        "pyproject.toml": """
            [project]
            name = "caseapp"
            version = "0.2"
            dependencies = ['PureApp>=1.0']
            """,
        "caseapp/__init__.py": "",
    },
}

MIXTOOL = """
name = 'mixtool'
version = '1.0'
description = 'One of ours, requiring a plain PyPI distribution'
requires = ['markerapp-2+']
tools = ['mixtool']

def commands():
    env.PATH.append('{root}/bin')
"""


BUILD_SYSTEM = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"
"""


def _write_tree(root: Path, files: dict) -> None:
    files = dict(files, **{"pyproject.toml": BUILD_SYSTEM + textwrap.dedent(files["pyproject.toml"])})
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture(scope="session")
def plain_wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain-wheels")
    src = tmp_path_factory.mktemp("plain-src")
    for name, files in PROJECTS.items():
        _write_tree(src / name, files)
        subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                        str(out), str(src / name)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def mixtool_wheel(tmp_path_factory) -> Path:
    pkg = tmp_path_factory.mktemp("mix") / "mixtool" / "1.0"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "package.py").write_text(MIXTOOL)
    script = pkg / "bin" / "mixtool"
    script.write_text("#!/usr/bin/env python\nimport markerapp\n"
                      "print('mixtool with', markerapp.DEP, markerapp.fastext.SPEED)\n")
    script.chmod(0o755)
    out = pkg.parent.parent / "wheels"
    rezwheel("convert", pkg, "-o", out)
    return next(out.glob("*.whl"))


@pytest.fixture(scope="session")
def pypi(plain_wheels, mixtool_wheel, wheels, tmp_path_factory):
    """pypiserver holding plain wheels, our samples (with the platform/arch stubs) and mixtool."""
    server = PyPIServer(tmp_path_factory.mktemp("pypiserver"))
    for w in [*plain_wheels.glob("*.whl"), mixtool_wheel, *wheels.glob("*.whl")]:
        shutil.copy(w, server.root)
    yield server
    server.stop()


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


def test_plain_wheels_become_rez_packages(pypi, tmp_path):
    repo = host_repo(tmp_path)
    r = install("markerapp", "--into", repo, "--index", pypi.url + "simple/", tmp_path=tmp_path)
    assert families(repo) == ["arch", "fast_ext", "markerapp", "platform", "pureapp",
                                        "python"], r.stdout
    # pure: no variants, payload under python/, the console script under bin/ for rez's python
    pure = (repo / "pureapp" / "1.0.2")
    text = (pure / "package.py").read_text()
    assert "variants" not in text and "python-3.8+" in text and "'pureapp'" in text
    assert "pip_name = 'pureapp (1.0.2)'" in text and "from_pip = True" in text
    assert (pure / "python" / "pureapp" / "data" / "greeting.txt").exists()
    assert (pure / "bin" / "pureapp").read_text().startswith("#!/usr/bin/env python\n")
    # binary: one hashed variant on platform/arch/python
    fast = (repo / "fast_ext" / "0.3" / "package.py").read_text()
    py = "%d.%d" % sys.version_info[:2]
    assert "hashed_variants = True" in fast and f"'python-{py}'" in fast, fast
    assert "'platform-linux'" in fast and "'arch-x86_64'" in fast
    # markers: the python one became a variant requirement, the never-true one is gone
    marker = (repo / "markerapp" / "2.0" / "package.py").read_text()
    assert "neverlib" not in marker and "pureapp-1.0+" in marker and f"python-{py}" in marker
    r = rez_env(repo, "markerapp", "--", "python", "-c", "import markerapp; print(markerapp.DEP)")
    assert r.stdout.strip() == "pureapp", r.stderr
    r = rez_env(repo, "pureapp", "--", "pureapp")
    assert r.stdout.strip() == "hello from pureapp data", r.stderr
    # installing what is present is a no-op, and says so
    r = install("markerapp", "--into", repo, "--index", pypi.url + "simple/", tmp_path=tmp_path)
    assert {ln.split()[0] for ln in r.stdout.splitlines()} == {"present"}, r.stdout


def test_mixed_request_dry_run_then_install(pypi, tmp_path):
    repo = host_repo(tmp_path)
    args = ["mixtool", "--into", repo, "--index", pypi.url + "simple/"]
    plan = json.loads(install(*args, "--dry-run", "--json", tmp_path=tmp_path).stdout)
    kinds = {p["package"].rsplit("-", 1)[0]: p["kind"] for p in plan}
    assert kinds == {"mixtool": "rezwheel", "markerapp": "pypi", "pureapp": "pypi",
                     "fast_ext": "pypi", "platform": "rezwheel", "arch": "rezwheel",
                     "python": "installed"}, plan
    assert all(p["status"] in ("install", "present") and p["sha256"] for p in plan
               if p["kind"] != "installed")
    assert sorted(os.listdir(repo)) == ["python"]  # a dry run writes nothing, not even locks
    assert not (tmp_path / "store" / "wheels").exists()  # nor downloads a payload
    install(*args, tmp_path=tmp_path)
    r = rez_env(repo, "mixtool", "--", "mixtool")
    assert r.stdout.strip() == "mixtool with pureapp fast", r.stderr


def test_wheel_files_on_the_command_line(plain_wheels, tmp_path):
    repo = host_repo(tmp_path)
    (pure,) = plain_wheels.glob("pureapp-*.whl")
    r = install(pure, "--into", repo, tmp_path=tmp_path)
    assert r.stdout.split()[0] == "installed"
    assert install(pure, "--into", repo, tmp_path=tmp_path).stdout.split()[0] == "present"
    r = rez_env(repo, "pureapp", "--", "pureapp")
    assert r.stdout.strip() == "hello from pureapp data", r.stderr


def test_unknown_package_names_the_indexes_tried(pypi, local_index, tmp_path):
    r = install("nosuchpkg", "--into", tmp_path / "repo", "--index", local_index, "--index",
                pypi.url + "simple/", tmp_path=tmp_path, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"rezwheel: error: nosuchpkg: no such package on {local_index}, "
                                f"{pypi.url}simple/ nor in {tmp_path / 'repo'}")


def test_unsatisfiable_plain_request_gives_pips_reason(pypi, tmp_path):
    repo = host_repo(tmp_path)
    r = install("pureapp>=9", "--into", repo, "--index", pypi.url + "simple/",
                tmp_path=tmp_path, check=False)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"rezwheel: error: pip could not resolve pureapp>=9 from {pypi.url}"
                               "simple/: Could not find a version that satisfies")
    assert "No matching distribution found for pureapp>=9" in r.stderr
    # a rez range on a plain project is pinned against the releases the index lists
    r = install("pureapp-9+", "--into", repo, "--index", pypi.url + "simple/",
                tmp_path=tmp_path, check=False)
    assert r.stderr == (f"rezwheel: error: pureapp-9+: no release of pureapp on {pypi.url}simple/ "
                        "is in that rez range (releases: 1.0.2)\n"), r.stderr


def test_unsatisfiable_request_gives_rez_conflict(local_index, tmp_path):
    r = install("pyutil-1.2", "!pyutil", "--into", tmp_path / "repo", "--index", local_index,
                tmp_path=tmp_path, check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("rezwheel: error: cannot resolve pyutil-1.2 !pyutil: ")
    assert "pyutil-1.2 <--!--> !pyutil" in r.stderr and len(r.stderr.splitlines()) == 1


def test_sha256_mismatch_is_refused_and_nothing_written(wheels, tmp_path):
    idx = tmp_path / "idx"
    rezwheel("publish", *sorted(wheels.glob("pyutil-*.whl")), "--to", idx)
    (published,) = (idx / "files").glob("pyutil-*.whl")
    data = bytearray(published.read_bytes())
    data[100] ^= 0xFF  # the file changes after the index listed its sha256
    published.write_bytes(bytes(data))
    repo = host_repo(tmp_path)
    r = install("pyutil", "--into", repo, "--index", idx, tmp_path=tmp_path, check=False)
    assert r.returncode == 1 and "does not match the index's" in r.stderr, r.stderr
    assert str(published) in r.stderr
    assert not (repo / "pyutil").exists() or not os.listdir(repo / "pyutil")


def test_unwritable_repository_fails_before_downloading(local_index, tmp_path):
    repo = unwritable_repo(tmp_path)
    r = install("pyutil", "--into", repo, "--index", local_index, tmp_path=tmp_path, check=False)
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"rezwheel: error: {repo}: cannot write to the repository")


def test_mirror_serves_hosts_with_upstream_stopped(plain_wheels, mixtool_wheel, wheels, tmp_path):
    server = PyPIServer(tmp_path / "upstream")
    for w in [*plain_wheels.glob("*.whl"), mixtool_wheel, *wheels.glob("*.whl")]:
        shutil.copy(w, server.root)
    mirror = tmp_path / "mirror"
    try:
        r = rezwheel("mirror", "sync", "--from", server.url + "simple/", "--to", mirror,
                     "--filter", "mixtool", "pyutil", "multitool", "--json",
                     env=env(REZWHEEL_STORE=str(tmp_path / "store")))
        copied = {x["file"] for x in json.loads(r.stdout) if x["status"] == "copied"}
        assert {f for f in copied if f.startswith(("mixtool", "markerapp", "pureapp", "fast_ext",
                                                  "pyutil"))} == {
            mixtool_wheel.name, *(w.name for w in plain_wheels.glob("*.whl")
                                  if not w.name.startswith(("datapkg", "caseapp"))),
            "pyutil-1.2.0-py3-none-any.whl"}, copied
        # incremental: a second sync copies nothing
        r = rezwheel("mirror", "sync", "--from", server.url + "simple/", "--to", mirror,
                     "--filter", "mixtool", "pyutil", "multitool",
                     env=env(REZWHEEL_STORE=str(tmp_path / "store")))
        assert r.stdout.splitlines()[-1].startswith("0 copied"), r.stdout
    finally:
        server.stop()
    # the plugin lists the mirror first and upstream second: upstream is down, the mirror serves
    plugins = {"package_repository": {"artifactory": {
        "indexes": {"site": {"urls": [str(mirror), server.url + "simple/"]}}}}}
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"plugins = {plugins!r}\npackages_path = ['artifactory@site']\n")
    e = env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1", REZWHEEL_STORE=str(tmp_path / "host-store"))
    for request, cmd, want in [("pyutil", "pyutil --version", "pyutil 1.2.0"),
                               ("multitool python-3.11", "multitool", "multitool 2.1.0 (python 3.11)"),
                               ("multitool python-3.9", "pyutil --version", "pyutil 1.2.0")]:
        r = subprocess.run([str(BIN / "rez"), "env", *request.split(), "--", *cmd.split()],
                           env=e, capture_output=True, text=True)
        assert r.stdout.strip() == want, r.stderr
    # and a host installs from the mirror alone, pip and all
    repo = host_repo(tmp_path)
    install("mixtool", "--into", repo, "--index", mirror, tmp_path=tmp_path)
    assert rez_env(repo, "mixtool", "--", "mixtool").stdout.strip() == "mixtool with pureapp fast"


def test_killed_sync_resumes(wheels, tmp_path):
    up = tmp_path / "up"
    rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", up)
    mirror = tmp_path / "mirror"
    # a sync killed mid-way: some files in, pages not written, a download half done
    rezwheel("mirror", "sync", "--from", up, "--to", mirror, "--filter", "pyutil")
    (mirror / ".partial").mkdir()
    (mirror / ".partial" / "relfam-1.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 half")
    for suffix in (".metadata", ""):  # adopted whole: sidecar, then the wheel
        shutil.copy(up / "files" / f"relfam-1.0-py3-none-any.whl{suffix}", mirror / "files")
    (mirror / ".sync-in-progress").touch()
    r = rezwheel("mirror", "sync", "--from", up, "--to", mirror)
    assert not (mirror / ".partial").exists() and not (mirror / ".sync-in-progress").exists()
    listed = sorted(p.name for p in (mirror / "simple").iterdir() if p.is_dir())
    assert listed == sorted(p.name for p in (up / "simple").iterdir() if p.is_dir()), r.stdout
    for page in (up / "simple").glob("*/index.html"):
        assert (mirror / "simple" / page.parent.name / "index.html").read_text() == \
            page.read_text()


def test_plugin_falls_through_per_file(wheels, tmp_path):
    """Mirror first, upstream second: what the mirror lacks, or holds damaged, comes from
    upstream; what it holds comes from the mirror."""
    server = PyPIServer(tmp_path / "upstream")
    for w in wheels.glob("*.whl"):
        shutil.copy(w, server.root)
    mirror = tmp_path / "mirror"
    try:
        rezwheel("mirror", "sync", "--from", server.url + "simple/", "--to", mirror,
                 "--filter", "pyutil", "relfam==1.0.0", env=env(REZWHEEL_STORE=str(tmp_path / "s")))
        damaged = mirror / "files" / "relfam-1.0.0-py3-none-any.whl"
        damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
        plugins = {"package_repository": {"artifactory": {
            "indexes": {"site": {"urls": [str(mirror), server.url + "simple/"]}}}}}
        cfg = tmp_path / "rezconfig.py"
        cfg.write_text(f"plugins = {plugins!r}\npackages_path = ['artifactory@site']\n")
        e = env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1", REZWHEEL_STORE=str(tmp_path / "host"))
        for request, var, want in [("pyutil", None, "pyutil 1.2.0"),
                                   ("relfam==1.0.0", "RELFAM_VERSION", "1.0.0"),
                                   ("relfam-1.0.1", "RELFAM_VERSION", "1.0.1")]:
            cmd = ["pyutil", "--version"] if var is None else ["printenv", var]
            r = subprocess.run([str(BIN / "rez"), "env", request, "--", *cmd], env=e,
                               capture_output=True, text=True)
            assert r.stdout.strip() == want, r.stderr
        # the mirror's good copy was read in place; the other two were downloaded into the store
        stored = json.loads(rezwheel("cache", "--store", tmp_path / "host", "ls", "--json").stdout)
        fetched = sorted(e["file"] for e in stored if e["file"])
        assert fetched == ["relfam-1.0.0-py3-none-any.whl", "relfam-1.0.1-py3-none-any.whl"]
    finally:
        server.stop()


def test_pip_install_remaps_decide_where_data_files_go(plain_wheels, tmp_path):
    (wheel,) = plain_wheels.glob("datapkg-*.whl")
    repo = tmp_path / "repo"
    r = install(wheel, "--into", repo, tmp_path=tmp_path, check=False)
    assert r.returncode == 1 and r.stderr.strip() == (
        f"rezwheel: error: {wheel}: no pip_install_remaps rule (rez config) places "
        "../../share/datapkg/notes.txt")
    assert not (repo / "datapkg" / "0.1").exists()
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text("pip_install_remaps = [{'record_path': r'^{p}{s}{p}{s}share{s}(.*)', "
                   "'pip_install': r'\\1', 'rez_install': r'share{s}\\1'}]\n")
    rezwheel("install", wheel, "--into", repo,
             env=env(REZ_CONFIG_FILE=str(cfg), REZWHEEL_STORE=str(tmp_path / "store")))
    assert (repo / "datapkg/0.1/share/datapkg/notes.txt").read_text() == "shared notes\n"
    assert (repo / "datapkg/0.1/python/datapkg/__init__.py").exists()


def test_install_from_artifactory_with_a_token(artifactory, wheels, plain_wheels, tmp_path):
    """Anonymous reads get 404 there: our reads and pip's both need the token."""
    from conftest import ARTIFACTORY_TOKENS

    token = ARTIFACTORY_TOKENS[1]
    (pure,) = plain_wheels.glob("pureapp-*.whl")
    rezwheel("publish", wheels / "pyutil-1.2.0-py3-none-any.whl",
             wheels / "python-3.11-py3-none-any.whl", pure, "--allow-foreign-name",
             "--to", artifactory.url, env=env(REZWHEEL_TOKEN=token))
    repo = tmp_path / "repo"
    r = rezwheel("install", "pyutil", "pureapp", "--into", repo, "--index",
                 artifactory.url + "/simple/", "--json",
                 env=env(REZWHEEL_TOKEN=token, REZWHEEL_STORE=str(tmp_path / "s")))
    plan = json.loads(r.stdout)
    assert {p["package"]: p["status"] for p in plan} == {
        "pyutil-1.2.0": "installed", "python-3.11": "installed", "pureapp-1.0.2": "installed"}
    assert token not in r.stdout + r.stderr
    assert (repo / "pyutil" / "1.2.0" / "bin" / "pyutil").exists()
    text = (repo / "pureapp" / "1.0.2" / "package.py").read_text()
    assert f"'index': '{artifactory.url}/simple/'" in text and token not in text


def test_python_picks_the_variant_and_no_deps_installs_the_request_only(local_index, tmp_path):
    plan = json.loads(install("multitool", "--python", "3.9", "--into", tmp_path / "repo",
                              "--index", local_index, "--dry-run", "--json",
                              tmp_path=tmp_path).stdout)
    files = {p["package"]: p["file"] for p in plan}
    assert files["multitool-2.1.0"] == "multitool-2.1.0-cp39-cp39-linux_x86_64.whl"
    assert files["python-3.9"] == "python-3.9-py3-none-any.whl" and "pyutil-1.2.0" in files
    install("multitool", "--no-deps", "--into", tmp_path / "repo", "--index", local_index,
            tmp_path=tmp_path)
    assert families(tmp_path / "repo") == ["multitool"]
    assert "python-3.9" in (tmp_path / "repo/multitool/2.1.0/package.py").read_text()


def test_sync_killed_for_real_resumes(artifactory, wheels, tmp_path):
    """SIGKILL in the middle of a sync from Artifactory: the mirror shows only whole, verified
    files; the next sync finishes, and the mirror then equals one synced in a single go."""
    import hashlib
    import signal
    import time

    from conftest import ARTIFACTORY_TOKENS

    e = env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0], REZWHEEL_STORE=str(tmp_path / "store"))
    rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", artifactory.url, env=e)
    upstream = artifactory.url + "/simple/"
    mirror = tmp_path / "mirror"
    artifactory.throttle = 0.1  # per 64 KiB sent: the sync takes seconds, one file at a time
    p = subprocess.Popen([sys.executable, "-m", "rezwheel", "mirror", "sync", "--from", upstream,
                          "--to", str(mirror), "--jobs", "1"], env=e, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list((mirror / "files").glob("*.whl"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    artifactory.throttle = 0
    held = sorted((mirror / "files").glob("*.whl"))
    assert 3 <= len(held) < 22
    for w in held:  # whole and verified: matches upstream's file and its own sidecar
        sha = hashlib.sha256(w.read_bytes()).hexdigest()
        assert sha == hashlib.sha256((wheels / w.name).read_bytes()).hexdigest()
        assert (mirror / "files" / (w.name + ".sha256")).read_text().split("\n")[0] == sha
    r = rezwheel("mirror", "sync", "--from", upstream, "--to", mirror, "--json", env=e)
    status = [x["status"] for x in json.loads(r.stdout)]
    assert status.count("present") == len(held) and status.count("copied") == 22 - len(held)
    fresh = tmp_path / "fresh"
    rezwheel("mirror", "sync", "--from", upstream, "--to", fresh, env=e)
    pages = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()
                   and not p.name.startswith("."))
    assert pages == sorted(p.relative_to(mirror) for p in mirror.rglob("*") if p.is_file()
                           and not p.name.startswith("."))
    for rel in pages:
        assert (mirror / rel).read_bytes() == (fresh / rel).read_bytes(), rel


def test_requirement_names_follow_the_families_spelling(pypi, tmp_path):
    repo = host_repo(tmp_path)
    install("caseapp", "--into", repo, "--index", pypi.url + "simple/", tmp_path=tmp_path)
    text = (repo / "caseapp" / "0.2" / "package.py").read_text()
    assert "'pureapp-1.0+'" in text and "PureApp" not in text, text
    assert "pureapp" in families(repo)


def test_staging_left_by_a_killed_install_is_swept(pypi, tmp_path):
    """Ctrl-C does not wait for writers: their staging (a hidden name rez never lists) is
    swept by the next install of that package version, under its lock."""
    repo = host_repo(tmp_path)
    stale = repo / "pureapp" / ".rezwheel-tmp-pureapp+1.0.2+killed" / "root" / "python"
    stale.mkdir(parents=True)
    (stale / "half.py").write_text("x = ")
    install("pureapp", "--into", repo, "--index", pypi.url + "simple/", tmp_path=tmp_path)
    assert sorted(os.listdir(repo / "pureapp")) == ["1.0.2"]
