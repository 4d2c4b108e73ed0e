"""What README.md promises about the command line, held against the parser and the exit statuses.

The synopses in README.md are the reference a person reads: every option a subcommand's parser
defines must be listed there (global options once, in the "Global options" sentence), and every
option listed there must exist.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import struct
import zipfile

import pytest

from helpers import ROOT, rezwheel
from rezwheel.commandline import build_parser

README = ROOT / "README.md"

#: one option in a synopsis or sentence: `-r`, `--into`, `--wait[=SECONDS]` (-> `--wait`)
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)")
HELP = {"-h", "--help"}


def readme() -> str:
    return README.read_text(encoding="utf-8")


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """name -> parser of its direct subcommands."""
    if parser._subparsers is None:
        return {}
    return {name: p for a in parser._subparsers._group_actions
            if isinstance(a, argparse._SubParsersAction) for name, p in a.choices.items()}


def leaves(parser: argparse.ArgumentParser, path: tuple = ()) -> dict[tuple, argparse.ArgumentParser]:
    """("mirror", "sync") -> parser, for every command that runs something."""
    subs = subparsers(parser)
    if not subs:
        return {path: parser}
    out = {}
    for name, p in subs.items():
        out.update(leaves(p, path + (name,)))
    return out


def every_parser(parser: argparse.ArgumentParser, path: tuple = ()):
    yield path, parser
    for name, p in subparsers(parser).items():
        yield from every_parser(p, path + (name,))


def option_sets(parser: argparse.ArgumentParser) -> list[frozenset]:
    """Each optional action as the set of its spellings (`-r`/`--requirement`), -h excluded."""
    return [frozenset(a.option_strings) for a in parser._actions
            if a.option_strings and not HELP & set(a.option_strings)]


TOP = build_parser()
GLOBAL = {s for a in option_sets(TOP) for s in a} - {"--version"}


def synopses(text: str) -> list[tuple[str, list[tuple], set]]:
    """(span, command paths, options) for every backticked command synopsis in the README: a span
    starting with `rezwheel <subcommand>` at the start of a line (or of a bullet) that says more
    than the command's name (so a mention such as "... `rezwheel install` turns ..." is not
    one). Alternatives such as `cache ls|verify|prune` name several commands; a span may run
    over several lines. A synopsis of a command the parser lacks has paths ``[]``."""
    commands = subparsers(TOP)
    out = []
    for m in re.finditer(r"(?m)^(?:[-*] +)?`(rezwheel [^`]+)`", text):
        span = " ".join(m.group(1).split())
        words = span.split()[1:]
        if not words or not re.fullmatch(r"[a-z][a-z0-9-]*", words[0]):
            continue  # `rezwheel --version`: the global options' test holds those
        if words[0] not in commands:
            out.append((span, [], set()))
            continue
        paths = [(words[0],)]
        rest = words[1:]
        subs = subparsers(commands[words[0]])
        if subs and rest:
            names = rest[0].split("|")
            if all(n in subs for n in names):
                paths = [(words[0], n) for n in names]
                rest = rest[1:]
        if not rest:
            continue  # a mention, not a synopsis
        out.append((span, paths, set(OPTION.findall(" ".join(rest)))))
    return out


def test_readme_has_a_synopsis_for_every_command():
    documented = {p for _, paths, _ in synopses(readme()) for p in paths}
    missing = sorted(" ".join(p) for p in leaves(TOP) if p not in documented)
    assert not missing, f"README.md has no synopsis for: {', '.join('rezwheel ' + m for m in missing)}"


def test_readme_synopses_list_exactly_the_parser_options():
    problems = []
    all_leaves = leaves(TOP)
    for span, paths, listed in synopses(readme()):
        if not paths:
            problems.append(f"README synopsis `{span}`: the parser has no such command")
            continue
        parser_options: list[tuple[str, frozenset]] = []  # (command, spellings)
        for path in paths:
            parser = all_leaves.get(path)
            if parser is None:
                problems.append(f"README synopsis `{span}`: `rezwheel {' '.join(path)}` is not a "
                                "command of the parser")
                continue
            parser_options += [(" ".join(path), o) for o in option_sets(parser)
                               if not o <= GLOBAL]
        for command, spellings in parser_options:
            if not spellings & listed:
                problems.append(f"`rezwheel {command}` defines {'/'.join(sorted(spellings))} but "
                                f"the README synopsis `{span}` does not list it")
        known = {s for _, o in parser_options for s in o}
        for option in sorted(listed - known):
            where = " or ".join(f"`rezwheel {' '.join(p)}`" for p in paths)
            what = ("a global option: the README lists those once, in the Global options sentence"
                    if option in GLOBAL else "no such option")
            problems.append(f"README synopsis `{span}` lists {option}, which {where} does not "
                            f"define ({what})")
    assert not problems, "\n".join(problems)


def test_readme_global_options_sentence():
    text = " ".join(readme().split())
    m = re.search(r"Global options[^:]*:(.*?);", text)
    assert m, "README.md has no 'Global options ...: ...;' sentence"
    listed = set(OPTION.findall(m.group(1)))
    problems = [f"the parser's global option {o} is not in the README's Global options sentence"
                for o in sorted(GLOBAL - listed)]
    problems += [f"the README's Global options sentence lists {o}, which the parser does not "
                 "define globally" for o in sorted(listed - GLOBAL)]
    if "`rezwheel --version`" not in text:
        problems.append("README.md does not mention `rezwheel --version`")
    # "accepted before or after the subcommand": every command takes them
    for path, parser in leaves(TOP).items():
        here = {s for o in option_sets(parser) for s in o}
        for o in sorted(GLOBAL - here):
            problems.append(f"global option {o} is not accepted after `rezwheel {' '.join(path)}`")
    assert not problems, "\n".join(problems)


def test_every_option_and_command_has_help():
    missing = []
    for path, parser in every_parser(TOP):
        where = "rezwheel" + "".join(f" {w}" for w in path)
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for choice in a._choices_actions:  # the COMMAND list of `--help`
                    if not (choice.help or "").strip():
                        missing.append(f"{where} {choice.dest}: no help text")
                continue
            if a.help == argparse.SUPPRESS:
                continue
            if not (a.help or "").strip():
                name = "/".join(a.option_strings) or a.metavar or a.dest
                missing.append(f"{where} {name}: no help text")
    assert not missing, "\n".join(missing)


# -- exit statuses ---------------------------------------------------------------------------------

def test_readme_documents_exit_codes():
    text = " ".join(readme().split())
    assert re.search(r"Exit codes: 0 success, 1 something failed while working \(each failure "
                     r"printed as one `rezwheel: error:` line[^)]*\), 2 usage or config error, "
                     r"found before any work and said on one line.*; 130 after Ctrl-C and 143 "
                     r"after SIGTERM", text), \
        "README.md lost its 'Exit codes: 0 success, 1 something failed while working ..., 2 " \
        "usage or config error, found before any work ...; 130 ... 143' sentence"
    from rezwheel.commandline import EPILOG  # --help says the same

    assert EPILOG == ("exit status: 0 done, 1 something failed while working (one line each), "
                      "2 usage or config error found before any work, 130 interrupted"), EPILOG


def no_traceback(r) -> None:
    assert "Traceback" not in r.stdout + r.stderr, r.stderr


def error_lines(r) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.startswith("rezwheel: error:")]


def test_exit_0_version():
    r = rezwheel("--version")
    no_traceback(r)
    assert r.returncode == 0 and r.stdout.startswith("rezwheel ")
    assert "rez " in r.stdout and "Python " in r.stdout  # as the README says


def test_exit_0_convert(sample_repo, tmp_path):
    r = rezwheel("convert", sample_repo / "pyutil", "-o", tmp_path / "out", check=False)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "out").glob("pyutil-*.whl"))


def test_exit_1_inspect_missing(tmp_path):
    r = rezwheel("inspect", tmp_path / "missing.whl", check=False)
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    assert len(error_lines(r)) == 1, r.stderr


def test_exit_1_verify_corrupted(wheels, tmp_path):
    good = wheels / "pyutil-1.2.0-py3-none-any.whl"
    bad = tmp_path / good.name
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:  # flip bytes inside a payload member's compressed data
        member = z.getinfo("pyutil/cli.py")
    name_len, extra_len = struct.unpack_from("<HH", data, member.header_offset + 26)
    start = member.header_offset + 30 + name_len + extra_len  # the local header's own lengths
    mid = start + member.compress_size // 2
    data[mid:mid + 8] = bytes(b ^ 0xFF for b in data[mid:mid + 8])
    bad.write_bytes(bytes(data))
    r = rezwheel("verify", good, bad, check=False)
    no_traceback(r)
    assert r.returncode == 1, r.stdout + r.stderr
    (line,) = error_lines(r)  # "Exit 0, or 1 with one line per bad wheel"
    assert bad.name in line
    assert f"{good}: ok" in r.stdout


@pytest.mark.parametrize("args", [
    ["no-such-command"],
    ["publish", "x.whl"],  # --to is required
    ["install", "pyutil"],  # --into is required
    ["mirror", "sync", "--to", "m"],  # --from is required
    ["cache"],  # a cache command is required
    ["install", "foo bar", "--into", "X", "--index", "Y"],  # neither a rez request nor PEP 508
], ids=lambda a: " ".join(a))
def test_exit_2_usage(args, tmp_path):
    r = rezwheel(*args, check=False, cwd=tmp_path)
    no_traceback(r)
    assert r.returncode == 2, f"rezwheel {' '.join(args)} exits {r.returncode}:\n{r.stderr}"
    assert r.stderr.strip(), "a usage error says why"
    assert not (tmp_path / "X").exists(), "a usage error writes nothing"


def test_bash_completion_completes_commands_and_options(tmp_path):
    """`rezwheel completion bash` is a script bash sources; it completes subcommands and their
    options without running rezwheel at tab time."""
    script = tmp_path / "rezwheel.bash"
    script.write_text(rezwheel("completion", "bash").stdout)
    probe = (f"source {script}; complete -p rezwheel >/dev/null || exit 3; "
             "COMP_WORDS=(rezwheel pu); COMP_CWORD=1; _shtab_rezwheel; echo \"${COMPREPLY[*]}\"; "
             "COMP_WORDS=(rezwheel install --only); COMP_CWORD=2; _shtab_rezwheel; "
             "echo \"${COMPREPLY[*]}\"")
    r = subprocess.run(["bash", "-c", probe], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})  # no rezwheel on PATH: nothing runs
    assert r.returncode == 0 and r.stdout.split("\n")[:2] == ["publish", "--only-binary"], r
    assert rezwheel("completion", "zsh").stdout.startswith("#compdef rezwheel")


def test_files_that_are_not_wheels_are_named_and_nothing_is_published(tmp_path):
    junk = tmp_path / "junk-1.0-py3-none-any.whl"
    junk.write_text("not a zip")
    bare = tmp_path / "bare-1.0-py3-none-any.whl"
    with zipfile.ZipFile(bare, "w") as z:
        z.writestr("bare.py", "x = 1\n")
    r = rezwheel("publish", junk, bare, "--to", tmp_path / "index", check=False)
    assert r.returncode == 1 and r.stderr.splitlines() == [
        f"rezwheel: error: {junk}: not a wheel: File is not a zip file",
        f"rezwheel: error: {bare}: not a wheel: no single .dist-info/METADATA"], r.stderr
    assert not list((tmp_path / "index").glob("files/*")) if (tmp_path / "index").exists() \
        else True


def test_a_config_file_given_must_exist(tmp_path):
    r = rezwheel("--config", tmp_path / "nope.toml", "cache", "ls", check=False)
    assert r.returncode == 2 and r.stderr == f"rezwheel: error: --config {tmp_path / 'nope.toml'}: " \
        "no such file\n", r.stderr
