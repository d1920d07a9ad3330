"""A backup split across processes (``--processes``) archives exactly what one process archives.

Real worker processes (``python -m archiver._shard``) against the emulator over HTTP: the work is
shared without doubling any call, the workers' log records reach the parent's log, and a worker
that dies fails its workflows (and keeps their last good bundles) instead of leaving them out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver._shard import Worker
from archiver.cli import main
from archiver.cli._backup import processes_for
from archiver.testing import Emulator, EmulatorConfig
from tests.emulator_helpers import KNOWN_KEYS

from .test_backup_e2e import OURS, SEED

VERSIONS = sum(OURS.values())


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    # Latency, and one workflow at a time per process (--concurrency 1), so that the work is
    # really shared out: a process asks for the next workflow only when it has finished one.
    with Emulator(EmulatorConfig(quotas=None, latency=0.2, credentials=KNOWN_KEYS), seed_dir=SEED) as emu:
        yield emu


def backup(
    emu: Emulator, store: Path, *extra: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    code = main(
        [
            "backup",
            "--store",
            str(store),
            "--endpoint-url",
            emu.url,
            "--json",
            "--log-format",
            "json",
            "--concurrency",
            "1",
            *extra,
        ]
    )
    out, err = capsys.readouterr()
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return code, json.loads(out), logs


def _keys(report: dict[str, Any]) -> list[str]:
    return sorted(b["key"] for b in report["bundles"])


def test_processes_share_the_work_and_archive_the_same(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, one, _ = backup(emulator, tmp_path / "one", "--processes", "1", capsys=capsys)
    assert code == 0, one["failed"]
    emulator.reset_stats()
    code, three, logs = backup(emulator, tmp_path / "three", "--processes", "3", capsys=capsys)
    assert code == 0, three["failed"]
    assert _keys(three) == _keys(one) and len(_keys(three)) == len(OURS) + VERSIONS
    assert three["stats"] == one["stats"]
    assert three["skipped"] == one["skipped"]
    # every item exported exactly once, by whichever process had it
    calls = emulator.stats().calls
    assert calls["GetWorkflowVersion"] == VERSIONS and calls["GetWorkflow"] == len(OURS) + 1  # + shared
    # the same bundles byte for byte, and one snapshot listing them
    for key in _keys(three):
        assert (tmp_path / "three" / key).read_bytes() == (tmp_path / "one" / key).read_bytes()
    snapshot = json.loads((tmp_path / "three" / three["snapshot"]).read_bytes())
    assert sorted(b["key"] for b in snapshot["bundles"]) == _keys(three)
    # the workers' records came through the parent's log, marked with the worker
    by_worker = {rec.get("worker") for rec in logs if rec.get("event") == "bundle"}
    assert None in by_worker and len(by_worker) >= 2 and by_worker <= {None, 1, 2}
    assert all(rec["logger"] == "archiver.backup" for rec in logs if rec.get("worker"))
    # an unchanged run in several processes writes nothing and downloads no definition
    code, again, _ = backup(emulator, tmp_path / "three", "--processes", "3", capsys=capsys)
    assert code == 0 and again["stats"]["bundlesWritten"] == 0
    assert again["stats"]["definitionBytesDownloaded"] == 0
    assert _keys(again) == _keys(three)


def test_a_worker_that_dies_fails_its_workflows_and_keeps_their_last_bundles(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "archive"
    code, first, _ = backup(emulator, store, "--processes", "1", capsys=capsys)
    assert code == 0
    # A worker that takes two workflows and dies.
    received = tmp_path / "received.json"
    script = (
        "import json, sys; sys.stdin.readline(); "
        "print(json.dumps({'type': 'more', 'want': 2}), flush=True); "
        f"open({str(received)!r}, 'w').write(sys.stdin.readline()); sys.exit(7)"
    )
    monkeypatch.setattr(Worker, "command", (sys.executable, "-c", script))
    code, second, logs = backup(emulator, store, "--processes", "2", capsys=capsys)
    assert code == 3 and second["outcome"] == "partial"
    lost = {w["id"] for w in json.loads(received.read_text())["workflows"]}
    assert len(lost) == 2
    assert {f["workflowId"] for f in second["failed"]} == lost
    assert all(f["versionName"] is None for f in second["failed"])
    assert all("stopped before it finished (exit status 7)" in f["error"] for f in second["failed"])
    # the other workflows were archived by the parent
    fresh = {b["workflowId"] for b in second["bundles"]} - lost
    assert fresh == set(OURS) - lost
    # their last good bundles are carried forward: the snapshot still restores everything
    assert _keys(second) == _keys(first)
    assert any(rec.get("event") == "carried-forward" for rec in logs)


@pytest.mark.parametrize(
    ("requested", "rates", "cpus", "expected"),
    [
        ("auto", {"GetWorkflow": 10.0, "GetWorkflowVersion": 10.0}, 8, 1),  # the default quotas
        ("auto", {"GetWorkflow": 10.0, "GetWorkflowVersion": 100.0}, 8, 8),  # raised quotas
        ("auto", {"GetWorkflow": 10.0, "GetWorkflowVersion": 0.0}, 4, 4),  # 0: not paced
        ("auto", None, 2, 2),  # --no-rate-limit
        ("auto", None, 64, 8),
        ("auto", None, None, 1),
        (3, None, 2, 3),
        (1, None, 16, 1),
    ],
)
def test_processes_auto(
    requested: int | str, rates: dict[str, float] | None, cpus: int | None, expected: int
) -> None:
    assert processes_for(requested, rates, cpus) == expected
