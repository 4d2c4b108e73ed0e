"""A WSGI stand-in for Artifactory's PyPI repositories, following JFrog's documented behaviour
(see ../shared/ARTIFACTORY.md): the twine upload API at ``/artifactory/api/pypi/<repo>``, the
index at ``…/simple/`` with relative links, an index recalculated only after a quiet period,
duplicate uploads answered 403 (or 404 when unauthorized resources are hidden) with
``{"errors": […]}``, anonymous requests answered 404, access tokens as Bearer or as the basic-auth
password, storage paths with checksum headers, HEAD and explicit Range, the storage API (``size``
as a string), and generic deploys (``PUT /artifactory/<repo>/<path>``, 201 with the stored
item's JSON, ``X-Checksum-Sha256`` verified: any file, downloadable by path, never on the PyPI
pages, as JFrog documents the deploy API). Faults can be queued per upload: ``"429:N"``
(Retry-After N) and ``"drop"`` (store the file, then cut the connection before answering).
"""

from __future__ import annotations

import base64
import email
import hashlib
import html
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Optional
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from packaging.utils import canonicalize_name


class Drop(Exception):
    """Raised by the app to cut the connection without an answer."""


@dataclass
class Stored:
    data: bytes
    sha256: str
    stored_at: float
    uploaded: float = 0.0  # wall clock, for PEP 700 upload-time
    yanked: Optional[str] = None  # PEP 592 reason ("" for none) once yanked (``yank``)


def _metadata_of(data: bytes) -> Optional[bytes]:
    """A wheel's METADATA, as Artifactory serves it beside the file with PEP 658 on."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = [n for n in z.namelist() if n.count("/") == 1 and
                     n.endswith(".dist-info/METADATA")]
            return z.read(names[0]) if len(names) == 1 else None
    except zipfile.BadZipFile:
        return None


JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def _json(status: str, doc: dict, extra: Optional[list] = None):
    types = [h for h in extra or [] if h[0] == "Content-Type"]
    return status, (types or [("Content-Type", "application/json")]) + [
        h for h in extra or [] if h[0] != "Content-Type"], json.dumps(doc).encode()


def _wants_json(accept: str) -> bool:
    """PEP 691 negotiation: JSON when the client ranks it above HTML (pip's and rezwheel's
    Accept header do)."""
    def q(kind: str) -> float:
        for part in accept.split(","):
            bits = [b.strip() for b in part.split(";")]
            if bits[0] == kind:
                return float(next((b[2:] for b in bits[1:] if b.startswith("q=")), "1") or 1)
        return 0.0
    return q(JSON_TYPE) > 0 and q(JSON_TYPE) >= max(q("application/vnd.pypi.simple.v1+html"),
                                                  q("text/html"))


def _errors(code: int, message: str) -> tuple:
    return _json(f"{code} {'Forbidden' if code == 403 else 'Not Found' if code == 404 else 'Error'}",
                 {"errors": [{"status": code, "message": message}]})


class Artifactory:
    def __init__(self, repo: str = "rez", tokens: tuple = ("tok-ci",), quiet: float = 0.0,
                 duplicate_status: int = 403, latency: float = 0.0, json_api: bool = False,
                 metadata: bool = False) -> None:
        self.repo = repo
        # what an admin may switch on: "Simple JSON Format" (PEP 691 and PEP 700 upload-time,
        # 7.132+) and PEP 658 metadata files; both off by default, as on a fresh server
        self.json_api = json_api
        self.metadata = metadata
        self.tokens = set(tokens)
        self.quiet = quiet
        self.duplicate_status = duplicate_status
        self.latency = latency  # seconds added to every request (a far server; the benchmarks)
        self.in_flight = self.most_in_flight = 0  # requests being answered at once, at most
        self.files: dict[str, Stored] = {}  # "<name>/<version>/<file>"
        self.deployed: dict[str, Stored] = {}  # other files deployed by path (not indexed)
        self.last_upload = 0.0
        self.indexed_at = 0.0
        self.faults: list[str] = []
        self.throttle = 0.0  # seconds per 64 KiB of a full download (to kill a client mid-way)
        self.ignore_range = False  # some setups answer 200 and the whole file to a Range
        self.log: list[tuple[str, str]] = []
        self.auth_schemes: set[str] = set()
        self.lock = threading.Lock()

    # -- what tests do, as an admin would in the UI
    def yank(self, filename: str, reason: Optional[str] = "") -> None:
        """Yank a stored file (PEP 592, ``data-yanked`` / ``"yanked"`` on its project's page),
        or unyank it (``reason`` None)."""
        with self.lock:
            next(v for k, v in self.files.items() if k.rsplit("/", 1)[1] == filename
                 ).yanked = reason

    # -- what tests look at
    def uploads_of(self, filename: str) -> int:
        return sum(1 for m, p in self.log if m == "POST" and p.endswith("#" + filename))

    # -- WSGI
    def __call__(self, environ, start_response):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            status, headers, body = self.route(environ)
        finally:
            with self.lock:
                self.in_flight -= 1
        start_response(status, headers + [("Content-Length", str(len(body)))])
        if environ["REQUEST_METHOD"] == "HEAD":
            return [b""]
        if self.throttle and status.startswith("200") and \
                dict(headers).get("Content-Type") == "application/octet-stream":
            return self._slowly(body)
        return [body]

    def _slowly(self, body: bytes):
        for i in range(0, len(body), 1 << 16):
            time.sleep(self.throttle)
            yield body[i:i + (1 << 16)]

    def downloads_of(self, filename: str, kind: str = "full") -> int:
        return sum(1 for m, p in self.log if m == kind and p.endswith("/" + filename))

    def _authorized(self, environ) -> bool:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        self.auth_schemes.add(auth.split(" ", 1)[0] if auth else "anonymous")
        if auth.startswith("Bearer "):
            return auth[7:] in self.tokens
        if auth.startswith("Basic "):
            _, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            return secret in self.tokens
        return False

    def route(self, environ):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        api = f"/artifactory/api/pypi/{self.repo}"
        with self.lock:
            self.log.append((method, path))
        if not self._authorized(environ):
            return _errors(404, "Could not locate artifact")  # hides unauthorized resources
        if method == "POST" and path.rstrip("/") == api:
            return self.upload(environ)
        if method == "POST" and path.startswith(api + "/simple"):
            return "415 Unsupported Media Type", [], b""
        as_json = self.json_api and _wants_json(environ.get("HTTP_ACCEPT", ""))
        if as_json and path.startswith(api + "/simple/"):
            with self.lock:
                self.log.append(("json", path))
        if path == api + "/simple/":
            return self._validated(self.root_page(as_json), environ)
        if path.startswith(api + "/simple/"):
            project = path[len(api + "/simple/"):]
            if not project.endswith("/"):
                return "302 Found", [("Location", path + "/")], b""
            return self._validated(self.project_page(project.rstrip("/"), as_json), environ)
        if method == "PUT" and path.startswith(f"/artifactory/{self.repo}/"):
            return self.deploy(path[len(f"/artifactory/{self.repo}/"):], environ)
        for prefix in (api + "/", f"/artifactory/{self.repo}/"):
            if path.startswith(prefix) and method in ("GET", "HEAD"):
                key = path[len(prefix):]
                if self.metadata and key.endswith(".whl.metadata"):
                    return self.metadata_file(key[:-len(".metadata")])
                return self.download(key, environ)
        storage = f"/artifactory/api/storage/{self.repo}/"
        if path.startswith(storage):
            return self.storage(path[len(storage):])
        return _errors(404, "Not found")

    def _validated(self, answer: tuple, environ) -> tuple:
        """Pages carry an ETag; a matching If-None-Match gets 304 and no body."""
        status, headers, body = answer
        if not status.startswith("200"):
            return answer
        etag = '"%s"' % hashlib.sha1(body).hexdigest()
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            with self.lock:
                self.log.append(("304", environ.get("PATH_INFO", "")))
            return "304 Not Modified", [("ETag", etag)], b""
        return status, headers + [("ETag", etag)], body

    def _listed(self) -> dict[str, Stored]:
        now = time.monotonic()
        with self.lock:
            if now - self.last_upload >= self.quiet:
                self.indexed_at = now
            return {k: v for k, v in self.files.items() if v.stored_at <= self.indexed_at}

    def _by_project(self) -> dict[str, dict[str, Stored]]:
        """What the index lists, by normalized project: made again only when the listing
        changes (files are only ever added), so that a page costs this in-process server little
        CPU beside the client it serves (the benchmarks time the client)."""
        listed = self._listed()
        with self.lock:
            # every file is listed (the last upload indexed): the listing is its file count
            key = len(self.files) if len(listed) == len(self.files) else None
            if key is not None and getattr(self, "_index_key", None) == key:
                return self._index
        by: dict[str, dict[str, Stored]] = {}
        for k, v in listed.items():
            by.setdefault(canonicalize_name(k.split("/")[0]), {})[k] = v
        with self.lock:
            self._index_key, self._index = key, by
        return by

    def root_page(self, as_json: bool = False):
        names = sorted({k.split("/")[0] for k in self._listed()})
        if as_json:
            return _json("200 OK", {"meta": {"api-version": "1.1"},
                                    "projects": [{"name": n} for n in names]},
                         [("Content-Type", JSON_TYPE)])
        links = "".join(f'<a href="{n}/" rel="internal">{n}</a><br/>\n' for n in names)
        return "200 OK", [("Content-Type", "text/html")], (
            f'<html><head><meta name="api-version" value="2"/></head><body>\n{links}</body></html>'
        ).encode()

    def project_page(self, project: str, as_json: bool = False):
        files = self._by_project().get(canonicalize_name(project), {})
        if not files:
            return _errors(404, "Could not locate artifact")
        meta = {k: _metadata_of(v.data) if self.metadata and k.endswith(".whl") else None
                for k, v in files.items()}
        if as_json:
            entries = []
            for k, v in sorted(files.items()):
                e = {"filename": k.rsplit("/", 1)[1], "url": f"../../{k}",
                     "hashes": {"sha256": v.sha256},
                     "upload-time": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                                                  time.gmtime(v.uploaded))}
                if meta[k] is not None:
                    e["core-metadata"] = e["dist-info-metadata"] = {
                        "sha256": hashlib.sha256(meta[k]).hexdigest()}
                if v.yanked is not None:
                    e["yanked"] = v.yanked or True
                entries.append(e)
            return _json("200 OK", {"meta": {"api-version": "1.1"}, "name": project,
                                    "files": entries}, [("Content-Type", JSON_TYPE)])

        def attrs(k: str) -> str:
            yanked = files[k].yanked
            said = "" if yanked is None else f' data-yanked="{html.escape(yanked)}"'
            if meta[k] is None:
                return said
            msha = hashlib.sha256(meta[k]).hexdigest()
            return f' data-core-metadata="sha256={msha}" data-dist-info-metadata="sha256={msha}"' \
                + said
        links = "".join(
            f'<a href="../../{html.escape(k)}#sha256={v.sha256}" rel="internal"{attrs(k)}>'
            f'{html.escape(k.rsplit("/", 1)[1])}</a><br/>\n' for k, v in sorted(files.items()))
        return "200 OK", [("Content-Type", "text/html")], (
            f'<html><head><meta name="api-version" value="2"/><title>Links for {project}</title>'
            f'</head><body><h1>Links for {project}</h1>\n{links}</body></html>').encode()

    def _checksums(self, f: Stored) -> list:
        return [("X-Checksum-Sha256", f.sha256),
                ("X-Checksum-Sha1", hashlib.sha1(f.data).hexdigest()),
                ("X-Checksum-Md5", hashlib.md5(f.data).hexdigest()),
                ("ETag", hashlib.sha1(f.data).hexdigest()), ("Accept-Ranges", "bytes")]

    def deploy(self, key: str, environ):
        """JFrog's deploy artifact API: a generic PUT of any file to a repository path."""
        data = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        sha = hashlib.sha256(data).hexdigest()
        if environ.get("HTTP_X_CHECKSUM_SHA256") not in (None, sha):
            return _errors(409, "Checksum mismatch")
        with self.lock:
            if key in self.files:  # a package's path: only the PyPI API puts those
                return _errors(self.duplicate_status, "Not enough permissions to overwrite")
            self.deployed[key] = Stored(data, sha, time.monotonic(), time.time())
        return _json("201 Created", {
            "repo": self.repo, "path": "/" + key, "size": str(len(data)),
            "downloadUri": f"/artifactory/{self.repo}/{key}",
            "checksums": {"sha256": sha, "sha1": hashlib.sha1(data).hexdigest(),
                          "md5": hashlib.md5(data).hexdigest()}})

    def download(self, key: str, environ):
        f = self.files.get(key) or self.deployed.get(key)
        if f is None:
            return _errors(404, "Could not locate artifact")
        headers = [("Content-Type", "application/octet-stream"), *self._checksums(f)]
        rng = "" if self.ignore_range else environ.get("HTTP_RANGE", "")
        if environ["REQUEST_METHOD"] == "GET":
            with self.lock:  # a deployed file (a bundle) is no package download
                self.log.append(("deployed" if key in self.deployed else
                                 "range" if rng else "full", key))
        if rng.startswith("bytes=") and "-" in rng and not rng.startswith("bytes=-"):
            a, _, b = rng[6:].partition("-")
            start, end = int(a), min(int(b or len(f.data) - 1), len(f.data) - 1)
            if start >= len(f.data):
                return "416 Range Not Satisfiable", [], b""
            return "206 Partial Content", headers + [
                ("Content-Range", f"bytes {start}-{end}/{len(f.data)}")], f.data[start:end + 1]
        return "200 OK", headers, f.data

    def metadata_file(self, key: str):
        f = self.files.get(key)
        body = _metadata_of(f.data) if f else None
        if body is None:
            return _errors(404, "Could not locate artifact")
        with self.lock:
            self.log.append(("metadata", key))
        return "200 OK", [("Content-Type", "application/octet-stream")], body

    def storage(self, key: str):
        f = self.files.get(key.rstrip("/"))
        if f is None:
            return _errors(404, "Unable to find item")
        return _json("200 OK", {
            "repo": self.repo, "path": "/" + key, "size": str(len(f.data)),
            "checksums": {"sha256": f.sha256, "sha1": hashlib.sha1(f.data).hexdigest(),
                          "md5": hashlib.md5(f.data).hexdigest()}})

    def upload(self, environ):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        msg = email.message_from_bytes(
            f"Content-Type: {environ.get('CONTENT_TYPE', '')}\r\n\r\n".encode() + raw)
        form, content, filename = {}, b"", ""
        for part in msg.get_payload() if msg.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                content, filename = part.get_payload(decode=True), part.get_filename()
            else:
                form[name] = part.get_payload(decode=True).decode()
        if form.get(":action") != "file_upload" or not filename:
            return _errors(400, "Missing file")
        key = f"{form['name']}/{form['version']}/{filename}"
        with self.lock:
            self.log.append(("POST", f"#{filename}"))
            fault = self.faults.pop(0) if self.faults else ""
            if fault.startswith("429"):
                return _errors(429, "Too many requests")[0], [
                    ("Retry-After", fault.split(":")[1])], b'{"errors":[]}'
            if key in self.files:
                return _errors(self.duplicate_status,
                               "Not enough permissions to delete/overwrite artifact"
                               if self.duplicate_status == 403 else "Could not locate artifact")
            sha = hashlib.sha256(content).hexdigest()
            if form.get("sha256_digest") not in (None, sha):
                return _errors(400, "Checksum mismatch")
            now = time.monotonic()
            self.files[key] = Stored(content, sha, now, time.time())
            self.last_upload = now
        if fault == "drop":
            raise Drop()
        return "200 OK", [("Content-Type", "text/plain")], b""


class _Handler(ServerHandler):
    def handle_error(self):  # a Drop cuts the connection; anything else is a 500
        if isinstance(sys.exc_info()[1], Drop):
            conn = self.request_handler.connection
            conn.shutdown(socket.SHUT_RDWR)
            self.request_handler.close_connection = True
            return
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    # wsgiref sends the headers and the body in separate writes: with Nagle's algorithm on,
    # every keep-alive answer waited ~40 ms for the client's delayed ACK, which no real server
    # (Artifactory's Tomcat sets TCP_NODELAY) makes a client wait
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet tests
        pass

    def handle_one_request(self):
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        handler = _Handler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                           multithread=True)
        handler.request_handler = self
        handler.http_version = "1.1"
        try:
            handler.run(self.server.get_app())
        except OSError:
            self.close_connection = True

    def handle(self):
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that went away is no error
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def serve(app: Artifactory) -> tuple[str, "_Server"]:
    """Start the app on 127.0.0.1 with an ephemeral port; returns (base URL, server)."""
    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_RequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server
