"""`rezwheel lock` + `uv pip install -r pylock.toml` against `rez env ... -- true`, same run:
`python benchmarks/lock.py`.

A 20-package resolve (synthetic rez families, each requiring an earlier one, three versions,
two python variants, ~200 KB payload per variant; benchmarks/plugin.py's generator) converted
and published to a local directory index. Timed, each in a fresh process, best of 3:
- `rezwheel lock` of all 20 families plus python-3.11, cold (empty store) and warm (the same
  store again);
- `uv pip install -r pylock.toml` into a fresh venv with an empty uv cache;
- `rez env` of the same request through the plugin (`artifactory@DIR`) with a cold store,
  running `true`: what a host without a lock pays to get the same environment.
Goal: lock <= 0.5 s warm. Each figure is wall time, with the CPU time (user + sys) of the
process and its children in brackets: on a busy machine the CPU time is the steadier one.
Bytecode is written and an untimed lock runs first, as for an installed rezwheel: an
environment with PYTHONDONTWRITEBYTECODE=1 (the test helpers') would otherwise compile every
rezwheel module from source on each run (about 0.07 s CPU of a warm lock).
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BIN = Path(sys.executable).parent
N = 20
RUNS = 3


class Took(tuple):
    """(wall seconds, CPU seconds); compares by wall time."""

    def __str__(self) -> str:
        return f"{self[0]:.2f}s [cpu {self[1]:.2f}s]"


def timed(cmd: list, **env: str) -> Took:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    r = subprocess.run([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, env=dict(environ, **env))
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode:
        raise SystemExit(f"{' '.join(map(str, cmd[:3]))} failed: {r.stderr.strip()[-500:]}")
    return Took((wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))


def main() -> None:
    from plugin import generate

    names = [f"fam{i:04d}" for i in range(N)]
    request = [*names, "python-3.11"]
    uv = str(BIN / "uv") if (BIN / "uv").exists() else "uv"
    with tempfile.TemporaryDirectory(prefix="rezwheel-bench-lock-") as tmp_:
        tmp = Path(tmp_)
        generate(tmp / "src", N, 3, payload=200_000, seed=3)
        subprocess.run([BIN / "rezwheel", "convert", tmp / "src", "-o", tmp / "wheels"],
                       check=True, stdout=subprocess.DEVNULL)
        idx = tmp / "index"
        subprocess.run([BIN / "rezwheel", "publish", *sorted((tmp / "wheels").glob("*.whl")),
                        "--to", idx], check=True, stdout=subprocess.DEVNULL, env=dict(
                            os.environ, CI="1"))
        lock = tmp / "pylock.toml"

        def lock_cmd() -> list:
            return [BIN / "rezwheel", "lock", *request, "--index", idx, "-o", lock]

        timed(lock_cmd(), REZWHEEL_STORE=str(tmp / "store-first"))  # bytecode, not timed
        cold = min(timed(lock_cmd(), REZWHEEL_STORE=str(tmp / f"store{i}"))
                   for i in range(RUNS))
        warm = min(timed(lock_cmd(), REZWHEEL_STORE=str(tmp / "store0")) for _ in range(RUNS))
        text = lock.read_text()
        assert text.count("[[packages]]") == N, text
        install = Took((1e9, 0.0))
        for i in range(RUNS):
            venv = tmp / f"venv{i}"
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
            install = min(install, timed(
                [uv, "pip", "install", "-q", "--python", venv / "bin" / "python", "-r", lock],
                UV_CACHE_DIR=str(tmp / f"uv-cache{i}"), UV_NO_CONFIG="1"))
        check = subprocess.run([venv / "bin" / "python", "-c", f"import {', '.join(names)}"],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        rez_env = min(timed([BIN / "rez", "env", *request, "--", "true"],
                            REZ_PACKAGES_PATH=f"artifactory@{idx}", REZ_QUIET="1",
                            REZWHEEL_STORE=str(tmp / f"rez-store{i}")) for i in range(RUNS))
    print(f"lock {N} packages (+ python) from a local index, best of {RUNS}:")
    print(f"  rezwheel lock: cold store {cold}, warm store {warm}")
    print(f"  uv pip install -r pylock.toml (fresh venv, empty cache): {install}")
    both = cold[0] + install[0]
    print(f"  lock (cold) + uv install: {both:.2f}s [cpu {cold[1] + install[1]:.2f}s]; rez env "
          f"... -- true (cold store): {rez_env} -> {both / rez_env[0]:.2f}x")
    print(f"  goal: lock <= 0.5 s warm ({warm[0]:.2f}s)")


if __name__ == "__main__":
    main()
