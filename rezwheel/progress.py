"""Progress for long work: the library reports through the ``publish.Progress`` protocol and
never imports a bar itself; the CLI picks one of these."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Iterator, Optional

#: a download smaller than this shows no bar (it is over before a bar would help)
BAR_BYTES = 32 << 20


class LineProgress:
    """One line per finished file on stdout: quiet enough for CI logs, greppable."""

    def start(self, files: int, size: int) -> None:
        pass

    def advance(self, result: Any, size: int) -> None:
        print(f"{result.status:12} {result.file}", flush=True)

    def finish(self) -> None:
        pass


class RichProgress:
    """A rich bar on stderr with files and bytes."""

    _bar: Any = None

    def start(self, files: int, size: int) -> None:
        if not files:  # nothing to do: no empty 0/0 bar
            return
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        self._bar = Progress(TextColumn("{task.description:>6}"), BarColumn(),
                             TaskProgressColumn(), TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                             console=_console())
        self._files = self._bar.add_task("files", total=files)
        self._bytes = self._bar.add_task("bytes", total=size, visible=size > 0)
        self._bar.start()

    def advance(self, result: Any, size: int) -> None:
        if self._bar is None:
            print(f"{result.status:12} {result.file}", flush=True)
            return
        self._bar.console.print(f"{result.status:12} {result.file}", highlight=False)
        self._bar.advance(self._files, 1)
        self._bar.advance(self._bytes, size)

    def finish(self) -> None:
        """Stop the bar (again is fine: the CLI also calls it when interrupted, so the
        terminal is left with its cursor on a new line)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _console() -> Any:
    from rich.console import Console
    return Console(file=sys.stderr)


def on_terminal() -> bool:
    """Whether a person watches: stderr is a terminal, not CI, not rez's quiet mode."""
    return sys.stderr.isatty() and not os.environ.get("CI") and not os.environ.get("REZ_QUIET")


@contextlib.contextmanager
def download_bar(name: str, total: int, show: bool) -> Iterator[Callable[[int], None]]:
    """A transient byte bar for one large download (the plugin localizing a payload inside
    ``rez env``); a no-op callable when nobody watches or the file is small."""
    if not (show and total >= BAR_BYTES and on_terminal()):
        yield lambda n: None
        return
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(), console=_console(),
                   transient=True)
    task = bar.add_task(f"rezwheel: {name}", total=total)
    with bar:
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def conversion_bar(show: bool) -> Iterator[Optional[tuple]]:
    """A transient line for a conversion while it runs (wheels finished, bytes read), fed by
    the counters it yields: pass them to ``convert_paths(counters=)``, whose writers update
    them in this process or in forked conversion workers. None when nobody watches."""
    if not (show and on_terminal()):
        yield None
        return
    import multiprocessing
    import threading

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    counters = (multiprocessing.Value("q", 0), multiprocessing.Value("q", 0))
    bar = Progress(SpinnerColumn(), TextColumn("converting: {task.fields[wheels]} wheels "
                                               "written, {task.fields[mb]:,.0f} MB read"),
                   TimeElapsedColumn(), console=_console(), transient=True)
    task = bar.add_task("convert", total=None, wheels=0, mb=0.0)
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.2):
            bar.update(task, wheels=counters[1].value, mb=counters[0].value / 1e6)

    watcher = threading.Thread(target=poll, name="rezwheel-bar", daemon=True)
    with bar:
        watcher.start()
        try:
            yield counters
        finally:
            stop.set()
            watcher.join()
