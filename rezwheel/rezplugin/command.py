"""
rezwheel's commands inside rez: lock a resolve for pip and uv, export it into a venv, and the rest.

`rez wheel lock mytool-2 python-3.11 --index studio -o pylock.toml` is `rezwheel lock ...`:
the same parser, output and exit status; `rez wheel --help` lists the commands.
"""
# rez registers it through the entry point group ``rez.plugins.command`` (name ``wheel``), as
# rez-pip 2 registers ``rez pip2``; the docstring above is rez's help line for it.

from __future__ import annotations

import argparse
from typing import Any, Optional

from rez.command import Command

#: rez hands every argument it does not know to ``command`` untouched
command_behavior = {"hidden": False, "arg_mode": "passthrough"}


def setup_parser(parser: argparse.ArgumentParser, completions: bool = False) -> None:
    parser.add_argument("wheel_args", nargs=argparse.REMAINDER, metavar="COMMAND ...",
                        help="a rezwheel command and its arguments")
    # rez answers --help itself, from this parser: rezwheel's commands go in its epilog, made
    # only when help is shown (``command`` builds rezwheel's parser itself to run one)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    shown = parser.format_help

    def format_help() -> str:
        parser.epilog = _commands()
        return shown()

    parser.format_help = format_help  # type: ignore[method-assign]


def _commands() -> str:
    """rezwheel's commands and their one-line help, read from rezwheel's own parser."""
    from rezwheel.commandline import build_parser

    found = [(a.dest, a.help or "") for action in build_parser()._actions
             if isinstance(action, argparse._SubParsersAction)
             for a in action._choices_actions]
    import textwrap

    width = max(len(name) for name, _ in found) + 4
    return "\n".join(["commands (rez wheel COMMAND --help for each one's options):", *(
        textwrap.fill(text, 79, initial_indent=f"  {name:{width - 2}}",
                      subsequent_indent=" " * width, break_on_hyphens=False)
        for name, text in found)])


def command(opts: argparse.Namespace, parser: Optional[argparse.ArgumentParser] = None,
            extra_arg_groups: Optional[list[list[str]]] = None) -> int:
    import sys

    from rezwheel.cli import main

    args = _in_order(list(opts.wheel_args or []) + [a for g in extra_arg_groups or [] for a in g])
    if not args:
        args = ["--help"]
    status = main(args, prog="rez wheel")
    sys.stdout.flush()
    return status


def _in_order(args: list[str]) -> list[str]:
    """The arguments as typed: rez hands over the options its own parser does not know
    (``--store DIR`` before the command) apart from the rest, so ``rez wheel --store DIR cache
    ls`` reached rezwheel as ``DIR cache ls --store`` ("invalid choice: 'DIR'"). The words after
    ``wheel`` on rez's command line are taken instead, when they are the same words."""
    import sys

    typed = sys.argv[1:]
    if "wheel" in typed:
        tail = typed[typed.index("wheel") + 1:]
        if sorted(tail) == sorted(args):
            return tail
    return args


class WheelCommand(Command):
    schema_dict: dict[str, Any] = {}

    @classmethod
    def name(cls) -> str:
        return "wheel"


def register_plugin() -> type:
    return WheelCommand
