"""A planned step's file on this host, checked against the sha256 its index lists.

Shared by the flows that carry out a plan (``install`` into a rez repository, ``export`` into a
venv): both need the same guarantee, that what gets installed is the file the index named.
"""

from __future__ import annotations

from rezwheel.errors import InvalidWheelError
from rezwheel.hashing import sha256_file
from rezwheel.resolve.planner import Step
from rezwheel.resolve.store import Store


def download(step: Step, store: Store) -> str:
    """The step's file on this host, sha256-checked against the index: a local index's file is
    checked and read in place, anything else fetched into the store by the step's reader."""
    f, reader = step.file, step.reader
    if f is None or not f.sha256:
        raise InvalidWheelError(f"{step.filename}: the index gives no sha256 to verify it against")
    local = step.local or (reader.local_path(f) if reader else None)
    if local:
        got = sha256_file(local)
        if got != f.sha256:
            raise InvalidWheelError(f"{local}: sha256 {got} does not match the index's "
                                    f"{f.sha256}")
        return local
    return store.fetch_wheel(f.sha256, f.filename,
                             lambda dest: reader.fetch(f, dest))  # type: ignore[union-attr]
