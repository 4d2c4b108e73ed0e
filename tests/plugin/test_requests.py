"""Requests per resolve through the plugin, counted by the client, on three kinds of index: the
local index served over HTTP (nginx when installed, else Python's http.server: the bounds are the
client's, and both servers answer conditional requests, so the test always runs), pypiserver, and
the Artifactory fixture (as it ships: HTML pages, definitions by HEAD and range reads).

Each state is a fresh process with the same store: cold (empty store), warm within the ttl (300 s:
not one request), warm after it (``REZWHEEL_TTL=0``: one conditional request per page read cold,
nothing else; on the local index, which declares a serial, its root page alone). The cold bounds are upper bounds: page + at most two requests (HEAD, range or
``.metadata``) per file the pages list, each URL read once, and never a whole wheel; bulk
definitions (one bundle per family) may lower the count, never raise it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from helpers import ARTIFACTORY_TOKENS, env, rezwheel
from helpers.servers import static_server

REQUEST = "multitool python-3.11"

#: a resolve in a fresh process, every request its readers send recorded on the way out
COUNT = r"""
import json, sys
import requests

seen = []
send = requests.Session.send

def counted(self, request, **kw):
    r = send(self, request, **kw)
    h = request.headers
    seen.append({"method": request.method, "url": request.url, "status": r.status_code,
                 "range": "Range" in h,
                 "conditional": "If-None-Match" in h or "If-Modified-Since" in h})
    return r

requests.Session.send = counted
from rez.resolved_context import ResolvedContext

ctx = ResolvedContext(sys.argv[2].split(), package_paths=[sys.argv[1]])
print(json.dumps({"resolve": sorted(v.qualified_package_name for v in ctx.resolved_packages),
                  "requests": seen}))
"""


def resolve(location: str, store, ttl: str, **kw) -> dict:
    e = env(REZWHEEL_STORE=str(store), REZWHEEL_TTL=ttl, REZ_QUIET="1", **kw)
    r = subprocess.run([sys.executable, "-c", COUNT, location, REQUEST], capture_output=True,
                       text=True, env=e)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def is_page(req: dict, simple: str) -> bool:
    return req["method"] == "GET" and req["url"].startswith(simple) and \
        urlsplit(req["url"]).path.endswith("/")


def check_states(simple: str, tmp_path, validators: bool = True, serial: bool = False,
                 **kw) -> None:
    """Cold, warm within the ttl, warm after it: the bounds above. ``validators``: the server
    sends ETag or Last-Modified with its pages (pypiserver sends neither: after the ttl its pages
    are read again in full, still once each). ``serial``: the index declares one (a local
    index, ``rezwheel.index.serial``): after the ttl, one request for the whole index."""
    store = tmp_path / "store"
    cold = resolve(f"artifactory@{simple}", store, "300", **kw)
    assert {"multitool-2.1.0", "pyutil-1.2.0", "python-3.11"} <= set(cold["resolve"])
    reqs = cold["requests"]
    pages = [r for r in reqs if is_page(r, simple)]
    files = [r for r in reqs if not is_page(r, simple)]
    assert pages and len({r["url"] for r in pages}) == len(pages), pages  # each page once
    # never a whole wheel while resolving: definitions come from ranges or .metadata files
    assert not [r for r in files if r["url"].endswith(".whl") and r["method"] == "GET"
                and not r["range"]], files
    # each file read at most once per method (a HEAD and a range read on Artifactory)
    assert len({(r["method"], r["url"]) for r in files}) == len(files), files
    read = {r["url"].removesuffix(".metadata") for r in files if r["method"] == "GET"}
    assert len(files) <= 2 * len(read)
    assert len(reqs) <= len(pages) * 2 + 2 * len(read), reqs  # bundles: <= 2 per family

    warm = resolve(f"artifactory@{simple}", store, "300", **kw)
    assert warm["resolve"] == cold["resolve"]
    assert warm["requests"] == []  # within the ttl: not one request

    after = resolve(f"artifactory@{simple}", store, "0", **kw)
    assert after["resolve"] == cold["resolve"]
    got = after["requests"]
    if serial:  # the index's serial is unchanged: its root page says every page is current
        assert [(r["method"], r["url"], r["status"]) for r in got] == [("GET", simple, 200)], got
        return
    # one (conditional) request per page read cold, and nothing else (definitions are stored)
    assert all(is_page(r, simple) and r["conditional"] == validators for r in got), got
    assert all(r["status"] == 304 for r in got) or not validators, got
    assert len(got) == len({r["url"] for r in got}) <= len(pages), got
    assert {r["url"] for r in got} <= {r["url"] for r in pages}


def test_requests_on_the_local_index_served_over_http(local_index, tmp_path):
    server = static_server(local_index, tmp_path)
    try:
        check_states(f"{server.url}simple/", tmp_path, serial=True)
    finally:
        server.stop()


@pytest.mark.parametrize("where", ["local index over HTTP", "artifactory"])
def test_after_the_ttl_one_check_opens_a_new_window(where, local_index, wheels, tmp_path,
                                                     request):
    """A farm node's ttl is a window that each check renews: once it has passed, the next
    resolve asks once (the serial, or each page conditionally), and the resolves after that
    ask nothing for another ttl. (It was renewed only by a publish: every resolve after a
    node's first window cost a request.)"""
    import time

    kw: dict = {}
    if where == "artifactory":
        art = request.getfixturevalue("artifactory")
        rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", art.url,
                 env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
        simple, server, kw = f"{art.url}/simple/", None, {"REZWHEEL_TOKEN": ARTIFACTORY_TOKENS[0]}
    else:
        server = static_server(local_index, tmp_path)
        simple = f"{server.url}simple/"
    try:
        # a window wider than a loaded machine takes to start the next resolve (at 2 s, the
        # third resolve sometimes began after the second's window had closed)
        store, ttl = tmp_path / "store", "6"
        cold = resolve(f"artifactory@{simple}", store, ttl, **kw)
        time.sleep(6.5)  # the window has passed
        after = resolve(f"artifactory@{simple}", store, ttl, **kw)
        assert after["resolve"] == cold["resolve"] and after["requests"], after
        again = resolve(f"artifactory@{simple}", store, ttl, **kw)
        assert again["resolve"] == cold["resolve"]
        assert again["requests"] == [], again["requests"]  # within the new window
    finally:
        if server:
            server.stop()


def test_requests_on_pypiserver(pypi, tmp_path):
    check_states(f"{pypi.url}simple/", tmp_path, validators=False)


def test_requests_on_artifactory(artifactory, wheels, tmp_path):
    rezwheel("publish", *sorted(wheels.glob("*.whl")), "--to", artifactory.url,
             env=env(REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0]))
    check_states(f"{artifactory.url}/simple/", tmp_path, REZWHEEL_TOKEN=ARTIFACTORY_TOKENS[0])


@pytest.mark.parametrize("server", ["nginx", "http.server"])
def test_static_servers_answer_conditional_requests(server, local_index, tmp_path):
    """The fallback serves what nginx does, validators included (else 'after ttl' would
    silently measure full reads)."""
    import requests

    from helpers.servers import Nginx, PythonStatic

    s = Nginx.start(local_index, tmp_path) if server == "nginx" else PythonStatic(local_index)
    if s is None:
        pytest.skip("nginx is absent (Debian: apt-get install nginx-light)")
    try:
        first = requests.get(f"{s.url}simple/pyutil/")
        assert first.status_code == 200 and "pyutil" in first.text
        h = {k: v for k, v in (("If-None-Match", first.headers.get("ETag")),
                               ("If-Modified-Since", first.headers.get("Last-Modified"))) if v}
        assert requests.get(f"{s.url}simple/pyutil/", headers=h).status_code == 304
    finally:
        s.stop()
