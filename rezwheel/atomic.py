"""Writing files and directories so that readers see the old content or the new one, never a
part of either: each is made at a temporary name in the target's own directory (so the rename
stays on one filesystem), renamed into place once complete, and removed if anything fails on
the way (a killed process leaves only a temporary name, which readers skip).

Every write-then-rename in the package goes through here. Two renames are not writes and stay
where they happen: moving in a file completed and verified elsewhere on the same filesystem (a
conversion's wheel, a mirror's download: ``LocalIndex.adopt``), and replacing a rez package's
tree that rez may be reading (an atomic exchange of two directories: ``fsrepo.swap_in``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator, Optional


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
    """``path`` holds ``data``, all or nothing."""
    with AtomicFile(path, prefix=prefix, mode=mode) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


@contextlib.contextmanager
def atomic_dir(path: str, prefix: str = ".tmp-") -> Iterator[str]:
    """A new directory at ``path``: gives a name (not yet made) inside a temporary directory
    beside it, renamed to ``path`` when the block succeeds. Another process may have put the
    same thing there meanwhile (a cache filled in parallel): then its copy stays and this one
    is dropped. The temporary directory goes in every case."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        new = os.path.join(tmp, "new")
        yield new
        try:
            os.rename(new, path)
        except OSError:
            if not os.path.isdir(path):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
