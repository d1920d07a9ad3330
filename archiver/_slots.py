"""A bound on work in flight whose waiting costs the same however many wait.

``asyncio.Semaphore`` (Python 3.11) walks every waiter on every ``acquire`` to stay fair, so a
pipeline that queues one task per version (a first run of a workflow with 4,000 versions, or 50
targets at once) spends time quadratic in the queue just to take turns: 2 % of a 50-target run's
CPU. :class:`Slots` keeps its waiters in a FIFO and hands a released slot straight to the first
one, in constant time.
"""

from __future__ import annotations

import asyncio
import collections
from types import TracebackType

__all__ = ["Slots"]


class Slots:
    """At most ``size`` holders at once (``async with slots:``), served first come, first served."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("Slots needs at least one slot")
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def free(self) -> int:
        return self._free

    async def __aenter__(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn  # a release hands its slot over by completing ``turn``
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # handed a slot, cancelled before taking it: pass it on
            # else it stays queued, cancelled: a release skips it
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1
