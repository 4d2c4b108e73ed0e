"""One place that makes HTTP sessions: timeouts always, retries only where they are safe.

GET and HEAD retry with backoff on 429/502/503/504 and connection errors, honouring
``Retry-After``. Uploads are never retried here: the caller looks the file up first (a lost answer
does not mean a lost upload). URLs are printed through ``redact``.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import requests
import requests.auth
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import __version__

TIMEOUT = (10, 120)  # connect, read
RETRY_STATUS = (429, 502, 503, 504)
USER_AGENT = f"rezwheel/{__version__}"


class _TimeoutSession(requests.Session):
    def request(self, method: str, url: Any, **kw: Any) -> requests.Response:  # type: ignore[override]
        kw.setdefault("timeout", TIMEOUT)
        return super().request(method, url, **kw)


def make_session(pool: int = 10, retries: int = 5, backoff: float = 0.5) -> requests.Session:
    s = _TimeoutSession()
    retry = Retry(total=retries, connect=retries, read=retries, status=retries,
                  backoff_factor=backoff, status_forcelist=RETRY_STATUS,
                  allowed_methods=frozenset({"GET", "HEAD"}), respect_retry_after_header=True,
                  raise_on_status=False)
    adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = USER_AGENT
    return s


class HeaderAuth(requests.auth.AuthBase):
    """Fixed credential headers, given as ``auth`` so requests neither overrides them with
    ``~/.netrc`` nor replays them to another host on a redirect."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers.update(self._headers)
        return r

    def __repr__(self) -> str:
        return "HeaderAuth(***)"


def redact(url: str) -> str:
    """A URL with any user information replaced, fit for logs and errors."""
    return re.sub(r"(?<=://)[^/@\s]*@", "***@", url)


def retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, min(float(value), 300.0))
    except ValueError:
        return default


def describe(response: requests.Response, url: Optional[str] = None) -> str:
    """``HTTP 403 from URL: message`` with the server's JSON error text when it sends one."""
    text = ""
    try:
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors and isinstance(errors, list):
            text = str(errors[0].get("message", ""))
        elif isinstance(body, dict):
            text = str(body.get("message", body.get("detail", "")))
    except ValueError:
        text = response.text.strip().splitlines()[0] if response.text.strip() else ""
    text = " ".join(text.split())[:200]
    where = redact(url or response.url)
    return f"HTTP {response.status_code} from {where}" + (f": {text}" if text else "")
