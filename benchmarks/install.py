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

Then real projects (tests/helpers/realdists.py downloads them once, pinned, into .cache/real-projects/):
`requests[socks] pyyaml importlib-metadata docopt` (11 distributions, docopt an sdist to build,
setuptools and wheel on the index for that build), served by pypiserver, installed by
`rezwheel install` (into an empty rez repository, empty store), by rez 3.4's `rez pip --install`
(into an empty repository via --prefix, fresh pip cache) and by `uv pip install --target` (fresh
cache); rezwheel's pip gets a fresh cache too (pip keeps the wheels it builds); cold best of 3,
then warm (the same command again, everything present). rezwheel and rez
pip both find a `python-X.Y` rez package for this interpreter on REZ_PACKAGES_PATH (its commands
put this venv's bin first on PATH: rez pip runs that python's pip), beside `rez bind`'s platform,
arch and os (binary wheels' rez variants name them). rez pip takes one package name, so the
other three go to the same pip call as extra pip arguments (`-e`).
Goals: cold <= 0.5x rez pip and <= 1.5x uv; warm no-op < 1 s. A tool that fails is reported
with its last stderr line and the others still run. `--real-only` runs just this case,
`--synthetic-only` the first one; `--runs N` cold runs per tool (default 3).

rezwheel runs from this checkout (its directory first on PYTHONPATH), not from whatever copy
is installed in the venv, with its bytecode compiled before timing into a private
``PYTHONPYCACHEPREFIX`` (as an installed package has it): an environment with
``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every module from source in every run,
~0.1 s that no user pays.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
BIN = Path(sys.executable).parent
N = 18
RUNS = 3  # cold runs per tool, each from empty state; the best counts


#: what each tool is asked to install (files: tests/helpers/realdists.py, downloaded once, pinned)
REAL = ["requests[socks]", "pyyaml", "importlib-metadata", "docopt"]


def host_repo(repo: Path) -> str:
    """A rez repository as a host has it: ``python-X.Y`` for this interpreter (its commands
    put this venv's bin first on PATH: rez pip runs that python's pip) and `rez bind`'s
    platform, arch and os (binary wheels' rez variants name them). Returns the version."""
    version = "%d.%d" % sys.version_info[:2]
    pkg = repo / "python" / version
    pkg.mkdir(parents=True)
    (pkg / "package.py").write_text(
        f'name = "python"\nversion = "{version}"\n\n\ndef commands():\n'
        f'    env.PATH.prepend({str(BIN)!r})\n')
    for name in ("platform", "arch", "os"):
        subprocess.run([str(BIN / "rez"), "bind", "-i", str(repo), name], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return version


def project_names(folder: Path) -> list:
    """The PEP 503 names of the distributions in ``folder`` (wheels and sdists)."""
    from packaging.utils import parse_sdist_filename, parse_wheel_filename

    return sorted({str(parse_wheel_filename(f.name)[0] if f.name.endswith(".whl")
                       else parse_sdist_filename(f.name)[0]) for f in folder.iterdir()})


def ours_env(pycache: Path) -> dict:
    """The environment rezwheel is timed in: this checkout first on PYTHONPATH, bytecode in
    ``pycache`` (compiled here, before any timing)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get(
        "PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "rezwheel")],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return env


def timed(cmd: list, base: "dict | None" = None, **env: str) -> float:
    t = time.perf_counter()
    subprocess.run([str(c) for c in cmd], check=True, stdout=subprocess.DEVNULL,
                   env=dict(base or os.environ, **env))
    return time.perf_counter() - t


def best(cmd: list, runs: int = 3, base: "dict | None" = None, **env: str) -> float:
    return min(timed(cmd, base, **env) for _ in range(runs))


def synthetic() -> None:
    from plugin import generate
    from helpers.servers import PyPIServer

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

            base = ours_env(tmp / "pycache")
            cold["rezwheel"] = min(timed(ours(str(i)), base, REZWHEEL_STORE=str(
                tmp / f"store{i}"), CI="1") for i in range(RUNS))
            warm["rezwheel"] = best(ours("0"), base=base, REZWHEEL_STORE=str(tmp / "store0"),
                                    CI="1")
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


# ---- real projects -------------------------------------------------------------------------

class ToolFailed(Exception):
    pass


def clean_env(**env: str) -> dict:
    """This environment without pip's, uv's and rez's own settings (this machine's find-links
    and extra indexes must not reach the tools), plus ``env``."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("PIP_", "UV_", "REZ_", "REZWHEEL_")) and k not in (
                "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}
    return dict(base, **env)


def run(cmd: list, env: dict) -> float:
    """Seconds ``cmd`` took; ToolFailed with its last stderr line when it fails."""
    t = time.perf_counter()
    try:
        p = subprocess.run([str(c) for c in cmd], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env, timeout=900)
    except subprocess.TimeoutExpired:
        raise ToolFailed("timed out after 900 s") from None
    dt = time.perf_counter() - t
    if p.returncode:
        lines = [ln.strip() for ln in p.stderr.decode(errors="replace").splitlines()
                 if ln.strip()]
        raise ToolFailed(lines[-1] if lines else f"exit status {p.returncode}")
    return dt


def measure(cold_run, warm_run, check) -> tuple:
    """(cold best of RUNS, warm) in seconds, or the failure text for both."""
    try:
        cold = min(cold_run(i) for i in range(RUNS))
        check()
        warm = warm_run()
        return cold, warm
    except (ToolFailed, OSError) as e:  # OSError: a tool not there, or no output folder
        return f"failed: {e}", None


def has_all(names, wanted) -> None:
    from packaging.utils import canonicalize_name

    got = {canonicalize_name(n) for n in names}
    missing = sorted(w for w in wanted if canonicalize_name(w) not in got)
    if missing:
        raise ToolFailed(f"finished but did not install {', '.join(missing)}")


def real() -> None:
    import requests
    from helpers.servers import PyPIServer

    from helpers.realdists import real_dists

    REQUESTS = REAL
    # installed by every tool: the four requested projects and the extra's dependency
    wanted = ["requests", "pysocks", "pyyaml", "importlib_metadata", "docopt"]
    uv = str(BIN / "uv") if (BIN / "uv").exists() else "uv"
    results, notes = {}, []
    with tempfile.TemporaryDirectory(prefix="rezwheel-bench-real-") as tmp_:
        tmp = Path(tmp_)
        pyrepo = tmp / "python-repo"
        pyver = host_repo(pyrepo)
        server = PyPIServer(tmp / "srv")
        try:
            real_dists(server.root)
            index = server.url + "simple/"
            projects = project_names(server.root)
            for name in projects:  # steady state before timing (see synthetic())
                requests.get(f"{index}{name}/", timeout=30).raise_for_status()

            # rezwheel: empty repository and store; python from REZ_PACKAGES_PATH
            base = ours_env(tmp / "pycache")

            def ours(i) -> float:
                return run([BIN / "rezwheel", "install", *REQUESTS, "--into", tmp / f"rw-repo{i}",
                            "--index", index],
                           clean_env(PYTHONPATH=base["PYTHONPATH"],
                                     PYTHONPYCACHEPREFIX=base["PYTHONPYCACHEPREFIX"],
                                     REZWHEEL_STORE=str(tmp / f"rw-store{i}"),
                                     REZ_PACKAGES_PATH=str(pyrepo), CI="1",
                                     PIP_CACHE_DIR=str(tmp / f"rw-pip-cache{i}")))

            results["rezwheel"] = measure(
                ours, lambda: ours(0), lambda: has_all(os.listdir(tmp / "rw-repo0"), wanted))
            if (tmp / "rw-repo0" / "python").exists():
                notes.append("rezwheel installed a python package although REZ_PACKAGES_PATH "
                             "has one")

            # rez pip: pip of the python rez package, only our server, fresh cache per cold run
            def rez_pip(i) -> float:
                return run([BIN / "rez", "pip", "--install", REQUESTS[0], "--python-version",
                            pyver, "--prefix", tmp / f"rp-repo{i}", "-e", *REQUESTS[1:]],
                           clean_env(REZ_PACKAGES_PATH=str(pyrepo), PIP_INDEX_URL=index,
                                     PIP_CONFIG_FILE=os.devnull,
                                     PIP_CACHE_DIR=str(tmp / f"rp-cache{i}"),
                                     PIP_DISABLE_PIP_VERSION_CHECK="1"))

            results["rez pip"] = measure(
                rez_pip, lambda: rez_pip(0), lambda: has_all(os.listdir(tmp / "rp-repo0"), wanted))

            # uv: --target an empty folder, fresh cache per cold run
            def uv_run(i) -> float:
                return run([uv, "pip", "install", "--no-config", "-q", "-p", sys.executable,
                            "--target", tmp / f"uv-target{i}", *REQUESTS, "--index-url", index],
                           clean_env(UV_CACHE_DIR=str(tmp / f"uv-cache{i}")))

            def uv_check() -> None:
                has_all([re.sub(r"-[^-]*\.dist-info$", "", n)
                         for n in os.listdir(tmp / "uv-target0") if n.endswith(".dist-info")],
                        wanted)

            results["uv"] = measure(uv_run, lambda: uv_run(0), uv_check)
        finally:
            server.stop()
    report_real(results, f"{' '.join(REQUESTS)}; {len(projects)} projects on the index")
    for note in notes:
        print(f"  note: {note}")


def report_real(results: dict, what: str) -> None:
    """The table, the ratios and the goals; ``results`` maps each tool to (cold, warm) seconds
    or to ("failed: ...", None)."""
    print(f"install real projects ({what}, docopt an sdist) from pypiserver:")
    print(f"  {'tool':<10} {'cold':>8} {'warm':>8}")
    for tool, (cold, warm) in results.items():
        if warm is None:
            print(f"  {tool:<10} {cold}")
        else:
            print(f"  {tool:<10} {cold:>7.2f}s {warm:>7.2f}s")

    def ratio(other: str) -> tuple:
        a, b = results["rezwheel"], results[other]
        if a[1] is None or b[1] is None:
            return None, None
        return a[0] / b[0], a[1] / b[1]

    for other in ("rez pip", "uv"):
        r = ratio(other)
        name = other.replace(" ", "-")
        if r[0] is None:
            print(f"  rezwheel/{name}: n/a (a tool failed)")
        else:
            print(f"  rezwheel/{name}: cold {r[0]:.2f}x, warm {r[1]:.2f}x")
    goals = []
    ours_cold, ours_warm = results["rezwheel"]
    for other, limit in (("rez pip", 0.5), ("uv", 1.5)):
        r = ratio(other)[0]
        what = f"cold <= {limit}x {other}"
        if r is None:
            goals.append((what, "not measured", None))
        else:
            goals.append((what, f"{r:.2f}x", r <= limit))
    if ours_warm is None:
        goals.append(("warm no-op < 1 s", "not measured", None))
    else:
        goals.append(("warm no-op < 1 s", f"{ours_warm:.2f}s", ours_warm < 1))
    print("  goals: " + "; ".join(
        f"{what} ({got}: {'met' if ok else 'MISSED' if ok is False else 'n/a'})"
        for what, got, ok in goals))
    for what, got, ok in goals:
        if ok is False:
            print(f"  GOAL MISSED: {what} (measured {got})")
        elif ok is None:
            print(f"  GOAL NOT MEASURED: {what} (a tool failed)")


def main() -> None:
    global RUNS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real-only", action="store_true",
                    help="only the real-project case (skip the synthetic 18 packages)")
    ap.add_argument("--synthetic-only", action="store_true",
                    help="only the synthetic 18 packages (skip the real projects)")
    ap.add_argument("--runs", type=int, default=RUNS, help="cold runs per tool (best counts)")
    args = ap.parse_args()
    RUNS = max(1, args.runs)
    if not args.real_only:
        try:
            synthetic()
        except subprocess.CalledProcessError as e:  # the real case still runs
            print(f"install {N} packages from pypiserver: failed: {Path(e.cmd[0]).name} "
                  f"{e.cmd[1]} exited with {e.returncode} (its stderr is above)")
    if not args.synthetic_only:
        real()


if __name__ == "__main__":
    main()
