"""A progress bar for report rendering: rich on a terminal, silent otherwise."""

from __future__ import annotations

import sys
from types import TracebackType

__all__ = ["ReportProgress"]


class ReportProgress:
    """Counts rendering steps; shows a rich progress bar only when ``enabled`` (default: stdout is a TTY).

    Use as a context manager and call :meth:`advance` after each step.
    """

    def __init__(self, total: int, enabled: bool | None = None, description: str = "Rendering report") -> None:
        self.total = total
        self.enabled = sys.stdout.isatty() if enabled is None else enabled
        self.description = description
        self.done = 0
        self._progress = None
        self._task = None

    def __enter__(self) -> ReportProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def advance(self, label: str = "") -> None:
        """Mark one step done; ``label`` names the next step shown."""
        self.done += 1
        if self._progress is not None and self._task is not None:
            desc = f"{self.description}: {label}" if label else self.description
            self._progress.update(self._task, advance=1, description=desc)

    def add_total(self, n: int) -> None:
        """Announce ``n`` more steps."""
        self.total += n
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=self.total)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
            self._progress = None
