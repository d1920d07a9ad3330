"""The store interface: what the archive needs from a place that keeps objects.

A store maps ``/``-separated keys (``bundles/...``, ``snapshots/...``) to immutable byte objects.
Every backend (``file://``, ``s3://``) implements :class:`Store` and passes the same conformance
suite (``tests/test_store_conformance.py``). The invariants every backend must keep:

* A reader never sees a half-written object: ``put_*`` writes under a temporary name (or an S3
  multipart upload that is only completed at the end) and makes the object visible at once.
* ``put_*(..., if_absent=True)`` never replaces an existing object; it returns ``False`` and leaves
  the old one in place. Bundles and snapshots are always written this way. A backend whose
  responses can be lost (S3) returns ``True`` when the object already holds exactly the bytes
  being written, so a retried write is idempotent.
* Keys are validated (:func:`check_key`): no empty segments, no ``.``/``..``, no leading ``/``.
* ``list`` yields keys in lexicographic order, and never yields temporary objects.
* Memory is bounded: ``put_file`` and ``open_read`` stream; nothing holds a whole object in memory
  except ``put_bytes``/``get_bytes``, which are for small objects (manifests, snapshots).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from .._errors import UsageError

__all__ = ["ObjectInfo", "Store", "check_key"]

_SEGMENT = re.compile(r"^[A-Za-z0-9._=+@,-]+$")
_KEY = re.compile(r"[A-Za-z0-9._=+@,-]+(?:/[A-Za-z0-9._=+@,-]+)*")  # every segment at once


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid store key, else raise :class:`UsageError`."""
    if _KEY.fullmatch(key) and "/." not in key and key[0] != ".":  # no segment starts with ".": decided
        return key
    if not key or key.startswith("/") or key.endswith("/"):
        raise UsageError(f"invalid store key {key!r}: must be a relative path without a trailing '/'")
    for seg in key.split("/"):
        if seg in ("", ".", "..") or not _SEGMENT.match(seg):
            raise UsageError(f"invalid store key {key!r}: bad segment {seg!r}")
    return key


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What ``list`` and ``stat`` tell about one object."""

    key: str
    size: int
    modified: datetime | None = None
    retain_until: datetime | None = None


@runtime_checkable
class Store(Protocol):
    """An object store holding the archive. Obtain one with :func:`archiver.store.open_store`."""

    @property
    def url(self) -> str:
        """The store's URL, safe to print (never contains a credential)."""
        ...

    async def put_file(self, key: str, path: Path, *, if_absent: bool = True) -> bool:
        """Upload the file at ``path`` atomically. Return ``False`` if ``if_absent`` and the key exists."""
        ...

    async def put_bytes(self, key: str, data: bytes, *, if_absent: bool = True) -> bool:
        """Write a small object atomically. Same contract as :meth:`put_file`."""
        ...

    def open_read(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the object's bytes in chunks. Raises ObjectNotFound (on first iteration)."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """Read a small object whole. Raises ObjectNotFound."""
        ...

    async def download(self, key: str, path: Path) -> None:
        """Stream the object to a local file (written atomically). Raises ObjectNotFound."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None:
        """Return the object's info, or ``None`` if it does not exist."""
        ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Yield the objects whose key starts with ``prefix``, in key order."""
        ...

    async def delete(self, key: str) -> None:
        """Delete one object. Missing keys are not an error. Raises ObjectLocked under Object Lock."""
        ...

    async def cleanup_temporary(self, older_than: float) -> int:
        """Remove what killed writers left (temporary files, unfinished multipart uploads) older
        than ``older_than`` seconds, never a live writer's; return how many went."""
        ...

    async def aclose(self) -> None:
        """Release connections. Stores are used as ``async with open_store(url) as store``."""
        ...
