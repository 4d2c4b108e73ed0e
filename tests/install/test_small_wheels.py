"""An index that gives no definitions in bulk (pypiserver, devpi, a bare static directory) is
read file by file: a wheel's definition comes from its last 64 KiB, asked with a Range. A wheel
no larger than that came whole in that answer, so `rezwheel install` keeps it (sha256-checked)
rather than downloading it a second time (a larger one is still downloaded whole once it is
chosen)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from helpers import env, rezwheel


class _Ranged(SimpleHTTPRequestHandler):
    """A static server that answers suffix ranges (``bytes=-N``) as nginx does; each request
    is logged as (method, path, range)."""

    log: list = []

    def log_message(self, *args) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        self.log.append((self.command, self.path, self.headers.get("Range")))
        m = re.fullmatch(r"bytes=-(\d+)", self.headers.get("Range") or "")
        path = self.translate_path(self.path)
        if not m or not os.path.isfile(path):
            return super().send_head()
        data = Path(path).read_bytes()
        start = max(0, len(data) - int(m.group(1)))
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        import io

        return io.BytesIO(data[start:])


def _bare_index(local_index: Path, dest: Path) -> Path:
    """The local index without what bulk-reads it: no bundles, no snapshot, no PEP 658 files."""
    shutil.copytree(local_index, dest)
    for p in dest.rglob("*"):
        if p.name in ("rez-definitions.json.gz", "rez-snapshot.zip") or p.suffix == ".metadata":
            p.unlink()
    return dest


def test_a_small_wheel_is_read_once(local_index, tmp_path):
    idx = _bare_index(local_index, tmp_path / "idx")
    handler = type("H", (_Ranged,), {"log": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(idx)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        r = rezwheel("install", "multitool", "pyutil", "--python", "3.11", "--into",
                     tmp_path / "repo", "--index", url,
                     env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    finally:
        server.shutdown()
        server.server_close()
    assert "multitool-2.1.0" in r.stdout and "pyutil-1.2.0" in r.stdout
    gets: dict = {}
    for method, path, rng in handler.log:
        if method == "GET" and path.endswith(".whl"):
            gets.setdefault(path.rsplit("/", 1)[1], []).append(rng)
    installed = [n for n in gets if n.startswith(("multitool-2.1.0-cp311", "pyutil-"))]
    assert len(installed) == 2, gets
    for name in installed:  # every sample wheel is a few KiB: its tail is the whole file
        assert gets[name] == ["bytes=-65536"], (name, gets[name])
    assert (tmp_path / "repo" / "pyutil" / "1.2.0").is_dir()
