"""The local store: definitions, payloads and extracted variant roots, keyed by wheel sha256.

Layout under the root (default: the platform's user cache dir, ``rezwheel``)::

    defs/<sha256>.py              definitions, forever (a sha256 names one content)
    wheels/<sha256>/<file>.whl    payloads, verified against the index's sha256
    roots/<sha256>/               extracted variant roots (what rez's ``root`` points at)
    pages/<hash>.json             index pages with their validators, for offline resolves
    locks/<sha256>.lock           one lock per artifact

Every write goes to a temporary name in the same directory and is renamed into place, so a
killed process leaves nothing half-written visible; the per-artifact lock makes N processes
asking for one variant download and extract it once, and all of them succeed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Callable, Optional

from .atomic import atomic_write
from .errors import InvalidWheelError
from .hashing import sha256_file

if TYPE_CHECKING:
    from filelock import FileLock

def default_root() -> str:
    env = os.environ.get("REZWHEEL_STORE")
    if env:
        return env
    from platformdirs import user_cache_dir
    return user_cache_dir("rezwheel")


class Store:
    def __init__(self, root: Optional[str] = None) -> None:
        self.root = os.path.abspath(os.path.expanduser(root or default_root()))

    def _dir(self, *parts: str) -> str:
        path = os.path.join(self.root, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def pages(self) -> str:
        return self._dir("pages")

    # -- definitions
    def definition(self, sha: str) -> Optional[str]:
        path = os.path.join(self.root, "defs", sha + ".py")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as fh:
            return fh.read()

    def put_definition(self, sha: str, text: str) -> None:
        atomic_write(os.path.join(self.root, "defs", sha + ".py"), text.encode(), prefix=".tmp-")

    # -- payloads and roots
    def wheel_path(self, sha: str, filename: str) -> str:
        return os.path.join(self.root, "wheels", sha, filename)

    def root_path(self, sha: str) -> str:
        return os.path.join(self.root, "roots", sha)

    def lock(self, sha: str) -> "FileLock":
        from filelock import FileLock

        return FileLock(os.path.join(self._dir("locks"), sha + ".lock"))

    def localize(self, sha: str, filename: str, fetch: Callable[[str], Optional[str]],
                 local_path: Optional[str] = None) -> str:
        """The extracted variant root of an artifact, downloading and extracting it once.

        ``local_path``: the artifact already on this host (a local directory index): it is
        verified and read in place rather than copied into the store.
        """
        from .install import restore_variant
        from .wheel.reader import open_artifact

        root = self.root_path(sha)
        if os.path.isdir(root):
            return root
        with self.lock(sha):
            if os.path.isdir(root):  # another process did it while we waited
                return root
            if local_path and sha256_file(local_path) == sha:
                wheel = local_path
            else:  # a remote index, or a local copy that went bad: fetch (maybe elsewhere)
                wheel = self.fetch_wheel(sha, filename, fetch)
            parent = self._dir("roots")
            tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
            try:
                with open_artifact(wheel, verify_record=False) as art:
                    restore_variant(art, os.path.join(tmp, "root"), check_as_written=True)
                os.rename(os.path.join(tmp, "root"), root)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return root

    def fetch_wheel(self, sha: str, filename: str, fetch: Callable[[str], Optional[str]]) -> str:
        """The payload in the store, fetched (to a temporary name) and sha256-checked once."""
        path = self.wheel_path(sha, filename)
        if os.path.exists(path) and sha256_file(path) == sha:
            return path
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        os.close(fd)
        try:
            got = fetch(tmp) or sha256_file(tmp)  # a fetch may hash on the way
            if got != sha:
                raise InvalidWheelError(f"{filename}: sha256 {got} does not match the index's {sha}")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    # -- maintenance (rezwheel cache)
    def entries(self) -> list[dict]:
        """Stored artifacts: payloads, and roots extracted from payloads read in place."""
        out = []
        wheels, roots = os.path.join(self.root, "wheels"), os.path.join(self.root, "roots")
        shas = {n for d in (wheels, roots) if os.path.isdir(d) for n in os.listdir(d)
                if not n.startswith(".")}
        for sha in sorted(shas):
            wdir = os.path.join(wheels, sha)
            files = [f for f in os.listdir(wdir) if not f.startswith(".")] \
                if os.path.isdir(wdir) else []
            root = self.root_path(sha)
            out.append({"sha256": sha, "file": files[0] if files else None,
                        "wheel_bytes": sum(os.path.getsize(os.path.join(wdir, f)) for f in files),
                        "root_bytes": _tree_size(root) if os.path.isdir(root) else 0,
                        "used": _mtime(root if os.path.isdir(root) else wdir)})
        return out

    def verify(self) -> list[str]:
        """Re-hash every stored payload; returns one line per problem."""
        bad = []
        for e in self.entries():
            if e["file"]:
                got = sha256_file(self.wheel_path(e["sha256"], e["file"]))
                if got != e["sha256"]:
                    bad.append(f"{self.wheel_path(e['sha256'], e['file'])}: sha256 {got}, "
                               f"stored as {e['sha256']}")
        return bad

    def remove_root(self, sha: str) -> None:
        """Drop an extracted root (under the artifact's lock), keeping its payload."""
        with self.lock(sha):
            _discard(self.root_path(sha))

    def remove(self, sha: str) -> bool:
        """Remove an artifact's payload and root unless a process holds its lock."""
        lock = self.lock(sha)
        try:
            lock.acquire(timeout=0)
        except Exception:
            return False
        try:
            for path in (self.root_path(sha), os.path.join(self.root, "wheels", sha)):
                _discard(path)
        finally:
            lock.release()
        return True


def _discard(path: str) -> None:
    """Remove a directory so that it vanishes at once: rename it aside, then delete."""
    if os.path.isdir(path):
        trash = tempfile.mkdtemp(prefix=".trash-", dir=os.path.dirname(path))
        os.rename(path, os.path.join(trash, "x"))
        shutil.rmtree(trash, ignore_errors=True)


def _tree_size(path: str) -> int:
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


