"""Git-backed workflows and members the schemas do not know, end to end through the CLI.

A workflow made from a local Git repository through ``definitionRepository`` (boto3, against the
emulator's CodeConnections stand-in) is backed up, then restored into another account from the
archived ZIP; a workflow whose service ``metadata`` holds values the schema does not expect is kept
and warned about, never quarantined.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from archiver._bundle import read_bundle
from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig
from tests.git_helpers import CONNECTION, git, make_repo

A, B = "123456789012", "444455556666"
COMMON = ["--no-rate-limit", "--log-format", "json", "--json"]
RESTORE = [*COMMON, "--poll-interval", "50ms"]
SECRET = f"arn:aws:secretsmanager:us-east-1:{A}:secret:ecr-pullthroughcache/quay"
REGISTRY = {
    "registryMappings": [
        {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay", "credentialArn": SECRET}
    ]
}
FILES = {
    "main.wdl": "version 1.0\nworkflow hello { call t }\ntask t { command { echo hi } }\n",
    "lib/util.wdl": "version 1.0\ntask util { command {} }\n",
    "README.md": "# hello\nfrom a repository\n",
    "ci/test.sh": "#!/bin/sh\n",
}


@pytest.fixture(name="emulator")
def emulator_fixture(tmp_path: Path) -> Iterator[Emulator]:
    repo = make_repo(tmp_path / "repos", "octo/hello", FILES)
    git(repo, "tag", "v1.0")
    with Emulator(EmulatorConfig(quotas=None, repositories_dir=str(tmp_path / "repos"))) as emu:
        yield emu


def omics(emu: Emulator, account: str = A) -> Any:
    return boto3.client(
        "omics",
        endpoint_url=emu.url,
        region_name="us-east-1",
        aws_access_key_id=account,
        aws_secret_access_key="testing-secret",
        config=Config(inject_host_prefix=False),
    )


def definition(client: Any, workflow_id: str) -> tuple[dict[str, Any], bytes]:
    got = client.get_workflow(id=workflow_id, export=["DEFINITION"])
    with urllib.request.urlopen(got["definition"]) as answer:
        return got, answer.read()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def bundle_metadata(path: Path) -> dict[str, Any]:
    return dict(read_bundle(path).metadata)


def test_git_backed_workflow_backed_up_and_restored_into_another_account(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = omics(emulator)
    reference = {"type": "TAG", "value": "v1.0"}
    created = source.create_workflow(
        name="from-git",
        definitionRepository={
            "connectionArn": CONNECTION,
            "fullRepositoryId": "octo/hello",
            "sourceReference": reference,
            "excludeFilePatterns": ["ci/**"],
        },
        readmePath="README.md",
    )
    source.create_workflow_version(
        workflowId=created["id"],
        versionName="v2",
        definitionRepository={"connectionArn": CONNECTION, "fullRepositoryId": "octo/hello"},
        containerRegistryMap=REGISTRY,
    )
    s_wf, s_zip = definition(source, created["id"])
    assert s_wf["status"] == "ACTIVE" and s_wf["readmePath"] == "README.md"

    store = tmp_path / "archive"
    code, report, _ = cli(capsys, "backup", "--store", str(store), "--endpoint-url", emulator.url, *COMMON)
    assert code == 0, report["failed"]
    assert report["warnings"] == [] and report["quarantined"] == []
    [wf_bundle] = [b for b in report["bundles"] if b["kind"] == "workflow"]
    meta = bundle_metadata(store / wf_bundle["key"])
    assert meta["definitionRepositoryDetails"] == {
        "connectionArn": CONNECTION,
        "fullRepositoryId": "octo/hello",
        "sourceReference": reference,
        "providerType": "GitHub",
        "providerEndpoint": "https://github.com",
    }
    assert meta["readmePath"] == "README.md"

    credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(f"[target]\naws_access_key_id = {B}\naws_secret_access_key = testing-secret\n")
    argv = ["restore", "--store", str(store), "--endpoint-url", emulator.url, "--all"]
    code, plan, err = cli(capsys, *argv, "--profile", "target", *RESTORE)
    assert code == 0, (plan.get("problems"), err)
    warnings = [
        w for item in plan["workflows"] for i in [item["workflow"], *item["versions"]] for w in i["warnings"]
    ]
    assert any("not linked to the repository" in w and CONNECTION in w for w in warnings)

    target = omics(emulator, B)
    [t_listed] = target.list_workflows()["items"]
    t_wf, t_zip = definition(target, t_listed["id"])
    assert t_wf["status"] == "ACTIVE"
    assert t_zip == s_zip
    assert "definitionRepositoryDetails" not in t_wf  # restored from the ZIP, not linked
    assert [v["status"] for v in target.list_workflow_versions(workflowId=t_wf["id"])["items"]] == ["ACTIVE"]
    # credentialArn went through backup and restore unchanged, and the plan said it is not B's secret
    assert (
        target.get_workflow_version(workflowId=t_wf["id"], versionName="v2")["containerRegistryMap"]
        == REGISTRY
    )
    assert any("credentialArn" in w and SECRET in w for w in warnings)


def test_unknown_metadata_is_kept_and_warned_not_quarantined(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = tmp_path / "seed/accounts/123456789012/us-east-1/workflows/odd"
    (seed / "definition").mkdir(parents=True)
    (seed / "definition/main.wdl").write_text("version 1.0\nworkflow odd {}\n")
    odd = {"engineVersion": {"major": 1}, "long": "x" * 300, "team": "genomics"}
    (seed / "workflow.json").write_text(json.dumps({"id": "7000002", "metadata": odd, "profiles": ["small"]}))
    emulator.load_seed(tmp_path / "seed")
    store = tmp_path / "archive"
    code, report, err = cli(capsys, "backup", "--store", str(store), "--endpoint-url", emulator.url, *COMMON)
    assert code == 0, report["failed"]
    assert report["quarantined"] == [] and report["failed"] == []
    [warning] = report["warnings"]
    assert warning["workflowId"] == "7000002" and warning["reason"] == "unknown-member"
    assert set(warning["paths"]) == {"$.metadata.engineVersion", "$.metadata.long"}
    assert "unknown-member" in err
    [bundle] = report["bundles"]
    kept = bundle_metadata(store / bundle["key"])
    assert (kept["metadata"], kept["profiles"]) == (odd, ["small"])
    argv = ["restore", "--store", str(store), "--endpoint-url", emulator.url, "--all", "--dry-run"]
    code, plan, _ = cli(capsys, *argv, "--region", "us-west-2", *RESTORE)
    assert code == 0
    [warning] = plan["workflows"][0]["workflow"]["warnings"]
    assert "profiles" in warning and "not recreated" in warning
