"""Real index servers for the tests, on 127.0.0.1 with ephemeral ports: pypiserver, devpi, and a
static server over a directory index (nginx, or Python's http.server where nginx is absent)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

import requests

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, limit: float) -> bool:
    """Whether ``url`` answers within ``limit`` seconds, asked every 20 ms: a server is up in
    well under a second, and a polling step is time every test that starts one waits. False
    at once if ``proc`` exits (a server that failed says so in its log, never by answering)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            requests.get(url, timeout=1)
            return True
        except requests.ConnectionError:
            time.sleep(0.02)
    return False


class PyPIServer:
    """pypiserver with uploads guarded by an htpasswd file (user ``ci``), or open when no password."""

    def __init__(self, root: Path, password: Optional[str] = None) -> None:
        self.root = root / "packages"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        args = ["-a", ".", "-P", "."]
        if password:
            from passlib.apache import HtpasswdFile
            ht = HtpasswdFile(str(root / "htpasswd"), new=True)
            ht.set_password("ci", password)
            ht.save()
            args = ["-a", "update", "-P", str(root / "htpasswd")]
        self.log = open(root / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "pypi-server"), "run", "-i", "127.0.0.1", "-p", str(self.port), *args,
             "--disable-fallback", "--hash-algo", "sha256", str(self.root)],
            stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_until_up(self.url + "simple/", self.proc, 10):
            self.stop()
            raise RuntimeError("pypiserver did not start: " + (root / "server.log").read_text())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class DevpiServer:
    """devpi-server (offline) with a stage index ``root/dev``; it answers PEP 691 JSON.

    Its start derives the login-token key with argon2 at its production cost (512 MiB, 16
    passes: half a minute of a core, most of the suite's slowest test); the server takes the
    minimum instead, as devpi's own tests do. The key signs login tokens only: what the test
    sends (basic auth, uploads, pages) is the same either way."""

    CHEAP_KEY = ["--argon2-memory-cost", "8", "--argon2-time-cost", "1",
                 "--argon2-parallelism", "1"]

    def __init__(self, root: Path, password: str) -> None:
        self.port = free_port()
        base = f"http://127.0.0.1:{self.port}"
        self.url = f"{base}/root/dev/"
        serverdir = root / "devpi"
        subprocess.run([str(BIN / "devpi-init"), "--serverdir", str(serverdir), "--root-passwd",
                        password, "--no-root-pypi"], check=True, capture_output=True)
        self.logpath = root / "devpi.log"
        for extra in (self.CHEAP_KEY, []):  # a devpi-server without the options: as it comes
            self.log = open(self.logpath, "wb")
            self.proc = subprocess.Popen(
                [str(BIN / "devpi-server"), "--serverdir", str(serverdir), "--host", "127.0.0.1",
                 "--port", str(self.port), "--offline-mode", *extra],
                stdout=self.log, stderr=subprocess.STDOUT)
            if wait_until_up(base + "/+api", self.proc, 60):
                break
            self.stop()
            if b"unrecognized arguments" not in self.logpath.read_bytes():
                break
        if self.proc.returncode is not None:
            raise RuntimeError("devpi-server did not start within 60 s: "
                               + self.logpath.read_text()[-500:])
        r = requests.put(base + "/root/dev", auth=("root", password),
                         json={"type": "stage", "bases": [], "volatile": False})
        r.raise_for_status()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class Nginx:
    """nginx serving ``root`` statically on 127.0.0.1 with ETags, as a site serves a directory
    index; its config, pid and logs in ``tmp``. ``Nginx.start`` is None when nginx is absent
    (Debian: ``apt-get install nginx-light``)."""

    def __init__(self, prefix: Path, port: int) -> None:
        self.prefix, self.url = prefix, f"http://127.0.0.1:{port}/"

    @classmethod
    def start(cls, root: Path, tmp: Path) -> Optional["Nginx"]:
        exe = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None)
        if not exe:
            return None
        prefix = tmp / "nginx"
        (prefix / "logs").mkdir(parents=True)
        port = free_port()
        user = "user root;" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(f"""
{user} worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/logs/error.log;
events {{ worker_connections 256; }}
http {{
  types {{ text/html html; application/octet-stream whl metadata; }}
  access_log off;
  client_body_temp_path {prefix}; proxy_temp_path {prefix}; fastcgi_temp_path {prefix};
  uwsgi_temp_path {prefix}; scgi_temp_path {prefix};
  server {{ listen 127.0.0.1:{port}; root {root}; index index.html; etag on; }}
}}
""")
        subprocess.run([exe, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], check=True)
        server = cls(prefix, port)
        for _ in range(50):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return server
            except OSError:
                time.sleep(0.1)
        server.stop()
        raise RuntimeError("nginx did not start: " + (prefix / "logs" / "error.log").read_text())

    def stop(self) -> None:
        pid = self.prefix / "nginx.pid"
        if pid.exists():
            os.kill(int(pid.read_text()), 15)


class QuietHandler(SimpleHTTPRequestHandler):
    """http.server's file handler without its access log on stderr."""

    def log_message(self, *args) -> None:
        pass


class PythonStatic:
    """Python's http.server over ``root`` (Last-Modified and If-Modified-Since, no ETag);
    ``handler`` a subclass of QuietHandler for a server that misbehaves in one way."""

    def __init__(self, root: Path, handler: type = QuietHandler) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def static_server(root: Path, tmp: Path):
    """A static server over a directory index: nginx when installed, else http.server."""
    return Nginx.start(root, tmp) or PythonStatic(root)


class LoggedStatic:
    """A static file server over a directory index (what nginx does), keeping each request as
    (method, path) in ``log``; its validators are Last-Modified in seconds, the coarsest a
    static server sends."""

    def __init__(self, root: Path) -> None:
        self.log: list[tuple[str, str]] = []
        self.answers: list[tuple[str, str, str]] = []  # (method, path, status)
        log, answers = self.log, self.answers

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                log.append((self.command, self.path))
                answers.append((self.command, self.path, str(args[2]) if len(args) > 2 else ""))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
