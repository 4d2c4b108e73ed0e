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
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from collections.abc import Mapping

    import requests

    from rezwheel.index.readers import Counters

META = "rezwheel:serial"
JSON_KEY = "_rezwheel:serial"
ROOT_HEAD = 1 << 16  # what is read of a root page for its serial (it is in the head)
NO_SERIAL_RECHECK = 86400.0  # seconds an index found without a serial is not asked again
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


def is_serial(value: object) -> bool:
    """Whether ``value`` is a serial as one is written (1 to 64 lower-case hex digits)."""
    return isinstance(value, str) and bool(_VALUE.fullmatch(value))


def following(previous: Optional[str]) -> str:
    """The serial after ``previous`` (a decimal one; another kind starts the count anew)."""
    n = int(previous) if previous and previous.isdigit() and len(previous) <= 20 else 0
    return str(max(n + 1, time.time_ns() // 1000))


def tag(value: str) -> str:
    """The root page's head line that declares ``value``."""
    return f'<meta name="{META}" content="{value}">'


def ask(session: "requests.Session", url: str, allow: Callable[[str], bool],
        cache_path: Optional[str], counters: "Counters",
        whole: Optional[Callable[[bytes, "Mapping[str, str]", str], None]] = None
        ) -> tuple[Optional[str], bool]:
    """(the serial the root page at ``url`` declares now, whether the index answered).

    Asked unconditionally, only the first ``ROOT_HEAD`` bytes read: a validator of a second's
    granularity cannot hide a publish, and a large root costs no more. An index found without
    a serial is not asked again for ``NO_SERIAL_RECHECK`` seconds (``cache_path`` says when).
    ``whole``: told (body, headers, final URL) when that read was the whole root page, so the
    project listing (``rez search``) needs no second request for it.
    """
    import requests

    from rezwheel.index.http import HTTPFailure, deadline
    from rezwheel.index.pages import ACCEPT
    from rezwheel.redaction import get_logger, redact

    none = _checked_without(cache_path)
    if none is not None and 0 <= time.time() - none < NO_SERIAL_RECHECK:
        return None, True
    head, kind, complete = b"", "", False
    try:
        with deadline(url):
            r = session.get(url, headers={"Accept": ACCEPT}, stream=True)
            try:
                if r.status_code == 200 and allow(redact(r.url)):
                    kind = r.headers.get("Content-Type", "")
                    complete = True
                    for chunk in r.iter_content(8192):
                        head += chunk
                        if len(head) >= ROOT_HEAD:
                            complete = False
                            break
            finally:
                r.close()
    except requests.ConnectionError:
        return None, False
    except (requests.RequestException, HTTPFailure) as e:  # a root past the deadline too:
        # the serial is an optimisation, and the pages' own requests say what is wrong
        get_logger(__name__).debug("rezwheel: %s: no serial: %s", redact(url), e)
        if isinstance(e, HTTPFailure):  # not every process waits it out
            _note(cache_path, {"checked": time.time()})
        return None, True
    counters.add("root", len(head))
    if whole is not None and complete:
        whole(head, r.headers, redact(r.url))
    found = parse(head[:ROOT_HEAD], kind)
    _note(cache_path, {"checked": time.time()} if found is None else
          {"serial": found, "confirmed": time.time()})
    return found, True


def confirmed(path: Optional[str]) -> Optional[tuple[str, float]]:
    """(the serial, when the index last declared it) as kept at ``path`` by ``ask``: within a
    ttl of that, a reader takes it without asking, and every page kept under it is current
    (so a farm node's window restarts with each check, not only with each publish)."""
    doc = _kept(path)
    found, when = doc.get("serial"), doc.get("confirmed")
    if is_serial(found) and isinstance(when, (int, float)) and not isinstance(when, bool):
        return found, float(when)
    return None


def _checked_without(path: Optional[str]) -> Optional[float]:
    """When the index was last found without a serial, if it was."""
    checked = _kept(path).get("checked")
    return float(checked) if isinstance(checked, (int, float)) else None


def _kept(path: Optional[str]) -> dict:
    """What ``ask`` last noted at ``path`` ({} for nothing usable)."""
    try:
        with open(path or "", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _note(path: Optional[str], record: dict) -> None:
    """Note what ``ask`` found at ``path``; a store that cannot be written: asked again."""
    from rezwheel.atomic import keep

    if path:
        keep(path, json.dumps(record).encode())
