"""Definitions tied to the wheel, and no index code at resolve time."""

import pytest

from helpers.hostile import RELFAM
from .harness import Index, definition_of, forge

NEWEST = "relfam-1.0.1-py3-none-any.whl"
DIFFERS = "the definition served by the index differs from the wheel's own rez-package.py"


def test_sidecar_differing_from_the_wheel_is_refused(run, index, tmp_path):
    canary = tmp_path / "CANARY-sidecar"
    e = index.entry(NEWEST)
    e.metadata = hostile_sidecar_from(e, canary)
    e.metadata_sha256 = None  # the page advertises the hostile sidecar's own hash
    index.publish()
    loc = [f"artifactory@{index.url}"]
    r = run.rez(loc, "env", "relfam-1.0.1", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode != 0, str(r)
    assert DIFFERS in r.stderr and NEWEST in r.stderr, str(r)
    assert not canary.exists()
    repo = tmp_path / "repo"
    r = run.rezwheel("install", "relfam-1.0.1", "--into", repo, "--index", index.url)
    # the store now knows the wheel's own definition (verified above): it wins over the
    # sidecar, so the install either refuses or installs the genuine definition
    pkg = repo / "relfam" / "1.0.1" / "package.py"
    if r.returncode:
        assert DIFFERS in r.stderr and not pkg.exists(), str(r)
    else:
        assert "CANARY" not in pkg.read_text(), pkg.read_text()
    r = run.rezwheel("install", "relfam-1.0.1", "--into", tmp_path / "repo2", "--index",
                     index.url, env={"REZWHEEL_STORE": str(tmp_path / "fresh-store")})
    assert r.returncode == 1 and DIFFERS in r.stderr, str(r)  # a cold store: refused
    assert not (tmp_path / "repo2" / "relfam" / "1.0.1" / "package.py").exists()
    # the other versions still resolve
    r = run.rez(loc, "env", "relfam==1.0.0", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.0", str(r)


def hostile_sidecar_from(entry, canary):
    """The wheel's METADATA with a definition whose commands write the canary."""
    import io
    import zipfile
    with zipfile.ZipFile(io.BytesIO(entry.body)) as z:
        good = z.read(next(n for n in z.namelist() if n.endswith("rez-package.py"))).decode()
    text = entry.metadata.decode()
    evil = good.replace('env.RELFAM_VERSION = "1.0.1"',
                        f'env.RELFAM_VERSION = "1.0.1"\n    command("touch {canary}")')
    assert evil != good and good.rstrip("\n") in text
    return text.replace(good.rstrip("\n"), evil.rstrip("\n")).encode()


def test_tail_read_definition_differing_from_the_wheel(run, srv, wheels, tmp_path):
    """No sidecar; the server answers the tail read with another wheel's tail (relfam-1.0's
    definition) but serves relfam-1.0.1 whole: the payload's own definition wins or it is refused."""
    from .harness import Reply

    idx = Index(srv).add_all([wheels / n for n in RELFAM], sidecar=False).publish()
    e = idx.entry(NEWEST)
    other = (wheels / "relfam-1.0-py3-none-any.whl").read_bytes()

    def handle(h, server):
        if h.headers.get("Range"):
            h._reply(Reply(200, {}, other, ranges=True))
        else:
            h._reply(Reply(200, {}, e.body))
    srv.routes["/files/" + NEWEST] = handle
    loc = [f"artifactory@{idx.url}"]
    r = run.rez(loc, "env", "relfam-1.0.1", "--", "printenv", "RELFAM_VERSION")
    assert "Traceback" not in r.stderr
    assert r.returncode != 0 or r.stdout.strip() == "1.0.1", str(r)


def test_rogue_index_cannot_poison_the_store_for_the_trusted_one(run, srv, rogue, wheels,
                                                                   tmp_path):
    canary = tmp_path / "CANARY-rogue"
    trusted = Index(srv).add_all([wheels / n for n in RELFAM]).publish()
    bad = Index(rogue).add_all([wheels / NEWEST])
    e = bad.entry(NEWEST)
    e.metadata = hostile_sidecar_from(e, canary)
    bad.publish()
    # the user looks at the rogue index once (same store) ...
    r = run.rez([f"artifactory@{bad.url}"], "search", "relfam")
    assert "Traceback" not in r.stderr
    # ... then the trusted one answers with the wheel's own definition
    r = run.rez([f"artifactory@{trusted.url}"], "env", "relfam-1.0.1", "--", "printenv",
                "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    assert not canary.exists()
    repo = tmp_path / "repo"
    r = run.rezwheel("install", "relfam-1.0.1", "--into", repo, "--index", trusted.url)
    assert r.returncode == 0, str(r)
    assert "CANARY" not in (repo / "relfam" / "1.0.1" / "package.py").read_text()
    # and a rez context built from the trusted index never holds the rogue commands
    ctx = tmp_path / "ctx.rxt"
    r = run.rez([f"artifactory@{trusted.url}"], "env", "relfam-1.0.1", "--output", ctx)
    assert r.returncode == 0 and "CANARY" not in ctx.read_text(), str(r)


# -- code at resolve time ---------------------------------------------------------------------------
LATE = {
    "late-requires": "@late()\ndef requires():\n    open({canary!r}, 'w')\n    return []\n",
    "late-variants": "@late()\ndef variants():\n    open({canary!r}, 'w')\n    return []\n",
    "early-requires": "@early()\ndef requires():\n    open({canary!r}, 'w')\n    return []\n",
    "late-timestamp": "@late()\ndef timestamp():\n    open({canary!r}, 'w')\n    return 0\n",
    "plain-requires-fn": "def requires():\n    open({canary!r}, 'w')\n    return []\n",
}


def _forged_family(wheels, tmp_path, snippet):
    canary = tmp_path / "CANARY-late"
    src = wheels / NEWEST
    d = definition_of(src) + "\n" + snippet.format(canary=str(canary))
    return forge(src, tmp_path / "w" / NEWEST, definition=d), canary


@pytest.mark.parametrize("kind", list(LATE))
def test_no_index_code_runs_at_resolve_time(run, srv, wheels, tmp_path, kind):
    bad, canary = _forged_family(wheels, tmp_path, LATE[kind])
    idx = Index(srv).add_all([wheels / n for n in RELFAM if n != NEWEST] + [bad]).publish()
    loc = [f"artifactory@{idx.url}"]
    r = run.rez(loc, "search", "relfam")
    assert r.returncode == 0 and "relfam-1.0.0" in r.stdout.split(), str(r)
    assert len(r.lines(NEWEST)) == 1, str(r)
    r = run.rez(loc, "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.0.rc1", str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", idx.url,
                     "--dry-run")
    assert r.returncode == 0 and "relfam-1.0.0.rc1" in r.stdout, str(r)
    assert "relfam-1.0.1" not in r.stdout, str(r)
    r = run.rezwheel("mirror", "sync", "--from", idx.url, "--to", tmp_path / "mirror",
                     "--filter", "relfam")
    assert r.returncode == 0, str(r)
    assert not canary.exists()


def test_late_tools_is_allowed(run, srv, wheels, tmp_path):
    """@late() on an attribute rez reads after the solve is fine (it runs in the context)."""
    src = wheels / NEWEST
    d = definition_of(src) + "\n@late()\ndef tools():\n    return ['relfam-tool']\n"
    good = forge(src, tmp_path / "w" / NEWEST, definition=d)
    idx = Index(srv).add_all([good]).publish()
    r = run.rez([f"artifactory@{idx.url}"], "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)


def test_trust_code_index_runs_late_requires(run, srv, wheels, tmp_path):
    """An index configured trust_code may use @late requires (off by default)."""
    src = wheels / NEWEST
    d = definition_of(src) + "\n@late()\ndef requires():\n    return []\n"
    good = forge(src, tmp_path / "w" / NEWEST, definition=d)
    idx = Index(srv).add_all([good]).publish()
    plugins = {"package_repository": {"artifactory": {"indexes": {
        "studio": {"url": idx.url, "trust_code": True}}}}}
    r = run.rez(["artifactory@studio"], "env", "relfam", "--", "printenv", "RELFAM_VERSION",
                settings=f"plugins = {plugins!r}\n")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    r = run.rez([f"artifactory@{idx.url}"], "env", "relfam", "--", "true")
    assert r.returncode != 0, str(r)


def test_convert_and_publish_warn_about_resolve_time_code(run, tmp_path):
    pkg = tmp_path / "pkgs" / "latefam" / "1.0"
    pkg.mkdir(parents=True)
    (pkg / "package.py").write_text(
        "name = 'latefam'\nversion = '1.0'\n\n@late()\ndef requires():\n    return []\n")
    r = run.rezwheel("convert", pkg, "-o", tmp_path / "out")
    assert r.returncode == 0, str(r)
    assert len(r.lines("latefam")) == 1 and "warning" in r.lines("latefam")[0], str(r)
    r = run.rezwheel("publish", *sorted((tmp_path / "out").glob("*.whl")), "--to",
                     tmp_path / "idx")
    assert r.returncode == 0 and len(r.lines("latefam")) == 1, str(r)


# -- wrong-typed data in one version ------------------------------------------------------------------
@pytest.mark.parametrize("line", ["requires = 5", "requires = ['python-3', 5]",
                                  "variants = 'x'", "variants = [['../x']]", "tools = 7",
                                  "requires = ['../../CANARY']", "name = 5",
                                  "version = '1.0.1/..'"])
def test_one_bad_version_is_resolved_around(run, srv, wheels, tmp_path, line):
    src = wheels / NEWEST
    d = definition_of(src).replace("description", line + "\n\ndescription", 1)
    bad = forge(src, tmp_path / "w" / NEWEST, definition=d)
    idx = Index(srv).add_all([wheels / n for n in RELFAM if n != NEWEST] + [bad]).publish()
    loc = [f"artifactory@{idx.url}"]
    r = run.rez(loc, "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.0.rc1", str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", idx.url)
    assert r.returncode == 0 and (tmp_path / "repo" / "relfam" / "1.0.0.rc1").is_dir(), str(r)
    assert not (tmp_path / "repo" / "relfam" / "1.0.1").exists()


# -- definitions that would change meaning once written out, or break the parser -----------------
SNEAKY = {
    # a string opened on the def line turns the following lines into top-level code when the
    # body is cut out as text and written back as package.py
    "string-on-def-line": '@late()\ndef tools(): x = """\n pass\nopen({canary!r}, "w")\n#"""\n',
    "body-on-def-line": "def commands(): pass\n",
    "recursion-bomb": "x = " + "a." * 50000 + "b\n",
    "memory-bomb": "x = " + "-" * 100000 + "1\n",
    "config-into-value": "with scope('config') as c:\n    c.a = 1\n    c.a.b = 2\n",
    "huge-int-name": "name = 0x" + "f" * 5000 + "\n",
}


@pytest.mark.parametrize("kind", list(SNEAKY))
def test_definition_that_reads_back_differently_is_refused(run, srv, wheels, tmp_path, kind):
    """verify, the plugin and install refuse it in one line; nothing is written that rez would
    run later (the installed package.py is code to every rez reading the repository)."""
    canary = tmp_path / "CANARY-sneaky"
    src = wheels / NEWEST
    d = definition_of(src) + "\n" + SNEAKY[kind].format(canary=str(canary))
    bad = forge(src, tmp_path / "w" / NEWEST, definition=d)
    r = run.rezwheel("verify", bad)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, str(r)
    idx = Index(srv).add_all([wheels / n for n in RELFAM if n != NEWEST] + [bad]).publish()
    loc = [f"artifactory@{idx.url}"]
    r = run.rez(loc, "env", "relfam", "--", "printenv", "RELFAM_VERSION")
    assert r.returncode == 0 and r.stdout.strip() == "1.0.0.rc1", str(r)
    repo = tmp_path / "repo"
    r = run.rezwheel("install", "relfam-1.0.1", "--into", repo, "--index", idx.url)
    assert r.returncode != 0 and not (repo / "relfam" / "1.0.1").exists(), str(r)
    r = run.rez([str(repo)], "search", "relfam")
    assert not canary.exists()
