"""Keeping secrets out of every message: URLs lose their user information, and any secret a
credential provider handed out is replaced wherever it shows up, server text echoed back
included (a server may quote the Authorization header it refused)."""

from __future__ import annotations

import base64
import logging
import re
import threading
from urllib.parse import quote

_lock = threading.Lock()
_secrets: set[str] = set()


def remember(*secrets: str) -> None:
    """Secrets to scrub from messages from now on (with their URL-quoted and basic-auth forms)."""
    with _lock:
        for s in secrets:
            if s and len(s) >= 4:  # a 1-3 character "secret" would blank out ordinary words
                _secrets.update({s, quote(s, safe=""), quote(s)})


def remember_basic(user: str, secret: str) -> None:
    """The base64 form of a basic-auth pair, as it travels in the Authorization header."""
    remember(secret, base64.b64encode(f"{user}:{secret}".encode()).decode())


def redact(url: str) -> str:
    """A URL with any user information replaced, fit for logs and errors."""
    return scrub(re.sub(r"(?<=://)[^/@\s]*@", "***@", url))


def scrub(text: str) -> str:
    """``text`` with every remembered secret replaced by ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def get_logger(name: str) -> logging.Logger:
    """A module's logger whose messages are scrubbed before any handler sees them (rez's
    handlers included: the plugin logs through rez's logging setup)."""
    log = logging.getLogger(name)
    if not any(isinstance(f, _ScrubFilter) for f in log.filters):
        log.addFilter(_ScrubFilter())
    return log
