"""Writing a small file so that readers see the old content or the new one, never a part of
either: a temporary name in the same directory, then a rename over the real one."""

from __future__ import annotations

import os
import tempfile


def atomic_write(path: str, data: bytes, prefix: str = ".rezwheel-", mode: int = 0o644) -> None:
    """``prefix``: how the temporary name starts (readers of the directory skip such names)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
