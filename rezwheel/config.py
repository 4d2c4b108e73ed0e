"""The rezwheel config file: named indexes shared by CI (publish) and rez (the plugin).

TOML at ``$REZWHEEL_CONFIG``, else ``<user config dir>/rezwheel/config.toml``::

    [index.studio]
    upload-url = "https://artifactory.example/artifactory/api/pypi/rez"
    index-url = "https://artifactory.example/artifactory/api/pypi/rez/simple/"
    type = "artifactory"        # artifactory | pypi | devpi | local
    token = "..."               # optional; the file must then be private (mode 600)
    trust-code = false          # may definitions from it run code while resolving? (no)
    files-hosts = []            # other origins its pages may link files to (no credentials)
    ttl = 0                     # seconds a page read is taken as fresh without asking (farm: 300)

Every value is checked for its type here, so a mistake is one line naming the file and key.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from rezwheel.errors import RezwheelError

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
    trust_code: bool = False
    files_hosts: tuple = ()
    ttl: float = 0.0  # seconds a page read is fresh without a request (readers only)

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
    if os.path.isdir(path):  # as ``--config DIR`` says it (open() said "[Errno 21]")
        named = "$REZWHEEL_CONFIG " if path == os.environ.get("REZWHEEL_CONFIG") else ""
        raise ConfigError(f"{named}{path}: is a directory, not a file")
    if sys.version_info >= (3, 11):  # read only when there is a file (most farm nodes have none)
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
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


_KEYS: dict[str, type] = {"upload-url": str, "index-url": str, "url": str, "type": str,
                          "token": str, "username": str, "password": str, "keyring": bool,
                          "trust-code": bool, "files-hosts": list, "urls": list, "ttl": float}

#: the kinds of value above, as a person reads them in an error
_KINDS = {str: "a string", bool: "true or false", list: "a list",
          float: "a number of seconds"}


#: what a person writes for a number (``int()`` and ``float()`` also take ``1_000``, `` 5 ``,
#: ``+5``, ``1e3``, ``inf`` and other scripts' digits such as ``٥``): ASCII digits only, and
#: for a decimal one point between digits
_WHOLE = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def number(value: object, whole: bool = False) -> "Optional[float]":
    """``value`` as a number, 0 or more and finite, else None: the one rule for every number
    rezwheel is given as text (options, environment, config). Text must be plain ASCII
    digits (``whole``), or digits with one decimal point (``2.5``, ``.5``); a number already
    typed (TOML, a rezconfig) must be finite, and integral when ``whole``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not (_WHOLE if whole else _DECIMAL).fullmatch(value):
            return None
        parsed = int(value) if whole else float(value)
        return parsed if parsed < float("inf") else None  # 400 digits: float() says inf
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and 0 <= value < float("inf") and (
            not whole or value.is_integer()):
        return int(value) if whole else value
    return None


def seconds(value: object) -> Optional[float]:
    """``value`` (a number, or its text) as a number of seconds, 0 or more and finite, else
    None: the one rule for every ttl, wherever it is set (nan or inf: a node that never looks
    again)."""
    s = number(value)
    return None if s is None else float(s)


def index_entry(name: str, config: dict) -> Optional[dict]:
    """The ``[index.NAME]`` table, its values checked for type (one line naming the key)."""
    table = config.get("index", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{config_path()}: 'index' must be a table of named indexes")
    entry = table.get(name)
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise ConfigError(f"{config_path()}: index {name!r} must be a table")
    for key, value in entry.items():
        want = _KEYS.get(key)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = entry[key] = float(value)  # TOML's 300 is an int
        if want is float and isinstance(value, float) and seconds(value) is None:
            raise ConfigError(f"{config_path()}: index {name!r}: {key} must be a number of "
                              f"seconds, 0 or more, not {value!r}")
        if want is not None and not isinstance(value, want):
            raise ConfigError(f"{config_path()}: index {name!r}: {key} must be "
                              f"{_KINDS[want]}, not {type(value).__name__}")
        if want is list and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{config_path()}: index {name!r}: {key} must list strings")
    return entry


_ARTIFACTORY_API = "/api/pypi/"


def is_artifactory(url: str) -> bool:
    """Artifactory's PyPI API lives under ``/api/pypi/<repo>``: the one place that decides."""
    return _ARTIFACTORY_API in url


def artifactory_storage(url: str) -> Optional[str]:
    """The storage URL of the Artifactory repository whose PyPI API ``url`` is under
    (``…/artifactory/api/pypi/<repo>[/simple/…]`` -> ``…/artifactory/<repo>``), else None.

    Storage paths answer what the PyPI API does not: the sha256 of a file uploaded but not
    yet listed, and the definitions bundles deployed beside the files (``index.bundle``)."""
    parts = urlsplit(url)
    head, api, rest = parts.path.partition(_ARTIFACTORY_API)
    repo = rest.split("/", 1)[0]
    if not (api and repo):
        return None
    return f"{parts.scheme}://{parts.netloc}{head}/{repo}"


def artifactory_storage_url(upload_url: str, project: str, version: str, filename: str) -> str:
    """Where Artifactory stores an uploaded file (its storage paths answer HEAD with the
    sha256 before the index lists the file): ``…/artifactory/api/pypi/<repo>`` ->
    ``…/artifactory/<repo>/<project>/<version>/<filename>``. An upload URL not under the PyPI
    API (``type = "artifactory"`` set by hand) is taken as the storage URL itself."""
    root = artifactory_storage(upload_url) or upload_url.rstrip("/")
    return f"{root}/{project}/{version}/{filename}"


def guess_type(url: str) -> str:
    if "://" not in url or url.startswith("file://"):
        return "local"
    if is_artifactory(url):
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


def resolve_target(target: str, config: Optional[dict] = None,
                   upload: bool = True) -> IndexConfig:
    """A ``--to`` value (directory, URL or configured name) as an IndexConfig.

    ``upload=False``: for reading only. A named index with an ``index-url`` and no upload URL
    is a read-only index (a site mirror served over HTTP): readers take it, publish refuses it.
    """
    want_upload = upload
    config = load_config() if config is None else config
    named = index_entry(target, config)
    if named is not None:
        upload = named.get("upload-url") or named.get("url") or ""
        kind = named.get("type") or guess_type(upload or named.get("index-url", ""))
        if kind not in TYPES:
            raise ConfigError(f"{config_path()}: index {target!r}: unknown type {kind!r}")
        if kind == "local":
            upload = os.path.expanduser(upload or named.get("index-url", ""))
            if "://" in upload and not upload.startswith("file://"):
                raise ConfigError(f"{config_path()}: index {target!r}: type 'local' is a "
                                  f"directory, not {upload!r} (leave type out for a URL)")
            upload = upload[len("file://"):] if upload.startswith("file://") else upload
        if not upload and (want_upload or not named.get("index-url")):
            raise ConfigError(f"index {target!r} is read-only (no upload-url in "
                              f"{config_path()}): nothing can be published to it"
                              if named.get("index-url") else
                              f"{config_path()}: index {target!r} has no upload-url or index-url")
        return IndexConfig(target, upload, named.get("index-url") or index_url_for(upload, kind),
                           kind, named.get("token"), named.get("username"), named.get("password"),
                           bool(named.get("keyring", False)), bool(named.get("trust-code", False)),
                           tuple(named.get("files-hosts") or ()), float(named.get("ttl", 0.0)))
    kind = guess_type(target)
    if kind == "local":
        path = target[len("file://"):] if target.startswith("file://") else target
        return IndexConfig(None, path, path, "local")
    return IndexConfig(None, target, index_url_for(target, kind), kind)
