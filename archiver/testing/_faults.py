"""Quotas, injected faults and call statistics: the emulator's answer to "how does it fail?".

Every API call passes :meth:`Governor.admit` before its operation runs. Quotas are token buckets per
(account, region, operation) holding one second of their rate; a call finding the bucket empty is
answered ThrottlingException. Random faults come from one :class:`random.Random` per decision and
operation, each seeded from ``random_seed``, so a test that makes the same calls in the same order
sees the same faults. :class:`StatsRecorder` counts what was served; it is read from other threads,
hence its lock.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

from ._config import EmulatorConfig, EmulatorStats
from ._model import ApiError

__all__ = ["Governor", "StatsRecorder"]


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class Governor:
    """Decides, per call and per download, whether to throttle, fail, truncate or expire early."""

    def __init__(self, random_seed: int) -> None:
        self._seed = random_seed
        self._rngs: dict[str, random.Random] = {}
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}

    def reseed(self, random_seed: int) -> None:
        self._seed = random_seed
        self._rngs.clear()

    def _rng(self, purpose: str) -> random.Random:
        rng = self._rngs.get(purpose)
        if rng is None:
            rng = self._rngs[purpose] = random.Random(f"{self._seed}:{purpose}")
        return rng

    def _draw(self, purpose: str, probability: float) -> bool:
        if probability <= 0.0:
            return False
        return self._rng(purpose).random() < probability

    def _take(self, key: tuple[str, str, str], rate: float) -> bool:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=rate, stamp=now)
        bucket.tokens = min(rate, bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0 or (rate < 1.0 and bucket.tokens >= rate):
            bucket.tokens -= 1.0
            return True
        return False

    def admit(self, config: EmulatorConfig, account: str, region: str, op: str) -> None:
        """Raise the ThrottlingException or InternalServerException this call gets, if any."""
        quotas = config.quotas
        if quotas is not None and op in quotas and not self._take((account, region, op), float(quotas[op])):
            raise ApiError("ThrottlingException", "Rate exceeded")
        faults = config.faults
        throttle = faults.throttle_rate.get(op, faults.throttle_rate.get("*", 0.0))
        if self._draw(f"throttle:{op}", throttle):
            raise ApiError("ThrottlingException", "Rate exceeded")
        error = faults.error_rate.get(op, faults.error_rate.get("*", 0.0))
        if self._draw(f"error:{op}", error):
            raise ApiError("InternalServerException", "Internal server error (injected fault)")

    def expire_early(self, config: EmulatorConfig) -> bool:
        return self._draw("expire-early", config.faults.expire_early_rate)

    def truncate_at(self, config: EmulatorConfig, size: int) -> int | None:
        """Where to cut a download of ``size`` bytes short, or None to send it whole."""
        if size == 0 or not self._draw("truncate", config.faults.truncate_rate):
            return None
        return self._rng("truncate-at").randrange(0, size)


class StatsRecorder:
    """Thread-safe counters behind ``Emulator.stats()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: Counter[str] = Counter()
            self._throttled: Counter[str] = Counter()
            self._errors: Counter[str] = Counter()
            self._bytes: Counter[str] = Counter({"definition": 0, "readme": 0})
            self._downloads = 0

    def call(self, op: str) -> None:
        with self._lock:
            self._calls[op] += 1

    def failed(self, op: str, code: str) -> None:
        with self._lock:
            if code == "ThrottlingException":
                self._throttled[op] += 1
            else:
                self._errors[op] += 1

    def download(self) -> None:
        with self._lock:
            self._downloads += 1

    def sent(self, kind: str, count: int) -> None:
        with self._lock:
            self._bytes[kind] += count

    def snapshot(self) -> EmulatorStats:
        with self._lock:
            return EmulatorStats(
                calls=dict(self._calls),
                throttled=dict(self._throttled),
                errors=dict(self._errors),
                export_bytes={"definition": self._bytes["definition"], "readme": self._bytes["readme"]},
                downloads=self._downloads,
                layer_bytes=self._bytes["layer"],
            )
