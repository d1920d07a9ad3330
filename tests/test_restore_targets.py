"""restore --targets / drill --targets: many destinations, one mapping file (issue 13 point 2).

End to end through the CLI against the emulator: the seed's accounts 123456789012 (us-east-1 and
us-west-2) and 111111111111 (us-east-1) are backed up, then migrated with one targets file of
destinations and one mapping: 123456789012 -> 210987654321 (us-west-2 -> eu-west-1) and
111111111111 -> 222222222222, whose restore role the emulator refuses.
"""

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
from tests.emulator_helpers import KNOWN_KEYS, make_zip
from tests.test_backup_e2e import SEED

A, R = "123456789012", "111111111111"
NEW, DENIED = "210987654321", "222222222222"
ROLE = "OmicsArchiverRestorer"
SOURCES = f"""
role_name: OmicsArchiverReader
accounts:
  - id: "{A}"
    regions: [us-east-1, us-west-2]
  - id: "{R}"
    regions: [us-east-1]
"""
DESTINATIONS = f"""
role_name: {ROLE}
accounts:
  - id: "{NEW}"
    regions: [us-east-1, eu-west-1]
  - id: "{DENIED}"
    regions: [us-east-1]
"""
MAPPING = f"""
version: 1
accounts:
  "{A}": "{NEW}"
  "{R}": "{DENIED}"
regions:
  us-west-2: eu-west-1
"""
FAST = ["--no-rate-limit", "--poll-interval", "50ms", "--allow-missing-images", "--log-level", "ERROR"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    denied = frozenset({f"arn:aws:iam::{DENIED}:role/{ROLE}"})
    with Emulator(EmulatorConfig(quotas=None, deny_assume_role=denied), seed_dir=SEED) as emu:
        yield emu


@pytest.fixture
def archive(emulator: Emulator, tmp_path: Path) -> Path:
    root = tmp_path
    (root / "sources.yaml").write_text(SOURCES)
    (root / "destinations.yaml").write_text(DESTINATIONS)
    (root / "mapping.yaml").write_text(MAPPING)
    store = root / "archive"
    argv = ["backup", "--store", str(store), "--endpoint-url", emulator.url, "--no-rate-limit"]
    assert main([*argv, "--targets", str(root / "sources.yaml"), "--log-level", "ERROR"]) == 0
    return store


def _omics(emu: Emulator, account: str, region: str) -> Any:
    return boto3.client(
        "omics",
        endpoint_url=emu.url,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="testing-secret",
        config=Config(inject_host_prefix=False),
    )


def _names(emu: Emulator, account: str, region: str) -> set[str]:
    return {w["name"] for w in _omics(emu, account, region).list_workflows(type="PRIVATE")["items"]}


def _creates(emu: Emulator) -> int:
    calls = emu.stats().calls
    return calls.get("CreateWorkflow", 0) + calls.get("CreateWorkflowVersion", 0)


def _restore(emu: Emulator, store: Path, *extra: str) -> list[str]:
    root = store.parent
    return [
        "restore",
        "--store",
        str(store),
        "--endpoint-url",
        emu.url,
        "--targets",
        str(root / "destinations.yaml"),
        "--mapping",
        str(root / "mapping.yaml"),
        "--all",
        *FAST,
        *extra,
    ]


def test_one_run_migrates_every_account_and_a_refused_role_fails_only_its_destination(
    emulator: Emulator, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, before_denied = _creates(emulator), _names(emulator, DENIED, "us-east-1")
    # the plan first: each destination's, nothing created anywhere
    assert main(_restore(emulator, archive, "--dry-run")) == 3
    plan = capsys.readouterr().out
    assert f"plan: account {A} us-east-1 -> account {NEW} us-east-1" in plan
    assert f"plan: account {A} us-west-2 -> account {NEW} eu-west-1" in plan
    assert "would create workflow fastq-qc" in plan and "would create workflow bwa-align-dev" in plan
    assert f"FAILED {DENIED}/us-east-1: AssumeRole for arn:aws:iam::{DENIED}:role/{ROLE}" in plan
    # the mapping already moves the account: what is left for the definitions' own references
    assert f"fastqc:0.12.1 still points at the source account {A}; pass --rewrite-images to" in plan
    assert f"--map-account {A}={NEW}" not in plan
    assert _creates(emulator) == before

    assert main([*_restore(emulator, archive), "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "partial"
    rows = {(d["account"], d["region"]): d for d in doc["destinations"]}
    assert {k: (d["outcome"], d["sources"]) for k, d in rows.items()} == {
        (NEW, "us-east-1"): ("ok", [f"{A}/us-east-1"]),
        (NEW, "eu-west-1"): ("ok", [f"{A}/us-west-2"]),
        (DENIED, "us-east-1"): ("failed", [f"{R}/us-east-1"]),
    }
    assert rows[(NEW, "us-east-1")]["created"] == 12 and rows[(NEW, "eu-west-1")]["created"] == 2
    assert "AccessDenied" in rows[(DENIED, "us-east-1")]["error"]
    restored = rows[(NEW, "us-east-1")]["restores"][0]["report"]
    assert restored["source"]["account"] == A and restored["target"] == {
        "account": NEW,
        "region": "us-east-1",
    }
    # created in the destinations' own accounts (the assumed roles'), never in the sources'
    assert _names(emulator, NEW, "us-east-1") == {
        "joint-genotyping",  # its own, from the seed
        *("fastq-qc", "rnaseq-quant", "bwa-align", "deepvariant-gpu"),
    }
    assert _names(emulator, NEW, "eu-west-1") == {"bwa-align-dev"}
    assert _names(emulator, DENIED, "us-east-1") == before_denied
    # ECR references moved with the accounts map (the mapping is the one place for it)
    rnaseq = next(
        w
        for w in _omics(emulator, NEW, "us-east-1").list_workflows(type="PRIVATE")["items"]
        if w["name"] == "rnaseq-quant"
    )
    got = _omics(emulator, NEW, "us-east-1").get_workflow(id=rnaseq["id"])
    moved = got["containerRegistryMap"]["imageMappings"][0]["destinationImage"]
    assert moved.startswith(f"{NEW}.dkr.ecr.us-east-1.amazonaws.com/")

    # a rerun creates nothing: each destination recognises its earlier restore
    created = _creates(emulator)
    assert main(_restore(emulator, archive)) == 3
    table = capsys.readouterr().out
    assert _creates(emulator) == created
    assert "partial: 2 of 3 destinations ok" in table
    lines = {tuple(line.split()[:3]) for line in table.splitlines()}
    assert (NEW, "us-east-1", "ok") in lines and (DENIED, "us-east-1", "failed") in lines


def test_same_target_is_refused_per_destination_before_anything_runs(
    emulator: Emulator, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = archive.parent / "same.yaml"
    same.write_text(f'accounts:\n  - id: "{A}"\n    regions: [us-east-1]\n')
    argv = ["restore", "--store", str(archive), "--endpoint-url", emulator.url, "--targets", str(same), *FAST]
    before, calls = _creates(emulator), sum(emulator.stats().calls.values())
    assert main([*argv, "--all", "--account", A]) == 2
    err = capsys.readouterr().err
    assert f"{A}/us-east-1 -> {A}/us-east-1" in err and "--allow-same-target" in err
    assert sum(emulator.stats().calls.values()) == calls  # not one AWS call
    # a selector that matches nothing in any source, and a destination nothing maps to: usage errors
    assert main([*argv, "--name", "no-such-*", "--account", A, "--name-prefix", "x-"]) == 2
    assert "--name no-such-*: no workflow of any source matches" in capsys.readouterr().err
    # a destination nothing maps to (a typo in the mapping would leave an account behind)
    lost = archive.parent / "lost.yaml"
    lost.write_text(f'accounts:\n  - id: "{A}"\n    regions: [us-east-1]\n  - id: "999999999999"\n')
    lost_argv = ["restore", "--store", str(archive), "--endpoint-url", emulator.url, "--targets", str(lost)]
    assert main([*lost_argv, *FAST, "--all", "--name-prefix", "x-", "--region", "us-east-1"]) == 2
    assert "nothing archived maps to 999999999999/us-east-1" in capsys.readouterr().err
    assert _creates(emulator) == before
    # under new names the source's own account may be restored into; the sources the file has no
    # destination for are named in the summary
    assert main([*argv, "--all", "--name-prefix", "x-"]) == 0
    out = capsys.readouterr().out
    assert f"not restored: {A}/us-west-2 maps to {A}/us-west-2, which the targets file does not name" in out
    assert {"x-fastq-qc", "x-bwa-align"} <= _names(emulator, A, "us-east-1")


def test_drill_across_targets_drills_each_source_into_its_sandbox_and_records_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, other, sandbox, refused = "123456789012", "210987654321", "444455556666", "555555555555"
    denied = frozenset({f"arn:aws:iam::{refused}:role/{ROLE}"})
    wdl = "version 1.0\ntask hello {\n  command { echo hi }\n}\nworkflow hello { call hello }\n"
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS, deny_assume_role=denied)) as emu:
        for account, region in ((src, "us-east-1"), (src, "us-west-2"), (other, "us-east-1")):
            _omics(emu, account, region).create_workflow(
                name=f"hello-{region}", engine="WDL", definitionZip=make_zip({"main.wdl": wdl})
            )
        (tmp_path / "sources.yaml").write_text(
            f'role_name: OmicsArchiverReader\naccounts:\n  - id: "{src}"\n'
            "    regions: [us-east-1, us-west-2]\n"
            f'  - id: "{other}"\n    regions: [us-east-1]\n'
        )
        (tmp_path / "sandboxes.yaml").write_text(
            f'role_name: {ROLE}\naccounts:\n  - id: "{sandbox}"\n    regions: [us-east-1, eu-west-1]\n'
            f'  - id: "{refused}"\n    regions: [us-east-1]\n'
        )
        (tmp_path / "mapping.yaml").write_text(
            f'version: 1\naccounts: {{"{src}": "{sandbox}", "{other}": "{refused}"}}\n'
            "regions: {us-west-2: eu-west-1}\n"
        )
        store, metrics = tmp_path / "archive", tmp_path / "drill.prom"
        base = ["--store", str(store), "--endpoint-url", emu.url, "--no-rate-limit", "--log-level", "ERROR"]
        assert main(["backup", *base, "--targets", str(tmp_path / "sources.yaml")]) == 0
        capsys.readouterr()
        drill = ["drill", *base, "--targets", str(tmp_path / "sandboxes.yaml")]
        drill += ["--mapping", str(tmp_path / "mapping.yaml"), "--poll-interval", "50ms"]
        assert main([*drill, "--metrics-file", str(metrics), "--json"]) == 3
        doc = json.loads(capsys.readouterr().out)
        by_source = {(d["source"]["account"], d["source"]["region"]): d for d in doc["drills"]}
        assert {
            k: (d["sandbox"]["account"], d["sandbox"]["region"], d["ok"]) for k, d in by_source.items()
        } == {
            (src, "us-east-1"): (sandbox, "us-east-1", True),
            (src, "us-west-2"): (sandbox, "eu-west-1", True),
            (other, "us-east-1"): (refused, "us-east-1", False),
        }
        assert "AccessDenied" in by_source[(other, "us-east-1")]["error"]
        # one record per drilled source, under the source's account and region; the sandboxes are clean
        records = sorted(
            p.relative_to(store / "drills").parts[1:3] for p in (store / "drills").rglob("*.json")
        )
        assert records == [(src, "us-east-1"), (src, "us-west-2")]
        for drilled in by_source.values():
            if drilled["ok"]:  # restored into its sandbox (its report says where), then cleaned up
                report = drilled["report"]
                assert report["target"] == {
                    "account": drilled["sandbox"]["account"],
                    "region": drilled["sandbox"]["region"],
                }
                assert "definition-sha256" in [c["check"] for c in report["checks"]], report["checks"]
                assert all(c["deleted"] for c in report["cleanup"]) and report["cleanup"]
        for region in ("us-east-1", "eu-west-1"):  # a deleted workflow lingers a while as DELETED
            assert all(
                w["status"] == "DELETED" for w in _omics(emu, sandbox, region).list_workflows()["items"]
            )
        text = metrics.read_text()
        success = "omics_archiver_drill_last_run_success"
        assert f'{success}{{account="{src}",archiver_job="drill",region="us-west-2"}} 1' in text
        assert f'{success}{{account="{other}",archiver_job="drill",region="us-east-1"}} 0' in text


def test_a_staging_bucket_names_each_destinations_region_or_is_refused(
    emulator: Emulator, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = sum(emulator.stats().calls.values())
    one = ["restore", "--store", str(archive), "--endpoint-url", emulator.url, "--all", *FAST]
    assert (
        main([*one, "--account", A, "--source-region", "us-east-1", "--staging-bucket", "s3://st-{region}"])
        == 2
    )
    assert "{account} and {region} in the staging bucket go with --targets" in capsys.readouterr().err
    # the destinations are in us-east-1 and eu-west-1: one bucket cannot stage for both
    assert main([*_restore(emulator, archive), "--staging-bucket", "s3://staging-bucket/x"]) == 2
    assert "name {region} in it" in capsys.readouterr().err
    assert sum(emulator.stats().calls.values()) == calls
    # with {region} (and {account}) the plan goes ahead (nothing here is large enough to be staged)
    bucket = "s3://staging-{account}-{region}/x"
    assert main([*_restore(emulator, archive), "--staging-bucket", bucket, "--dry-run"]) == 3
    assert "plan: account" in capsys.readouterr().out
    # a selector need only match in some source: the others restore nothing, and are not refused
    argv = [a for a in _restore(emulator, archive, "--dry-run", "--json") if a != "--all"]
    assert main([*argv, "--name", "bwa-align-dev"]) == 3
    rows = {(d["account"], d["region"]): d for d in json.loads(capsys.readouterr().out)["destinations"]}
    assert rows[(NEW, "us-east-1")]["outcome"] == "ok"
    assert rows[(NEW, "us-east-1")]["restores"][0]["report"]["workflows"] == []
    (planned,) = rows[(NEW, "eu-west-1")]["restores"][0]["report"]["workflows"]
    assert planned["workflow"]["name"] == "bwa-align-dev"


def test_two_accounts_merged_into_one_destination_conflict_on_a_shared_name(
    emulator: Emulator, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    merged = archive.parent / "merged.yaml"
    merged.write_text(  # a region of its own: the other tests' restores are not there
        f'version: 1\naccounts: {{"{A}": "{NEW}", "{R}": "{NEW}"}}\nregions: {{us-east-1: eu-west-2}}\n'
    )
    dest = archive.parent / "one.yaml"
    dest.write_text(f'role_name: {ROLE}\naccounts:\n  - id: "{NEW}"\n    regions: [eu-west-2]\n')
    argv = ["restore", "--store", str(archive), "--endpoint-url", emulator.url, "--targets", str(dest)]
    argv += ["--mapping", str(merged), "--source-region", "us-east-1", "--all", "--name-prefix", "m-", *FAST]
    before = _creates(emulator)
    assert main(argv) == 2  # names are not unique in HealthOmics: two m-deepvariant-gpu, refused
    err = capsys.readouterr().err
    assert f"{NEW}/eu-west-2: m-deepvariant-gpu (from {R}/us-east-1, {A}/us-east-1)" in err
    assert _creates(emulator) == before
    # in two runs, one of them with its own prefix: both restored, told apart by name
    assert main([*argv, "--account", R]) == 0
    assert main([*argv, "--account", A, "--name-prefix", "a-"]) == 0
    names = _names(emulator, NEW, "eu-west-2")
    assert {"m-deepvariant-gpu", "a-deepvariant-gpu", "a-fastq-qc"} <= names and "m-fastq-qc" not in names
