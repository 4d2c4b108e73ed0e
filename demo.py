"""The README demo: sample rez packages -> wheels -> local directory index -> `rez env` through
the rezwheel plugin (artifactory@<dir>). Everything lands in ./demo-out (recreated each run)."""

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
# rez resolves straight from the index through the plugin: no install step, payloads are
# localized into the store (here inside demo-out) when rez env needs them
config = os.path.join(out, "rezconfig.py")
with open(config, "w") as fh:
    fh.write(f"packages_path = ['artifactory@{os.path.join(out, 'index')}']\n")
rez_env = dict(REZ_CONFIG_FILE=config, REZ_QUIET="1", REZWHEEL_STORE=os.path.join(out, "store"))
run(os.path.join(bindir, "rez"), "env", "multitool", "python-3.11", "--", "pyutil", "--version",
    **rez_env)
run(os.path.join(bindir, "rez"), "env", "multitool", "python-3.11", "--", "multitool", **rez_env)
run(os.path.join(bindir, "rez"), "env", "sitedata", "--", "sitedata-info", **rez_env)
# a host without the plugin: rezwheel install resolves with rez's solver and fills a plain
# filesystem repository (what rez pip did for PyPI)
repo = os.path.join(out, "repo")
run(rw, "install", "multitool", "python-3.11", "--into", repo, "--index",
    os.path.join(out, "index"), REZWHEEL_STORE=os.path.join(out, "store"))
run(os.path.join(bindir, "rez"), "env", "multitool", "python-3.11", "--", "multitool",
    REZ_PACKAGES_PATH=repo, REZ_QUIET="1")
print("demo ok: wheels, index, store and repo are in", out)
