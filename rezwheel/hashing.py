"""File hashing, in chunks, so memory stays flat whatever the file size."""

from __future__ import annotations

import hashlib

CHUNK = 1 << 20


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
