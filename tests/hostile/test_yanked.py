"""PEP 592 yanked files, on a real server, through the user's own commands.

The rule (README, "Yanked files"): ``rez env`` is never offered a yanked version (rez hands a
repository no request, so an exact pin cannot be told from any other request there);
``rezwheel install``, ``lock`` and ``export`` choose one only when a request pins it exactly, with
one warning line giving the index's reason, as pip and uv do; a context saved before the yank
still restores; a mirror's pages carry the yank; a ``yanked`` value of any type is taken as
pip takes it, its reason cleaned of control characters and capped.
"""

import html
import json
import sys

import pytest

from .harness import Reply

NEWEST = "relfam-1.0.1-py3-none-any.whl"
REASON = "broken release"
NEXT = "1.0.0.rc1"  # what relfam resolves to with 1.0.1 yanked


def _yank(idx, reason=REASON, name=NEWEST):
    """Yank ``name`` on the test server's page: the JSON ``yanked`` value as given, or an HTML
    ``data-yanked`` attribute (``True``: one with no value)."""
    if idx.fmt == "json":
        idx.entry(name).extra_json = {"yanked": reason}
        idx.publish()
        return
    idx.publish()
    body, ctype = idx.page("relfam")
    attr = b"data-yanked" if reason is True else \
        b'data-yanked="' + html.escape(reason).encode() + b'"'
    body = body.replace(b'href="/files/' + name.encode(),
                        attr + b' href="/files/' + name.encode())
    idx.server.routes["/simple/relfam/"] = Reply(200, {"Content-Type": ctype}, body)


def _rez_version(run, loc, request="relfam", **kw):
    r = run.rez(loc, "env", request, "--", "printenv", "RELFAM_VERSION", **kw)
    return r, r.stdout.strip()


def _installed(repo):
    return sorted(p.name for p in (repo / "relfam").iterdir()) if (repo / "relfam").is_dir() \
        else []


@pytest.fixture(params=["html", "json"])
def yanked_index(request, index, json_index):
    idx = json_index if request.param == "json" else index
    _yank(idx)
    return idx


def test_rez_env_is_not_offered_a_yanked_version_even_pinned(run, yanked_index):
    """The newest version yanked: ``rez env relfam`` takes the next one, without a word; a
    request naming the yanked version fails as for a version the index lacks, in rez's own
    words and without a traceback."""
    loc = [f"artifactory@{yanked_index.url}"]
    r, got = _rez_version(run, loc)
    assert r.returncode == 0 and got == NEXT, str(r)
    assert "yanked" not in r.stderr, str(r)
    for pinned in ("relfam==1.0.1", "relfam-1.0.1"):
        r, _ = _rez_version(run, loc, pinned)
        assert r.returncode != 0 and "Traceback" not in r.out, str(r)
        assert "relfam" in r.out, str(r)


def test_install_takes_a_yanked_version_only_when_pinned(run, yanked_index, tmp_path):
    """pip's rule: not chosen for a range (``relfam``, ``relfam-1.0``), chosen for an exact pin
    (rez's ``==`` and ``-1.0.1``, PEP 508's ``==``) with one line giving the reason."""
    url = yanked_index.url
    for i, request in enumerate(["relfam", "relfam-1.0"]):
        repo = tmp_path / f"ranged{i}"
        r = run.rezwheel("install", request, "--into", repo, "--index", url)
        assert r.returncode == 0, str(r)
        assert "1.0.1" not in _installed(repo) and "yanked" not in r.stderr, str(r)
    for i, request in enumerate(["relfam==1.0.1", "relfam-1.0.1",
                                 'relfam==1.0.1; python_version >= "3"']):
        repo = tmp_path / f"pinned{i}"
        r = run.rezwheel("install", request, "--into", repo, "--index", url)
        assert r.returncode == 0 and _installed(repo) == ["1.0.1"], str(r)
        said = r.lines("yanked")
        assert len(said) == 1 and "relfam-1.0.1" in said[0] and REASON in said[0], str(r)
        assert url in said[0], str(r)


def test_lock_takes_a_yanked_version_only_when_pinned(run, yanked_index, tmp_path):
    url = yanked_index.url
    out = tmp_path / "pylock.toml"
    r = run.rezwheel("lock", "relfam", "python-3.11", "--index", url, "-o", out)
    assert r.returncode == 0 and "yanked" not in r.stderr, str(r)
    assert NEWEST not in out.read_text() and 'version = "1.0.0+rc.1"' in out.read_text()
    r = run.rezwheel("lock", "relfam==1.0.1", "python-3.11", "--index", url, "-o", out)
    assert r.returncode == 0 and len(r.lines("relfam-1.0.1 is yanked")) == 1, str(r)
    assert NEWEST in out.read_text()


def test_a_context_saved_before_the_yank_still_restores(run, index, tmp_path):
    """Yanking is not deletion: a context resolved to 1.0.1 and saved restores 1.0.1 after
    the yank, into an empty store too (its payload is localized), while a new resolve takes
    the next version."""
    loc = [f"artifactory@{index.url}"]
    ctx = tmp_path / "shot.rxt"
    r = run.rez(loc, "env", "relfam", "--output", ctx)
    assert r.returncode == 0 and ctx.is_file(), str(r)
    _yank(index)
    r, got = _rez_version(run, loc)
    assert r.returncode == 0 and got == NEXT, str(r)
    cold = {"REZWHEEL_STORE": str(tmp_path / "cold-store")}
    for env in ({}, cold):
        r = run.rez(loc, "env", "--input", ctx, "--", "printenv", "RELFAM_VERSION", env=env)
        assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    assert (tmp_path / "cold-store").is_dir()


def test_a_mirror_carries_the_yank_to_its_hosts(run, index, tmp_path):
    """The mirror's page says what upstream's says (``data-yanked`` and its reason), for the
    plugin and for pip alike; a later yank, a new reason and an unyank upstream reach the
    mirror on the next sync, with ``--filter`` too."""
    mirror = tmp_path / "mirror"
    page = mirror / "simple" / "relfam" / "index.html"
    loc = [f"artifactory@{mirror}"]
    r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", mirror)
    assert r.returncode == 0 and "data-yanked" not in page.read_text(), str(r)
    _yank(index)
    r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", mirror, "--filter", "relfam")
    assert r.returncode == 0, str(r)
    assert f'data-yanked="{REASON}"' in page.read_text()
    r, got = _rez_version(run, loc)
    assert r.returncode == 0 and got == NEXT, str(r)
    r = run(sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp_path / "dl",
            "--index-url", f"file://{mirror}/simple", "relfam")
    assert r.returncode == 0, str(r)
    assert [p.name for p in (tmp_path / "dl").iterdir()] == \
        ["relfam-1.0.0+rc.1-py3-none-any.whl"], str(r)
    _yank(index, "a new reason")
    r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", mirror)
    assert r.returncode == 0 and 'data-yanked="a new reason"' in page.read_text(), str(r)
    index.entry(NEWEST).extra_json = {}
    index.publish()  # unyanked upstream
    r = run.rezwheel("mirror", "sync", "--from", index.url, "--to", mirror)
    assert r.returncode == 0 and "data-yanked" not in page.read_text(), str(r)
    r, got = _rez_version(run, loc)
    assert r.returncode == 0 and got == "1.0.1", str(r)


def test_a_mirror_made_from_a_yanked_index_holds_and_marks_the_file(run, json_index, tmp_path):
    """A first sync of everything copies the yanked file (a saved context may need it) and
    marks it on its page, JSON upstream included."""
    _yank(json_index)
    mirror = tmp_path / "mirror"
    r = run.rezwheel("mirror", "sync", "--from", json_index.url, "--to", mirror)
    assert r.returncode == 0 and (mirror / "files" / NEWEST).is_file(), str(r)
    assert f'data-yanked="{REASON}"' in (mirror / "simple" / "relfam" / "index.html").read_text()
    r = run.rezwheel("install", "relfam==1.0.1", "--into", tmp_path / "repo", "--index", mirror)
    assert r.returncode == 0 and len(r.lines(f"(reason: {REASON})")) == 1, str(r)


# -- hostile values ------------------------------------------------------------------------------
_CONTROL = "\x1b[31m\r\nrezwheel: all fine\u202e\x07\x9b"


@pytest.mark.parametrize("value", [5, [1], {"x": 1}, "x" * 100_000, _CONTROL + "bad",
                                   True, "\x00" * 10],
                         ids=lambda v: repr(v)[:16])
def test_json_yanked_of_any_true_value_yanks(run, json_index, tmp_path, value):
    """Whatever its type, a true value yanks (pip's reading); the reason named in the one
    warning line is a string at most 200 characters long with no control character."""
    _yank(json_index, value)
    r, got = _rez_version(run, [f"artifactory@{json_index.url}"])
    assert r.returncode == 0 and got == NEXT, str(r)
    r = run.rezwheel("install", "relfam==1.0.1", "--into", tmp_path / "repo", "--index",
                     json_index.url)
    assert r.returncode == 0 and _installed(tmp_path / "repo") == ["1.0.1"], str(r)
    said = r.lines("relfam-1.0.1 is yanked")
    assert len(said) == 1 and len(said[0]) < 200 + 200, str(r)
    assert not any(c in r.stderr for c in "\x1b\r\u202e\x07\x9b\x00"), repr(r.stderr)
    if isinstance(value, str) and value.startswith("x"):
        assert "x" * 197 + "..." in said[0] and "x" * 201 not in said[0]


@pytest.mark.parametrize("value", [False, None, 0, [], {}, ""], ids=repr)
def test_json_yanked_of_a_false_value_does_not(run, json_index, value):
    _yank(json_index, value)
    r, got = _rez_version(run, [f"artifactory@{json_index.url}"])
    assert r.returncode == 0 and got == "1.0.1", str(r)


@pytest.mark.parametrize("attr", [b"data-yanked", b'data-yanked=""',
                                  b'data-yanked="&#27;[2J&#13;&#10;evil"'])
def test_html_data_yanked_present_yanks(run, index, tmp_path, attr):
    """PEP 592: the attribute's presence yanks, valueless or empty too; a reason written with
    character references is cleaned once unescaped."""
    index.publish()
    body, ctype = index.page("relfam")
    body = body.replace(b'href="/files/' + NEWEST.encode(),
                        attr + b' href="/files/' + NEWEST.encode())
    index.server.routes["/simple/relfam/"] = Reply(200, {"Content-Type": ctype}, body)
    r, got = _rez_version(run, [f"artifactory@{index.url}"])
    assert r.returncode == 0 and got == NEXT, str(r)
    r = run.rezwheel("install", "relfam==1.0.1", "--into", tmp_path / "repo", "--index",
                     index.url)
    assert r.returncode == 0 and len(r.lines("relfam-1.0.1 is yanked")) == 1, str(r)
    assert not any(c in r.stderr for c in "\x1b\r"), repr(r.stderr)


def test_a_yank_reaches_a_warm_host(run, json_index):
    """A host that resolved 1.0.1 (its page and files kept in the store) sees the yank on its
    next resolve (the page has changed), not the files it kept."""
    loc = [f"artifactory@{json_index.url}"]
    r, got = _rez_version(run, loc)
    assert got == "1.0.1", str(r)
    _yank(json_index)
    r, got = _rez_version(run, loc)
    assert r.returncode == 0 and got == NEXT, str(r)
    doc = json.loads(json_index.page("relfam")[0])
    assert any(f.get("yanked") == REASON for f in doc["files"])


def test_a_page_kept_without_the_flag_is_read_again(run, json_index):
    """A store filled by an older rezwheel keeps each page's checked files without the yanked
    flag. Taken as current (here within a ttl, no request sent; or after a 304), those rows
    must not stand for the page: the kept body is parsed again, and its yank honoured."""
    _yank(json_index)
    loc = [f"artifactory@{json_index.url}"]
    r, got = _rez_version(run, loc)
    assert got == NEXT, str(r)
    kept = []
    for path in run.store.rglob("*.json"):
        try:
            entry = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(entry, dict) and str(entry.get("url", "")).endswith("/relfam/") \
                and entry.get("files"):
            entry["files"] = [row[:6] for row in entry["files"]]  # as kept before the flag
            path.write_text(json.dumps(entry))
            kept.append(path)
    assert kept
    json_index.server.log.clear()
    r, got = _rez_version(run, loc, env={"REZWHEEL_TTL": "300"})
    assert r.returncode == 0 and got == NEXT, str(r)
    assert not json_index.server.requests_to("/simple/relfam/"), "the kept page was not used"


def test_plain_projects_skip_a_yanked_release_unless_pinned(run, json_index, tmp_path):
    """A plain PyPI project is pip's to choose (it reads the same pages); a rez request on one
    (``plainy-1+``) is first made a pip pin of the newest release in range: never a yanked one,
    unless the request names it in full."""
    from .harness import plain_wheel

    for v in ("1.0", "2.0"):
        json_index.add(plain_wheel(tmp_path / "w", f"plainy-{v}-py3-none-any.whl", "plainy", v),
                       project="plainy")
    json_index.entry("plainy-2.0-py3-none-any.whl").extra_json = {"yanked": REASON}
    json_index.publish()
    for i, (request, want) in enumerate([("plainy", "1.0"), ("plainy-1+", "1.0"),
                                         ("plainy-2.0", "2.0")]):
        repo = tmp_path / f"repo{i}"
        r = run.rezwheel("install", request, "--into", repo, "--index", json_index.url)
        assert r.returncode == 0, str(r)
        assert sorted(p.name for p in (repo / "plainy").iterdir()) == [want], str(r)


def test_export_takes_a_yanked_version_only_when_pinned(run, json_index, tmp_path):
    _yank(json_index)
    for request, want in (("relfam", "1.0.0+rc.1"), ("relfam==1.0.1", "1.0.1")):
        venv = tmp_path / f"env-{want}"
        r = run.rezwheel("export", request, "python-3.11", "--index", json_index.url, "--venv",
                         venv, "--without-pip")
        assert r.returncode == 0, str(r)
        found = [p.name for p in venv.glob("lib/python*/site-packages/relfam-*.dist-info")]
        assert found == [f"relfam-{want}.dist-info"], (found, str(r))
        assert len(r.lines("relfam-1.0.1 is yanked")) == (request != "relfam"), str(r)


_TWO_PLANS = """
import sys
from rezwheel.resolve.planner import Planner
from rezwheel.rezplugin import artifactory
from rezwheel.rezrepo.rezpip import Target
with Planner([sys.argv[1]], Target.current(), bind=artifactory.bind,
             unbind=artifactory.unbind) as planner:
    for request in sys.argv[2:]:
        print(" ".join(s.package for s in planner.plan([request], repo=None)
                       if s.id.name == "relfam"))
"""


def test_one_planner_honours_a_pin_its_earlier_solve_did_not_have(run, json_index):
    """A mirror sync plans again with the exact versions of the variants other hosts choose,
    through the same planner: a pin arriving in a later plan offers the yanked version then,
    although the earlier solve (and rez's caches of it) went without it."""
    _yank(json_index)
    r = run(sys.executable, "-c", _TWO_PLANS, json_index.url, "relfam", "relfam==1.0.1")
    assert r.returncode == 0, str(r)
    assert r.stdout.split() == ["relfam-1.0.0.rc1", "relfam-1.0.1"], str(r)
