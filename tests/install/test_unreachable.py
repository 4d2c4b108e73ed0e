"""An index whose pages answer but whose files cannot be reached (the server went down mid-way,
a files host behind a dead proxy) is said to be unreachable, on one line naming the file: a
definition that could not be read is no word on the package. (It was 'skipping invalid
package', then a version conflict nobody had written.)"""

from __future__ import annotations

import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from helpers import env, rezwheel


class _FilesDown(SimpleHTTPRequestHandler):
    """Pages as a static server serves them; a file's request gets its connection closed."""

    def log_message(self, *args) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        if self.path.endswith((".whl", ".metadata", ".gz", ".zip")):
            self.close_connection = True
            self.connection.close()
            return None
        return super().send_head()


def test_files_that_cannot_be_reached_are_said_so(local_index, tmp_path):
    idx = tmp_path / "idx"
    shutil.copytree(local_index, idx)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_FilesDown, directory=str(idx)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = rezwheel("install", "multitool", "--python", "3.11", "--dry-run", "--into",
                     tmp_path / "repo", "--index",
                     f"http://127.0.0.1:{server.server_address[1]}/simple/", check=False,
                     env=env(REZWHEEL_STORE=str(tmp_path / "store")))
    finally:
        server.shutdown()
        server.server_close()
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "invalid package" not in r.stderr, r.stderr
    assert "conflict" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "connection failed" in last and ".whl" in last, r.stderr
