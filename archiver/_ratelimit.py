"""Client-side rate limiting matched to the HealthOmics API quotas.

The quotas (requests per second, per account, region and operation) are the real limit on how
fast a backup can go. Running right under them is faster than running into them: every
ThrottlingException costs a back-off of a second or more, and botocore's adaptive mode only learns
the rate after being throttled. So each operation gets its own limiter that spaces calls evenly at
the configured rate (a burst of one: calls never bunch up), and the pipeline's concurrency only has
to be high enough to keep every operation busy.

The defaults are the published quotas (see ``healthomics-facts.md``); the version operations have
no published quota and are assumed to be 10/s like the workflow operations.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_RATES", "RateLimiter", "RateLimiterStats"]

DEFAULT_RATES: Mapping[str, float] = {
    "ListWorkflows": 10.0,
    "GetWorkflow": 10.0,
    "UpdateWorkflow": 10.0,
    "DeleteWorkflow": 10.0,
    "CreateWorkflow": 5.0,
    "ListWorkflowVersions": 10.0,
    "GetWorkflowVersion": 10.0,
    "CreateWorkflowVersion": 10.0,
    "UpdateWorkflowVersion": 10.0,
    "DeleteWorkflowVersion": 10.0,
    "ListShares": 1.0,
    "GetShare": 1.0,
    "CreateShare": 1.0,
    "AcceptShare": 1.0,
    "DeleteShare": 1.0,
    "TagResource": 10.0,
    "UntagResource": 10.0,
    "ListTagsForResource": 10.0,
}


@dataclass(frozen=True, slots=True)
class RateLimiterStats:
    """How many calls went through each operation's limiter and how long they waited in total."""

    calls: Mapping[str, int]
    waited_seconds: Mapping[str, float]


class _Pacer:
    """Spaces acquisitions ``1/rate`` seconds apart (a token bucket of capacity one)."""

    __slots__ = ("_interval", "_lock", "_next", "rate")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    def set_rate(self, rate: float) -> None:
        self._interval = 1.0 / rate

    async def acquire(self) -> float:
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)
            return wait
        return 0.0


class RateLimiter:
    """One pacer per operation; operations without a configured rate are not limited.

    ``rates`` maps an operation name to requests per second; a rate of ``0`` or less, or a
    ``None`` mapping, disables limiting for that operation (or all of them).
    """

    def __init__(self, rates: Mapping[str, float] | None = DEFAULT_RATES) -> None:
        self._pacers: dict[str, _Pacer] = {}
        for op, rate in (rates or {}).items():
            if rate > 0:
                self._pacers[op] = _Pacer(rate)
        self._calls: dict[str, int] = {}
        self._waited: dict[str, float] = {}

    async def acquire(self, operation: str) -> None:
        """Wait until ``operation`` may be called again without exceeding its rate."""
        self._calls[operation] = self._calls.get(operation, 0) + 1
        pacer = self._pacers.get(operation)
        if pacer is None:
            return
        waited = await pacer.acquire()
        if waited:
            self._waited[operation] = self._waited.get(operation, 0.0) + waited

    def share(self, fraction: float) -> None:
        """Pace every operation at ``fraction`` of its configured rate, for one of several processes
        that together must stay under the account's quotas."""
        if not 0 < fraction <= 1:
            raise ValueError(f"a rate share must be in (0, 1], not {fraction}")
        for pacer in self._pacers.values():
            pacer.set_rate(pacer.rate * fraction)

    def statistics(self) -> RateLimiterStats:
        return RateLimiterStats(calls=dict(self._calls), waited_seconds=dict(self._waited))
