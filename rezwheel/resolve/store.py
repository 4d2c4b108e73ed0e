"""The local store: definitions, payloads and extracted variant roots, keyed by wheel sha256.

Layout under the root (default: the platform's user cache dir, ``rezwheel``)::

    defs/<text sha256>.py         definition texts, keyed by their own sha256
    verified/<wheel sha256>       which definition a verified wheel embeds (any index may use it)
    hints/<index>/<wheel sha256>  which definition an index served for a wheel (that index only)
    wheels/<sha256>/<file>.whl    payloads, verified against the index's sha256
    roots/<sha256>/               extracted variant roots (what rez's ``root`` points at)
    pages/<hash>.json             index pages with their validators, for offline resolves
    pages/<index>/*-rez-snapshot.zip  an index's snapshot (``index.snapshot``; ``.none``: it
                                  had none under the serial written inside)
    locks/<sha256>.lock           one lock per artifact

A definition read from a PEP 658 file or a range read is what an index *says* a wheel holds:
a hint, kept for that index alone (a rogue index listing a trusted wheel's sha256 must not
answer for the trusted one). Once the wheel itself is verified against its sha256, its own
``rez-package.py`` is recorded for every index, and localizing a variant refuses a wheel whose
definition is not the one rez resolved with. Every sha256 used in a path is checked to be one.

Every write goes to a temporary name in the same directory and is renamed into place
(``atomic``), so a killed process leaves nothing half-written visible; the per-artifact lock
makes N processes asking for one variant download and extract it once, and all of them
succeed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable, Optional

from rezwheel.atomic import AtomicFile, FileLock, atomic_dir, atomic_write
from rezwheel.errors import InvalidWheelError, RezwheelError
from rezwheel.hashing import sha256_file

_HEX = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"[0-9a-f]{16}")


def check_sha256(sha: object) -> str:
    """A sha256 fit to name a path, or InvalidWheelError."""
    if not isinstance(sha, str) or not _HEX.fullmatch(sha):
        raise InvalidWheelError(f"{str(sha)[:80]!r}: not a sha256 (64 lower-case hex digits)")
    return sha


def _check_filename(filename: str) -> str:
    if not filename or os.path.basename(filename) != filename or filename.startswith(".") \
            or "\\" in filename or "\0" in filename:
        raise InvalidWheelError(f"{filename[:80]!r}: not a plain file name")
    return filename


@dataclass(frozen=True)
class StoreEntry:
    """One stored artifact: its payload (None: read in place from a local index) and root."""
    sha256: str
    file: Optional[str]
    wheel_bytes: int
    root_bytes: int
    used: float  # when its root (else its payload) was last written

    def as_json(self) -> dict:
        return asdict(self)


class DefinitionMismatch(InvalidWheelError):
    """The wheel's own rez-package.py is not the definition rez resolved with."""


_MISMATCH = ("{}: the definition served by the index differs from the wheel's own "
             "rez-package.py; refused")


class _NotThisWheel(Exception):
    """A local copy whose sha256 is not the index's (it is fetched instead)."""

if TYPE_CHECKING:
    from rezwheel.artifact.reader import Artifact

def default_root() -> str:
    env = os.environ.get("REZWHEEL_STORE")
    if env:
        return env
    from platformdirs import user_cache_dir
    return user_cache_dir("rezwheel")


class Store:
    def __init__(self, root: Optional[str] = None) -> None:
        self.root = os.path.abspath(os.path.expanduser(root or default_root()))
        self._made: set[str] = set()  # directories known to exist (one check per process)
        if os.path.exists(self.root) and not os.path.isdir(self.root):  # said once, up front
            raise RezwheelError(f"the store {self.root} is a file, not a directory "
                                "($REZWHEEL_STORE, --store, or the plugin's store setting)")

    def _dir(self, *parts: str) -> str:
        path = os.path.join(self.root, *parts)
        if path not in self._made:
            os.makedirs(path, exist_ok=True)
            self._made.add(path)
        return path

    @property
    def pages(self) -> str:
        """Where index pages are kept (made on the first write: a store that cannot be
        written still resolves, unkept)."""
        return os.path.join(self.root, "pages")

    # -- definitions
    def definition(self, wheel_sha: str, index_key: str) -> Optional[str]:
        """The definition text for a wheel: the verified one, else what this index said."""
        check_sha256(wheel_sha)
        for link in (os.path.join(self.root, "verified", wheel_sha),
                     os.path.join(self.root, "hints", _index(index_key), wheel_sha)):
            text = self._text_via(link)
            if text is not None:
                return text
        return None

    def verified_definition(self, wheel_sha: str) -> Optional[str]:
        return self._text_via(os.path.join(self.root, "verified", check_sha256(wheel_sha)))

    def put_hint(self, wheel_sha: str, index_key: str, text: str) -> None:
        """What an index says a wheel holds, kept for the next process; a store that cannot
        take it (read-only, full) keeps nothing, and the resolve goes on."""
        with contextlib.suppress(OSError):
            self._link(os.path.join(self.root, "hints", _index(index_key),
                                    check_sha256(wheel_sha)), text)

    def put_verified(self, wheel_sha: str, text: str) -> None:
        self._link(os.path.join(self.root, "verified", check_sha256(wheel_sha)), text)

    def _link(self, path: str, text: str) -> None:
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        target = os.path.join(self.root, "defs", digest + ".py")
        if not os.path.exists(target):
            atomic_write(target, data, prefix=".tmp-")
        atomic_write(path, digest.encode(), prefix=".tmp-")

    def _text_via(self, link: str) -> Optional[str]:
        try:
            with open(link, encoding="ascii") as fh:
                digest = fh.read().strip()
            if not _HEX.fullmatch(digest):
                return None
            with open(os.path.join(self.root, "defs", digest + ".py"), "rb") as fh:
                data = fh.read()
        except (OSError, UnicodeDecodeError):
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            return None  # damaged: read it again from the index
        return data.decode("utf-8", "replace")

    # -- payloads and roots
    def wheel_path(self, sha: str, filename: str) -> str:
        return os.path.join(self.root, "wheels", check_sha256(sha), _check_filename(filename))

    def root_path(self, sha: str) -> str:
        return os.path.join(self.root, "roots", check_sha256(sha))

    def lock(self, sha: str) -> FileLock:
        return FileLock(os.path.join(self._dir("locks"), check_sha256(sha) + ".lock"))

    def localize(self, sha: str, filename: str, fetch: Callable[[str], Optional[str]],
                 extract: "Callable[[Artifact, str], None]", local_path: Optional[str] = None,
                 definition: Optional[str] = None) -> str:
        """The extracted variant root of an artifact, downloading and extracting it once.

        ``extract(artifact, root)`` writes the variant's payload into ``root`` (new), checking
        RECORD as it writes (``rezrepo.restore.restore_variant``): the caller chooses it, so
        the store knows nothing of rez repositories. ``local_path``: the artifact already on
        this host (a local directory index): it is verified and read in place rather than
        copied into the store. ``definition``: the text rez resolved with; the wheel's own
        ``rez-package.py`` must be that text.
        """
        root = self.root_path(sha)
        if os.path.isdir(root) and self._tied(sha, definition, filename):
            return root
        with self.lock(sha):
            if os.path.isdir(root):  # another process did it while we waited
                if self._tied(sha, definition, filename):
                    return root
                _discard(root)  # extracted before definitions were tied to wheels
            if local_path and self._extract(sha, local_path, root, extract, definition,
                                            filename, hashed=False):
                return root
            # a remote index, or a local copy that went bad: fetch (maybe elsewhere)
            wheel = self.fetch_wheel(sha, filename, fetch)
            self._extract(sha, wheel, root, extract, definition, filename, hashed=True)
        return root

    def _extract(self, sha: str, wheel: str, root: str,
                 extract: "Callable[[Artifact, str], None]", definition: Optional[str],
                 filename: str, hashed: bool) -> bool:
        """Extract ``wheel`` into ``root`` (renamed into place only once all is checked).
        ``hashed``: its sha256 is known to be ``sha``; else it is hashed while it is being
        extracted, and False is returned (nothing kept) when it is not ``sha``."""
        from rezwheel.artifact.reader import open_artifact
        from rezwheel.pools import background

        digest = None if hashed else background(sha256_file, wheel)
        try:
            with atomic_dir(root) as new:
                try:
                    with open_artifact(wheel, verify_record=False) as art:
                        extract(art, new)
                        text = art.definition.text
                except InvalidWheelError:
                    if digest is not None and digest() != sha:
                        raise _NotThisWheel from None  # a bad copy, not a bad wheel
                    raise
                if digest is not None and digest() != sha:
                    raise _NotThisWheel
                # verified: its definition is now known for every index
                self.put_verified(sha, text)
                if definition is not None and text != definition:
                    raise DefinitionMismatch(_MISMATCH.format(filename))
        except _NotThisWheel:
            return False
        return True

    def _tied(self, sha: str, definition: Optional[str], filename: str) -> bool:
        """Whether the verified wheel embeds ``definition``: False when not known yet; a
        different definition is refused."""
        have = self.verified_definition(sha)
        if have is None:
            return False
        if definition is not None and have != definition:
            raise DefinitionMismatch(_MISMATCH.format(filename))
        return True

    def fetch_wheel(self, sha: str, filename: str, fetch: Callable[[str], Optional[str]]) -> str:
        """The payload in the store, fetched (to a temporary name) and sha256-checked once."""
        path = self.wheel_path(sha, filename)
        if os.path.exists(path) and sha256_file(path) == sha:
            return path
        with AtomicFile(path, prefix=".tmp-", mode=None) as tmp:
            got = fetch(tmp) or sha256_file(tmp)  # a fetch may hash on the way
            if got != sha:
                raise InvalidWheelError(f"{filename}: sha256 {got} does not match the index's {sha}")
        return path

    # -- maintenance (``rezwheel cache``: the policy is in ``rezwheel.cache``)
    def entries(self) -> list[StoreEntry]:
        """Stored artifacts: payloads, and roots extracted from payloads read in place."""
        out = []
        wheels, roots = os.path.join(self.root, "wheels"), os.path.join(self.root, "roots")
        shas = {n for d in (wheels, roots) if os.path.isdir(d) for n in os.listdir(d)
                if _HEX.fullmatch(n)}
        for sha in sorted(shas):
            wdir = os.path.join(wheels, sha)
            files = [f for f in os.listdir(wdir) if not f.startswith(".")] \
                if os.path.isdir(wdir) else []
            root = self.root_path(sha)
            out.append(StoreEntry(sha, files[0] if files else None,
                                  sum(os.path.getsize(os.path.join(wdir, f)) for f in files),
                                  _tree_size(root) if os.path.isdir(root) else 0,
                                  _mtime(root if os.path.isdir(root) else wdir)))
        return out

    def damaged(self, entry: StoreEntry) -> Optional[str]:
        """Why an entry's payload is not what its sha256 says (re-hashed), or None."""
        if not entry.file:
            return None
        path = self.wheel_path(entry.sha256, entry.file)
        got = sha256_file(path)
        return None if got == entry.sha256 else f"{path}: sha256 {got}, stored as {entry.sha256}"

    def remove_root(self, sha: str) -> None:
        """Drop an extracted root (under the artifact's lock), keeping its payload."""
        with self.lock(sha):
            _discard(self.root_path(sha))

    def sweep(self, min_age: float = 3600.0) -> int:
        """Remove the extractions interrupted processes left under ``roots/`` (``.tmp-PID-…``
        of a process no longer running here, untouched for ``min_age`` seconds): readers skip
        them, and nothing else would. How many went."""
        import time

        gone, parent = 0, os.path.join(self.root, "roots")
        for name in _listing_of(parent):
            m = _LEFT.fullmatch(name)
            path = os.path.join(parent, name)
            if m is None or _running(int(m.group(1))) or \
                    time.time() - _mtime(path) < min_age:
                continue
            _discard(path)
            gone += 1
        return gone

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


def _index(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"not an index key: {key!r}")
    return key


_LEFT = re.compile(r"\.tmp-([0-9]{1,10})-[0-9a-f]+")  # ``atomic.atomic_dir``'s temporary name


def _listing_of(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
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


