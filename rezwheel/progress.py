"""Progress for long work: the library reports through the ``publish.Progress`` protocol and
never imports a bar itself; the CLI picks one of these."""

from __future__ import annotations

import sys
from typing import Any


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

    def start(self, files: int, size: int) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        self._bar = Progress(TextColumn("{task.description:>6}"), BarColumn(),
                             TaskProgressColumn(), TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                             console=_console())
        self._files = self._bar.add_task("files", total=files)
        self._bytes = self._bar.add_task("bytes", total=size, visible=size > 0)
        self._bar.start()

    def advance(self, result: Any, size: int) -> None:
        self._bar.console.print(f"{result.status:12} {result.file}", highlight=False)
        self._bar.advance(self._files, 1)
        self._bar.advance(self._bytes, size)

    def finish(self) -> None:
        self._bar.stop()


def _console() -> Any:
    from rich.console import Console
    return Console(file=sys.stderr)
