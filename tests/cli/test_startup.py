"""Start-up: each path imports only what it uses (issue 15). A farm node pays every import on
every ``rez env`` and every ``rezwheel install``; these tests fail when a heavy module comes back
on a path that does not need it.

The probe is a ``sitecustomize`` put first on ``PYTHONPATH``: it registers an exit hook before
anything else, so the hook runs last (exit hooks run in reverse) and sees what other exit hooks
imported too (rez's own hook imports ``rez.resolved_context``, 0.2 s, to clean up contexts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import BIN, env

PROBE = """import atexit, json, os, sys
atexit.register(lambda: open(os.environ["STARTUP_PROBE"], "w").write(json.dumps(sorted(sys.modules))))
"""

#: never on a start-up path that reads a local index: what convert, publish, HTTP and bars need
NEVER = ["requests", "rich", "shtab", "twine", "rezwheel.convert", "rezwheel.publish",
         "rezwheel.mirror", "rezwheel.artifact.writer", "rezwheel.index.http",
         "rezwheel.index.upload", "rezwheel.index.local"]


def loaded(tmp_path, args: list, **kw) -> set:
    """The modules a command had loaded when it exited (its exit hooks' imports included)."""
    probe = tmp_path / "probe"
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE)
    out = tmp_path / "modules.json"
    e = env(STARTUP_PROBE=str(out), REZ_QUIET="1",
            PYTHONPATH=os.pathsep.join([str(probe), *filter(None, [os.environ.get("PYTHONPATH")])]),
            **kw)
    r = subprocess.run(args, capture_output=True, text=True, env=e)
    assert r.returncode == 0, r.stderr
    return set(json.loads(out.read_text()))


def present(modules: set, names: list) -> list:
    return sorted(n for n in names if n in modules)


def test_help_imports_neither_rez_nor_the_flows(tmp_path):
    got = loaded(tmp_path, [sys.executable, "-m", "rezwheel", "install", "--help"])
    assert present(got, [*NEVER, "rez", "installer", "packaging", "filelock", "rezwheel.install",
                         "rezwheel.resolve.planner"]) == []


def test_install_from_a_local_index_imports_what_it_uses(local_index, tmp_path):
    got = loaded(tmp_path, [sys.executable, "-m", "rezwheel", "install", "--into",
                            str(tmp_path / "repo"), "--index", str(local_index), "--python",
                            "3.11", "multitool"], REZWHEEL_STORE=str(tmp_path / "store"))
    assert "rezwheel.install" in got and "rezwheel.rezrepo.restore" in got  # it did the work
    # no context is built, so rez's exit hook must not import one to clean up; rezwheel's
    # own artifacts are restored without installer (plain wheels need it)
    assert present(got, [*NEVER, "rez.resolved_context", "installer"]) == []


@pytest.fixture()
def rez_env(local_index, tmp_path):
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = ['artifactory@{local_index}']\n")

    def run() -> set:
        return loaded(tmp_path, [str(BIN / "rez"), "env", "multitool", "python-3.11", "--",
                                 "true"], REZ_CONFIG_FILE=str(cfg),
                      REZWHEEL_STORE=str(tmp_path / "store"))
    return run


def test_rez_env_through_the_plugin_imports_what_it_uses(rez_env):
    cold = rez_env()  # the localization path: payloads restored into the store
    assert "rezwheel.rezrepo.restore" in cold and "rezwheel.artifact.layout" in cold
    assert present(cold, [*NEVER, "installer"]) == []
    warm = rez_env()  # every root already in the store: nothing to restore, nothing to lock
    assert "rezwheel.resolve.packages" in warm
    assert present(warm, [*NEVER, "installer", "filelock", "rezwheel.artifact.reader",
                          "rezwheel.artifact.layout", "tomllib"]) == []


def test_rez_env_over_http_within_the_ttl_imports_nothing_to_send_with(local_index, tmp_path):
    """A render node's warm resolve within its ttl sends no request: it loads no HTTP client
    either (``requests`` alone costs ~80 ms of every ``rez env``)."""
    from helpers.servers import LoggedStatic

    server = LoggedStatic(local_index)
    cfg = tmp_path / "rezconfig.py"
    cfg.write_text(f"packages_path = ['artifactory@{server.url}']\n")
    try:
        def run() -> set:
            return loaded(tmp_path, [str(BIN / "rez"), "env", "multitool", "python-3.11", "--",
                                     "true"], REZ_CONFIG_FILE=str(cfg), REZWHEEL_TTL="300",
                          REZWHEEL_STORE=str(tmp_path / "store"))
        cold = run()
        assert "requests" in cold  # it read the index
        server.log.clear()
        warm = run()
        assert server.log == []
        assert present(warm, ["requests", "urllib3", "rezwheel.index.http"]) == []
    finally:
        server.stop()
