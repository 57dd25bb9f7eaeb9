"""Terminal output of the CLI: progress bars, tables and messages."""

from __future__ import annotations

import json
import sys
from typing import Any, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import (
    Progress as RichBar,
)
from rich.table import Table

from pocket_recs.progress import Progress

# Off a terminal (pipes, CI logs) rich would wrap tables at 80 columns; allow wide ones.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class TerminalProgress(Progress):
    """Shows each task of the library as a progress bar on standard error."""

    def __init__(self) -> None:
        self._bar = RichBar(
            TextColumn("[bold]{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=err_console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, name: str, total: float | None = None) -> None:
        self._task = self._bar.add_task(name, total=total, info="")

    def advance(self, amount: float = 1.0, **info: float | str) -> None:
        if self._task is not None:
            text = "  ".join(
                f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                for key, value in info.items()
            )
            fields: dict[str, Any] = {"info": text} if info else {}
            self._bar.update(self._task, advance=amount, **fields)

    def finish(self) -> None:
        if self._task is not None:
            task = self._bar.tasks[-1]
            if task.total is not None:
                self._bar.update(self._task, completed=task.total)
            self._task = None


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a table to standard output."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(value) for value in row))
    console.print(table)


def print_json(data: object) -> None:
    """Print JSON to standard output."""
    console.print_json(json.dumps(data, default=str))
