"""What ``rezdef`` checks once per process: a pure check of a value passed for one value passes
for any identical value.

A cold resolve reads a thousand definitions, and the versions of a family (often all families)
share most attribute values: commands, descriptions, tools, authors, requirements. rez's schema
check costs a third of a millisecond per definition; a requirement, a parse. The memo is keyed
by an exact canonical form of the value (``canonical``: types and contents, every level, so
``1`` / ``True`` / ``1.0`` or two functions with different sources never share an entry); a
value it cannot spell exactly is checked every time. Only passes are kept (a refusal is checked
again, to say why), and at most ``LIMIT`` of them: past that the memo starts again.
"""

from __future__ import annotations

import threading
from typing import Any, Hashable, Optional

LIMIT = 8192
_passed: dict[Hashable, None] = {}
_lock = threading.Lock()


def canonical(value: Any, depth: int = 0) -> Optional[Hashable]:
    """A hashable form equal only for identical values (type and content), or None when the
    value holds something this does not know how to spell exactly."""
    if depth > 50:
        return None
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return (kind.__name__, value)
    if kind is float:
        return ("float", value.hex())  # exact: -0.0 and 0.0 differ, every nan alike
    if kind in (list, tuple):
        items = tuple(canonical(v, depth + 1) for v in value)
        return None if None in items else (kind.__name__, items)
    if kind is dict:
        pairs = tuple((canonical(k, depth + 1), canonical(v, depth + 1))
                      for k, v in value.items())
        return None if any(None in p for p in pairs) else ("dict", pairs)
    from rez.utils.sourcecode import SourceCode

    if kind is SourceCode and value.func is None and value.package is None:
        state = canonical(sorted(vars(value).items()), depth + 1)
        return None if state is None else ("SourceCode", state)
    return None


def passed(key: Optional[Hashable]) -> bool:
    """Whether the check named by ``key`` (its name and the canonical value) passed before."""
    return key is not None and key in _passed


def remember(key: Optional[Hashable]) -> None:
    if key is None:
        return
    with _lock:
        if len(_passed) >= LIMIT:
            _passed.clear()
        _passed[key] = None
