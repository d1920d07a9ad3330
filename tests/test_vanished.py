"""Carry-forward and "what the account holds" never come from a filtered snapshot; vanished workflows
are named, counted and, when all of them are gone, fail the run (issue 10, points 1 and 7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig
from archiver.testing._model import ApiError

from .emulator_helpers import create_active, omics_client


def _fail_get_workflow(emu: Emulator, ids: set[str]) -> None:
    """Refuse GetWorkflow of ``ids``, every time (a per-workflow fault; a refusal rather than a 500
    only because retries of a 500 would take the test half a minute; both fail the workflow)."""
    ops = emu._core.ops
    real = ops.call

    async def call(name: str, ctx: Any, params: dict[str, Any]) -> dict[str, Any] | None:
        if name == "GetWorkflow" and params.get("id") in ids:
            raise ApiError("AccessDeniedException", "not authorized (injected fault)")
        return await real(name, ctx, params)

    ops.call = call  # type: ignore[method-assign]


@pytest.fixture(name="twenty")
def twenty_fixture() -> Iterator[tuple[Emulator, list[str]]]:
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        problems: list[str] = []
        omics = omics_client(emu.url, problems)
        ids = [create_active(omics, f"wf-{i:02d}") for i in range(20)]
        omics.close()
        yield emu, ids


def test_a_filtered_snapshot_never_hides_the_last_good_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], twenty: tuple[Emulator, list[str]]
) -> None:
    emu, ids = twenty
    store = tmp_path / "archive"
    base = ["--store", str(store), "--endpoint-url", emu.url, "--log-format", "json"]
    assert main(["backup", *base, "--json"]) == 0
    night1 = json.loads(capsys.readouterr().out)
    assert len(night1["bundles"]) == 20
    # a filtered snapshot is written last: the deletion of one workflow
    assert main(["delete", *base, "--workflow-id", ids[0], "--yes"]) == 0
    capsys.readouterr()
    failing = set(ids[1:6])
    _fail_get_workflow(emu, failing)
    assert main(["backup", *base, "--json", "--full"]) == 3  # --full: every workflow is read
    captured = capsys.readouterr()
    night2 = json.loads(captured.out)
    assert {f["workflowId"] for f in night2["failed"]} == failing
    held = {b["workflowId"] for b in night2["bundles"]}
    assert held == set(ids[1:]), "the 5 that failed are carried forward from night 1"
    # the deleted workflow is named as vanished: in the report, the log, the snapshot
    assert night2["vanished"] == [{"workflowId": ids[0], "name": "wf-00"}]
    assert '"event": "vanished"' in captured.err
    snapshot = json.loads((store / night2["snapshot"]).read_text())
    assert {b["workflowId"] for b in snapshot["bundles"]} == set(ids[1:])
    assert [s["workflowId"] for s in snapshot["skipped"] if s["reason"] == "vanished"] == [ids[0]]

    assert (
        main(
            [
                *["restore", "--store", str(store), "--all", "--dry-run", "--json"],
                *["--endpoint-url", emu.url, "--allow-same-target"],
            ]
        )
        == 0
    )
    plan = json.loads(capsys.readouterr().out)
    assert len(plan["workflows"]) == 19

    assert main(["prune", "--store", str(store), "--keep-last", "1"]) == 0
    capsys.readouterr()
    for entry in night1["bundles"]:
        if entry["workflowId"] in failing:
            assert (store / entry["key"]).exists(), entry["key"]


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_a_run_that_finds_none_of_the_archived_workflows_is_not_a_success(
    kind: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    twenty: tuple[Emulator, list[str]],
    request: pytest.FixtureRequest,
) -> None:
    emu, ids = twenty
    if kind == "s3":
        endpoint, bucket = request.getfixturevalue("s3_bucket")
        where = ["--store", f"s3://{bucket}/archive", "--s3-endpoint-url", endpoint]
    else:
        where = ["--store", str(tmp_path / "archive")]
    metrics = tmp_path / "backup.prom"
    base = [*where, "--endpoint-url", emu.url, "--log-format", "json", "--json"]
    assert main(["backup", *base]) == 0
    capsys.readouterr()
    problems: list[str] = []
    omics = omics_client(emu.url, problems)
    for wf_id in ids:
        omics.delete_workflow(id=wf_id)
    omics.close()
    assert main(["backup", *base, "--metrics-file", str(metrics)]) == 3
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["outcome"] == "partial"
    assert len(report["vanished"]) == 20
    assert '"event": "everything-vanished"' in captured.err
    text = metrics.read_text()
    assert "omics_archiver_backup_workflows_vanished{" in text
    assert next(
        line for line in text.splitlines() if line.startswith("omics_archiver_backup_workflows_vanished")
    ).endswith(" 20")
