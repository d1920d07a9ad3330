"""The archived images as the archive's readers see them: what is referenced, sound, or garbage.

The snapshots name their runs' OCI image indexes (``images.index``); :func:`walk` follows each
index to the manifests it lists (and an image index to its platforms' manifests) down to their
config and layer blobs, reading only small objects (indexes and manifests, bounded, each checked
against its digest). ``verify`` uses it to find missing blobs and, with ``--read-data``, to hash
blobs against their keys (:func:`check_blob`); ``prune`` to delete the blobs no remaining
snapshot reaches (:func:`unreferenced`). Everything read from the store is hostile: a manifest
that does not parse or hash is a problem to report, never a crash.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import BundleError, ObjectNotFound, StoreError
from .._slots import Slots
from ..store import ObjectInfo, Store
from ..store._small import get_small
from ._oci import BLOBS, INDEX_LIMIT, MANIFEST_LIMIT, blob_key, children, digest_of_key

__all__ = [
    "ImagesChecked",
    "Reach",
    "check_blob",
    "list_blobs",
    "snapshot_indexes",
    "unreferenced",
    "verify_images",
    "walk",
]


@dataclass
class Reach:
    """What :func:`walk` found: every blob digest reachable (with the size its parent states),
    the manifests among them, and the problems met (``(key, message, snapshot key)``)."""

    blobs: dict[str, int] = field(default_factory=dict)
    manifests: set[str] = field(default_factory=set)
    problems: list[tuple[str, str, str | None]] = field(default_factory=list)
    by_snapshot: dict[str, str] = field(default_factory=dict)  # index digest -> first snapshot naming it


def snapshot_indexes(snapshots: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """``index digest -> the first snapshot key naming it`` of ``(snapshot key, document)`` pairs."""
    found: dict[str, str] = {}
    for key, doc in snapshots:
        images = doc.get("images")
        index = images.get("index") if isinstance(images, dict) else None
        if isinstance(index, str):
            found.setdefault(index, key)
    return found


async def list_blobs(store: Store) -> dict[str, ObjectInfo]:
    """Every blob object in the store, by digest (other keys under ``images/blobs/`` are ignored)."""
    found: dict[str, ObjectInfo] = {}
    async for info in store.list(BLOBS):
        digest = digest_of_key(info.key)
        if digest is not None:
            found[digest] = info
    return found


async def walk(store: Store, indexes: Mapping[str, str]) -> Reach:
    """Follow every index in ``indexes`` (digest -> snapshot key) down to its blobs."""
    reach = Reach(by_snapshot=dict(indexes))
    pending: list[tuple[str, str, bool]] = [(d, s, True) for d, s in sorted(indexes.items())]
    while pending:
        digest, snapshot, top = pending.pop()
        if digest in reach.manifests:
            continue
        reach.manifests.add(digest)
        key = blob_key(digest)
        try:
            raw = await get_small(store, key, INDEX_LIMIT if top else MANIFEST_LIMIT, what="image manifest")
        except ObjectNotFound:
            reach.problems.append((key, "the image manifest or index is missing from the store", snapshot))
            continue
        except StoreError as exc:
            reach.problems.append((key, f"the image manifest cannot be read: {exc.message}", snapshot))
            continue
        reach.blobs[digest] = len(raw)
        actual = "sha256:" + hashlib.sha256(raw).hexdigest()
        if actual != digest:
            reach.problems.append((key, f"the blob hashes to {actual}, not to its name", snapshot))
            continue
        try:
            kids = children(raw, key=key)
        except BundleError as exc:
            reach.problems.append((key, exc.message, snapshot))
            continue
        for child in kids:
            if child.manifest:
                pending.append((child.digest, snapshot, False))
            else:
                reach.blobs.setdefault(child.digest, child.size)
    return reach


async def check_blob(store: Store, digest: str, size: int) -> tuple[int, str | None]:
    """Read one blob whole (streamed); ``(bytes read, problem or None)``."""
    key = blob_key(digest)
    hasher = hashlib.sha256()
    read = 0
    try:
        async for chunk in store.open_read(key):
            hasher.update(chunk)
            read += len(chunk)
    except ObjectNotFound:
        return read, "the blob is missing from the store"
    except StoreError as exc:
        return read, f"the blob cannot be read: {exc.message}"
    actual = "sha256:" + hasher.hexdigest()
    if actual != digest:
        return read, f"the blob hashes to {actual} ({read} bytes), not to its name"
    if read != size:
        return read, f"the blob is {read} bytes but its manifest says {size}"
    return read, None


@dataclass
class ImagesChecked:
    """``verify``'s findings about the archived images."""

    blobs: int = 0
    referenced: int = 0
    blobs_read: int = 0
    bytes_read: int = 0
    problems: list[tuple[str, str, str | None]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "blobs": self.blobs,
            "referenced": self.referenced,
            "blobsRead": self.blobs_read,
            "bytesRead": self.bytes_read,
        }


async def verify_images(
    store: Store,
    snapshots: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    read_percent: float | None,
    seed: int | None = None,
    concurrency: int = 4,
) -> ImagesChecked:
    """Every blob the snapshots reach exists with its stated size; with ``read_percent``, that
    share of them (all manifests always) also hashes to its name."""
    checked = ImagesChecked()
    indexes = snapshot_indexes(snapshots)
    stored = await list_blobs(store)
    checked.blobs = len(stored)
    if not indexes:
        return checked
    reach = await walk(store, indexes)
    checked.problems += reach.problems
    checked.referenced = len(reach.blobs)
    first = next(iter(indexes.values()))
    leaves = sorted(d for d in reach.blobs if d not in reach.manifests)
    for digest in leaves:
        info = stored.get(digest)
        if info is None and await store.stat(blob_key(digest)) is None:
            checked.problems.append((blob_key(digest), "the blob is missing from the store", first))
        elif info is not None and info.size != reach.blobs[digest]:
            checked.problems.append(
                (
                    blob_key(digest),
                    f"the blob is {info.size} bytes but its manifest says {reach.blobs[digest]}",
                    first,
                )
            )
    if not read_percent:
        return checked
    present = [d for d in leaves if d in stored]
    count = (
        len(present)
        if read_percent >= 100
        else min(len(present), math.ceil(len(present) * read_percent / 100))
    )
    sample = sorted(random.Random(seed).sample(present, count))
    sem = Slots(concurrency)

    async def read(digest: str) -> None:
        async with sem:
            size, problem = await check_blob(store, digest, reach.blobs[digest])
        checked.blobs_read += 1
        checked.bytes_read += size
        if problem is not None:
            checked.problems.append((blob_key(digest), problem, first))

    async with asyncio.TaskGroup() as tg:
        for digest in sample:
            tg.create_task(read(digest))
    checked.problems.sort()
    return checked


async def unreferenced(store: Store, snapshots: Iterable[tuple[str, Mapping[str, Any]]]) -> list[ObjectInfo]:
    """The blobs no snapshot in ``snapshots`` reaches: what ``prune`` deletes.

    Raises :class:`~archiver.StoreError` if an index or manifest a snapshot reaches cannot be read
    (the blobs behind it would look unreferenced): prune then deletes no blob.
    """
    stored = await list_blobs(store)
    if not stored:
        return []
    reach = await walk(store, snapshot_indexes(snapshots))
    if reach.problems:
        key, message, _ = reach.problems[0]
        raise StoreError(
            f"{len(reach.problems)} archived image manifest(s) cannot be followed, e.g. {key}: {message}; "
            "prune refuses to decide which image blobs are referenced (run verify)",
            key=key,
        )
    return [info for digest, info in sorted(stored.items()) if digest not in reach.blobs]
