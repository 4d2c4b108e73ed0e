"""Fixtures for hostile-index tests: two shared servers (127.0.0.1 and 127.0.0.2), a runner that
records every command's output, and canary checks after every test.

After each test, ``run`` asserts: the canary token (plain, URL-quoted, base64 of basic auth)
appears in no output and no file under tmp_path (store, repositories, mirrors, rez contexts,
temporary files; the user's own config files under ``tmp_path/cfg`` excepted); no file or link
named ``CANARY*`` or ``usercustomize.py`` exists under tmp_path; no output holds a traceback.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import quote

import pytest

from helpers import BIN, env as clean_env
from helpers.hostile import BASE, RELFAM, TOKEN

from .harness import Index, Server



def secret_forms(token: str = TOKEN) -> list[str]:
    forms = {token, quote(token, safe=""), base64.b64encode(token.encode()).decode()}
    for user in ("__token__", "ci", "", "user"):
        forms.add(base64.b64encode(f"{user}:{token}".encode()).decode())
    return sorted(forms)


@dataclass
class Result:
    cmd: list
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def out(self) -> str:
        return self.stdout + self.stderr

    def lines(self, needle: str) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if needle in ln]

    def __str__(self) -> str:
        return (f"$ {' '.join(map(str, self.cmd))}\n[exit {self.returncode}, {self.elapsed:.1f} s]"
                f"\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}")


class Runner:
    """Runs the real entry points as subprocesses with a clean environment under tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.cfg_dir = tmp_path / "cfg"  # the user's own config: may hold the token
        self.cfg_dir.mkdir()
        (tmp_path / "tmp").mkdir()
        self.store = tmp_path / "store"
        self.results: list[Result] = []
        self.secrets = secret_forms()
        self.base = clean_env(
            REZWHEEL_STORE=str(self.store), TMPDIR=str(tmp_path / "tmp"), REZ_QUIET="1",
            REZWHEEL_HTTP_DEADLINE="8", REZWHEEL_RETRY_AFTER_MAX="1", CI="1",
            HOME=str(tmp_path / "home"), PIP_CACHE_DIR=str(tmp_path / "pipcache"),
            REZ_CONFIG_FILE=str(self.rezconfig([])), PYTHONDONTWRITEBYTECODE="1")
        (tmp_path / "home").mkdir()

    def rezconfig(self, packages_path: list, settings: str = "", name: str = "rezconfig.py"
                  ) -> Path:
        cfg = self.cfg_dir / name
        cfg.write_text(f"packages_path = {packages_path!r}\n{settings}")
        return cfg

    def config(self, text: str) -> Path:
        """A rezwheel config file (mode 600), used through $REZWHEEL_CONFIG."""
        p = self.cfg_dir / "rezwheel.toml"
        p.write_text(text)
        p.chmod(0o600)
        self.base["REZWHEEL_CONFIG"] = str(p)
        return p

    def __call__(self, *cmd, env: Optional[dict] = None, timeout: float = 90,
                 cwd: Optional[Path] = None) -> Result:
        e = dict(self.base, **(env or {}))
        e = {k: v for k, v in e.items() if v is not None}
        t0 = time.monotonic()
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=e, start_new_session=True,
                             cwd=str(cwd or self.tmp))
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            r = Result(list(cmd), -9, out, err, time.monotonic() - t0)
            self.results.append(r)
            pytest.fail(f"still running after {timeout} s (killed):\n{r}")
        r = Result(list(cmd), p.returncode, out, err, time.monotonic() - t0)
        self.results.append(r)
        return r

    def rezwheel(self, *args, **kw) -> Result:
        return self(sys.executable, "-m", "rezwheel", *args, **kw)

    def rez(self, packages_path: list, *args, settings: str = "", env: Optional[dict] = None,
            **kw) -> Result:
        cfg = self.rezconfig(packages_path, settings, name=f"rezconfig{len(self.results)}.py")
        return self(BIN / "rez", *args, env=dict(env or {}, REZ_CONFIG_FILE=str(cfg)), **kw)

    def asks(self, entry: str, index_url: str, request: str, **kw) -> Result:
        """``request`` from the index as a user asks for it: ``rez env`` through the plugin
        (``entry`` "plugin"), else ``rezwheel install`` into a new repository."""
        if entry == "plugin":
            return self.rez([f"artifactory@{index_url}"], "env", request, "--", "true", **kw)
        return self.rezwheel("install", request, "--into", self.tmp / "repo", "--index",
                             index_url, **kw)

    def popen(self, *cmd, env: Optional[dict] = None) -> subprocess.Popen:
        e = dict(self.base, **(env or {}))
        return subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=e,
                                start_new_session=True, cwd=str(self.tmp))

    # -- the checks every test gets
    def leaks(self) -> list[str]:
        found = []
        for r in self.results:
            for s in self.secrets:
                if s in r.out:
                    found.append(f"token form {s!r} in the output of {' '.join(map(str, r.cmd))}")
        for root, dirs, files in os.walk(self.tmp):
            if Path(root) == self.cfg_dir or self.cfg_dir in Path(root).parents:
                continue
            for name in files + dirs:
                p = Path(root, name)
                if name.startswith("CANARY") or name == "usercustomize.py":
                    found.append(f"canary path exists: {p}")
            for name in files:
                p = Path(root, name)
                if p.is_symlink() or not p.is_file():
                    continue
                try:
                    data = p.read_bytes()
                except OSError:
                    continue
                for s in self.secrets:
                    if s.encode() in data:
                        found.append(f"token form {s!r} written to {p}")
        return found

    def tracebacks(self) -> list[str]:
        return [f"traceback in the output of {' '.join(map(str, r.cmd))}:\n{r.stderr[-2000:]}"
                for r in self.results if "Traceback (most recent call last)" in r.out]


def canary_paths(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("CANARY*")] + [p for p in tmp_path.rglob("usercustomize.py")]


@pytest.fixture()
def run(tmp_path):
    runner = Runner(tmp_path)
    yield runner
    problems = runner.leaks() + runner.tracebacks()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def _servers():
    a, b = Server("127.0.0.1"), Server("127.0.0.2")
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture()
def srv(_servers):
    """The trusted index's origin (127.0.0.1), routes and log fresh for this test."""
    _servers[0].reset()
    yield _servers[0]
    _servers[0].reset()


@pytest.fixture()
def rogue(_servers):
    """Another origin (127.0.0.2): nothing meant for srv may ever reach it."""
    _servers[1].reset()
    yield _servers[1]
    _servers[1].reset()




@pytest.fixture()
def index(srv, wheels):
    """A valid PEP 503 index of relfam (4 versions), pyutil, python and sitedata on srv; tests
    tamper with one entry then call ``index.publish()`` again."""
    return Index(srv).add_all([wheels / n for n in RELFAM + BASE]).publish()


@pytest.fixture()
def json_index(srv, wheels):
    return Index(srv, fmt="json").add_all([wheels / n for n in RELFAM + BASE]).publish()


def rez_version_of(r: Result) -> str:
    """RELFAM_VERSION printed by ``rez env relfam -- printenv RELFAM_VERSION``."""
    return r.stdout.strip()
