"""Real index servers for the tests, on 127.0.0.1 with ephemeral ports."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import requests

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        for _ in range(100):
            try:
                requests.get(self.url + "simple/", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("pypiserver did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class DevpiServer:
    """devpi-server (offline) with a stage index ``root/dev``; it answers PEP 691 JSON."""

    def __init__(self, root: Path, password: str) -> None:
        self.port = free_port()
        base = f"http://127.0.0.1:{self.port}"
        self.url = f"{base}/root/dev/"
        serverdir = root / "devpi"
        subprocess.run([str(BIN / "devpi-init"), "--serverdir", str(serverdir), "--root-passwd",
                        password, "--no-root-pypi"], check=True, capture_output=True)
        self.log = open(root / "devpi.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "devpi-server"), "--serverdir", str(serverdir), "--host", "127.0.0.1",
             "--port", str(self.port), "--offline-mode"], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                requests.get(base + "/+api", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("devpi-server did not start within 30 s")
        r = requests.put(base + "/root/dev", auth=("root", password),
                         json={"type": "stage", "bases": [], "volatile": False})
        r.raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()
