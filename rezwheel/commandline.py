"""The ``rezwheel`` command line as a user meets it: every command, option and help text.

Kept apart from ``cli`` (which runs the commands) so the README's synopses, the completion
scripts and the contract tests read the grammar without the code behind it. Each command
names what runs it (``run``); ``cli`` maps those names to its handlers.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn, Optional, Sequence

DESCRIPTION = """\
Ship rez packages through an artifact server (Artifactory, or any PyPI-style index): convert
variants to wheels, publish them, install them into rez repositories, mirror an index for a
site. The rez plugin (packages_path = ["artifactory@..."]) resolves from the same indexes.
"""
EXIT_FAILED = 1  # some item failed; the others were done
EXIT_USAGE = 2
EPILOG = ("exit status: 0 done, 1 something failed while working (one line each), 2 usage or "
          "config error found before any work, 130 interrupted")


class _Parser(argparse.ArgumentParser):
    """argparse's parser, but a mistake is one line (argparse prints its usage block first,
    which buries the error in a terminal and in a CI log alike): ``PROG: error: WHAT (try
    'PROG --help')``, exit status 2. ``--help`` is unchanged."""

    def error(self, message: str) -> "NoReturn":
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())} "
                              f"(try '{self.prog} --help')\n")


def _globals(top: bool) -> argparse.ArgumentParser:
    """Options accepted before or after the subcommand (after it, they win)."""
    g = argparse.ArgumentParser(add_help=False)
    default = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    g.add_argument("--debug", action="store_true", default=default(False),
                   help="show library log lines and tracebacks")
    g.add_argument("--quiet", action="store_true", default=default(False),
                   help="errors only: no warnings, no progress")
    g.add_argument("--store", metavar="DIR", type=_given, default=default(None),
                   help="the local store (default: $REZWHEEL_STORE or the user cache dir)")
    g.add_argument("--config", metavar="FILE", type=_given, default=default(None),
                   help="the config file (default: $REZWHEEL_CONFIG or "
                        "~/.config/rezwheel/config.toml)")
    return g


def _whole(minimum: int) -> "Callable[[str], int]":
    """A whole number of at least ``minimum`` (``--jobs``: 1, ``--keep-last``: 0), in plain
    digits (``config.number``); 0 or -3 jobs used to mean the default, quietly."""
    def parse(text: str) -> int:
        from rezwheel.config import number

        n = number(text, whole=True)
        if n is None or n < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ({minimum} or "
                                             "more) in plain digits 0-9")
        return int(n)
    return parse


def _amount(text: str) -> float:
    """Seconds or days: a finite number, 0 or more, in plain digits with one '.' at most
    (``--older-than -1`` would prune all; ``1e3`` or ``inf`` are no one's typing)."""
    from rezwheel.config import number

    value = number(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (0 or more) in plain "
                                         "digits 0-9, one '.' at most")
    return float(value)


def _python(text: str) -> str:
    """A python version as rez names the package (``3.11``, ``3``, ``3.11.4``), ASCII digits:
    ``' 3.11'`` or ``'٣.١١'`` reached rez's version parser as an internal error."""
    import re

    if not re.fullmatch(r"[0-9]+(\.[0-9]+){0,2}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a python version (X.Y, in digits "
                                         "0-9)")
    return text


def _prefix(text: str) -> str:
    """A distribution name prefix (``studio-``): what a project name may hold, so every name it
    makes is one (``bad!`` made wheels no index takes, and failed each file on the way)."""
    import re

    if text and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a distribution name prefix (ASCII "
                                         "letters, digits, '.', '_', '-'; a letter or digit "
                                         "first)")
    return text


def _given(text: str) -> str:
    """A path, URL or name: never empty (an empty one meant the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty")
    return text


class _Version(argparse.Action):
    """``--version``, worked out only when asked (finding rez's version reads package
    metadata: every other command would pay for it at start-up)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: object = argparse.SUPPRESS, help: Optional[str] = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        print(_version())
        parser.exit()


def _version() -> str:
    import platform

    from rezwheel import __version__

    try:
        from importlib.metadata import version

        rez = version("rez")
    except Exception:
        rez = "not installed"
    return (f"rezwheel {__version__} (rez {rez}, Python {platform.python_version()} at "
            f"{sys.executable})")


def build_parser(prog: str = "rezwheel") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description=DESCRIPTION, epilog=EPILOG, parents=[_globals(True)],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action=_Version, help="print rezwheel's, rez's and Python's versions")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    common = [_globals(False)]

    def command(parent, name: str, help: str) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        return parent.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                                 parents=common, epilog=EPILOG)

    json_help = "print a JSON report instead of lines"
    c = command(sub, "convert", "rez package variants -> wheels")
    c.add_argument("paths", nargs="+", metavar="PATH", type=_given,
                   help="package version dir, family dir, combined family file or repository")
    c.add_argument("-o", "--output", required=True, metavar="DIR", type=_given,
                   help="where the wheels go")
    c.add_argument("--prefix", default="", type=_prefix, help="prefix for distribution names")
    c.add_argument("--json", action="store_true", help=json_help)
    c.add_argument("--verbose", action="store_true",
                   help="list every warning and skipped item instead of counting them")
    c.set_defaults(run="convert")

    i = command(sub, "inspect", "what rez variant a wheel holds")
    i.add_argument("wheel", metavar="WHEEL", type=_given, help="a wheel file")
    i.add_argument("--json", action="store_true", help=json_help)
    i.set_defaults(run="inspect")

    v = command(sub, "verify", "check RECORD, embedded definition and layout")
    v.add_argument("wheels", nargs="+", metavar="WHEEL", type=_given, help="wheel files")
    v.set_defaults(run="verify")

    pub = command(sub, "publish", "publish wheels (or rez packages) to an index")
    pub.add_argument("paths", nargs="+", metavar="WHEEL_OR_PATH", type=_given,
                     help="wheel files, or rez packages to convert on the way")
    pub.add_argument("--to", required=True, metavar="TARGET", type=_given,
                     help="local directory, upload URL, or a name from the config file")
    pub.add_argument("--prefix", default="", type=_prefix, help="prefix for distribution names")
    pub.add_argument("--jobs", type=_whole(1), default=None, metavar="N",
                     help="parallel uploads (default: 8, up to 32 for a distant server)")
    pub.add_argument("--wait", type=_amount, nargs="?", const=300.0, default=None,
                     metavar="SECONDS", help="poll until the index lists every new file")
    pub.add_argument("--dry-run", action="store_true", help="read the index, upload nothing")
    pub.add_argument("--allow-foreign-name", action="store_true",
                     help="add files to a project that is not a rezwheel one")
    pub.add_argument("--json", action="store_true", help=json_help)
    pub.add_argument("--verbose", action="store_true",
                     help="list every conversion warning and skipped item instead of counting")
    pub.set_defaults(run="publish")

    ins = command(sub, "install", "resolve requests (or take wheel files) and install them "
                  "into a rez filesystem repository")
    ins.add_argument("items", nargs="*", metavar="REQUEST_OR_WHEEL", type=_given,
                     help="a rez request (mytool-2+<3), a PEP 508 requirement "
                     "('requests[socks]>=2.30') or a wheel file")
    ins.add_argument("-r", "--requirement", action="append", metavar="FILE", type=_given,
                     help="install what a pip requirements file lists; repeatable")
    ins.add_argument("-c", "--constraint", action="append", metavar="FILE", type=_given,
                     help="constrain versions as a pip constraints file does; repeatable")
    ins.add_argument("--into", required=True, metavar="REPO", type=_given,
                     help="the rez repository to fill")
    ins.add_argument("--index", action="append", metavar="URL|NAME|DIR", type=_given,
                     help="index to resolve from; repeat to read several in order")
    ins.add_argument("--python", type=_python, metavar="VERSION",
                     help="target python for markers and variants (default: this "
                     "interpreter's, if that python package is installed, else the newest one)")
    ins.add_argument("--no-deps", action="store_true", help="the requested packages only")
    ins.add_argument("-U", "--upgrade", action="store_true",
                     help="resolve against the indexes even when what is installed satisfies "
                     "every request")
    ins.add_argument("--only-binary", action="store_true",
                     help="refuse sdists (never build a project from source)")
    ins.add_argument("--dry-run", action="store_true",
                     help="print the plan: rez packages -> files -> target paths")
    ins.add_argument("--prefix", default="", type=_prefix,
                     help="prefix of the indexes' distribution names")
    ins.add_argument("--jobs", type=_whole(1), default=8, metavar="N",
                     help="parallel downloads (8)")
    ins.add_argument("--force", action="store_true", help="replace a different definition")
    ins.add_argument("--json", action="store_true", help=json_help)
    ins.set_defaults(run="install")

    for name, help in (("lock", "resolve rez requests and write pylock.toml (PEP 751) or a "
                                 "hash-checking requirements.txt for pip and uv"),
                       ("export", "resolve rez requests into a new venv, with bin/rez-env.sh "
                                  "setting what their rez commands set")):
        lk = command(sub, name, help)
        lk.add_argument("requests", nargs="+", metavar="REQUEST", help="rez requests")
        lk.add_argument("--index", action="append", metavar="URL|NAME|DIR", type=_given,
                        help="index to resolve from; repeat to read several in order")
        lk.add_argument("--python", type=_python, metavar="X.Y", help="target python (default: the "
                        "resolve's python package, else this interpreter's)")
        lk.add_argument("--prefix", default="", type=_prefix,
                        help="prefix of the indexes' distribution names")
        if name == "lock":
            lk.add_argument("--platform", metavar="TAG", help="target wheel platform tag "
                            "(default: this host's), e.g. manylinux_2_28_x86_64")
            lk.add_argument("-o", "--output", dest="lock_file", required=True, metavar="FILE",
                            type=_given,
                            help="pylock.toml, pylock.NAME.toml, or a .txt requirements file")
        else:
            lk.add_argument("--venv", required=True, metavar="DIR", type=_given,
                            help="the new venv")
            lk.add_argument("--jobs", type=_whole(1), default=8, metavar="N",
                            help="parallel downloads (8)")
            lk.add_argument("--without-pip", action="store_true",
                            help="do not seed pip into the venv (python -m venv does by default)")
        lk.add_argument("--json", action="store_true", help=json_help)
        lk.set_defaults(run=name)

    mirror = command(sub, "mirror", "a site mirror: a local directory index filled from "
                     "upstream")
    msub = mirror.add_subparsers(dest="mirror_command", required=True, metavar="COMMAND")
    ms = command(msub, "sync", "copy what the mirror lacks (incremental, resumable)")
    ms.add_argument("--from", dest="source", required=True, metavar="URL|NAME|DIR", type=_given,
                    help="the upstream index")
    ms.add_argument("--to", required=True, metavar="DIR", type=_given,
                    help="the mirror (a local index)")
    ms.add_argument("--filter", nargs="+", metavar="REQUEST",
                    help="only what these rez requests resolve to (default: everything)")
    ms.add_argument("--prefix", default="", type=_prefix,
                    help="prefix of upstream's distribution names")
    ms.add_argument("--jobs", type=_whole(1), default=8, metavar="N",
                    help="parallel downloads (8)")
    ms.add_argument("--only-binary", action="store_true",
                    help="with --filter: no sdists (pip runs an sdist's code to read it)")
    ms.add_argument("--json", action="store_true", help=json_help)
    ms.set_defaults(run="mirror")

    cache = command(sub, "cache", "the local store the rez plugin fills")
    csub = cache.add_subparsers(dest="cache_command", required=True, metavar="COMMAND")
    ls = command(csub, "ls", "stored artifacts: sha256, payload and root sizes")
    ls.add_argument("--json", action="store_true", help=json_help)
    ver = command(csub, "verify", "re-hash every stored payload")
    ver.add_argument("--json", action="store_true", help=json_help)
    prune = command(csub, "prune", "remove stored artifacts (never ones in use)")
    prune.add_argument("--older-than", type=_amount, metavar="DAYS",
                       help="only those unused for this many days")
    prune.add_argument("--keep-last", type=_whole(0), metavar="N",
                       help="keep the N most recently used")
    cache.set_defaults(run="cache")

    _complete_paths(p)
    comp = command(sub, "completion", "print a shell completion script for rezwheel")
    comp.add_argument("shell", choices=["bash", "zsh"],
                      help="the shell: bash (source it, or put it in bash_completion.d) or zsh "
                      "(put it on $fpath as _rezwheel)")
    comp.set_defaults(run="completion")
    return p


#: shtab's completers (the values of ``shtab.FILE`` and ``shtab.DIRECTORY``), written here so
#: building the parser does not import shtab
_FILE = {"bash": "_shtab_compgen_files", "zsh": "_files", "tcsh": "f"}
_DIR = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/", "tcsh": "d"}
_PATHS = {"paths": _FILE, "wheel": _FILE, "wheels": _FILE, "items": _FILE, "requirement": _FILE,
          "constraint": _FILE, "config": _FILE, "output": _DIR, "into": _DIR, "store": _DIR,
          "to": _DIR, "source": _DIR, "venv": _DIR,
          "lock_file": _FILE}


def _complete_paths(parser: argparse.ArgumentParser) -> None:
    """Tab completes file and directory arguments (an index given as a URL is typed)."""
    for action in parser._actions:
        if action.dest in _PATHS:
            action.complete = _PATHS[action.dest]  # type: ignore[attr-defined]
        for sub in (action.choices or {}).values() if isinstance(action.choices, dict) else ():
            if isinstance(sub, argparse.ArgumentParser):
                _complete_paths(sub)
