"""Where a plugin location points: a URL, a directory, or a name the plugin's ``indexes`` setting
or the rezwheel config file knows (which may list several indexes, read in order), with what
its configuration says about each (credentials' name, trust, files hosts, ttl).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from rezwheel.errors import RezwheelError


@dataclass(frozen=True)
class Where:
    """One index a location points at: ``kind`` "local" (a directory) or "http" (an index URL,
    perhaps with credentials in it), and what its configuration says about it."""
    kind: str
    where: str
    name: Optional[str] = None  # the configured name: its own credentials, never the unnamed
    config: Optional[object] = None  # IndexConfig of a name from the config file
    trust_code: bool = False
    files_hosts: tuple = ()
    ttl: Optional[float] = None  # seconds a page read stays fresh; None: the settings' default


@dataclass
class Settings:
    """The plugin's rez settings (``plugins.package_repository.artifactory``)."""
    indexes: dict = field(default_factory=dict)
    prefix: str = ""
    store: str = ""
    site_path: str = ""
    ttl: float = 0.0  # for every index that sets none itself


def resolve_location(location: str, settings: Settings, name: Optional[str] = None,
                     trust: bool = False, hosts: tuple = (),
                     ttl: Optional[float] = None) -> list[Where]:
    """Where a location points, in the order to read them.

    A location is a URL, a directory, or a name looked up in the plugin's ``indexes`` setting,
    then in the rezwheel config file (the names `rezwheel publish --to` knows). A name may list
    several indexes (``urls = [mirror, upstream]``): they are read in order, file by file.
    """
    if "://" in location:
        if location.startswith("file://"):
            return [Where("local", _index_root(location[len("file://"):]), name, None, trust,
                          hosts, ttl)]
        return [Where("http", location, name, None, trust, hosts, ttl)]
    named = settings.indexes.get(location)
    if named is None:
        from rezwheel.config import index_entry, load_config, resolve_target

        cfg = index_entry(location, load_config())
        if cfg is not None and cfg.get("urls"):
            named = cfg
        elif cfg is not None:
            target = resolve_target(location, upload=False)
            if target.type == "local":
                return [Where("local", target.upload_url, location, target,
                              target.trust_code, target.files_hosts, target.ttl)]
            return [Where("http", target.index_url, location, target, target.trust_code,
                          target.files_hosts, target.ttl)]
    if named is not None:
        if isinstance(named, str):
            urls, trust, hosts = [named], False, ()
        elif isinstance(named, (list, tuple)):
            urls, trust, hosts = list(named), False, ()
        elif hasattr(named, "get"):  # a dict, or rez's read-only wrapper of one
            urls = list(named.get("urls") or [named.get("url")])
            trust = named.get("trust_code", named.get("trust-code", False)) is True
            hosts = tuple(named.get("files_hosts", named.get("files-hosts")) or ())
            ttl = _seconds(named.get("ttl"), f"artifactory@{location}: ttl")
        else:
            raise RezwheelError(f"artifactory@{location}: the setting must be a URL, a list of "
                                "URLs or a table")
        if not urls or not all(isinstance(u, str) and u for u in urls):
            raise RezwheelError(f"artifactory@{location}: no index URL configured")
        return [w for url in urls
                for w in resolve_location(url, Settings(), location, trust, hosts, ttl)]
    if os.path.isdir(os.path.expanduser(location)):
        return [Where("local", _index_root(os.path.expanduser(location)), None, None,
                      trust, hosts, ttl)]
    if location.lower() in ("http", "https", "file"):
        raise RezwheelError(
            f"artifactory@{location}: a URL cut at its first ':' ($REZ_PACKAGES_PATH and "
            "--paths are split on ':'): put the URL in packages_path in a rezconfig file, or "
            "name the index in rezwheel's config file and use artifactory@NAME")
    raise RezwheelError(f"{location}: not a URL, a directory, or a configured index name")


def _index_root(path: str) -> str:
    """A local index's directory, also when given as its ``simple/`` (the URL pip users get)."""
    path = os.path.abspath(path.rstrip("/") or "/")
    if os.path.basename(path) == "simple" and os.path.isfile(os.path.join(path, "index.html")) \
            and os.path.isdir(os.path.join(os.path.dirname(path), "files")):
        return os.path.dirname(path)
    return path


def _seconds(value: object, what: str) -> Optional[float]:
    if value is None:
        return None
    from rezwheel.config import seconds

    if not isinstance(value, (int, float)) or seconds(value) is None:
        raise RezwheelError(f"{what} must be a number of seconds, not {value!r}")
    return float(value)
