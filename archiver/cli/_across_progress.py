"""Live progress of ``restore --targets`` and ``drill`` across many destinations.

A migration of an organization runs for a long time with little to show until its summary: this
draws, on a terminal, one line per destination at work (the source it is on, how many of its
sources are done, for how long) and a bar of all sources done with the rate and ETA, the way
``backup --targets`` shows its targets (:class:`~archiver.cli._progress.TargetsProgress`).
Without a terminal it logs one ``destinations-progress`` event as each source ends (its fields
are documented in the README), so a JSON log is never flooded by redraws.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..targets import Destination, DestinationRun, Source, SourceRun, Target
from ._progress import Terminal, human_seconds
from ._words import count

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
        self._totals()

    def source(self, target: Target, source: Source, row: SourceRun[Any] | None) -> None:
        key = target.key
        if row is None:
            self._since.setdefault(key, self._clock())
            self._draw(key, f"{self.verb} {source.key}")
            return
        self._done[key] += 1
        self._bad += 0 if self._ok(row) else 1
        self._event(key, source, row)
        self._draw(key, f"{self.verb} {source.key} done")
        self._totals()

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

    def _eta(self, done: int) -> float | None:
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
        size = self._sizes.get(key, 0)
        since = self._since.get(key, self._clock())
        self.terminal.bar(
            key=key,
            description=f"{key}  {doing}",
            total=max(size, 1),
            completed=self._done.get(key, 0),
            eta=f"{self._done.get(key, 0)}/{size} sources, {human_seconds(self._clock() - since)}",
        )

    def _totals(self) -> None:
        if self.terminal is None:
            return
        done = sum(self._done.values())
        self.terminal.bar(
            key="",
            description=f"{self.what}s {len(self._ended)}/{len(self._sizes)} done",
            total=max(self._total, 1),
            completed=done,
            eta=f"ETA {human_seconds(self._eta(done))}",
            detail=f"  {done} of {count(self._total, 'source')} done, {self._bad} not ok",
        )
