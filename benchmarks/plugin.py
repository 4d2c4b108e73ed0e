"""The rez plugin against rez's filesystem repository, same run:
`python benchmarks/plugin.py [FAMILIES VERSIONS]` (default 300 x 10, two variants each).

1. Resolve 20 requests through the plugin (pypiserver and a local directory index; cold store,
   then warm store) and from the same packages in a rez filesystem repository; each mode in a
   fresh process. Prints time ratios, HTTP requests and bytes, and checks resolves are identical.
   Goals: warm <= 0.8x filesystem, cold <= 1.5x, cold requests <= families touched + definitions.
   Three indexes: a local directory, the tests' Artifactory fixture (a threaded WSGI server in
   this process) and pypiserver (which re-reads its whole directory for every page and file, so
   at 6,000 files it is the bottleneck: its figures measure the server more than the client).
2. Localize an 18-wheel, ~30 MB environment (cold store) vs `uv pip install` of the same wheels
   into a fresh venv with an empty uv cache. Goal: ratio <= 1.0.
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
BIN = Path(sys.executable).parent


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


def worker(location: str, requests: list, environ: bool) -> None:
    """In a fresh process: resolve (and optionally localize) every request; print a report."""
    from rez.package_repository import package_repository_manager
    from rez.resolved_context import ResolvedContext

    t = time.perf_counter()
    resolves = []
    for r in requests:
        ctx = ResolvedContext(r.split(), package_paths=[location])
        resolves.append(" ".join(f"{v.qualified_package_name}[{v.index}]"
                                 for v in ctx.resolved_packages or []))
        if environ:
            ctx.get_environ()
    took = time.perf_counter() - t
    counters = {"requests": 0, "bytes": 0}
    if location.startswith("artifactory@"):
        c = package_repository_manager.get_repository(location).index.counters
        counters = {"requests": c.requests, "bytes": c.bytes, "by_kind": c.by_kind}
    print(json.dumps({"seconds": took, "resolves": resolves, **counters}))


def run_worker(location: str, requests: list, store: Path, environ: bool = False) -> dict:
    env = dict(os.environ, REZWHEEL_STORE=str(store), REZ_QUIET="1")
    out = subprocess.run([sys.executable, __file__, "worker", location, json.dumps(requests),
                          "1" if environ else "0"], capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rezwheel(*args: str) -> None:
    subprocess.run([str(BIN / "rezwheel"), *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL)


def resolves(tmp: Path, families: int, versions: int) -> None:
    from helpers.artifactory import Artifactory, serve
    from helpers.servers import PyPIServer

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
    server = PyPIServer(tmp / "srv")
    try:
        rezwheel("publish", *wheels, "--to", server.url)
        rnd = random.Random(1)
        requests = [f"fam{rnd.randrange(families // 2, families):04d} python-3.11"
                    for _ in range(20)]
        fs = run_worker(str(repo), requests, tmp / "unused")
        print(f"filesystem repository: 20 resolves in {fs['seconds']:.2f}s")
        for label, location in (("local dir", f"artifactory@{tmp / 'idx'}"),
                                ("Artifactory fixture",
                                 f"artifactory@{base}/artifactory/api/pypi/rez/simple/"),
                                ("pypiserver", f"artifactory@{server.url}simple/")):
            store = tmp / f"store-{label.replace(' ', '')}"
            cold = run_worker(location, requests, store)
            warm = run_worker(location, requests, store)
            same = cold["resolves"] == fs["resolves"] == warm["resolves"]
            touched = {p.split("-")[0] for r in fs["resolves"] for p in r.split()}
            defs = cold.get("by_kind", {})
            print(f"{label}: cold {cold['seconds']:.2f}s = {cold['seconds'] / fs['seconds']:.2f}x "
                  f"(goal <= 1.5), warm {warm['seconds']:.2f}s = "
                  f"{warm['seconds'] / fs['seconds']:.2f}x (goal <= 0.8); identical resolves: "
                  f"{same}; cold {cold['requests']} requests ({defs}), {cold['bytes']:,} bytes, "
                  f"{len(touched)} families touched; warm {warm['requests']} requests")
    finally:
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
          f"{ours['seconds'] / t_uv:.2f}x (goal <= 1.0)")


def main() -> None:
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] == "1")
        return
    families = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    versions = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory(prefix="rezwheel-bench-") as tmp:
        resolves(Path(tmp), families, versions)
        localize(Path(tmp))


if __name__ == "__main__":
    main()
