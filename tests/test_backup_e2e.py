"""The backup job end to end, through the CLI, against the emulator seeded from examples/.

First run, unchanged second run, a README update, to a local directory and to S3 (moto); filters,
dry run, exit codes, and the guarantee that no presigned URL reaches the output or the archive.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig
from tests.emulator_helpers import KNOWN_KEYS

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
OURS = {"1048576": 3, "2097152": 2, "3145728": 2, "4194304": 1}  # seeded us-east-1 workflows -> versions
SHARED_ID = "6291456"
SECRETS = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS), seed_dir=SEED) as emu:
        yield emu


def omics(emu: Emulator, region: str = "us-east-1") -> Any:
    return boto3.client(
        "omics", endpoint_url=emu.url, region_name=region, config=Config(inject_host_prefix=False)
    )


def backup(
    emu: Emulator, store: str, *extra: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    code = main(
        ["backup", "--store", store, "--endpoint-url", emu.url, "--json", "--log-format", "json", *extra]
    )
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out and secret not in err
    return code, json.loads(out)


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_first_unchanged_and_readme_update_to_a_directory(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    code, first = backup(emulator, str(store), capsys=capsys)
    assert code == 0, first["failed"]
    assert first["outcome"] == "ok"
    kinds = [b["kind"] for b in first["bundles"]]
    assert kinds.count("workflow") == len(OURS)
    assert kinds.count("workflow-version") == sum(OURS.values())
    assert {b["workflowId"] for b in first["bundles"]} == set(OURS)
    assert all(b["new"] for b in first["bundles"])
    # the shared workflow is skipped with its owner named; Ready2Run is simply not there
    shared = [s for s in first["skipped"] if s["workflowId"] == SHARED_ID]
    assert len(shared) == 1 and shared[0]["owner"] == "210987654321" and shared[0]["reason"] == "shared"
    assert first["snapshot"] and (store / first["snapshot"]).exists()
    for b in first["bundles"]:
        assert b["workflowUuid"] in b["key"] and b["digest"].replace(":", "-") in b["key"]
        assert (store / b["key"]).stat().st_size == b["size"]
    # files 0600, directories 0700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in _all_files(store))
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in store.rglob("*") if p.is_dir())
    # nothing in the archive carries a presigned URL
    for path in _all_files(store):
        data = path.read_bytes()
        if path.suffix == ".json":
            assert not any(s.encode() in data for s in SECRETS)

    served = emulator.stats().export_bytes["definition"]
    code, second = backup(emulator, str(store), capsys=capsys)
    assert code == 0
    assert not any(b["new"] for b in second["bundles"])
    assert [b["key"] for b in second["bundles"]] == [b["key"] for b in first["bundles"]]
    assert second["stats"]["definitionBytesDownloaded"] == 0
    assert emulator.stats().export_bytes["definition"] == served
    assert second["snapshot"] != first["snapshot"]
    # most items were confirmed by their listing alone; the sweep read the others in full
    assert {b["confirmedBy"] for b in first["bundles"]} == {"get"}
    by_list = [b for b in second["bundles"] if b["confirmedBy"] == "list"]
    assert by_list and second["stats"]["confirmedByListing"] == len(by_list)
    assert all(b["listedRuns"] == 1 for b in by_list)

    # a README change does not show in a listing: a run that sweeps nothing misses it (the
    # documented trade-off), a full run (or the sweep, within --full-every runs) finds it
    client = omics(emulator)
    client.update_workflow(id="1048576", readmeMarkdown="# fastq-qc\n\nNew README.\n")
    # the update holds the workflow UPDATING for a moment (--update-delay), and a listing that shows
    # UPDATING does not confirm it: the run below must start once it is ACTIVE again
    deadline = time.monotonic() + 10
    while client.get_workflow(id="1048576")["status"] != "ACTIVE" and time.monotonic() < deadline:
        time.sleep(0.02)
    code, missed = backup(emulator, str(store), "--full-every", "1000", capsys=capsys)
    assert code == 0 and not any(b["new"] for b in missed["bundles"])
    code, third = backup(emulator, str(store), "--full", capsys=capsys)
    assert code == 0
    assert {b["confirmedBy"] for b in third["bundles"]} == {"get"}
    new = [b for b in third["bundles"] if b["new"]]
    assert len(new) == 1 and new[0]["workflowId"] == "1048576" and new[0]["kind"] == "workflow"
    old = next(b for b in first["bundles"] if b["workflowId"] == "1048576" and b["kind"] == "workflow")
    # a new revision beside the old one: same workflow uuid and digest directory, another state id
    assert Path(new[0]["key"]).parent == Path(old["key"]).parent and new[0]["key"] != old["key"]
    assert (store / old["key"]).exists()
    with _zstd_tar(store / new[0]["key"]) as names:
        assert "README.md" in names


class _zstd_tar:
    """Read a bundle with nothing but the standard tools: `zstd -dc | tar -t`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> list[str]:
        listing = subprocess.run(
            f"zstd -dc '{self.path}' | tar -tf -", shell=True, check=True, capture_output=True, text=True
        )
        return listing.stdout.split()

    def __exit__(self, *exc: object) -> None:
        return None


def test_backup_to_s3(
    emulator: Emulator, s3_bucket: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint, bucket = s3_bucket
    store = f"s3://{bucket}/nightly"
    code, first = backup(emulator, store, "--s3-endpoint-url", endpoint, capsys=capsys)
    assert code == 0, first["failed"]
    assert len(first["bundles"]) == len(OURS) + sum(OURS.values())
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="nightly/")["Contents"]}
    assert {f"nightly/{b['key']}" for b in first["bundles"]} <= keys
    assert f"nightly/{first['snapshot']}" in keys
    code, second = backup(emulator, store, "--s3-endpoint-url", endpoint, capsys=capsys)
    assert code == 0 and not any(b["new"] for b in second["bundles"])
    assert second["stats"]["definitionBytesDownloaded"] == 0
    omics(emulator).update_workflow_version(
        workflowId="2097152", versionName="1.0.0", readmeMarkdown="# rnaseq-quant 1.0.0\n\nRevised.\n"
    )
    code, third = backup(emulator, store, "--s3-endpoint-url", endpoint, capsys=capsys)
    new = [b for b in third["bundles"] if b["new"]]
    assert code == 0 and len(new) == 1 and new[0]["versionName"] == "1.0.0"


def test_filters_dry_run_and_missing_id(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    # a dry run only reads: it refuses a location without an archive and creates nothing
    assert main(["backup", "--store", str(store), "--endpoint-url", emulator.url, "--dry-run"]) == 1
    assert "no archive at" in capsys.readouterr().err and not store.exists()

    code, report = backup(emulator, str(store), "--name", "fastq-*", "--name", "bwa-*", capsys=capsys)
    assert code == 0
    files = sorted(_all_files(store))
    exported = emulator.stats().export_bytes["definition"]
    code, dry = backup(emulator, str(store), "--dry-run", capsys=capsys)
    assert code == 0 and dry["dryRun"] and dry["snapshot"] is None
    assert sorted(_all_files(store)) == files
    assert emulator.stats().export_bytes["definition"] == exported
    assert {b["workflowId"] for b in report["bundles"]} == {"1048576", "3145728"}
    snap = json.loads((store / report["snapshot"]).read_text())
    assert snap["complete"] is False and snap["filters"]["names"] == ["fastq-*", "bwa-*"]

    code, report = backup(emulator, str(store), "--tag", "team=genomics-platform", capsys=capsys)
    assert code == 0
    tagged = {
        wid for wid in OURS if omics(emulator).get_workflow(id=wid)["tags"].get("team") == "genomics-platform"
    }
    assert {b["workflowId"] for b in report["bundles"]} == tagged

    code, report = backup(
        emulator, str(store), "--workflow-id", "2097152", "--workflow-id", "9999999", capsys=capsys
    )
    assert code == 3
    assert [f["workflowId"] for f in report["failed"]] == ["9999999"]
    assert {b["workflowId"] for b in report["bundles"]} == {"2097152"}


def test_usage_errors_exit_2(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["backup"])
    assert info.value.code == 2
    assert main(["backup", "--store", "ftp://nowhere/x", "--endpoint-url", emulator.url]) == 2
    assert "ftp" in capsys.readouterr().err


def test_shared_workflows_listed_by_list_workflows_are_skipped_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whether ListWorkflows lists workflows shared with us is undocumented: both must work.

    Also: the endpoint comes from AWS_ENDPOINT_URL_OMICS when --endpoint-url is not given.
    """
    with Emulator(EmulatorConfig(quotas=None, list_shared_workflows=True), seed_dir=SEED) as emu:
        monkeypatch.setenv("AWS_ENDPOINT_URL_OMICS", emu.url)
        code = main(["backup", "--store", str(tmp_path / "a"), "--json", "--log-format", "json"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == 0, report["failed"]
    assert [s["workflowId"] for s in report["skipped"]] == [SHARED_ID]
    logs = [json.loads(line) for line in err.splitlines()]
    warnings = [e for e in logs if e.get("event") == "skipped"]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert "joint-genotyping" in warnings[0]["message"] and "210987654321" in warnings[0]["message"]
    assert {b["workflowId"] for b in report["bundles"]} == set(OURS)


def test_workflows_shared_with_us_are_skipped_before_their_share_is_active(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A share still PENDING or ACTIVATING is another account's workflow all the same: never exported."""
    config = EmulatorConfig(quotas=None, share_activation_delay=600.0)
    with Emulator(config, seed_dir=SEED) as emu:
        other = boto3.client(
            "omics",
            endpoint_url=emu.url,
            region_name="us-east-1",
            aws_access_key_id="210987654321",
            aws_secret_access_key="testing-secret",
            config=Config(inject_host_prefix=False),
        )
        ids = []
        for name in ("pending", "activating"):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("main.wdl", f"version 1.0\nworkflow {name} {{}}\n")
            created = other.create_workflow(name=name, engine="WDL", definitionZip=buffer.getvalue())
            share = other.create_share(resourceArn=created["arn"], principalSubscriber="123456789012")
            ids.append(created["id"])
            if name == "activating":
                assert omics(emu).accept_share(shareId=share["shareId"])["status"] == "ACTIVATING"
        code, report = backup(emu, str(tmp_path / "a"), capsys=capsys)
    assert code == 0, report["failed"]
    skipped = {s["workflowId"]: s for s in report["skipped"]}
    assert set(skipped) == {SHARED_ID, *ids}
    assert all(skipped[i]["reason"] == "shared" and skipped[i]["owner"] == "210987654321" for i in ids)
    assert {b["workflowId"] for b in report["bundles"]} == set(OURS)
