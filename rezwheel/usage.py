"""The paths a command line names, checked before any work: a usage mistake is one line, exit
status 2, whatever the command.

A file given where a directory goes (``--store``, ``--into``, ``-o``, ``--to``, ``--venv``, an
index directory) used to mean something different to each command: an empty store listed,
``File exists`` from the repository writer, a package "not found" in a repository that could
never hold one, an index that is "not a URL". Each is now said the same way, naming the option
and the path, before anything is read or written.
"""

from __future__ import annotations

import argparse
import os
from typing import Optional

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
        _new_venv(args.venv)


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
    try:
        found = resolve_location(location, Settings())
    except UsageError:
        raise
    except RezwheelError as e:
        raise UsageError(f"{option} {e}") from None
    for where in found:  # a configured name or file:// URL naming a file
        if where.kind == "local" and os.path.lexists(where.where) and \
                not os.path.isdir(where.where):
            raise UsageError(f"{option} {location}: {where.where} is a file, not a directory")


def _configured(name: str) -> bool:
    from rezwheel.config import index_entry, load_config

    return index_entry(name, load_config()) is not None


def _target(to: str) -> None:
    """``publish --to``: a local index is a directory (made if missing)."""
    from rezwheel.config import resolve_target

    target = resolve_target(to)
    if target.type == "local":
        directory(target.upload_url, "--to" if target.name is None else f"--to {to}:")


def _file(path: str, option: str) -> None:
    """A file to write: not a directory, and its parents are not files."""
    full = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(full):
        raise UsageError(f"{option} {path}: is a directory, not a file")
    blocker = _first_file(os.path.dirname(full))
    if blocker:
        raise UsageError(f"{option} {path}: {blocker} is a file, not a directory")


def _new_venv(venv: str) -> None:
    """``export --venv``: a new venv, so nothing may be there but an empty directory."""
    full = os.path.abspath(os.path.expanduser(venv))
    if os.path.isdir(full) and os.listdir(full):
        raise UsageError(f"--venv {venv}: exists and is not empty (export makes a new venv)")
