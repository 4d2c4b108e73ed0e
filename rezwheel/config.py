"""The rezwheel config file: named indexes shared by CI (publish) and rez (the plugin).

TOML at ``$REZWHEEL_CONFIG``, else ``<user config dir>/rezwheel/config.toml``::

    [index.studio]
    upload-url = "https://artifactory.example/artifactory/api/pypi/rez"
    index-url = "https://artifactory.example/artifactory/api/pypi/rez/simple/"
    type = "artifactory"        # artifactory | pypi | devpi | local
    token = "..."               # optional; the file must then be private (mode 600)
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from typing import Optional

from .errors import RezwheelError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TYPES = ("artifactory", "pypi", "devpi", "local")
_SECRET_KEYS = ("token", "password")


class ConfigError(RezwheelError):
    exit_code = 2


@dataclass(frozen=True)
class IndexConfig:
    name: Optional[str]
    upload_url: str
    index_url: str
    type: str
    token: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = None
    keyring: bool = False

    def __repr__(self) -> str:  # never show secrets, even in a traceback
        return f"IndexConfig(name={self.name!r}, upload_url={self.upload_url!r}, type={self.type!r})"


def config_path() -> str:
    env = os.environ.get("REZWHEEL_CONFIG")
    if env:
        return env
    from platformdirs import user_config_dir
    return os.path.join(user_config_dir("rezwheel"), "config.toml")


def load_config(path: Optional[str] = None) -> dict:
    path = path or config_path()
    if not os.path.exists(path):
        return {}
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config file: {e}") from None
    has_secret = any(k in (v or {}) for v in data.get("index", {}).values() for k in _SECRET_KEYS)
    if has_secret and os.name == "posix" and os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: holds credentials but is readable by others; "
                          f"run: chmod 600 {path}")
    return data


def guess_type(url: str) -> str:
    if "://" not in url or url.startswith("file://"):
        return "local"
    if "/api/pypi/" in url:
        return "artifactory"
    if "/+simple" in url:
        return "devpi"
    return "pypi"


def index_url_for(upload_url: str, kind: str) -> str:
    """Where the simple index of an upload URL lives, per server kind."""
    base = upload_url.rstrip("/")
    if kind == "artifactory":
        return base + "/simple/"
    if kind == "devpi":
        return base + "/+simple/"
    if base.endswith("/legacy"):
        base = base[: -len("/legacy")]
    return base + "/simple/"


def resolve_target(target: str, config: Optional[dict] = None) -> IndexConfig:
    """A ``--to`` value (directory, URL or configured name) as an IndexConfig."""
    config = load_config() if config is None else config
    named = config.get("index", {}).get(target)
    if named is not None:
        upload = named.get("upload-url") or named.get("url") or ""
        kind = named.get("type") or guess_type(upload or named.get("index-url", ""))
        if kind not in TYPES:
            raise ConfigError(f"{config_path()}: index {target!r}: unknown type {kind!r}")
        if kind == "local":
            upload = os.path.expanduser(upload or named.get("index-url", ""))
        if not upload:
            raise ConfigError(f"{config_path()}: index {target!r} has no upload-url")
        return IndexConfig(target, upload, named.get("index-url") or index_url_for(upload, kind),
                           kind, named.get("token"), named.get("username"), named.get("password"),
                           bool(named.get("keyring", False)))
    kind = guess_type(target)
    if kind == "local":
        path = target[len("file://"):] if target.startswith("file://") else target
        return IndexConfig(None, path, path, "local")
    return IndexConfig(None, target, index_url_for(target, kind), kind)
