"""Hangs and floods: every read has an overall deadline, Retry-After is capped, retries are
bounded, a page with too many links is refused; one line naming the URL, non-zero exit."""

import os
import signal
import sys
import time

import pytest

from helpers import BIN

from helpers.hostile import RELFAM
from .harness import (HTML, Index, Reply, broken_chunked, drip, drip_headers, lying_length,
                      sha256, streamed, throttled)

NEWEST = "relfam-1.0.1-py3-none-any.whl"
DEADLINE = {"REZWHEEL_HTTP_DEADLINE": "3"}


def _ends_naming(r, url, bound=20):
    assert r.elapsed < bound, f"took {r.elapsed:.1f} s\n{r}"
    assert r.returncode != 0, str(r)
    assert "Traceback" not in r.stderr
    assert any(url in ln for ln in r.stderr.splitlines()), str(r)


@pytest.mark.parametrize("entry", ["plugin", "install", "mirror"])
@pytest.mark.parametrize("how", ["body", pytest.param("headers", marks=pytest.mark.stress)])
def test_dripping_project_page(run, index, srv, tmp_path, entry, how):
    page = index.url + "relfam/"
    body, _ = index.page("relfam")
    srv.routes["/simple/relfam/"] = drip(body) if how == "body" else drip_headers()
    if entry in ("plugin", "install"):
        r = run.asks(entry, index.url, "relfam", env=DEADLINE, timeout=60)
    else:
        r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", tmp_path / "m",
                         env=DEADLINE, timeout=60)
    _ends_naming(r, page)


@pytest.mark.parametrize("entry", ["plugin", "install"])
def test_dripping_payload(run, index, srv, tmp_path, entry):
    """The wheel itself drips (its definition came from the sidecar): aborted once past the
    deadline at less than the minimum rate."""
    e = index.entry(NEWEST)
    srv.routes["/files/" + NEWEST] = drip(e.body, content_type="application/zip")
    url = index.server.url("/files/" + NEWEST)
    r = run.asks(entry, index.url, "relfam-1.0.1", env=DEADLINE, timeout=60)
    _ends_naming(r, NEWEST, bound=25)
    assert url in r.stderr or NEWEST in r.stderr


@pytest.mark.stress
def test_dripping_sidecar(run, index, srv, tmp_path):
    e = index.entry(NEWEST)
    srv.routes["/files/" + NEWEST + ".metadata"] = drip(e.metadata, content_type="text/plain")
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam", "--", "true", env=DEADLINE,
                timeout=90)
    assert r.elapsed < 30 and "Traceback" not in r.stderr, str(r)


@pytest.mark.parametrize("entry", ["plugin", "install"])
def test_retry_after_is_capped(run, index, srv, tmp_path, entry):
    srv.routes["/simple/relfam/"] = Reply(503, {"Retry-After": "86400",
                                                "Content-Type": "text/plain"}, b"busy\n")
    env = {"REZWHEEL_RETRY_AFTER_MAX": "2"}
    r = run.asks(entry, index.url, "relfam", env=env, timeout=60)
    _ends_naming(r, index.url + "relfam/", bound=15)
    page = [q for q in srv.requests_to("/simple/relfam/") if q.path == "/simple/relfam/"]
    assert len(page) <= 3, srv.log  # at most 2 retries (the bundle beside it is asked at once)


@pytest.mark.stress
def test_retry_after_default_cap(run, index, srv, tmp_path):
    srv.routes["/simple/relfam/"] = Reply(429, {"Retry-After": "86400"}, b"")
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url,
                     env={"REZWHEEL_RETRY_AFTER_MAX": None}, timeout=120)
    _ends_naming(r, index.url + "relfam/", bound=40)


def _many_links(n, project="relfam"):
    rows = "\n".join(
        f'<a href="/files/{project}-1.{i}-py3-none-any.whl#sha256={i:064x}" '
        f'data-core-metadata="sha256={i:064x}">{project}-1.{i}-py3-none-any.whl</a><br/>'
        for i in range(n))
    return f"<html><body>\n{rows}\n</body></html>\n".encode()


@pytest.mark.parametrize("entry", [pytest.param("plugin", marks=pytest.mark.stress), "install",
                                   pytest.param("mirror", marks=pytest.mark.stress)])
def test_page_with_100k_links(run, index, srv, tmp_path, entry):
    srv.routes["/simple/relfam/"] = Reply(200, {"Content-Type": HTML}, _many_links(100_000))
    t0 = time.monotonic()
    if entry in ("plugin", "install"):
        r = run.asks(entry, index.url, "relfam", timeout=120)
    else:
        r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", tmp_path / "m",
                         timeout=120)
    assert time.monotonic() - t0 < 60, str(r)
    assert len(srv.log) < 1000, f"{len(srv.log)} requests"
    assert r.returncode != 0 and "Traceback" not in r.stderr, str(r)
    assert any(index.url + "relfam/" in ln for ln in r.stderr.splitlines()), str(r)


@pytest.mark.stress
def test_page_under_the_link_cap_prefetches_a_bounded_number(run, index, srv, tmp_path):
    srv.routes["/simple/relfam/"] = Reply(200, {"Content-Type": HTML}, _many_links(10_000))
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam", "--", "true", timeout=300)
    assert "Traceback" not in r.stderr
    assert len(srv.log) < 1000, f"{len(srv.log)} requests"


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_page_over_the_size_cap(run, index, srv, tmp_path, chunked):
    srv.routes["/simple/relfam/"] = streamed(4 << 20, chunked=chunked)
    env = {"REZWHEEL_MAX_PAGE_BYTES": str(1 << 20)}
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url,
                     env=env)
    _ends_naming(r, index.url + "relfam/")
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam", "--", "true", env=env)
    _ends_naming(r, index.url + "relfam/")


@pytest.mark.stress
def test_page_of_100_megabytes(run, index, srv, tmp_path):
    srv.routes["/simple/relfam/"] = streamed(100 << 20)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url,
                     timeout=120)
    _ends_naming(r, index.url + "relfam/", bound=60)


# -- weak answers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lying-length", "broken-chunked"])
def test_broken_payload_answers_are_one_line(run, index, srv, tmp_path, kind):
    e = index.entry(NEWEST)
    srv.routes["/files/" + NEWEST] = (lying_length(e.body[:100], len(e.body) + 10_000)
                                      if kind == "lying-length" else broken_chunked(e.body))
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam-1.0.1", "--", "true", timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr and NEWEST in r.stderr, str(r)
    repo = tmp_path / "repo"
    r = run.rezwheel("install", "relfam-1.0.1", "--into", repo, "--index", index.url, timeout=60)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    assert NEWEST in r.stderr, str(r)
    assert not (repo / "relfam" / "1.0.1").exists()
    r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", tmp_path / "m", timeout=60)
    assert r.returncode == 1 and NEWEST in r.stderr, str(r)
    assert not (tmp_path / "m" / "files" / NEWEST).exists()


def test_lying_length_on_a_page(run, index, srv, tmp_path):
    body, _ = index.page("relfam")
    srv.routes["/simple/relfam/"] = lying_length(body[:50], 1 << 20, content_type=HTML)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url,
                     timeout=60)
    _ends_naming(r, index.url + "relfam/")


def test_server_ignoring_range_keeps_nothing_unverified(run, index, srv, tmp_path):
    """No sidecar; the range read gets the whole (tampered) file: it is not kept under the
    claimed sha256, and localization refuses it."""
    e = index.entry(NEWEST)
    e.metadata = None
    index.publish()
    tampered = e.body[:-30] + b"\0" * 30
    srv.routes["/files/" + NEWEST] = Reply(200, {}, tampered)  # Range ignored
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam-1.0.1", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr, str(r)
    kept = list((run.store / "wheels").rglob(NEWEST)) if (run.store / "wheels").exists() else []
    assert all(sha256(p) == e.sha256 for p in kept), kept


# -- SIGKILL and concurrency --------------------------------------------------------------------------
@pytest.fixture()
def bigwheel(run, tmp_path):
    pkg = tmp_path / "src" / "bigdata" / "1.0"
    (pkg / "data").mkdir(parents=True)
    (pkg / "package.py").write_text("name = 'bigdata'\nversion = '1.0'\n\n"
                                    "def commands():\n    env.BIGDATA = '{root}'\n")
    (pkg / "data" / "blob.bin").write_bytes(os.urandom(3 << 20))
    r = run.rezwheel("convert", pkg, "-o", tmp_path / "bw")
    assert r.returncode == 0, str(r)
    (w,) = (tmp_path / "bw").glob("*.whl")
    return w


def test_sigkill_mid_download_leaves_no_half_package(run, srv, bigwheel, tmp_path):
    idx = Index(srv).add_all([bigwheel]).publish()
    path = "/files/" + bigwheel.name
    srv.routes[path] = throttled(bigwheel.read_bytes(), 64 << 10, 0.05)  # ~1.3 MB/s: 2-3 s
    repo = tmp_path / "repo"
    p = run.popen(sys.executable, "-m", "rezwheel", "install", "bigdata", "--into", repo,
                  "--index", idx.url)
    deadline = time.monotonic() + 30
    while not srv.requests_to(path, "GET") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.7)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    visible = [x for x in repo.rglob("*") if not any(
        part.startswith(".") for part in x.relative_to(repo).parts)] if repo.exists() else []
    assert not (repo / "bigdata" / "1.0" / "package.py").exists(), visible
    assert all(x.is_dir() for x in visible), visible  # at most empty family/version dirs
    r = run.rez([str(repo)], "search", "bigdata")
    assert "bigdata-1.0" not in r.stdout, str(r)
    srv.routes[path] = Reply(200, {}, bigwheel.read_bytes(), ranges=True)
    r = run.rezwheel("install", "bigdata", "--into", repo, "--index", idx.url)
    assert r.returncode == 0, str(r)
    assert (repo / "bigdata" / "1.0" / "data" / "blob.bin").stat().st_size == 3 << 20


def test_two_rez_env_localize_the_same_variant_at_once(run, srv, bigwheel, tmp_path):
    idx = Index(srv).add_all([bigwheel]).publish()
    path = "/files/" + bigwheel.name
    srv.routes[path] = throttled(bigwheel.read_bytes(), 128 << 10, 0.03)
    cfg = run.rezconfig([f"artifactory@{idx.url}"], name="rezconfig-conc.py")
    procs = [run.popen(BIN / "rez", "env", "bigdata", "--", "printenv", "BIGDATA",
                       env={"REZ_CONFIG_FILE": str(cfg)}) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    roots = {o[0].strip() for o in outs}
    assert len(roots) == 1 and os.path.isfile(os.path.join(roots.pop(), "data", "blob.bin"))
    full = [q for q in srv.requests_to(path, "GET") if "range" not in q.headers
            and q.path == path]  # the wheel itself, not its .metadata sidecar
    assert len(full) == 1, srv.log
    for o in outs:
        assert "Traceback" not in o[1]


def test_pip_reading_a_dripping_index_is_bounded(run, srv, tmp_path):
    """Plain PyPI projects are resolved by pip, whose timeout is per read: the index drips its
    page to pip only, and the install still ends, in one line, within the pip budget."""
    from .harness import plain_wheel

    plain = plain_wheel(tmp_path / "dist", "plainpkg-1.0-py3-none-any.whl", "plainpkg", "1.0")
    idx = Index(srv).add_all([plain]).publish()
    page = idx.simple + "plainpkg/"
    normal = srv.routes[page]
    slow = drip(b"<html>" + b" " * 200 + b"</html>", interval=1.0)

    def handle(h, server):
        if h.headers.get("User-Agent", "").startswith("pip/"):
            slow(h, server)
        else:
            h._reply(normal)
    srv.routes[page] = handle
    start = time.monotonic()
    r = run.rezwheel("install", "plainpkg", "--into", tmp_path / "repo", "--index", idx.url,
                     env={"REZWHEEL_PIP_TIMEOUT": "10"})
    assert time.monotonic() - start < 60, str(r)
    assert r.returncode == 1 and "REZWHEEL_PIP_TIMEOUT" in r.stderr, str(r)
    assert len(r.stderr.strip().splitlines()) == 1, str(r)
