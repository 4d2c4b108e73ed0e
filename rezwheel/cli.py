"""The ``rezwheel`` command: parse, call the library, render. Nothing else lives here."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

from rezwheel.commandline import EXIT_FAILED, EXIT_USAGE, build_parser
from rezwheel.errors import RezwheelError

if TYPE_CHECKING:
    from rezwheel.convert import Report
    from rezwheel.index.writers import Result



def _convert(args: argparse.Namespace) -> int:
    from rezwheel.convert import convert_paths

    from rezwheel.progress import conversion_bar

    with conversion_bar(show=not (args.json or _QUIET)) as counters:
        report = convert_paths(args.paths, args.output, prefix=args.prefix, counters=counters)
    if args.json:
        print(json.dumps([r.as_json() for r in report.converted], indent=1))
    else:
        for r in report.converted:
            print(f"{r.file}  {r.sha256}")
    _conversion_summary(report, args.verbose)
    return EXIT_FAILED if report.failed or report.bad_paths or not report.converted else 0


def _conversion_summary(report: "Report", verbose: bool, failures: bool = True,
                        closing: bool = True) -> None:
    """Warnings (counted by kind unless ``verbose``), one line per failure (unless the caller
    shows them), and a closing count when anything was skipped or failed (a clean run's
    output speaks for itself; ``closing=False``: the caller prints it last)."""
    from rezwheel.redaction import get_logger

    log = get_logger("rezwheel.convert")
    for line in report.warnings(verbose):
        log.warning("%s", line)
    if verbose:
        for line in report.skipped:
            print(f"rezwheel: skipped: {line}", file=sys.stderr)
    for line in [*report.bad_paths, *report.failed] if failures else ():
        _error(line)
    if closing and (report.skipped or report.failed or report.reused):
        print(f"rezwheel: {report.summary()}", file=sys.stderr)


def _inspect(args: argparse.Namespace) -> int:
    from rezwheel.artifact.reader import open_artifact

    with open_artifact(args.wheel, verify_record=False) as art:
        info = art.summary()
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        for k, v in info.items():
            print(f"{k}: {v}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from rezwheel.artifact.reader import open_artifact

    failed = 0
    for wheel in args.wheels:
        try:
            open_artifact(wheel).close()
            print(f"{wheel}: ok")
        except RezwheelError as e:
            _error(e)
            failed += 1
    return EXIT_FAILED if failed else 0


def _publish(args: argparse.Namespace) -> int:
    from rezwheel.config import resolve_target
    from rezwheel.publish import publish

    done = publish(args.paths, resolve_target(args.to), prefix=args.prefix, jobs=args.jobs,
                   wait=args.wait, dry_run=args.dry_run,
                   allow_foreign_name=args.allow_foreign_name,
                   progress=None if args.json else _progress(),
                   on_converted=lambda report: _conversion_summary(
                       report, args.verbose, failures=False, closing=False))
    if done.reused and not args.json:
        print(f"{'skipped':12} {done.reused} files of unchanged packages, already on the index")
    if args.json:
        print(json.dumps([r.as_json() for r in done.results], indent=1))
    errors = done.problems + _grouped([r for r in done.results if r.error])
    for e in errors:
        _error(e)
    report = done.conversion
    if report and (report.skipped or report.failed or report.reused):
        print(f"rezwheel: {report.summary()}", file=sys.stderr)
    return EXIT_FAILED if errors else 0


def _grouped(failed: Sequence["Result"]) -> list[str]:
    """Failures one line each, except that files failing for one shared reason (credentials
    refused, the server down) are said once, with how many were not tried."""
    by_reason: dict[str, list] = {}
    for r in failed:
        by_reason.setdefault(r.reason or r.error or "", []).append(r)
    out = []
    for reason, rs in by_reason.items():
        if len(rs) == 1 or not rs[0].reason:
            out += [r.error for r in rs]
            continue
        skipped = sum(not r.tried for r in rs)
        out.append(f"{len(rs)} files not published: {reason}"
                   + (f" ({skipped} not tried after the first failures)" if skipped else ""))
    return out


def _error(message: object) -> None:
    """One line on stderr, with any secret a provider handed out scrubbed (server text too)."""
    from rezwheel.redaction import scrub

    print(f"rezwheel: error: {scrub(str(message))}", file=sys.stderr)


def _errors(errors: Sequence[str]) -> int:
    """Each failure on one line, but one cause met by many files (an upstream down: each file
    'URL: connection failed') is named for the first few and counted for the rest; the exit
    status says whether there was any."""
    shown: dict[str, int] = {}
    for e in errors:
        cause = e.rsplit(": ", 1)[-1]
        shown[cause] = shown.get(cause, 0) + 1
        if shown[cause] <= SAME_CAUSE_SHOWN:
            _error(e)
    for cause, n in shown.items():
        if n > SAME_CAUSE_SHOWN:
            _error(f"... and {n - SAME_CAUSE_SHOWN} more: {cause}")
    return EXIT_FAILED if errors else 0


SAME_CAUSE_SHOWN = 3  # failures named per cause before the rest are counted


_QUIET = False  # --quiet: no progress either


_BARS: list = []  # bars handed out, stopped on the way out whatever happens (``main``)


def _progress():
    """A rich bar on a terminal; plain lines in CI and pipes; nothing with --quiet."""
    if _QUIET:
        return None
    if sys.stderr.isatty() and not os.environ.get("CI"):
        from rezwheel.progress import RichProgress
        _BARS.append(RichProgress())
        return _BARS[-1]
    from rezwheel.progress import LineProgress
    return LineProgress()


def _install(args: argparse.Namespace) -> int:
    from rezwheel.install import install
    from rezwheel.resolve.wanted import Asked, UsageError, parse, read_file

    files = [i for i in args.items if i.endswith(".whl") and os.path.isfile(i)]
    for i in args.items:  # a wheel file's path, mistyped: "neither a rez request nor ..."
        if i.endswith(".whl") and i not in files and (os.sep in i or os.path.lexists(i)):
            raise UsageError(f"{i}: no such wheel file" if not os.path.lexists(i) else
                             f"{i}: not a wheel file")
    asked = Asked([parse(i) for i in args.items if i not in files])
    for path in args.requirement or []:
        read_file(path, asked)
    for path in args.constraint or []:
        read_file(path, asked, constraint=True)
    if not files and not asked.wanted:
        raise UsageError("install: nothing to install (give requests, wheel files or -r FILE)")
    done = install(files, asked, args.into, indexes=args.index, python=args.python,
                   prefix=args.prefix, upgrade=args.upgrade, force=args.force,
                   no_deps=args.no_deps, only_binary=args.only_binary, dry_run=args.dry_run,
                   jobs=args.jobs, progress=None if args.json or args.dry_run else _progress())
    if args.json:
        print(json.dumps([d.as_json() for d in done], indent=1))
    elif args.dry_run:
        for d in done:
            s = d.step
            print(f"{d.status:9} {s.id}  {s.filename or '(installed)'}  ->  {s.root}")
    else:  # what the progress lines did not show: wheel files, and what was there already
        for i, d in enumerate(done):
            if i < len(files) or d.status == "present":
                print(f"{d.status:12} {d.file}")
    return _errors([d.error for d in done if d.error])


def _lock(args: argparse.Namespace) -> int:
    from rezwheel.lock import check_path, iter_lines, resolve, write

    check_path(args.lock_file)
    resolved = resolve(args.requests, _indexes(args), args.python, args.platform, args.prefix)
    kind = write(resolved, args.lock_file)
    if args.json:
        print(json.dumps({"file": args.lock_file, "format": kind, "python": resolved.python,
                          "platform": resolved.platform,
                          "packages": [p.as_json() for p in resolved.packages]}, indent=1))
    elif not _QUIET:
        for line in iter_lines(resolved):
            print(line)
        print(f"{args.lock_file}: {_count(len(resolved.wheels), 'wheel')}, "
              f"{len(resolved.rez_only)} rez-only")
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _export(args: argparse.Namespace) -> int:
    from rezwheel.export import export
    from rezwheel.lock import resolve

    resolved = resolve(args.requests, _indexes(args), args.python, None, args.prefix,
                       for_export=True)
    done = export(resolved, args.venv, jobs=args.jobs, with_pip=not args.without_pip)
    if args.json:
        print(json.dumps({"venv": done.venv, "script": done.script, "notes": done.notes,
                          "installed": [p.as_json() for p in done.installed],
                          "rez_only": [p.as_json() for p in done.rez_only]}, indent=1))
        return 0
    if _QUIET:  # errors only (the notes are in rez-env.sh as comments too)
        return 0
    for p in done.installed:
        print(f"installed {p.package}  {p.filename}")
    for note in done.notes:
        print(f"rezwheel: note: {note}", file=sys.stderr)
    print(f"{done.venv}: {_count(len(done.installed), 'wheel')} installed; "
          f". {done.venv}/bin/activate && . {done.script}")
    return 0


def _indexes(args: argparse.Namespace) -> list[str]:
    if not args.index:
        from rezwheel.resolve.wanted import UsageError

        raise UsageError(f"{args.command}: give --index URL|NAME|DIR to resolve from")
    return args.index


def _mirror(args: argparse.Namespace) -> int:
    from rezwheel.mirror import sync

    results = sync(args.source, args.to, args.filter, jobs=args.jobs, prefix=args.prefix,
                   progress=None if args.json else _progress(), only_binary=args.only_binary)
    if args.json:
        print(json.dumps([r.as_json() for r in results], indent=1))
    else:
        copied = sum(r.status == "copied" for r in results)
        present = sum(r.status == "present" for r in results)
        failed = sum(r.status == "failed" for r in results)
        print(f"{copied} copied, {present} already in the mirror"
              + (f", {failed} failed" if failed else ""))
    return _errors([r.error for r in results if r.error])


def _cache(args: argparse.Namespace) -> int:
    from rezwheel import cache
    from rezwheel.resolve.store import Store

    store = Store(args.store)  # --store, or $REZWHEEL_STORE
    if args.cache_command == "ls":
        entries = cache.ls(store)
        if args.json:
            print(json.dumps([e.as_json() for e in entries], indent=1))
            return 0
        if entries:
            print(f"{'sha256':12}  {'wheel bytes':>12}  {'root bytes':>12}  file")
        elif not _QUIET:
            print(f"the store {store.root} holds no artifacts")
        for e in entries:
            print(f"{e.sha256[:12]}  {e.wheel_bytes:>12,}  {e.root_bytes:>12,}  "
                  f"{e.file or '(payload read in place from a local index)'}")
        return 0
    if args.cache_command == "verify":
        verified = cache.verify(store)
        if args.json:
            print(json.dumps(verified.as_json(), indent=1))
        for line in verified.failed:
            _error(line)
        if not args.json:
            print(f"{verified.ok} of {verified.checked} stored payloads verified")
        return EXIT_FAILED if verified.failed else 0
    report = cache.prune(store, older_than=args.older_than, keep_last=args.keep_last)
    for p in report.tried:
        print(f"{'removed' if p.removed else 'in use':9} {p.name}")
    print(f"{report.removed} removed, {report.kept} kept")
    return 0


def _completion(args: argparse.Namespace) -> int:
    """A static script generated from the parser (shtab): nothing runs at tab time, so
    completion costs no start-up."""
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


class _OnePrefix(logging.Formatter):
    """``rezwheel: warning: ...`` once, whatever prefix the library's own line carries (the
    plugin's lines say "rezwheel:" for rez's log, which has no prefix of its own)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        for prefix in ("rezwheel: warning: ", "rezwheel: "):
            if message.startswith(prefix):
                message = message[len(prefix):]
        return f"rezwheel: {record.levelname.lower()}: {message}"


def _setup(args: argparse.Namespace) -> None:
    global _QUIET
    _QUIET = bool(args.quiet)
    if args.store:
        os.environ["REZWHEEL_STORE"] = args.store
    if args.config:
        if not os.path.isfile(args.config):
            why = "is a directory, not a file" if os.path.isdir(args.config) else "no such file"
            print(f"rezwheel: error: --config {args.config}: {why}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        os.environ["REZWHEEL_CONFIG"] = args.config
    handler = logging.StreamHandler()
    handler.setFormatter(_OnePrefix())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if args.debug else logging.ERROR if args.quiet
                  else logging.WARNING)
    if not args.debug:  # urllib3's "Retrying (Retry(total=1...": ours says what failed
        logging.getLogger("urllib3").setLevel(logging.ERROR)


def _stop_bars() -> None:
    for bar in _BARS:
        try:
            bar.finish()
        except Exception:  # a bar half started: the terminal matters more than it
            pass


def _leave(status: int) -> int:
    """Exit status ``status`` now: threads still on the wire after Ctrl-C or SIGTERM (their
    pools let go, see ``pools``) are not waited for; every clean-up on the way out has run."""
    import threading

    if threading.active_count() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def main(argv: Optional[Sequence[str]] = None, prog: str = "rezwheel") -> int:
    """``prog``: the command as the user typed it (``rez wheel`` from rez's command plugin).

    The exit status (README, "Exit codes"): 0 done; 2 a usage or config mistake, found before
    any work (argparse's, ``UsageError``, ``ConfigError``); 1 a failure while working; 130
    interrupted (also while starting: no traceback), 143 terminated."""
    try:
        return _main(argv, prog)
    except KeyboardInterrupt:
        print("rezwheel: interrupted", file=sys.stderr)
        return 130


def _main(argv: Optional[Sequence[str]], prog: str) -> int:
    parser = build_parser(prog)
    args, extra = parser.parse_known_args(argv)
    if extra:  # `install -r FILE pkg`: argparse leaves requests after an option unparsed
        if getattr(args, "command", None) == "install" and not any(
                x.startswith("-") for x in extra):
            args.items += extra
        else:  # said by the command's own name, as argparse says its other mistakes
            where = " ".join([prog, *(c for c in (getattr(args, "command", None),
                                                  getattr(args, "mirror_command", None),
                                                  getattr(args, "cache_command", None)) if c)])
            print(f"{where}: error: unrecognized arguments: {' '.join(extra)} "
                  f"(try '{where} --help')", file=sys.stderr)
            return EXIT_USAGE
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _setup(args)
    import signal

    # CI cancels with SIGTERM: leave as Ctrl-C does, through every clean-up on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return _run(args)
    finally:  # past here only the interpreter's exit is left: a SIGTERM then just ends it,
        # and so does a Ctrl-C once the exit hooks run (``pools.quiet_exit``)
        signal.signal(signal.SIGTERM, _gone)
        from rezwheel.pools import quiet_exit

        quiet_exit()


def _gone(*_: object) -> None:
    """A SIGTERM once the command is over (rez's exit hooks may still be running): the output
    written so far is kept, and nothing is raised into an exit hook (it would print a
    traceback)."""
    from rezwheel.pools import end_now

    end_now(143)


@contextlib.contextmanager
def _one_interrupt() -> Iterator[None]:
    """While the command leaves after an interrupt (the bars stopped, one line said: a moment),
    a further Ctrl-C is ignored: people press it again, and it raised into this clean-up, a
    traceback in place of the line and the cursor left hidden."""
    import signal

    try:
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: no handler of ours to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if before is None else before)


def _interrupted() -> int:
    with _one_interrupt():
        _stop_bars()
        print("rezwheel: interrupted", file=sys.stderr)
        return _leave(130)


def _by_interrupt(e: BaseException) -> bool:
    """Whether ``e`` was raised while a Ctrl-C was being handled: the KeyboardInterrupt can
    land inside the standard library's own lock handling (``Condition.wait`` re-taking its
    lock, under ``concurrent.futures.as_completed``), which then raises "release unlocked
    lock" in its place; the person pressed Ctrl-C, that is all there is to say."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, KeyboardInterrupt):
            return True
        e, seen = e.__context__, seen + 1
    return False


def _run(args: argparse.Namespace) -> int:
    """The command, every failure as one line and its exit status."""
    try:
        from rezwheel import limits, usage

        limits.check()
        usage.check(args)
        return _RUN[args.run](args)
    except RezwheelError as e:
        _stop_bars()
        if args.debug:
            raise
        _error(e)
        return e.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except SystemExit as e:  # SIGTERM (143), as Ctrl-C; or rez's own SIGINT handler's (1)
        with _one_interrupt():
            _stop_bars()  # ``rez wheel``: the bar hid the cursor, would redraw after rez's line
            if e.code == 143:
                return _leave(143)
        raise
    except Exception as e:  # a bug or an unforeseen input: still one line, never a traceback
        if _by_interrupt(e):
            return _interrupted()
        if args.debug:
            raise
        _error(f"{type(e).__name__}: {' '.join(str(e).split())[:300]} (run with --debug for the "
               "traceback, and please report it)")
        return EXIT_FAILED


_RUN = {"convert": _convert, "inspect": _inspect, "verify": _verify, "publish": _publish,
        "install": _install, "lock": _lock, "export": _export, "mirror": _mirror,
        "cache": _cache, "completion": _completion}

if __name__ == "__main__":
    sys.exit(main())
