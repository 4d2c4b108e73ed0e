"""Writing files and directories so that readers see the old content or the new one, never a
part of either: each is made at a temporary name in the target's own directory (so the rename
stays on one filesystem), renamed into place once complete, and removed if anything fails on
the way (a killed process leaves only a temporary name, which readers skip).

Every write-then-rename in the package goes through here. Two renames are not writes and stay
where they happen: moving in a file completed and verified elsewhere on the same filesystem (a
conversion's wheel, a mirror's download: ``LocalIndex.adopt``), and replacing a rez package's
tree that rez may be reading (an atomic exchange of two directories: ``fsrepo.swap_in``).
``FileLock`` is the lock the store and rez repositories are written under.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Any, Iterator, Optional


def make_dir(path: str, what: str) -> None:
    """``path`` as a directory (made if missing), or a one-line error saying what it is instead:
    an output or target directory the user named (``-o``, ``--to``) that is a file, or that
    cannot be made, is refused before anything is written, not once per package."""
    from rezwheel.errors import UsageError

    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{path}: exists and is not a directory ({what})") from None
    except NotADirectoryError:
        raise UsageError(f"{path}: a part of the path is a file ({what})") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot make {what}: {e.strerror or e}") from None


class AtomicFile:
    """A file being made at a temporary name beside ``path``: ``commit`` renames it over
    ``path``, ``discard`` removes it. As a context manager it gives the temporary name and
    commits when the block succeeds, discards when it raises.

    ``prefix``: how the temporary name starts (readers of the directory skip such names);
    ``mode``: the file's permissions once committed (None: mkstemp's 0600, a private file).
    """

    def __init__(self, path: str, prefix: str = ".rezwheel-", suffix: str = "",
                 mode: Optional[int] = 0o644) -> None:
        self.path = path
        self.mode = mode
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
        os.close(fd)

    def commit(self) -> None:
        try:
            if self.mode is not None:
                os.chmod(self.tmp, self.mode)
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)

    def __enter__(self) -> str:
        return self.tmp

    def __exit__(self, exc_type: Optional[type], *_: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(path: str, data: bytes, prefix: str = ".rezwheel-", mode: int = 0o644) -> None:
    """``path`` holds ``data``, all or nothing (one open of the temporary file: the store
    writes several small files per variant it localizes)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with open(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def keep(path: str, data: bytes, **kw: Any) -> Optional[OSError]:
    """``atomic_write`` for a cache (kept pages, a serial, a snapshot): a store that cannot
    take it (read-only, full) is returned, not raised, and what was read is used unkept."""
    try:
        atomic_write(path, data, **kw)
    except OSError as e:
        return e
    return None


def read_or_none(path: str) -> Optional[bytes]:
    """A file's bytes, or None when it is not there (or not readable): what a reader of files
    renamed into place (``atomic_write``) sees, never half of one."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


@contextlib.contextmanager
def atomic_dir(path: str, prefix: str = ".tmp-") -> Iterator[str]:
    """A new directory at ``path``: gives a fresh name beside it (not yet made), renamed to
    ``path`` when the block succeeds. Another process may have put the same thing there
    meanwhile (a cache filled in parallel): then its copy stays and this one is dropped.
    Whatever is at the temporary name goes in every case."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # a name no other process can pick (pid) or guess (random), made by the caller
    new = os.path.join(parent, f"{prefix}{os.getpid()}-{os.urandom(6).hex()}")
    try:
        yield new
        try:
            os.rename(new, path)
        except OSError:
            if not os.path.isdir(path):
                raise
    finally:
        if os.path.lexists(new):
            shutil.rmtree(new, ignore_errors=True)


class FileLock:
    """One holder at a time of the lock file ``path``, across processes and threads (each
    ``acquire`` opens its own descriptor; ``flock`` locks belong to it). Not reentrant.
    ``filelock`` does the same at a cost of a few dozen milliseconds of imports, paid by every
    ``rez env`` that localizes a variant; it is still used where ``fcntl`` is missing (Windows).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: Optional[int] = None
        self._other: Any = None

    def acquire(self, timeout: float = -1) -> None:
        """Wait for the lock; ``timeout=0``: do not wait (``TimeoutError`` when held). No
        caller waits a bounded time, so no other timeout is offered."""
        if timeout not in (-1, 0):
            raise ValueError(f"FileLock.acquire: timeout is -1 or 0, not {timeout}")
        try:
            import fcntl
        except ImportError:  # Windows
            from filelock import FileLock as Other

            self._other = Other(self.path)
            self._other.acquire(timeout=timeout)
            return
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            fd = os.open(self.path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if timeout == 0 else 0))
        except BlockingIOError:
            os.close(fd)
            raise TimeoutError(f"{self.path}: held by another process") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._other is not None:
            self._other.release()
            self._other = None
        elif self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
