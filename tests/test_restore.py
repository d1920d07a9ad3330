"""Restore and migration end to end, through the CLI, against the emulator seeded from examples/.

Account A (123456789012, us-east-1, the seed) is backed up to a directory and restored into account
B (444455556666, us-west-2) of the same emulator, told apart by access key and SigV4 scope. The
large-definition case stages through a moto S3 bucket that the emulator also reads.
"""

from __future__ import annotations

import io
import json
import os
import random
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from archiver import _layout
from archiver._bundle import BundleSource, read_bundle, write_bundle
from archiver._jsonutil import parse_rfc3339
from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig
from tests.emulator_helpers import KNOWN_KEYS

pytest_plugins = ("tests.s3server",)

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
A, B = "123456789012", "444455556666"
SEEDED = {"fastq-qc": 3, "rnaseq-quant": 2, "bwa-align": 2, "deepvariant-gpu": 1}
CARRIED = (
    "description",
    "engine",
    "main",
    "parameterTemplate",
    "storageType",
    "storageCapacity",
    "accelerators",
    "containerRegistryMap",
    "digest",
)
PROVENANCE = ("omics-archiver:source-arn", "omics-archiver:source-uuid", "omics-archiver:source-digest")
SECRETS = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token")
FAST = ["--no-rate-limit", "--poll-interval", "50ms", "--log-format", "json"]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS), seed_dir=SEED) as emu:
        yield emu


@pytest.fixture
def target_profile() -> str:
    """A named profile whose access key makes the emulator see account B."""
    path = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    path.write_text(f"[target]\naws_access_key_id = {B}\naws_secret_access_key = testing-secret\n")
    return "target"


def omics(emu: Emulator, account: str = A, region: str = "us-east-1") -> Any:
    return boto3.client(
        "omics",
        endpoint_url=emu.url,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="testing-secret",
        config=Config(inject_host_prefix=False),
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out and secret not in err
    return code, json.loads(out), err


def backup(emu: Emulator, store: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, report, _ = run(
        capsys, "backup", "--store", str(store), "--endpoint-url", emu.url, "--no-rate-limit"
    )
    assert code == 0, report["failed"]
    return report


def restore(
    emu: Emulator, store: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any], str]:
    return run(capsys, "restore", "--store", str(store), "--endpoint-url", emu.url, *FAST, *extra)


def to_b(profile: str) -> list[str]:
    return ["--profile", profile, "--region", "us-west-2"]


def creates(emu: Emulator) -> int:
    calls = emu.stats().calls
    return calls.get("CreateWorkflow", 0) + calls.get("CreateWorkflowVersion", 0)


def export(
    client: Any, workflow_id: str, version: str | None = None
) -> tuple[dict[str, Any], bytes, bytes | None]:
    """Get the workflow or version with its definition ZIP and README downloaded."""
    if version is None:
        got = client.get_workflow(id=workflow_id, export=["DEFINITION", "README"])
    else:
        got = client.get_workflow_version(
            workflowId=workflow_id, versionName=version, export=["DEFINITION", "README"]
        )
    with urllib.request.urlopen(got["definition"]) as resp:
        definition = resp.read()
    readme = None
    if got.get("readme"):
        with urllib.request.urlopen(got["readme"]) as resp:
            readme = resp.read()
    return got, definition, readme


def by_name(client: Any) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in client.list_workflows(type="PRIVATE")["items"]}


def assert_same(source: dict[str, Any], target: dict[str, Any], *, skip: tuple[str, ...] = ()) -> None:
    for field in CARRIED:
        if field not in skip:
            assert source.get(field) == target.get(field), field
    tags = {k: v for k, v in target["tags"].items() if not k.startswith("omics-archiver:")}
    assert tags == source.get("tags", {})
    assert target["tags"]["omics-archiver:source-arn"] == source["arn"]
    assert target["tags"]["omics-archiver:source-uuid"] == source["uuid"]
    assert target["tags"]["omics-archiver:source-digest"] == source["digest"]
    assert target["tags"]["omics-archiver:bundle"].startswith(f"bundles/{source.get('uuid')}/") or target[
        "tags"
    ]["omics-archiver:bundle"].endswith(".tar.zst")


def test_round_trip_to_another_account_and_region_then_rerun_creates_nothing(
    emulator: Emulator, tmp_path: Path, target_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    backup(emulator, store, capsys)
    emulator.reset_stats()
    code, report, err = restore(emulator, store, capsys, "--all", *to_b(target_profile))
    assert code == 0, (report["problems"], err)
    # statuses awaited through lists: no Get, no tag read (nothing in the target could be a restore)
    calls = emulator.stats().calls
    assert not {"GetWorkflow", "GetWorkflowVersion", "ListTagsForResource"} & set(calls), calls
    assert calls["ListWorkflowVersions"] <= 2 * len(SEEDED), calls
    before = 0
    assert report["source"] == {"partition": "aws", "account": A, "region": "us-east-1"}
    assert report["target"] == {"account": B, "region": "us-west-2"}
    assert report["stats"]["workflowsCreated"] == len(SEEDED)
    assert report["stats"]["versionsCreated"] == sum(SEEDED.values())
    assert creates(emulator) - before == len(SEEDED) + sum(SEEDED.values())

    src, dst = omics(emulator), omics(emulator, B, "us-west-2")
    sources, targets = by_name(src), by_name(dst)
    assert set(targets) == set(SEEDED)
    for name, versions in SEEDED.items():
        s_wf, s_zip, s_readme = export(src, sources[name]["id"])
        t_wf, t_zip, t_readme = export(dst, targets[name]["id"])
        assert t_wf["status"] == "ACTIVE" and t_wf["arn"].split(":")[3:5] == ["us-west-2", B]
        assert t_wf["name"] == s_wf["name"]
        assert_same(s_wf, t_wf)
        assert t_zip == s_zip and t_readme == s_readme
        s_versions = sorted(
            src.list_workflow_versions(workflowId=s_wf["id"])["items"], key=lambda v: v["creationTime"]
        )
        t_versions = dst.list_workflow_versions(workflowId=t_wf["id"])["items"]
        assert len(t_versions) == versions
        # created oldest first, as in the source
        assert [v["versionName"] for v in sorted(t_versions, key=lambda v: v["creationTime"])] == [
            v["versionName"] for v in s_versions
        ]
        for listed in s_versions:
            s_v, s_vzip, s_vreadme = export(src, s_wf["id"], listed["versionName"])
            t_v, t_vzip, t_vreadme = export(dst, t_wf["id"], listed["versionName"])
            assert t_v["status"] == "ACTIVE"
            assert_same(s_v, t_v)
            assert t_vzip == s_vzip and t_vreadme == s_vreadme
    # the ECR references still point at account A: warned about in the plan
    warnings = [
        w for wf in report["workflows"] for i in [wf["workflow"], *wf["versions"]] for w in i["warnings"]
    ]
    assert any(f"still points at the source account {A}" in w for w in warnings)

    # a rerun finds every workflow through its provenance tags (one tag read per workflow) and every
    # version by name and digest as listed (no tag read), and creates nothing
    emulator.reset_stats()
    code, again, _ = restore(emulator, store, capsys, "--all", *to_b(target_profile))
    assert code == 0
    calls = emulator.stats().calls
    assert calls["ListTagsForResource"] == len(SEEDED) and calls["ListWorkflowVersions"] == len(SEEDED)
    assert not {"CreateWorkflow", "CreateWorkflowVersion", "GetWorkflow", "GetWorkflowVersion"} & set(calls)
    assert again["stats"]["workflowsCreated"] == 0 and again["stats"]["versionsCreated"] == 0
    assert again["stats"]["workflowsSkipped"] == len(SEEDED)
    assert again["stats"]["versionsSkipped"] == sum(SEEDED.values())
    assert set(by_name(dst)) == set(SEEDED)

    # a version someone made by hand under a name the restore wants (its digest is another): its tags
    # are read, it is not a restore, and the plan stops on the conflict before creating anything
    restored = by_name(dst)["bwa-align"]
    dst.delete_workflow_version(workflowId=restored["id"], versionName="1.1.0")
    emulator.configure(deleted_linger=0.0)
    dst.create_workflow_version(workflowId=restored["id"], versionName="1.1.0", definitionZip=_small_zip())
    emulator.reset_stats()
    code, conflict, err = restore(emulator, store, capsys, "--name", "bwa-align", *to_b(target_profile))
    assert code == 1 and conflict["outcome"] == "failed"
    assert any("version 1.1.0 that was not restored from this bundle" in p for p in conflict["problems"])
    calls = emulator.stats().calls
    assert calls["ListTagsForResource"] == 2 and not {"CreateWorkflow", "CreateWorkflowVersion"} & set(calls)


def test_dry_run_and_rewrite_images(
    emulator: Emulator, tmp_path: Path, target_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    backup(emulator, store, capsys)
    mapping = [
        "--map-account",
        f"{A}={B}",
        "--map-region",
        "us-east-1=us-west-2",
        "--rewrite-images",
        "--name",
        "rnaseq-*",
        "--name",
        "deepvariant-gpu",
        "--name-prefix",
        "migrated-",
    ]
    before = creates(emulator)
    code, plan, _ = restore(emulator, store, capsys, *to_b(target_profile), *mapping, "--dry-run")
    assert code == 0 and plan["dryRun"] and not plan["problems"]
    assert creates(emulator) == before
    assert by_name(omics(emulator, B, "us-west-2")) == {}
    deepvariant = next(w for w in plan["workflows"] if w["workflow"]["name"] == "migrated-deepvariant-gpu")
    rewrites = deepvariant["workflow"]["rewrites"]
    assert {(r["file"], r["line"]) for r in rewrites} == {("deepvariant.wdl", 97), ("deepvariant.wdl", 124)}
    assert all(r["old"].startswith(f"{A}.dkr.ecr.us-east-1.") for r in rewrites)
    assert all(r["new"].startswith(f"{B}.dkr.ecr.us-west-2.") for r in rewrites)
    assert deepvariant["workflow"]["definitionRewritten"] and not deepvariant["workflow"]["warnings"]
    # the text plan says the same
    argv = ["restore", "--store", str(store), "--endpoint-url", emulator.url, *FAST, *to_b(target_profile)]
    assert main([*argv, *mapping, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "would create workflow migrated-deepvariant-gpu" in text
    assert f"rewrote deepvariant.wdl:97: {A}.dkr.ecr.us-east-1.amazonaws.com/deepvariant:1.6.1-gpu" in text

    code, report, _ = restore(emulator, store, capsys, *to_b(target_profile), *mapping)
    assert code == 0, report["problems"]
    dst = omics(emulator, B, "us-west-2")
    targets = by_name(dst)
    assert set(targets) == {"migrated-deepvariant-gpu", "migrated-rnaseq-quant"}
    got, data, _ = export(dst, targets["migrated-deepvariant-gpu"]["id"])
    source, source_zip, _ = export(omics(emulator), "4194304")
    assert got["digest"] != source["digest"]
    assert_same(source, got, skip=("digest",))
    with zipfile.ZipFile(io.BytesIO(data)) as new, zipfile.ZipFile(io.BytesIO(source_zip)) as old:
        assert new.namelist() == old.namelist()
        lines = new.read("deepvariant.wdl").decode().splitlines()
        old_lines = old.read("deepvariant.wdl").decode().splitlines()
    for r in rewrites:
        assert r["new"] in lines[r["line"] - 1] and r["old"] in old_lines[r["line"] - 1]
    assert f"{A}.dkr.ecr" not in "\n".join(lines)
    assert sum(a != b for a, b in zip(lines, old_lines, strict=True)) == len(rewrites)
    # the registry map moved too, in the workflow and each version
    rnaseq = dst.get_workflow(id=targets["migrated-rnaseq-quant"]["id"])
    registry = rnaseq["containerRegistryMap"]
    assert registry["registryMappings"][0]["ecrAccountId"] == B
    assert registry["imageMappings"][0]["destinationImage"].startswith(
        f"{B}.dkr.ecr.us-west-2.amazonaws.com/"
    )
    for v in dst.list_workflow_versions(workflowId=rnaseq["id"])["items"]:
        got_v = dst.get_workflow_version(workflowId=rnaseq["id"], versionName=v["versionName"])
        assert got_v["containerRegistryMap"]["registryMappings"][0]["ecrAccountId"] == B


def _big_zip() -> bytes:
    """A definition ZIP over the 4.4 MB inline limit and over one 16 MiB staging part (incompressible)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.wdl", "version 1.0\nworkflow big {}\n", compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(
            "data/blob.bin", random.Random(7).randbytes(17_000_000), compress_type=zipfile.ZIP_STORED
        )
    return buffer.getvalue()


def test_large_definition_through_a_staging_bucket_and_plan_refusals(
    tmp_path: Path, s3_bucket: tuple[str, str], target_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint, bucket = s3_bucket
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    big = _big_zip()
    s3.put_object(Bucket=bucket, Key="source/big.zip", Body=big)
    with Emulator(EmulatorConfig(quotas=None, s3_endpoint_url=endpoint)) as emu:
        src = omics(emu)
        wf = src.create_workflow(
            name="big-one",
            definitionUri=f"s3://{bucket}/source/big.zip",
            main="main.wdl",
            tags={"size": "xl"},
        )
        crowded = src.create_workflow(
            name="crowded",
            definitionZip=_small_zip(),
            tags={f"k{i}": str(i) for i in range(48)},
        )
        store = tmp_path / "archive"
        backup(emu, store, capsys)
        s3.delete_object(Bucket=bucket, Key="source/big.zip")

        # without a staging bucket, and with too many tags: refused before anything is created
        before = creates(emu)
        code, report, err = restore(emu, store, capsys, "--all", *to_b(target_profile))
        assert code == 1 and report["outcome"] == "failed"
        assert creates(emu) == before
        assert any("inline limit" in p and "--staging-bucket" in p for p in report["problems"])
        assert any("crowded" in p and "limit of 50" in p for p in report["problems"])
        assert "--staging-bucket" in err
        assert by_name(omics(emu, B, "us-west-2")) == {}

        code, report, err = restore(
            emu,
            store,
            capsys,
            "--workflow-id",
            wf["id"],
            *to_b(target_profile),
            "--staging-bucket",
            f"s3://{bucket}/staging/restore",
            "--s3-endpoint-url",
            endpoint,
        )
        assert code == 0, (report["problems"], err)
        item = report["workflows"][0]["workflow"]
        assert not item["inline"] and item["stagedKey"].startswith("staging/restore/")
        assert report["stats"]["staged"] == 1
        dst = omics(emu, B, "us-west-2")
        target = by_name(dst)["big-one"]
        got, data, _ = export(dst, target["id"])
        assert data == big and got["status"] == "ACTIVE"
        assert got["digest"] == src.get_workflow(id=wf["id"])["digest"]
        # the staged object is gone
        assert s3.list_objects_v2(Bucket=bucket, Prefix="staging/").get("KeyCount", 0) == 0
        assert crowded["id"] not in {w["id"] for w in dst.list_workflows()["items"]}


def _small_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.wdl", "version 1.0\nworkflow small {}\n")
    return buffer.getvalue()


def test_workflow_deleted_after_its_backup_restored_from_the_older_snapshot(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    first = backup(emulator, store, capsys)
    between = datetime.now(UTC)
    src = omics(emulator)
    source, source_zip, source_readme = export(src, "3145728")
    versions = {
        v["versionName"]: export(src, "3145728", v["versionName"])
        for v in src.list_workflow_versions(workflowId="3145728")["items"]
    }
    for name in versions:
        src.delete_workflow_version(workflowId="3145728", versionName=name)
    src.delete_workflow(id="3145728")
    second = backup(emulator, store, capsys)
    assert "3145728" not in {b["workflowId"] for b in second["bundles"]}

    # the latest snapshot no longer has it: not found (exit 2), naming the snapshot that has it
    snapshot_id = Path(first["snapshot"]).stem
    base = ["restore", "--store", str(store), "--endpoint-url", emulator.url, *FAST]
    assert main([*base, "--workflow-id", "3145728", "--allow-same-target"]) == 2
    err = capsys.readouterr().err
    assert "matches --workflow-id 3145728" in err and f"snapshot {snapshot_id} has it" in err
    hinted_at = err.split("--at ", 1)[1].split()[0]

    # the --at it suggests works (dry run: nothing created)
    before = creates(emulator)
    code, plan, _ = restore(
        emulator,
        store,
        capsys,
        "--workflow-id",
        "3145728",
        "--at",
        hinted_at,
        "--dry-run",
        "--allow-same-target",
    )
    assert code == 0 and plan["snapshots"] == [first["snapshot"]]
    code, plan, _ = restore(
        emulator,
        store,
        capsys,
        "--workflow-id",
        "3145728",
        "--at",
        between.isoformat(),
        "--dry-run",
        "--allow-same-target",
    )
    assert code == 0 and plan["snapshots"] == [first["snapshot"]]
    assert [w["workflow"]["action"] for w in plan["workflows"]] == ["create"]
    assert creates(emulator) == before

    code, report, _ = restore(
        emulator, store, capsys, "--workflow-id", "3145728", "--snapshot", snapshot_id, "--allow-same-target"
    )
    assert code == 0, report["problems"]
    new_id = report["workflows"][0]["workflow"]["targetId"]
    assert new_id != "3145728"
    got, data, readme = export(src, new_id)
    assert_same(source, got)
    assert (data, readme) == (source_zip, source_readme) and got["name"] == "bwa-align"
    for name, (s_v, s_zip, s_readme) in versions.items():
        t_v, t_zip, t_readme = export(src, new_id, name)
        assert_same(s_v, t_v)
        assert (t_zip, t_readme) == (s_zip, s_readme)

    # the restored copy deleted in turn: the same restore again creates it anew, although the
    # service still remembers the first requestIds (and answers them with the workflow, DELETED:
    # a 404 instead would be waited out as the service's lag, never read as "deleted")
    emulator.configure(deleted_linger=600.0)
    for name in versions:
        src.delete_workflow_version(workflowId=new_id, versionName=name)
    src.delete_workflow(id=new_id)
    code, report, _ = restore(
        emulator, store, capsys, "--workflow-id", "3145728", "--snapshot", snapshot_id, "--allow-same-target"
    )
    assert code == 0, report["problems"]
    third = report["workflows"][0]["workflow"]["targetId"]
    assert third not in (new_id, "3145728")
    assert {v["versionName"] for v in src.list_workflow_versions(workflowId=third)["items"]} == set(versions)


def test_wait_timeout_then_rerun_waits_without_creating(
    tmp_path: Path, target_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS), seed_dir=SEED) as emu:
        store = tmp_path / "archive"
        backup(emu, store, capsys)
        emu.configure(create_delay=0.6)
        code, report, err = restore(
            emu, store, capsys, "--name", "deepvariant-gpu", *to_b(target_profile), "--wait-timeout", "100ms"
        )
        assert code == 1 and report["outcome"] == "failed"
        item = report["workflows"][0]["workflow"]
        assert item["result"] == "failed" and "still CREATING" in item["error"]
        assert report["workflows"][0]["versions"][0]["result"] == "not-attempted"
        before = emu.stats().calls.get("CreateWorkflow", 0)
        code, report, err = restore(
            emu, store, capsys, "--name", "deepvariant-gpu", *to_b(target_profile), "--wait-timeout", "10s"
        )
        assert code == 0, err
        assert emu.stats().calls.get("CreateWorkflow", 0) == before
        assert report["workflows"][0]["workflow"]["result"] == "skipped"
        assert report["workflows"][0]["versions"][0]["result"] == "created"


def test_usage_errors(emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "archive"
    backup(emulator, store, capsys)
    base = ["restore", "--store", str(store), "--endpoint-url", emulator.url]
    assert main(base) == 2
    assert "--all" in capsys.readouterr().err
    assert main([*base, "--all", "--rewrite-images"]) == 2
    assert main([*base, "--all", "--staging-bucket", "bucket-without-scheme"]) == 2
    with pytest.raises(SystemExit):
        main([*base, "--all", "--map-account", "123=456"])
    capsys.readouterr()


def _break_main(store: Path, snapshot_key: str, workflow_id: str, tmp: Path) -> None:
    """Archive a state of ``workflow_id`` whose main file is not in its definition, as a new snapshot."""
    snap = json.loads((store / snapshot_key).read_text())
    entry = next(b for b in snap["bundles"] if b["workflowId"] == workflow_id and b["kind"] == "workflow")
    definition = tmp / "definition.zip"
    contents = read_bundle(store / entry["key"], definition_to=definition)
    meta = {**contents.metadata, "main": "missing.wdl"}
    sid = _layout.state_id(meta, _layout.readme_sha256(contents.readme))
    key = _layout.bundle_key(
        workflow_uuid=entry["workflowUuid"], version_uuid=None, digest=meta["digest"], state_id=sid
    )
    src = contents.manifest["source"]
    source = BundleSource(
        kind="workflow",
        partition=src["partition"],
        account=src["account"],
        region=src["region"],
        arn=src["arn"],
        workflow_id=src["workflowId"],
        workflow_uuid=src["workflowUuid"],
        version_name=None,
        uuid=src["uuid"],
        digest=src["digest"],
        creation_time=parse_rfc3339(src["creationTime"]),
        status=src["status"],
        name=src["name"],
    )
    (store / key).parent.mkdir(parents=True, exist_ok=True)
    info = write_bundle(
        store / key, source=source, state_id=sid, metadata=meta, definition=definition, readme=None
    )
    entry.update(key=key, stateId=sid, size=info.size, sha256=info.sha256)
    snap["id"] = _layout.new_snapshot_id(datetime.now(UTC))
    new_key = _layout.snapshot_key(snap["partition"], snap["account"], snap["region"], snap["id"])
    (store / new_key).write_text(json.dumps(snap))


def test_failed_create_is_reported_with_its_status_message_and_the_rest_goes_on(
    emulator: Emulator, tmp_path: Path, target_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    first = backup(emulator, store, capsys)
    _break_main(store, first["snapshot"], "4194304", tmp_path)
    code, report, err = restore(
        emulator, store, capsys, "--name", "deepvariant-gpu", "--name", "bwa-align", *to_b(target_profile)
    )
    assert code == 3 and report["outcome"] == "partial"
    broken = next(w for w in report["workflows"] if w["workflow"]["name"] == "deepvariant-gpu")
    assert broken["workflow"]["result"] == "failed"
    assert (
        broken["workflow"]["statusMessage"]
        == "Main workflow file missing.wdl was not found in the definition"
    )
    assert "FAILED: Main workflow file missing.wdl" in broken["workflow"]["error"]
    assert [v["result"] for v in broken["versions"]] == ["not-attempted"]
    fine = next(w for w in report["workflows"] if w["workflow"]["name"] == "bwa-align")
    assert [i["result"] for i in [fine["workflow"], *fine["versions"]]] == ["created"] * 3
    assert "missing.wdl" in err


def test_same_target_needs_allow_or_new_names_and_provenance_tags_can_be_off(
    emulator: Emulator, tmp_path: Path, target_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    backup(emulator, store, capsys)
    src = omics(emulator)
    originals = by_name(src)
    base = ["restore", "--store", str(store), "--endpoint-url", emulator.url, *FAST]

    # into the source account and region under the same names: refused, saying why and what to pass
    for extra in ([], ["--dry-run"], ["--name-prefix", "x-", "--rename", "bwa-align=bwa-align"]):
        assert main([*base, "--all", *extra]) == 2
        err = capsys.readouterr().err
        assert "source account 123456789012 in us-east-1" in err and "beside the originals" in err
        assert "--allow-same-target" in err and "--name-prefix" in err
    assert creates(emulator) == 0 and by_name(src) == originals

    # new names for all: allowed; without provenance tags, none is added
    code, report, err = restore(
        emulator, store, capsys, "--name", "bwa-align", "--name-prefix", "copy-", "--no-provenance-tags"
    )
    assert code == 0, (report["problems"], err)
    copy = by_name(src)["copy-bwa-align"]
    assert not any(k.startswith("omics-archiver:") for k in src.get_workflow(id=copy["id"])["tags"])
    for v in src.list_workflow_versions(workflowId=copy["id"])["items"]:
        got = src.get_workflow_version(workflowId=copy["id"], versionName=v["versionName"])
        assert not any(k.startswith("omics-archiver:") for k in got.get("tags", {}))
    # a rerun still finds them (by name and digest) and creates nothing
    made = creates(emulator)
    code, again, _ = restore(
        emulator, store, capsys, "--name", "bwa-align", "--name-prefix", "copy-", "--no-provenance-tags"
    )
    assert code == 0 and creates(emulator) == made
    assert (again["stats"]["workflowsSkipped"], again["stats"]["versionsSkipped"]) == (1, 2)
    # while a rerun that looks for provenance tags cannot tell them from someone else's, and makes a copy
    code, other, _ = restore(emulator, store, capsys, "--name", "bwa-align", "--name-prefix", "copy-")
    assert code == 0 and other["stats"]["workflowsCreated"] == 1

    # plan warnings: each printed once, naming the option that resolves it
    argv = [*base, *to_b(target_profile), "--name", "rnaseq-quant", "--dry-run"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    text = out + err
    warnings = [line.strip() for line in out.splitlines() if line.strip().startswith("warning:")]
    assert warnings and all(text.count(w.removeprefix("warning: ")) == 1 for w in warnings)
    moved = [w for w in warnings if "still points at the source account" in w]
    assert moved and all(f"--map-account {A}={B}" in w for w in moved)
