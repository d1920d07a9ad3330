"""A backup survives throttling, server errors, truncated downloads, expired URLs and kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver._bundle import read_manifest, verify_bundle
from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig, Faults

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
EXPECTED_BUNDLES = 4 + 8  # seeded us-east-1 workflows of account 123456789012, and their versions


def _check_archive(store: Path, report: dict[str, Any]) -> None:
    for entry in report["bundles"]:
        path = store / entry["key"]
        assert verify_bundle(path) == [], entry["key"]
        manifest = read_manifest(path)
        definition = next(m for m in manifest["members"] if m["name"] == "definition.zip")
        # the emulator's digest is sha256 of the stored ZIP: the archived bytes are exactly those
        assert manifest["source"]["digest"] == f"sha256:{definition['sha256']}"


def test_backup_archives_everything_despite_faults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = Faults(
        error_rate={"*": 0.1},
        throttle_rate={"*": 0.1},
        truncate_rate=0.05,
        expire_early_rate=0.05,
    )
    config = EmulatorConfig(faults=faults, random_seed=7)
    store = tmp_path / "archive"
    with Emulator(config, seed_dir=SEED) as emu:
        code = main(
            ["backup", "--store", str(store), "--endpoint-url", emu.url, "--json", "--log-format", "json"]
        )
        out, err = capsys.readouterr()
        stats = emu.stats()
    report = json.loads(out)
    assert code == 0, report["failed"]
    assert len(report["bundles"]) == EXPECTED_BUNDLES
    _check_archive(store, report)
    # the faults really happened
    assert sum(stats.errors.values()) > 0
    assert sum(stats.throttled.values()) > 0
    assert '"event": "export-retry"' in err  # some downloads were refused or cut short, then redone
    assert "X-Amz-Signature" not in out + err


def _start_backup_and_wait_for_a_bundle(store: Path, url: str) -> tuple[list[str], subprocess.Popen[bytes]]:
    """Start the backup CLI in its own process; return once it has written its first bundle."""
    cmd = [sys.executable, "-m", "archiver.cli", "backup", "--store", str(store), "--endpoint-url", url]
    proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(store.glob("bundles/**/*.tar.zst")):
        time.sleep(0.05)
    return cmd, proc


def test_kill_9_leaves_no_snapshot_and_no_partial_bundle(tmp_path: Path) -> None:
    store = tmp_path / "archive"
    config = EmulatorConfig(latency=0.15, faults=Faults(slow_download_bps=200_000))
    with Emulator(config, seed_dir=SEED) as emu:
        cmd, proc = _start_backup_and_wait_for_a_bundle(store, emu.url)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        written = list(store.glob("bundles/**/*.tar.zst"))
        assert written, "the run was killed before it wrote anything: the test proves nothing"
        assert len(written) < EXPECTED_BUNDLES, "the run finished before it was killed"
        assert not list(store.glob("snapshots/**/*.json"))
        for path in written:  # every visible bundle is whole
            assert verify_bundle(path) == [], path

        emu.configure(latency=0.0, faults=Faults())
        proc2 = subprocess.run([*cmd, "--json"], env=dict(os.environ), capture_output=True, text=True)
    assert proc2.returncode == 0, proc2.stderr
    report = json.loads(proc2.stdout)
    assert len(report["bundles"]) == EXPECTED_BUNDLES
    assert {str(p.relative_to(store)) for p in written} <= {b["key"] for b in report["bundles"]}
    assert sum(1 for b in report["bundles"] if not b["new"]) >= len(written)
    _check_archive(store, report)
    assert len(list(store.glob("snapshots/**/*.json"))) == 1


def test_invalid_metadata_is_quarantined_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        # Make the "service" answer something our schema rejects, as a future API change might:
        # the emulator's state is changed behind its API, since its own API refuses such values.
        world = emu._core.world
        version = world.region("us-east-1").account("123456789012").workflows["1048576"].versions["1.1.0"]
        version.storage_capacity = -1
        code = main(
            ["backup", "--store", str(store), "--endpoint-url", emu.url, "--json", "--log-format", "json"]
        )
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert code == 3
    assert report["outcome"] == "partial"
    assert len(report["bundles"]) == EXPECTED_BUNDLES - 1
    [failed] = report["failed"]
    assert (failed["workflowId"], failed["versionName"], failed["stage"]) == ("1048576", "1.1.0", "validate")
    [quarantined] = report["quarantined"]
    assert quarantined["problems"][0]["path"] == "$.storageCapacity"
    where = store / quarantined["prefix"]
    assert sorted(p.name for p in where.iterdir()) == [
        "README.md",
        "definition.zip",
        "errors.json",
        "metadata.json",
    ]
    assert json.loads((where / "metadata.json").read_text())["storageCapacity"] == -1
    errors = json.loads((where / "errors.json").read_text())
    assert errors["problems"][0]["path"] == "$.storageCapacity"
    # no bundle was written for it, and the snapshot records the failure
    snapshot = json.loads((store / report["snapshot"]).read_text())
    assert snapshot["failed"] == report["failed"] and snapshot["quarantined"] == report["quarantined"]


def _backup_with_definition(
    store: Path, capsys: pytest.CaptureFixture[str], change: Callable[[bytes], bytes]
) -> tuple[int, dict[str, Any], str, bytes]:
    """Back up the example seed after ``change`` rewrote the definition ZIP of 1048576 version
    1.1.0: the exit code, the JSON report, the log (stderr) and the changed definition."""
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        world = emu._core.world
        version = world.region("us-east-1").account("123456789012").workflows["1048576"].versions["1.1.0"]
        assert version.definition is not None
        version.definition = change(version.definition)
        code = main(
            ["backup", "--store", str(store), "--endpoint-url", emu.url, "--json", "--log-format", "json"]
        )
    out, err = capsys.readouterr()
    return code, json.loads(out), err, version.definition


def test_a_damaged_definition_is_quarantined_and_the_night_still_gets_its_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def damage(definition: bytes) -> bytes:
        damaged = bytearray(definition)
        damaged[60] ^= 0xFF  # inside the first member's data: a broken deflate stream
        return bytes(damaged)

    store = tmp_path / "archive"
    code, report, _, damaged = _backup_with_definition(store, capsys, damage)
    assert code == 3 and report["outcome"] == "partial"
    assert len(report["bundles"]) == EXPECTED_BUNDLES - 1
    [failed] = report["failed"]
    assert (failed["workflowId"], failed["versionName"], failed["stage"]) == ("1048576", "1.1.0", "bundle")
    [quarantined] = report["quarantined"]
    [problem] = quarantined["problems"]
    assert problem["path"] == "$.definition" and "definition" in problem["message"]
    where = store / quarantined["prefix"]
    assert (where / "definition.zip").read_bytes() == damaged
    assert json.loads((where / "errors.json").read_text())["problems"] == [problem]
    snapshot = json.loads((store / report["snapshot"]).read_text())
    assert snapshot["failed"] == report["failed"] and snapshot["quarantined"] == report["quarantined"]


def _needs_zip_version_7(zip_bytes: bytes) -> bytes:
    """The ZIP with "version needed to extract" 7.0 in every header: Python's zipfile refuses it
    as it opens the archive (NotImplementedError), before any member is read."""
    data = bytearray(zip_bytes)
    for signature, offset in ((b"PK\x01\x02", 6), (b"PK\x03\x04", 4)):
        at = data.find(signature)
        while at >= 0:
            data[at + offset : at + offset + 2] = (70).to_bytes(2, "little")
            at = data.find(signature, at + 4)
    return bytes(data)


def test_a_definition_zip_of_an_unsupported_version_is_quarantined_without_a_bug_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, err, _ = _backup_with_definition(tmp_path / "archive", capsys, _needs_zip_version_7)
    assert code == 3 and report["outcome"] == "partial"
    [quarantined] = report["quarantined"]
    [problem] = quarantined["problems"]
    assert problem["path"] == "$.definition" and "zip file version 7.0" in problem["message"]
    events = [json.loads(line).get("event") for line in err.splitlines() if line.startswith("{")]
    assert "bug" not in events and "Traceback" not in err


def test_a_failed_night_keeps_the_last_good_state_through_prune(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    args = ["backup", "--store", str(store), "--json", "--log-format", "json"]
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        assert main([*args, "--endpoint-url", emu.url]) == 0
        first = json.loads(capsys.readouterr().out)
        world = emu._core.world  # see test_invalid_metadata_is_quarantined_and_the_run_goes_on
        world.region("us-east-1").account("123456789012").workflows["1048576"].versions[
            "1.1.0"
        ].storage_capacity = -1
        assert main([*args, "--endpoint-url", emu.url, "--full"]) == 3  # storage is not listed
        second = json.loads(capsys.readouterr().out)
    old = next(b for b in first["bundles"] if b["versionName"] == "1.1.0")
    assert [f["versionName"] for f in second["failed"]] == ["1.1.0"]
    # the version's last good bundle is still part of the account's latest state
    assert old in [{**b, "new": True} for b in second["bundles"]]
    assert sorted(b["key"] for b in second["bundles"]) == sorted(b["key"] for b in first["bundles"])
    assert main(["prune", "--store", str(store), "--keep-last", "1"]) == 0
    capsys.readouterr()
    assert (store / old["key"]).exists()
    assert main(["verify", "--store", str(store)]) == 0


def test_a_prune_during_a_real_backup_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backup holds its lock marker for the whole run, so a prune started meanwhile backs off."""
    store = tmp_path / "archive"
    config = EmulatorConfig(latency=0.15, faults=Faults(slow_download_bps=200_000))
    with Emulator(config, seed_dir=SEED) as emu:
        _, proc = _start_backup_and_wait_for_a_bundle(store, emu.url)
        try:
            before = sorted(store.glob("bundles/**/*.tar.zst"))
            assert before and proc.poll() is None, "the backup must still be running"
            code = main(["prune", "--store", str(store), "--keep-last", "1", "--json"])
            err = capsys.readouterr().err
            assert code == 1
            assert "backup" in err
            assert all(p.exists() for p in before)
        finally:
            assert proc.wait(timeout=120) == 0
    assert main(["prune", "--store", str(store), "--keep-last", "1"]) == 0
    assert main(["verify", "--store", str(store), "--read-data"]) == 0
