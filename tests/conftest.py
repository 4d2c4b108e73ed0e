"""Shared fixtures: a private copy of the sample repository, its wheels and local index, the
Artifactory fixture, and the small plain projects (built once per session) with a pypiserver
holding them. Helpers the tests call are in ``helpers``.

Under pytest-xdist (``-n``, as tox.ini runs the suite) the files built once are built once for
all workers (``helpers.built_once``); servers are each worker's own, on ephemeral ports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import ARTIFACTORY_TOKENS, built_once, copy_samples, rezwheel
from helpers.projects import build_mixtool, build_plain_wheels
from helpers.servers import PyPIServer

pytest_plugins = ["helpers.xdistgroups"]  # --dist loadgroup as tox.ini runs it


@pytest.fixture(scope="session")
def sample_repo(tmp_path_factory) -> Path:
    return copy_samples(tmp_path_factory.mktemp("samples") / "packages")


@pytest.fixture(scope="session")
def wheels(sample_repo, tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "wheels",
                      lambda out: rezwheel("convert", sample_repo, "-o", out))


@pytest.fixture(scope="session")
def local_index(wheels, tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "index", lambda idx: rezwheel(
        "publish", *sorted(wheels.glob("*.whl")), "--to", idx))


@pytest.fixture()
def artifactory():
    """The Artifactory fixture on an ephemeral port; ``.url`` is the repository's PyPI API."""
    from helpers.artifactory import Artifactory, serve

    app = Artifactory(tokens=ARTIFACTORY_TOKENS)
    base, server = serve(app)
    app.url = f"{base}/artifactory/api/pypi/rez"
    yield app
    server.shutdown()


@pytest.fixture(scope="session")
def plain_wheels(tmp_path_factory) -> Path:
    return built_once(tmp_path_factory, "plain-wheels", lambda out: build_plain_wheels(
        out, tmp_path_factory.mktemp("plain-src")))


@pytest.fixture(scope="session")
def mixtool_wheel(tmp_path_factory) -> Path:
    top = built_once(tmp_path_factory, "mix", build_mixtool)
    return next((top / "wheels").glob("*.whl"))


@pytest.fixture(scope="session")
def pypi(plain_wheels, mixtool_wheel, wheels, tmp_path_factory):
    """pypiserver holding plain wheels, our samples (with the platform/arch stubs) and mixtool."""
    server = PyPIServer(tmp_path_factory.mktemp("pypiserver"))
    for w in [*plain_wheels.glob("*.whl"), mixtool_wheel, *wheels.glob("*.whl")]:
        shutil.copy(w, server.root)
    yield server
    server.stop()


#: (test module, fixture) too costly to make once per xdist worker (a real-projects install, ten
#: rez resolves): the tests using one form a group, which ``--dist loadgroup`` (tox.ini) runs
#: on one worker (``helpers.xdistgroups``), so the fixture is made once as without xdist
GROUPED = {("test_real_projects.py", "big"): "real-projects-install",
           ("test_plugin.py", "filesystem_resolves"): "filesystem-resolves"}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        for (module, fixture), group in GROUPED.items():
            if item.path.name == module and fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
