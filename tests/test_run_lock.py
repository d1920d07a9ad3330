"""One backup per account and region at a time; dead locks are taken over; ``unlock``
(issue 10, points 4 and 5)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver._jsonutil import rfc3339
from archiver.cli import main
from archiver.store import StoreOptions, open_archive
from archiver.testing import Emulator, EmulatorConfig, Faults

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
TARGET = {"partition": "aws", "account": "123456789012", "region": "us-east-1"}


def _put_marker(url: str, options: StoreOptions, key: str, doc: dict[str, object]) -> None:
    async def put() -> None:
        async with open_archive(url, options, create=True) as store:
            await store.put_bytes(key, json.dumps(doc).encode(), if_absent=False)

    asyncio.run(put())


def _marker(host: str, pid: int, seen: datetime) -> dict[str, object]:
    return {
        "format": "omics-archiver-lock",
        "formatVersion": 1,
        "kind": "backup",
        "runId": "20260101T000000000000Z-0badc0de",
        "host": host,
        "pid": pid,
        "createdAt": rfc3339(seen - timedelta(minutes=5)),
        "refreshedAt": rfc3339(seen),
        "ended": False,
        "target": TARGET,
    }


@pytest.fixture(params=["file", "s3"])
def store_args(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[list[str], StoreOptions]:
    if request.param == "file":
        return ["--store", str(tmp_path / "archive")], StoreOptions()
    endpoint, bucket = request.getfixturevalue("s3_bucket")
    return ["--store", f"s3://{bucket}/a", "--s3-endpoint-url", endpoint], StoreOptions(endpoint_url=endpoint)


def test_a_second_backup_of_the_same_target_waits_then_refuses(
    store_args: tuple[list[str], StoreOptions], capsys: pytest.CaptureFixture[str]
) -> None:
    args, options = store_args
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        base = ["backup", *args, "--endpoint-url", emu.url, "--log-format", "json"]
        assert main(base) == 0  # makes the archive
        capsys.readouterr()
        key = "locks/backup-20260101T000000000000Z-0badc0de.json"
        _put_marker(args[1], options, key, _marker("other-host", 4242, datetime.now(UTC)))
        started = time.monotonic()
        assert main([*base, "--lock-wait", "2s"]) == 1
        waited = time.monotonic() - started
        err = capsys.readouterr().err.splitlines()[-1]
        assert waited >= 2
        assert "another backup of account 123456789012 in us-east-1 is running" in err
        assert "other-host" in err and "pid 4242" in err and "since 20" in err and "unlock" in err
        # another region is another target: it runs
        assert main([*base, "--region", "us-west-2"]) == 0
        capsys.readouterr()
        # a live marker of another host is not removed by unlock, only by unlock --remove-all
        assert main(["unlock", *args, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"removed": [], "remaining": [key]}
        assert main(["unlock", *args, "--remove-all", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["removed"] == [key]
        assert main(base) == 0


def test_another_hosts_lock_expires(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        base = ["backup", "--store", str(store), "--endpoint-url", emu.url, "--log-format", "json"]
        assert main(base) == 0
        old = datetime.now(UTC) - timedelta(minutes=20)
        key = "locks/backup-20260101T000000000000Z-0badc0de.json"
        _put_marker(str(store), StoreOptions(), key, _marker("other-host", 4242, old))
        os.utime(store / key, (old.timestamp(), old.timestamp()))
        assert main(base) == 0
        assert main(["unlock", "--store", str(store)]) == 0
        assert "removed 1 lock marker" in capsys.readouterr().out
        assert not (store / key).exists()


def _start(store: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "archiver.cli",
        "backup",
        "--store",
        str(store),
        "--endpoint-url",
        url,
        *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(store.glob("bundles/**/*.tar.zst")):
        time.sleep(0.05)
    assert proc.poll() is None, "the backup must still be running"
    return proc


def test_a_running_backup_is_named_and_a_killed_ones_lock_is_taken_over_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    config = EmulatorConfig(latency=0.15, faults=Faults(slow_download_bps=200_000))
    with Emulator(config, seed_dir=SEED) as emu:
        proc = _start(store, emu.url)
        try:
            assert main(["backup", "--store", str(store), "--endpoint-url", emu.url]) == 1
            err = capsys.readouterr().err
            assert f"on {socket.gethostname()} (pid {proc.pid})" in err
        finally:
            proc.kill()
            proc.communicate()
        assert list(store.glob("locks/*.json")), "kill -9 leaves the marker behind"
        emu.configure(latency=0.0, faults=Faults())
        # the dead process's marker stops neither a prune nor the next backup
        assert main(["prune", "--store", str(store), "--keep-last", "1"]) == 0
        assert main(["backup", "--store", str(store), "--endpoint-url", emu.url, "--log-format", "json"]) == 0
        capsys.readouterr()
    assert not list(store.glob("locks/*.json"))


def test_two_backups_started_together_one_runs_and_one_refuses(tmp_path: Path) -> None:
    """Each writes its marker first and looks second, so at least one sees the other; exactly one runs."""
    store = tmp_path / "archive"
    config = EmulatorConfig(latency=0.05, faults=Faults(slow_download_bps=400_000))
    with Emulator(config, seed_dir=SEED) as emu:
        cmd = [
            sys.executable,
            "-m",
            "archiver.cli",
            "backup",
            "--store",
            str(store),
            "--endpoint-url",
            emu.url,
        ]
        procs = [
            subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in "ab"
        ]
        results = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
    assert sorted(code for code, _ in results) == [0, 1], results
    [refusal] = [err for code, err in results if code == 1]
    assert "another backup of account 123456789012 in us-east-1 is running" in refusal
    assert len(list(store.glob("snapshots/**/*.json"))) == 1


@pytest.mark.parametrize(
    ("sig", "code", "processes"), [(signal.SIGTERM, 143, "1"), (signal.SIGHUP, 129, "2")]
)
def test_sigterm_and_sighup_stop_a_run_cleanly(
    tmp_path: Path, sig: signal.Signals, code: int, processes: str
) -> None:
    store = tmp_path / "archive"
    config = EmulatorConfig(latency=0.15, faults=Faults(slow_download_bps=200_000))
    with Emulator(config, seed_dir=SEED) as emu:
        proc = _start(store, emu.url, "--processes", processes, "--log-format", "json")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    lines = [line for line in err.splitlines() if not line.startswith("{")]
    assert lines == [
        f"omics-archiver: error: stopped by {sig.name}; nothing half-written is left in the store, "
        "and its lock is released"
    ]
    assert "Traceback" not in err
    assert not list(store.glob("locks/*.json")), "the lock is released"
    assert not list(store.glob("snapshots/**/*.json"))
    assert not [p for p in store.rglob("*") if p.name.startswith(".~tmp")]
