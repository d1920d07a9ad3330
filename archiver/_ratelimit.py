"""Client-side rate limiting matched to the HealthOmics API quotas.

The quotas (requests per second, per account, region and operation) are the real limit on how
fast a backup can go. Running right under them is faster than running into them: every
ThrottlingException costs a back-off of a second or more, and botocore's adaptive mode only learns
the rate after being throttled. So each operation gets its own limiter that spaces calls evenly at
the configured rate (a burst of one: calls never bunch up), and the pipeline's concurrency only has
to be high enough to keep every operation busy.

The defaults are the published quotas (see ``healthomics-facts.md``); the version operations have
no published quota and are assumed to be 10/s like the workflow operations.

The configured rate is a ceiling, not a promise: an account's real quota may be lower, or shared
with other clients. So each pacer adapts (additive increase, multiplicative decrease, as
botocore's adaptive mode and the AWS SDKs do): a throttle cuts the operation's rate by
``_DECREASE`` (at most once per ``_COOLDOWN`` seconds, so that a burst of throttles answered to
calls already in flight counts once), and each success adds back ``_INCREASE`` of the ceiling.
``_aws.OmicsApi`` reports both, and every retry of a throttled call takes a token like any call.

An operation may be allowed a burst (:meth:`RateLimiter.allow_burst`): the service's quota is
assumed to be a token bucket holding one second of its rate that is full when the account has
been idle, so a run whose calls of that operation all come at once (a restore's creates) may
start with back-to-back calls instead of spacing its first second. The client's bucket holds
fewer tokens than the service's (at least one less), so that calls bunched on their way (network
jitter, a busy event loop at either end) still find one; after a throttle the operation goes back
to a burst of one (the bucket was not full: another client is using the quota).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
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


_DECREASE = 0.7  # a throttle leaves this share of the current rate
_COOLDOWN = 1.0  # seconds between two decreases of one operation's rate
_INCREASE = 0.02  # share of the ceiling a success adds back
_FLOOR = 0.05  # share of the ceiling the rate never drops below
_BURST_SECONDS = 1.0  # the service's bucket is assumed to hold this much of the rate


@dataclass(frozen=True, slots=True)
class RateLimiterStats:
    """How many calls went through each operation's limiter and how long they waited in total;
    how often each was throttled, and the lowest rate it was cut to."""

    calls: Mapping[str, int]
    waited_seconds: Mapping[str, float]
    throttled: Mapping[str, int]
    lowest_rate: Mapping[str, float]


class _Pacer:
    """Spaces acquisitions ``1/current`` seconds apart (a token bucket of capacity ``burst``, one
    unless allowed more: GCRA, the generic cell rate algorithm); the current rate moves between a
    floor and the ceiling ``rate x share`` (AIMD, see above)."""

    __slots__ = (
        "_burst",
        "_ceiling",
        "_current",
        "_interval",
        "_last_cut",
        "_lock",
        "_next",
        "lowest",
        "rate",
    )

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._ceiling = rate
        self._current = rate
        self.lowest = rate
        self._interval = 1.0 / rate
        self._next = 0.0  # the theoretical time of the next call at the steady rate
        self._burst = 1
        self._last_cut = -_COOLDOWN
        self._lock = asyncio.Lock()

    def allow_burst(self, spare: int) -> None:
        self._burst = max(1, int(self._current * _BURST_SECONDS) - spare)

    def set_rate(self, rate: float) -> None:
        self._ceiling = rate
        self._set(rate)

    def _set(self, rate: float) -> None:
        self._current = max(self._ceiling * _FLOOR, min(self._ceiling, rate))
        self.lowest = min(self.lowest, self._current)
        self._interval = 1.0 / self._current

    def throttled(self) -> None:
        self._burst = 1
        now = time.monotonic()
        if now - self._last_cut >= _COOLDOWN:
            self._last_cut = now
            self._set(self._current * _DECREASE)

    def succeeded(self) -> None:
        if self._current < self._ceiling:
            self._set(self._current + self._ceiling * _INCREASE)

    async def acquire(self) -> float:
        async with self._lock:
            now = time.monotonic()
            wait = self._next - (self._burst - 1) * self._interval - now
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
        self._throttled: dict[str, int] = {}

    async def acquire(self, operation: str) -> None:
        """Wait until ``operation`` may be called again without exceeding its rate."""
        self._calls[operation] = self._calls.get(operation, 0) + 1
        pacer = self._pacers.get(operation)
        if pacer is None:
            return
        waited = await pacer.acquire()
        if waited:
            self._waited[operation] = self._waited.get(operation, 0.0) + waited

    def allow_burst(self, operations: Iterable[str], *, spare: int = 1) -> None:
        """Let each of ``operations`` start with a burst (see the module docstring): the service's
        bucket less ``spare`` tokens (at least one), kept for calls that reach the service sooner
        than their turn; for calls that all come together, when the account's quota is presumably
        unused (a restore's creates)."""
        for op in operations:
            pacer = self._pacers.get(op)
            if pacer is not None:
                pacer.allow_burst(max(1, spare))

    def throttled(self, operation: str) -> None:
        """``operation`` was throttled: slow it down."""
        self._throttled[operation] = self._throttled.get(operation, 0) + 1
        pacer = self._pacers.get(operation)
        if pacer is not None:
            pacer.throttled()

    def succeeded(self, operation: str) -> None:
        """``operation`` answered: let its rate grow back towards the ceiling."""
        pacer = self._pacers.get(operation)
        if pacer is not None:
            pacer.succeeded()

    def share(self, fraction: float) -> None:
        """Pace every operation at ``fraction`` of its configured rate, for one of several processes
        that together must stay under the account's quotas."""
        if not 0 < fraction <= 1:
            raise ValueError(f"a rate share must be in (0, 1], not {fraction}")
        for pacer in self._pacers.values():
            pacer.set_rate(pacer.rate * fraction)

    def statistics(self) -> RateLimiterStats:
        return RateLimiterStats(
            calls=dict(self._calls),
            waited_seconds=dict(self._waited),
            throttled=dict(self._throttled),
            lowest_rate={op: p.lowest for op, p in self._pacers.items() if p.lowest < p.rate},
        )
