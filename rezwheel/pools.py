"""Thread pools that let go on Ctrl-C.

``with ThreadPoolExecutor()`` waits for every submitted task on the way out, even when the way
out is a KeyboardInterrupt: a sync with downloads in flight went on for a minute after Ctrl-C.
Here an exception cancels what has not started and leaves at once; the CLI then ends the
process without joining the threads still on the wire (``cli.main``). Work in flight writes
only to temporary names, so nothing half-written is left visible.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from typing import Any, Callable, Iterator, TypeVar

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


def background(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    """Start ``fn(*args)`` on a daemon thread; the function returned waits for its result (or
    raises its exception). For one side task beside the caller's own work, such as hashing a
    file while it is being extracted (hashlib, zlib and file I/O let go of the GIL)."""
    import threading

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
