"""Caps on what an index or an artifact may make rezwheel read, hold or wait for.

Every value from an index is attacker-controlled until checked, and so are sizes and timing: a
page of 100 MB, a 200 MB ``rez-package.py`` declared in a 200 KB wheel, a server that drips one
byte every two seconds. Each cap is an environment variable, or a key of the config file's
``[limits]`` table (same name, lower case, dashes: ``max-page-bytes = 67108864``); the
environment wins. Read when used, so a test or a long-lived rez process sees a change.
"""

from __future__ import annotations

import math
import os
from typing import Callable, Union

DEFAULTS: dict[str, Union[int, float]] = {
    "max-page-bytes": 32 << 20,       # one index page (HTML or JSON)
    "max-snapshot-bytes": 128 << 20,  # an index's snapshot (every page and bundle, one file)
    "max-page-links": 20000,          # files listed on one project page
    "max-dist-info-bytes": 8 << 20,   # rez-package.py, rez-layout.json, METADATA, RECORD, sidecar
    "max-definition-bytes": 256 << 10,  # one rez-package.py parsed (~9 s of CPU a MiB at worst)
    "max-prefetch": 64,               # versions of a family, or families along a hint, read ahead
    "max-list-projects": 5000,        # projects an index may list for `rez search` to list all
    "http-deadline": 60.0,            # seconds for one page / metadata / range read, in all
    "http-min-rate": 16384,           # bytes/s a payload download must average past the deadline
    "retry-after-max": 10.0,          # seconds of Retry-After honoured, at most
    "pip-timeout": 600.0,             # seconds pip may take to resolve plain PyPI projects
    "max-unpacked": 64 << 30,         # an artifact's unpacked size, and a download's size
}

#: other settings the environment gives as numbers, checked with the caps (``check``): what
#: each must be, and the test
NUMBERS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "REZWHEEL_JOBS": ("a whole number above 0", lambda raw: (_number(raw, True) or 0) >= 1),
    "SOURCE_DATE_EPOCH": ("a whole number of seconds since 1970, 0 or more",
                          lambda raw: _number(raw, True) is not None),
    "REZWHEEL_TTL": ("a number of seconds, 0 or more", lambda raw: _number(raw) is not None),
}


_config_limits: "dict | None" = None


def _number(raw: object, whole: bool = False) -> "float | None":
    """The one rule for a number given as text (``config.number``: plain ASCII digits)."""
    from rezwheel.config import number

    return number(raw, whole)


def _from_config() -> dict:
    global _config_limits
    if _config_limits is None:
        try:
            from rezwheel.config import load_config

            table = load_config().get("limits") or {}
            _config_limits = table if isinstance(table, dict) else {}
        except Exception:  # a broken config file is reported where it is read for indexes
            _config_limits = {}
    return _config_limits


def _raw(name: str) -> tuple[object, str]:
    """A cap's value as set, and where: the environment wins over the config file."""
    env = "REZWHEEL_" + name.upper().replace("-", "_")
    raw = os.environ.get(env)
    if raw is not None:
        return raw, "$" + env
    return _from_config().get(name), f"{name} under [limits] in the config file"


def _parsed(name: str, raw: object) -> Union[int, float, None]:
    """``raw`` as the cap's type when it is a positive finite number, else None."""
    value = _number(raw, whole=isinstance(DEFAULTS[name], int))
    if value is None or not 0 < value < math.inf:
        return None
    return type(DEFAULTS[name])(value)


def get(name: str) -> Union[int, float]:
    """The cap ``name`` (a key of DEFAULTS): environment, then config file, then default."""
    raw, _ = _raw(name)
    value = None if raw is None else _parsed(name, raw)
    return DEFAULTS[name] if value is None else value


def check() -> None:
    """Refuse a cap, or another number the environment gives (``NUMBERS``), set to something
    that is not one, naming where it was set: a typo in a safety limit must not quietly become
    the default, nor fail every package alike (the CLI and the rez plugin ask first)."""
    from rezwheel.errors import UsageError

    unknown = sorted(str(k) for k in _from_config() if k not in DEFAULTS)
    if unknown:  # a misspelt cap is no cap
        raise UsageError(f"{unknown[0][:40]!r} under [limits] in the config file: no such "
                         f"limit (known: {', '.join(DEFAULTS)})")
    for name in DEFAULTS:
        raw, where = _raw(name)
        if raw is not None and _parsed(name, raw) is None:
            whole = isinstance(DEFAULTS[name], int)
            raise UsageError(f"{where}: {str(raw)[:40]!r} is not "
                             f"{'a whole number' if whole else 'a number'} above 0 "
                             f"{WRITTEN[whole]}")
    for env, (kind, fits) in NUMBERS.items():
        raw = os.environ.get(env)
        if raw and not fits(raw):
            raise UsageError(f"${env}: {raw[:40]!r} is not {kind} "
                             f"{WRITTEN['whole' in kind]}")


#: how a number must be written, said with a refusal (``1_000`` or `` 5 `` look fine to a person)
WRITTEN = {True: "(plain digits 0-9)", False: "(plain digits 0-9, one '.' at most)"}
