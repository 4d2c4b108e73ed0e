"""One thread for every deadline of a process.

Each HTTP exchange is bounded in time (``index.http.deadline``). A ``threading.Timer`` each
started a thread per request, and the caller waited for it to start: a cold resolve sends
dozens of requests, and every start handed the interpreter to another thread and back. Here
one daemon thread sleeps until the earliest deadline; arming one is a heap push, cancelling
one marks it (an exchange almost always ends long before its deadline).
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from typing import Callable, Optional

__all__ = ["call_later", "Timer"]


class Timer:
    """A call due at ``when`` (``time.monotonic``), until ``cancel``."""

    __slots__ = ("when", "seq", "fn")

    def __init__(self, when: float, seq: int, fn: Optional[Callable[[], None]]) -> None:
        self.when, self.seq, self.fn = when, seq, fn

    def __lt__(self, other: "Timer") -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        self.fn = None


_due: list[Timer] = []
_cv = threading.Condition()
_seq = itertools.count()
_runner: Optional[tuple[int, threading.Thread]] = None  # (pid, thread): none after a fork


def _forked() -> None:
    """A forked child has no timers' thread, and may have copied the lock held."""
    global _cv, _due
    _cv, _due = threading.Condition(), []


os.register_at_fork(after_in_child=_forked)


def call_later(seconds: float, fn: Callable[[], None]) -> Timer:
    """Call ``fn`` (on the timers' thread: keep it short) ``seconds`` from now."""
    global _runner
    timer = Timer(time.monotonic() + seconds, next(_seq), fn)
    with _cv:
        heapq.heappush(_due, timer)
        if _runner is None or _runner[0] != os.getpid():
            thread = threading.Thread(target=_run, name="rezwheel-timers", daemon=True)
            _runner = (os.getpid(), thread)
            thread.start()
        elif _due[0] is timer:  # sooner than what the thread sleeps for
            _cv.notify()
    return timer


def _run() -> None:
    while True:
        with _cv:
            while True:
                while _due and _due[0].fn is None:  # cancelled: dropped unwaited
                    heapq.heappop(_due)
                wait = _due[0].when - time.monotonic() if _due else None
                if wait is not None and wait <= 0:
                    fn = heapq.heappop(_due).fn
                    break
                _cv.wait(wait)
        try:
            if fn is not None:
                fn()
        except Exception:  # a deadline's own failure must not stop every other deadline
            pass
