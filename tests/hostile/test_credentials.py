"""Credentials go only to the index's own origin, are never written, and are scrubbed from
every message (the run fixture checks outputs and files after each test)."""

import base64
import json

import pytest

from helpers.hostile import RELFAM, TOKEN
from .harness import Index, Reply, redirect

NEWEST = "relfam-1.0.1-py3-none-any.whl"


def token_url(index):
    return index.url.replace("http://", f"http://__token__:{TOKEN}@")


WAYS = {
    "env": lambda idx: (idx.url, {"REZWHEEL_TOKEN": TOKEN}),
    "url": lambda idx: (token_url(idx), {}),
}


def _each_entry_point(run, url, e, tmp_path):
    out = []
    out.append(run.rez([f"artifactory@{url}"], "env", "relfam", "--", "printenv",
                       "RELFAM_VERSION", env=e))
    out.append(run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", url,
                            env=e))
    out.append(run.rezwheel("mirror", "sync", "--from", url, "--to", tmp_path / "mirror", env=e))
    return out


@pytest.mark.parametrize("way", list(WAYS))
@pytest.mark.parametrize("what", ["wheel", "sidecar", "both"])
def test_links_to_another_origin_get_no_credential(run, srv, rogue, wheels, tmp_path, way, what):
    """The page links relfam-1.0.1 (and/or its sidecar) on 127.0.0.2: that link is skipped
    (not a files host), the other versions resolve, and 127.0.0.2 never sees the token."""
    idx = Index(srv).add_all([wheels / n for n in RELFAM])
    e = idx.entry(NEWEST)
    other = Index(rogue).add_all([wheels / NEWEST]).publish()
    if what in ("wheel", "both"):
        e.href = rogue.url("/files/" + NEWEST)
    if what in ("sidecar", "both"):
        srv.routes["/files/" + NEWEST + ".metadata"] = redirect(
            rogue.url("/files/" + NEWEST + ".metadata"))
    idx.publish()
    url, env = WAYS[way](idx)
    for r in _each_entry_point(run, url, env, tmp_path):
        assert "Traceback" not in r.stderr
    assert rogue.carrying(TOKEN) == [] and not any(
        "authorization" in q.headers for q in rogue.log), rogue.log
    if what != "sidecar":
        assert rogue.log == [], "a link to another origin was followed"
    assert any("authorization" in q.headers for q in srv.log)  # the token was in use
    assert other


def test_redirect_of_a_project_page_to_another_origin(run, srv, rogue, wheels, tmp_path):
    idx = Index(srv).add_all([wheels / n for n in RELFAM]).publish()
    evil = Index(rogue).add_all([wheels / n for n in RELFAM]).publish()
    srv.routes["/simple/relfam/"] = redirect(evil.url + "relfam/")
    env = {"REZWHEEL_TOKEN": TOKEN}
    r = run.rez([f"artifactory@{idx.url}"], "env", "relfam", "--", "true", env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr, str(r)
    assert idx.url + "relfam/" in r.stderr, str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", idx.url,
                     env=env)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    r = run.rezwheel("mirror", "sync", "--from", idx.url, "--to", tmp_path / "mirror",
                     "--filter", "relfam", env=env)
    assert r.returncode == 1, str(r)
    assert rogue.log == [], "a redirect to another origin was followed"


def test_redirect_of_a_wheel_to_another_origin(run, srv, rogue, wheels, tmp_path):
    idx = Index(srv).add_all([wheels / n for n in RELFAM]).publish()
    Index(rogue).add_all([wheels / NEWEST]).publish()
    srv.routes["/files/" + NEWEST] = redirect(rogue.url("/files/" + NEWEST))
    env = {"REZWHEEL_TOKEN": TOKEN}
    r = run.rez([f"artifactory@{idx.url}"], "env", "relfam-1.0.1", "--", "true", env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr, str(r)
    r = run.rezwheel("install", "relfam-1.0.1", "--into", tmp_path / "repo", "--index", idx.url,
                     env=env)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    assert rogue.carrying(TOKEN) == [] and rogue.log == []


def test_files_host_gets_the_files_but_not_the_credential(run, srv, rogue, wheels, tmp_path):
    idx = Index(srv).add_all([wheels / n for n in RELFAM])
    Index(rogue).add_all([wheels / n for n in RELFAM]).publish()
    for e in idx.projects["relfam"]:
        e.href = rogue.url("/files/" + e.filename)
    idx.publish()
    plugins = {"package_repository": {"artifactory": {"indexes": {
        "studio": {"url": idx.url, "files_hosts": [rogue.origin]}}}}}
    r = run.rez(["artifactory@studio"], "env", "relfam", "--", "printenv", "RELFAM_VERSION",
                settings=f"plugins = {plugins!r}\n", env={"REZWHEEL_STUDIO_TOKEN": TOKEN})
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    assert rogue.log and not any("authorization" in q.headers for q in rogue.log)


def test_unnamed_token_does_not_go_to_a_named_index(run, srv, wheels, tmp_path):
    idx = Index(srv).add_all([wheels / n for n in RELFAM]).publish()
    run.config(f'[index.studio]\nindex-url = "{idx.url}"\nupload-url = "{srv.url("/")}"\n'
               'type = "pypi"\n')
    own = "studio-own-token-77"
    env = {"REZWHEEL_TOKEN": TOKEN, "REZWHEEL_STUDIO_TOKEN": own}
    r = run.rez(["artifactory@studio"], "env", "relfam", "--", "printenv", "RELFAM_VERSION",
                env=env)
    assert r.returncode == 0 and r.stdout.strip() == "1.0.1", str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", "studio",
                     env=env)
    assert r.returncode == 0, str(r)
    assert srv.carrying(TOKEN) == [] and not any(
        base64.b64encode(f"__token__:{TOKEN}".encode()).decode() in str(q.headers)
        for q in srv.log)
    own_b64 = base64.b64encode(f"__token__:{own}".encode()).decode()
    assert any(own in str(q.headers) or own_b64 in str(q.headers) for q in srv.log)


def test_config_token_is_used_by_the_plugin_install_and_mirror(run, srv, wheels, tmp_path):
    """The config file's token (README order) for every reader, not only publish."""
    idx = Index(srv).add_all([wheels / n for n in RELFAM]).publish()
    run.config(f'[index.studio]\nindex-url = "{idx.url}"\nupload-url = "{srv.url("/")}"\n'
               f'type = "pypi"\ntoken = "{TOKEN}"\n')
    r = run.rez(["artifactory@studio"], "env", "relfam", "--", "true")
    assert r.returncode == 0, str(r)
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", "studio")
    assert r.returncode == 0, str(r)
    b64 = base64.b64encode(f"__token__:{TOKEN}".encode()).decode()
    assert srv.log and all(TOKEN in str(q.headers) or b64 in str(q.headers) for q in srv.log)


def test_token_in_url_never_reaches_store_messages_or_contexts(run, srv, wheels, tmp_path):
    """Pages cached, an offline fall-back warning, a saved rez context: none hold the token
    (the run fixture greps every file under tmp_path and every output)."""
    idx = Index(srv).add_all([wheels / n for n in RELFAM]).publish()
    url = token_url(idx)
    # rez writes packages_path into every context it saves: a token there is refused, in one
    # line that names the location without it (REZWHEEL_TOKEN, netrc or a name instead)
    r = run.rez([f"artifactory@{url}"], "env", "relfam", "--output", tmp_path / "ctx.rxt")
    assert r.returncode != 0 and "credentials in a package path are refused" in r.stderr, str(r)
    assert not (tmp_path / "ctx.rxt").exists()
    r = run.rez([f"artifactory@{idx.url}"], "env", "relfam", "--output", tmp_path / "ctx.rxt",
                env={"REZWHEEL_TOKEN": TOKEN})
    assert r.returncode == 0, str(r)
    # on rezwheel's command line the URL is never saved: the token is taken out and sent as a
    # header to that origin only
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", url, "--json")
    assert r.returncode == 0, str(r)
    json.loads(r.stdout)
    srv.reset()  # the index goes away: cached pages are used, with one warning naming it
    r = run.rez([f"artifactory@{url}"], "env", "relfam", "--", "true")
    assert "Traceback" not in r.stderr
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo2", "--index", url,
                     "--dry-run")
    assert "Traceback" not in r.stderr


def test_fall_through_warning_is_redacted(run, srv, wheels, tmp_path):
    """A download failing on the first index falls through to a local mirror with a warning
    that names the first index without its token."""
    mirror = tmp_path / "mirrordir"
    idx = Index(srv).add_all([wheels / n for n in RELFAM]).publish()
    r = run.rezwheel("mirror", "sync", "--from", idx.url, "--to", mirror)
    assert r.returncode == 0, str(r)
    srv.routes["/files/" + NEWEST] = Reply(500, {"Content-Type": "text/plain"},
                                           f"boom Authorization: Basic x {TOKEN}".encode())
    run.config(f'[index.site]\nurls = ["{token_url(idx)}", "{mirror}"]\n')
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", "site")
    assert r.returncode == 0, str(r)


@pytest.mark.parametrize("echo", ["text", "json", "html"])
def test_publish_error_echoing_the_credential_is_scrubbed(run, srv, wheels, tmp_path, echo):
    """A server answering 400 with the Authorization header in its body."""
    def handle(h, server):
        auth = h.headers.get("Authorization", "")
        if echo == "json":
            body, ctype = json.dumps({"message": f"bad credential {auth} ({TOKEN})"}).encode(), \
                "application/json"
        elif echo == "html":
            body, ctype = f"<html><body><h1>400</h1>{auth} {TOKEN}</body></html>".encode(), \
                "text/html"
        else:
            body, ctype = f"bad request: Authorization: {auth}; token={TOKEN}\n".encode(), \
                "text/plain"
        h._reply(Reply(400, {"Content-Type": ctype}, body))
    srv.routes["/"] = handle
    srv.routes["/simple/"] = Reply(200, {"Content-Type": "text/html"}, b"<html></html>")
    env = {"REZWHEEL_TOKEN": TOKEN}
    r = run.rezwheel("publish", wheels / NEWEST, "--to", srv.url("/"), env=env)
    assert r.returncode == 1, str(r)
    errors = r.lines("rezwheel: error:")
    assert len(errors) == 1 and NEWEST in errors[0] and "400" in errors[0], str(r)
    r = run.rezwheel("publish", wheels / NEWEST, "--to", srv.url("/"), "--json", env=env)
    assert r.returncode == 1, str(r)
    assert any(srv.carrying(TOKEN) or "authorization" in q.headers for q in srv.log)


def test_page_error_echoing_the_credential_is_scrubbed(run, srv, wheels, tmp_path):
    idx = Index(srv).add_all([wheels / n for n in RELFAM]).publish()

    def handle(h, server):
        h._reply(Reply(403, {"Content-Type": "text/plain"},
                       f"denied for {h.headers.get('Authorization')} {TOKEN}".encode()))
    srv.routes["/simple/relfam/"] = handle
    env = {"REZWHEEL_TOKEN": TOKEN}
    r = run.rezwheel("install", "relfam", "--into", tmp_path / "repo", "--index", idx.url,
                     env=env)
    assert r.returncode == 1 and len(r.lines("rezwheel: error:")) == 1, str(r)
    assert "403" in r.stderr, str(r)
    r = run.rez([f"artifactory@{idx.url}"], "env", "relfam", "--", "true", env=env)
    assert r.returncode != 0, str(r)
    r = run.rezwheel("mirror", "sync", "--from", idx.url, "--to", tmp_path / "m", env=env)
    assert r.returncode == 1, str(r)
