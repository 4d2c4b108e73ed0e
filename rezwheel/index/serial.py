"""The index-wide serial of an index rezwheel writes: one request tells a warm reader that every
project page it keeps is still current.

A local index (``index.local``: ``rezwheel publish``, ``rezwheel mirror``) carries, in its root
page's head, ``<meta name="rezwheel:serial" content="N">`` (what PyPI's ``X-PyPI-Last-Serial``
is to its pages). A writer holding the index lock writes every project page it changed first,
then, as its LAST step, the root page with a new serial: a serial names a state in which every
page of every complete publish is written. A JSON root page (PEP 691) would carry it as
``meta["_rezwheel:serial"]`` (keys with an underscore are private to a writer, PEP 691).

The reader (``index.httpreader``) reads the root page before any project page, once per process,
and stamps each page it then reads with that serial. A page read after the root said S is at
least as new as state S (S's pages were written before S). If the next process finds S still
there, no publish completed since: the stamped pages are current, and no page is asked for.
Any other answer (a new serial, none, an unreadable root) and pages are revalidated one by one,
as with any index. What this guarantees: a publish that completed (its root page written)
before a process started is seen by that process. A publish still in progress may be seen in
part (some pages new, some old), as without a serial.

A serial is never reused: it is the larger of the previous one plus one and the time in
microseconds, so an index removed and published again does not repeat one a reader stamped.
Values from the index are hostile: only 1 to 64 lower-case hex digits (a decimal serial is
such a string) are taken; anything else is no serial.
"""

from __future__ import annotations

import json
import re
import time
from typing import Optional

META = "rezwheel:serial"
JSON_KEY = "_rezwheel:serial"
_VALUE = re.compile(r"[0-9a-f]{1,64}")
_HTML = re.compile(rb"<meta\s+name\s*=\s*[\"']rezwheel:serial[\"']\s+content\s*=\s*[\"']"
                   rb"([^\"'<>]{0,100})[\"']\s*/?>", re.IGNORECASE)
_JSON_META = re.compile(rb"\"meta\"\s*:\s*(\{[^{}]{0,4096}\})")


def parse(head: bytes, content_type: str = "") -> Optional[str]:
    """The serial a root page's beginning (its first bytes are enough: the serial is in the
    head) declares, or None: no serial, or one unfit."""
    if "json" in content_type.lower():
        m = _JSON_META.search(head)
        if not m:
            return None
        try:
            meta = json.loads(m.group(1))
        except ValueError:
            return None
        value = meta.get(JSON_KEY) if isinstance(meta, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64:
            value = str(value)
        return value if isinstance(value, str) and _VALUE.fullmatch(value) else None
    m = _HTML.search(head.split(b"</head>", 1)[0])
    if not m:
        return None
    value = m.group(1).decode("ascii", "replace").strip()
    return value if _VALUE.fullmatch(value) else None


def following(previous: Optional[str]) -> str:
    """The serial after ``previous`` (a decimal one; another kind starts the count anew)."""
    n = int(previous) if previous and previous.isdigit() and len(previous) <= 20 else 0
    return str(max(n + 1, time.time_ns() // 1000))


def tag(value: str) -> str:
    """The root page's head line that declares ``value``."""
    return f'<meta name="{META}" content="{value}">'
