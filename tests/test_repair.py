"""``verify --read-data --repair`` through the CLI (issue 10, point 11): a damaged bundle is written
anew from the live service when its state is unchanged, else reported as unrepairable (exit 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

from .test_catalog_support import FASTQ_QC, SEED, Archive

pytest_plugins = ("tests.s3server",)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        yield emu


@pytest.fixture(params=["file", "s3"])
def archive(request: pytest.FixtureRequest, tmp_path: Path, s3_bucket: tuple[str, str]) -> Archive:
    if request.param == "file":
        return Archive("file", str(tmp_path / "store"), (), root=tmp_path / "store")
    endpoint, bucket = s3_bucket
    return Archive(
        "s3",
        f"s3://{bucket}/dr",
        ("--s3-endpoint-url", endpoint),
        endpoint=endpoint,
        bucket=bucket,
        prefix="dr/",
    )


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def flip(archive: Archive, key: str) -> None:
    data = bytearray(archive.read(key))
    data[len(data) // 2] ^= 0x01
    archive.write(key, bytes(data))


def test_repair_rewrites_a_damaged_bundle_whose_state_is_unchanged_and_refuses_one_that_changed(
    emulator: Emulator, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = run(archive.cli("backup", "--endpoint-url", emulator.url, "--json"), capsys)
    assert code == 0
    by_id = {(b["workflowId"], b["versionName"]): b for b in report["bundles"]}
    damaged = by_id[(FASTQ_QC, None)]["key"]
    changed_id = min(wf for wf, v in by_id if wf != FASTQ_QC and v is None)
    changed = by_id[(changed_id, None)]["key"]
    flip(archive, damaged)
    flip(archive, changed)
    omics = boto3.client(
        "omics", endpoint_url=emulator.url, region_name="us-east-1", config=Config(inject_host_prefix=False)
    )
    omics.update_workflow(id=changed_id, description="changed after the backup")
    # backups trust existing bundles: the damage is only found by reading the data
    assert run(archive.cli("backup", "--endpoint-url", emulator.url, "--json"), capsys)[0] == 0

    verify = archive.cli("verify", "--read-data", "--json")
    assert run(archive.cli("verify", "--repair"), capsys)[0] == 2  # only reading the data finds damage
    code, report, err = run([*verify, "--repair", "--endpoint-url", emulator.url], capsys)
    assert code == 1, err
    outcomes = {r["key"]: r for r in report["repairs"]}
    assert outcomes[damaged]["outcome"] == "repaired", outcomes
    assert (
        outcomes[changed]["outcome"] == "unrepairable"
        and "is not the archived one" in outcomes[changed]["detail"]
    )
    assert {p["key"] for p in report["problems"]} == {changed}

    archive.remove(changed)  # (pretend it was never archived: the rest of the archive is sound again)
    code, report, _ = run(verify, capsys)
    assert {p["key"] for p in report["problems"]} == {changed}  # missing now; the repaired one is sound
    restore = ["restore", "--store", archive.url, *archive.args, "--endpoint-url", emulator.url]
    code, plan, _ = run(
        [*restore, "--workflow-id", FASTQ_QC, "--dry-run", "--json", "--name-prefix", "r-"], capsys
    )
    assert code == 0, plan
