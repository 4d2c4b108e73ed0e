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
