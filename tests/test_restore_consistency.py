"""Restore under eventual consistency: reads that lag creates never make a duplicate.

The emulator runs with ``consistency_lag``: for that long after a create, a Get may answer 404 and a
List may miss the new resource. A restore of many workflows, its immediate rerun, and a rerun after
the restore was killed mid-way must each leave exactly one workflow per archived workflow and one
version per archived version. Counts come from the emulator's own state (the truth, not a lagging
read). Statuses are awaited through List calls only, so the lag shows there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

ACCOUNT = "123456789012"
FAST = ["--no-rate-limit", "--poll-interval", "50ms", "--wait-timeout", "60s", "--log-format", "json"]


def _seed(root: Path, workflows: int) -> Path:
    """``workflows`` workflows of two versions each in us-east-1 (us-west-2 stays empty)."""
    base = root / "seed" / "accounts" / ACCOUNT / "us-east-1" / "workflows"
    for i in range(workflows):
        wf = base / f"wf{i:02d}"
        (wf / "definition").mkdir(parents=True)
        (wf / "definition" / "main.wdl").write_text(f"version 1.0\nworkflow w{i} {{}}\n")
        (wf / "workflow.json").write_text(json.dumps({"name": f"wf{i:02d}", "engine": "WDL"}))
        for v in ("v1", "v2"):
            (wf / "versions" / v / "definition").mkdir(parents=True)
            (wf / "versions" / v / "definition" / "main.wdl").write_text(
                f"version 1.0\nworkflow {v}_{i} {{}}\n"
            )
    return root / "seed"


def _live_counts(emu: Emulator, region: str = "us-west-2") -> tuple[int, int]:
    """Workflows and versions that exist in the target (the emulator's true state)."""
    workflows = emu._core.world.region(region).account(ACCOUNT).workflows
    return len(workflows), sum(len(w.versions) for w in workflows.values())


def _backup(emu: Emulator, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["backup", "--store", str(store), "--endpoint-url", emu.url, "--no-rate-limit", "--json"]) == 0
    )
    capsys.readouterr()


def _restore_argv(emu: Emulator, store: Path, *extra: str) -> list[str]:
    return [
        "restore",
        "--store",
        str(store),
        "--endpoint-url",
        emu.url,
        "--region",
        "us-west-2",
        "--all",
        *FAST,
        *extra,
    ]


def _restore(emu: Emulator, store: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main([*_restore_argv(emu, store, "--concurrency", "10"), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_restore_under_a_2s_lag_creates_each_workflow_and_version_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = EmulatorConfig(quotas=None, random_seed=1)
    with Emulator(config, seed_dir=_seed(tmp_path, 20)) as emu:
        store = tmp_path / "archive"
        _backup(emu, store, capsys)
        emu.configure(consistency_lag=2.0)
        emu.reset_stats()
        started = time.monotonic()
        code, report = _restore(emu, store, capsys)
        took = time.monotonic() - started
        assert code == 0, report
        assert _live_counts(emu) == (20, 40)
        calls = emu.stats().calls
        figures = (
            f"restore of 20 x 2 under a 2 s lag: {took:.1f} s, calls {calls.get('CreateWorkflow')} "
            f"CreateWorkflow, {calls.get('CreateWorkflowVersion')} CreateWorkflowVersion, "
            f"errors answered {dict(emu.stats().errors)}"
        )
        # the status is awaited through lists: the lag shows as 404s from ListWorkflowVersions on a
        # workflow just created (and as items missing from the lists), never as a Get per item
        assert emu.stats().errors.get("ListWorkflowVersions", 0) > 0, "the lag never showed"
        assert calls.get("GetWorkflow", 0) == calls.get("GetWorkflowVersion", 0) == 0, calls

        # the rerun at once, while reads still lag: it creates nothing
        emu.reset_stats()
        code, again = _restore(emu, store, capsys)
        assert code == 0, again
        assert _live_counts(emu) == (20, 40)
        calls = emu.stats().calls
        with capsys.disabled():
            print(
                f"\n{figures}; rerun: calls {calls.get('CreateWorkflow', 0)} CreateWorkflow, "
                f"{calls.get('CreateWorkflowVersion', 0)} CreateWorkflowVersion, stats {again['stats']}"
            )


def test_restore_killed_mid_way_then_rerun_creates_nothing_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = EmulatorConfig(quotas=None, random_seed=2, latency=0.02)
    with Emulator(config, seed_dir=_seed(tmp_path, 6)) as emu:
        store = tmp_path / "archive"
        _backup(emu, store, capsys)
        emu.configure(consistency_lag=2.0)
        emu.reset_stats()
        argv = [sys.executable, "-m", "archiver.cli", *_restore_argv(emu, store, "--concurrency", "2")]
        proc = subprocess.Popen(
            argv, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and emu.stats().calls.get("CreateWorkflowVersion", 0) < 3:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        made = _live_counts(emu)
        assert 0 < made[1] < 12, f"the kill came too early or too late to prove anything: {made}"

        code, report = _restore(emu, store, capsys)  # at once: reads still lag the killed run's creates
        assert code == 0, report
        assert _live_counts(emu) == (6, 12)
