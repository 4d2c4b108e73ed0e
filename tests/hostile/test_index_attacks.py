"""Attacks on the index no other hostile test names: PEP 691 JSON values (numbers, nesting,
duplicate keys, upload times, sizes, yanked), HTTP answers (compressed bombs, 304s nobody
asked for, redirect loops, status storms, Content-Type lies), a root listing a million
projects, hostile project names, and a bundle that hangs while pages answer at once.

Each attack is driven through the user's own commands (``rez env``, ``rez search``,
``rezwheel install`` / ``lock``) against a real server on 127.0.0.1. What must hold for each:
no traceback, nothing written outside the store / target, one line naming the URL when the
request cannot be met, and an end within the deadlines of ``rezwheel.limits``.
"""

import functools
import gzip
import json
import zlib

import pytest

from .harness import HTML, JSON, Index, Reply, drip, redirect

NEWEST = "relfam-1.0.1-py3-none-any.whl"
DEADLINE = {"REZWHEEL_HTTP_DEADLINE": "3"}


def _env_version(run, idx, request="relfam", **kw):
    return run.rez([f"artifactory@{idx.url}"], "env", request, "--", "printenv",
                   "RELFAM_VERSION", **kw)


def _one_line_naming(r, url):
    assert r.returncode != 0, str(r)
    assert "Traceback" not in r.out, str(r)
    assert any(url in ln for ln in r.stderr.splitlines()), str(r)


# -- PEP 691 JSON values -----------------------------------------------------------------------
@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59",
                                  "2020-13-45T99:99:99Z", "nan", "1e999"])
def test_json_upload_time_out_of_range_is_no_upload_time(run, json_index, tmp_path, when):
    """PEP 700 upload-time that parses but lies outside what a date can be: the lock (which
    writes it back) and rez (which takes it as the family's release time) both go on."""
    for e in json_index.projects["relfam"]:
        e.extra_json = {"upload-time": when}
    json_index.publish()
    r = _env_version(run, json_index)
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    out = tmp_path / "pylock.toml"
    r = run.rezwheel("lock", "relfam", "--index", json_index.url, "-o", out)
    assert r.returncode == 0, str(r)
    assert "upload-time" not in out.read_text() or "0001-" not in out.read_text()


@pytest.mark.parametrize("change", [
    {"size": -1}, {"size": 10 ** 30}, {"size": "huge"}, {"yanked": True},
    {"yanked": "bad release"}, {"yanked": ""}, {"requires-python": ">=3\x00"},
    {"requires-python": "<<<<>>>>"}, {"requires-python": "x" * 199},
    {"data-dist-info-metadata": {"sha256": "0" * 64}, "core-metadata": None},
    {"core-metadata": {"sha256": None}}, {"core-metadata": False},
], ids=lambda c: "-".join(f"{k}={str(v)[:12]!r}" for k, v in c.items()))
def test_json_entry_values_that_do_not_stop_the_resolve(run, json_index, tmp_path, change):
    json_index.entry(NEWEST).extra_json = change
    json_index.publish()
    r = _env_version(run, json_index)
    assert r.returncode == 0 and r.stdout.strip() in ("1.0.1", "1.0.0.rc1"), str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index",
                     json_index.url)
    assert r.returncode == 0, str(r)


def _page_doc(json_index, project="relfam"):
    return json.loads(json_index.page(project)[0])


@pytest.mark.parametrize("kind", ["nan", "infinity", "huge-int", "deep", "duplicate-files",
                                  "files-object-dupe"])
def test_json_page_numbers_nesting_and_duplicate_keys(run, json_index, srv, tmp_path, kind):
    """What json.loads takes but a PEP 691 page never holds: NaN, Infinity, an integer of
    10^5 digits, nesting 10^5 deep, a duplicate "files" key (the last wins, as for any JSON
    reader): one line or a resolve, never a traceback."""
    doc = _page_doc(json_index)
    text = json.dumps(doc)
    if kind == "nan":
        body = text[:-1] + ', "x": NaN}'
    elif kind == "infinity":
        body = text.replace('"api-version": "1.1"', '"api-version": "1.1", "s": -Infinity')
    elif kind == "huge-int":
        body = text[:-1] + ', "x": ' + "9" * 100_000 + "}"
    elif kind == "deep":
        body = text[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    elif kind == "duplicate-files":
        body = text[:-1] + ', "files": []}'  # the last "files" wins: nothing listed
    else:
        body = text[:-1] + ', "files": {"a": 1}}'
    srv.routes["/simple/relfam/"] = Reply(200, {"Content-Type": JSON}, body.encode())
    r = _env_version(run, json_index)
    assert "Traceback" not in r.out, str(r)
    if r.returncode:
        assert "relfam" in r.stderr, str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index",
                     json_index.url)
    assert "Traceback" not in r.out, str(r)
    if r.returncode:
        assert len(r.lines("rezwheel: error:")) == 1, str(r)
    r = run.rez([f"artifactory@{json_index.url}"], "env", "pyutil", "--", "true")
    assert r.returncode == 0, str(r)


# -- HTTP answers --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _bomb(size: int, layers: int = 1) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"<!-- " + b"0" * ((1 << 20) - 9) + b" -->"
    data = b"".join(c.compress(block) for _ in range(size >> 20)) + c.flush()
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


@pytest.mark.parametrize("layers", [1, 3])
def test_gzip_bomb_page_is_capped_as_inflated(run, index, srv, tmp_path, layers):
    """A page of 512 MiB as a small gzip (or gzip of gzip of gzip): refused at the page cap
    counted in inflated bytes, one line naming the page."""
    body = _bomb(512 << 20, layers)
    srv.routes["/simple/relfam/"] = Reply(
        200, {"Content-Type": HTML, "Content-Encoding": ", ".join(["gzip"] * layers)}, body)
    env = {"REZWHEEL_MAX_PAGE_BYTES": str(4 << 20)}
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url,
                     env=env)
    _one_line_naming(r, index.url + "relfam/")
    assert "larger than the limit" in r.stderr, str(r)
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam", "--", "true", env=env)
    _one_line_naming(r, index.url + "relfam/")


def test_gzip_bomb_sidecar_skips_that_version(run, index, srv, tmp_path):
    """A .metadata sidecar inflating to 64 MiB: that version is skipped with one line naming
    the sidecar (as one too large on the wire), the family resolves to another."""
    gz = {"Content-Type": "text/plain", "Content-Encoding": "gzip"}
    srv.routes["/files/" + NEWEST + ".metadata"] = Reply(200, gz, _bomb(64 << 20))
    r = _env_version(run, index, env={"REZWHEEL_MAX_DIST_INFO_BYTES": str(1 << 20)})
    assert r.returncode == 0 and r.stdout.strip() in ("1.0.0", "1.0.0.rc1", "1.0"), str(r)
    assert len(r.lines(NEWEST + ".metadata: metadata file is larger than the limit")) == 1, \
        str(r)


def test_gzip_bomb_bundle_falls_back_to_the_sidecars(run, index, srv, tmp_path):
    gz = {"Content-Type": "application/gzip", "Content-Encoding": "gzip"}
    srv.routes["/simple/relfam/rez-definitions.json.gz"] = Reply(200, gz, _bomb(64 << 20))
    r = _env_version(run, index, env={"REZWHEEL_MAX_PAGE_BYTES": str(1 << 20)})
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)


def test_304_to_a_request_without_validators(run, index, srv, tmp_path):
    srv.routes["/simple/relfam/"] = Reply(304, {"ETag": '"x"'}, b"")
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url)
    _one_line_naming(r, index.url + "relfam/")
    assert len(r.lines("rezwheel: error:")) == 1, str(r)
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam", "--", "true")
    _one_line_naming(r, index.url + "relfam/")


def test_304_with_another_etag_keeps_the_checked_page(run, index, srv, tmp_path):
    """A kept page, then 304 with a different ETag: the page as checked is used, never a body
    the 304 carried."""
    r = _env_version(run, index)
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    evil = b'<a href="/files/relfam-9.9-py3-none-any.whl">relfam-9.9-py3-none-any.whl</a>'
    srv.routes["/simple/relfam/"] = Reply(304, {"ETag": '"other"', "Content-Type": HTML}, evil)
    r = _env_version(run, index)
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)


@pytest.mark.parametrize("kind", ["loop", "self", "file", "other-origin"])
def test_page_redirects(run, index, srv, rogue, tmp_path, kind):
    page = "/simple/relfam/"
    target = {"loop": srv.url("/simple/relfam2/"), "self": srv.url(page),
              "file": "file:///etc/passwd", "other-origin": rogue.url(page)}[kind]
    srv.routes[page] = redirect(target)
    srv.routes["/simple/relfam2/"] = redirect(srv.url(page))
    rogue.routes[page] = Reply(200, {"Content-Type": HTML}, index.page("relfam")[0])
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url)
    _one_line_naming(r, index.url + "relfam/")
    assert len(r.lines("rezwheel: error:")) == 1, str(r)
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam", "--", "true")
    _one_line_naming(r, index.url + "relfam/")
    assert not rogue.requests_to(page) or kind != "other-origin"


_AFTER = {"huge": "999999", "garbage": "soon", "date": "Fri, 31 Dec 9999 23:59:59 GMT",
          "400-digits": "9" * 400}


@pytest.mark.parametrize("status,after", [
    (401, "huge"), (403, "huge"), (429, "huge"), (429, "garbage"),
    pytest.param(429, "date", marks=pytest.mark.stress), (503, "garbage"),
    pytest.param(503, "400-digits", marks=pytest.mark.stress)], ids=lambda v: str(v))
def test_status_storm_with_huge_retry_after(run, index, srv, tmp_path, status, after):
    """Every request answered with ``status`` and a Retry-After far off or unreadable:
    bounded retries, one line naming the page and the status, well within the deadlines.
    Before, an unreadable Retry-After failed the request as 'InvalidHeader'."""
    srv.routes.clear()
    srv.fallback = Reply(status, {"Retry-After": _AFTER[after], "Content-Type": "text/plain"},
                         b"go away\n")
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url,
                     timeout=60)
    _one_line_naming(r, index.url)
    assert len(r.lines("rezwheel: error:")) == 1, str(r)
    assert f"HTTP {status}" in r.stderr, str(r)
    assert r.elapsed < 40, str(r)
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam", "--", "true", timeout=60)
    _one_line_naming(r, index.url)
    assert r.elapsed < 40, str(r)
    assert len(srv.log) < 40, f"{len(srv.log)} requests"


@pytest.mark.parametrize("lie", ["json-as-html", "html-as-json", "zip-as-json", "no-type"])
def test_content_type_lies(run, index, json_index, srv, tmp_path, lie):
    html_body = Index(srv).add_all([]).page("relfam")[0]
    if lie == "json-as-html":
        body, ctype = json_index.page("relfam")[0], HTML
    elif lie == "html-as-json":
        body, ctype = index.page("relfam")[0] if index else html_body, JSON
    elif lie == "zip-as-json":
        body, ctype = json_index.entry(NEWEST).body, JSON
    else:
        body, ctype = json_index.page("relfam")[0], ""
    srv.routes["/simple/relfam/"] = Reply(200, {"Content-Type": ctype} if ctype else {}, body)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url)
    assert "Traceback" not in r.out, str(r)
    assert r.returncode != 0 and len(r.lines("rezwheel: error:")) == 1, str(r)
    r = run.rez([f"artifactory@{index.url}"], "env", "relfam", "--", "true")
    assert r.returncode != 0 and "Traceback" not in r.out, str(r)


# -- names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["html", "json"])
def test_root_of_a_million_projects(run, index, srv, tmp_path, fmt):
    """``rez search`` with no family named, against a root listing 10^6 projects: said on one
    line (name the family), without reading any project page."""
    n = 1_000_000
    if fmt == "json":
        body = json.dumps({"meta": {"api-version": "1.1"},
                           "projects": [{"name": f"p{i}"} for i in range(n)]}).encode()
    else:
        body = ("<html><body>\n" + "".join(f'<a href="p{i}/">p{i}</a>\n' for i in range(n))
                + "</body></html>\n").encode()
    srv.routes["/simple/"] = Reply(200, {"Content-Type": JSON if fmt == "json" else HTML}, body)
    r = run.rez([f"artifactory@{index.url}"], "search", timeout=60)
    assert "Traceback" not in r.out, str(r)
    assert "REZWHEEL_MAX_LIST_PROJECTS" in r.stderr, str(r)
    assert len(srv.requests_to("/simple/p")) == 0



@pytest.mark.parametrize("name", ["rel\x00fam", "../relfam", "relf\u0430m", "RELFAM", "ReLfAm",
                                  "relfam/..", "%2e%2e"])
def test_hostile_project_names_on_the_root(run, index, srv, tmp_path, name):
    """Names on the root that are not projects, or are another spelling of one: left out or
    folded into the one family; no page is asked outside /simple/<normalized>/."""
    rows = [f'<a href="{p}/">{p}</a>' for p in sorted(index.projects)] + \
        [f'<a href="x/">{name}</a>']
    srv.routes["/simple/"] = Reply(200, {"Content-Type": HTML},
                                   ("<html><body>" + "\n".join(rows) + "</body></html>").encode())
    r = run.rez([f"artifactory@{index.url}"], "search", timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.out, str(r)
    assert r.stdout.split().count("relfam") <= 1, str(r)
    for req in srv.log:
        assert ".." not in req.path and "\x00" not in req.path, req.path


def test_page_listing_another_projects_wheel(run, index, wheels, srv, tmp_path):
    """relfam's page lists pyutil-9.0's wheel (a real one, renamed): it is not a relfam
    version, and does not become a pyutil one either."""
    from helpers.hostile import PYUTIL

    e = index.add(wheels / PYUTIL, filename="pyutil-9.0-py3-none-any.whl", project="relfam")
    e.metadata = None
    index.publish()
    r = run.rez([f"artifactory@{index.url}"], "env", "pyutil", "--", "printenv",
                "REZ_PYUTIL_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.2.0", str(r)
    r = _env_version(run, index)
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)


# -- timing ------------------------------------------------------------------------------------
def test_a_hanging_bundle_costs_one_deadline(run, index, srv, tmp_path):
    """Pages answer at once; the family's bundle drips forever: rez env still resolves (the
    definitions come from the sidecars) within about one deadline."""
    srv.routes["/simple/relfam/rez-definitions.json.gz"] = drip(b"{" * 1000, interval=1.0,
                                                         content_type="application/json")
    r = _env_version(run, index, env=DEADLINE, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    assert r.elapsed < 20, str(r)


@pytest.mark.parametrize("body", [pytest.param("drip", marks=pytest.mark.stress), "flood"])
@pytest.mark.parametrize("path", ["page", "wheel"])
def test_error_answer_with_an_endless_json_body(run, index, srv, tmp_path, body, path):
    """403 with a JSON error body that drips, or runs to 256 MiB: at most 64 KiB of it is read
    for the message (the status line says enough), within the deadline; one line naming the
    URL. Before, a wheel's error body was read whole (256 MiB held, cut only by the deadline)."""
    from .harness import streamed

    where = "/simple/relfam/" if path == "page" else "/files/" + NEWEST
    if body == "drip":
        srv.routes[where] = drip(b'{"errors": [{"message": "' + b"x" * 1000 + b'"}]}',
                                 status=403, content_type="application/json")
    else:
        handler = streamed(256 << 20, piece=b'{"errors": [{"message": "x"}]} ',
                           content_type="application/json")
        srv.routes[where] = lambda h, s: handler(_Status403(h), s)
    request = "relfam" if path == "page" else "relfam-1.0.1"
    r = run.rezwheel("install", request, "--into", tmp_path / "repo", "--index", index.url,
                     env=DEADLINE, timeout=60)
    _one_line_naming(r, srv.url(where))
    assert r.elapsed < 20, str(r)
    assert len(r.lines("rezwheel: error:")) == 1, str(r)
    if body == "flood":  # cut at the cap, not at the deadline
        assert "HTTP 403 Forbidden" in r.stderr, str(r)
    r = run.rez([f"artifactory@{index.url}"], "env", request, "--", "true", env=DEADLINE,
                timeout=60)
    _one_line_naming(r, srv.url(where))
    assert r.elapsed < 20, str(r)


class _Status403:
    """A handler whose status line ``streamed`` writes says 403 rather than 200."""

    def __init__(self, h):
        self._h = h
        self.wfile = self

    def __getattr__(self, name):
        return getattr(self._h, name)

    def write(self, data):
        return self._h.wfile.write(data.replace(b" 200 OK\r\n", b" 403 Forbidden\r\n", 1))

    def flush(self):
        self._h.wfile.flush()


@pytest.mark.parametrize("page", [
    '<a href="a/">Foo_Bar</a><A HREF="b/">  b&amp;c </a ><a>zz</a>',
    '<a href="x/"><b>nested</b></a><a href="y/">plain</a>',
    '<!-- <a href="h/">hidden</a> --><a href="s/">shown</a>',
    '<script>"<a>inscript</a>"</script><a href="s/">shown</a>',
    '<a href="x/">one<a href="y/">two</a>', '<a href="x/">a.b</a><a href="y/">A-B</a>',
    '<a href="x/">rel\x00fam</a><a href="y/">ok</a>', '<a\nhref="x/"\n>multi</a>',
])
def test_root_names_read_as_the_html_parser_reads_them(page):
    """The plain-anchor path of the root (one regex, for roots of 10^6 projects) gives the
    names the HTML parser gives, and leaves any page it cannot read exactly to the parser."""
    from rezwheel.index.pages import _Links, parse_root_page, project_name

    parser = _Links()
    parser.feed(page)
    expected = {n for n in (project_name(t) for _, t in parser.links) if n}
    assert parse_root_page(page.encode(), "text/html") == expected


@pytest.mark.parametrize("target", ["other-origin", "file", "loop"])
def test_sidecar_redirects(run, index, srv, rogue, tmp_path, target):
    """The PEP 658 .metadata of the newest version redirects away (to another origin serving a
    hostile definition, to file://, in a loop): never followed off the index; the definition
    comes from the wheel itself or the version is skipped with one line, never a traceback."""
    meta = "/files/" + NEWEST + ".metadata"
    canary = tmp_path / "CANARY-redirected"
    e = index.entry(NEWEST)
    evil = e.metadata.replace(b'env.RELFAM_VERSION = "1.0.1"',
                              f'env.RELFAM_VERSION = "1.0.1"\n    command("touch {canary}")'
                              .encode())
    rogue.routes[meta] = Reply(200, {"Content-Type": "text/plain"}, evil)
    srv.routes[meta] = redirect({"other-origin": rogue.url(meta), "file": "file:///etc/passwd",
                                 "loop": srv.url(meta)}[target])
    r = _env_version(run, index)
    assert "Traceback" not in r.out, str(r)
    assert r.returncode == 0 and r.stdout.strip() in ("1.0.1", "1.0.0", "1.0.0.rc1", "1.0"), \
        str(r)
    assert not rogue.log, rogue.log
    assert not canary.exists()
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url)
    assert r.returncode == 0 and "Traceback" not in r.out, str(r)
    assert not rogue.log and not canary.exists()


def test_an_enormous_definition_is_not_parsed(run, srv, wheels, tmp_path):
    """The newest version's rez-package.py holds a commands() of 400,000 statements (5.6 MB,
    under the 8 MiB dist-info cap): before, rez env spent 52 s of CPU parsing it, with no word;
    now it is refused unparsed past REZWHEEL_MAX_DEFINITION_BYTES, one line naming the file,
    and the family resolves to the version before."""
    from .harness import definition_of, forge

    from helpers.hostile import RELFAM

    good = definition_of(wheels / NEWEST)
    marker = 'env.RELFAM_VERSION = "1.0.1"'
    assert marker in good
    huge = good.replace(marker, marker + "\n    env.X = 1" * 400_000)
    forged = forge(wheels / NEWEST, tmp_path / "w" / NEWEST, definition=huge)
    idx = Index(srv).add_all([wheels / n for n in RELFAM if n != NEWEST] + [forged]).publish()
    r = _env_version(run, idx, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() in ("1.0.0", "1.0.0.rc1"), str(r)
    assert len(r.lines("REZWHEEL_MAX_DEFINITION_BYTES")) == 1, str(r)
    assert NEWEST in r.lines("REZWHEEL_MAX_DEFINITION_BYTES")[0], str(r)
    r = run.rezwheel("install", "relfam-1.0.1", "--into", tmp_path / "repo", "--index", idx.url)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    assert "REZWHEEL_MAX_DEFINITION_BYTES" in r.stderr, str(r)
    assert not (tmp_path / "repo" / "relfam" / "1.0.1").exists()


@pytest.mark.stress
@pytest.mark.parametrize("entry", ["plugin", "install"])
def test_429_storm_at_the_default_caps(run, index, srv, tmp_path, entry):
    """Every request 429 with Retry-After: 999999, at the default caps (10 s honoured, 60 s
    deadline): how long before the user is told, and in how many requests."""
    srv.routes.clear()
    srv.fallback = Reply(429, {"Retry-After": "999999", "Content-Type": "text/plain"}, b"slow\n")
    env = {"REZWHEEL_RETRY_AFTER_MAX": None, "REZWHEEL_HTTP_DEADLINE": None}
    r = run.asks(entry, index.url, "relfam", env=env, timeout=400)
    print(f"{entry}: {r.elapsed:.1f} s, {len(srv.log)} requests\n{r}")
    _one_line_naming(r, index.url)
    assert r.elapsed < 75, f"{r.elapsed:.1f} s, {len(srv.log)} requests\n{r}"


@pytest.mark.parametrize("lie", ["hash", "true-404", "empty"])
def test_sidecar_that_is_not_what_the_page_says(run, index, srv, tmp_path, lie):
    """The page advertises a .metadata whose hash the served file does not have, or one that
    is not there, or an empty one: the definition comes from the wheel, or the version is
    skipped on one line; the install never runs on the advertised values."""
    e = index.entry(NEWEST)
    meta = "/files/" + NEWEST + ".metadata"
    if lie == "hash":
        e.metadata_sha256 = "0" * 64
    index.publish()
    if lie == "true-404":
        srv.routes[meta] = Reply(404, {"Content-Type": "text/plain"}, b"gone\n")
    elif lie == "empty":
        srv.routes[meta] = Reply(200, {"Content-Type": "text/plain"}, b"")
    r = _env_version(run, index)
    assert r.returncode == 0 and "Traceback" not in r.out, str(r)
    assert r.stdout.strip() in ("1.0.1", "1.0.0", "1.0.0.rc1"), str(r)
    r = run.rezwheel("install", "relfam-1.0.1", "--into", tmp_path / "repo", "--index",
                     index.url)
    assert "Traceback" not in r.out, str(r)
    if r.returncode:
        assert len(r.lines("rezwheel: error:")) == 1 and NEWEST in r.stderr, str(r)
    else:
        assert (tmp_path / "repo" / "relfam" / "1.0.1" / "package.py").is_file()


def test_content_length_shorter_than_the_page(run, index, srv, tmp_path):
    """Content-Length says half the page, the server sends it all: the half is read (a
    truncated page lists fewer files, or is refused on one line), never the rest as a next
    answer on the connection."""
    from .harness import lying_length

    body, _ = index.page("relfam")
    srv.routes["/simple/relfam/"] = lying_length(body + b"<a href='/evil'>x</a>" * 10,
                                                 len(body) // 2, content_type=HTML)
    r = _env_version(run, index)
    assert "Traceback" not in r.out, str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url)
    assert "Traceback" not in r.out, str(r)
    assert not srv.requests_to("/evil")


@pytest.mark.parametrize("how", ["search", "view"])
@pytest.mark.parametrize("attr", ["tools", "help", "tests"])
def test_listing_runs_no_late_function(run, srv, wheels, tmp_path, attr, how):
    """A @late() function of an attribute rez reads only after a solve (tools, help, ...) from
    an index: rez search --format '{attr}' and rez view read it without any context being
    built; the index's code must not run. Before, search ran it (rez evaluates a late
    function wherever the attribute is read); view never did."""
    from .harness import definition_of, forge

    from helpers.hostile import RELFAM

    canary = tmp_path / "CANARY-listing"
    src = wheels / NEWEST
    value = {"tools": "['t']", "help": "'h'", "tests": "{}"}[attr]
    d = definition_of(src) + (f"\n@late()\ndef {attr}():\n    open({str(canary)!r}, 'w')"
                              f"\n    return {value}\n")
    bad = forge(src, tmp_path / "w" / NEWEST, definition=d)
    idx = Index(srv).add_all([wheels / n for n in RELFAM if n != NEWEST] + [bad]).publish()
    args = ("search", "relfam", "--format", "{qualified_name} {%s}" % attr) \
        if how == "search" else ("view", "relfam-1.0.1")
    r = run.rez([f"artifactory@{idx.url}"], *args)
    assert r.returncode == 0 and "Traceback" not in r.out, str(r)
    assert not canary.exists(), str(r)
    if how == "search":
        assert len(r.lines(f"@late() {attr}() comes from an index")) == 1, str(r)
    r = _env_version(run, idx, request="relfam-1.0.1")  # in a context it is the package's own
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)


@pytest.mark.parametrize("how", ["drip", "gzip-bomb"])
def test_a_root_that_hangs_does_not_stop_a_named_family(run, index, srv, tmp_path, how):
    """The root page (read once for the index's serial, an optimisation) drips or inflates
    without end while project pages answer at once: rez env and install of a named family
    still resolve, within about one deadline, and the next process does not wait for it
    again. Before, the dripping root failed rez env ("no complete answer within 3 s")."""
    if how == "drip":
        srv.routes["/simple/"] = drip(index.root()[0], interval=1.0)
    else:
        srv.routes["/simple/"] = Reply(200, {"Content-Type": HTML, "Content-Encoding": "gzip"},
                                       _bomb(256 << 20))
    r = _env_version(run, index, env=DEADLINE, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    assert r.elapsed < 20, str(r)
    roots = len([q for q in srv.log if q.path == "/simple/"])
    r = _env_version(run, index, env=DEADLINE, timeout=60)  # the next process does not wait
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    assert len([q for q in srv.log if q.path == "/simple/"]) == roots, srv.log
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url,
                     env=DEADLINE, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.out, str(r)


@pytest.mark.parametrize("entry", ["plugin", "install"])
def test_a_wheel_sent_gzip_encoded_is_taken_as_sent(run, index, srv, tmp_path, entry):
    """The wheel answered with Content-Encoding: gzip, 256 KB on the wire inflating to 256 MB:
    a payload is kept as the bytes sent (as pip does, Accept-Encoding: identity), so the
    download is 256 KB whose sha256 does not match; before, requests inflated it and the
    store wrote up to REZWHEEL_MAX_UNPACKED (64 GiB) to disk before refusing."""
    bomb = _bomb(256 << 20)
    assert len(bomb) < 1 << 20
    srv.routes["/files/" + NEWEST] = Reply(200, {"Content-Type": "application/zip",
                                                 "Content-Encoding": "gzip"}, bomb)
    env = {"REZWHEEL_MAX_UNPACKED": str(16 << 20)}
    r = run.asks(entry, index.url, "relfam-1.0.1", env=env, timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.out, str(r)
    assert NEWEST in r.stderr and "REZWHEEL_MAX_UNPACKED" not in r.stderr, str(r)
    assert "sha256" in r.stderr, str(r)
    got = [q for q in srv.log if q.path == "/files/" + NEWEST and q.method == "GET"]
    assert got and all(q.headers.get("accept-encoding") == "identity" for q in got), got


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_a_page_of_thousands_of_bad_links_is_a_few_lines(run, index, json_index, srv,
                                                         tmp_path, fmt):
    """A project page listing its real files and 5,000 unfit links: the family resolves, and
    stderr says so in a few lines, not 5,000 (one per link was said before)."""
    idx = json_index if fmt == "json" else index
    body, ctype = idx.page("relfam")
    if fmt == "json":
        doc = json.loads(body)
        doc["files"] += [{"filename": f"bad{i}.exe", "url": f"/files/bad{i}.exe",
                          "hashes": {}} for i in range(5000)]
        body = json.dumps(doc).encode()
    else:
        extra = "".join(f'<a href="/files/bad{i}.exe">bad{i}.exe</a>\n' for i in range(5000))
        body = body.replace(b"</body>", extra.encode() + b"</body>")
    srv.routes["/simple/relfam/"] = Reply(200, {"Content-Type": ctype}, body)
    r = _env_version(run, idx)
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    assert len(r.stderr.splitlines()) < 20, f"{len(r.stderr.splitlines())} lines\n{r}"
    assert len(r.lines("relfam/: skipping 4995 more unfit links")) == 1, str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", idx.url)
    assert r.returncode == 0, str(r)
    assert len(r.stderr.splitlines()) < 20, f"{len(r.stderr.splitlines())} lines\n{r}"


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_a_yanked_newest_version_is_not_chosen(run, index, json_index, fmt):
    idx = json_index if fmt == "json" else index
    if fmt == "json":
        idx.entry(NEWEST).extra_json = {"yanked": "broken release"}
        idx.publish()
    else:
        body, ctype = idx.page("relfam")
        body = body.replace(b'href="/files/' + NEWEST.encode(),
                            b'data-yanked="broken release" href="/files/' + NEWEST.encode())
        idx.server.routes["/simple/relfam/"] = Reply(200, {"Content-Type": ctype}, body)
    r = _env_version(run, idx)
    assert r.returncode == 0 and r.stdout.strip() != "1.0.1", str(r)


_CONTROL = ["\x1b[31m", "\r\n", "\u202e", "\x07", "\x9b"]


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_control_characters_in_a_link_url(run, index, json_index, wheels, srv, tmp_path, fmt):
    """A newer version whose URL holds ESC, CR/LF, a bidi override in a directory of its path
    (the file name itself is checked already): the link is skipped, named escaped, and no
    control character reaches stderr (before: taken, then echoed raw by any message naming
    the URL, here the 404 of the file)."""
    import html as html_
    from urllib.parse import quote

    idx = json_index if fmt == "json" else index
    name = "relfam-1.0.2-py3-none-any.whl"
    e = idx.add(wheels / NEWEST, filename=name)
    e.metadata = None
    e.href = "/files/" + "".join(_CONTROL) + "x/" + quote(name)
    if fmt == "html":
        body, ctype = idx.page("relfam")
        body = body.replace(html_.escape(e.href).encode(),
                            "".join(f"&#{ord(c)};" for c in e.href).encode())
    idx.publish()
    if fmt == "html":
        srv.routes["/simple/relfam/"] = Reply(200, {"Content-Type": ctype}, body)
    r = _env_version(run, idx)
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    assert not any(c in r.stderr for c in "\x1b\r\u202e\x07\x9b"), repr(r.stderr)
    assert len(r.lines("URL with control characters")) == 1, str(r)
    r = run.rezwheel("install", "relfam-1.0.2", "--into", tmp_path / "repo", "--index", idx.url)
    assert r.returncode != 0 and "Traceback" not in r.out, str(r)
    assert not any(c in r.stderr for c in "\x1b\r\u202e\x07\x9b"), repr(r.stderr)


def test_control_characters_in_a_server_message(run, index, srv, tmp_path):
    """A wheel's 403 whose JSON message holds ESC sequences and CR/LF: the one line naming
    the URL carries the message without them (before: echoed raw)."""
    msg = "denied\x1b]0;owned\x07\r\nrezwheel: all fine\x1b[2J"
    srv.routes["/files/" + NEWEST] = Reply(403, {"Content-Type": "application/json"},
                                           json.dumps({"errors": [{"message": msg}]}).encode())
    r = run.rezwheel("install", "relfam-1.0.1", "--into", tmp_path / "repo", "--index",
                     index.url)
    _one_line_naming(r, srv.url("/files/" + NEWEST))
    assert "HTTP 403 Forbidden" in r.stderr and "denied" in r.stderr, str(r)
    assert not any(c in r.stderr for c in "\x1b\r\x07"), repr(r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, repr(r.stderr)


def test_control_characters_in_a_redirect(run, index, srv, rogue, tmp_path):
    """A page redirected to another origin whose Location holds ESC sequences: refused, the
    line naming it carries none of them."""
    srv.routes["/simple/relfam/"] = redirect(rogue.url("/\x1b]0;owned\x07\x1b[2J/simple/"))
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", index.url)
    _one_line_naming(r, index.url + "relfam/")
    assert "refused" in r.stderr and not any(c in r.stderr for c in "\x1b\x07"), repr(r.stderr)
    assert not rogue.log
