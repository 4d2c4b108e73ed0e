"""The rez plugin against rez's filesystem repository, same run:
`python benchmarks/plugin.py [FAMILIES VERSIONS]` (default 300 x 10, two variants each).

1. Resolve 20 requests from a rez filesystem repository and through the plugin, each mode and
   each state in a fresh process: cold (empty store), warm within the index's ttl (300 s: no
   request expected), warm after the ttl (every cached page revalidated: ``REZWHEEL_TTL=0``,
   as the plugin tests emulate an expired ttl). Indexes:

   - a local directory index (no requests at all);
   - the same directory served by nginx on 127.0.0.1 (started and stopped here, its config in a
     temporary directory; Debian: ``apt-get install nginx-light``; the mode is reported as
     skipped when nginx is absent). A static server costs almost nothing: this measures the
     client. Goals: cold <= 1.5x filesystem, warm <= 0.8x;
   - the tests' Artifactory fixture (a threaded WSGI server in this process) with 50 ms added to
     every request (its ``latency``), a far server. Goals: cold <= 3x, warm within ttl <= 0.8x;
   - pypiserver (which re-reads its whole directory for every page and file, so at 6,000 files it
     is the bottleneck: its figures measure the server more than the client).

   Every resolve must match the filesystem's (the run exits 1 otherwise). Only the resolves are
   timed (rez and the plugin's imports are outside the span in every mode).

   Requests and sequential round trips: the worker wraps ``requests.Session.send`` (the one way
   every reader's request goes out) and records, for each request, when it was sent, when its
   answer's headers arrived and the resolve it belongs to. Two requests had to wait on each other when one started after the other ended;
   a resolve's sequential round trips are the longest chain of such non-overlapping requests (the
   longest path through the interval order, by dynamic programming over requests sorted by end
   time). A sequential client scores its request count; a client that prefetches in parallel
   scores the depth of what it waited on. The table sums both over the 20 resolves.
2. Localize an 18-wheel, ~30 MB environment (cold store) vs `uv pip install` of the same wheels
   into a fresh venv with an empty uv cache. Goal: ratio <= 1.0, for the resolve and the
   localizing together (uv resolves nothing here: `--no-deps`, the wheels named); the context's
   environment alone (every root localized, and rez's commands run) is printed beside it.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
BIN = Path(sys.executable).parent
DELAY = 0.05  # seconds the Artifactory fixture adds to every request
TTL = "300"   # a render node's ttl


def generate(root: Path, families: int, versions: int, payload: int = 0, seed: int = 0) -> None:
    rnd = random.Random(seed)
    for f in range(families):
        name = f"fam{f:04d}"
        for v in range(versions):
            ver = f"{1 + v // 4}.{v % 4}.0"
            base = root / name / ver
            reqs = [f"fam{rnd.randrange(0, f):04d}-1+"] if f else []
            base.mkdir(parents=True)
            (base / "package.py").write_text(
                f"name = {name!r}\nversion = {ver!r}\ndescription = 'synthetic {name}'\n"
                f"requires = {reqs!r}\nvariants = [['python-3.9'], ['python-3.11']]\n\n"
                "def commands():\n    env.PYTHONPATH.append('{root}/python')\n")
            for py in ("python-3.9", "python-3.11"):
                d = base / py / "python" / name
                d.mkdir(parents=True)
                (d / "__init__.py").write_text(f"VERSION = {ver!r}\n")
                if payload:
                    (d / "data.bin").write_bytes(os.urandom(payload))
    for py in ("3.9", "3.11"):
        (root / "python" / py).mkdir(parents=True)
        (root / "python" / py / "package.py").write_text(f"name = 'python'\nversion = {py!r}\n")


def record_requests() -> list:
    """Wrap ``requests.Session.send``: every request's (resolve, start, end), appended to the
    list returned (the resolve is ``CURRENT[0]`` when it went out)."""
    import requests

    seen: list = []
    send = requests.Session.send

    def timed(self, request, **kw):
        t = time.perf_counter()
        try:
            return send(self, request, **kw)
        finally:
            seen.append((CURRENT[0], t, time.perf_counter()))

    requests.Session.send = timed
    return seen


CURRENT = [0]  # the resolve under way, for record_requests


def round_trips(spans: list) -> int:
    """The longest chain of requests each started after the previous one ended."""
    spans = sorted(spans, key=lambda s: s[1])
    depth: list = []  # (end, longest chain ending with this request)
    for start, end in spans:
        depth.append((end, 1 + max((d for e, d in depth if e <= start), default=0)))
    return max((d for _, d in depth), default=0)


def worker(location: str, requests: list, environ: bool) -> None:
    """In a fresh process: resolve (and optionally localize) every request; print a report."""
    from rez.package_repository import package_repository_manager
    from rez.resolved_context import ResolvedContext

    seen = record_requests() if location.startswith("artifactory@http") else []
    t = time.perf_counter()
    resolves, environ_took = [], 0.0
    for i, r in enumerate(requests):
        CURRENT[0] = i
        ctx = ResolvedContext(r.split(), package_paths=[location])
        resolves.append(" ".join(f"{v.qualified_package_name}[{v.index}]"
                                 for v in ctx.resolved_packages or []))
        if environ:
            e = time.perf_counter()
            ctx.get_environ()
            environ_took += time.perf_counter() - e
    took = time.perf_counter() - t
    counters: dict = {"bytes": 0}
    if location.startswith("artifactory@"):
        c = package_repository_manager.get_repository(location).index.counters
        counters = {"bytes": c.bytes, "by_kind": c.by_kind}
    trips = sum(round_trips([(a, b) for n, a, b in seen if n == i]) for i in range(len(requests)))
    print(json.dumps({"seconds": took, "environ_seconds": environ_took, "resolves": resolves,
                      "requests": len(seen),
                      "round_trips": trips, **counters}))


def run_worker(location: str, requests: list, store: Path, environ: bool = False,
               ttl: str = TTL) -> dict:
    env = dict(os.environ, REZWHEEL_STORE=str(store), REZ_QUIET="1", REZWHEEL_TTL=ttl)
    out = subprocess.run([sys.executable, __file__, "worker", location, json.dumps(requests),
                          "1" if environ else "0"], capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rezwheel(*args: str) -> None:
    subprocess.run([str(BIN / "rezwheel"), *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL)


def resolves(tmp: Path, families: int, versions: int) -> bool:
    """Every mode's table rows; True when every resolve matched the filesystem's."""
    from helpers.artifactory import Artifactory, serve
    from helpers.servers import Nginx, PyPIServer

    repo = tmp / "repo"
    generate(repo, families, versions)
    t = time.perf_counter()
    rezwheel("convert", repo, "-o", tmp / "wheels")
    wheels = sorted((tmp / "wheels").glob("*.whl"))
    print(f"setup: {len(wheels)} wheels converted in {time.perf_counter() - t:.1f}s")
    rezwheel("publish", *wheels, "--to", tmp / "idx")
    art = Artifactory(tokens=("bench",))
    base, _ = serve(art)
    os.environ["REZWHEEL_TOKEN"] = "bench"
    rezwheel("publish", *wheels, "--to", f"{base}/artifactory/api/pypi/rez")
    art.latency = DELAY  # from here on, a far server
    server = PyPIServer(tmp / "srv")
    nginx = Nginx.start(tmp / "idx", tmp)
    try:
        for w in wheels:  # pypiserver serves its directory (an upload re-lists it: minutes)
            shutil.copy(w, server.root)
        rnd = random.Random(1)
        requests = [f"fam{rnd.randrange(families // 2, families):04d} python-3.11"
                    for _ in range(20)]
        fs = run_worker(str(repo), requests, tmp / "unused")
        touched = {p.split("-")[0] for r in fs["resolves"] for p in r.split()}
        print(f"filesystem repository: 20 resolves in {fs['seconds']:.2f}s, "
              f"{len(touched)} families touched")
        modes = [("local dir", f"artifactory@{tmp / 'idx'}", "-", "-"),
                 ("nginx", nginx and f"artifactory@{nginx.url}simple/", "1.5", "0.8"),
                 (f"Artifactory +{DELAY * 1000:.0f}ms",
                  f"artifactory@{base}/artifactory/api/pypi/rez/simple/", "3", "0.8"),
                 ("pypiserver", f"artifactory@{server.url}simple/", "-", "-")]
        print(f"{'mode':<20} {'state':<16} {'seconds':>8} {'ratio':>6} {'goal':>5} "
              f"{'requests':>8} {'round trips':>11}  identical")
        identical = True
        for label, location, cold_goal, warm_goal in modes:
            if location is None:
                print(f"{label:<20} skipped: nginx is absent (Debian: apt-get install nginx-light)")
                continue
            store = tmp / f"store-{label.split()[0]}"
            runs = [("cold", run_worker(location, requests, store), cold_goal),
                    ("warm within ttl", run_worker(location, requests, store), warm_goal),
                    ("warm after ttl", run_worker(location, requests, store, ttl="0"), "-")]
            for state, got, goal in runs:
                same = got["resolves"] == fs["resolves"]
                identical &= same
                print(f"{label:<20} {state:<16} {got['seconds']:8.2f} "
                      f"{got['seconds'] / fs['seconds']:5.2f}x {goal:>5} {got['requests']:8d} "
                      f"{got['round_trips']:11d}  {same}")
            print(f"{'':<20} cold reads: {runs[0][1].get('by_kind', {})}, "
                  f"{runs[0][1]['bytes']:,} bytes")
        return identical
    finally:
        if nginx:
            nginx.stop()
        server.stop()


def localize(tmp: Path) -> None:
    repo = tmp / "lrepo"
    generate(repo, 18, 1, payload=1_700_000, seed=2)  # 18 x 1.7 MB for python-3.11 = ~30 MB
    rezwheel("convert", repo, "-o", tmp / "lwheels")
    wheels = sorted(w for w in (tmp / "lwheels").glob("*.whl") if "cp311" in w.name
                    or "py311" in w.name)
    rezwheel("publish", *sorted((tmp / "lwheels").glob("*.whl")), "--to", tmp / "lidx")
    size = sum(w.stat().st_size for w in wheels)
    request = [" ".join(f"fam{i:04d}" for i in range(18)) + " python-3.11"]
    ours = run_worker(f"artifactory@{tmp / 'lidx'}", request, tmp / "lstore", environ=True)
    uv = str(BIN / "uv") if (BIN / "uv").exists() else "uv"
    venv = tmp / "uvvenv"
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    env = dict(os.environ, UV_CACHE_DIR=str(tmp / "uvcache"), VIRTUAL_ENV=str(venv))
    t = time.perf_counter()
    subprocess.run([uv, "pip", "install", "-q", "--no-deps", "--offline", *map(str, wheels)],
                   check=True, env=env)
    t_uv = time.perf_counter() - t
    print(f"localize {len(wheels)} wheels ({size / 1e6:.0f} MB), cold: rezwheel (resolve + "
          f"localize) {ours['seconds']:.2f}s, uv pip install {t_uv:.2f}s = "
          f"{ours['seconds'] / t_uv:.2f}x (goal <= 1.0); the context's environment alone "
          f"(localizing every root, and rez's commands) {ours['environ_seconds']:.2f}s = "
          f"{ours['environ_seconds'] / t_uv:.2f}x")


def main() -> None:
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] == "1")
        return
    families = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    versions = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory(prefix="rezwheel-bench-") as tmp:
        identical = resolves(Path(tmp), families, versions)
        localize(Path(tmp))
    if not identical:
        sys.exit("some resolves differ from the filesystem repository's")


if __name__ == "__main__":
    main()
