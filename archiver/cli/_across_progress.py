"""Live progress of ``restore --targets`` and ``drill`` across many destinations.

A migration of an organization runs for a long time with little to show until its summary: this
draws, on a terminal, one line per destination at work (the source it is on, how many of its
sources are done, for how long) and a bar of all sources done with the rate and ETA, the way
``backup --targets`` shows its targets (:class:`~archiver.cli._progress.TargetsProgress`).
Within a source, the line counts the items restored of those planned, from the restore's own
``planned``, ``created``, ``skipped`` and ``failed`` log events (labelled with their destination by
:class:`~archiver.targets.TargetLogFilter`): the restore reports its progress that way only, and
a view must not reach into it. Without a terminal it logs one ``destinations-progress`` event as
each source ends (its fields are documented in the README), so a JSON log is never flooded by redraws.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..targets import Destination, DestinationRun, Source, SourceRun, Target, TargetLogFilter
from ._progress import human_seconds
from ._words import count

if TYPE_CHECKING:
    from ._terminal import Terminal

__all__ = ["DestinationsProgress"]

log = logging.getLogger("archiver.progress")


class DestinationsProgress:
    """The ``on_source`` and ``on_done`` hooks of ``restore_targets``/``drill_targets``.

    ``verb`` says what a destination does to a source (``restoring``), ``what`` names a
    destination (``destination``, ``sandbox``), ``ok`` tells a good source row from a bad one.
    """

    def __init__(
        self,
        terminal: Terminal | None,
        destinations: Sequence[Destination],
        *,
        verb: str,
        what: str,
        ok: Callable[[Any], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.terminal = terminal
        self.verb, self.what, self._ok = verb, what, ok
        self._clock = clock
        self._began = clock()
        self._sizes = {d.target.key: len(d.sources) for d in destinations}
        self._total = sum(self._sizes.values())
        self._done: dict[str, int] = dict.fromkeys(self._sizes, 0)
        self._since: dict[str, float] = {}
        self._ended: set[str] = set()
        self._bad = 0
        self._doing: dict[str, str] = {}
        self._items: dict[str, list[int]] = {}  # destination: [done, planned] of its current source
        self._totals()

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """While the work runs, count each destination's items from its restore's log events."""
        if self.terminal is None:
            yield
            return
        handler = _ItemEvents(self._item)
        logger = logging.getLogger("archiver")
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)

    def _item(self, key: str, event: str, items: int) -> None:
        if key not in self._sizes:
            return
        counts = self._items.setdefault(key, [0, 0])
        if event == "planned":
            counts[:] = [0, items]
        else:
            counts[0] = min(counts[0] + 1, counts[1]) if counts[1] else counts[0] + 1
        self._draw(key, self._doing.get(key, ""))

    def source(self, target: Target, source: Source, row: SourceRun[Any] | None) -> None:
        key = target.key
        if row is None:
            self._since.setdefault(key, self._clock())
            self._doing[key] = f"{self.verb} {source.key}"
            self._items.pop(key, None)
            self._draw(key, self._doing[key])
            return
        self._done[key] += 1
        self._items.pop(key, None)  # its items are in the source now done
        self._bad += 0 if self._ok(row) else 1
        self._event(key, source, row)
        self._draw(key, f"{self.verb} {source.key} done")

    def destination(self, result: DestinationRun[Any]) -> None:
        key = result.target.key
        self._ended.add(key)
        missed = self._sizes.get(key, 0) - self._done.get(key, 0)
        if missed > 0:  # never reached (AssumeRole refused): each of its sources failed
            self._done[key] += missed
            self._bad += missed
            if self.terminal is None:
                log.info(
                    "%s %s could not be reached: %s failed",
                    self.what,
                    key,
                    count(missed, "source"),
                    extra=self._fields(),
                )
        if self.terminal is not None:
            self.terminal.bar(key=key, description="", total=1, completed=1, eta="", visible=False)
        self._totals()

    def _fields(self) -> dict[str, Any]:
        done = sum(self._done.values())
        return {
            "event": "destinations-progress",
            "sourcesDone": done,
            "sourcesTotal": self._total,
            "sourcesNotOk": self._bad,
            "destinationsDone": len(self._ended),
            "destinationsTotal": len(self._sizes),
            "elapsedSeconds": round(self._clock() - self._began, 1),
            "etaSeconds": self._eta(done),
        }

    def _eta(self, done: float) -> float | None:
        elapsed = self._clock() - self._began
        if not done or elapsed <= 0:
            return None
        return round((self._total - done) * elapsed / done, 1)

    def _event(self, key: str, source: Source, row: SourceRun[Any]) -> None:
        if self.terminal is not None:
            return
        fields = self._fields()
        log.info(
            "%s into %s %s; %d of %d sources done, %d not ok",
            source.key,
            key,
            "ok" if self._ok(row) else "NOT ok",
            fields["sourcesDone"],
            self._total,
            self._bad,
            extra={**fields, "source": source.key, "ok": self._ok(row)},
        )

    def _draw(self, key: str, doing: str) -> None:
        if self.terminal is None:
            return
        size, done = self._sizes.get(key, 0), self._done.get(key, 0)
        since = self._since.get(key, self._clock())
        items = self._items.get(key)
        sources = f"source {min(done + 1, size)}/{size}" if size > 1 else ""
        what = [
            sources,
            f"{items[0]}/{items[1]} items" if items else "",
            human_seconds(self._clock() - since),
        ]
        self.terminal.bar(
            key=key,
            description=f"{key}  {doing}",
            total=max(size, 1),
            completed=done + self._part(key),
            eta=", ".join(w for w in what if w),
        )
        self._totals()

    def _part(self, key: str) -> float:
        """How much of the source at work is done, by its items: a bar moves within a source."""
        items = self._items.get(key)
        if not items or not items[1] or self._done.get(key, 0) >= self._sizes.get(key, 0):
            return 0.0
        return items[0] / items[1]

    def _totals(self) -> None:
        if self.terminal is None:
            return
        done = sum(self._done.values())
        progressed = done + sum(self._part(key) for key in self._items)
        self.terminal.bar(
            key="",
            description=f"{self.what}s {len(self._ended)}/{len(self._sizes)} done",
            total=max(self._total, 1),
            completed=progressed,
            eta=f"ETA {human_seconds(self._eta(progressed))}",
            detail=f"  {done} of {count(self._total, 'source')} done, {self._bad} not ok",
        )


_ITEM_EVENTS = frozenset({"planned", "created", "skipped", "failed"})


class _ItemEvents(logging.Handler):
    """Hands each restore item event (with the destination its record is labelled with) to ``seen``."""

    def __init__(self, seen: Callable[[str, str, int], None]) -> None:
        super().__init__()
        self._seen = seen
        self._label = TargetLogFilter()

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if event not in _ITEM_EVENTS:
            return
        labelled = copy.copy(record)  # labelled here, so the other handlers' labels are their own
        self._label.filter(labelled)
        account, region = getattr(labelled, "account", None), getattr(labelled, "region", None)
        if account is None or region is None:
            return  # not within a destination's work
        items = getattr(record, "items", 0)
        self._seen(f"{account}/{region}", str(event), items if isinstance(items, int) else 0)
