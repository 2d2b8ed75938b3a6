"""Rendering for the CLI: service events on stderr, consoles that fit terminals and CI logs.

Events (`swissai.services.events`) become lines on stderr: warnings prefixed `warning:`, notes
`note:`. Progress is a live bar on a terminal and, in a CI log, one line when a step starts, one
at most every `LINE_INTERVAL_S` while it runs and one when it ends, so a long wait is never
silent. Tables get box characters only on a terminal; in a pipe or file they are plain columns.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from swissai.services.events import Message, Progress

if TYPE_CHECKING:
    from rich.console import Console

LINE_INTERVAL_S = 5.0


def stdout_console(width: int = 100) -> Console:
    """The console for results on stdout: `width` columns on a terminal, no wrapping of long
    cells into a fixed-width box elsewhere (a CI log or a file keeps each row whole)."""
    from rich.console import Console

    console = Console(highlight=False)
    if console.is_terminal:
        return Console(width=min(width, console.width), highlight=False)
    return Console(width=max(width, 200), highlight=False, no_color=True)


def table(**kwargs: Any) -> Any:
    """A rich Table: boxed on a terminal, plain columns when stdout is not a terminal."""
    from rich.table import Table

    if not sys.stdout.isatty():
        kwargs.setdefault("box", None)
        kwargs.setdefault("show_edge", False)
        kwargs.setdefault("pad_edge", False)
    return Table(**kwargs)


def note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class EventPrinter:
    """An EventSink for the CLI: messages and progress on stderr."""

    def __init__(self, quiet_info: bool = False) -> None:
        from rich.console import Console

        self.err = Console(stderr=True, highlight=False)
        self.live = self.err.is_terminal
        self.quiet_info = quiet_info
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._last_line: dict[str, float] = {}

    def __call__(self, event: object) -> None:
        if isinstance(event, Message):
            self._message(event)
        elif isinstance(event, Progress):
            self._update(event)

    def _message(self, event: Message) -> None:
        if event.level == "info" and self.quiet_info:
            return
        prefix = {"info": "", "note": "note: ", "warning": "warning: "}[event.level]
        line = prefix + event.text
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            note(line)

    def _update(self, event: Progress) -> None:
        if self.live:
            self._live(event)
            return
        now = time.monotonic()
        first = event.task not in self._last_line
        due = now - self._last_line.get(event.task, 0.0) >= LINE_INTERVAL_S
        if first or due or event.finished:
            self._last_line[event.task] = now
            note(
                f"{event.description}: {_amount(event)}"
                + (f" - {event.detail}" if event.detail else "")
            )
        if event.finished:
            self._last_line.pop(event.task, None)

    def _live(self, event: Progress) -> None:
        from rich.progress import (
            BarColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichProgress

        if self._progress is None:
            self._progress = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self.err,
                transient=True,
            )
            self._progress.start()
        if event.task not in self._tasks:
            self._tasks[event.task] = self._progress.add_task(
                event.description, total=event.total, detail=event.detail
            )
        task_id = self._tasks[event.task]
        self._progress.update(
            task_id,
            description=event.description,
            completed=event.completed,
            total=event.total,
            detail=event.detail,
        )
        if event.finished:
            self._progress.remove_task(task_id)
            del self._tasks[event.task]
            if not self._tasks:
                self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()

    def __enter__(self) -> EventPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _amount(event: Progress) -> str:
    if event.unit == "bytes":
        done = f"{event.completed / 2**30:.2f} GiB"
        return done + (f" of {event.total / 2**30:.2f} GiB" if event.total else "")
    if event.unit == "seconds":
        return f"{event.completed:.0f} s" + (f" of {event.total:.0f} s" if event.total else "")
    if event.total:
        return f"{event.completed:g}/{event.total:g}"
    return f"{event.completed:g}"
