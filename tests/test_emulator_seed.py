"""Seed directories: the example seed of the repository and the format's rules."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from archiver.testing import Emulator, EmulatorConfig, SeedError
from tests.emulator_helpers import omics_client, problems_fixture  # noqa: F401

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "seed"
OWNER, OTHER, AWS = "123456789012", "210987654321", "555555555555"


@pytest.mark.skipif(not (EXAMPLES / "accounts").is_dir(), reason="examples/seed is not there")
def test_example_seed_loads(problems: list[str]) -> None:
    with Emulator(EmulatorConfig(quotas=None), seed_dir=EXAMPLES) as emu:
        omics = omics_client(emu.url, problems)
        west = omics_client(emu.url, problems, region="us-west-2")
        try:
            listed = omics.list_workflows()["items"]
            assert {"1048576", "2097152", "3145728", "4194304"} <= {w["id"] for w in listed}
            assert all(w["status"] == "ACTIVE" and w["type"] == "PRIVATE" for w in listed)
            times = [w["creationTime"] for w in listed]
            assert times == sorted(times) and len(set(times)) == len(times)
            assert "5242880" in {w["id"] for w in west.list_workflows()["items"]}
            versions = omics.list_workflow_versions(workflowId="1048576")["items"]
            assert [v["versionName"] for v in versions] == ["1.0.0", "1.1.0", "2.0.0"]
            v100 = omics.get_workflow_version(workflowId="1048576", versionName="1.0.0")
            assert (v100["engine"], v100["main"]) == ("WDL", "main.wdl")
            shares = omics.list_shares(resourceOwner="OTHER")["shares"]
            assert [(s["resourceId"], s["status"], s["ownerId"]) for s in shares] == [
                ("6291456", "ACTIVE", OTHER)
            ]
            assert omics.get_workflow(id="6291456", workflowOwnerId=OTHER)["name"] == "joint-genotyping"
            assert omics.get_workflow(id="7340032", type="READY2RUN")["type"] == "READY2RUN"
            exported = omics.get_workflow(id="1048576", export=["DEFINITION"])
            with urllib.request.urlopen(exported["definition"], timeout=10) as response:
                names = zipfile.ZipFile(io.BytesIO(response.read())).namelist()
            assert "main.wdl" in names and "tasks/qc.wdl" in names
        finally:
            omics.close()
            west.close()


def write_workflow(root: Path, account: str, name: str, spec: dict[str, Any], files: dict[str, str]) -> Path:
    directory = root / "accounts" / account / "us-east-1" / "workflows" / name
    for relative, text in files.items():
        (directory / "definition" / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / "definition" / relative).write_text(text)
    (directory / "workflow.json").write_text(json.dumps(spec))
    return directory


def write_version(workflow_dir: Path, name: str, spec: dict[str, Any] | None, files: dict[str, str]) -> None:
    directory = workflow_dir / "versions" / name
    for relative, text in files.items():
        (directory / "definition" / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / "definition" / relative).write_text(text)
    if spec is not None:
        (directory / "version.json").write_text(json.dumps(spec))


def test_seed_rules(tmp_path: Path, problems: list[str]) -> None:
    wf = write_workflow(
        tmp_path,
        OWNER,
        "b-first",
        {
            "name": "seeded",
            "engine": "NEXTFLOW",
            "main": "main.nf",
            "id": "1000001",
            "uuid": "00000000-0000-4000-8000-000000000001",
            "creationTime": "2026-01-05T09:00:00.123Z",
            "tags": {"k": "v"},
            "shareWith": [OTHER],
        },
        {"main.nf": "workflow {}", "modules/a.nf": "process A {}"},
    )
    (wf / "README.md").write_text("# seeded readme")
    write_version(wf, "z-old", {"order": 1}, {"main.nf": "old"})
    write_version(wf, "a-new", {"order": 2, "description": "newer", "status": "FAILED"}, {"main.nf": "new"})
    write_version(wf, "m-mid", None, {"main.nf": "mid"})
    write_workflow(tmp_path, OWNER, "a-second", {"name": "second"}, {"only.wdl": "version 1.0"})

    with (
        Emulator(EmulatorConfig(quotas=None), seed_dir=tmp_path) as first,
        Emulator(seed_dir=tmp_path) as again,
    ):
        omics = omics_client(first.url, problems)
        friend = omics_client(first.url, problems, account=OTHER)
        try:
            got = omics.get_workflow(id="1000001", export=["README"])
            assert got["uuid"] == "00000000-0000-4000-8000-000000000001" and got["tags"] == {"k": "v"}
            assert got["creationTime"].isoformat() == "2026-01-05T09:00:00.123000+00:00"
            with urllib.request.urlopen(got["readme"], timeout=10) as response:
                assert response.read() == b"# seeded readme"
            versions = omics.list_workflow_versions(workflowId="1000001")["items"]
            assert [v["versionName"] for v in versions] == ["m-mid", "z-old", "a-new"]
            assert [v["status"] for v in versions] == ["ACTIVE", "ACTIVE", "FAILED"]
            mid = omics.get_workflow_version(workflowId="1000001", versionName="m-mid")
            assert (mid["engine"], mid["main"]) == ("NEXTFLOW", "main.nf")
            listed = omics.list_workflows()["items"]
            assert [w["name"] for w in listed] == ["second", "seeded"]
            second = omics.get_workflow(id=listed[0]["id"])
            assert (second["main"], second["engine"]) == ("only.wdl", "WDL")
            assert friend.get_workflow(id="1000001", workflowOwnerId=OWNER)["status"] == "ACTIVE"
            other = omics_client(again.url, problems)
            try:
                assert other.get_workflow(id="1000001")["digest"] == got["digest"]
            finally:
                other.close()
        finally:
            omics.close()
            friend.close()


def test_load_seed_into_a_running_emulator(tmp_path: Path, problems: list[str]) -> None:
    write_workflow(tmp_path, OWNER, "late", {"name": "late", "id": "2000002"}, {"main.wdl": "version 1.0"})
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        omics = omics_client(emu.url, problems)
        try:
            assert omics.list_workflows()["items"] == []
            emu.load_seed(tmp_path)
            assert [w["id"] for w in omics.list_workflows()["items"]] == ["2000002"]
            with pytest.raises(SeedError, match="already taken"):
                emu.load_seed(tmp_path)
        finally:
            omics.close()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"name": "x", "unknown": 1}, "unknown key"),
        ({"name": "x", "engine": "SNAKEMAKE"}, "enum value set"),
        ({"name": "x", "type": "PUBLIC"}, "PRIVATE or READY2RUN"),
        ({"name": "x", "shareWith": ["me"]}, "12-digit"),
        ({"name": "x", "creationTime": "yesterday"}, "not an RFC 3339 time"),
        ({"name": "x", "creationTime": "2026-01-05T09:00:00+02:00"}, "must be in UTC"),
    ],
)
def test_bad_seeds_are_refused(tmp_path: Path, spec: dict[str, Any], fragment: str) -> None:
    write_workflow(tmp_path, OWNER, "bad", spec, {"main.wdl": ""})
    with pytest.raises(SeedError, match=fragment):
        Emulator(seed_dir=tmp_path).start()
