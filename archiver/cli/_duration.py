"""Durations on the command line, always with explicit units: ``90s``, ``15m``, ``2h``, ``7d``.

Why: a bare ``--lock-wait 2m`` used to mean two months in one command and two minutes in another,
and a bare number left the reader guessing the unit. Here ``m`` is minutes everywhere; months and
years exist only for retention (``--keep-within``), spelled ``mo`` and ``y``, where minutes make no
sense. Every error names the text and shows what would be accepted.
"""

from __future__ import annotations

import argparse
import math
import re

from .._prune import Duration

__all__ = ["duration_arg", "parse_duration", "parse_retention", "positive_duration_arg", "retention_arg"]

_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([a-z]+)")
_EXAMPLES = "e.g. 90s, 15m, 2h, 7d or 1h30m"


def _parts(text: str) -> list[tuple[str, str]]:
    compact = text.strip().lower()
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"not a duration: {text!r}; give a number with a unit, {_EXAMPLES}")
    return parts


def parse_duration(text: str) -> float:
    """Seconds in ``text``: numbers each followed by ``ms``, ``s``, ``m`` (minutes), ``h``, ``d`` or ``w``.

    ``0`` alone needs no unit. Months and years are refused here (a wait or a timeout is never
    that long, and ``m`` would be ambiguous); ``ValueError`` says what is accepted.
    """
    if text.strip() == "0":
        return 0.0
    if re.fullmatch(r"\s*[0-9]+(?:\.[0-9]+)?\s*", text):
        raise ValueError(f"{text.strip()!r} has no unit: write {text.strip()}s for seconds ({_EXAMPLES})")
    total = 0.0
    for number, unit in _parts(text):
        if unit in ("mo", "y"):
            raise ValueError(
                f"{text!r}: months and years are for retention only; give a wait in s, m, h, d or w"
            )
        if unit not in _SECONDS:
            raise ValueError(f"{text!r}: unknown unit {unit!r}; units are ms, s, m (minutes), h, d, w")
        total += float(number) * _SECONDS[unit]
    if not math.isfinite(total):
        raise ValueError(f"{text!r} is too long a duration")
    return total


def parse_retention(text: str) -> Duration:
    """A calendar duration for retention: ``y``, ``mo`` (months), ``w``, ``d``, ``h``: ``1y6mo``, ``30d``.

    ``m`` is refused with a hint (it means minutes elsewhere, and retention does not count minutes).
    """
    years = months = days = hours = 0
    for number, unit in _parts(text):
        if "." in number:
            raise ValueError(f"{text!r}: retention takes whole numbers, e.g. 36h rather than 1.5d")
        n = int(number)
        if unit == "y":
            years += n
        elif unit == "mo":
            months += n
        elif unit == "w":
            days += 7 * n
        elif unit == "d":
            days += n
        elif unit == "h":
            hours += n
        elif unit == "m":
            raise ValueError(
                f"{text!r}: 'm' means minutes, which retention does not count; "
                "write months as 'mo' (e.g. 6mo)"
            )
        else:
            raise ValueError(f"{text!r}: unknown unit {unit!r}; retention units are y, mo (months), w, d, h")
    return Duration(years=years, months=months, days=days, hours=hours)


def duration_arg(text: str) -> float:
    """argparse ``type`` for :func:`parse_duration`."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_duration_arg(text: str) -> float:
    """argparse ``type`` for a duration above zero (a timeout, an interval)."""
    value = duration_arg(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def retention_arg(text: str) -> Duration:
    """argparse ``type`` for :func:`parse_retention`."""
    try:
        return parse_retention(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
