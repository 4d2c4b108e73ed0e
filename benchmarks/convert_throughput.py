"""Convert throughput against plain zipfile, same run: `python benchmarks/convert_throughput.py [MB]`.

Generates one rez package with MB megabytes of mixed payload (half many small text files, half a
few large binaries, half random and half zeros), zips it with plain ``zipfile`` at deflate level 6
(the reference), then runs ``rezwheel convert`` on it as a user would, and prints the throughput
ratio (goal >= 0.8) and rezwheel's peak RSS (must stay flat as the payload grows).
"""

import os
import random
import resource
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


def main() -> None:
    mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(prefix="rezwheel-bench-") as tmp:
        pkg = generate(os.path.join(tmp, "repo"), mb)
        ref = zip_reference(pkg, os.path.join(tmp, "ref.zip"))
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rezwheel", "convert", pkg, "-o",
                        os.path.join(tmp, "out")], check=True, stdout=subprocess.DEVNULL)
        ours = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(f"{mb} MB package: zipfile {ref:.2f}s, rezwheel convert {ours:.2f}s, "
          f"throughput ratio {ref / ours:.2f}x (goal >= 0.8), peak RSS {rss} MB (streamed)")


if __name__ == "__main__":
    main()
