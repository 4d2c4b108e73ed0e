"""The METADATA of a wheel on disk: what a PEP 658 sidecar serves and what an upload form sends.

Kept apart from the reader so publishing does not import the installer machinery.
"""

from __future__ import annotations

import re
import zipfile
from typing import Optional

#: The definition's file name inside ``.dist-info``.
DEFINITION = "rez-package.py"


def read_metadata(path: str) -> str:
    with zipfile.ZipFile(path) as z:
        name = next((n for n in z.namelist() if n.endswith(".dist-info/METADATA")
                     and n.count("/") == 1), None)
        return z.read(name).decode("utf-8", "replace") if name else ""


def header_fields(metadata: str) -> dict[str, str]:
    """First value of each header field (enough for an upload form)."""
    out: dict[str, str] = {}
    for line in metadata.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(": ")
        if sep and key not in out:
            out[key] = value
    return out


def definition_from_metadata(metadata: str) -> Optional[str]:
    """The definition carried in a METADATA body (what a PEP 658 sidecar serves), if any.

    Found only by the layout rezwheel writes (a body that opens with ``# rez package`` and a
    ``Rez definition:`` line right before the fence), never as "the first python block": plain
    projects' READMEs hold python blocks too.
    """
    _, sep, body = metadata.replace("\r\n", "\n").partition("\n\n")
    if not sep or not body.startswith("# rez package `"):
        return None
    m = re.search(r"^Rez definition:\n\n(`{3,})python\n(.*?)^\1$", body, re.S | re.M)
    return m.group(2) if m else None
