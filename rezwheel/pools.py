"""Thread pools that let go on Ctrl-C.

``with ThreadPoolExecutor()`` waits for every submitted task on the way out, even when the way
out is a KeyboardInterrupt: a sync with downloads in flight went on for a minute after Ctrl-C.
Here an exception cancels what has not started and leaves at once; the CLI then ends the
process without joining the threads still on the wire (``cli.main``). Work in flight writes
only to temporary names, so nothing half-written is left visible.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import threading
from typing import Any, Callable, Iterator, Optional, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def threads(n: int, name: str) -> Iterator[cf.ThreadPoolExecutor]:
    pool = cf.ThreadPoolExecutor(max(1, n), thread_name_prefix=name)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class LazyPool:
    """A thread pool made on first use (a warm process never needs the read-ahead pools it
    holds); at exit it cancels what has not started rather than wait for it."""

    def __init__(self, n: int, name: str) -> None:
        self._n, self._name = n, name
        self._pool: Optional[cf.ThreadPoolExecutor] = None
        self._lock = threading.Lock()

    def get(self) -> cf.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ThreadPoolExecutor(self._n, thread_name_prefix=self._name)
                atexit.register(self._pool.shutdown, wait=False, cancel_futures=True)
            return self._pool

    def close(self) -> None:
        """Wait for what was submitted (a later ``get`` makes a new pool)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def background(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    """Start ``fn(*args)`` on a daemon thread; the function returned waits for its result (or
    raises its exception). For one side task beside the caller's own work, such as hashing a
    file while it is being extracted (hashlib, zlib and file I/O let go of the GIL)."""
    out: list = []

    def run() -> None:
        try:
            out.append((True, fn(*args)))
        except BaseException as e:  # handed to the caller by result()
            out.append((False, e))

    t = threading.Thread(target=run, name="rezwheel-background", daemon=True)
    t.start()

    def result() -> T:
        t.join()
        ok, value = out[0]
        if not ok:
            raise value
        return value

    return result
