"""The image inventory in every bundle, end to end: seeded workflows backed up through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from archiver._bundle import read_manifest
from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def entry(manifest: dict[str, Any], image: str) -> dict[str, Any]:
    return next(e for e in manifest["images"]["entries"] if e["image"] == image)


def test_backup_records_every_image_with_its_digest_and_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        ecr = boto3.client("ecr", endpoint_url=emu.url, region_name="us-east-1")
        pushed = ecr.batch_get_image(repositoryName="deepvariant", imageIds=[{"imageTag": "1.6.1-gpu"}])
        deepvariant_digest = pushed["images"][0]["imageId"]["imageDigest"]
        emu.reset_stats()
        ids = (
            "4194304",
            "1048576",
            "2097152",
        )  # deepvariant-gpu (WDL), fastq-qc (WDL), rnaseq-quant (Nextflow)
        code = main(
            ["backup", "--store", str(store), "--endpoint-url", emu.url, "--json", "--log-format", "json"]
            + [arg for wf in ids for arg in ("--workflow-id", wf)]
        )
        out, _ = capsys.readouterr()
        calls = emu.stats().calls
    report = json.loads(out)
    assert code == 0 and report["failed"] == []  # unresolvable images never fail a backup
    manifests = {
        (b["workflowId"], b["versionName"]): read_manifest(store / b["key"]) for b in report["bundles"]
    }
    assert all(m["formatVersion"] == 2 for m in manifests.values())

    deepvariant = entry(manifests[("4194304", None)], f"{ECR}/deepvariant:1.6.1-gpu")
    assert deepvariant["status"] == "resolved" and deepvariant["digest"] == deepvariant_digest
    assert deepvariant["foundIn"] == [
        {"syntax": "wdl-runtime-docker", "file": "deepvariant.wdl", "line": 97, "field": None, "note": None}
    ]
    assert deepvariant["pullImage"] == deepvariant["image"] and deepvariant["reason"] is None

    # an image deleted from ECR: recorded, with the reason, at the input default's line
    gone = entry(manifests[("1048576", "1.0.0")], f"{ECR}/multiqc:1.21")
    assert gone["status"] == "unresolved" and gone["digest"] is None
    assert gone["reason"] == "ECR: ImageNotFound: Requested image not found"
    assert [(p["file"], p["line"]) for p in gone["foundIn"]] == [("tasks/qc.wdl", 32)]
    assert "line 54" in gone["foundIn"][0]["note"]

    # mappings: an image mapping is resolved at its destination, a registry mapping names the cache path
    rnaseq = manifests[("2097152", "1.1.0")]
    python = entry(rnaseq, "docker.io/library/python:3.12-slim")
    assert python["mappedBy"] == "containerRegistryMap.imageMappings[0]"
    assert python["pullImage"] == f"{ECR}/mirror/python:3.12-slim" and python["status"] == "resolved"
    destination = entry(rnaseq, f"{ECR}/mirror/python:3.12-slim")
    assert destination["foundIn"][0]["field"] == "containerRegistryMap.imageMappings[0].destinationImage"
    salmon = entry(rnaseq, "quay.io/biocontainers/salmon:1.10.3--h6dccd9a_2")
    assert salmon["mappedBy"] == "containerRegistryMap.registryMappings[0]"
    assert salmon["pullImage"] == f"{ECR}/quay/biocontainers/salmon:1.10.3--h6dccd9a_2"
    assert salmon["status"] == "resolved" and salmon["digest"].startswith("sha256:")
    assert [(p["file"], p["line"]) for p in salmon["foundIn"]] == [
        ("nextflow.config", 27),
        ("nextflow.config", 32),
    ]

    older = entry(manifests[("2097152", "1.0.0")], "quay.io/biocontainers/salmon:1.10.1--h7e5ed60_0")
    assert (
        older["status"] == "unresolved" and older["reason"] == "ECR: ImageNotFound: Requested image not found"
    )

    # each distinct image was asked once in the whole run, whatever the number of bundles naming it
    pulled = {e["pullImage"] for m in manifests.values() for e in m["images"]["entries"] if e["pullImage"]}
    assert calls["BatchGetImage"] == len(pulled)
