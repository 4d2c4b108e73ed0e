"""`rez search` (every family of the index) through the plugin, requests counted by the server:
the root page is asked once per process. It lists the projects and declares the serial, and the
listing used to ask for it a second time (cold, and after the ttl: a conditional request, then
the serial's unconditional one)."""

from __future__ import annotations

import shutil
import subprocess

from helpers import BIN, env, rezwheel
from helpers.servers import LoggedStatic


def _search(server: LoggedStatic, tmp_path, ttl: str) -> tuple[list[str], list[tuple]]:
    """(the families `rez search` lists, the requests the server saw for them)."""
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = ['artifactory@{server.url}']\n")
    server.log.clear()
    r = subprocess.run([str(BIN / "rez"), "search"], capture_output=True, text=True,
                       env=env(REZ_CONFIG_FILE=str(cfg), REZWHEEL_STORE=str(tmp_path / "store"),
                               REZWHEEL_TTL=ttl, REZ_QUIET="1"))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return r.stdout.split(), list(server.log)


def test_rez_search_asks_the_root_page_once(local_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(local_index, index)
    server = LoggedStatic(index)
    try:
        cold, asked = _search(server, tmp_path, "300")
        assert {"multitool", "pyutil", "python"} <= set(cold)
        assert asked.count(("GET", "/simple/")) == 1, asked
        assert _search(server, tmp_path, "300") == (cold, [])  # within the ttl: nothing

        after, asked = _search(server, tmp_path, "0")  # the ttl has passed
        assert after == cold
        assert asked == [("GET", "/simple/")], asked  # its serial is unchanged: all is current

        new = tmp_path / "repo" / "searchfam" / "1.0.0"
        new.mkdir(parents=True)
        (new / "package.py").write_text('name = "searchfam"\nversion = "1.0.0"\n')
        rezwheel("publish", new, "--to", index)
        published, asked = _search(server, tmp_path, "0")  # a new serial: the listing is new
        assert sorted(published) == sorted(cold + ["searchfam"])
        assert asked.count(("GET", "/simple/")) == 1, asked
    finally:
        server.stop()
