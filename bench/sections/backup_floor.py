"""Incremental nightly runs and CPU per item against their issue-11 targets (points 1 and 5).

The measuring code is ``bench/incremental.py`` and ``bench/cpu.py`` (each also runs on its own);
these sections run them inside ``make bench`` and report their figures beside the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import cpu, incremental
from ..measure import section

if TYPE_CHECKING:
    from ..suite import Suite


@section("incremental", order=35)
def incremental_runs(suite: Suite) -> None:
    """first and unchanged nightly runs (200 x 2, 20 x 200) against their quota-bound minimum"""
    quick = suite.sizes.quick
    corpora = [(20, 2)] if quick else [(200, 2), (20, 200)]
    for workflows, versions in corpora:
        label = f"{workflows}x{versions}"
        got = incremental.measure(
            suite.work / f"incremental-{label}", workflows, versions, repeat=1, nights=1 if quick else 2
        )
        suite.details.setdefault("incremental", []).append(got)
        first = got["first_s"]
        suite.measure(f"incr.{label}.first_s", f"incremental {label}: first run", first, "s")
        suite.measure(
            f"incr.{label}.first_calls", f"incremental {label}: first run calls", got["first_calls"], "count"
        )
        suite.measure(
            f"incr.{label}.unchanged_s", f"incremental {label}: unchanged run", got["unchanged_s"], "s"
        )
        suite.measure(
            f"incr.{label}.unchanged_calls",
            f"incremental {label}: unchanged run calls",
            got["unchanged_calls"],
            "count",
        )
        suite.measure(
            f"incr.{label}.unchanged_bound_s",
            f"incremental {label}: unchanged run quota-bound minimum (from its calls)",
            got["unchanged_bound_s"],
            "s",
        )
        if versions == 2:
            suite.measure(
                f"incr.{label}.ratio",
                f"incremental {label}: unchanged run / its bound",
                got["unchanged_ratio_to_bound"],
                "x",
                target="<= 1.15",
            )
            suite.measure(
                f"incr.{label}.to_first",
                f"incremental {label}: unchanged run / first run",
                got["unchanged_to_first"],
                "x",
                target="<= 0.55",
            )
        else:
            suite.measure(
                f"incr.{label}.speedup",
                f"incremental {label}: first run / unchanged run",
                first / got["unchanged_s"],
                "x",
                target=">= 10",
            )


@section("cpu", order=36)
def cpu_per_item(suite: Suite) -> None:
    """CPU per item with quotas lifted, side by side with the 16-thread boto3 script"""
    quick = suite.sizes.quick
    workflows, versions = (20, 2) if quick else (200, 2)
    got = cpu.measure(suite.work / "cpu", workflows, versions, rounds=1 if quick else 3, profile=None)
    suite.details["cpu"] = got
    script, ours = got["threaded"], got["pipeline-auto"]
    label = f"{workflows}x{versions}"
    suite.measure("cpu.script_s", f"16-thread boto3 script {label}: wall time", script["seconds"], "s")
    suite.measure(
        "cpu.script_ms", f"16-thread boto3 script {label}: CPU per item", script["cpu_ms_per_item"], "ms"
    )
    suite.measure("cpu.pipeline_s", f"pipeline --no-rate-limit {label}: wall time", ours["seconds"], "s")
    suite.measure(
        "cpu.pipeline_ms",
        f"pipeline --no-rate-limit {label}: CPU per item",
        ours["cpu_ms_per_item"],
        "ms",
        target="<= 3",
    )
    suite.measure(
        "cpu.pipeline_marginal_ms",
        f"pipeline --processes 1: CPU per item past the start ({label} -> twice that)",
        got["pipeline-1-marginal-ms"],
        "ms",
        target="<= 3",
    )
    suite.measure(
        "cpu.script_marginal_ms",
        f"16-thread boto3 script: CPU per item past the start ({label} -> twice that)",
        got["threaded-marginal-ms"],
        "ms",
    )
    suite.measure(
        "cpu.pipeline_1_ms",
        f"pipeline --processes 1 {label}: CPU per item",
        got["pipeline-1"]["cpu_ms_per_item"],
        "ms",
    )
    suite.measure(
        "cpu.speedup",
        "pipeline wall-time speedup over the 16-thread script",
        got["pipeline-auto-speedup"],
        "x",
        target=">= 1.5",
    )
    suite.measure(
        "cpu.relative",
        "pipeline CPU per item / the script's",
        ours["cpu_ms_per_item"] / script["cpu_ms_per_item"],
        "x",
        target="< 1",
    )
