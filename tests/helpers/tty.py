"""Driving a command on a pseudo-terminal, as a person at a shell: the pieces the terminal
tests (``tests/cli/test_terminal.py``) and the signal tests (``tests/cli/test_signals.py``)
share."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import signal
import subprocess
import termios

#: CSI, OSC and two-byte escapes: what a terminal draws with, not text
ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def own_terminal() -> None:
    """In the child (``preexec_fn``): a session of its own, the pty its controlling terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def read_into(master: int, chunks: list, wait: float) -> bool:
    """Wait up to ``wait`` seconds for output and append it to ``chunks``; False once the
    terminal is closed (every process holding it is gone)."""
    ready, _, _ = select.select([master], [], [], wait)
    if not ready:
        return True
    try:
        data = os.read(master, 65536)
    except OSError as e:  # EIO: every process holding the terminal is gone
        if e.errno != errno.EIO:
            raise
        data = b""
    if not data:
        return False
    chunks.append(data)
    return True


def let_go(master: int, proc: subprocess.Popen) -> None:
    """Close the terminal; a command still running then is killed with its process group."""
    os.close(master)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
