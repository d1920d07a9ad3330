"""What only the ``file://`` store does: permissions, temporary files, directory pruning, URLs."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from archiver import StoreError, UsageError
from archiver.store import FileStore, open_store
from archiver.store._local import TEMP_PREFIX, in_thread


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FileStore]:
    async with open_store(str(tmp_path / "store")) as s:
        assert isinstance(s, FileStore)
        yield s


async def test_permissions(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "store"
    src = tmp_path / "src"
    src.write_bytes(b"data")
    src.chmod(0o644)
    async with open_store(root.as_uri()) as store:
        assert mode(root) == 0o700
        await store.put_bytes("a/b/c.json", b"{}")
        await store.put_file("a/d/e.bin", src)
        await store.put_bytes("a/b/c.json", b"[]", if_absent=False)
    assert mode(root / "a") == mode(root / "a" / "b") == mode(root / "a" / "d") == 0o700
    assert mode(root / "a" / "b" / "c.json") == mode(root / "a" / "d" / "e.bin") == 0o600


async def test_existing_root_is_left_as_is(tmp_path: Path) -> None:
    root = tmp_path / "existing"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    async with open_store(str(root)) as store:
        await store.put_bytes("k", b"1")
    assert mode(root) == 0o755


async def test_urls_and_bare_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("relative/store") as store:
        assert store.url == (tmp_path / "relative" / "store").as_uri()
        await store.put_bytes("k", b"rel")
    async with open_store(str(tmp_path / "relative" / "store")) as store:
        assert await store.get_bytes("k") == b"rel"
    async with open_store((tmp_path / "relative" / "store").as_uri()) as store:
        assert await store.get_bytes("k") == b"rel"
    async with open_store("file://localhost" + str(tmp_path / "relative" / "store")) as store:
        assert await store.get_bytes("k") == b"rel"
    for bad in ["file://host/x", "file://relative", "file:///x?y=1", ""]:
        with pytest.raises(UsageError):
            async with open_store(bad):
                pass


async def test_root_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(StoreError):
        async with open_store(str(tmp_path / "f")):
            pass


async def test_temporary_files_invisible_and_cleaned(store: FileStore) -> None:
    root = store.root
    await store.put_bytes("a/b/real", b"1")
    (root / "a" / "b" / f"{TEMP_PREFIX}crashed").write_bytes(b"half")
    (root / "x" / "y").mkdir(parents=True)
    (root / "x" / "y" / f"{TEMP_PREFIX}orphan").write_bytes(b"half")
    (root / f"{TEMP_PREFIX}top").write_bytes(b"half")
    assert [i.key async for i in store.list()] == ["a/b/real"]
    assert [i.key async for i in store.list("x/")] == []
    assert await store.cleanup_temporary(older_than=3600) == 0  # too young: may be a live writer
    old = time.time() - 7200
    for p in root.rglob(f"{TEMP_PREFIX}*"):
        os.utime(p, (old, old))
    assert await store.cleanup_temporary(older_than=3600) == 3
    assert list(root.rglob(f"{TEMP_PREFIX}*")) == []
    assert not (root / "x").exists()  # emptied directories are pruned
    assert await store.get_bytes("a/b/real") == b"1"
    assert root.is_dir()


async def test_foreign_names_are_ignored(store: FileStore) -> None:
    root = store.root
    await store.put_bytes("ok", b"1")
    (root / "has space").write_bytes(b"")
    (root / "caf\u00e9").mkdir()
    (root / "caf\u00e9" / "x").write_bytes(b"")
    assert [i.key async for i in store.list()] == ["ok"]


async def test_symlinks_are_refused_by_name_never_followed(store: FileStore, tmp_path: Path) -> None:
    root = store.root
    outside = tmp_path / "outside"
    (outside / "aws").mkdir(parents=True)
    (outside / "aws" / "x.json").write_bytes(b"{}")
    await store.put_bytes("snapshots/real/a", b"1")
    (root / "snapshots" / "aws").symlink_to(outside / "aws")
    (root / "obj").symlink_to(outside / "aws" / "x.json")
    for op in (
        store.put_bytes("snapshots/aws/new", b"x"),
        store.get_bytes("snapshots/aws/x.json"),
        store.get_bytes("obj"),
        store.stat("snapshots/aws/x.json"),
        store.stat("obj"),
        store.delete("snapshots/aws/x.json"),
        store.delete("obj"),
        store.download("obj", tmp_path / "copy"),
    ):
        with pytest.raises(StoreError, match="symlink"):
            await op
    with pytest.raises(StoreError, match="symlink"):
        async for _ in store.open_read("snapshots/aws/x.json"):
            pass
    seen: list[str] = []
    with pytest.raises(StoreError, match=r"symlink snapshots/aws") as caught:
        async for info in store.list("snapshots/"):
            seen.append(info.key)
    assert seen == ["snapshots/real/a"]  # everything reachable is listed first, then the refusal
    assert caught.value.key == "snapshots/aws"
    assert sorted(p.name for p in (outside / "aws").iterdir()) == ["x.json"]  # nothing written outside
    assert (outside / "aws" / "x.json").exists() and not (tmp_path / "copy").exists()


async def test_delete_prunes_empty_directories_never_the_root(store: FileStore) -> None:
    root = store.root
    await store.put_bytes("a/b/c/d", b"1")
    await store.put_bytes("a/x", b"2")
    await store.delete("a/b/c/d")
    assert not (root / "a" / "b").exists()
    assert (root / "a" / "x").exists()
    await store.delete("a/x")
    assert list(root.iterdir()) == []
    assert root.is_dir()
    await store.delete("a")  # a missing directory key is simply missing


async def test_key_that_is_a_directory(store: FileStore) -> None:
    await store.put_bytes("a/b", b"1")
    assert await store.stat("a") is None
    with pytest.raises(StoreError):
        await store.put_bytes("a", b"x", if_absent=False)
    with pytest.raises(StoreError):
        await store.put_bytes("a/b/c", b"x")
    await store.delete("a")
    assert await store.get_bytes("a/b") == b"1"


async def test_download_replaces_atomically(store: FileStore, tmp_path: Path) -> None:
    await store.put_bytes("k", b"new")
    out = tmp_path / "out"
    out.write_bytes(b"old")
    await store.download("k", out)
    assert out.read_bytes() == b"new"
    with pytest.raises(StoreError) as info:
        await store.download("k", tmp_path / "missing-dir" / "out")
    assert type(info.value) is StoreError


async def test_put_file_missing_source(store: FileStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        await store.put_file("k", tmp_path / "nope")
    assert type(info.value) is StoreError
    assert await store.stat("k") is None


async def test_closed_store_refuses(tmp_path: Path) -> None:
    async with open_store(str(tmp_path / "s")) as store:
        pass
    with pytest.raises(StoreError):
        await store.put_bytes("k", b"1")
    with pytest.raises(StoreError):
        store.list()


async def test_in_thread_waits_for_the_thread_when_cancelled() -> None:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    finished: list[str] = []
    closed: list[str] = []

    def slow() -> str:
        loop.call_soon_threadsafe(started.set)
        time.sleep(0.2)
        finished.append("done")
        return "resource"

    task = asyncio.create_task(in_thread(slow, cleanup=closed.append))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == ["done"]  # the thread's step was over before the cancellation propagated
    assert closed == ["resource"]  # and its result was handed to cleanup, not leaked


async def test_listing_walks_many_directories_per_thread_hop(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of objects per hop, across directories, in key order, whatever the batch boundary."""
    import archiver.store._file as file_module

    keys = [f"bundles/{w:02d}/{s}.tar.zst" for w in range(7) for s in ("a", "b")] + ["bundles/z"]
    for key in keys:
        await store.put_bytes(key, key.encode())
    hops: list[int] = []
    real_take = file_module._take

    def take(walk: Any, count: int) -> list[Any]:
        got = real_take(walk, count)
        hops.append(len(got))
        return got

    monkeypatch.setattr(file_module, "_LIST_BATCH", 4)
    monkeypatch.setattr(file_module, "_take", take)
    listed = [(i.key, i.size) for i in [info async for info in store.list("bundles/")]]
    assert listed == [(k, len(k)) for k in sorted(keys)]
    assert hops == [4, 4, 4, 3]  # 8 directories, 15 objects: 4 hops, not one per directory
    assert [i.key async for i in store.list("bundles/0")] == sorted(keys)[:14]
