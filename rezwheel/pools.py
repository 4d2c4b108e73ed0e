"""Thread pools that never keep the process alive.

``concurrent.futures.ThreadPoolExecutor`` joins its workers when the interpreter exits
(``threading._register_atexit``, before any ``atexit`` hook can shut it down): a worker still
on the wire (a read-ahead rez never needed, a download of a stalled upstream) held the process
after its work was over, and after Ctrl-C, where rez's SIGINT handler acts once and then
ignores every further Ctrl-C, until the server gave up. The pools here run daemon threads
instead: what is in flight when the process ends is dropped. That is safe because work in a
pool writes only to temporary names renamed into place once whole (``atomic``), and a file
lock dies with its process (``flock``), so nothing half-written becomes visible and nothing
waits on a stale lock.

``threads`` cancels what has not started when its block raises (a KeyboardInterrupt) and leaves
at once, where ``with ThreadPoolExecutor()`` waited for every task submitted.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import os
import queue
import sys
import threading
import weakref
from typing import Any, Callable, Iterator, Optional, TypeVar

T = TypeVar("T")

_STOP = None  # what a worker takes from the queue to end


class Pool(cf.Executor):
    """A ``ThreadPoolExecutor`` of daemon threads (the same ``submit``, ``map``, ``shutdown``,
    its futures the standard ones, so ``as_completed`` and ``wait`` work on them): up to ``n``
    threads, a new one started only when none is idle."""

    def __init__(self, n: int, name: str) -> None:
        self._n, self._name = max(1, n), name
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> "cf.Future[T]":
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: "cf.Future[T]" = cf.Future()
            self._queue.put((future, fn, args, kwargs))
            if not self._idle.acquire(timeout=0) and len(self._threads) < self._n:
                # a pool dropped unshut ends its idle threads: they hold its queue and a
                # weak reference to it, not the pool
                ref = weakref.ref(self, lambda _, q=self._queue: q.put(_STOP))
                t = threading.Thread(target=_work, args=(ref, self._queue, self._idle),
                                     daemon=True, name=f"{self._name}_{len(self._threads)}")
                t.start()
                self._threads.append(t)
            return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    item[0].cancel()
        self._queue.put(_STOP)  # each worker passes it on
        if wait:
            for t in workers:
                if t is not threading.current_thread():
                    t.join()


def _work(_: "weakref.ref[Pool]", tasks: "queue.SimpleQueue[Any]",
          idle: threading.Semaphore) -> None:
    while True:
        item = tasks.get()
        if item is _STOP:
            tasks.put(_STOP)
            return
        _run(*item)
        del item  # nothing of a task kept while idle
        idle.release()


def _run(future: cf.Future, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    if future.set_running_or_notify_cancel():
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:  # the caller's, through the future
            future.set_exception(e)
        else:
            future.set_result(result)


@contextlib.contextmanager
def threads(n: int, name: str) -> Iterator[Pool]:
    pool = Pool(n, name)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class LazyPool:
    """A pool made on first use (a warm process never needs the read-ahead pools it holds);
    at exit it cancels what has not started, and its threads, daemons, never hold the
    process."""

    def __init__(self, n: int, name: str) -> None:
        self._n, self._name = n, name
        self._pool: Optional[Pool] = None
        self._lock = threading.Lock()

    def get(self) -> Pool:
        with self._lock:
            if self._pool is None:
                self._pool = Pool(self._n, self._name)
                # at exit what has not started never starts (what has is dropped, see above)
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


def quiet_exit() -> None:
    """Once a command is over, a Ctrl-C or SIGTERM while the interpreter exits (its exit hooks:
    rez's imports a module, the parsed definitions are written out) ends the process at once,
    status 130 or 143, the output kept: the handler in place would raise into a hook, which
    prints "Exception ignored in ..." and a traceback (rez's prints "Interrupted by user"
    first, then ignores every further Ctrl-C). Done by an exit hook that runs before every
    hook registered so far (called again, it moves to the front); it takes over only from
    Python's own SIGINT handler and rez's, never from one a host application installed."""
    atexit.unregister(_take_signals)
    atexit.register(_take_signals)


def _take_signals() -> None:
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is signal.default_int_handler or \
                getattr(handler, "__module__", None) == "rez.cli._util":
            with contextlib.suppress(ValueError):  # not the main thread: nothing to take
                signal.signal(sig, _end)


def _end(signum: int, _: object) -> None:
    end_now(128 + signum)


def end_now(status: int) -> None:
    """End the process with ``status`` now: what was written is flushed; no exit hook runs and
    no thread is waited for."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: nothing left to keep
            pass
    os._exit(status)
