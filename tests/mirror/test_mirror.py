"""`rezwheel mirror sync` as a site runs it: a mirror of an index that serves hosts on its own
once upstream is gone, resumes after a killed sync, and lets the plugin fall through to
upstream per file."""

import json
import re
import shutil
import subprocess
import sys

from helpers import ARTIFACTORY_TOKENS, BIN, env, host_repo, install, rez_env, rezwheel
from helpers.servers import PyPIServer


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


def _upstream_and_mirror(wheels, tmp_path, *wanted):
    """pypiserver holding ``wheels`` (upstream), and a mirror synced from it of ``wanted``."""
    server = PyPIServer(tmp_path / "upstream")
    for w in wheels.glob("*.whl"):
        shutil.copy(w, server.root)
    mirror = tmp_path / "mirror"
    try:
        rezwheel("mirror", "sync", "--from", server.url + "simple/", "--to", mirror,
                 "--filter", *wanted, env=env(REZWHEEL_STORE=str(tmp_path / "s")))
    except BaseException:
        server.stop()
        raise
    return server, mirror


def test_plugin_falls_through_per_file(wheels, tmp_path):
    """Mirror first, upstream second: what the mirror lacks, or holds damaged, comes from
    upstream; what it holds comes from the mirror."""
    server, mirror = _upstream_and_mirror(wheels, tmp_path, "pyutil", "relfam==1.0.0")
    try:
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


def test_a_file_gone_from_the_mirror_comes_from_upstream(wheels, tmp_path):
    """A file the mirror's page lists but someone deleted: the plugin takes it from the next
    index, saying so on one line; from the mirror alone, one line names the missing file (it
    blamed the store's disk)."""
    server, mirror = _upstream_and_mirror(wheels, tmp_path, "pyutil")
    try:
        gone = mirror / "files" / "pyutil-1.2.0-py3-none-any.whl"
        gone.unlink()
        for name, urls in [("chain", [str(mirror), server.url + "simple/"]),
                           ("alone", [str(mirror)])]:
            plugins = {"package_repository": {"artifactory": {"indexes": {"site": {"urls": urls}}}}}
            cfg = tmp_path / f"rezconfig-{name}.py"
            cfg.write_text(f"plugins = {plugins!r}\npackages_path = ['artifactory@site']\n")
            r = subprocess.run([str(BIN / "rez"), "env", "pyutil", "--", "pyutil", "--version"],
                               capture_output=True, text=True,
                               env=env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1",
                                       REZWHEEL_STORE=str(tmp_path / f"host-{name}")))
            said = [x for x in r.stderr.splitlines() if str(gone) in x]
            assert "Traceback" not in r.stderr and "cannot localize into the store" not in \
                r.stderr and len(said) == 1 and "but not there" in said[0], r.stderr
            if name == "chain":
                assert r.returncode == 0 and r.stdout.strip() == "pyutil 1.2.0", r.stderr
                assert "trying the next index" in said[0], r.stderr
            else:
                assert r.returncode != 0, r.stderr
    finally:
        server.stop()


def test_sync_killed_for_real_resumes(artifactory, wheels, tmp_path):
    """SIGKILL in the middle of a sync from Artifactory: the mirror shows only whole, verified
    files; the next sync finishes, and the mirror then equals one synced in a single go."""
    import hashlib
    import signal
    import time


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
    for rel in pages:  # the same pages; the root's serial says when, not what (index.serial)
        def content(path):
            if path.name == "rez-snapshot.zip":  # every page and bundle, and the serial
                import zipfile

                with zipfile.ZipFile(path) as zf:
                    return {n: zf.read(n) for n in zf.namelist() if n != "serial"}
            return re.sub(rb'<meta name="rezwheel:serial" content="[0-9]+">', b"",
                          path.read_bytes())

        assert content(mirror / rel) == content(fresh / rel), rel


def test_a_sync_with_upstream_down_says_so_once_and_writes_no_index(local_index, tmp_path):
    """Upstream stopped after this host read its pages (kept in the store): each file fails
    alike. The cause is named for the first few and counted for the rest, the summary counts
    the failures, and a new mirror gets no index (a serial and snapshot of nothing would read
    as 'family not found' to every host pointed at it)."""
    from helpers.servers import static_server

    server = static_server(local_index, tmp_path)
    e = env(REZWHEEL_STORE=str(tmp_path / "store"))
    try:
        rezwheel("mirror", "sync", "--from", f"{server.url}simple/", "--to", tmp_path / "m1",
                 env=e)
    finally:
        server.stop()
    r = rezwheel("mirror", "sync", "--from", f"{server.url}simple/", "--to", tmp_path / "m2",
                 check=False, env=dict(e, CI="1"))
    assert r.returncode == 1, r.stderr
    n = len([f for f in (local_index / "files").iterdir() if not f.name.endswith(".metadata")])
    assert f"0 copied, 0 already in the mirror, {n} failed" in r.stdout, r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("rezwheel: error:")]
    assert len(errors) <= 4 and errors[-1].startswith(f"rezwheel: error: ... and {n - 3} more"), \
        r.stderr
    assert not (tmp_path / "m2" / "simple" / "index.html").exists()
