"""PEP 592 in a local directory index: a yanked file has a marker beside it,
``files/NAME.yanked``, whose text is the reason (empty for none).

A mirror sync writes the markers from what upstream's pages say (so hosts behind the mirror
see the yank hosts on the server see), and anyone may write one by hand; the project's page
carries ``data-yanked`` once it is written again (``index.local``). The marker's text is
cleaned as a page's reason is (``pages.yanked_reason``): it is echoed in warnings.
"""

from __future__ import annotations

import os
from typing import Optional

from rezwheel.atomic import atomic_write
from rezwheel.index.pages import yanked_reason

#: the marker's suffix
SUFFIX = ".yanked"


def held(files: str) -> dict[str, str]:
    """Each file in the directory ``files`` that is yanked, with its reason."""
    try:
        names = os.listdir(files)
    except OSError:
        return {}
    return {n[:-len(SUFFIX)]: reason(files, n[:-len(SUFFIX)]) for n in names
            if n.endswith(SUFFIX)}


def reason(files: str, name: str) -> str:
    """The reason a yanked file's marker gives ("" when none, or unreadable)."""
    try:
        with open(os.path.join(files, name + SUFFIX), "rb") as fh:
            text = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return ""
    return yanked_reason(text) or ""


def mark(files: str, name: str, why: Optional[str]) -> bool:
    """Mark file ``name`` yanked for ``why`` (None: not yanked); whether that changed anything."""
    path = os.path.join(files, name + SUFFIX)
    if why is None:
        try:
            os.unlink(path)
            return True
        except FileNotFoundError:
            return False
    if os.path.exists(path) and reason(files, name) == why:
        return False
    atomic_write(path, why.encode())
    return True
