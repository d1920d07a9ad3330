"""The per-operation rate limiter spaces calls evenly at the configured rate."""

from __future__ import annotations

import asyncio
import time

from archiver._ratelimit import RateLimiter


async def test_calls_are_spaced_at_the_rate() -> None:
    limiter = RateLimiter({"GetWorkflow": 50.0})
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire("GetWorkflow") for _ in range(11)))
    elapsed = time.monotonic() - start
    # 11 calls at 50/s: the first goes at once, the last 10 intervals (0.2 s) later.
    assert 0.18 <= elapsed < 0.6
    assert limiter.statistics().calls == {"GetWorkflow": 11}


async def test_operations_are_paced_independently() -> None:
    limiter = RateLimiter({"GetWorkflow": 10.0, "GetWorkflowVersion": 10.0})
    start = time.monotonic()
    await asyncio.gather(
        *(limiter.acquire("GetWorkflow") for _ in range(5)),
        *(limiter.acquire("GetWorkflowVersion") for _ in range(5)),
    )
    # Each op needs 4 intervals of 100 ms; side by side they take ~0.4 s, one after the other ~0.9 s.
    assert 0.38 <= time.monotonic() - start < 0.75


async def test_unlimited_operations_do_not_wait() -> None:
    limiter = RateLimiter(None)
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire("GetWorkflow") for _ in range(100)))
    assert time.monotonic() - start < 0.5  # paced at any rate, 100 calls would take seconds
    assert limiter.statistics().waited_seconds == {}
