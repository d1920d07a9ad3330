"""Real archives for the archive-management tests (verify, list, show, diff, prune, cache).

Not a test module of its own: it builds, once per test module and store type, an archive made by the
real backup command against the emulator seeded from ``examples/seed``: a first backup, an update of
workflow 1048576's description (a new state of it), and a second backup. So the archive holds two
snapshots of 123456789012/us-east-1 and one bundle that only the first snapshot references.
Tests that damage an archive work on a copy (:func:`copy_archive`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
FASTQ_QC = "1048576"


@dataclass(frozen=True)
class Archive:
    """A store holding a real archive: ``url`` and the extra CLI arguments needed to reach it."""

    kind: str
    url: str
    args: tuple[str, ...]
    endpoint: str | None = None
    root: Path | None = None
    bucket: str | None = None
    prefix: str = ""

    def cli(self, *argv: str) -> list[str]:
        return [*argv, "--store", self.url, *self.args]

    # -- raw access, to damage or inspect the archive behind the tool's back ----------------------

    def _s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def list_keys(self, prefix: str = "") -> list[str]:
        if self.root is not None:
            base = self.root
            found = (p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
            return sorted(k for k in found if k.startswith(prefix))
        s3 = self._s3()
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        return sorted(o["Key"][len(self.prefix) :] for page in pages for o in page.get("Contents", ()))

    def read(self, key: str) -> bytes:
        if self.root is not None:
            return (self.root / key).read_bytes()
        body: bytes = self._s3().get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        return body

    def write(self, key: str, data: bytes) -> None:
        if self.root is not None:
            (self.root / key).parent.mkdir(parents=True, exist_ok=True)
            (self.root / key).write_bytes(data)
        else:
            self._s3().put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def remove(self, key: str) -> None:
        if self.root is not None:
            (self.root / key).unlink()
        else:
            self._s3().delete_object(Bucket=self.bucket, Key=self.prefix + key)


@contextlib.contextmanager
def fake_aws_env(home: Path) -> Iterator[None]:
    """What tests/conftest.py does per test, for module-scoped fixtures (which run before it)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", str(home / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
        mp.setenv("AWS_ACCESS_KEY_ID", "123456789012")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield


def run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def _backup(emu: Emulator, archive: Archive, *extra: str) -> dict[str, Any]:
    code, out = run_cli(
        archive.cli("backup", "--endpoint-url", emu.url, "--json", "--log-level", "ERROR", *extra)
    )
    report: dict[str, Any] = json.loads(out)
    assert code == 0, report["failed"]
    return report


def build_archives(tmp: Path, moto_endpoint: str | None) -> dict[str, Archive]:
    """One archive in a directory and (with a moto endpoint) one in S3, both of the same history."""
    with fake_aws_env(tmp):
        return _build(tmp, moto_endpoint)


def _build(tmp: Path, moto_endpoint: str | None) -> dict[str, Archive]:
    archives = {"file": Archive("file", str(tmp / "archive"), (), root=tmp / "archive")}
    if moto_endpoint is not None:
        from .s3server import make_bucket  # imported late: pytest registers it as a plugin first

        bucket = make_bucket(moto_endpoint)
        archives["s3"] = Archive(
            "s3",
            f"s3://{bucket}/dr",
            ("--s3-endpoint-url", moto_endpoint),
            endpoint=moto_endpoint,
            bucket=bucket,
            prefix="dr/",
        )
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        for archive in archives.values():
            _backup(emu, archive)
        omics = boto3.client(
            "omics", endpoint_url=emu.url, region_name="us-east-1", config=Config(inject_host_prefix=False)
        )
        omics.update_workflow(id=FASTQ_QC, description="FastQC and MultiQC (description updated)")
        for archive in archives.values():
            # --full: a workflow's description is not in its listing (only a full read sees it)
            _backup(emu, archive, "--full")
    return archives


def copy_archive(archive: Archive, tmp: Path, *, object_lock: bool = False) -> Archive:
    """A private copy of ``archive`` that a test may damage (S3: in a bucket with Object Lock, if asked)."""
    if archive.root is not None:
        root = tmp / f"copy-{uuid.uuid4().hex[:8]}"
        shutil.copytree(archive.root, root)
        return Archive("file", str(root), (), root=root)
    assert archive.endpoint is not None and archive.bucket is not None
    from .s3server import make_bucket

    bucket = make_bucket(archive.endpoint, object_lock=object_lock)
    s3 = boto3.client("s3", endpoint_url=archive.endpoint, region_name="us-east-1")
    for key in archive.list_keys():
        s3.copy_object(
            Bucket=bucket, Key="dr/" + key, CopySource={"Bucket": archive.bucket, "Key": archive.prefix + key}
        )
    return Archive(
        "s3", f"s3://{bucket}/dr", archive.args, endpoint=archive.endpoint, bucket=bucket, prefix="dr/"
    )
