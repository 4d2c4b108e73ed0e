"""Publish speed, same run: `python benchmarks/publish.py [FAMILIES]` (default 100 -> 200 wheels).

1. Artifactory-like latency: the tests' Artifactory fixture on a threaded server with 50 ms added
   to every request. `rezwheel publish` vs `twine upload` of the same files (goal >= 7x).
2. A local pypiserver, where the server is the limit: a minimal raw-HTTP upload loop (the floor,
   4 parallel uploads, no index reads) vs `rezwheel publish` (goal <= 1.2x the floor) vs twine.
3. A second `rezwheel publish` of everything: uploads sent and index requests made (goal: no
   upload; one project page per distribution, plus the one listing of the index that spares a
   request per new project on a first publish).
"""

import concurrent.futures as cf
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from helpers.artifactory import Artifactory, serve  # noqa: E402
from helpers.servers import PyPIServer  # noqa: E402

BIN = os.path.dirname(sys.executable)
TOKEN = "bench-token"


def make_wheels(tmp: str, families: int) -> list[str]:
    repo = os.path.join(tmp, "repo")
    for f in range(families):
        name = f"fam{f:04d}"
        base = os.path.join(repo, name, "1.0.0")
        os.makedirs(base)
        with open(os.path.join(base, "package.py"), "w") as fh:
            fh.write(f"name = {name!r}\nversion = '1.0.0'\n"
                     "variants = [['python-3.9'], ['python-3.11']]\n\ndef commands():\n"
                     "    env.PYTHONPATH.append('{root}/python')\n")
        for py in ("python-3.9", "python-3.11"):
            d = os.path.join(base, py, "python", name)
            os.makedirs(d)
            with open(os.path.join(d, "__init__.py"), "w") as fh:
                fh.write(f"NAME = {name!r}\n" * 20)
    out = os.path.join(tmp, "wheels")
    subprocess.run([sys.executable, "-m", "rezwheel", "convert", repo, "-o", out], check=True,
                   stdout=subprocess.DEVNULL)
    return sorted(os.path.join(out, f) for f in os.listdir(out))


def timed(cmd: list[str], **env: str) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, **env})
    return time.perf_counter() - t


def twine(url: str, wheels: list[str], user: str, password: str) -> float:
    return timed([os.path.join(BIN, "twine"), "upload", "--non-interactive",
                  "--disable-progress-bar", "--repository-url", url, *wheels],
                 TWINE_USERNAME=user, TWINE_PASSWORD=password)


def rezwheel(url: str, wheels: list[str], **env: str) -> float:
    return timed([os.path.join(BIN, "rezwheel"), "publish", *wheels, "--to", url], CI="1", **env)


def raw_floor(url: str, wheels: list[str], jobs: int = 4) -> float:
    s = requests.Session()
    s.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=jobs))

    def up(p: str) -> int:
        fn = os.path.basename(p)
        name, ver = fn.split("-")[:2]
        body = open(p, "rb").read()
        form = {":action": "file_upload", "name": name, "version": ver, "protocol_version": "1",
                "filetype": "bdist_wheel", "sha256_digest": hashlib.sha256(body).hexdigest()}
        return s.post(url, data=form, files={"content": (fn, body)}, auth=("x", "x")).status_code

    t = time.perf_counter()
    with cf.ThreadPoolExecutor(jobs) as ex:
        assert set(ex.map(up, wheels)) == {200}
    return time.perf_counter() - t


def main() -> None:
    families = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory(prefix="rezwheel-bench-") as tmp:
        wheels = make_wheels(tmp, families)
        n = len(wheels)

        apps = []
        for _ in range(2):
            app = Artifactory(tokens=(TOKEN,), latency=0.05)
            base, _server = serve(app)
            app.url = f"{base}/artifactory/api/pypi/rez"
            apps.append(app)
        t_twine = twine(apps[0].url, wheels, "ci", TOKEN)
        t_rw = rezwheel(apps[1].url, wheels, REZWHEEL_TOKEN=TOKEN)
        assert len(apps[1].files) == n
        before = len(apps[1].log)
        t_again = rezwheel(apps[1].url, wheels, REZWHEEL_TOKEN=TOKEN)
        again = apps[1].log[before:]
        posts = sum(1 for m, _ in again if m == "POST")
        reads = sum(1 for m, p in again if m == "GET" and "/simple/" in p)
        print(f"Artifactory fixture, 50 ms per request, {n} wheels: twine {t_twine:.2f}s, "
              f"rezwheel {t_rw:.2f}s = {t_twine / t_rw:.1f}x faster (goal >= 7)")
        print(f"  second publish: {t_again:.2f}s, {posts} uploads, {reads} index requests for "
              f"{families} distributions (goal: 0 uploads; one page per distribution plus one "
              f"listing of the index = {families + 1})")

        servers = [PyPIServer(Path(tmp) / f"ps{i}") for i in range(3)]
        try:
            t_floor = raw_floor(servers[0].url, wheels)
            t_rw = rezwheel(servers[1].url, wheels)
            t_twine = twine(servers[2].url, wheels, "x", "x")
        finally:
            for s in servers:
                s.stop()
        print(f"pypiserver, {n} wheels: raw floor {t_floor:.2f}s, rezwheel {t_rw:.2f}s = "
              f"{t_rw / t_floor:.2f}x the floor (goal <= 1.2), twine {t_twine:.2f}s = "
              f"{t_twine / t_rw:.1f}x slower than rezwheel")


if __name__ == "__main__":
    main()
