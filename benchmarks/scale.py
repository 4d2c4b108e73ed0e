"""Studio scale: publish a whole generated rez repository to a local directory index.

The repository is shaped like a studio's after fifteen years: many families, a long tail of
versions (most families under 10, a few with 500 to 2,500), definitions with commands, requires,
variants and late-bound ``tools``, written as package.py, package.yaml and combined family files,
mostly without payload directories (a metadata-only mirror). In one run:

- the reference: rez itself loads and dumps every definition of the repository;
- ``rezwheel publish REPO --to DIR`` (goal <= 1.5x the reference), and the same on a repository
  twice the size (goal: time grows <= 2.2x);
- a second publish of the unchanged repository (goal <= 0.2x the first);
- peak RSS of each publish (goal < 500 MB at 25,000 variants).

``python benchmarks/scale.py [--variants N]`` (default 25,000; ``--quick`` for 2,500).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent

PY_TEMPLATE = '''name = "{name}"
version = "{version}"
description = "{name}: generated for the studio-scale benchmark"
authors = ["pipeline"]
timestamp = {timestamp}
requires = {requires!r}
{variants}
def commands():
    env.PYTHONPATH.append("{{root}}/python")
    env.PATH.append("{{root}}/bin")
    env.{upper}_ROOT = "{{root}}"

@late()
def tools():
    return ["{name}_tool"]
'''

YAML_TEMPLATE = '''name: {name}
version: "{version}"
description: "{name}: generated for the studio-scale benchmark"
timestamp: {timestamp}
requires: {requires_yaml}
{variants_yaml}commands: |
  env.PYTHONPATH.append("{{root}}/python")
  env.{upper}_ROOT = "{{root}}"
'''


def _version_counts(rng: random.Random, families: int, variants: int) -> list[int]:
    """A long tail: most families have a few versions, a handful have hundreds to thousands."""
    big = max(1, families // 300)
    counts = [rng.randint(500, 2500) for _ in range(big)]
    counts += [rng.choice([1, 1, 2, 3, 3, 4, 5, 6, 8, 9]) for _ in range(families - big)]
    # each version has 1.6 variants on average: scale the tail to the requested total
    total = sum(counts) * 1.6
    factor = variants / total
    return [max(1, round(c * factor)) for c in counts]


def _variants(rng: random.Random) -> list[list[str]]:
    kind = rng.random()
    if kind < 0.5:
        return []
    if kind < 0.8:
        return [["python-3.9"], ["python-3.11"]]
    if kind < 0.95:
        return [["maya-2024"], ["maya-2025"]]
    return [["platform-linux", "arch-x86_64", "python-3.11"], ["platform-linux", "arch-x86_64",
                                                              "python-3.10"]]


def generate(root: Path, families: int, variants: int, seed: int = 7) -> int:
    """Write the repository; returns the number of variants (a variantless package is one)."""
    rng = random.Random(seed)
    counts = _version_counts(rng, families, variants)
    n_variants = 0
    for f, count in enumerate(counts):
        name = f"fam{f:04d}"
        fmt = "py" if count > 9 else rng.choices(["py", "yaml", "combined"], [7, 2, 1])[0]
        deps = [f"fam{rng.randrange(f):04d}-1+" for _ in range(rng.randint(0, 3))] if f else []
        versions = [f"1.{i // 100}.{i % 100}" for i in range(count)]
        if fmt == "combined":
            var = _variants(rng)
            n_variants += count * max(1, len(var))
            text = (f'name = "{name}"\nversions = {versions!r}\n'
                    f'requires = {deps!r}\n' + (f"variants = {var!r}\n" if var else "") +
                    'def commands():\n    env.PATH.append("{root}/bin")\n')
            (root).mkdir(parents=True, exist_ok=True)
            (root / f"{name}.py").write_text(text)
            continue
        for i, version in enumerate(versions):
            var = _variants(rng)
            n_variants += max(1, len(var))
            d = root / name / version
            d.mkdir(parents=True)
            stamp = 1_400_000_000 + f * 1000 + i
            if fmt == "yaml":
                vy = ("variants:\n" + "".join(f"- {v!r}\n".replace("'", '"') for v in var)) \
                    if var else ""
                (d / "package.yaml").write_text(YAML_TEMPLATE.format(
                    name=name, version=version, timestamp=stamp, upper=name.upper(),
                    requires_yaml=repr(deps).replace("'", '"'), variants_yaml=vy))
            else:
                (d / "package.py").write_text(PY_TEMPLATE.format(
                    name=name, version=version, timestamp=stamp, requires=deps,
                    upper=name.upper(), variants=f"variants = {var!r}\n" if var else ""))
            if rng.random() < 0.03:  # a few variants ship a small payload
                sub = d / Path(*var[0]) if var else d
                (sub / "python").mkdir(parents=True, exist_ok=True)
                (sub / "python" / f"{name}.py").write_text(f"VERSION = {version!r}\n")
    return n_variants


def run(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MB) and stderr tail of one command in a fresh process."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read() if p.stderr else ""
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    took = time.perf_counter() - start
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err[-2000:]}")
    return took, usage.ru_maxrss // 1024, err.strip().splitlines()[-1] if err.strip() else ""


REFERENCE = """
import io, sys
from rez.packages import iter_package_families
from rez.package_serialise import dump_package_data
from rez.serialise import FileFormat
n = 0
for fam in iter_package_families(paths=[sys.argv[1]]):
    for pkg in fam.iter_packages():
        data = pkg.validated_data()
        data.pop("base", None); data.pop("repository", None); data.pop("config", None)
        dump_package_data(data, io.StringIO(), format_=FileFormat.py)
        n += 1
print(n)
"""


def measure(repo: Path, work: Path) -> dict:
    ref, ref_rss, _ = run([sys.executable, "-c", REFERENCE, str(repo)])
    index = work / f"index-{repo.name}"
    first, rss, last = run([str(BIN / "rezwheel"), "publish", str(repo), "--to", str(index)])
    again, rss2, _ = run([str(BIN / "rezwheel"), "publish", str(repo), "--to", str(index)])
    wheels = len(list((index / "files").glob("*.whl")))
    return dict(ref=ref, first=first, again=again, rss=rss, rss2=rss2, wheels=wheels, last=last)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", type=int, default=25000)
    ap.add_argument("--families", type=int, default=1500)
    ap.add_argument("--quick", action="store_true", help="2,500 variants, 150 families")
    args = ap.parse_args()
    if args.quick:
        args.variants, args.families = 2500, 150
    work = Path(tempfile.mkdtemp(prefix="rezwheel-scale-"))
    try:
        results = {}
        for k in (1, 2):
            repo = work / f"repo{k}"
            n = generate(repo, args.families * k, args.variants * k, seed=7 * k)
            print(f"scale x{k}: {n} variants in {args.families * k} families", flush=True)
            results[k] = r = measure(repo, work)
            print(f"  rez load+dump {r['ref']:.1f} s | publish {r['first']:.1f} s "
                  f"({r['first'] / r['ref']:.2f}x rez, goal <= 1.5x; {r['wheels']} wheels, "
                  f"{r['rss']} MB peak) | again {r['again']:.1f} s "
                  f"({r['again'] / r['first']:.2f}x, goal <= 0.2x; {r['rss2']} MB)", flush=True)
            if r["last"]:
                print(f"  publish said: {r['last']}")
        print(f"doubling the repository: publish time x{results[2]['first'] / results[1]['first']:.2f}"
              " (goal <= 2.2x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
