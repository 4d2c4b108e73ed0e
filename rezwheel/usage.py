"""The paths a command line names, checked before any work: a usage mistake is one line, exit
status 2, whatever the command.

A file given where a directory goes (``--store``, ``--into``, ``-o``, ``--to``, ``--venv``, an
index directory) used to mean something different to each command: an empty store listed,
``File exists`` from the repository writer, a package "not found" in a repository that could
never hold one, an index that is "not a URL". Each is now said the same way, naming the option
and the path, before anything is read or written. So is a URL no index can be at (``ftp://``,
no host, port 99999), which used to fail after the work started, naming a page derived from
it; and a mistake in the config file names the file, not the option that made it be read.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Optional
from urllib.parse import urlsplit

from rezwheel.errors import UsageError


def check(args: argparse.Namespace) -> None:
    """Refuse (``UsageError``) the first path of ``args`` that cannot be what its option
    asks for."""
    store = args.store or os.environ.get("REZWHEEL_STORE")
    if store:
        directory(store, "--store" if args.store else "$REZWHEEL_STORE")
    command = args.run
    for dest, option in _DIRECTORIES.get(command, ()):
        value = getattr(args, dest, None)
        if value:
            directory(value, option)
    for location in (getattr(args, "index", None) or []) if command in _READS else ():
        index_location(location, "--index")
    if command == "mirror":
        index_location(args.source, "--from")
    if command == "publish":
        _target(args.to)
    if command == "lock":
        _file(args.lock_file, "-o")
    if command == "export":
        from rezwheel.export import check_venv

        check_venv(args.venv)


#: the options of each command that name a directory rezwheel makes or fills
_DIRECTORIES = {"convert": [("output", "-o")], "install": [("into", "--into")],
                "mirror": [("to", "--to")], "export": [("venv", "--venv")]}
#: the commands that read ``--index`` locations
_READS = {"install", "lock", "export"}


def directory(path: str, option: str) -> None:
    """``path`` is a directory, or can be made as one: neither it nor a parent is a file."""
    full = os.path.abspath(os.path.expanduser(path))
    blocker = _first_file(full)
    if blocker == full:
        raise UsageError(f"{option} {path}: is a file, not a directory")
    if blocker:
        raise UsageError(f"{option} {path}: {blocker} is a file, not a directory")


def _first_file(full: str) -> Optional[str]:
    """The path itself, or the nearest existing parent, when that is not a directory."""
    here = full
    while not os.path.lexists(here):
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
    return None if os.path.isdir(here) else here


def index_location(location: str, option: str) -> None:
    """An index to read: a URL, a configured name, or a directory that exists (a mistake
    here is the user's to correct, not a failure of the work: exit status 2)."""
    from rezwheel.errors import RezwheelError
    from rezwheel.resolve.locations import Settings, resolve_location

    if "://" not in location:
        full = os.path.abspath(os.path.expanduser(location))
        if os.path.lexists(full) and not os.path.isdir(full) and not _configured(location):
            raise UsageError(f"{option} {location}: is a file, not a directory")
    from rezwheel.config import ConfigError

    url(location, option)
    try:
        found = resolve_location(location, Settings())
    except (UsageError, ConfigError):  # a config file's mistake names the file, not the option
        raise
    except RezwheelError as e:
        raise UsageError(f"{option} {e}") from None
    for where in found:  # a configured name or file:// URL naming a file
        if where.kind == "local" and os.path.lexists(where.where) and \
                not os.path.isdir(where.where):
            raise UsageError(f"{option} {location}: {where.where} is a file, not a directory")
        if where.kind == "http" and where.name is not None:  # from the config file
            url(where.where, _in_config(location))


#: the schemes an index can be read (or published) at
_SCHEMES = ("http", "https", "file")


def url(location: str, option: str) -> None:
    """A URL (anything with ``://``) an index could be at: http, https or file, a host for
    http(s), a port from 1 to 65535. Anything else used to be found only once the work had
    begun, as a failure of a page derived from it (``ftp://x/python/: unsupported URL
    scheme``), or never (``install`` with everything already installed exited 0)."""
    if "://" not in location:
        return
    from rezwheel.redaction import redact

    said = f"{option} {redact(location)}"  # its user information is no one's to read
    scheme = location.split("://", 1)[0]
    if scheme.lower() not in _SCHEMES:
        shown = f" {scheme!r}" if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,20}", scheme) else ""
        raise UsageError(f"{said}: unsupported URL scheme{shown} (http, https or file)")
    if scheme.lower() == "file":
        return  # a path: what is at it is checked as a directory
    try:
        parts = urlsplit(location)
    except ValueError as e:  # an unclosed ``[`` of an IPv6 host
        raise UsageError(f"{said}: not a URL ({e})") from None
    if not parts.hostname:
        raise UsageError(f"{said}: the URL names no host")
    try:
        port = parts.port
    except ValueError:  # out of range, or not a number
        port = 0
    if port == 0:  # urlsplit takes 0, which no server listens on
        raise UsageError(f"{said}: the port is not a number from 1 to 65535")


def _configured(name: str) -> bool:
    from rezwheel.config import index_entry, load_config

    return index_entry(name, load_config()) is not None


def _target(to: str) -> None:
    """``publish --to``: a local index is a directory (made if missing)."""
    from rezwheel.config import resolve_target

    url(to, "--to")
    target = resolve_target(to)
    if target.type != "local" and target.name is not None:
        url(target.upload_url, _in_config(to))
    if target.type == "local":
        directory(target.upload_url, "--to" if target.name is None else f"--to {to}:")


def _in_config(name: str) -> str:
    """Where a configured index's URL was written: the config file's mistake, not the
    option's."""
    from rezwheel.config import config_path

    return f"{config_path()}: index {name!r}:"


def _file(path: str, option: str) -> None:
    """A file to write: not a directory, and its parents are not files."""
    full = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(full):
        raise UsageError(f"{option} {path}: is a directory, not a file")
    blocker = _first_file(os.path.dirname(full))
    if blocker:
        raise UsageError(f"{option} {path}: {blocker} is a file, not a directory")
