"""The README demo: sample rez packages -> wheels -> local directory index -> a fresh rez
repository -> a command run in `rez env`. Everything lands in ./demo-out (recreated each run)."""

import os
import shutil
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "demo-out")
shutil.rmtree(out, ignore_errors=True)
bindir = os.path.dirname(sys.executable)


def run(*cmd, **env):
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=dict(os.environ, **env))


samples = os.path.join(out, "samples")
shutil.copytree(os.path.join(here, "samples", "packages"), samples, symlinks=True)
os.makedirs(os.path.join(samples, "sitedata", "2023.01", "cache", "empty"), exist_ok=True)
rw = os.path.join(bindir, "rezwheel")
run(rw, "convert", samples, "-o", os.path.join(out, "wheels"))
wheels = sorted(os.path.join(out, "wheels", f) for f in os.listdir(os.path.join(out, "wheels")))
run(rw, "publish", *wheels, "--to", os.path.join(out, "index"))
repo = os.path.join(out, "repo")
for request in ("pyutil==1.2.0", "python==3.11", "platform==linux", "arch==x86_64",
                "multitool==2.1.0"):
    run(rw, "install", request, "--index", os.path.join(out, "index"), "--into", repo)
run(os.path.join(bindir, "rez"), "env", "multitool", "python-3.11", "--", "pyutil", "--version",
    REZ_PACKAGES_PATH=repo, REZ_QUIET="1")
run(os.path.join(bindir, "rez"), "env", "multitool", "python-3.11", "--", "multitool",
    REZ_PACKAGES_PATH=repo, REZ_QUIET="1")
print("demo ok: wheels, index and rez repository are in", out)
