"""What a killed run leaves is removed by the next writer, never what a live run uses (issue 10, 11).

Through the CLI: ``.~tmp-*`` files in a file store, unfinished multipart uploads in S3, and work
directories in ``--work-dir``. The rules are in ``archiver/_workdir.py`` and
``archiver/store/_identity.py`` (``STALE_TEMPORARY``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from archiver._workdir import _host
from archiver.cli import main
from archiver.store import _identity
from archiver.testing import Emulator, EmulatorConfig

from .test_catalog_support import SEED

pytest_plugins = ("tests.s3server",)

_DAYS_AGO = time.time() - 2 * 86400


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        yield emu


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_backup_removes_what_a_killed_one_left_and_keeps_what_a_live_one_uses(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    base = [
        "backup",
        "--store",
        str(store),
        "--endpoint-url",
        emulator.url,
        "--work-dir",
        str(work),
        "--json",
    ]
    assert main(base) == 0
    first = json.loads(capsys.readouterr().out)
    bundle_dir = (store / first["bundles"][0]["key"]).parent
    old_tmp, young_tmp = bundle_dir / ".~tmp-killed", bundle_dir / ".~tmp-writing"
    old_tmp.write_bytes(b"half a bundle")
    young_tmp.write_bytes(b"a live writer's bundle")
    os.utime(old_tmp, (_DAYS_AGO, _DAYS_AGO))
    host = _host()
    dirs = {
        "dead": work / f"omics-archiver-{host}-{dead_pid()}-abcdef12",
        "live": work / f"omics-archiver-{host}-{os.getpid()}-abcdef34",
        "other-host-fresh": work / "omics-verify-elsewhere.example-1-abcdef56",
        "other-host-old": work / "omics-verify-elsewhere.example-1-abcdef78",
        "old-style": work / "omics-archiver-k2j4h5g6",
        "not-ours": work / "something-else",
    }
    for path in dirs.values():
        path.mkdir()
        (path / "bundle.tar.zst").write_bytes(b"x")
    for name in ("other-host-old", "old-style"):
        os.utime(dirs[name], (_DAYS_AGO, _DAYS_AGO))

    assert main(base) == 0
    capsys.readouterr()
    assert not old_tmp.exists() and young_tmp.exists()
    kept = {name for name, path in dirs.items() if path.exists()}
    assert kept == {"live", "other-host-fresh", "not-ours"}
    assert sorted(p.name for p in work.iterdir()) == sorted(dirs[n].name for n in kept)  # its own is gone too

    # readers never remove anything from the store
    os.utime(young_tmp, (_DAYS_AGO, _DAYS_AGO))
    assert main(["verify", "--store", str(store)]) == 0
    assert young_tmp.exists()
    assert main(["prune", "--keep-last", "5", "--store", str(store)]) == 0  # prune writes: it cleans
    assert not young_tmp.exists()


def test_a_run_of_many_targets_sweeps_the_work_directory_once(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from archiver import _workdir

    from .test_targets import DONE_WHEN_TARGETS

    targets, work = tmp_path / "targets.yaml", tmp_path / "work"
    targets.write_text(DONE_WHEN_TARGETS)
    work.mkdir()
    dead = work / f"omics-archiver-{_host()}-{dead_pid()}-abcdef12"
    dead.mkdir()
    scans: list[str] = []
    real_scandir = os.scandir

    def counted(path: Any = ".") -> Any:
        if not isinstance(path, int):
            scans.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(_workdir.os, "scandir", counted)  # the os module: every caller is counted
    argv = [
        "backup",
        "--store",
        str(tmp_path / "store"),
        "--endpoint-url",
        emulator.url,
        "--work-dir",
        str(work),
    ]
    assert main([*argv, "--targets", str(targets), "--json", "--log-level", "ERROR"]) == 3  # one role refused
    report = json.loads(capsys.readouterr().out)
    assert sum(t["outcome"] == "ok" for t in report["targets"]) == 4
    assert not dead.exists() and list(work.iterdir()) == []
    assert scans.count(str(work)) == 1  # once for the run, not once per target


def test_a_writer_aborts_the_unfinished_uploads_of_a_killed_run_on_s3(
    emulator: Emulator,
    s3_bucket: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint, bucket = s3_bucket
    store = ["--store", f"s3://{bucket}/dr", "--s3-endpoint-url", endpoint]
    assert main(["backup", *store, "--endpoint-url", emulator.url]) == 0
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_multipart_upload(Bucket=bucket, Key="dr/bundles/killed.tar.zst")
    s3.create_multipart_upload(Bucket=bucket, Key="other/not-ours.bin")
    assert main(["verify", *store]) == 0  # a reader leaves it
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 2
    monkeypatch.setattr(_identity, "STALE_TEMPORARY", 0.0)  # moto cannot age an upload: age the rule
    assert main(["backup", *store, "--endpoint-url", emulator.url]) == 0
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [
        "other/not-ours.bin"
    ]
    capsys.readouterr()
