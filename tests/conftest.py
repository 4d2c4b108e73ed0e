"""Shared fixtures: a private copy of the sample repository, its wheels and local index, the
Artifactory fixture, and the small plain projects (built once per session) with a pypiserver
holding them. Helpers the tests call are in ``helpers``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import ARTIFACTORY_TOKENS, copy_samples, rezwheel
from helpers.projects import build_mixtool, build_plain_wheels
from helpers.servers import PyPIServer


@pytest.fixture(scope="session")
def sample_repo(tmp_path_factory) -> Path:
    return copy_samples(tmp_path_factory.mktemp("samples") / "packages")


@pytest.fixture(scope="session")
def wheels(sample_repo, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    rezwheel("convert", sample_repo, "-o", out)
    return out


@pytest.fixture(scope="session")
def local_index(wheels, tmp_path_factory) -> Path:
    idx = tmp_path_factory.mktemp("index")
    rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", idx)
    return idx


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
    return build_plain_wheels(tmp_path_factory.mktemp("plain-wheels"),
                              tmp_path_factory.mktemp("plain-src"))


@pytest.fixture(scope="session")
def mixtool_wheel(tmp_path_factory) -> Path:
    return build_mixtool(tmp_path_factory.mktemp("mix"))


@pytest.fixture(scope="session")
def pypi(plain_wheels, mixtool_wheel, wheels, tmp_path_factory):
    """pypiserver holding plain wheels, our samples (with the platform/arch stubs) and mixtool."""
    server = PyPIServer(tmp_path_factory.mktemp("pypiserver"))
    for w in [*plain_wheels.glob("*.whl"), mixtool_wheel, *wheels.glob("*.whl")]:
        shutil.copy(w, server.root)
    yield server
    server.stop()
