"""`rezwheel publish` against real servers, as CI runs it."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

from helpers import env, rezwheel
from helpers.servers import DevpiServer, PyPIServer

SECRET = "s3cret-Pa55"
TOKEN = "tok-ci"


def statuses(r):
    return [x["status"] for x in json.loads(r.stdout)]


@pytest.fixture()
def pypiserver(tmp_path):
    server = PyPIServer(tmp_path / "srv", password=SECRET)
    yield server
    server.stop()


def test_pypiserver_publish_install_republish(pypiserver, wheels, tmp_path):
    files = sorted(map(str, wheels.glob("*.whl")))
    e = env(REZWHEEL_USERNAME="ci", REZWHEEL_PASSWORD=SECRET)
    r = rezwheel("publish", *files, "--to", pypiserver.url, "--json", env=e)
    assert statuses(r) == ["uploaded"] * len(files)
    assert sorted(os.listdir(pypiserver.root)) == sorted(os.path.basename(f) for f in files)
    assert SECRET not in r.stdout + r.stderr

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--isolated", "--index-url", pypiserver.url + "simple/",
                    "pyutil"], check=True)  # this pip, into the venv: no ensurepip
    out = subprocess.run([str(venv / "bin" / "pyutil"), "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == "pyutil 1.2.0"

    mtimes = {p.name: p.stat().st_mtime_ns for p in pypiserver.root.iterdir()}
    r = rezwheel("publish", *files, "--to", pypiserver.url, "--json", env=e)
    assert statuses(r) == ["skipped"] * len(files)
    assert mtimes == {p.name: p.stat().st_mtime_ns for p in pypiserver.root.iterdir()}


def test_pypiserver_changed_file_and_wrong_password(pypiserver, wheels, tmp_path):
    good = wheels / "pyutil-1.2.0-py3-none-any.whl"
    e = env(REZWHEEL_USERNAME="ci", REZWHEEL_PASSWORD=SECRET)
    rezwheel("publish", good, "--to", pypiserver.url, env=e)
    changed = tmp_path / good.name
    shutil.copy(good, changed)
    with open(changed, "ab") as fh:
        fh.write(b"\0")
    r = rezwheel("publish", changed, "--to", pypiserver.url, env=e, check=False)
    assert r.returncode == 1
    assert re.search(r"already holds a different file under this name \(index sha256 [0-9a-f]{64}, "
                     r"new sha256 [0-9a-f]{64}\)", r.stderr)

    wrong = "not-" + SECRET
    other = wheels / "sitedata-2023+x0.2e3031-py3-none-any.whl"
    r = rezwheel("publish", other, "--to", pypiserver.url, check=False,
                 env=env(REZWHEEL_USERNAME="ci", REZWHEEL_PASSWORD=wrong))
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert re.match(rf"rezwheel: error: {re.escape(other.name)}: HTTP 40[13] (Unauthorized|"
                    rf"Forbidden) from {re.escape(pypiserver.url)} \(credentials from "
                    rf"\$REZWHEEL_PASSWORD\)$", line), line
    assert wrong not in r.stdout + r.stderr and "DOCTYPE" not in r.stderr

    # a batch refused alike is said once, and stops as twine does: the rest is not tried
    batch = [w for w in sorted(wheels.glob("*.whl")) if w.name != good.name]
    r = rezwheel("publish", *batch, "--to", pypiserver.url, "--jobs", "1", check=False,
                 env=env(REZWHEEL_USERNAME="ci", REZWHEEL_PASSWORD=wrong))
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert re.match(rf"rezwheel: error: {len(batch)} files not published: HTTP 40[13] "
                    rf"(Unauthorized|Forbidden) from {re.escape(pypiserver.url)} \(credentials "
                    rf"from \$REZWHEEL_PASSWORD\) \({len(batch) - 2} not tried after the first "
                    rf"failures\)$", line), line
    assert "uploaded" not in r.stdout


def test_dependency_confusion_guard(pypiserver, sample_repo, tmp_path):
    # someone else's "pyutil" is on the index already: a plain wheel with no rez definition
    (tmp_path / "dist").mkdir()
    with zipfile.ZipFile(tmp_path / "dist" / "pyutil-0.1-py3-none-any.whl", "w") as z:
        z.writestr("pyutil/__init__.py", "")
        z.writestr("pyutil-0.1.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: pyutil\nVersion: 0.1\n")
        z.writestr("pyutil-0.1.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("pyutil-0.1.dist-info/RECORD", "")
    e = env(REZWHEEL_USERNAME="ci", REZWHEEL_PASSWORD=SECRET)
    rezwheel("publish", *tmp_path.glob("dist/*.whl"), "--to", pypiserver.url, env=e)
    r = rezwheel("publish", sample_repo / "pyutil", "--to", pypiserver.url, env=e, check=False)
    assert r.returncode == 1
    assert "'pyutil' already exists on the index and is not a rezwheel project" in r.stderr
    r = rezwheel("publish", sample_repo / "pyutil", "--to", pypiserver.url, "--allow-foreign-name",
                 env=e)
    assert "uploaded" in r.stdout


def test_artifactory_wait_across_quiet_period(artifactory, wheels):
    artifactory.quiet = 1.5
    files = sorted(map(str, wheels.glob("relfam-*.whl")))
    start = time.monotonic()
    r = rezwheel("publish", *files, "--to", artifactory.url, "--wait=20", "--json",
                 env=env(REZWHEEL_TOKEN=TOKEN))
    assert statuses(r) == ["uploaded"] * 4
    assert time.monotonic() - start >= 1.5  # it did wait for the index to list them
    posts = artifactory.uploads_of
    before = sum(posts(Path(f).name) for f in files)
    r = rezwheel("publish", *files, "--to", artifactory.url, "--json", env=env(REZWHEEL_TOKEN=TOKEN))
    assert statuses(r) == ["skipped"] * 4
    assert sum(posts(Path(f).name) for f in files) == before  # nothing sent again
    assert artifactory.auth_schemes == {"Bearer"}  # an access token goes as Bearer, up front


def test_artifactory_wait_times_out(artifactory, wheels):
    artifactory.quiet = 60
    r = rezwheel("publish", wheels / "pyutil-1.2.0-py3-none-any.whl", "--to", artifactory.url,
                 "--wait=1", env=env(REZWHEEL_TOKEN=TOKEN), check=False)
    assert r.returncode == 1 and "does not list it after 1 s" in r.stderr


@pytest.mark.parametrize("duplicate_status", [403, 404])
def test_artifactory_duplicate_answers_are_skips(artifactory, wheels, duplicate_status):
    artifactory.quiet = 60  # stored but not listed: the publisher cannot see it in the index
    artifactory.duplicate_status = duplicate_status
    w = wheels / "pyutil-1.2.0-py3-none-any.whl"
    e = env(REZWHEEL_TOKEN=TOKEN)
    assert statuses(rezwheel("publish", w, "--to", artifactory.url, "--json", env=e)) == ["uploaded"]
    r = rezwheel("publish", w, "--to", artifactory.url, "--json", env=e)
    assert statuses(r) == ["skipped"]
    assert artifactory.uploads_of(w.name) == 2  # the server refused the second: nothing overwritten


def test_artifactory_retry_after_is_honoured(artifactory, wheels):
    artifactory.faults = ["429:2"]
    w = wheels / "pyutil-1.2.0-py3-none-any.whl"
    start = time.monotonic()
    r = rezwheel("publish", w, "--to", artifactory.url, "--json", env=env(REZWHEEL_TOKEN=TOKEN))
    assert statuses(r) == ["uploaded"]
    assert time.monotonic() - start >= 2
    assert artifactory.uploads_of(w.name) == 2


def test_artifactory_dropped_answer_is_not_uploaded_twice(artifactory, wheels):
    artifactory.faults = ["drop"]
    artifactory.quiet = 60  # and the index does not list it yet
    w = wheels / "pyutil-1.2.0-py3-none-any.whl"
    r = rezwheel("publish", w, "--to", artifactory.url, "--json", env=env(REZWHEEL_TOKEN=TOKEN))
    assert statuses(r) == ["uploaded"]
    assert artifactory.uploads_of(w.name) == 1


def test_artifactory_anonymous_gets_a_clear_error(artifactory, wheels):
    w = wheels / "pyutil-1.2.0-py3-none-any.whl"
    r = rezwheel("publish", w, "--to", artifactory.url, env=env(), check=False)
    assert r.returncode == 1
    assert "HTTP 404" in r.stderr and "no credentials found for this index" in r.stderr
    assert artifactory.files == {}


def test_named_target_and_dry_run(artifactory, wheels, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[index.studio]\nupload-url = "{artifactory.url}"\ntype = "artifactory"\n')
    w = wheels / "pyutil-1.2.0-py3-none-any.whl"
    e = env(REZWHEEL_CONFIG=str(cfg), REZWHEEL_STUDIO_TOKEN=TOKEN)
    r = rezwheel("publish", w, "--to", "studio", "--dry-run", "--json", env=e)
    assert statuses(r) == ["would-upload"] and artifactory.files == {}
    r = rezwheel("publish", w, "--to", "studio", "--json", env=e)
    assert statuses(r) == ["uploaded"]
    assert set(artifactory.files) == {f"pyutil/1.2.0/{w.name}"}


def test_plain_output_lines_in_ci(artifactory, wheels):
    files = sorted(map(str, wheels.glob("relfam-*.whl")))
    r = rezwheel("publish", *files, "--to", artifactory.url, env=env(REZWHEEL_TOKEN=TOKEN, CI="true"))
    assert sorted(r.stdout.split()) == sorted(["uploaded"] * 4 + [Path(f).name for f in files])


def test_devpi_json_index(wheels, tmp_path):
    if not (Path(sys.executable).parent / "devpi-server").exists():
        pytest.skip("devpi-server is not installed in this environment")
    try:
        server = DevpiServer(tmp_path, "rootpw")
    except RuntimeError as e:
        pytest.skip(str(e))
    try:
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[index.devpi]\nupload-url = "{server.url}"\ntype = "devpi"\n')
        e = env(REZWHEEL_CONFIG=str(cfg), REZWHEEL_DEVPI_USERNAME="root",
                REZWHEEL_DEVPI_PASSWORD="rootpw")
        files = sorted(map(str, wheels.glob("relfam-*.whl")))
        assert statuses(rezwheel("publish", *files, "--to", "devpi", "--json", env=e)) == \
            ["uploaded"] * 4
        assert statuses(rezwheel("publish", *files, "--to", "devpi", "--json", env=e)) == \
            ["skipped"] * 4
        page = requests.get(server.url + "+simple/relfam/",
                            headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        assert page.headers["Content-Type"].startswith("application/vnd.pypi.simple.v1+json")
    finally:
        server.stop()


def test_artifactory_a_file_without_a_definition_is_asked_for_once(tmp_path):
    """After each upload, publish merges the project's bundle of definitions, reading the
    definition of each listed file the bundle lacks. A file that has none (a plain wheel let
    into the project with --allow-foreign-name) never joined the bundle, so every publish to
    the project asked for its .metadata again; the bundle now notes it as without one."""
    from helpers.artifactory import Artifactory, serve

    app = Artifactory(tokens=("tok-ci",), metadata=True)
    base, server = serve(app)
    url = f"{base}/artifactory/api/pypi/rez"
    e = env(REZWHEEL_TOKEN="tok-ci", REZWHEEL_STORE=str(tmp_path / "store"))

    def package(version: str) -> Path:
        d = tmp_path / "repo" / "mixfam" / version
        d.mkdir(parents=True)
        (d / "package.py").write_text(f'name = "mixfam"\nversion = "{version}"\n')
        return d

    plain = tmp_path / "mixfam-0.5.0-py3-none-any.whl"
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("mixfam-0.5.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: mixfam\nVersion: 0.5.0\n\nsomeone else's\n")
        z.writestr("mixfam-0.5.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("mixfam-0.5.0.dist-info/RECORD", "")

    def publish(path) -> list[str]:
        app.log.clear()
        rezwheel("publish", path, "--to", url, "--allow-foreign-name", env=e)
        return [p for m, p in app.log if p.endswith(plain.name + ".metadata")]

    try:
        publish(package("1.0.0"))
        publish(plain)
        asked = [publish(package(v)) for v in ("1.1.0", "1.2.0", "1.3.0")]
        assert [len(a) for a in asked] == [1, 0, 0], asked
        got = requests.get(f"{url}/simple/mixfam/", headers={"Authorization": "Bearer tok-ci"})
        assert plain.name in got.text and "mixfam-1.3.0" in got.text
    finally:
        server.shutdown()
