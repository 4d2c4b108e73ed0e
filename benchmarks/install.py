"""`rezwheel install` against `uv pip install` and `pip install`, same run, same index:
`python benchmarks/install.py`.

An 18-package environment (synthetic rez families, each requiring an earlier one, two python
variants, ~1.7 MB payload per variant) is converted and served by pypiserver on 127.0.0.1.
Each tool installs all 18 (rezwheel also the python-3.11 stub it resolves) from that server:
rezwheel into an empty rez repository with an empty store, uv and pip into fresh venvs with
empty caches (cold, best of 3 from fresh state each); then the same command again with
everything present (warm). Every project page is read once before timing, so the server is in
steady state for all three.
Goals: cold <= 1.5x uv; warm < 1 s.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
BIN = Path(sys.executable).parent
N = 18
RUNS = 3  # cold runs per tool, each from empty state; the best counts


def timed(cmd: list, **env: str) -> float:
    t = time.perf_counter()
    subprocess.run([str(c) for c in cmd], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, **env))
    return time.perf_counter() - t


def best(cmd: list, runs: int = 3, **env: str) -> float:
    return min(timed(cmd, **env) for _ in range(runs))


def main() -> None:
    from plugin import generate
    from servers import PyPIServer

    names = [f"fam{i:04d}" for i in range(N)]
    with tempfile.TemporaryDirectory(prefix="rezwheel-bench-install-") as tmp_:
        tmp = Path(tmp_)
        generate(tmp / "src", N, 1, payload=1_700_000, seed=2)
        subprocess.run([BIN / "rezwheel", "convert", tmp / "src", "-o", tmp / "wheels"],
                       check=True, stdout=subprocess.DEVNULL)
        server = PyPIServer(tmp / "srv")
        try:
            for w in (tmp / "wheels").glob("*.whl"):
                shutil.copy(w, server.root)
            index = server.url + "simple/"
            # a server in steady state: pypiserver hashes files on first sight, so read every
            # page once before timing anyone (otherwise whoever runs first pays for it)
            import requests
            for name in names + ["python"]:
                requests.get(f"{index}{name}/", timeout=30).raise_for_status()
            uv = str(BIN / "uv") if (BIN / "uv").exists() else "uv"
            cold, warm = {}, {}
            # rezwheel: empty repository and store, then again with everything present
            def ours(run: str) -> list:
                return [BIN / "rezwheel", "install", *names, "python-3.11", "--into",
                        tmp / f"repo{run}", "--index", index]

            cold["rezwheel"] = min(timed(ours(str(i)), REZWHEEL_STORE=str(tmp / f"store{i}"),
                                         CI="1") for i in range(RUNS))
            warm["rezwheel"] = best(ours("0"), REZWHEEL_STORE=str(tmp / "store0"), CI="1")
            installed = sorted(n for n in os.listdir(tmp / "repo0") if not n.startswith("."))
            assert installed == sorted(names + ["python"]), installed
            # uv: fresh venv, empty cache
            uv_cmd = [uv, "pip", "install", "-q", "--index-url", index, *names]
            cold["uv"] = 1e9
            for i in range(RUNS):
                venv = tmp / f"uv-venv{i}"
                subprocess.run([uv, "venv", "-q", "-p", sys.executable, venv], check=True)
                uv_env = dict(UV_CACHE_DIR=str(tmp / f"uv-cache{i}"), VIRTUAL_ENV=str(venv))
                cold["uv"] = min(cold["uv"], timed(uv_cmd, **uv_env))
            warm["uv"] = best(uv_cmd, **uv_env)
            # pip: fresh venv, no cache
            cold["pip"] = 1e9
            for i in range(RUNS):
                pvenv = tmp / f"pip-venv{i}"
                subprocess.run([sys.executable, "-m", "venv", "--without-pip", pvenv], check=True)
                pip_cmd = [sys.executable, "-m", "pip", "--python", pvenv / "bin" / "python",
                           "install", "-q", "--no-cache-dir", "--disable-pip-version-check",
                           "--index-url", index, *names]
                cold["pip"] = min(cold["pip"], timed(pip_cmd, PIP_CONFIG_FILE=os.devnull))
            warm["pip"] = best(pip_cmd, PIP_CONFIG_FILE=os.devnull)
        finally:
            server.stop()
    print(f"install {N} packages from pypiserver:")
    for label, d in (("cold", cold), ("warm", warm)):
        print(f"  {label}: rezwheel {d['rezwheel']:.2f}s, uv {d['uv']:.2f}s, pip {d['pip']:.2f}s"
              f" -> rezwheel/uv {d['rezwheel'] / d['uv']:.2f}x, rezwheel/pip "
              f"{d['rezwheel'] / d['pip']:.2f}x")
    print(f"  goals: cold <= 1.5x uv ({cold['rezwheel'] / cold['uv']:.2f}x), warm < 1 s "
          f"({warm['rezwheel']:.2f}s)")


if __name__ == "__main__":
    main()
