"""Restore benchmarks: a first restore into an empty region and its rerun, against their quota bounds.

Issue 11, point 2: a restore makes only the calls it needs. The corpus is backed up with the quotas
lifted (the backup is measured elsewhere), then restored with the default quotas and 50 ms added
latency into an empty region of the same account, then restored again (the rerun creates nothing).
Each run's calls are counted by the emulator, and its quota-bound minimum is computed from them
(:func:`bench.suite.quota_bound_minimum`): for the first restore the creates set it
(CreateWorkflow 5/s, CreateWorkflowVersion 10/s), for the rerun the listing and tag reads it needs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from archiver.testing import DEFAULT_QUOTAS

from . import seed as seeds
from ._proc import CLI, Finished, run

if TYPE_CHECKING:
    from .suite import Suite

__all__ = ["restore_benchmarks"]

_TARGET_REGION = "us-west-2"
_RUN_TIMEOUT = 600.0


def restore_benchmarks(suite: Suite) -> None:
    s = suite.sizes
    seed = suite.work / "seed-corpus"
    if not seed.exists():
        seeds.write_corpus(seed, workflows=s.workflows, versions=s.versions)
    for run_name, title in (("first", "first restore (empty region)"), ("rerun", "restore rerun")):
        suite.metric(f"restore.{run_name}_s", f"{title}: wall time (a)", "s")
        suite.metric(f"restore.{run_name}_minimum_s", f"{title}: quota-bound minimum (b)", "s")
        suite.metric(
            f"restore.{run_name}_ratio",
            f"{title}: ratio (a)/(b)",
            "x",
            target="<= 1.15",
        )
        suite.metric(f"restore.{run_name}_calls", f"{title}: API calls", "count")
    zero = {"target": "== 0", "quick_target": "== 0"}
    suite.metric("restore.first_gets", "first restore: Get calls", "count", **zero)
    suite.metric("restore.rerun_creates", "restore rerun: creates", "count", **zero)
    for i in range(s.repeat_long):
        with suite.emulator(seed, f"restore-{i}") as emu:
            store = suite.work / f"store-restore-{i}"
            emu.configure(quotas=None)
            suite.backup(emu.url, store, f"restore-source-{i}", "--no-rate-limit")
            emu.configure(quotas=dict(DEFAULT_QUOTAS))
            for run_name in ("first", "rerun"):
                suite.settle(emu)
                done, report = _restore(suite, emu.url, str(store), f"restore-{run_name}-{i}")
                _measure(suite, emu.stats(), done, report, run_name, i)


def _restore(suite: Suite, url: str, store: str, label: str) -> tuple[Finished, dict[str, Any]]:
    cmd = [
        *CLI,
        "restore",
        "--store",
        store,
        "--all",
        "--endpoint-url",
        url,
        "--region",
        _TARGET_REGION,
        "--json",
    ]
    done = run(cmd, log_dir=suite.logs, name=suite._name(label), timeout=_RUN_TIMEOUT)
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"restore ({label}) exited {done.returncode}:\n{done.stderr_tail}") from exc
    if done.returncode != 0:
        raise RuntimeError(f"restore ({label}) exited {done.returncode}: {report.get('problems')}")
    return done, report


def _measure(
    suite: Suite, stats: dict[str, Any], done: Finished, report: dict[str, Any], run_name: str, i: int
) -> None:
    from .suite import LATENCY_MS, quota_bound_minimum

    s = suite.sizes
    calls: dict[str, int] = stats["calls"]
    throttled: dict[str, int] = stats["throttled"]
    admitted = {op: n - throttled.get(op, 0) for op, n in calls.items()}
    bound, op = quota_bound_minimum(admitted, DEFAULT_QUOTAS, LATENCY_MS / 1000)
    created = report["stats"]["workflowsCreated"] + report["stats"]["versionsCreated"]
    expected = s.workflows * (1 + s.versions) if run_name == "first" else 0
    if created != expected:
        raise RuntimeError(f"restore {run_name} {i}: created {created} items, expected {expected}")
    total = sum(n for name, n in calls.items() if name != "GetCallerIdentity")
    suite.add(f"restore.{run_name}_s", done.seconds)
    suite.add(f"restore.{run_name}_minimum_s", bound)
    suite.add(f"restore.{run_name}_ratio", done.seconds / bound)
    suite.add(f"restore.{run_name}_calls", total)
    gets = calls.get("GetWorkflow", 0) + calls.get("GetWorkflowVersion", 0)
    creates = calls.get("CreateWorkflow", 0) + calls.get("CreateWorkflowVersion", 0)
    if run_name == "first":
        suite.add("restore.first_gets", gets)
    else:
        suite.add("restore.rerun_creates", creates)
    suite.metrics[f"restore.{run_name}_minimum_s"].note = f"set by {op}"
    suite.record(
        f"restore-{run_name}-{i}",
        done,
        calls=calls,
        throttled=throttled,
        boundSeconds=round(bound, 3),
        boundOperation=op,
        stats=report["stats"],
    )
    suite.say(
        f"restore {run_name} {i}: {done.seconds:.2f} s, {total} calls {calls}, minimum {bound:.2f} s ({op}), "
        f"ratio {done.seconds / bound:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.restore [--quick] [--repeat-long N]``: only these benchmarks, printed as a table."""
    import argparse
    import shutil
    import tempfile
    from pathlib import Path

    from ._proc import compile_code
    from .suite import Sizes, Suite, table

    parser = argparse.ArgumentParser(prog="python -m bench.restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 workflows instead of 200")
    parser.add_argument("--repeat-long", type=int, default=1, help="runs (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (stores, logs)")
    args = parser.parse_args(argv)
    sizes = Sizes(
        workflows=20 if args.quick else 200,
        versions=2,
        big_bytes=0,
        repeat=1,
        repeat_long=max(1, args.repeat_long),
        quick=args.quick,
    )
    work = Path(tempfile.mkdtemp(prefix="omics-bench-restore-"))
    suite = Suite(sizes, work)
    compile_code()
    try:
        restore_benchmarks(suite)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(table(list(suite.metrics.values())))
    return 1 if any(m.passed is False for m in suite.metrics.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
