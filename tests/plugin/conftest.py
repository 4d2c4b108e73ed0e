"""Fixtures the plugin's tests share: ``static`` serves the module's own ``index`` fixture (a
local index directory) over HTTP, as nginx would, logging each request."""

import pytest


@pytest.fixture()
def static(index):
    from helpers.servers import LoggedStatic

    s = LoggedStatic(index)
    yield s
    s.stop()
