"""The benchmark harness's measurements: targets, quick-run comparison, section registration."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.measure import SECTIONS, Section, Target, section
from bench.suite import Sizes, Suite, run_sections, section_summary, table


def _suite(tmp_path: Path, *, quick: bool) -> Suite:
    sizes = Sizes(workflows=1, versions=1, big_bytes=1, repeat=1, repeat_long=1, quick=quick)
    return Suite(sizes, tmp_path)


@pytest.mark.parametrize(
    ("text", "value", "ok"),
    [
        ("<= 5", 5.0, True),
        ("<= 5", 5.01, False),
        ("< 150", 150, False),
        (">= 1.5", 1.6, True),
        ("== 0", 1, False),
    ],
)
def test_target_compares(text: str, value: float, ok: bool) -> None:
    assert Target.parse(text).check(value) is ok


def test_target_refuses_text_it_cannot_compare() -> None:
    with pytest.raises(ValueError, match="not a target"):
        Target.parse("fast")


def test_full_run_compares_and_reports_fail(tmp_path: Path) -> None:
    suite = _suite(tmp_path, quick=False)
    suite.measure("x.s", "list: wall time", 6.0, "s", target="<= 5")
    suite.measure("x.s", "list: wall time", 7.0, "s", target="<= 5")
    m = suite.metrics["x.s"]
    assert (m.median, m.passed, m.result) == (6.5, False, "FAIL")
    assert "<= 5" in table([m]) and "FAIL" in table([m])


def test_quick_run_compares_only_quick_targets(tmp_path: Path) -> None:
    suite = _suite(tmp_path, quick=True)
    full = suite.measure("a", "ratio", 3.0, "x", target="<= 1.15")
    both = suite.measure("b", "throttled", 1, "count", target="== 0", quick_target="== 0")
    own = suite.measure("c", "list", 1.0, "s", target="<= 5", quick_target="<= 0.5")
    assert (full.passed, full.result, full.target_text) == (None, "not compared", "(<= 1.15 full run)")
    assert (both.passed, both.result) == (False, "FAIL")
    assert (own.passed, own.target_text) == (False, "<= 0.5")


def test_sections_register_once_by_name() -> None:
    @section("test-only-section", order=999)
    def first(suite: Suite) -> None:
        """does nothing"""

    try:
        assert SECTIONS["test-only-section"].help == "does nothing"
        with pytest.raises(ValueError, match="two benchmark sections"):
            section("test-only-section")(lambda suite: None)
    finally:
        SECTIONS.pop("test-only-section")


def test_a_failing_section_is_reported_and_the_next_one_runs(tmp_path: Path) -> None:
    suite = _suite(tmp_path, quick=False)

    def broken(suite: Suite) -> None:
        suite.measure("first.s", "first: wall time", 1.0, "s", target="<= 5")
        raise KeyError("stdout held no JSON")

    def fine(suite: Suite) -> None:
        suite.measure("second.s", "second: wall time", 9.0, "s", target="<= 5")

    chosen = [Section("broken", broken, 1, ""), Section("fine", fine, 2, "")]
    ran, failed, seconds = run_sections(suite, chosen)
    assert ran == ["broken", "fine"] and list(failed) == ["broken"]
    assert "KeyError" in failed["broken"] and set(seconds) == {"broken", "fine"}
    assert suite.metrics["second.s"].result == "FAIL" and suite.metrics["first.s"].result == "PASS"
    assert "KeyError" in (tmp_path / "logs" / "section-broken.traceback").read_text()
    summary = section_summary(ran, seconds, failed)
    assert "FAILED: KeyError" in summary and "total" in summary


def test_a_child_s_peak_rss_is_its_own_not_the_bench_s(tmp_path: Path) -> None:
    """Started from the bench directly, a child's peak RSS began at the bench's own: every command
    seemed to need ~80 MB. The launcher reports the command alone."""
    import sys

    from bench._proc import run

    ballast = bytearray(150 << 20)  # the bench holding 150 MB
    ballast[::4096] = b"x" * len(ballast[::4096])  # touched, so resident
    small = run([sys.executable, "-c", "pass"], log_dir=tmp_path, name="small", timeout=60)
    big = run(
        [sys.executable, "-c", "b = bytearray(120 << 20); b[::4096] = b'x' * len(b[::4096])"],
        log_dir=tmp_path,
        name="big",
        timeout=60,
    )
    del ballast
    assert small.returncode == 0 and big.returncode == 0
    assert small.maxrss_kib < 60 << 10, small.maxrss_kib  # a bare interpreter: ~10 MB, not 150
    assert 120 << 10 <= big.maxrss_kib < 200 << 10, big.maxrss_kib
    assert 0 < small.cpu_seconds < big.cpu_seconds + 1 and small.seconds > 0
    with pytest.raises(RuntimeError, match=r"killed after 0\.5 s"):
        run([sys.executable, "-c", "import time; time.sleep(30)"], log_dir=tmp_path, name="slow", timeout=0.5)
