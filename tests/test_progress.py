"""A backup tells where it is and when it will end (issue 14, point 1).

On a real terminal (a tmux pane): a start line, then a bar with totals, percentage and ETA, no line per
bundle, and a summary table at the end. Without a terminal: ``start``, ``progress`` and ``summary``
JSON events with the field names the README documents.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig
from bench.seed import write_corpus

WORKFLOWS = 200
README = (Path(__file__).parent.parent / "README.md").read_text()


def _tmux(socket: str, *args: str) -> str:
    done = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30)
    return done.stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)")
def test_on_a_terminal_a_bar_with_totals_percent_and_eta_then_a_summary_table(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    write_corpus(seed, workflows=WORKFLOWS, versions=1)
    store = tmp_path / "archive"
    socket = f"omics-archiver-test-{uuid.uuid4().hex[:8]}"
    with Emulator(EmulatorConfig(quotas=None), seed_dir=seed) as emu:
        # 400 items: a few seconds even unpaced, long enough to watch the bar (captured every 0.2 s)
        argv = [
            sys.executable,
            "-m",
            "archiver.cli",
            "backup",
            "--store",
            str(store),
            "--endpoint-url",
            emu.url,
        ]
        argv += ["--no-rate-limit"]
        command = f"{shlex.join(argv)}; echo EXIT=$?; sleep 60"
        env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
        setenv = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        _tmux(socket, "new-session", "-d", "-x", "100", "-y", "50", *setenv, command)
        try:
            seen: list[str] = []
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                screen = _tmux(socket, "capture-pane", "-p", "-J")
                seen.append(screen)
                if "EXIT=" in screen:
                    break
                time.sleep(0.2)
        finally:
            _tmux(socket, "kill-server")
    final = seen[-1]
    print("\n".join(seen[len(seen) // 2 :: max(len(seen) // 6, 1)]))  # shown with -s or on failure
    assert "EXIT=0" in final, final
    # the start line: who, where, what
    assert re.search(
        r"backing up account 123456789012 in us-east-1 \(default credentials\) to .*archive: "
        r"200 workflows to back up",
        final,
    ), final
    # while it ran: totals, percentage and ETA
    bars = [line for screen in seen for line in screen.splitlines() if "workflows " in line and "ETA" in line]
    assert bars, seen[len(seen) // 2]
    middle = [
        b for b in bars if re.search(r"workflows \d+/200 .*versions \d+/~?\d+ .* \d+% .*ETA \d:\d\d:\d\d", b)
    ]
    assert middle, bars
    assert any(not re.search(r"\b100%", b) for b in middle), "the bar never showed a run in progress"
    # the summary table, and no line per bundle
    assert re.search(r"ok: backup of account 123456789012 in us-east-1", final)
    assert re.search(r"workflows\s+200", final) and re.search(r"versions\s+200", final)
    assert re.search(r"new bundles written\s+400", final)
    assert "info: archived" not in "".join(seen) and "archived workflow" not in "".join(seen)
    assert "Traceback" not in final


def test_without_a_terminal_start_progress_and_summary_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = tmp_path / "seed"
    write_corpus(seed, workflows=12, versions=2)
    store = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None), seed_dir=seed) as emu:
        argv = ["backup", "--store", str(store), "--endpoint-url", emu.url, "--log-format", "json"]
        assert main([*argv, "--rate", "GetWorkflow=30", "--progress-interval", "100ms"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    kinds = [e.get("event") for e in events if e.get("event") in ("start", "progress", "summary")]
    assert kinds[0] == "start" and kinds[-1] == "summary" and "progress" in kinds
    start = next(e for e in events if e.get("event") == "start")
    assert (start["account"], start["region"], start["workflowsFound"]) == ("123456789012", "us-east-1", 12)
    assert start["store"] == str(store) and start["identity"] == "default credentials"
    progress = [e for e in events if e.get("event") == "progress"]
    for e in progress:
        assert 0 <= e["percent"] <= 100 and e["workflowsTotal"] == 12
        assert e["itemsDone"] <= e["itemsTotal"]
    summary = next(e for e in events if e.get("event") == "summary")
    assert (summary["outcome"], summary["workflows"], summary["versions"]) == ("ok", 12, 24)
    assert summary["bundlesWritten"] == 36 and summary["failed"] == 0
    # every field is documented in the README
    for event in (start, progress[-1], summary):
        for field in event:
            if field not in ("time", "level", "logger", "message"):
                assert f"`{field}`" in README, field


@pytest.mark.parametrize("verbose", [False, True])
def test_text_logs_have_a_line_per_item_only_with_v(verbose: bool) -> None:
    import argparse
    import io
    import logging

    from archiver.cli._common import setup_logging

    stream = io.StringIO()
    setup_logging(argparse.Namespace(log_format="text", log_level="INFO", verbose=verbose), stream)
    log = logging.getLogger("archiver.pipeline")
    log.info("archived workflow 1 (a)", extra={"event": "bundle"})
    log.warning("skipping workflow 2 (b): shared", extra={"event": "skipped"})
    lines = stream.getvalue().splitlines()
    assert ("info: archived workflow 1 (a)" in lines) == verbose
    assert "warning: skipping workflow 2 (b): shared" in lines


def test_many_targets_report_progress_per_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_backup_e2e import SEED
    from tests.test_targets import DONE_WHEN_TARGETS

    targets = tmp_path / "targets.yaml"
    targets.write_text(DONE_WHEN_TARGETS)
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        argv = ["backup", "--store", str(tmp_path / "a"), "--endpoint-url", emu.url, "--no-rate-limit"]
        code = main([*argv, "--targets", str(targets), "--log-format", "json", "--progress-interval", "0s"])
    assert code == 3  # the seed refuses one account's role
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    starts = {(e["account"], e["region"]) for e in events if e.get("event") == "start"}
    assert ("123456789012", "us-east-1") in starts and ("111111111111", "us-west-2") in starts
    progress = [e for e in events if e.get("event") == "progress"]
    assert {(e["account"], e["region"]) for e in progress} == starts
    ends = [e for e in events if e.get("event") == "targets-progress"]
    assert [e["targetsDone"] for e in ends] == list(range(1, 7)) and ends[-1]["targetsTotal"] == 6
    assert ends[-1]["targetsNotOk"] == 2  # 444444444444 in both regions


def test_a_tag_filtered_backup_ends_at_one_hundred_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--tag`` can only be checked once a workflow's Get answers, after the totals were counted: the
    workflows it leaves out come off the totals, so the last progress event says 100% of what is
    backed up (and the start event still says how many were found before the filter)."""
    seed = tmp_path / "seed"
    write_corpus(seed, workflows=12, versions=2)  # each workflow tagged index=<i>
    store = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None), seed_dir=seed) as emu:
        argv = ["backup", "--store", str(store), "--endpoint-url", emu.url, "--log-format", "json"]
        argv += ["--no-rate-limit", "--progress-interval", "1ms", "--tag", "index=3", "--json"]
        assert main(argv) == 0
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in err.splitlines()]
    start = next(e for e in events if e.get("event") == "start")
    progress = [e for e in events if e.get("event") == "progress"]
    assert start["workflowsFound"] == 12 and progress
    last = progress[-1]
    assert (last["workflowsDone"], last["workflowsTotal"], last["filteredOut"]) == (1, 1, 11)
    assert (last["versionsDone"], last["versionsTotal"], last["versionsExact"]) == (2, 2, True)
    assert last["percent"] == 100.0 and last["itemsDone"] == last["itemsTotal"] == 3
    assert all(e["itemsDone"] <= e["itemsTotal"] for e in progress)
    assert json.loads(out)["stats"]["workflows"] == 1
