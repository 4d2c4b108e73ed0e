"""One place that makes HTTP sessions: timeouts and deadlines always, retries only where they
are safe, credentials only to the origin they belong to.

- GET and HEAD retry (at most ``retries`` times) with backoff on 429/502/503/504 and connection
  errors, honouring ``Retry-After`` up to a cap (``limits.retry-after-max``). Uploads are never
  retried here: the caller looks the file up first (a lost answer does not mean a lost upload).
- A socket timeout is per read, so a server dripping one byte every second never trips it:
  ``deadline()`` bounds a whole exchange (headers and body) by shutting the sockets it opened
  down when time is up, and says so in one line naming the URL.
- A session belongs to one index: its credentials go only to that index's origin (scheme, host,
  port), never to a host a page links to, and a redirect to an origin that is neither the
  index's nor one of its configured files hosts is refused. ``~/.netrc`` is read by the
  credential providers, never by requests behind their back.
- Messages go through ``redact``/``scrub``: no secret in a URL, error or echoed server text.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import urljoin

import requests
import requests.auth
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from rezwheel import __version__, limits
from rezwheel.errors import RezwheelError, Unreachable
from rezwheel.index.origins import origin  # noqa: F401  (the index modules' one rule)
from rezwheel.redaction import redact, scrub
from rezwheel.timers import Timer, call_later

TIMEOUT = (10, 60)  # connect, per read
RETRY_STATUS = (429, 502, 503, 504)
USER_AGENT = f"rezwheel/{__version__}"

__all__ = ["make_session", "OriginAuth", "deadline", "read_body", "raw_chunks", "describe",
           "failure",
           "origin", "redact", "scrub", "retry_after"]


class HTTPFailure(RezwheelError):
    """A request that got no usable answer: refused redirect, deadline, size cap, dead server."""


class RedirectRefused(HTTPFailure):
    """A redirect to an origin that is neither the index's nor a configured files host. For a
    file the index may not hold (a snapshot, a bundle), it means none is there: pypiserver
    sends every name it does not know to pypi.org."""


class Unreached(HTTPFailure, Unreachable):
    """No answer at all (connection refused, reset, timed out): the index or the network is
    down; not the file's doing, so a definition read that met it is not an unfit package."""


# -- deadlines: a watchdog that shuts down the sockets of an exchange that ran out of time
_local = threading.local()


class _Watch:
    def __init__(self) -> None:
        self.socks: list[socket.socket] = []
        self.expired = False
        self.lock = threading.Lock()

    def add(self, sock: socket.socket) -> None:
        with self.lock:
            if self.expired:
                _shut(sock)
            else:
                self.socks.append(sock)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            for s in self.socks:
                _shut(s)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Watched:
    def getresponse(self, *a: Any, **kw: Any) -> Any:
        watch = getattr(_local, "watch", None)
        if watch is not None and getattr(self, "sock", None) is not None:
            watch.add(self.sock)  # type: ignore[attr-defined]
        return super().getresponse(*a, **kw)  # type: ignore[misc]


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = type("WatchedHTTPConnection", (_Watched, HTTPConnection), {})


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = type("WatchedHTTPSConnection", (_Watched, HTTPSConnection), {})


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *a: Any, **kw: Any) -> None:
        super().init_poolmanager(*a, **kw)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


@contextmanager
def deadline(url: str, seconds: Optional[float] = None,
             progress: Optional[Callable[[], int]] = None) -> Iterator[None]:
    """Bound one exchange (connect, headers, body) in time; one line naming the URL past it.

    ``progress``: bytes received so far, for payloads: past the deadline the download goes on
    while it averages ``limits.http-min-rate`` bytes per second, and is cut once it does not.
    """
    seconds = float(limits.get("http-deadline")) if seconds is None else seconds
    watch, previous, start = _Watch(), getattr(_local, "watch", None), time.monotonic()
    timers: list[Timer] = []
    min_rate = float(limits.get("http-min-rate"))

    def fire() -> None:
        if progress is not None and progress() >= min_rate * (time.monotonic() - start):
            arm(min(5.0, seconds))  # still moving fast enough: look again later
        else:
            watch.expire()

    def arm(after: float) -> None:
        timers.append(call_later(after, fire))

    arm(seconds)
    _local.watch = watch
    try:
        yield
    except Exception:
        if watch.expired:
            raise HTTPFailure(_too_slow(url, seconds, progress)) from None
        raise
    finally:
        _local.watch = previous
        for t in timers:
            t.cancel()
    if watch.expired:  # the sockets were cut: what was read may look complete but is not
        raise HTTPFailure(_too_slow(url, seconds, progress))


def _too_slow(url: str, seconds: float, progress: Optional[Callable[[], int]]) -> str:
    if progress is None:
        return f"{redact(url)}: no complete answer within {seconds:g} s (REZWHEEL_HTTP_DEADLINE)"
    return (f"{redact(url)}: download slower than {limits.get('http-min-rate')} bytes/s "
            "(REZWHEEL_HTTP_MIN_RATE)")


def read_body(r: requests.Response, url: str, cap: int, what: str, knob: str) -> bytes:
    """A streamed response's body, refused past ``cap`` bytes (declared or actual)."""
    declared = r.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        r.close()
        raise HTTPFailure(f"{redact(url)}: {what} of {int(declared)} bytes is larger than the "
                          f"limit {cap} ({knob})")
    buf = bytearray()
    for chunk in r.iter_content(1 << 16):
        buf += chunk
        if len(buf) > cap:
            r.close()
            raise HTTPFailure(f"{redact(url)}: {what} is larger than the limit {cap} ({knob})")
    return bytes(buf)


def raw_chunks(r: requests.Response, size: int) -> Iterator[bytes]:
    """A streamed body as sent (``Content-Encoding`` left alone), its transport errors
    raised as requests' own, as ``iter_content`` raises them."""
    from urllib3.exceptions import ProtocolError, ReadTimeoutError, SSLError

    try:
        yield from r.raw.stream(size, decode_content=False)
    except ProtocolError as e:
        raise requests.exceptions.ChunkedEncodingError(e) from None
    except ReadTimeoutError as e:
        raise requests.exceptions.ConnectionError(e) from None
    except SSLError as e:
        raise requests.exceptions.SSLError(e) from None


def failure(e: BaseException, url: str) -> HTTPFailure:
    """A requests exception as one line naming the URL (never its secret)."""
    if isinstance(e, HTTPFailure):
        return e
    kinds = [(requests.TooManyRedirects, "too many redirects"),
             (requests.ConnectTimeout, "connection timed out"),
             (requests.ReadTimeout, "read timed out"),
             (requests.exceptions.ChunkedEncodingError, "broken chunked answer"),
             (requests.exceptions.ContentDecodingError, "undecodable answer"),
             (requests.exceptions.InvalidURL, "invalid URL"),
             (requests.exceptions.InvalidSchema, "unsupported URL scheme"),
             (requests.ConnectionError, "connection failed")]
    kind = next((k for cls, k in kinds if isinstance(e, cls)), type(e).__name__)
    if isinstance(e, requests.ConnectionError) and not isinstance(
            e, (requests.exceptions.ChunkedEncodingError, requests.exceptions.SSLError)):
        return Unreached(f"{redact(url)}: {kind}")
    return HTTPFailure(f"{redact(url)}: {kind}")


# -- sessions
class _Retry(Retry):
    def parse_retry_after(self, retry_after: str) -> float:
        """Capped; an unreadable value is none (the usual backoff): urllib3 raises on it,
        and the request then failed as 'InvalidHeader' instead of saying its status."""
        from urllib3.exceptions import InvalidHeader

        try:
            seconds = super().parse_retry_after(retry_after)
        except (InvalidHeader, ValueError, OverflowError):
            return 0.0
        return min(seconds, float(limits.get("retry-after-max")))


class _Session(requests.Session):
    """Timeouts always; redirects only within the allowed origins; no netrc behind our back."""

    redirect_origins: set = set()

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict = {}
        self._settings_lock = threading.Lock()

    def request(self, method: str, url: Any, **kw: Any) -> requests.Response:  # type: ignore[override]
        kw.setdefault("timeout", TIMEOUT)
        return super().request(method, url, **kw)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict:
        """requests scans the whole environment for proxies and CA bundles on every request (a
        good part of what a warm resolve's revalidations cost): the answer for an origin does
        not change for the life of a session, so it is worked out once per origin."""
        key = (origin(str(url)), repr(sorted((proxies or {}).items())), stream, repr(verify),
               repr(cert))
        with self._settings_lock:
            found = self._settings.get(key)
        if found is None:
            found = super().merge_environment_settings(url, dict(proxies or {}), stream, verify,
                                                       cert)
            with self._settings_lock:
                self._settings[key] = found
        return dict(found, proxies=dict(found.get("proxies") or {}))

    def get_redirect_target(self, resp: requests.Response) -> Optional[str]:
        target = super().get_redirect_target(resp)
        if target:
            absolute = urljoin(resp.url, target)
            there = origin(absolute)
            if there != origin(resp.url) and there not in self.redirect_origins:
                resp.close()
                raise RedirectRefused(f"{redact(resp.url)}: redirect to another origin "
                                  f"({_printable(redact(absolute))[:300]}) refused")
        return target

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        # requests strips Authorization when the host changes; it would then add ~/.netrc's
        # entry for the new host, which is exactly what must not happen here
        headers = prepared_request.headers
        if "Authorization" in headers and self.should_strip_auth(
                response.request.url, prepared_request.url):
            del headers["Authorization"]


def make_session(pool: int = 10, retries: int = 5, backoff: float = 0.5,
                 origins: Iterable[str] = ()) -> requests.Session:
    """``origins``: URLs whose origins redirects may lead to besides the one asked."""
    s = _Session()
    s.redirect_origins = {origin(u) for u in origins}
    s.max_redirects = 5
    retry = _Retry(total=retries, connect=retries, read=retries, status=retries,
                   backoff_factor=backoff, status_forcelist=RETRY_STATUS,
                   allowed_methods=frozenset({"GET", "HEAD"}), respect_retry_after_header=True,
                   raise_on_status=False)
    adapter = _Adapter(pool_connections=pool, pool_maxsize=pool, max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = USER_AGENT
    s.auth = OriginAuth({}, ())  # even anonymous: stops requests from reading ~/.netrc
    return s


class OriginAuth(requests.auth.AuthBase):
    """Credential headers for the index's own origins only: a page may link anywhere, and
    requests would otherwise send session-wide auth to every URL it is handed."""

    def __init__(self, headers: dict[str, str], urls: Iterable[str]) -> None:
        self._headers = headers
        self._origins = {origin(u) for u in urls}

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._headers and origin(r.url or "") in self._origins:
            r.headers.update(self._headers)
        return r

    def __repr__(self) -> str:
        return "OriginAuth(***)"


def retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, min(float(value), float(limits.get("retry-after-max"))))
    except ValueError:
        return default


def describe(response: requests.Response, url: Optional[str] = None,
             credentials: Optional[str] = None) -> str:
    """``HTTP 403 Forbidden from URL: message (credentials from $X)``: the status text, a JSON
    error message when the server sends one (Artifactory's ``errors``), never an HTML page."""
    text = ""
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = json.loads(_error_body(response))
            errors = body.get("errors") if isinstance(body, dict) else None
            if errors and isinstance(errors, list) and isinstance(errors[0], dict):
                text = str(errors[0].get("message", ""))
            elif isinstance(body, dict):
                text = str(body.get("message", body.get("detail", "")))
        except (ValueError, RecursionError):
            text = ""
    text = scrub(_printable(" ".join(text.split()))[:200])
    reason = _phrase(response.status_code) or \
        scrub(_printable(" ".join(str(response.reason or "").split()))[:40])
    where = redact(url or response.url)
    sent = f" ({credentials})" if credentials else ""
    return f"HTTP {response.status_code} {reason} from {where}" + (f": {text}" if text else "") \
        + sent


def _printable(text: str) -> str:
    """Server text without control characters (ESC sequences would drive the terminal)."""
    return "".join(c for c in text if c.isprintable())


ERROR_BODY_CAP = 64 << 10  # an error message is a line or two: no more is read for one


def _error_body(response: requests.Response) -> bytes:
    """At most ``ERROR_BODY_CAP`` bytes of an error answer's body (b"" past that): a streamed
    403 may run on for gigabytes, and ``response.json()`` would hold all of it."""
    try:
        chunk = next(response.iter_content(ERROR_BODY_CAP + 1), b"")
    except (requests.RequestException, OSError, RuntimeError, StopIteration):
        return b""
    return chunk if isinstance(chunk, bytes) and len(chunk) <= ERROR_BODY_CAP else b""


def _phrase(status: int) -> str:
    try:
        return http.client.responses[status]
    except KeyError:
        return ""
