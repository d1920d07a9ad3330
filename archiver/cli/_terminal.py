"""The live area at the bottom of a terminal, drawn by rich.

Its own module so that rich (about 0.1 s of CPU to import) is loaded only when stderr is a
terminal: a nightly job, a ``--json`` run or a worker never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn
from rich.text import Text

__all__ = ["Terminal"]


class Terminal:
    """The live bottom line(s) of a terminal; log lines are printed above them.

    ``update(text)`` shows a one-line status; ``bar()`` a progress bar with totals, percentage and
    ETA. ``clear()`` removes the live area before the command prints its result.
    """

    def __init__(self, stream: TextIO) -> None:
        self.console = Console(file=stream, highlight=False, markup=False, emoji=False)
        self._live: Progress | None = None
        self._status: TaskID | None = None
        self._bars: dict[str, TaskID] = {}

    def _start(self, progress: Progress) -> Progress:
        if self._live is not None:
            self._live.stop()
        self._live = progress
        progress.start()
        return progress

    def update(self, text: str, *, force: bool = False) -> None:
        """A status line (the status of commands without a bar)."""
        live = self._live
        if live is None or self._status is None:
            live = self._start(
                Progress(TextColumn("{task.description}"), console=self.console, transient=True)
            )
            self._status, self._bars = live.add_task(text, total=None), {}
        live.update(self._status, description=text)
        if force:
            live.refresh()

    def bar(
        self,
        *,
        key: str = "",
        description: str,
        total: float,
        completed: float,
        eta: str,
        detail: str | None = None,
        visible: bool = True,
    ) -> None:
        """A bar (one per ``key``): ``description``, the bar, its percentage and ``eta``; under the
        bars, ``detail`` (the last one given)."""
        live = self._live
        if not isinstance(live, _BarAndDetail):
            live = _BarAndDetail(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                TaskProgressColumn(),
                TextColumn("{task.fields[eta]}"),
                console=self.console,
                transient=True,
                refresh_per_second=4,
            )
            self._start(live)
            self._bars, self._status = {}, None
        task = self._bars.get(key)
        if task is None:
            task = self._bars[key] = live.add_task(description, total=total, eta=eta)
        live.update(task, description=description, total=total, completed=completed, eta=eta, visible=visible)
        if detail is not None:
            live.detail = detail

    def print(self, text: str) -> None:
        self.console.print(text, soft_wrap=True)

    def clear(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
            self._status, self._bars = None, {}

    def restore(self) -> None:
        """Kept for callers of the older status line; the live area redraws itself."""


class _BarAndDetail(Progress):
    """rich's Progress with one more line under the bar (the counts), so that each line fits 80 columns."""

    detail = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.detail:
            yield Text(self.detail, no_wrap=True, overflow="ellipsis")
