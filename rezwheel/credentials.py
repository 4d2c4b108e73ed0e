"""Credentials for an index, from providers tried in order; the first that has some wins.

1. explicit config (``token`` or ``username``/``password`` of a named index);
2. environment: ``REZWHEEL_<NAME>_TOKEN``, ``REZWHEEL_<NAME>_USERNAME``/``_PASSWORD`` for a named
   index; the unnamed ``REZWHEEL_TOKEN`` / ``REZWHEEL_USERNAME``/``REZWHEEL_PASSWORD`` only for an
   index given by URL (a named index never borrows them: they were meant for another server);
3. ``~/.netrc`` (or ``$NETRC``) by host;
4. keyring (``pip install rezwheel[keyring]``), service = the URL's host, when enabled with
   ``keyring = true`` on the named index or ``REZWHEEL_KEYRING=1``: a keyring backend costs
   50-100 ms to start and may try to unlock a desktop wallet, which a CI host must not wait on;
5. third-party providers registered under the entry-point group ``rezwheel.credentials``: a
   callable ``provider(name, url) -> Credential | None`` (a farm host can plug its vault in).

Credentials written into an index URL (``https://__token__:T@host/…``) are taken out of the URL
where it enters (``split_url``) and then treated like any other. A Credential never renders its
secret (repr, str), and every secret handed out is remembered by ``redaction`` so that no message
shows it, even echoed back by a server.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional
from urllib.parse import unquote, urlsplit, urlunsplit

from rezwheel.config import IndexConfig
from rezwheel.redaction import get_logger, remember, remember_basic

log = get_logger(__name__)
ENTRY_POINT_GROUP = "rezwheel.credentials"


@dataclass(frozen=True)
class Credential:
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    token: Optional[str] = field(default=None, repr=False)
    source: str = ""

    def __str__(self) -> str:
        return f"credentials from {self.source}"

    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.token) if s]

    def headers(self, kind: str) -> dict[str, str]:
        """Artifactory access tokens go as Bearer; everything else as basic auth."""
        import base64

        if self.token and kind == "artifactory" and not self.username:
            return {"Authorization": f"Bearer {self.token}"}
        raw = base64.b64encode(":".join(self.basic()).encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    def basic(self) -> tuple[str, str]:
        """(user, secret) for basic auth: a bare token goes as ``__token__``'s password."""
        return self.username or ("__token__" if self.token else ""), \
            self.token or self.password or ""


Provider = Callable[[Optional[str], str], Optional[Credential]]


def _env_key(name: Optional[str]) -> str:
    return "REZWHEEL_" + (re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_" if name else "")


def from_config(cfg: IndexConfig) -> Optional[Credential]:
    if cfg.token or cfg.password:
        return Credential(cfg.username, cfg.password, cfg.token, "config")
    return None


def split_url(url: str) -> tuple[str, Optional[Credential]]:
    """An index URL without user information, and the credential it carried (if any), whose
    secret is scrubbed from every message from now on."""
    clean, cred = _split_url(url)
    if cred:
        _remember(cred)
    return clean, cred


def _split_url(url: str) -> tuple[str, Optional[Credential]]:
    try:
        parts = urlsplit(url)
    except ValueError as e:  # http://[::1 and the like: said where the URL enters
        from rezwheel.errors import UsageError
        from rezwheel.redaction import redact

        raise UsageError(f"{redact(url)}: not a URL ({e})") from None
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, sep, secret = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=host))
    user, secret = unquote(user), unquote(secret)
    if not sep:  # a bare token as the user part
        return clean, Credential(None, None, user or None, "the index URL") if user else None
    token = secret if user == "__token__" else None
    return clean, Credential(None if token else user, None if token else secret, token,
                             "the index URL")


def from_env(name: Optional[str], url: str) -> Optional[Credential]:
    for prefix in [_env_key(name) if name else _env_key(None)]:
        token = os.environ.get(prefix + "TOKEN")
        user = os.environ.get(prefix + "USERNAME")
        password = os.environ.get(prefix + "PASSWORD")
        if token:
            return Credential(user, None, token, f"${prefix}TOKEN")
        if password:
            return Credential(user, password, None, f"${prefix}PASSWORD")
    return None


def from_netrc(name: Optional[str], url: str) -> Optional[Credential]:
    import netrc

    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    host = urlsplit(url).hostname
    if not host or not os.path.exists(path):
        return None
    try:
        auth = netrc.netrc(path).authenticators(host)
    except (netrc.NetrcParseError, OSError) as e:
        log.warning("%s: ignored: %s", path, getattr(e, "msg", e))
        return None
    if not auth:
        return None
    login, _, password = auth
    return Credential(login or None, password, None, "netrc")


def from_keyring(name: Optional[str], url: str) -> Optional[Credential]:
    try:
        import keyring
    except ImportError:
        return None
    host = urlsplit(url).hostname or url
    try:
        cred = keyring.get_credential(host, None)
    except Exception:  # a misconfigured backend must not stop a publish that needs no keyring
        return None
    if cred is None or not cred.password:
        return None
    return Credential(cred.username or None, cred.password, None, "keyring")


def _entry_point_providers() -> Iterable[tuple[str, Provider]]:
    from importlib.metadata import entry_points

    try:
        eps = entry_points(group=ENTRY_POINT_GROUP)
    except TypeError:  # Python 3.9
        eps = entry_points().get(ENTRY_POINT_GROUP, [])  # type: ignore[attr-defined]
    for ep in sorted(eps, key=lambda e: e.name):
        try:
            yield ep.name, ep.load()
        except Exception as e:
            log.warning("credential provider %s cannot be loaded: %s", ep.name, type(e).__name__)


def find_credentials(cfg: IndexConfig) -> Optional[Credential]:
    """The first credentials any provider has for this index, or None (anonymous)."""
    found = _find(cfg)
    if found:
        _remember(found)
    return found


def _remember(cred: Credential) -> None:
    remember(*cred.secrets())
    user, secret = cred.basic()
    if secret:
        remember_basic(user, secret)


def _find(cfg: IndexConfig) -> Optional[Credential]:
    found = from_config(cfg)
    if found:
        return found
    providers: list[Provider] = [from_env, from_netrc]
    if cfg.keyring or os.environ.get("REZWHEEL_KEYRING") == "1":
        providers.append(from_keyring)
    for provider in providers:
        found = provider(cfg.name, cfg.upload_url)
        if found:
            return found
    for ep_name, provider in _entry_point_providers():
        try:
            found = provider(cfg.name, cfg.upload_url)
        except Exception as e:
            log.warning("credential provider %s failed: %s", ep_name, type(e).__name__)
            continue
        if found:
            return Credential(found.username, found.password, found.token,
                              found.source or f"provider {ep_name}")
    return None
