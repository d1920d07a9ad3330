"""One conformance suite that every store backend must pass (the invariants of ``store/_base.py``).

Each test runs against a ``file://`` store in a temporary directory and an ``s3://`` store on a moto
server. Backend-specific behaviour lives in ``test_store_file.py`` and ``test_store_s3.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from archiver import ObjectNotFound, UsageError
from archiver.store import ObjectInfo, Store, StoreOptions, open_store

pytest_plugins = ("tests.s3server",)

MiB = 1 << 20
BIG_SIZE = 40 * MiB + 12345  # 9 parts of 5 MiB, the last one short
BAD_KEYS = ["", "/a", "a/", "a//b", "./a", "a/./b", "a/../b", "..", "a b", "a\\b", "caf\u00e9", ".~tmp-x"]


@dataclass
class Backend:
    name: str
    url: str
    options: StoreOptions
    pending: Callable[[], list[str]]
    """Writes under way or left behind: temporary files, or multipart uploads with a part done."""


@pytest.fixture(params=["file", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "file":
        root = tmp_path / "store"

        def temps() -> list[str]:
            return [str(p) for p in root.rglob(".~tmp-*")] if root.exists() else []

        yield Backend("file", root.as_uri(), StoreOptions(), temps)
        return
    endpoint, bucket = request.getfixturevalue("s3_bucket")
    s3 = boto3.client("s3", endpoint_url=endpoint)

    def uploads() -> list[str]:
        found = []
        for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            parts = s3.list_parts(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"]).get("Parts", [])
            found.append(f"{up['Key']} ({len(parts)} parts)")
        return found

    options = StoreOptions(endpoint_url=endpoint, part_size=5 * MiB, max_concurrency=4)
    yield Backend("s3", f"s3://{bucket}/archive", options, uploads)
    s3.close()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    async with open_store(backend.url, backend.options) as s:
        yield s


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("big") / "big.bin"
    data = os.urandom(BIG_SIZE)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def keys(store: Store, prefix: str = "") -> list[str]:
    return [info.key async for info in store.list(prefix)]


async def read_all(store: Store, key: str, chunk_size: int = MiB) -> bytes:
    return b"".join([chunk async for chunk in store.open_read(key, chunk_size=chunk_size)])


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


async def test_is_a_store(store: Store) -> None:
    assert isinstance(store, Store)
    assert "secret" not in store.url


async def test_bytes_round_trip(store: Store) -> None:
    assert await store.put_bytes("snapshots/2024/s.json", b'{"a": 1}') is True
    assert await store.get_bytes("snapshots/2024/s.json") == b'{"a": 1}'
    info = await store.stat("snapshots/2024/s.json")
    assert info is not None and info.key == "snapshots/2024/s.json" and info.size == 8
    assert info.modified is not None
    assert await store.put_bytes("empty", b"") is True
    assert await store.get_bytes("empty") == b""
    assert await read_all(store, "empty") == b""


async def test_file_round_trip(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000 + b"y")
    assert await store.put_file("bundles/a/b.tar.zst", src) is True
    dst = tmp_path / "out" / "dl.bin"
    dst.parent.mkdir()
    await store.download("bundles/a/b.tar.zst", dst)
    assert dst.read_bytes() == src.read_bytes()
    assert await read_all(store, "bundles/a/b.tar.zst") == src.read_bytes()
    assert [p.name for p in dst.parent.iterdir()] == ["dl.bin"]  # no temporary file left


async def test_if_absent_never_replaces(store: Store, tmp_path: Path) -> None:
    assert await store.put_bytes("k", b"first") is True
    assert await store.put_bytes("k", b"second") is False
    assert await store.put_bytes("k", b"third", if_absent=True) is False
    src = tmp_path / "f"
    src.write_bytes(b"from a file")
    assert await store.put_file("k", src) is False
    assert await store.get_bytes("k") == b"first"


async def test_if_absent_concurrent_writers_one_wins(store: Store) -> None:
    results = await asyncio.gather(*(store.put_bytes("race", b"w%d" % i) for i in range(8)))
    assert results.count(True) == 1
    assert await store.get_bytes("race") == b"w%d" % results.index(True)


async def test_replace_when_not_if_absent(store: Store, tmp_path: Path) -> None:
    assert await store.put_bytes("m/meta.json", b"old") is True
    assert await store.put_bytes("m/meta.json", b"new", if_absent=False) is True
    assert await store.get_bytes("m/meta.json") == b"new"
    src = tmp_path / "f"
    src.write_bytes(b"newest")
    assert await store.put_file("m/meta.json", src, if_absent=False) is True
    assert await store.get_bytes("m/meta.json") == b"newest"
    assert await keys(store) == ["m/meta.json"]


async def test_large_file_streams_and_round_trips(
    store: Store, big_file: tuple[Path, str], tmp_path: Path
) -> None:
    path, digest = big_file
    assert await store.put_file("bundles/big.tar.zst", path) is True
    info = await store.stat("bundles/big.tar.zst")
    assert info is not None and info.size == BIG_SIZE
    assert await store.put_file("bundles/big.tar.zst", path) is False
    out = tmp_path / "big.out"
    await store.download("bundles/big.tar.zst", out)
    assert sha256_of(out) == digest
    h = hashlib.sha256()
    sizes = []
    async for chunk in store.open_read("bundles/big.tar.zst", chunk_size=4 * MiB):
        sizes.append(len(chunk))
        h.update(chunk)
    assert h.hexdigest() == digest
    assert max(sizes) == 4 * MiB and sum(sizes) == BIG_SIZE


async def test_open_read_streams_in_chunks(store: Store) -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes
    await store.put_bytes("c", data)
    chunks = [chunk async for chunk in store.open_read("c", chunk_size=1000)]
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks] == [1000] * 10 + [240]


async def test_open_read_stopped_early_releases(store: Store) -> None:
    await store.put_bytes("c", b"z" * 5000)
    reader = store.open_read("c", chunk_size=100)
    assert isinstance(reader, AsyncIterator)
    first = await anext(reader)
    assert first == b"z" * 100
    await reader.aclose()  # type: ignore[attr-defined]


async def test_stat_missing_is_none(store: Store) -> None:
    assert await store.stat("nothing/here") is None
    await store.put_bytes("a/b", b"1")
    assert await store.stat("a") is None


async def test_list_order_and_prefix(store: Store) -> None:
    names = ["b/x", "a/b", "a-c", "a/a/z", "a.b", "c", "a0"]
    for i, key in enumerate(names):
        await store.put_bytes(key, b"x" * i)
    assert await keys(store) == sorted(names) == ["a-c", "a.b", "a/a/z", "a/b", "a0", "b/x", "c"]
    assert await keys(store, "a/") == ["a/a/z", "a/b"]
    assert await keys(store, "a") == ["a-c", "a.b", "a/a/z", "a/b", "a0"]
    assert await keys(store, "a/a") == ["a/a/z"]
    assert await keys(store, "a/b") == ["a/b"]
    assert await keys(store, "b/") == ["b/x"]
    assert await keys(store, "zz") == []
    assert await keys(store, "q/r/") == []
    infos = {info.key: info async for info in store.list()}
    assert all(isinstance(i, ObjectInfo) for i in infos.values())
    assert infos["c"].size == names.index("c")


async def test_writer_in_progress_is_invisible(
    store: Store, backend: Backend, big_file: tuple[Path, str]
) -> None:
    task = asyncio.create_task(store.put_file("bundles/wip", big_file[0]))
    seen_pending = await wait_for_pending(backend, task)
    if seen_pending:
        assert await keys(store) == []
        assert await store.stat("bundles/wip") is None
        with pytest.raises(ObjectNotFound):
            await store.get_bytes("bundles/wip")
    assert await task is True
    assert await keys(store) == ["bundles/wip"]
    assert backend.pending() == []


async def test_delete(store: Store) -> None:
    await store.put_bytes("x/y/z", b"1")
    await store.put_bytes("x/w", b"2")
    await store.delete("x/y/z")
    assert await store.stat("x/y/z") is None
    assert await keys(store) == ["x/w"]
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("x/y/z")
    await store.delete("x/y/z")  # missing is fine
    await store.delete("never/was")
    await store.delete("x/w")
    assert await keys(store) == []
    assert await store.put_bytes("x/y/z", b"3") is True  # a deleted key can be written again


async def test_missing_object_raises_not_found(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound) as info:
        await store.get_bytes("no/such")
    assert info.value.key == "no/such"
    reader = store.open_read("no/such")
    with pytest.raises(ObjectNotFound):
        await anext(reader)
    (tmp_path / "dl").mkdir()
    with pytest.raises(ObjectNotFound):
        await store.download("no/such", tmp_path / "dl" / "out")
    assert list((tmp_path / "dl").iterdir()) == []


async def test_invalid_keys_rejected(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"1")
    for bad in BAD_KEYS:
        with pytest.raises(UsageError):
            await store.put_bytes(bad, b"1")
        with pytest.raises(UsageError):
            await store.put_file(bad, src)
        with pytest.raises(UsageError):
            await store.get_bytes(bad)
        with pytest.raises(UsageError):
            await store.stat(bad)
        with pytest.raises(UsageError):
            await store.delete(bad)
        with pytest.raises(UsageError):
            await store.download(bad, tmp_path / "out")
        with pytest.raises(UsageError):
            async for _ in store.open_read(bad):
                pass
    assert await keys(store) == []


async def test_invalid_prefixes_rejected(store: Store) -> None:
    for bad in ["/a", "../", "a//", "a/../b", "a b/", "x/\u00fc", "./"]:
        with pytest.raises(UsageError):
            async for _ in store.list(bad):
                pass


async def test_cancelled_writer_leaves_nothing(
    store: Store, backend: Backend, big_file: tuple[Path, str]
) -> None:
    task = asyncio.create_task(store.put_file("bundles/cancelled", big_file[0]))
    assert await wait_for_pending(backend, task), "the put finished before it could be cancelled"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.stat("bundles/cancelled") is None
    assert await keys(store) == []
    assert backend.pending() == []
    assert await store.put_bytes("bundles/cancelled", b"again") is True  # nothing in the way


async def wait_for_pending(backend: Backend, task: asyncio.Task[bool], within: float = 10.0) -> bool:
    """Wait until ``backend`` shows a write under way; ``False`` if ``task`` finished first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not task.done():
        if await asyncio.to_thread(backend.pending) if backend.name == "s3" else backend.pending():
            return True
        if loop.time() > deadline:
            raise AssertionError("no write under way before the timeout")
        await asyncio.sleep(0.001)
    return False
