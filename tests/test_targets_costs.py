"""What a target costs beyond its items (issue 13, point 6): shared TLS contexts, copied sessions,
lock markers read once per version rather than once per target.

Against the emulator over HTTP with real aiobotocore clients, and a real file store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.credentials import AioCredentials

from archiver._aws import AwsSettings, new_session, open_omics_api
from archiver._errors import StoreError
from archiver._lock import backup_lock
from archiver.store import StoreOptions, open_archive
from archiver.testing import Emulator, EmulatorConfig


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        yield emu


async def test_a_copied_session_signs_with_its_own_credentials(emulator: Emulator) -> None:
    settings = AwsSettings(region="us-east-1", endpoint_url=emulator.url, sts_endpoint_url=emulator.url)
    base = new_session(None)
    seen = {}
    for account in ("111111111111", "222222222222"):
        own = AwsSettings(
            region="us-east-1",
            endpoint_url=emulator.url,
            sts_endpoint_url=emulator.url,
            credentials=AioCredentials(account, "secret", method="assume-role"),
        )
        async with open_omics_api(own, like=base) as api:
            seen[account] = (await api.caller_identity()).account
    async with open_omics_api(settings, like=base) as api:  # no credentials of its own: the base's
        seen["base"] = (await api.caller_identity()).account
    assert seen == {"111111111111": "111111111111", "222222222222": "222222222222", "base": "123456789012"}


def _marker(target: dict[str, str], *, ended: bool) -> bytes:
    doc = {
        "format": "omics-archiver-lock",
        "formatVersion": 1,
        "kind": "backup",
        "runId": "20260101T000000000000Z-0badc0de",
        "host": "another-host",
        "pid": 4242,
        "createdAt": "2026-01-01T00:00:00.000000Z",
        "refreshedAt": "2099-01-01T00:00:00.000000Z",  # fresh as far as the test is concerned
        "ended": ended,
        "target": target,
    }
    return json.dumps(doc).encode()


async def test_many_targets_read_each_marker_once_and_a_rewrite_again(tmp_path: Path) -> None:
    async with open_archive(str(tmp_path / "archive"), StoreOptions(), create=True) as store:
        reads: list[str] = []
        open_read = store.open_read

        def counted(key: str, **kwargs: Any) -> AsyncIterator[bytes]:
            reads.append(key)
            return open_read(key, **kwargs)

        store.open_read = counted  # type: ignore[method-assign]
        foreign = "locks/backup-20260101T000000000000Z-0badc0de.json"
        busy = {"partition": "aws", "account": "999999999999", "region": "us-east-1"}
        await store.put_bytes(foreign, _marker(busy, ended=False), if_absent=False)

        # 20 targets of one process take their locks at once: each sees the 19 others' markers
        # and the foreign one, and reads only the foreign one, once between them all
        release, all_held = asyncio.Event(), asyncio.Event()
        held = 0

        async def hold(k: int) -> None:
            nonlocal held
            async with backup_lock(store, run_id=f"run-{k}", target=("aws", f"{k:012d}", "us-east-1")):
                held += 1
                if held == 20:
                    all_held.set()
                await release.wait()

        async with asyncio.TaskGroup() as tg:  # a lock that fails fails the group, and the test
            for k in range(20):
                tg.create_task(hold(k))
            await asyncio.wait_for(all_held.wait(), timeout=60)
            release.set()
        assert held == 20
        assert reads == [foreign]

        # the foreign marker still holds its target; once rewritten as ended, it no longer does
        with pytest.raises(StoreError, match="another backup of account 999999999999"):
            async with backup_lock(store, run_id="run-x", target=("aws", "999999999999", "us-east-1")):
                pass
        assert reads == [foreign]
        await store.put_bytes(foreign, _marker(busy, ended=True), if_absent=False)
        async with backup_lock(store, run_id="run-y", target=("aws", "999999999999", "us-east-1")) as lock:
            assert lock is not None
        assert reads == [foreign, foreign]
        with contextlib.suppress(Exception):
            store.open_read = open_read  # type: ignore[method-assign]


def test_targets_share_downloads_by_how_many_run_at_once_up_to_a_bound() -> None:
    from archiver._aws import AwsSettings
    from archiver._pipeline import BackupConfig
    from archiver.targets._runner import MAX_SHARED_DOWNLOADS, TargetsConfig, shared_downloads

    def config(per_target: int, max_targets: int = 64) -> TargetsConfig:
        return TargetsConfig(
            settings=AwsSettings(),
            backup=BackupConfig(download_concurrency=per_target),
            max_targets=max_targets,
        )

    assert shared_downloads(config(8), 1) == 8
    assert shared_downloads(config(8), 3) == 24
    assert shared_downloads(config(8), 50) == MAX_SHARED_DOWNLOADS == 64
    assert shared_downloads(config(8, max_targets=2), 50) == 16  # only two run at once
    assert shared_downloads(config(1), 0) == 1
