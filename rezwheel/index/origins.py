"""What a URL's credentials and links are bound to: its origin (scheme, host, port).

Apart from ``index.http`` so that deciding whether a URL is the index's own costs no import of
``requests``: a warm resolve within the ttl sends nothing and should load nothing to send it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL: what credentials and links are bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port
