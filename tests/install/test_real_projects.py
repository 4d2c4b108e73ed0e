"""`rezwheel install` on REAL projects (pinned, from the package registry, served by pypiserver),
against what `rez pip` gives: PEP 508 requests next to rez requests, extras, an sdist-only
project, -r/-c files, the host's python (and platform, arch) on rez's packages_path, re-runs that
do not touch the index, mirrors, and a round trip back to an index."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import sysconfig
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import BIN, env, rezwheel
from helpers.realdists import FILES, real_dists, tool
from helpers.servers import PyPIServer

PY = "%d.%d" % sys.version_info[:2]

#: rez's package loader, when these tests read package.py in-process
pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")

#: what `requests[socks] pyyaml importlib-metadata docopt` brings: rez family -> version
#: (rez-pip's names: the METADATA name with "-" made "_"; its version conversion)
CLOSURE = {"requests": "2.34.2", "urllib3": "2.8.0", "idna": "3.20",
           "certifi": "2026.10.19.post1", "charset_normalizer": "3.5.3", "PySocks": "1.7.1",
           "PyYAML": "6.0.4", "importlib_metadata": "10.2.0", "zipp": "4.1.2",
           "lazy_importer": "0.1.0", "docopt": "0.6.2"}
REQUESTS = ["requests", "urllib3", "idna", "certifi", "charset_normalizer"]
BIG = ["requests[socks]>=2.30", "pyyaml", "importlib-metadata", "docopt"]


# -- helpers (variants of helpers.host_repo and helpers.install, with the host's
#    repository kept apart from --into)
def host_repo(repo: Path) -> Path:
    """A host's own repository: this interpreter as python, and what `rez bind` gives for
    platform and arch (binary wheels' variants need them, as with rez-pip)."""
    from rez.system import system

    defs = {("python", PY): f"def commands():\n    env.PATH.prepend('{BIN}')\n",
            ("platform", system.platform): "", ("arch", system.arch): ""}
    for (name, version), body in defs.items():
        (repo / name / version).mkdir(parents=True)
        (repo / name / version / "package.py").write_text(
            f"name = '{name}'\nversion = '{version}'\n\n{body}")
    return repo


def families(repo: Path) -> list:
    return sorted(n for n in os.listdir(repo) if not n.startswith(".")) if repo.exists() else []


def versions(repo: Path, family: str) -> list:
    return families(repo / family)


def install(*args, store: Path, host: Path, cwd=None) -> subprocess.CompletedProcess:
    """`rezwheel install` with the host's repository on rez's packages_path."""
    return rezwheel("install", *map(str, args), check=False, cwd=cwd, timeout=300,
                    env=env(REZWHEEL_STORE=str(store), REZ_PACKAGES_PATH=str(host)))


def show(r: subprocess.CompletedProcess) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"


def ok(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, show(r)


def one_error_line(r: subprocess.CompletedProcess, status: int = 1) -> str:
    assert r.returncode == status and "Traceback" not in r.stdout + r.stderr, show(r)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rezwheel: error: "), show(r)
    return lines[0]


def definition(repo: Path, family: str) -> dict:
    """The installed package.py as rez reads it."""
    from rez.package_repository import package_repository_manager
    from rez.packages import get_latest_package

    package_repository_manager.clear_caches()
    pkg = get_latest_package(family, paths=[str(repo)])
    assert pkg is not None, f"rez finds no {family} in {repo}: {families(repo)}"
    data = dict(pkg.data, description=pkg.description)  # as `rez view` shows it: stripped
    data["_requires"] = [r for r in pkg.requires or []] + \
        [r for v in pkg.variants or [] for r in v]
    return data


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rez_env(packages_path: str, *args) -> subprocess.CompletedProcess:
    e = env(REZ_PACKAGES_PATH=packages_path, REZ_QUIET="1")
    return subprocess.run([str(BIN / "rez"), "env", *args], capture_output=True, text=True, env=e)


# -- fixtures
@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> Path:
    return real_dists(tmp_path_factory.mktemp("real-dists"))


def serve(root: Path, dists: Path) -> PyPIServer:
    server = PyPIServer(root)
    for f in dists.iterdir():
        shutil.copy(f, server.root)
    return server


@pytest.fixture(scope="session")
def index(dists, tmp_path_factory):
    """pypiserver holding the pinned files; ``.simple`` is the URL users give --index."""
    server = serve(tmp_path_factory.mktemp("real-pypiserver"), dists)
    server.simple = server.url + "simple/"
    yield server
    server.stop()


@pytest.fixture(scope="session")
def host(tmp_path_factory) -> Path:
    return host_repo(tmp_path_factory.mktemp("host") / "repo")


@pytest.fixture(scope="session")
def big(index, host, tmp_path_factory):
    """One install of the whole set, shared by the tests that read what it wrote."""
    tmp = tmp_path_factory.mktemp("big")
    started = int(time.time())
    r = install(*BIG, "--into", tmp / "repo", "--index", index.simple, store=tmp / "store",
                host=host)
    return SimpleNamespace(r=r, repo=tmp / "repo", started=started)


@pytest.fixture()
def own_index(dists, tmp_path):
    """A pypiserver of this test's own, which it may stop."""
    server = serve(tmp_path / "own-pypiserver", dists)
    server.simple = server.url + "simple/"
    yield server
    if server.proc.poll() is None:
        server.stop()


# -- the whole set in one command
def test_one_command_installs_the_closure_and_not_the_host(big, host):
    ok(big.r)
    said = {tuple(ln.split()[:2]) for ln in big.r.stdout.splitlines()}
    assert {("installed", f"{f}-{v}") for f, v in CLOSURE.items()} <= said, big.r.stdout
    assert ("present", f"python-{PY}") in said, big.r.stdout
    assert families(big.repo) == sorted(CLOSURE), show(big.r)
    for family, version in CLOSURE.items():
        assert versions(big.repo, family) == [version], family
        assert (big.repo / family / version / "package.py").is_file()
    # python, platform and arch come from packages_path: used, never copied into --into
    assert families(host) == ["arch", "platform", "python"]
    assert not {"python", "platform", "arch"} & set(families(big.repo))


EXPECT = {
    # family: (METADATA name, summary, license, an author, help entries or urls, extras)
    "requests": ("requests", "Python HTTP for Humans.", "Apache-2.0", "Kenneth Reitz",
                 {"https://requests.readthedocs.io", "https://github.com/psf/requests"},
                 ["socks"]),
    "PyYAML": ("PyYAML", "YAML parser and emitter for Python", "MIT", "Kirill Simonov",
               [["Home Page", "https://pyyaml.org/"]], None),
    "idna": ("idna", "Internationalized Domain Names in Applications (IDNA)", "BSD-3-Clause",
             "Kim Davies", {"https://github.com/kjd/idna"}, None),
    "lazy_importer": ("lazy-importer", "A context manager for portable, opt-in lazy imports",
                      "Apache-2.0", None, None, None),
    "PySocks": ("PySocks", "A Python SOCKS client module. See https://github.com/Anorov/PySocks "
                "for more information.", "BSD", "Anorov",
                [["Home Page", "https://github.com/Anorov/PySocks"]], None),
    "docopt": ("docopt", "Pythonic argument parser, that will make you smile", "MIT",
               "Vladimir Keleshev", [["Home Page", "http://docopt.org"]], None),
}


@pytest.mark.parametrize("family", sorted(EXPECT))
def test_definitions_carry_what_pip_knew(big, index, dists, family):
    ok(big.r)
    name, summary, license, author, help_, extras = EXPECT[family]
    data = definition(big.repo, family)
    pip = data.get("pip")
    assert isinstance(pip, dict), data
    assert (pip["name"], pip["version"], pip["index"]) == (name, CLOSURE[family], index.simple)
    if family == "docopt":  # built here from the sdist: the sdist is what the index served
        assert pip["sdist"] == "docopt-0.6.2.tar.gz"
        assert pip["sdist_sha256"] == sha256(dists / "docopt-0.6.2.tar.gz")
        assert pip["file"].startswith("docopt-0.6.2-") and pip["file"].endswith("-none-any.whl")
        assert len(pip["sha256"]) == 64 and pip["sha256"] != pip["sdist_sha256"]
    else:
        (wheel,) = [f for f in FILES if f.endswith(".whl") and f.split("-")[1] == CLOSURE[family]
                    and f.split("-")[0].lower() == name.replace("-", "_").lower()]
        assert (pip["file"], pip["sha256"]) == (wheel, FILES[wheel])
        assert "sdist" not in pip and "sdist_sha256" not in pip
    if extras:
        assert pip["extras"] == extras
        assert "PySocks" in {r.name for r in data["_requires"]}, data["_requires"]
    else:
        assert "extras" not in pip
    assert data["from_pip"] is True and data["pip_name"] == f"{name} ({CLOSURE[family]})"
    assert data["description"] == summary and data.get("license") == license
    assert isinstance(data["timestamp"], int) and big.started - 5 <= data["timestamp"] <= \
        time.time() + 5
    if author is None:
        assert "authors" not in data
    else:
        assert any(author in a for a in data["authors"]), data.get("authors")
    if help_ is None:
        assert "help" not in data
    elif isinstance(help_, set):  # project URLs: label them as they like, keep the URLs
        entries = data["help"]
        assert all(isinstance(e, list) and len(e) == 2 for e in entries), entries
        assert help_ <= {url for _, url in entries}, entries
    else:
        assert all(h in data["help"] for h in help_), data.get("help")


@pytest.mark.parametrize("family,module", [("PyYAML", "yaml"), ("requests", "requests"),
                                           ("requests", "socks"),
                                           ("importlib_metadata", "importlib_metadata"),
                                           ("docopt", "docopt")])
def test_rez_env_imports_from_the_repository(big, host, family, module):
    ok(big.r)
    r = rez_env(f"{big.repo}{os.pathsep}{host}", family, "--", "python", "-c",
                f"import {module}; print({module}.__file__)")
    assert r.returncode == 0, r.stderr
    # this venv holds requests and importlib_metadata too: the rez package's copy must win
    assert r.stdout.strip().startswith(f"{big.repo}/"), r.stdout


def test_rerun_is_present_and_never_reads_the_index(own_index, host, tmp_path):
    args = ["requests[socks]", "pyyaml", "--into", tmp_path / "repo", "--index", own_index.simple]
    ok(install(*args, store=tmp_path / "store", host=host))
    own_index.stop()
    r = install(*args, store=tmp_path / "store", host=host)
    ok(r)
    assert r.stdout.strip() and {ln.split()[0] for ln in r.stdout.splitlines()} == {"present"}, \
        show(r)


# -- how a request is read
@pytest.mark.parametrize("request_, want", [
    ("importlib-metadata>=6", ["importlib_metadata", "zipp", "lazy_importer"]),
    ("PySocks", ["PySocks"]),  # pypiserver answers /simple/PySocks/ with a 301 to pysocks
    ('pyyaml; python_version >= "3"', ["PyYAML"]),  # binary: platform and arch from the host
])
def test_pep508_requests_plan_the_projects(index, host, tmp_path, request_, want):
    repo = tmp_path / "repo"
    r = install(request_, "--into", repo, "--index", index.simple, "--dry-run", "--json",
                store=tmp_path / "store", host=host)
    ok(r)
    plan = json.loads(r.stdout)
    assert sorted(p["package"] for p in plan if p["kind"] != "installed") == \
        sorted(f"{f}-{CLOSURE[f]}" for f in want), plan
    from rez.system import system

    host_side = {p["package"]: p["status"] for p in plan if p["kind"] == "installed"}
    assert host_side.get(f"python-{PY}") == "present", plan  # from packages_path
    assert set(host_side) <= {f"python-{PY}", f"platform-{system.platform}",
                              f"arch-{system.arch}"} and set(host_side.values()) == {"present"}
    assert not repo.exists() or families(repo) == []


def test_an_installed_plain_project_is_upgraded_when_asked(index, host, tmp_path):
    """What is installed satisfies a request as it stands (a no-op); a range it does not meet,
    or -U, goes to the index. Rez ranges on a plain project pin a release the index lists,
    in rez-pip's version spelling (certifi's post release)."""
    repo = tmp_path / "repo"
    store = tmp_path / "store"
    ok(install("idna==3.10", "--into", repo, "--index", index.simple, store=store, host=host))
    r = install("idna", "--into", repo, "--index", index.simple, store=store, host=host)
    ok(r)
    assert "present      idna-3.10" in r.stdout and versions(repo, "idna") == ["3.10"], show(r)
    ok(install("idna>=3.20", "--into", repo, "--index", index.simple, store=store, host=host))
    assert versions(repo, "idna") == ["3.10", "3.20"]
    ok(install("idna-3.10", "--into", repo, "--index", index.simple, store=store, host=host))
    r = install("certifi-2026.10.19.post1", "idna-3.1+<3.11", "--into", repo, "--index",
                index.simple, "--dry-run", "--json", store=store, host=host)
    ok(r)
    assert {p["package"]: p["status"] for p in json.loads(r.stdout)
            if not p["package"].startswith("python-")} == {
        "certifi-2026.10.19.post1": "install", "idna-3.10": "present"}, r.stdout
    r = install("idna-4+", "--into", repo, "--index", index.simple, store=store, host=host)
    assert one_error_line(r) == (f"rezwheel: error: idna-4+: no release of idna on {index.simple} "
                                 "is in that rez range (releases: 3.10, 3.20)")


def test_requests_after_a_requirements_option_and_a_missing_python(index, host, tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("zipp\n")
    r = install("-r", reqs, "pyyaml", "--into", tmp_path / "repo", "--index", index.simple,
                "--dry-run", store=tmp_path / "store", host=host)
    ok(r)
    assert {"zipp-4.1.2", "PyYAML-6.0.4[0]"} <= {ln.split()[1] for ln in r.stdout.splitlines()}
    r = install("pyyaml", "--python", "3.7", "--into", tmp_path / "repo", "--index",
                index.simple, store=tmp_path / "store", host=host)
    line = one_error_line(r)
    assert "--python 3.7: no python-3.7 package on rez's packages path or the indexes" in line \
        and f"(there: {PY})" in line, line


# -- requirement and constraint files, --only-binary, errors
def test_requirements_file_with_a_constraints_line(index, host, tmp_path):
    reqs = tmp_path / "reqs"
    reqs.mkdir()
    (reqs / "requirements.txt").write_text(
        "# what the show needs\n\npyyaml==6.0.4\n"
        "requests >= 2.30 ; python_version >= '3'  # markers and trailing comments\n"
        "docopt ; python_version < '3'\n"
        "-c constraints.txt\n")
    (reqs / "constraints.txt").write_text("# site pins\nidna==3.10\n")
    repo = tmp_path / "repo"
    r = install("-r", reqs / "requirements.txt", "--into", repo, "--index", index.simple,
                store=tmp_path / "store", host=host, cwd=tmp_path)  # -c is relative to the file
    ok(r)
    assert families(repo) == sorted(["PyYAML", *REQUESTS]), show(r)
    assert versions(repo, "idna") == ["3.10"] and versions(repo, "PyYAML") == ["6.0.4"]


def test_constraints_on_the_command_line(index, host, tmp_path):
    cons = tmp_path / "constraints.txt"
    cons.write_text("idna<3.20\ndocopt==0.6.2  # constrains, never adds\n")
    repo = tmp_path / "repo"
    r = install("requests", "-c", cons, "--into", repo, "--index", index.simple,
                store=tmp_path / "store", host=host)
    ok(r)
    assert families(repo) == sorted(REQUESTS), show(r)
    assert versions(repo, "idna") == ["3.10"]


def test_only_binary_refuses_an_sdist(index, host, tmp_path):
    repo = tmp_path / "repo"
    r = install("docopt", "--only-binary", "--into", repo, "--index", index.simple,
                store=tmp_path / "store", host=host)
    assert "docopt" in one_error_line(r)
    assert "docopt" not in families(repo)


@pytest.mark.parametrize("args,status,names", [
    (["no-such-project"], 1, ["no-such-project", "{index}"]),  # family "no" nowhere: PEP 508
    (["importlib-metadata>=99"], 1, ["importlib-metadata>=99"]),
    ([], 2, []),
], ids=["unknown-project", "unsatisfiable", "usage"])
def test_errors_are_one_line(index, host, tmp_path, args, status, names):
    r = install(*args, "--into", tmp_path / "repo", "--index", index.simple,
                store=tmp_path / "store", host=host)
    if status == 2:
        assert r.returncode == 2 and "Traceback" not in r.stderr, show(r)
        assert "error: " in r.stderr.strip().splitlines()[-1], show(r)
        return
    line = one_error_line(r, status)
    for n in names:
        assert n.format(index=index.simple) in line, line
    assert families(tmp_path / "repo") == []


# -- the issue's table
def _mirror_then_install(index, host, tmp_path, dists):
    mirror = tmp_path / "mirror"
    e = env(REZWHEEL_STORE=str(tmp_path / "store"), REZ_PACKAGES_PATH=str(host))
    r = rezwheel("mirror", "sync", "--from", index.simple, "--to", mirror, "--filter", "requests",
                 "docopt", check=False, env=e)
    ok(r)
    assert "skipping invalid package" not in r.stdout + r.stderr, show(r)
    assert {f"{f.split('-')[0]}" for f in os.listdir(mirror / "files") if f.endswith(".whl")} >= \
        {"requests", "urllib3", "idna", "certifi", "charset_normalizer"}
    repo = tmp_path / "repo"
    # docopt's sdist, and what building it takes (read from the sdist, not run), came along
    held = os.listdir(mirror / "files")
    assert "docopt-0.6.2.tar.gz" in held and any(f.startswith("setuptools-") for f in held), held
    r = install("requests", "docopt", "--into", repo, "--index", mirror, store=tmp_path / "store2",
                host=host)
    ok(r)
    assert "skipping invalid package" not in r.stdout + r.stderr, show(r)
    assert families(repo) == sorted([*REQUESTS, "docopt"]), show(r)
    # rez reading the mirror through the plugin: requests' README is no definition either
    r = subprocess.run([str(BIN / "rez"), "search", "requests"], capture_output=True, text=True,
                       env=env(REZ_PACKAGES_PATH=f"artifactory@{mirror}", REZ_QUIET="1",
                               REZWHEEL_STORE=str(tmp_path / "store3")))
    assert "skipping invalid package" not in r.stdout + r.stderr and "Traceback" not in r.stderr, \
        show(r)


def _rez_search_beside_an_sdist(index, host, tmp_path, dists):
    """A local index (a mirror's layout) holding one of ours and docopt's sdist."""
    idx = tmp_path / "idx"
    pkg = tmp_path / "pkgs" / "hello" / "1.0"
    pkg.mkdir(parents=True)
    (pkg / "package.py").write_text("name = 'hello'\nversion = '1.0'\n")
    rezwheel("publish", pkg.parent, "--to", idx)
    sdist = shutil.copy(dists / "docopt-0.6.2.tar.gz", idx / "files")
    (idx / "simple" / "docopt").mkdir()
    (idx / "simple" / "docopt" / "index.html").write_text(
        '<!DOCTYPE html>\n<html><body>\n<a href="../../files/docopt-0.6.2.tar.gz#sha256='
        f'{sha256(Path(sdist))}">docopt-0.6.2.tar.gz</a><br/>\n</body></html>\n')
    root = idx / "simple" / "index.html"
    page = root.read_text()
    assert '<a href="hello/">' in page, page
    root.write_text(page.replace('<a href="hello/">',
                                 '<a href="docopt/">docopt</a><br/>\n<a href="hello/">'))
    e = env(REZ_PACKAGES_PATH=f"artifactory@{idx}", REZ_QUIET="1",
            REZWHEEL_STORE=str(tmp_path / "store"))
    r = subprocess.run([str(BIN / "rez"), "search"], capture_output=True, text=True, env=e)
    assert r.returncode == 0 and "hello-1.0" in r.stdout.split(), show(r)
    for r in [r, subprocess.run([str(BIN / "rez"), "search", "docopt"], capture_output=True,
                                text=True, env=e)]:
        assert "Traceback" not in r.stderr and "BadZipFile" not in r.stdout + r.stderr, show(r)


def _install_row(request, want):
    def row(index, host, tmp_path, dists):
        repo = tmp_path / "repo"
        r = install(request, "--into", repo, "--index", index.simple, store=tmp_path / "store",
                    host=host)
        ok(r)
        assert families(repo) == sorted(want), show(r)
        for family in want:
            assert versions(repo, family) == [CLOSURE[family]], family
        assert families(host) == ["arch", "platform", "python"]
    return row


def _pip_23_2(index, host, tmp_path, dists):
    """rezwheel drives `python -m pip` of its own interpreter: a venv whose own pip is 23.2 and
    which sees this venv's packages (rezwheel, rez) behind its own."""
    venv = tmp_path / "pip23"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = (venv / "lib").glob("python*/site-packages")
    with zipfile.ZipFile(tool("pip-23.2-py3-none-any.whl")) as z:
        z.extractall(site)
    (site / "zz-rezwheel-venv.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    py = str(venv / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "--version"], capture_output=True, text=True)
    assert r.stdout.startswith("pip 23.2 "), show(r)
    repo = tmp_path / "repo"
    r = subprocess.run([py, "-m", "rezwheel", "install", "requests[socks]", "--into", str(repo),
                        "--index", index.simple], capture_output=True, text=True, timeout=300,
                       env=env(REZWHEEL_STORE=str(tmp_path / "store"),
                               REZ_PACKAGES_PATH=str(host)))
    ok(r)
    assert families(repo) == sorted([*REQUESTS, "PySocks"]), show(r)


ISSUE = {
    "pyyaml": _install_row("pyyaml", ["PyYAML"]),
    "importlib-metadata": _install_row("importlib-metadata",  # not family importlib, v metadata
                                       ["importlib_metadata", "zipp", "lazy_importer"]),
    "requests[socks]": _install_row("requests[socks]", [*REQUESTS, "PySocks"]),
    "docopt-sdist-only": _install_row("docopt", ["docopt"]),
    "requests-python-on-packages-path": _install_row("requests", REQUESTS),
    "requests-from-a-mirror": _mirror_then_install,
    "rez-search-beside-an-sdist": _rez_search_beside_an_sdist,
    "pip-23.2": _pip_23_2,
}


@pytest.mark.parametrize("case", list(ISSUE))
def test_issue_table(index, host, tmp_path, dists, case):
    ISSUE[case](index, host, tmp_path, dists)


# -- and back to an index
def test_round_trip_certifi(index, host, tmp_path):
    repo = tmp_path / "repo"
    ok(install("certifi", "--into", repo, "--index", index.simple, store=tmp_path / "store",
               host=host))
    assert versions(repo, "certifi") == ["2026.10.19.post1"]
    idx2 = tmp_path / "index2"
    r = rezwheel("publish", repo / "certifi", "--to", idx2, check=False,
                 env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    ok(r)
    published = sorted(f for f in os.listdir(idx2 / "files") if f.endswith(".whl"))
    assert len(published) == 1 and published[0].startswith("certifi-2026.10.19.post1-"), published
    out = tmp_path / "download"
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--isolated", "--no-deps",
                        "--disable-pip-version-check", "--index-url", (idx2 / "simple").as_uri(),
                        "-d", str(out), "certifi==2026.10.19.post1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, show(r)
    assert os.listdir(out) == published


def test_a_failing_sdist_build_gives_the_builds_last_line(dists, tmp_path, host):
    """An sdist whose build fails: one line naming the sdist and its index, with the build
    backend's own last line (where the missing library is named), and nothing installed."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "setup.py").write_text(
        "import sys\nfrom setuptools import setup\n"
        "if 'bdist_wheel' in sys.argv:\n"
        "    raise SystemExit('error: the frobnicator library is missing')\n"
        "setup(name='brokenpkg', version='1.0', py_modules=[])\n")
    server = PyPIServer(tmp_path / "srv")
    try:
        for f in dists.iterdir():
            if f.name.startswith(("setuptools-", "wheel-", "packaging-")):
                shutil.copy(f, server.root)
        with tarfile.open(server.root / "brokenpkg-1.0.tar.gz", "w:gz") as tar:
            tar.add(src / "setup.py", "brokenpkg-1.0/setup.py")
        repo = tmp_path / "repo"
        r = install("brokenpkg", "--into", repo, "--index", server.url + "simple/",
                    store=tmp_path / "store", host=host)
        line = one_error_line(r)
        assert "brokenpkg-1.0.tar.gz" in line and server.url in line, line
        assert line.endswith("(error: the frobnicator library is missing)"), line
        assert not repo.exists() or families(repo) == []
    finally:
        server.stop()
