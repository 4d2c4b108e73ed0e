"""PEP 592 on the Artifactory fixture, as it ships (HTML pages) and with the Simple JSON
format on, and on to hosts behind a mirror served by a static web server (the mirror's pages
and its snapshot carry the yank). The hostile and per-command cases are in
tests/hostile/test_yanked.py."""

import subprocess

import pytest

from helpers import ARTIFACTORY_TOKENS, BIN, env, rezwheel

NEWEST = "relfam-1.0.1-py3-none-any.whl"


def _rez(tmp_path, packages_path, *args, store="store", **extra):
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = {packages_path!r}\n")
    e = env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1", REZWHEEL_STORE=str(tmp_path / store),
            REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0], **extra)
    return subprocess.run([str(BIN / "rez"), *args], capture_output=True, text=True, env=e)


def _version(tmp_path, packages_path, request="relfam", **kw):
    r = _rez(tmp_path, packages_path, "env", request, "--", "printenv", "RELFAM_VERSION", **kw)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(params=["html-only", "json-and-metadata"])
def yanking_artifactory(request, wheels):
    from helpers.artifactory import Artifactory, serve

    on = request.param != "html-only"
    app = Artifactory(tokens=ARTIFACTORY_TOKENS, json_api=on, metadata=on)
    base, server = serve(app)
    app.url = f"{base}/artifactory/api/pypi/rez"
    rezwheel("publish", *sorted(wheels.glob("relfam-*.whl")), *sorted(wheels.glob("py*.whl")),
             "--to", app.url, env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
    yield app
    server.shutdown()


def test_a_yank_on_artifactory_reaches_rez_install_and_a_mirror(yanking_artifactory, tmp_path):
    from helpers.servers import LoggedStatic

    app = yanking_artifactory
    loc = [f"artifactory@{app.url}/simple/"]
    ctx = tmp_path / "ctx.rxt"
    r = _rez(tmp_path, loc, "env", "relfam", "--output", str(ctx))
    assert r.returncode == 0, r.stderr
    assert _version(tmp_path, loc) == "1.0.1"
    app.yank(NEWEST, "bad build")
    assert _version(tmp_path, loc) == "1.0.0.rc1"
    r = _rez(tmp_path, loc, "env", "--input", str(ctx), "--", "printenv", "RELFAM_VERSION",
             store="cold")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", r.stderr
    e = env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0], REZWHEEL_STORE=str(tmp_path / "store"))
    r = rezwheel("install", "relfam==1.0.1", "--into", tmp_path / "repo", "--index",
                 f"{app.url}/simple/", env=e)
    assert (tmp_path / "repo" / "relfam" / "1.0.1").is_dir()
    assert "relfam-1.0.1 is yanked" in r.stderr and "(reason: bad build)" in r.stderr, r.stderr
    # hosts behind a mirror, over HTTP: the mirror's page (and snapshot) say it too
    mirror = tmp_path / "mirror"
    rezwheel("mirror", "sync", "--from", f"{app.url}/simple/", "--to", mirror, env=e)
    assert (mirror / "files" / NEWEST).is_file()
    static = LoggedStatic(mirror)
    try:
        assert _version(tmp_path, [f"artifactory@{static.url}"], store="host") == "1.0.0.rc1"
        app.yank(NEWEST, None)  # unyanked upstream: the next sync says so
        rezwheel("mirror", "sync", "--from", f"{app.url}/simple/", "--to", mirror, env=e)
        assert _version(tmp_path, [f"artifactory@{static.url}"], store="host") == "1.0.1"
    finally:
        static.stop()


def test_every_version_yanked_says_so_once(yanking_artifactory, tmp_path):
    """rez only says a package is not found when none is offered: one line says why."""
    app = yanking_artifactory
    for name in ("relfam-1.0-py3-none-any.whl", "relfam-1.0.0-py3-none-any.whl",
                 "relfam-1.0.0+rc.1-py3-none-any.whl", NEWEST):
        app.yank(name)
    r = _rez(tmp_path, [f"artifactory@{app.url}/simple/"], "env", "relfam", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    said = [ln for ln in r.stderr.splitlines() if "every version" in ln]
    assert len(said) == 1 and "relfam" in said[0] and "1.0.1" in said[0], r.stderr
