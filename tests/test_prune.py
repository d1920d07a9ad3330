"""``prune`` through the CLI on real archives (directory and S3), plus the policy and the lock markers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver import StoreError
from archiver._catalog import SnapshotRecord
from archiver._layout import parse_snapshot_key, snapshot_key
from archiver._lock import LockTiming, backup_lock, list_locks, prune_lock
from archiver._prune import RetentionPolicy, apply_policy, parse_duration
from archiver.cli import main
from archiver.store import open_store

from .test_catalog_support import Archive, build_archives, copy_archive

pytest_plugins = ("tests.s3server",)


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> dict[str, Archive]:
    return build_archives(tmp_path_factory.mktemp("prune"), moto_server)


@pytest.fixture(params=["file", "s3"])
def archive(request: pytest.FixtureRequest, archives: dict[str, Archive], tmp_path: Path) -> Archive:
    return copy_archive(archives[request.param], tmp_path)


def run(archive: Archive, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(archive.cli(*argv, "--json"))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def referenced(archive: Archive) -> set[str]:
    keys = set()
    for key in archive.list_keys("snapshots/"):
        keys |= {b["key"] for b in json.loads(archive.read(key))["bundles"]}
    return keys


def test_keep_last_one_keeps_exactly_the_referenced_bundles(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    before = archive.list_keys()
    snapshots = [k for k in before if k.startswith("snapshots/")]
    assert len(snapshots) == 2
    bundles = {k for k in before if k.startswith("bundles/")}
    newest_refs = {b["key"] for b in json.loads(archive.read(snapshots[-1]))["bundles"]}
    assert len(bundles - newest_refs) == 1  # the old state of the updated workflow

    code, dry = run(archive, capsys, "prune", "--keep-last", "1", "--dry-run")
    assert code == 0
    assert dry["forgotten"] == [snapshots[0]]
    assert dry["bundlesDeleted"] == sorted(bundles - newest_refs)
    assert archive.list_keys() == before  # a dry run deletes nothing

    code, report = run(archive, capsys, "prune", "--keep-last", "1")
    assert code == 0, report
    after = archive.list_keys()
    assert [k for k in after if k.startswith("snapshots/")] == [snapshots[-1]]
    assert {k for k in after if k.startswith("bundles/")} == newest_refs == referenced(archive)
    assert not [k for k in after if k.startswith("locks/")]  # the prune marker is gone
    assert main(archive.cli("verify")) == 0
    assert ": ok" in capsys.readouterr().out
    # idempotent: nothing more to do
    code, again = run(archive, capsys, "prune", "--keep-last", "1")
    assert code == 0 and again["forgotten"] == [] and again["bundlesDeleted"] == []


def test_running_backup_blocks_prune(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    marker = {
        "kind": "backup",
        "runId": "r1",
        "host": "elsewhere",
        "pid": 1,
        "createdAt": now,
        "refreshedAt": now,
    }
    archive.write("locks/backup-20990101T000000000000Z-00000000.json", json.dumps(marker).encode())
    before = archive.list_keys()
    code = main(archive.cli("prune", "--keep-last", "1"))
    err = capsys.readouterr().err
    assert code == 1
    assert "a backup is running" in err and "elsewhere" in err
    assert archive.list_keys() == before
    # once that backup has released its marker (ended: true, as under Object Lock), prune goes ahead
    archive.write(
        "locks/backup-20990101T000000000000Z-00000000.json", json.dumps({**marker, "ended": True}).encode()
    )
    code, report = run(archive, capsys, "prune", "--keep-last", "1")
    assert code == 0 and len(report["forgotten"]) == 1
    assert report["locksRemoved"] == ["locks/backup-20990101T000000000000Z-00000000.json"]


def test_object_lock_is_reported_not_an_error(
    archives: dict[str, Archive], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = copy_archive(archives["s3"], tmp_path, object_lock=True)
    s3 = archive._s3()
    old_snapshot, new_snapshot = archive.list_keys("snapshots/")
    old_bundle = sorted(set(archive.list_keys("bundles/")) - referenced_by(archive, new_snapshot))
    hold = {"Bucket": archive.bucket, "Key": archive.prefix + old_snapshot}
    s3.put_object_legal_hold(**hold, LegalHold={"Status": "ON"})
    code, report = run(archive, capsys, "prune", "--keep-last", "1")
    assert code == 0
    assert [x["key"] for x in report["locked"]] == [old_snapshot] and "legal hold" in report["locked"][0][
        "reason"
    ]
    assert report["forgotten"] == [] and report["bundlesDeleted"] == []  # its bundles stay with it
    s3.put_object_legal_hold(**hold, LegalHold={"Status": "OFF"})
    s3.put_object_legal_hold(
        Bucket=archive.bucket, Key=archive.prefix + old_bundle[0], LegalHold={"Status": "ON"}
    )
    code, report = run(archive, capsys, "prune", "--keep-last", "1")
    assert code == 0
    assert report["forgotten"] == [old_snapshot] and report["bundlesDeleted"] == []
    assert [x["key"] for x in report["locked"]] == old_bundle
    assert main(archive.cli("verify")) == 0
    capsys.readouterr()


def referenced_by(archive: Archive, snapshot: str) -> set[str]:
    return {b["key"] for b in json.loads(archive.read(snapshot))["bundles"]}


def test_no_policy_is_a_usage_error(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(archive.cli("prune")) == 2
    with pytest.raises(SystemExit) as exc:
        main(archive.cli("prune", "--keep-within", "3x"))
    assert exc.value.code == 2
    capsys.readouterr()


async def test_backup_waits_for_a_running_prune_and_prune_withdraws(tmp_path: Path) -> None:
    timing = LockTiming(refresh=0.05, stale_after=5.0, poll=0.02, wait=5.0)
    async with open_store(str(tmp_path / "s")) as store:
        order: list[str] = []
        async with prune_lock(store, timing=timing):
            waiting = asyncio.create_task(_hold_backup(store, timing, order))
            await asyncio.sleep(0.2)
            assert order == []  # still waiting for the prune
            order.append("prune done")
        await asyncio.wait_for(waiting, 5)
        assert order == ["prune done", "backup in"]
        # a prune that finds a live backup withdraws its own marker and fails
        async with backup_lock(store, run_id="run-1", timing=timing):
            with pytest.raises(StoreError, match="a backup is running"):
                async with prune_lock(store, timing=timing):
                    pass
            assert [m.kind for m in await list_locks(store)] == ["backup"]
        assert await list_locks(store) == []


async def _hold_backup(store: Any, timing: LockTiming, order: list[str]) -> None:
    async with backup_lock(store, run_id="run-2", timing=timing):
        order.append("backup in")


class _RefreshFails:
    """A store whose overwrites fail: the backup marker can be created but never refreshed."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def put_bytes(self, key: str, data: bytes, *, if_absent: bool = True) -> bool:
        if not if_absent:
            raise StoreError("refresh refused", key=key)
        result: bool = await self._store.put_bytes(key, data, if_absent=if_absent)
        return result


async def test_a_backup_that_cannot_refresh_its_marker_stops(tmp_path: Path) -> None:
    timing = LockTiming(refresh=0.02, stale_after=0.1, poll=0.01, wait=1.0)
    async with open_store(str(tmp_path / "s")) as store:
        with pytest.raises(StoreError, match="lost the backup lock"):
            async with backup_lock(_RefreshFails(store), run_id="r", timing=timing):
                await asyncio.sleep(5)  # cancelled long before this ends
        assert await list_locks(store) == []


def _record(when: datetime, series: str = "123456789012") -> SnapshotRecord:
    sid = when.strftime("%Y%m%dT%H%M%S%fZ") + "-0000abcd"
    key = parse_snapshot_key(snapshot_key("aws", series, "us-east-1", sid))
    return SnapshotRecord(key, {"bundles": [], "filters": {}, "finishedAt": when.isoformat()})


def test_policy_as_restic() -> None:
    start = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    snaps = [_record(start + timedelta(hours=6 * i)) for i in range(40)]  # 10 days, 4 a day
    keep, forget = apply_policy(snaps, RetentionPolicy(daily=3))
    assert [s.time.day for s, _ in keep] == [10, 9, 8] and all(s.time.hour == 19 for s, _ in keep)
    assert len(forget) == 37
    keep, _ = apply_policy(snaps, RetentionPolicy(last=2, weekly=2))
    assert len(keep) == 3  # the newest is both last and weekly; one more last; the previous ISO week
    keep, _ = apply_policy(snaps, RetentionPolicy(within=parse_duration("1d")))
    assert len(keep) == 5  # within 24 h of the newest, inclusive
    assert parse_duration("1y2m").before(datetime(2026, 4, 30, tzinfo=UTC)) == datetime(
        2025, 2, 28, tzinfo=UTC
    )
    with pytest.raises(ValueError):
        parse_duration("2w")


async def test_a_huge_or_deep_lock_marker_is_judged_by_its_age(
    tmp_path: Path,
) -> None:
    from archiver._lock import MAX_MARKER_BYTES, list_locks
    from archiver.store import open_store

    async with open_store(str(tmp_path / "store")) as store:
        await store.put_bytes("locks/backup-huge.json", b" " * (MAX_MARKER_BYTES + 1) + b"{}")
        await store.put_bytes("locks/backup-deep.json", b"[" * 60000 + b"]" * 60000)
        found = {lock.key: lock for lock in await list_locks(store)}
    assert set(found) == {"locks/backup-huge.json", "locks/backup-deep.json"}
    for lock in found.values():
        assert lock.pid is None and lock.host == "?" and lock.modified is not None
