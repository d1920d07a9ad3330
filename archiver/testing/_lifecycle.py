"""Lifecycle and read consistency of emulated resources: what a read answers after a write.

The service is asynchronous and its reads are eventually consistent (see docs/emulator.md,
"Lifecycle and consistency"). This module owns the two rules that make the emulator as strict:

- **Deleted resources linger.** A deleted workflow or version is kept as a tombstone with status
  DELETED that reads (Get and List) still answer until ``deleted_linger`` has passed; then 404.
- **Reads lag writes.** For ``consistency_lag`` seconds after a create, update or delete, each read
  answers either the state before the change (404 / absent before a create, the old fields and
  status before an update, the live resource before a delete) or the state after it. The choice is
  drawn per read from a ``random.Random`` seeded from ``random_seed``, with the chance of the old
  state falling linearly from 1 right after the change to 0 at the end of the lag. Reads are thus
  non-monotonic (a client may see the new state, then the old again), which is harsher than a
  fixed delay, and a read right after a write almost always sees the old state. Writes always act
  on the true state.

Records carry their own history (:class:`Lifecycled`): when they last changed and a frozen copy of
what reads answered before. Everything here runs on the emulator's event loop thread only.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Consistency", "Lifecycled", "mark_changed", "snapshot"]


@dataclass(eq=False, kw_only=True)
class Lifecycled:
    """History a record keeps for reads: its latest change and what reads answered before it.

    ``before`` is ``None`` when the resource did not exist before (a create), else a frozen copy;
    ``gone_at`` is when a DELETED tombstone stops answering (infinity for live records);
    ``updating_until`` ends an UPDATING status.
    """

    changed_at: float = -math.inf
    before: Any = None
    gone_at: float = math.inf
    updating_until: float = 0.0


R = TypeVar("R", bound=Lifecycled)


def snapshot(record: R) -> R:
    """A frozen copy of ``record`` as reads see it now (without history of its own)."""
    frozen = copy.copy(record)
    frozen.before = None
    frozen.changed_at = -math.inf
    return frozen


def mark_changed(record: Lifecycled, now: float, before: Lifecycled | None) -> None:
    """Record that ``record`` changed at ``now``; until the lag passes, reads may answer ``before``."""
    record.changed_at = now
    record.before = before


class Consistency:
    """Decides, read by read, whether a recently changed resource is seen before or after the change."""

    def __init__(self, random_seed: int) -> None:
        self.lag = 0.0
        self.reseed(random_seed)

    def reseed(self, random_seed: int) -> None:
        self._rng = random.Random(f"consistency:{random_seed}")

    def visible(self, record: R | None, now: float) -> R | None:
        """What a read answers for ``record`` (live or tombstone): itself, its past, or nothing."""
        if record is None:
            return None
        view: R | None = record
        age = now - record.changed_at
        if self.lag > 0 and age < self.lag and self._rng.random() >= age / self.lag:
            view = record.before
        if view is None or now >= view.gone_at:
            return None
        return view

    def forgotten(self, tombstone: Lifecycled, now: float) -> bool:
        """Whether no read can see ``tombstone`` any more (it may be dropped)."""
        return now >= tombstone.gone_at and now - tombstone.changed_at >= self.lag
