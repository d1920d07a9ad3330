"""The backup's per-bundle store work, with as few thread hops and fsyncs as each backend allows.

A nightly backup of many small workflows is bound by CPU once the API quotas are lifted, and a
hop to a worker thread or an fsync per step of every bundle is a large part of it. These helpers
let the pipeline say what it needs (build a bundle and store it if absent; make everything durable
before the snapshot) and leave the how to the backend: a file store builds and writes in one hop
and defers directory fsyncs to one pass; any other store builds in a thread and writes as usual.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TypeVar

from ._base import Store
from ._file import FileStore
from ._local import in_thread

__all__ = ["DirSync", "deferred_dir_sync", "put_built"]

T = TypeVar("T")


async def put_built(store: Store, key: str, build: Callable[[], tuple[bytes, T]]) -> tuple[bool, T | None]:
    """``build()`` the bytes of a new object in a worker thread and store them under ``key`` if it
    is absent; ``(False, None)`` when it exists (a file store then does not even build)."""
    if isinstance(store, FileStore):
        return await store.put_built(key, build)
    data, extra = await in_thread(build)
    return await store.put_bytes(key, data, if_absent=True), extra


class DirSync:
    """Makes a deferred store's new directory entries durable: ``await sync(keys)``."""

    def __init__(self, store: Store) -> None:
        self._file = store if isinstance(store, FileStore) else None

    async def __call__(self, keys: Iterable[str] = ()) -> None:
        if self._file is not None:
            await self._file.sync_dirs(keys)


@contextlib.asynccontextmanager
async def deferred_dir_sync(store: Store) -> AsyncIterator[DirSync]:
    """Within the block a file store fsyncs each new file's data before publishing it, but defers
    the fsync of the directories that got new entries until the block calls the :class:`DirSync`
    it is given (before writing anything that names those files). Other stores: no effect."""
    file_store = store if isinstance(store, FileStore) else None
    if file_store is not None:
        file_store.defer_dir_sync(True)
    try:
        yield DirSync(store)
    finally:
        if file_store is not None:
            file_store.defer_dir_sync(False)
