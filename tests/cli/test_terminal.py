"""Every command as a person types it in a terminal: a real pseudo-terminal (so rich draws its
bars), no ``CI`` in the environment, Ctrl-C typed on the keyboard. Stdlib only.

``python tests/cli/test_terminal.py`` publishes the samples on a pseudo-terminal and shows the final
screen (through ``pyte`` when it is installed, else through a minimal emulation of the cursor
moves rich makes), saved to /tmp/rezwheel-tty-publish.txt, the raw bytes beside it (``.raw``).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import zipfile
from pathlib import Path
from typing import Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for `python tests/cli/test_terminal.py`

from helpers import copy_samples  # noqa: E402
from helpers.servers import PyPIServer, PythonStatic, QuietHandler  # noqa: E402
from helpers.tty import ANSI, let_go, own_terminal, read_into  # noqa: E402

BIN = Path(sys.executable).parent
ROWS, COLS = 30, 100
#: CSI and OSC sequences, and the lone escapes rich writes (cursor show/hide are CSI too)
BAR = "\u2501"  # ━, what rich draws a bar with
SECRET = "s3cret-Pa55"


class Tty:
    """What a command left on the terminal: ``raw`` bytes, ``text`` without escape sequences."""

    def __init__(self, status: int, raw: bytes) -> None:
        self.status = status
        self.raw = raw
        self.text = strip(raw)

    def __iter__(self):  # status, text = on_tty(...)
        return iter((self.status, self.text))


def strip(raw: bytes) -> str:
    """The text as lines end up on the screen: escapes gone, a line rewritten after a carriage
    return (a bar redrawn in place) keeps only what came last."""
    text = ANSI.sub(b"", raw).decode("utf-8", "replace").replace("\r\n", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] if line.rstrip("\r") else ""
                     for line in text.split("\n"))


def tty_env(home: Optional[Path] = None, **kw: str) -> dict:
    """The environment of a person's shell: a terminal, not CI; no rezwheel settings of ours."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("REZWHEEL_")}
    for k in ("CI", "GITHUB_ACTIONS", "NO_COLOR", "COLUMNS", "LINES", "PYTEST_CURRENT_TEST"):
        e.pop(k, None)
    e.pop("REZ_QUIET", None)
    e.update(TERM="xterm-256color", REZWHEEL_CONFIG="/nonexistent/rezwheel.toml",
             NETRC="/nonexistent/netrc", PATH=f"{BIN}{os.pathsep}{e.get('PATH', '')}")
    if home is not None:  # the store and the user dirs: this test's own
        e.update(XDG_CACHE_HOME=str(home / "cache"), XDG_DATA_HOME=str(home / "data"),
                 XDG_CONFIG_HOME=str(home / "config"))
    e.update(kw)
    return e


def on_tty(*args, env=None, timeout=120, interrupt_when=None, cwd=None, stop_within=10.0) -> Tty:
    """Run ``rezwheel ARGS`` on a fresh 100x30 pseudo-terminal (stdin, stdout and stderr), read
    until it exits and the terminal is closed. ``interrupt_when(raw_so_far)`` true: type Ctrl-C
    once (the terminal turns it into SIGINT for the foreground process group, as a shell's);
    the command then has ``stop_within`` seconds to be gone."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    cmd = [str(BIN / "rezwheel"), *map(str, args)]
    try:
        proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                env=tty_env() if env is None else env,
                                preexec_fn=own_terminal, close_fds=True)
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    start = time.monotonic()
    deadline = start + timeout
    interrupted = interrupt_when is None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                after = (f", {time.monotonic() - interrupted:.0f} s after Ctrl-C"
                         if interrupt_when and interrupted else "")
                raise AssertionError(f"rezwheel {' '.join(map(str, args))} still running "
                                     f"{time.monotonic() - start:.0f} s after it started on a "
                                     f"terminal{after}:\n"
                                     f"{strip(b''.join(chunks))[-3000:]}")
            if not read_into(master, chunks, min(left, 0.1)):
                break
            if not interrupted and interrupt_when(b"".join(chunks)):
                os.write(master, b"\x03")
                interrupted = time.monotonic()
                deadline = min(deadline, interrupted + stop_within)
        status = proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        let_go(master, proc)
    if not interrupted:
        raise AssertionError(f"rezwheel {' '.join(map(str, args))} finished before Ctrl-C could "
                             f"be typed:\n{strip(b''.join(chunks))}")
    return Tty(status, b"".join(chunks))


def seen(pattern: str, then: float = 0.0):
    """For ``interrupt_when``: ``pattern`` is on the screen, and ``then`` seconds have passed
    since it first was."""
    first: list[float] = []

    def when(raw: bytes) -> bool:
        if not first and re.search(pattern, strip(raw)):
            first.append(time.monotonic())
        return bool(first) and time.monotonic() - first[0] >= then
    return when


def ok(t: Tty, status: int = 0) -> Tty:
    """The documented status, and never a traceback."""
    assert "Traceback" not in t.text, t.text
    assert t.status == status, f"exit status {t.status} (expected {status}):\n{t.text}"
    return t


def has_bar(t: Tty) -> bool:
    """A rich progress bar was drawn: its bar characters and a percentage."""
    return BAR in t.text and re.search(r"\b\d{1,3}%", t.text) is not None


def error_lines(t: Tty) -> list[str]:
    return [line.strip() for line in t.text.splitlines() if line.strip().startswith("rezwheel: error:")]


def index_listing(idx: Path) -> list[str]:
    return sorted(str(p.relative_to(idx)) for p in idx.rglob("*"))


def assert_index_whole(idx: Path, allow=()) -> None:
    """Nothing half-written: no staging or temporary entries (but ``allow``); every wheel whole."""
    odd = [p for p in index_listing(idx)
           if not (p in (".lock", "files", "simple", "simple/index.html", *allow)
                   or re.fullmatch(r"files/[^/.][^/]*\.whl(\.metadata|\.sha256)?", p)
                   or re.fullmatch(r"simple/[a-z0-9][a-z0-9._-]*(/index\.html|/rez-definitions\.json\.gz)?", p))]
    assert not odd, f"left in the index {idx}: {odd}\n" + "\n".join(index_listing(idx))
    for whl in idx.glob("files/*.whl"):
        with zipfile.ZipFile(whl) as z:
            assert z.testzip() is None, whl


def render(raw: bytes, rows: int = ROWS, cols: int = COLS) -> str:
    """The final screen: through pyte when it is installed, else through the few moves rich
    makes (carriage return, cursor up, erase line), other escape sequences dropped."""
    try:
        import pyte
    except ImportError:
        return _moves(raw, rows)
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    stream.feed(raw.replace(b"\n", b"\r\n"))
    return "\n".join(line.rstrip() for line in screen.display).rstrip() + "\n"


def _moves(raw: bytes, rows: int) -> str:
    lines, row, col = [""], 0, 0
    for token in re.split(r"(\x1b\[[0-?]*[ -/]*[@-~]|\r|\n)", raw.decode("utf-8", "replace")):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif token.startswith("\x1b["):
            arg, op = token[2:-1], token[-1]
            if op == "A":
                row = max(0, row - int(arg or 1))
            elif op == "K":
                lines[row] = "" if arg == "2" else lines[row][:col]
        elif token:
            line = re.sub(ANSI.pattern.decode(), "", token)
            lines[row] = lines[row][:col].ljust(col) + line + lines[row][col + len(line):]
            col += len(line)
    return "\n".join(line.rstrip() for line in lines[-rows:]).rstrip() + "\n"


def big_package(root: Path, mb: int = 24) -> Path:
    """A rez package with incompressible payload, slow enough to convert to interrupt it."""
    pkg = root / "big" / "1.0"
    (pkg / "data").mkdir(parents=True)
    (pkg / "package.py").write_text("name = 'big'\nversion = '1.0'\n")
    for i in range(4):
        (pkg / "data" / f"blob{i}.bin").write_bytes(os.urandom(mb * 1024 * 1024 // 4))
    return root / "big"


class SlowUpstream(PythonStatic):
    """A local directory index over HTTP whose wheel downloads stall for ``stall`` seconds after
    their headers (a far-away upstream); ``stall = 0`` makes it quick."""

    def __init__(self, root: Path, stall: float) -> None:
        self.stall = stall
        self.closing = threading.Event()
        upstream = self

        class Handler(QuietHandler):
            def copyfile(self, source, outputfile) -> None:
                try:
                    if self.path.split("?")[0].endswith(".whl"):
                        outputfile.flush()  # the headers go now, the body after the stall
                        upstream.closing.wait(upstream.stall)
                    shutil.copyfileobj(source, outputfile)
                except OSError:  # the client gave up
                    pass

        super().__init__(root, Handler)
        self.url += "simple/"

    def close(self) -> None:
        self.closing.set()
        self.stop()


# -- fixtures --------------------------------------------------------------------------------------

@pytest.fixture()
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture()
def samples(tmp_path) -> list[Path]:
    """The sample package families, each as a person names it on the command line."""
    repo = copy_samples(tmp_path / "packages")
    return sorted(p for p in repo.iterdir() if p.is_dir())


@pytest.fixture()
def pypiserver(tmp_path):
    server = PyPIServer(tmp_path / "srv", password=SECRET)
    yield server
    server.stop()


# -- tests -----------------------------------------------------------------------------------------

def test_version(home):
    status, text = ok(on_tty("--version", env=tty_env(home)))
    assert re.match(r"rezwheel \S+ \(rez \S+, Python \S+ at .+\)$", text.strip()), text


def test_no_command_prints_usage(home):
    status, text = ok(on_tty(env=tty_env(home)), 2)
    assert "usage: rezwheel" in text and "publish" in text, text


def test_unknown_command(home):
    t = ok(on_tty("bogus", env=tty_env(home)), 2)
    (line,) = t.text.strip().splitlines()  # one line: argparse's usage block no longer above it
    assert line.startswith("rezwheel: error: ") and "'bogus'" in line, t.text
    assert line.endswith("(try 'rezwheel --help')"), t.text


def test_a_missing_option_is_one_line_naming_the_command(home):
    t = ok(on_tty("install", "pyutil", env=tty_env(home)), 2)
    assert t.text.strip().splitlines() == [
        "rezwheel install: error: the following arguments are required: --into "
        "(try 'rezwheel install --help')"], t.text


def test_inspect_missing_wheel(home, tmp_path):
    t = ok(on_tty("inspect", "missing.whl", env=tty_env(home), cwd=tmp_path), 1)
    assert len(error_lines(t)) == 1 and "missing.whl" in error_lines(t)[0], t.text


def test_publish_then_again_then_install(samples, home, tmp_path):
    idx = tmp_path / "index"
    first = ok(on_tty("publish", *samples, "--to", idx, env=tty_env(home)))
    assert has_bar(first), f"no progress bar on a terminal:\n{first.raw[-3000:]!r}"
    assert "uploaded" in first.text and not re.search(r"^failed ", first.text, re.M), first.text
    published = sorted(p.name for p in idx.glob("files/*.whl"))
    assert published and all(f"uploaded     {name}" in first.text for name in published)
    assert_index_whole(idx)
    keep = tmp_path / "rezwheel-tty-publish.txt"
    keep.write_text(render(first.raw))
    shutil.copy(keep, "/tmp/rezwheel-tty-publish.txt")  # the final screen, for a person to look at

    again = ok(on_tty("publish", *samples, "--to", idx, env=tty_env(home)))
    assert not re.search(r"^(uploaded|failed) ", again.text, re.M), again.text
    assert re.search(r"^skipped +\d+ files of unchanged packages", again.text, re.M), again.text
    assert sorted(p.name for p in idx.glob("files/*.whl")) == published

    repo = tmp_path / "repo"
    t = ok(on_tty("install", "pyutil", "--into", repo, "--index", idx, env=tty_env(home)))
    assert has_bar(t), f"no progress bar on a terminal:\n{t.raw[-3000:]!r}"
    assert (repo / "pyutil" / "1.2.0" / "package.py").is_file(), t.text

    mirror = tmp_path / "mirror"
    t = ok(on_tty("mirror", "sync", "--from", idx, "--to", mirror, env=tty_env(home)))
    assert f"{len(published)} copied, 0 already in the mirror" in t.text, t.text
    assert sorted(p.name for p in mirror.glob("files/*.whl")) == published

    ok(on_tty("cache", "ls", env=tty_env(home)))  # a local index's payloads are read in place:
    # the store may hold nothing, and that is fine; it must not trip over the terminal


def test_publish_to_pypiserver_with_and_without_the_right_password(pypiserver, wheels, home):
    files = sorted(wheels.glob("*.whl"))
    held_back = wheels / "pyutil-1.2.0-py3-none-any.whl"
    first = [f for f in files if f != held_back]
    t = ok(on_tty("publish", *first, "--to", pypiserver.url,
                  env=tty_env(home, REZWHEEL_USERNAME="ci", REZWHEEL_PASSWORD=SECRET)))
    assert has_bar(t), f"no progress bar on a terminal:\n{t.raw[-3000:]!r}"
    assert sorted(os.listdir(pypiserver.root)) == sorted(f.name for f in first)
    assert SECRET not in t.text

    # the whole batch with a wrong password: the others are there (skipped), one is refused
    wrong = "not-" + SECRET
    t = ok(on_tty("publish", *files, "--to", pypiserver.url,
                  env=tty_env(home, REZWHEEL_USERNAME="ci", REZWHEEL_PASSWORD=wrong)), 1)
    (line,) = error_lines(t)
    assert re.match(rf"rezwheel: error: {re.escape(held_back.name)}: HTTP 40[13] ", line), t.text
    assert wrong not in t.text and "DOCTYPE" not in t.text and "<html" not in t.text.lower()
    assert held_back.name not in os.listdir(pypiserver.root)


def test_ctrl_c_during_publish(samples, home, tmp_path):
    big = big_package(tmp_path / "bigpkgs")
    idx = tmp_path / "index"
    t = on_tty("publish", *samples, big, "--to", idx, env=tty_env(home),
               interrupt_when=seen(r"converting: .*[1-9]\d* MB read"))
    assert "Traceback" not in t.text and "KeyboardInterrupt" not in t.text, t.text
    assert t.status in (130, 1), f"exit status {t.status} after Ctrl-C:\n{t.text}"
    if idx.exists():
        assert_index_whole(idx)
    assert not list(tmp_path.glob("**/.rezwheel-publish-*")), "staging left behind"


def test_ctrl_c_during_mirror_sync_from_a_slow_upstream(local_index, home, tmp_path):
    upstream = SlowUpstream(local_index, stall=60)
    mirror = tmp_path / "mirror"
    try:
        # Ctrl-C once the bar is up, the downloads in flight: a person expects it to stop now
        t = on_tty("mirror", "sync", "--from", upstream.url, "--to", mirror, env=tty_env(home),
                   interrupt_when=seen(BAR, then=1.0))
        assert "Traceback" not in t.text and "KeyboardInterrupt" not in t.text, t.text
        assert t.status in (130, 1), f"exit status {t.status} after Ctrl-C:\n{t.text}"
        # whole, verified files and the marker only ("a killed sync leaves only whole, verified
        # files and a marker"); an empty download directory at most
        partial = mirror / ".partial"
        assert not (partial.exists() and any(partial.iterdir())), \
            f"half-written downloads left: {sorted(os.listdir(partial))}"
        if mirror.exists():
            assert_index_whole(mirror, allow=(".partial", ".write-in-progress"))

        upstream.stall = 0  # and the next run finishes the job
        wanted = sorted(p.name for p in local_index.glob("files/*.whl"))
        t = ok(on_tty("mirror", "sync", "--from", upstream.url, "--to", mirror, env=tty_env(home)))
        assert sorted(p.name for p in mirror.glob("files/*.whl")) == wanted, t.text
        assert_index_whole(mirror)
    finally:
        upstream.close()


if __name__ == "__main__":  # the final screen of a publish of the samples, for a person to look at
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        repo = copy_samples(Path(d) / "packages")
        t = on_tty("publish", *sorted(p for p in repo.iterdir() if p.is_dir()), "--to",
                   Path(d) / "index", env=tty_env(Path(d) / "home"))
        Path("/tmp/rezwheel-tty-publish.raw").write_bytes(t.raw)
        Path("/tmp/rezwheel-tty-publish.txt").write_text(render(t.raw))
        print(render(t.raw), end="")
        print(f"-- exit status {t.status}; raw bytes in /tmp/rezwheel-tty-publish.raw, this screen "
              "in /tmp/rezwheel-tty-publish.txt", file=sys.stderr)


def test_a_sigterm_while_the_process_exits_ends_it_without_a_traceback(tmp_path):
    """CI cancels whenever it likes, also while the interpreter runs its exit hooks (rez's own
    imports a module there): the command's output stays, exit status 143, and no traceback
    out of a hook. Delivered here from an exit hook, so it cannot miss the moment."""
    code = ("import atexit, os, signal, sys, time\n"
            "from rezwheel.cli import main\n"
            "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(5)))\n"
            "sys.exit(main(['cache', 'ls']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, REZWHEEL_STORE=str(tmp_path / "store")))
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    assert r.returncode == 143, (r.returncode, r.stderr)
    assert "holds no artifacts" in r.stdout  # what the command said is kept
