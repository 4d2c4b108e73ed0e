"""``--dist loadgroup`` that holds whatever form pytest's node ids take (a pytest plugin, loaded
by tests/conftest.py).

pytest-xdist 3.8 tells its scheduler a test's group by appending ``@group`` to the test's node
id; pytest 9.2's node ids are structured and ignore that (pytest-xdist issue #1386), so the
groups were silently dropped and every worker made each group's costly fixture again. Here the
workers write which test is in which group (its ``xdist_group`` marks, written in a test module
or added by tests/conftest.py) to a file the controller named, and the controller's scheduler
reads it once every worker has collected. Without xdist, or with another ``--dist``, nothing
changes.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

#: the key in each worker's ``workerinput``: the file the groups are written to
KEY = "rezwheel_xdist_groups"
_FILE = pytest.StashKey[str]()


def _groups_file(config: pytest.Config) -> str:
    if _FILE not in config.stash:
        fd, path = tempfile.mkstemp(prefix="xdist-groups-", suffix=".json")
        os.close(fd)
        config.stash[_FILE] = path
    return config.stash[_FILE]


def pytest_configure(config: pytest.Config) -> None:  # the mark is xdist's: known without it
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # the controller, before it starts a worker
    if node.config.getvalue("dist") == "loadgroup":
        node.workerinput[KEY] = _groups_file(node.config)


@pytest.hookimpl(trylast=True)  # after the marks are added and xdist's own attempt
def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    path = getattr(config, "workerinput", {}).get(KEY)
    if not path:
        return
    groups = {}
    for item in items:
        names = {m.args[0] if m.args else m.kwargs.get("name", "default")
                 for m in item.iter_markers("xdist_group")}
        if names:
            groups[item.nodeid] = "@" + "_".join(sorted(map(str, names)))
    # every worker collects the same tests and writes the same map: whole, by a rename
    tmp = f"{path}.{os.getpid()}"
    Path(tmp).write_text(json.dumps(groups))
    os.replace(tmp, path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # the controller
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    path = _groups_file(config)

    class GroupScheduling(LoadScopeScheduling):
        """A unit of work per test, or per group: a group's tests all run on one worker."""

        groups: "dict | None" = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # first asked once every worker has collected
                text = Path(path).read_text()
                self.groups = json.loads(text) if text else {}
            return self.groups.get(nodeid, nodeid)

    return GroupScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _FILE in config.stash:
        Path(config.stash[_FILE]).unlink(missing_ok=True)
