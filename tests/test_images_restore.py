"""Restore readiness end to end: a workflow whose image is in account A's ECR, restored into B.

The image is pushed into the emulator's ECR in A / us-east-1 with the stock AWS CLI (``aws ecr``),
the workflow is backed up with ``--images copy``, and restores into B / us-west-2 are refused (exit 1, nothing
created) until ``--push-images`` pushes the archived image into B's ECR, where it has the same
manifest digest (``aws ecr describe-images`` in B), and the restored workflow's container
registry map points at it; drills into B pass and clean up; a second backup downloads no layer byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from archiver._bundle import read_manifest
from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig
from tests.emulator_helpers import KNOWN_KEYS, SECRET, make_zip

A, B = "123456789012", "444455556666"
SOURCE = f"{A}.dkr.ecr.us-east-1.amazonaws.com/tools/bwa:0.7.17"
TARGET = f"{B}.dkr.ecr.us-west-2.amazonaws.com/tools/bwa:0.7.17"
WDL = f'version 1.0\ntask align {{\n  command {{ bwa mem }}\n  runtime {{\n    docker: "{SOURCE}"\n  }}\n}}\n'
WDL += "workflow bwa { call align }\n"
AWS = str(Path(sys.executable).parent / "aws") if (Path(sys.executable).parent / "aws").exists() else None
AWS = AWS or shutil.which("aws")
MAP = ["--map-account", f"{A}={B}", "--map-region", "us-east-1=us-west-2"]


def client(emu: Emulator, service: str, account: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=emu.url,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="testing-secret",
        config=Config(inject_host_prefix=False),
    )


def aws(emu: Emulator, account: str, region: str, *args: str) -> Any:
    """The stock AWS CLI (``aws ecr ...``) against the emulator, signed with ``account``'s key."""
    assert AWS is not None, "the AWS CLI (awscli, in the test extra) is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=account,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    done = subprocess.run(
        [AWS, "ecr", *args, "--endpoint-url", emu.url, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def push(emu: Emulator, work: Path) -> str:
    """Push a two-blob image (config and one 6 MiB layer, in two parts) with ``aws ecr`` in A."""

    def ecr(*args: str) -> Any:
        return aws(emu, A, "us-east-1", *args)

    ecr("create-repository", "--repository-name", "tools/bwa")
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = os.urandom(6 * 1024 * 1024)
    for blob in (config, layer):
        upload = ecr("initiate-layer-upload", "--repository-name", "tools/bwa")["uploadId"]
        first = 0
        for part in (blob[: 5 * 1024 * 1024], blob[5 * 1024 * 1024 :]):
            if part:
                (work / "part").write_bytes(part)
                ecr(
                    "upload-layer-part",
                    *("--repository-name", "tools/bwa", "--upload-id", upload),
                    *("--part-first-byte", str(first), "--part-last-byte", str(first + len(part) - 1)),
                    *("--layer-part-blob", f"fileb://{work / 'part'}"),
                )
                first += len(part)
        ecr(
            "complete-layer-upload",
            *("--repository-name", "tools/bwa", "--upload-id", upload),
            *("--layer-digests", "sha256:" + hashlib.sha256(blob).hexdigest()),
        )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                }
            ],
        }
    )
    (work / "manifest.json").write_text(manifest)
    put = ecr(
        "put-image",
        *("--repository-name", "tools/bwa", "--image-tag", "0.7.17"),
        *("--image-manifest", f"file://{work / 'manifest.json'}"),
    )
    return str(put["image"]["imageId"]["imageDigest"])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr()[0])


def test_restore_refuses_without_images_and_pushes_them_with_push_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[target]\naws_access_key_id = {B}\naws_secret_access_key = testing-secret\n"
    )
    store = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS)) as emu:
        digest = push(emu, tmp_path)
        omics = client(emu, "omics", A, "us-east-1")
        omics.create_workflow(name="bwa", engine="WDL", definitionZip=make_zip({"main.wdl": WDL}))
        code, report = run(
            capsys, "backup", "--store", str(store), "--endpoint-url", emu.url, "--images", "copy"
        )
        assert code == 0 and report["images"]["archived"] == 1
        (bundle,) = report["bundles"]
        (entry,) = read_manifest(store / bundle["key"])["images"]["entries"]
        assert (entry["image"], entry["digest"], entry["status"]) == (SOURCE, digest, "resolved")
        assert [(p["file"], p["line"]) for p in entry["foundIn"]] == [("main.wdl", 5)]

        restore = ["restore", "--store", str(store), "--endpoint-url", emu.url, "--profile", "target"]
        restore += ["--region", "us-west-2", "--all", "--no-rate-limit", "--poll-interval", "50ms"]
        mapping = tmp_path / "mapping.yaml"  # the same as MAP, as a mapping file
        mapping.write_text(f'version: 1\naccounts: {{"{A}": "{B}"}}\nregions: {{us-east-1: us-west-2}}\n')
        code, plan = run(capsys, *restore, *MAP, "--dry-run")
        assert code == 1 and plan["images"]["missing"] == 1
        (needed,) = plan["images"]["images"]
        assert (needed["target"], needed["digest"], needed["present"], needed["archived"]) == (
            TARGET,
            digest,
            False,
            True,
        )
        emu.reset_stats()
        code, refused = run(capsys, *restore, *MAP)
        assert code == 1 and "--push-images" in refused["problems"][0]
        assert "CreateWorkflow" not in emu.stats().calls and "PutImage" not in emu.stats().calls
        target_omics = client(emu, "omics", B, "us-west-2")
        assert target_omics.list_workflows()["items"] == []

        # a drill into B: restores under drill- names, pushes the image, checks, cleans up, records
        metrics = tmp_path / "drill.prom"
        drill = ["drill", "--store", str(store), "--endpoint-url", emu.url, "--profile", "target"]
        drill += [
            "--region",
            "us-west-2",
            "--mapping",
            str(mapping),
            "--push-images",
            "--poll-interval",
            "50ms",
        ]
        code, drilled = run(capsys, *drill, "--no-rate-limit", "--metrics-file", str(metrics))
        assert code == 0 and drilled["ok"], [c for c in drilled["checks"] if not c["ok"]]
        checks = {(c["check"], c["ok"]) for c in drilled["checks"]}
        assert {("definition-sha256", True), ("parameter-template", True), ("readme", True)} <= checks
        assert {("active", True), ("image-present", True), ("restore", True)} <= checks
        # cleaned up: the workflow (a deleted one may be listed as DELETED for a while) and the ECR
        # repository the drill's push created, with what it pushed; each deletion recorded
        assert all(c["deleted"] for c in drilled["cleanup"]), drilled["cleanup"]
        assert f"repository {TARGET.rsplit(':', 1)[0]}" in [c["what"] for c in drilled["cleanup"]]
        assert len(drilled["cleanup"]) == 2
        assert [w for w in target_omics.list_workflows()["items"] if w["status"] != "DELETED"] == []
        assert client(emu, "ecr", B, "us-west-2").describe_repositories()["repositories"] == []
        assert "omics_archiver_drill_last_success_timestamp_seconds{" in metrics.read_text()
        assert "omics_archiver_drill_failures{" in metrics.read_text()
        code, listed = run(capsys, "snapshots", "--store", str(store))
        (row,) = listed["drills"]
        assert (
            row["ok"]
            and row["failed"] == 0
            and row["key"] == drilled["key"]
            and row["target"] == f"{B} us-west-2"
        )

        # the repository exists (empty) before the next drill: the drill pushes the image into it
        # and its cleanup deletes that image only, leaving the repository it found
        ecr_b = client(emu, "ecr", B, "us-west-2")
        ecr_b.create_repository(repositoryName="tools/bwa")
        code, second = run(capsys, *drill, "--no-rate-limit")
        assert code == 0 and second["ok"], [c for c in second["checks"] if not c["ok"]]
        ecr_cleanup = [c for c in second["cleanup"] if "ecr" in c["what"]]
        assert [(c["what"], c["deleted"]) for c in ecr_cleanup] == [(f"image {TARGET}@{digest}", True)]
        assert [r["repositoryName"] for r in ecr_b.describe_repositories()["repositories"]] == ["tools/bwa"]
        assert ecr_b.describe_images(repositoryName="tools/bwa")["imageDetails"] == []

        code, done = run(capsys, *restore, "--mapping", str(mapping), "--push-images")
        assert code == 0, done["problems"]
        # each drill uploaded both blobs; the second one's cleanup deleted the image, not the
        # layers, which BatchCheckLayerAvailability now finds: this push uploads none
        assert drilled["restore"]["images"]["layersUploaded"] == 2
        assert second["restore"]["images"]["layersUploaded"] == 2
        assert done["images"]["push"]["layersUploaded"] == 0 and done["images"]["push"]["layersPresent"] == 2
        assert done["images"]["images"][0]["pushed"]
        # the done-when's check, with the stock CLI in B / us-west-2: the same manifest digest
        (detail,) = aws(emu, B, "us-west-2", "describe-images", "--repository-name", "tools/bwa")[
            "imageDetails"
        ]
        assert detail["imageDigest"] == digest and detail["imageTags"] == ["0.7.17"]
        (restored,) = [w for w in target_omics.list_workflows()["items"] if w["status"] != "DELETED"]
        got = target_omics.get_workflow(id=restored["id"])
        assert got["containerRegistryMap"]["imageMappings"] == [
            {"sourceImage": SOURCE, "destinationImage": TARGET}
        ]
        # the image is there now: a restore without --push-images is no longer refused for it
        code, again = run(capsys, *restore, *MAP, "--dry-run")
        assert again["images"]["missing"] == 0
        # a second backup --images copy of the unchanged workflow downloads no layer byte
        emu.reset_stats()
        code, second_backup = run(
            capsys, "backup", "--store", str(store), "--endpoint-url", emu.url, "--images", "copy"
        )
        assert code == 0 and second_backup["images"]["stats"]["layerBytesDownloaded"] == 0
        assert emu.stats().layer_bytes == 0
