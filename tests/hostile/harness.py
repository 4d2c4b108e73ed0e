"""Hostile index servers and artifacts for tests/hostile.

``Server``: an in-process threaded HTTP server on 127.0.0.1 or 127.0.0.2 (ephemeral port) with a
route table set per test (path -> ``Reply`` or a callable writing the answer itself), logging
every request it receives (method, path, headers). ``Index`` builds real PEP 503 / PEP 691 pages
and PEP 658 sidecars for a set of wheels, so a valid install works and a test can then tamper
with exactly one value. Forging helpers rewrite a wheel as a hostile author would (RECORD and
the METADATA copy of the definition kept consistent).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import struct
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional, Union
from urllib.parse import quote, urlsplit

from packaging.utils import canonicalize_name, parse_wheel_filename

from helpers import rebuild

HTML = "text/html; charset=utf-8"
JSON = "application/vnd.pypi.simple.v1+json"


def sha256(data: Union[bytes, Path]) -> str:
    if isinstance(data, Path):
        data = data.read_bytes()
    return hashlib.sha256(data).hexdigest()


@dataclass
class Reply:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    ranges: bool = False  # honour Range (files)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict

    def carries(self, secret: str) -> bool:
        return any(secret in v for v in self.headers.values())


Handler = Callable[["_Handler", "Server"], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: lies about sizes stay simple
    server: "_HTTPServer"

    def log_message(self, *a) -> None:  # quiet
        pass

    def _serve(self) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        req = Request(self.command, path, {k.lower(): v for k, v in self.headers.items()})
        owner.log.append(req)
        if self.command == "POST":
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
        route = owner.routes.get(path)
        if route is None:
            route = owner.fallback
        try:
            if route is None:
                self._reply(Reply(404, {"Content-Type": "text/plain"}, b"not found\n"))
            elif callable(route):
                route(self, owner)
            else:
                self._reply(route)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            pass

    def _reply(self, r: Reply) -> None:
        body, status, headers = r.body, r.status, dict(r.headers)
        rng = self.headers.get("Range", "")
        if r.ranges and status == 200 and rng.startswith("bytes="):
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m:
                size = len(body)
                if m[1] == "":
                    start, end = max(0, size - int(m[2])), size - 1
                else:
                    start, end = int(m[1]), min(size - 1, int(m[2]) if m[2] else size - 1)
                if start <= end:
                    status, body = 206, body[start:end + 1]
                    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self.send_response(status)
        headers.setdefault("Content-Length", str(len(body)))
        if r.ranges:
            headers.setdefault("Accept-Ranges", "bytes")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = _serve


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128
    owner: "Server"


class Server:
    """One origin. ``routes`` and ``log`` are reset by ``reset()`` between tests."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.httpd = _HTTPServer((host, 0), _Handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.origin = f"http://{host}:{self.port}"
        self.routes: dict[str, Union[Reply, Handler]] = {}
        self.fallback: Optional[Union[Reply, Handler]] = None
        self.log: list[Request] = []
        self.generation = 0  # bumped by reset(): long-running handlers of older tests stop
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.generation += 1
        self.routes = {}
        self.fallback = None
        self.log = []

    def stop(self) -> None:
        self.generation += 1
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def requests_to(self, path_prefix: str = "/", method: Optional[str] = None) -> list[Request]:
        return [r for r in self.log if r.path.startswith(path_prefix)
                and (method is None or r.method == method)]

    def carrying(self, secret: str) -> list[Request]:
        return [r for r in self.log if r.carries(secret)]


# -- callables for misbehaving answers -----------------------------------------------------------
def _alive(server: Server, gen: int) -> bool:
    return server.generation == gen


def drip(body: bytes, interval: float = 2.0, status: int = 200, content_type: str = HTML,
         headers: Optional[dict] = None) -> Handler:
    """Headers at once, then the body one byte every ``interval`` seconds."""
    def handle(h: _Handler, server: Server) -> None:
        gen = server.generation
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.flush()
        for i in range(len(body)):
            if not _alive(server, gen):
                return
            h.wfile.write(body[i:i + 1])
            h.wfile.flush()
            time.sleep(interval)
    return handle


def drip_headers(interval: float = 2.0) -> Handler:
    """The status line and headers themselves dripped, one header every ``interval`` s."""
    def handle(h: _Handler, server: Server) -> None:
        gen = server.generation
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        h.wfile.flush()
        for i in range(1000):
            if not _alive(server, gen):
                return
            time.sleep(interval)
            h.wfile.write(f"X-Pad-{i}: {i}\r\n".encode())
            h.wfile.flush()
    return handle


def throttled(body: bytes, chunk: int, delay: float, content_type: str = "application/zip"
              ) -> Handler:
    """A slow but honest file server: ``chunk`` bytes every ``delay`` seconds."""
    def handle(h: _Handler, server: Server) -> None:
        gen = server.generation
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command == "HEAD":
            return
        for i in range(0, len(body), chunk):
            if not _alive(server, gen):
                return
            h.wfile.write(body[i:i + chunk])
            h.wfile.flush()
            time.sleep(delay)
    return handle


def lying_length(body: bytes, declared: int, content_type: str = "application/zip") -> Handler:
    """Content-Length says ``declared``; ``body`` is sent and the connection closed."""
    def handle(h: _Handler, server: Server) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(declared))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
            h.wfile.flush()
        h.close_connection = True
    return handle


def broken_chunked(body: bytes, content_type: str = "application/zip") -> Handler:
    """Transfer-Encoding: chunked with a chunk that lies about its size, then a hang-up."""
    def handle(h: _Handler, server: Server) -> None:
        w = h.wfile
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode()
                + b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        half = body[: len(body) // 2]
        w.write(b"%x\r\n" % len(half) + half + b"\r\n")
        w.write(b"zz\r\ngarbage")
        w.flush()
        h.close_connection = True
    return handle


def streamed(size: int, piece: bytes = b"<!-- padding padding padding -->\n",
             content_type: str = HTML, chunked: bool = True) -> Handler:
    """A body of ``size`` bytes, generated on the fly (no Content-Length when chunked)."""
    def handle(h: _Handler, server: Server) -> None:
        gen = server.generation
        w = h.wfile
        block = piece * max(1, (1 << 16) // len(piece))
        if chunked:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode()
                    + b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        else:
            w.write(b"HTTP/1.0 200 OK\r\nContent-Type: " + content_type.encode()
                    + b"\r\nContent-Length: %d\r\n\r\n" % size)
        sent = 0
        while sent < size and _alive(server, gen):
            part = block[: size - sent]
            w.write((b"%x\r\n" % len(part) + part + b"\r\n") if chunked else part)
            sent += len(part)
        if chunked:
            w.write(b"0\r\n\r\n")
        w.flush()
        h.close_connection = True
    return handle


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, {"Location": location, "Content-Type": "text/plain"}, b"moved\n")


# -- index pages -----------------------------------------------------------------------------------
@dataclass
class Entry:
    """One file as a page lists it; every field can be tampered with before ``publish()``."""
    filename: str              # what the page says (link text / JSON filename)
    href: str                  # the link, relative or absolute
    sha256: Optional[str]      # what the page claims
    body: Optional[bytes]      # what /files/<name> serves (None: not served)
    metadata: Optional[bytes]  # the PEP 658 sidecar served at href + ".metadata" (None: none)
    metadata_sha256: Optional[str] = None  # advertised hash (defaults to the sidecar's)
    requires_python: Optional[str] = None
    text: Optional[str] = None  # HTML link text when it differs from filename
    extra_json: dict = field(default_factory=dict)  # PEP 691 keys to override / add


def read_metadata(wheel: Union[Path, bytes]) -> bytes:
    import io
    src = io.BytesIO(wheel) if isinstance(wheel, bytes) else wheel
    with zipfile.ZipFile(src) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return z.read(name)


class Index:
    """Projects -> entries, rendered onto a Server under /simple/ (pages) and /files/ (files)."""

    def __init__(self, server: Server, fmt: str = "html", simple: str = "/simple/",
                 files: str = "/files/") -> None:
        self.server, self.fmt, self.simple, self.files = server, fmt, simple, files
        self.projects: dict[str, list[Entry]] = {}

    @property
    def url(self) -> str:
        return self.server.url(self.simple)

    def add(self, wheel: Path, filename: Optional[str] = None, sidecar: bool = True,
            project: Optional[str] = None) -> Entry:
        data = wheel.read_bytes()
        name = filename or wheel.name
        if project is None:
            project = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        e = Entry(name, self.files + quote(name), sha256(data), data,
                  read_metadata(data) if sidecar else None)
        self.projects.setdefault(project, []).append(e)
        return e

    def add_all(self, wheels: list[Path], sidecar: bool = True) -> "Index":
        for w in wheels:
            self.add(w, sidecar=sidecar)
        return self

    def entry(self, filename: str) -> Entry:
        return next(e for es in self.projects.values() for e in es if e.filename == filename)

    def page(self, project: str) -> tuple[bytes, str]:
        entries = self.projects.get(project, [])
        if self.fmt == "json":
            files = []
            for e in entries:
                f = {"filename": e.filename, "url": e.href,
                     "hashes": {"sha256": e.sha256} if e.sha256 else {}}
                if e.metadata is not None:
                    f["core-metadata"] = {"sha256": e.metadata_sha256 or sha256(e.metadata)}
                if e.requires_python:
                    f["requires-python"] = e.requires_python
                f.update(e.extra_json)
                files.append(f)
            doc = {"meta": {"api-version": "1.1"}, "name": project, "files": files}
            return json.dumps(doc).encode(), JSON
        rows = []
        for e in entries:
            href = e.href + (f"#sha256={e.sha256}" if e.sha256 else "")
            attrs = f'href="{html.escape(href)}"'
            if e.metadata is not None:
                meta = f"sha256={e.metadata_sha256 or sha256(e.metadata)}"
                attrs += f' data-core-metadata="{meta}" data-dist-info-metadata="{meta}"'
            if e.requires_python:
                attrs += f' data-requires-python="{html.escape(e.requires_python)}"'
            rows.append(f"<a {attrs}>{html.escape(e.text if e.text is not None else e.filename)}</a><br/>")
        body = ("<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" "
                f"content=\"1.0\"><title>Links for {project}</title></head><body>"
                f"<h1>Links for {project}</h1>\n" + "\n".join(rows) + "\n</body></html>\n")
        return body.encode(), HTML

    def root(self) -> tuple[bytes, str]:
        if self.fmt == "json":
            doc = {"meta": {"api-version": "1.1"},
                   "projects": [{"name": p} for p in sorted(self.projects)]}
            return json.dumps(doc).encode(), JSON
        rows = "\n".join(f'<a href="{p}/">{p}</a><br/>' for p in sorted(self.projects))
        return f"<!DOCTYPE html><html><body>\n{rows}\n</body></html>\n".encode(), HTML

    def publish(self) -> "Index":
        """(Re)write the server's routes for this index (pages, files, sidecars)."""
        r = self.server.routes
        body, ctype = self.root()
        r[self.simple] = Reply(200, {"Content-Type": ctype}, body)
        for project in self.projects:
            body, ctype = self.page(project)
            r[f"{self.simple}{project}/"] = Reply(200, {"Content-Type": ctype}, body)
            for e in self.projects[project]:
                path = urlsplit(e.href).path
                if not path.startswith("/") or "://" in e.href:
                    continue
                # routes this index wrote are rewritten (an entry tampered with after an
                # earlier publish); routes a test set itself are left alone
                own = self.__dict__.setdefault("_own", set())
                if e.body is not None and (path not in r or path in own):
                    r[path] = Reply(200, {"Content-Type": "application/zip"}, e.body, ranges=True)
                    own.add(path)
                meta = path + ".metadata"
                if e.metadata is not None and (meta not in r or meta in own):
                    r[meta] = Reply(200, {"Content-Type": "text/plain"}, e.metadata)
                    own.add(meta)
        return self


# -- forging artifacts ------------------------------------------------------------------------------
def _with_definition(metadata: bytes, definition: str) -> bytes:
    text = metadata.decode()
    head, sep, _ = text.partition("```python\n")
    if not sep:
        return metadata
    return (head + "```python\n" + definition.rstrip("\n") + "\n```\n").encode()


def forge(src: Path, dest: Path, definition: Optional[str] = None,
          layout: Optional[Callable[[dict], None]] = None,
          metadata: Optional[Callable[[str], str]] = None,
          members: Optional[Callable[[str, bytes], bytes]] = None) -> Path:
    """A copy of a wheel as a hostile author would make it: RECORD rewritten to match, the
    METADATA copy of the definition equal to the embedded one."""
    def change(name: str, data: bytes) -> bytes:
        if members is not None:
            data = members(name, data)
        if name.endswith(".dist-info/rez-package.py") and definition is not None:
            return definition.encode()
        if name.endswith(".dist-info/rez-layout.json") and layout is not None:
            doc = json.loads(data)
            layout(doc)
            return json.dumps(doc, indent=1, sort_keys=True).encode()
        if name.endswith(".dist-info/METADATA"):
            if definition is not None:
                data = _with_definition(data, definition)
            if metadata is not None:
                data = metadata(data.decode()).encode()
        return data
    dest.parent.mkdir(parents=True, exist_ok=True)
    return rebuild(src, dest, change)


def definition_of(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/rez-package.py"))
        return z.read(name).decode()


def declare_size(wheel: Path, member_suffix: str, size: int) -> None:
    """Patch the central directory so ``member`` declares ``size`` uncompressed bytes."""
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(member_suffix))
    entry = data.rfind(name.encode()) - 46
    assert data[entry:entry + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, entry + 24, size)
    wheel.write_bytes(bytes(data))


def plain_wheel(dest_dir: Path, filename: str, name: str, version: str,
                files: Optional[dict] = None) -> Path:
    """A plain (non-rezwheel) wheel whose METADATA says ``name``/``version``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dist = filename.split("-")[0] + "-" + filename.split("-")[1]
    path = dest_dir / filename
    import base64

    members = dict(files or {"plainmod.py": b"X = 1\n"})
    members[f"{dist}.dist-info/METADATA"] = \
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    members[f"{dist}.dist-info/WHEEL"] = \
        b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    rows = []
    for n, d in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
        rows.append(f"{n},sha256={digest},{len(d)}")
    rows.append(f"{dist}.dist-info/RECORD,,")
    members[f"{dist}.dist-info/RECORD"] = ("\n".join(rows) + "\n").encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, d in members.items():
            z.writestr(n, d)
    return path
