"""The index snapshot as a rez user meets it: ``rez env`` through the plugin over a local index
served by a static server (the snapshot read under its serial) and over Artifactory (the
snapshot publish deploys, read as hints) resolves as the index read as a directory does."""

from __future__ import annotations

from pathlib import Path

from helpers import rezwheel

SNAPSHOT = "rez-snapshot.zip"

USER_REQUESTS = ["multitool python-3.11", "sitedata", "relfam", "localtools",
                 "mayaplug maya-2024", "yamlpkg", "shotbundle", "tabulate", "relfam-1.0"]


def _rez_env(tmp_path: Path, location: str, request: str, store: Path, **kw):
    import subprocess

    from helpers import ARTIFACTORY_TOKENS, BIN, env

    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = {[location]!r}\n")
    e = env(REZ_CONFIG_FILE=str(cfg), REZ_QUIET="1", REZWHEEL_STORE=str(store),
            REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0], **kw)
    return subprocess.run([str(BIN / "rez"), "env", *request.split(), "--", "printenv",
                           "REZ_USED_RESOLVE"], capture_output=True, text=True, env=e)


def _used(tmp_path: Path, location: str, request: str, store: Path) -> str:
    r = _rez_env(tmp_path, location, request, store)
    assert r.returncode == 0 and "Traceback" not in r.stderr, (location, request, r.stderr)
    return r.stdout.strip()


def test_rez_env_over_a_served_index_and_artifactory_resolves_like_the_directory(
        local_index, wheels, artifactory, tmp_path):
    """The snapshot (served local index) and the hints (Artifactory) change no resolve rez
    makes: each request resolves as from the index read as a directory; then, the server gone,
    what was read resolves from the store and what was not is one line, never a traceback."""
    from helpers import ARTIFACTORY_TOKENS, env
    from helpers.servers import static_server

    want = {q: _used(tmp_path, f"artifactory@{local_index}", q, tmp_path / "dir-store")
            for q in USER_REQUESTS}
    server = static_server(local_index, tmp_path / "srv")
    served = f"artifactory@{server.url}simple/"
    try:
        for q in USER_REQUESTS:
            assert _used(tmp_path, served, q, tmp_path / "store") == want[q], q
    finally:
        server.stop()
    for q in USER_REQUESTS[:2]:  # offline: what was read resolves from the store
        assert _used(tmp_path, served, q, tmp_path / "store") == want[q], q
    r = _rez_env(tmp_path, served, "nosuchfamily", tmp_path / "store")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", artifactory.url,
             env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
    assert SNAPSHOT in artifactory.deployed
    art = f"artifactory@{artifactory.url}/simple/"
    for q in USER_REQUESTS:
        assert _used(tmp_path, art, q, tmp_path / "art-store") == want[q], q


def test_rez_env_reads_the_index_as_the_readme_counts_with_the_url_as_written(
        local_index, tmp_path):
    """``rez env`` (a context built, so payloads localized) over a served index named as the
    README writes it (``artifactory@http://…/simple/``, trailing slash): a cold host sends the
    root page and the snapshot once each, a warm one the root page alone, none within the ttl.
    rez names the repository without the slash in each variant it resolved: that is still the
    one repository, not a second reader sending everything again while localizing."""
    from helpers.servers import LoggedStatic

    server = LoggedStatic(local_index)
    served = f"artifactory@{server.url}"
    assert served.endswith("/simple/")
    store = tmp_path / "store"
    try:
        def index_reads(**kw) -> list[tuple[str, str]]:
            server.log.clear()
            r = _rez_env(tmp_path, served, "multitool python-3.11 yamlpkg", store, **kw)
            assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
            assert "multitool-2.1.0" in r.stdout, r.stdout
            return [q for q in server.log if not q[1].startswith("/files/")]

        assert sorted(index_reads(REZWHEEL_TTL="0")) == [
            ("GET", "/simple/"), ("GET", f"/simple/{SNAPSHOT}")]
        assert index_reads(REZWHEEL_TTL="0") == [("GET", "/simple/")]
        assert index_reads(REZWHEEL_TTL="300") == []
    finally:
        server.stop()


def test_a_saved_context_reads_the_pages_the_resolve_kept(local_index, tmp_path):
    """A farm job loads the context the artist saved (``rez env -i ctx.rxt``), whose variants
    name the index without the trailing slash the packages_path entry was written with: it
    reads the index through what the resolve kept (one request, the root page; not the whole
    snapshot again), and with the server gone it still builds the context from the store."""
    import subprocess

    from helpers import BIN, env
    from helpers.servers import LoggedStatic

    server = LoggedStatic(local_index)
    store, ctx = tmp_path / "store", tmp_path / "ctx.rxt"
    (tmp_path / "rezconfig.py").write_text(f"packages_path = ['artifactory@{server.url}']\n")
    e = env(REZ_CONFIG_FILE=str(tmp_path / "rezconfig.py"), REZ_QUIET="1",
            REZWHEEL_STORE=str(store), REZWHEEL_TTL="0")

    def rez_env(*args: str) -> subprocess.CompletedProcess:
        r = subprocess.run([str(BIN / "rez"), "env", *args], capture_output=True, text=True,
                           env=e)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        return r

    try:
        rez_env("multitool", "python-3.11", "-o", str(ctx))
        rez_env("multitool", "python-3.11", "--", "true")  # payloads localized
        server.log.clear()
        r = rez_env("-i", str(ctx), "--", "printenv", "REZ_USED_RESOLVE")
        assert "multitool-2.1.0" in r.stdout
        assert server.log == [("GET", "/simple/")], server.log
    finally:
        server.stop()
    r = rez_env("-i", str(ctx), "--", "printenv", "REZ_USED_RESOLVE")
    assert "multitool-2.1.0" in r.stdout
