"""Convert throughput against plain zipfile, same run: `python benchmarks/convert_throughput.py [MB] [ROUNDS]`.

Generates one rez package with MB megabytes of mixed payload (half many small text files, half a
few large binaries, half random and half zeros), then, ROUNDS times (default 3) and alternating so
that load from elsewhere hits both alike: zips it with plain single-threaded ``zipfile`` at deflate
level 6 (the reference), and runs ``rezwheel convert`` on it as a user would (all cores). Prints
each round, then the ratio of the best times (goal >= 1.5x on a 2-core machine: deflate runs on
every core) and rezwheel's peak RSS (must stay flat as the payload grows). A last conversion with
``REZWHEEL_JOBS=1`` must give the same bytes: the thread count never changes the artifact.
"""

import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile


def generate(root: str, mb: int) -> str:
    rnd = random.Random(7)
    base = os.path.join(root, "bigpkg", "1.0.0")
    os.makedirs(os.path.join(base, "lib"))
    with open(os.path.join(base, "package.py"), "w") as fh:
        fh.write("name = 'bigpkg'\nversion = '1.0.0'\n\ndef commands():\n"
                 "    env.PATH.append('{root}/bin')\n")
    words = [f"token{i}" for i in range(500)]
    written, i = 0, 0
    while written < mb * 2**19:
        d = os.path.join(base, "share", f"d{i // 200:03d}")
        os.makedirs(d, exist_ok=True)
        body = "\n".join(" ".join(rnd.choices(words, k=12)) for _ in range(rnd.randint(20, 400)))
        with open(os.path.join(d, f"f{i:05d}.py"), "w") as fh:
            fh.write(body + "\n")
        written += len(body) + 1
        i += 1
    for j in range(4):
        with open(os.path.join(base, "lib", f"blob{j}.so"), "wb") as fh:
            for _ in range(mb // 8):
                fh.write(os.urandom(2**19) + bytes(2**19))
    return base


def zip_reference(src: str, out: str) -> float:
    t = time.perf_counter()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for d, _, files in os.walk(src):
            for f in sorted(files):
                p = os.path.join(d, f)
                z.write(p, os.path.relpath(p, src))
    return time.perf_counter() - t


def convert(pkg: str, out: str, **env: str) -> tuple[float, int, str]:
    """Seconds, peak RSS in MB (this child alone) and the wheel's sha256."""
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "rezwheel", "convert", pkg, "-o", out],
                         stdout=subprocess.DEVNULL, env=dict(os.environ, **env))
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit(f"rezwheel convert failed ({p.returncode})")
    (name,) = os.listdir(out)
    with open(os.path.join(out, name), "rb") as fh:
        sha = hashlib.file_digest(fh, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
            else hashlib.sha256(fh.read()).hexdigest()
    return seconds, usage.ru_maxrss // 1024, sha


def main() -> None:
    mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory(prefix="rezwheel-bench-") as tmp:
        pkg = generate(os.path.join(tmp, "repo"), mb)
        refs, ours, rss, shas = [], [], 0, set()
        for r in range(rounds):
            refs.append(zip_reference(pkg, os.path.join(tmp, f"ref{r}.zip")))
            os.unlink(os.path.join(tmp, f"ref{r}.zip"))
            seconds, peak, sha = convert(pkg, os.path.join(tmp, f"out{r}"))
            ours.append(seconds)
            rss, shas = max(rss, peak), shas | {sha}
            print(f"  round {r + 1}: zipfile {refs[-1]:.2f}s, rezwheel convert {seconds:.2f}s, "
                  f"ratio {refs[-1] / seconds:.2f}x, peak RSS {peak} MB", flush=True)
        one, peak1, sha1 = convert(pkg, os.path.join(tmp, "one"), REZWHEEL_JOBS="1")
    same = "identical" if shas == {sha1} else f"DIFFERENT ({len(shas | {sha1})} digests)"
    print(f"{mb} MB package, best of {rounds}: zipfile {min(refs):.2f}s, rezwheel convert "
          f"{min(ours):.2f}s on {os.cpu_count()} cores, throughput ratio {min(refs) / min(ours):.2f}x "
          f"(goal >= 1.5), peak RSS {rss} MB (streamed); one thread {one:.2f}s "
          f"({min(refs) / one:.2f}x, {peak1} MB), bytes {same} with 1 and {os.cpu_count()} threads")
    if shas != {sha1}:
        sys.exit(1)


if __name__ == "__main__":
    main()
