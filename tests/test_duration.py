"""Durations on the command line: explicit units, ``m`` is minutes, months only for retention."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archiver._prune import Duration
from archiver.cli import main
from archiver.cli._duration import parse_duration, parse_retention
from archiver.store import StoreOptions, open_archive


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("7d", 604800),
        ("1w", 604800),
        ("1h30m", 5400),
        ("50ms", 0.05),
    ],
)
def test_durations_take_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("30", "has no unit: write 30s"),
        ("2mo", "retention only"),
        ("1y", "retention only"),
        ("5x", "unknown unit"),
    ],
)
def test_durations_refused_with_a_hint(text: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        parse_duration(text)


def test_retention_spells_months_mo_and_refuses_m() -> None:
    assert parse_retention("1y6mo2w1d12h") == Duration(years=1, months=6, days=15, hours=12)
    with pytest.raises(ValueError, match="write months as 'mo'"):
        parse_retention("2m")


def test_lock_wait_2m_is_two_minutes_and_a_bad_one_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["prune", "--store", "x", "--keep-last", "1", "--lock-wait", "2mo"])
    assert done.value.code == 2
    assert "months and years are for retention only" in capsys.readouterr().err


def test_a_reader_that_goes_away_is_no_traceback(tmp_path: Path) -> None:
    """``omics-archiver list | head``: the pipe's reader is gone before anything is written."""

    async def make() -> None:
        async with open_archive(str(tmp_path), StoreOptions(), create=True):
            pass

    asyncio.run(make())
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "archiver.cli", "list", "--store", str(tmp_path), "--no-cache"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141
