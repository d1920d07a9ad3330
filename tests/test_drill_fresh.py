"""A drill restores afresh, even into a sandbox that already holds a real restore of the same
bundles: adopting that restore (as a restore rerun would) would check nothing it did itself, and
its clean-up would then delete what is not its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

from .emulator_helpers import create_active, omics_client


def test_a_drill_into_a_sandbox_with_a_real_restore_creates_checks_and_deletes_only_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        problems: list[str] = []
        source = omics_client(emu.url, problems)
        create_active(source, "hello")
        store = tmp_path / "archive"
        base = ["--store", str(store), "--endpoint-url", emu.url, "--log-level", "ERROR"]
        fast = ["--no-rate-limit", "--poll-interval", "50ms"]
        assert main(["backup", *base, "--no-rate-limit"]) == 0
        assert main(["restore", *base, *fast, "--all", "--region", "us-west-2"]) == 0
        sandbox = omics_client(emu.url, problems, region="us-west-2")
        [real] = sandbox.list_workflows()["items"]
        capsys.readouterr()

        assert main(["drill", *base, *fast, "--region", "us-west-2", "--json"]) == 0
        drill = json.loads(capsys.readouterr().out)
        assert drill["restore"]["stats"]["workflowsCreated"] == 1, drill["restore"]
        assert drill["checks"] and all(c["ok"] for c in drill["checks"]), drill["checks"]
        assert [c["deleted"] for c in drill["cleanup"]] == [True]
        after = {w["id"]: w for w in sandbox.list_workflows()["items"]}
        assert after[real["id"]]["status"] == "ACTIVE", "the real restore is not the drill's to delete"
        drilled = [w for w in after.values() if w["id"] != real["id"]]
        assert [w["status"] for w in drilled] == ["DELETED"] and drilled[0]["name"].startswith("drill-")
        source.close()
        sandbox.close()
