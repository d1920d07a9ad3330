"""Reading a small object from a store that may hold anything: never more than a stated limit.

Everything read from a store is untrusted. Snapshots, manifests, lock markers and the store's
config are small by construction, so a reader states how large such an object may be and
:func:`get_small` refuses a larger one, naming it, after reading at most ``limit + 1`` bytes (a
listed size above the limit is refused before any byte is read). A 487 MB "snapshot" therefore
costs one chunk of memory, not 1.7 GB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._errors import StoreError
from ._base import Store

__all__ = ["ObjectTooLarge", "get_small", "read_head", "too_large"]


class ObjectTooLarge(StoreError):
    """An object is larger than what its kind may be: refused unread."""


def too_large(key: str, size: int | None, limit: int, what: str) -> ObjectTooLarge:
    """The error for an object over its kind's limit (``size`` if known, e.g. from a listing)."""
    holds = f"is {size} bytes," if size is not None else "holds"
    return ObjectTooLarge(
        f"{what} {key} {holds} more than the {limit} bytes such an object may have: "
        "refusing to read it (damaged or not written by omics-archiver)",
        key=key,
    )


async def get_small(store: Store, key: str, limit: int, *, what: str = "object") -> bytes:
    """The bytes of ``key``, or :class:`ObjectTooLarge` if it holds more than ``limit`` bytes.

    Raises ObjectNotFound like ``get_bytes``. Memory: at most ``limit`` plus one chunk.
    """
    buf = bytearray()
    chunks: AsyncIterator[bytes] = store.open_read(key, chunk_size=min(max(limit, 1), 1 << 20) + 1)
    try:
        async for chunk in chunks:
            buf += chunk
            if len(buf) > limit:
                raise too_large(key, None, limit, what)
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    return bytes(buf)


async def read_head(store: Store, key: str, limit: int) -> bytes:
    """The first ``limit`` bytes of an object (or all of it), closing the stream early."""
    buf = bytearray()
    chunks: AsyncIterator[bytes] = store.open_read(key, chunk_size=min(limit, 1 << 20))
    try:
        async for chunk in chunks:
            buf += chunk
            if len(buf) >= limit:
                break
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    return bytes(buf)
