"""The rez plugin, as rez users meet it: `rez env` and `rez search` against indexes."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ARTIFACTORY_TOKENS, BIN, env, rebuild, rezwheel
from helpers.servers import PyPIServer

REQUESTS = ["multitool python-3.11", "sitedata", "relfam", "localtools", "mayaplug maya-2024",
            "yamlpkg", "shotbundle", "tabulate", "relfam-1.0", "relfam==1.0.0.rc1"]


def rez(tmp_path, packages_path, *args, store=None, settings="", **kw):
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = {packages_path!r}\n{settings}")
    e = env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1",
            REZWHEEL_STORE=str(store or tmp_path / "store"), **kw.pop("env", {}))
    return subprocess.run([str(BIN / "rez"), *args], capture_output=True, text=True, env=e, **kw)


def resolve(tmp_path, packages_path, request, **kw):
    r = rez(tmp_path, packages_path, "env", *request.split(), "--", "printenv", "REZ_USED_RESOLVE",
            **kw)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def filesystem_resolves(sample_repo, tmp_path_factory) -> dict:
    """What rez resolves for each of REQUESTS from the samples themselves: the reference every
    index is held against (resolved once, not once per index)."""
    tmp_path = tmp_path_factory.mktemp("filesystem-resolves")
    return {request: resolve(tmp_path, [str(sample_repo)], request) for request in REQUESTS}


@pytest.fixture()
def served(artifactory, wheels):
    """The samples published to the Artifactory fixture, without the definitions bundles
    publish deploys (the per-file reads are tested here; bundles in test_bundles.py)."""
    rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", artifactory.url,
             env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
    artifactory.deployed.clear()
    artifactory.log.clear()
    return artifactory


def test_plugin_module_imports_nothing_heavy():
    code = ("import sys, rezwheel.rezplugin.artifactory as m; m.register_plugin(); "
            "print(sorted(k for k in ('requests', 'rezwheel.resolve.packages', 'installer', "
            "'filelock') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("where", ["local", "pypiserver"])
def test_resolves_like_the_filesystem(filesystem_resolves, local_index, tmp_path, where):
    if where == "local":
        location = f"artifactory@{local_index}"
    else:
        server = PyPIServer(tmp_path / "srv")
        rezwheel("publish", *sorted((local_index / "files").glob("*.whl")), "--to", server.url)
        location = f"artifactory@{server.url}simple/"
    try:
        for request in REQUESTS:
            assert resolve(tmp_path, [location], request) == filesystem_resolves[request], request
        r = rez(tmp_path, [location], "env", "pyutil", "--", "printenv", "REZ_PYUTIL_ROOT")
        root = Path(r.stdout.strip())
        assert root.is_dir() and str(root).startswith(str(tmp_path / "store"))
        assert (root / "python" / "pyutil" / "__init__.py").is_file()
        r = rez(tmp_path, [location], "env", "multitool", "python-3.11", "--", "multitool")
        assert r.stdout.strip() == "multitool 2.1.0 (python 3.11)", r.stderr
    finally:
        if where != "local":
            server.stop()


def test_search_reads_definitions_not_payloads(served, tmp_path):
    loc = [f"artifactory@{served.url}/simple/"]
    e = {"REZWHEEL_TOKEN": ARTIFACTORY_TOKENS[0]}
    r = rez(tmp_path, loc, "search", "relfam", env=e)
    assert r.stdout.split() == ["relfam-1.0", "relfam-1.0.0", "relfam-1.0.0.rc1", "relfam-1.0.1"], \
        r.stderr
    assert sum(1 for m, _ in served.log if m == "full") == 0  # definitions only, by range reads
    assert sum(1 for m, _ in served.log if m == "range") > 0
    served.log.clear()
    r = rez(tmp_path, loc, "search", "relfam", env=e)  # warm store: pages only, no definitions
    assert r.stdout.split()[0] == "relfam-1.0"
    assert {m for m, _ in served.log} == {"GET", "304"}  # conditional requests, nothing changed
    assert sum(1 for m, _ in served.log if m == "304") == sum(1 for m, _ in served.log if m == "GET")
    served.log.clear()
    # resolving (and saving the context) reads definitions only: no payload yet
    r = rez(tmp_path, loc, "env", "multitool", "python-3.11", "--output", str(tmp_path / "c.rxt"),
            store=tmp_path / "store2", env=e)
    assert r.returncode == 0 and sum(1 for m, _ in served.log if m == "full") == 0, r.stderr
    served.log.clear()
    r = rez(tmp_path, loc, "env", "multitool", "python-3.11", "--", "multitool", env=e)
    assert r.returncode == 0, r.stderr
    full = sorted(p.rsplit("/", 1)[1] for m, p in served.log if m == "full")
    assert full == sorted(["multitool-2.1.0-cp311-cp311-linux_x86_64.whl",
                           "platform-0+x0.6c696e7578-py3-none-any.whl",
                           "python-3.11-py3-none-any.whl", "pyutil-1.2.0-py3-none-any.whl",
                           "arch-0+x0.7838365f3634-py3-none-any.whl"])  # one per resolved variant


def test_malicious_definition_never_runs(wheels, tmp_path):
    marker = tmp_path / "pwned"
    evil = f"name = 'pyutil'\nversion = '1.2.0'\n__import__('os').system('touch {marker}')\n"

    def change(name, data):
        if name.endswith("rez-package.py"):
            return evil.encode()
        if name.endswith("METADATA"):
            head, _, _ = data.decode().partition("```python\n")
            return (head + "```python\n" + evil + "```\n").encode()
        return data
    bad = rebuild(wheels / "pyutil-1.2.0-py3-none-any.whl",
                  tmp_path / "pyutil-1.2.0-py3-none-any.whl", change)
    rezwheel("publish", bad, wheels / "sitedata-2023+x0.2e3031-py3-none-any.whl",
             "--to", tmp_path / "idx")
    loc = [f"artifactory@{tmp_path / 'idx'}"]
    r = rez(tmp_path, loc, "search", "pyutil")
    warnings = [line for line in r.stderr.splitlines() if "pyutil-1.2.0-py3-none-any.whl" in line]
    assert len(warnings) == 1 and "is not allowed in a package definition" in warnings[0]
    assert "Traceback" not in r.stderr
    r = rez(tmp_path, loc, "env", "pyutil", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert rez(tmp_path, loc, "env", "sitedata", "--", "true").returncode == 0
    assert not marker.exists()


def test_eight_processes_download_once(served, tmp_path):
    served.throttle = 0.02
    loc = [f"artifactory@{served.url}/simple/"]
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = {loc!r}\n")
    e = env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1", REZWHEEL_STORE=str(tmp_path / "store"),
            REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0])
    procs = [subprocess.Popen([str(BIN / "rez"), "env", "sitedata", "--", "sitedata-info"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
             for _ in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert len({o[0] for o in outs}) == 1 and outs[0][0].startswith("sitedata at ")
    assert served.downloads_of("sitedata-2023+x0.2e3031-py3-none-any.whl") == 1


def test_killed_download_leaves_no_partial_root(served, wheels, tmp_path):
    big = tmp_path / "repo" / "bigdata" / "1.0"
    (big / "data").mkdir(parents=True)
    (big / "package.py").write_text("name = 'bigdata'\nversion = '1.0'\n")
    (big / "data" / "blob.bin").write_bytes(os.urandom(4 << 20))
    rezwheel("publish", big, "--to", served.url, env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
    served.throttle = 0.05  # 64 chunks: about 3 s
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = ['artifactory@{served.url}/simple/']\n")
    store = tmp_path / "store"
    e = env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1", REZWHEEL_STORE=str(store),
            REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0])
    p = subprocess.Popen([str(BIN / "rez"), "env", "bigdata", "--", "true"], env=e,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(m == "full" for m, _ in served.log) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    roots = store / "roots"
    assert not roots.exists() or all(n.startswith(".tmp-") for n in os.listdir(roots))
    visible = [f for d in (store / "wheels").iterdir() for f in os.listdir(d)
               if not f.startswith(".tmp-")]
    assert visible == []
    served.throttle = 0
    r = subprocess.run([str(BIN / "rez"), "env", "bigdata", "--", "printenv", "REZ_BIGDATA_ROOT"],
                       env=e, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (Path(r.stdout.strip()) / "data" / "blob.bin").stat().st_size == 4 << 20


def test_offline_resolves_from_the_store(local_index, tmp_path):
    server = PyPIServer(tmp_path / "srv")
    rezwheel("publish", *sorted((local_index / "files").glob("*.whl")), "--to", server.url)
    loc = [f"artifactory@{server.url}simple/"]
    online = resolve(tmp_path, loc, "multitool python-3.11")
    server.stop()
    r = rez(tmp_path, loc, "env", "multitool", "python-3.11", "--", "multitool")
    assert r.returncode == 0 and r.stdout.strip() == "multitool 2.1.0 (python 3.11)", r.stderr
    assert r.stderr.count("unreachable: resolving from cached pages") == 1
    assert resolve(tmp_path, loc, "multitool python-3.11") == online
    r = rez(tmp_path, loc, "env", "sitedata", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "unreachable and" in r.stderr and "was never read" in r.stderr


def test_saved_context_reloads_in_a_new_process(local_index, tmp_path):
    loc = [f"artifactory@{local_index}"]
    ctx = tmp_path / "ctx.rxt"
    r = rez(tmp_path, loc, "env", "pyutil", "--output", str(ctx))
    assert r.returncode == 0 and ctx.exists(), r.stderr
    r = rez(tmp_path, loc, "env", "--input", str(ctx), "--", "pyutil", "--version")
    assert r.stdout.strip() == "pyutil 1.2.0", r.stderr
    r = rez(tmp_path, loc, "context", str(ctx))
    line = next(x for x in r.stdout.splitlines() if x.startswith("pyutil-1.2.0"))
    assert str(tmp_path / "store" / "roots") in line  # the localized root, not the index


def test_a_contexts_payloads_come_side_by_side(served, tmp_path):
    """rez asks for the root of each variant it resolved in turn, and waits for each: from the
    first ask, the other payloads are fetched side by side (a far node then waits about one
    round trip for them all, not one each). So for a saved context loaded elsewhere; a context
    only saved fetches none."""
    loc = [f"artifactory@{served.url}/simple/"]
    e = {"REZWHEEL_TOKEN": ARTIFACTORY_TOKENS[0], "REZWHEEL_TTL": "300"}
    ctx = tmp_path / "ctx.rxt"
    r = rez(tmp_path, loc, "env", "multitool", "python-3.11", "sitedata", "pyutil", "--output",
            str(ctx), env=e)
    assert r.returncode == 0, r.stderr
    assert not any(m == "full" for m, _ in served.log)  # resolved only: nothing fetched
    served.latency, served.most_in_flight = 0.3, 0
    r = rez(tmp_path, loc, "env", "--input", str(ctx), "--", "multitool", env=e)
    assert r.returncode == 0 and r.stdout.strip() == "multitool 2.1.0 (python 3.11)", r.stderr
    fetched = [p for m, p in served.log if m == "full"]
    assert len(fetched) >= 4 and len(set(fetched)) == len(fetched), fetched
    assert served.most_in_flight >= 3, served.most_in_flight


def test_named_location_in_rez_packages_path(local_index, sample_repo, tmp_path):
    plugins = {"package_repository": {"artifactory": {
        "indexes": {"studio": {"url": f"file://{local_index}"}}}}}
    settings = f"plugins = {plugins!r}\n"
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(settings)
    e = env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1", REZWHEEL_STORE=str(tmp_path / "store"),
            REZ_PACKAGES_PATH=f"artifactory@studio{os.pathsep}{tmp_path / 'empty'}")
    r = subprocess.run([str(BIN / "rez"), "env", "pyutil", "--", "pyutil", "--version"], env=e,
                       capture_output=True, text=True)
    assert r.stdout.strip() == "pyutil 1.2.0", r.stderr


def test_never_localized_package_uses_the_site_path(tmp_path):
    pkg = tmp_path / "repo" / "bigsite" / "2.0"
    pkg.mkdir(parents=True)
    (pkg / "package.py").write_text(
        "name = 'bigsite'\nversion = '2.0'\nrezwheel = {'localize': 'never'}\n\n"
        "def commands():\n    env.BIGSITE = '{root}'\n")
    rezwheel("publish", pkg, "--to", tmp_path / "idx")
    loc = [f"artifactory@{tmp_path / 'idx'}"]
    site = tmp_path / "mirror"
    plugins = {"package_repository": {"artifactory": {"site_path": str(site)}}}
    settings = f"plugins = {plugins!r}\n"
    r = rez(tmp_path, loc, "env", "bigsite", "--", "printenv", "BIGSITE", settings=settings)
    assert r.returncode != 0 and "is never localized, and its site path" in r.stderr
    (site / "bigsite" / "2.0").mkdir(parents=True)
    r = rez(tmp_path, loc, "env", "bigsite", "--", "printenv", "BIGSITE", settings=settings)
    assert r.stdout.strip() == str(site / "bigsite" / "2.0"), r.stderr
    assert not (tmp_path / "store" / "roots").exists()


def test_cache_ls_verify_prune(served, tmp_path):
    from filelock import FileLock

    loc = [f"artifactory@{served.url}/simple/"]
    e = {"REZWHEEL_TOKEN": ARTIFACTORY_TOKENS[0]}
    assert rez(tmp_path, loc, "env", "pyutil", "sitedata", "--", "true", env=e).returncode == 0
    store = ["--store", str(tmp_path / "store")]
    listed = rezwheel("cache", *store, "ls").stdout
    assert "pyutil-1.2.0-py3-none-any.whl" in listed and "sitedata-" in listed
    assert rezwheel("cache", *store, "verify").returncode == 0
    (wheel,) = (tmp_path / "store" / "wheels").glob("*/pyutil-*.whl")
    with open(wheel, "ab") as fh:
        fh.write(b"\0")
    r = rezwheel("cache", *store, "verify", check=False)
    assert r.returncode == 1 and f"rezwheel: error: {wheel}: sha256" in r.stderr
    held = FileLock(str(tmp_path / "store" / "locks" / (wheel.parent.name + ".lock")))
    with held:
        out = rezwheel("cache", *store, "prune", "--keep-last", "0").stdout
    assert "in use    pyutil-1.2.0-py3-none-any.whl" in out
    assert (tmp_path / "store" / "roots" / wheel.parent.name).is_dir()
    out = rezwheel("cache", *store, "prune", "--keep-last", "0").stdout
    assert "removed   pyutil-1.2.0-py3-none-any.whl" in out
    assert not (tmp_path / "store" / "roots" / wheel.parent.name).exists()
    assert rezwheel("cache", *store, "ls").stdout.strip() == \
        f"the store {tmp_path / 'store'} holds no artifacts"


def test_prune_sweeps_what_an_interrupted_extraction_left(tmp_path):
    """A process killed while it extracts leaves ``roots/.tmp-PID-…``: readers skip it, and
    ``cache prune`` removes it once that process is gone and an hour has passed (a running
    extraction, or a fresh one, stays)."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    roots = tmp_path / "store" / "roots"
    left, fresh, running = (roots / f".tmp-{gone}-0a1b2c", roots / f".tmp-{gone}-3d4e5f",
                            roots / f".tmp-{os.getpid()}-0a0a0a")
    for d in (left, fresh, running):
        (d / "python").mkdir(parents=True)
        (d / "python" / "half.py").write_text("x = 1\n")
    old = time.time() - 7200
    for d in (left, running):
        os.utime(d, (old, old))
    r = rezwheel("cache", "--store", str(tmp_path / "store"), "prune", "--keep-last", "5")
    assert r.returncode == 0, r.stderr
    assert not left.exists() and fresh.is_dir() and running.is_dir()


def test_release_time_and_state_handle(local_index, tmp_path):
    """What rez's resolve caching keys on: the family's last upload, each variant's sha256."""
    code = f"""
import json
from rez.packages import iter_packages
from rez.package_repository import package_repository_manager
repo = package_repository_manager.get_repository("artifactory@{local_index}")
fam = repo.get_package_family("relfam")
pkg = next(p for p in iter_packages("pyutil", paths=["artifactory@{local_index}"]))
variant = next(pkg.iter_variants())
print(json.dumps([repo.get_last_release_time(fam), repo.get_variant_state_handle(variant.resource)]))
"""
    e = env(REZWHEEL_STORE=str(tmp_path / "store"), REZ_QUIET="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e)
    when, state = json.loads(out.stdout)
    newest = max(p.stat().st_mtime for p in (local_index / "files").glob("relfam-*.whl"))
    assert when == int(newest)
    import hashlib
    assert state == hashlib.sha256((local_index / "files" / "pyutil-1.2.0-py3-none-any.whl")
                                   .read_bytes()).hexdigest()


def test_rez_package_cache_holds_the_one_extracted_copy(local_index, tmp_path):
    cache = tmp_path / "pkgcache"
    cache.mkdir()
    loc = [f"artifactory@{local_index}"]
    settings = f"cache_packages_path = {str(cache)!r}\n"
    r = rez(tmp_path, loc, "env", "pyutil", "--", "printenv", "REZ_PYUTIL_ROOT", settings=settings)
    root = Path(r.stdout.strip())
    assert root.is_relative_to(cache) and (root / "python" / "pyutil").is_dir(), r.stderr
    listing = rez(tmp_path, loc, "pkg-cache", settings=settings).stdout
    assert any(line.split()[:2] == ["cached", "pyutil-1.2.0"] for line in listing.splitlines())
    roots = tmp_path / "store" / "roots"
    assert [n for n in os.listdir(roots) if not n.startswith(".")] == []  # no second copy
    shutil.rmtree(cache / "pyutil")  # what a clean-up of the cache does
    r = rez(tmp_path, loc, "env", "pyutil", "--", "pyutil", "--version", settings=settings)
    assert r.stdout.strip() == "pyutil 1.2.0", r.stderr
    assert (cache / "pyutil").is_dir()


def test_tampered_payload_is_refused_while_localizing(wheels, tmp_path):
    bad = rebuild(wheels / "pyutil-1.2.0-py3-none-any.whl", tmp_path / "pyutil-1.2.0-py3-none-any.whl",
                  lambda n, d: d + b"# tampered\n" if n == "pyutil/cli.py" else d, fix_record=False)
    rezwheel("publish", bad, wheels / "python-3.11-py3-none-any.whl", "--to", tmp_path / "idx")
    r = rez(tmp_path, [f"artifactory@{tmp_path / 'idx'}"], "env", "pyutil", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "RECORD check failed: hash of pyutil/cli.py does not match RECORD" in r.stderr
    import hashlib
    sha = hashlib.sha256(bad.read_bytes()).hexdigest()
    assert not (tmp_path / "store" / "roots" / sha).exists()


def test_range_ignored_falls_back_to_the_whole_file_once(served, tmp_path):
    served.ignore_range = True  # the server answers 200 and the whole file to a Range
    loc = [f"artifactory@{served.url}/simple/"]
    e = {"REZWHEEL_TOKEN": ARTIFACTORY_TOKENS[0]}
    r = rez(tmp_path, loc, "env", "pyutil", "--", "pyutil", "--version", env=e)
    assert r.stdout.strip() == "pyutil 1.2.0", r.stderr
    # read whole for its definition, kept, and so never downloaded again to localize it
    assert served.downloads_of("pyutil-1.2.0-py3-none-any.whl") == 1


def test_search_lists_families_but_not_a_whole_public_sized_index(local_index, tmp_path):
    """`rez search` with no family lists the index's rez families (plain projects and sdists
    skipped, unread); an index listing more projects than the cap is not read project by
    project: one line says why, and naming a family still works."""
    index = tmp_path / "index"
    shutil.copytree(local_index, index)
    sdist = b"not even a tarball"
    (index / "files" / "plainsdist-1.0.tar.gz").write_bytes(sdist)
    (index / "simple" / "plainsdist").mkdir()
    (index / "simple" / "plainsdist" / "index.html").write_text(
        '<a href="../../files/plainsdist-1.0.tar.gz#sha256=%s">plainsdist-1.0.tar.gz</a>'
        % hashlib.sha256(sdist).hexdigest())
    loc = [f"artifactory@{index}"]
    r = rez(tmp_path, loc, "search")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert {"relfam", "multitool", "tabulate"} <= set(r.stdout.split()), r.stdout
    assert "plainsdist" not in r.stdout
    r = rez(tmp_path, loc, "search", env={"REZWHEEL_MAX_LIST_PROJECTS": "2"})
    assert "more than 2 (REZWHEEL_MAX_LIST_PROJECTS): name the family" in r.stderr, r.stderr
    assert "relfam" not in r.stdout and "Traceback" not in r.stderr
    r = rez(tmp_path, loc, "view", "relfam", env={"REZWHEEL_MAX_LIST_PROJECTS": "2"})
    assert r.returncode == 0 and "name: relfam" in r.stdout, r.stderr


def test_ttl_spares_a_warm_resolve_every_request(served, tmp_path):
    """A render node's ttl: within it, a warm resolve sends no request at all; after it, pages
    are revalidated (conditional requests, 304s); cold, pages and definitions are read."""
    loc = [f"artifactory@{served.url}/simple/"]
    ttl = "plugins = {'package_repository': {'artifactory': {'ttl': 300}}}\n"
    e = {"REZWHEEL_TOKEN": ARTIFACTORY_TOKENS[0]}
    cold = resolve(tmp_path, loc, "multitool python-3.11", settings=ttl, env=e)
    assert any(m == "GET" for m, _ in served.log) and any(m == "range" for m, _ in served.log)
    served.log.clear()
    assert resolve(tmp_path, loc, "multitool python-3.11", settings=ttl, env=e) == cold
    assert served.log == []  # within the ttl: not one request
    after = dict(e, REZWHEEL_TTL="0")  # as when the ttl has run out
    assert resolve(tmp_path, loc, "multitool python-3.11", settings=ttl, env=after) == cold
    assert served.log and {m for m, _ in served.log} == {"GET", "304"}, served.log
    served.log.clear()
    # a revalidated page is fresh again for the ttl
    assert resolve(tmp_path, loc, "multitool python-3.11", settings=ttl, env=e) == cold
    assert served.log == []


@pytest.fixture(params=["html-only", "json-and-metadata"])
def artifactory_kind(request, wheels):
    """The samples on an Artifactory as it ships (HTML pages only) and as an admin may set it
    up (7.132+ "Simple JSON Format": PEP 691 JSON with PEP 700 upload times, and PEP 658
    metadata files)."""
    from helpers.artifactory import Artifactory, serve

    on = request.param != "html-only"
    app = Artifactory(tokens=ARTIFACTORY_TOKENS, json_api=on, metadata=on)
    base, server = serve(app)
    app.url = f"{base}/artifactory/api/pypi/rez"
    rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", app.url,
             env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
    app.deployed.clear()  # the per-file reads each kind allows (bundles: test_bundles.py)
    app.log.clear()
    yield app, on
    server.shutdown()


def test_plugin_reads_what_each_artifactory_serves(artifactory_kind, tmp_path):
    app, modern = artifactory_kind
    loc = [f"artifactory@{app.url}/simple/"]
    e = {"REZWHEEL_TOKEN": ARTIFACTORY_TOKENS[0]}
    got = resolve(tmp_path, loc, "multitool python-3.11", env=e)
    assert {"multitool-2.1.0", "pyutil-1.2.0", "python-3.11"} <= set(got.split()), got
    kinds = {m for m, _ in app.log}
    if modern:  # JSON pages, definitions from the metadata files: no range read of a wheel
        assert "json" in kinds and "metadata" in kinds and "range" not in kinds, app.log
    else:       # HTML pages, definitions by range reads of the wheels' tails
        assert "json" not in kinds and "metadata" not in kinds and "range" in kinds, app.log
    # the only whole files are the payloads of the variants the context uses
    assert {p.rsplit("/", 1)[1].split("-")[0] for m, p in app.log if m == "full"} <= \
        {"multitool", "pyutil", "python", "platform", "arch"}, app.log
