"""What the report reads from the store besides snapshots: bundle manifests (images) and run records.

Why: image readiness lives in bundle manifests (and, for ``backup --images copy``, in the image
blobs under ``images/``), and verify and drill results under their own prefixes; the report must
show them without reading whole bundles or trusting what it finds. Manifests are read from the
head of each bundle of each target's newest complete snapshot, validated by
:func:`archiver._bundle.read_manifest_from`, and kept in the local cache (bundles never change);
whether an archived image is in the store is one ``stat`` of its manifest blob. Every reader is
bounded (manifests read, blobs checked, objects listed); an object that cannot be read is counted
and named, never raised. No AWS call is made: the report reads the store only.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from .._bundle import read_manifest_from
from .._cache import Cache
from .._catalog import Catalog, SnapshotRecord
from .._errors import BundleError, StoreError
from .._slots import Slots
from ..drill._record import list_drills
from ..images._oci import blob_key, is_digest
from ..store import Store
from ..store._small import read_head
from ..verifications import PREFIX as VERIFY_PREFIX
from ..verifications import read_latest
from ._readiness import archived_digests, image_readiness

__all__ = ["RECORD_PREFIXES", "find_records", "read_images"]

RECORD_PREFIXES = {"verify": VERIFY_PREFIX, "drills": "drills/"}
"""Where verify and drill results are recorded in the store."""

_NAMESPACE = "manifests"
_HEAD_FIRST = 256 << 10
_HEAD_MAX = 8 << 20
_CONCURRENCY = 16
_MAX_LISTED = 100_000
_MAX_BLOBS_CHECKED = 5000
_DRILLS_SHOWN = 10
_PROBLEMS_SHOWN = 50


async def _manifest(store: Store, cache: Cache, key: str, size: int) -> dict[str, Any]:
    cached = cache.get(_NAMESPACE, key)
    if cached is not None:
        try:
            doc = json.loads(cached)
            if isinstance(doc, dict):
                return doc
        except ValueError:
            pass
        cache.discard(_NAMESPACE, key)
    limit = _HEAD_FIRST
    while True:
        head = await read_head(store, key, limit)
        try:
            manifest = await asyncio.to_thread(read_manifest_from, io.BytesIO(head), label=key)
            break
        except BundleError:
            if len(head) >= size or limit >= _HEAD_MAX:
                raise
            limit = _HEAD_MAX
    cache.put(_NAMESPACE, key, json.dumps(manifest, sort_keys=True).encode("utf-8"))
    return manifest


def _readiness_snapshots(catalog: Catalog) -> list[SnapshotRecord]:
    """Per target, the newest complete snapshot (a filtered run covers only some workflows), else the
    newest one."""
    newest: dict[tuple[str, str, str], SnapshotRecord] = {}
    complete: dict[tuple[str, str, str], SnapshotRecord] = {}
    for snap in catalog.snapshots:
        newest[snap.group] = snap
        if snap.doc["complete"]:
            complete[snap.group] = snap
    return [complete.get(group, snap) for group, snap in sorted(newest.items())]


async def read_images(store: Store, catalog: Catalog, cache: Cache, *, max_manifests: int) -> dict[str, Any]:
    """Image readiness per target (and per workflow) from its newest complete snapshot.

    At most ``max_manifests`` manifests are read (the rest are counted as unread) and at most
    :data:`_MAX_BLOBS_CHECKED` archived image manifests looked up in the store.
    """
    chosen = _readiness_snapshots(catalog)
    wanted: dict[str, int] = {}
    for snap in chosen:
        for entry in snap.entries():
            key = str(entry["key"])
            info = catalog.bundles.get(key)
            wanted[key] = info.size if info is not None else int(entry["size"])
    keys = sorted(wanted)
    read_keys, unread = keys[:max_manifests], max(0, len(keys) - max_manifests)
    sem = Slots(_CONCURRENCY)

    async def one(key: str) -> tuple[str, dict[str, Any] | None, str | None]:
        async with sem:
            try:
                return key, await _manifest(store, cache, key, wanted[key]), None
            except (BundleError, StoreError) as exc:
                return key, None, exc.message

    manifests: dict[str, dict[str, Any] | None] = {}
    problems: list[dict[str, str]] = []
    for key, manifest, error in await asyncio.gather(*(one(k) for k in read_keys)):
        manifests[key] = manifest
        if manifest is None:
            problems.append({"key": key, "problem": error or "unreadable"})
    digests = sorted({d for snap in chosen for d in archived_digests(snap.doc) if is_digest(d)})
    checked, not_checked = digests[:_MAX_BLOBS_CHECKED], max(0, len(digests) - _MAX_BLOBS_CHECKED)

    async def held(digest: str) -> str | None:
        async with sem:
            try:
                return digest if await store.stat(blob_key(digest)) is not None else None
            except StoreError as exc:
                problems.append({"key": blob_key(digest), "problem": exc.message})
                return None

    present = {d for d in await asyncio.gather(*(held(d) for d in checked)) if d is not None}
    targets = []
    for snap in chosen:
        mine = {str(e["key"]): manifests[str(e["key"])] for e in snap.entries() if str(e["key"]) in manifests}
        targets.append(
            {
                "partition": snap.key.partition,
                "account": snap.key.account,
                "region": snap.key.region,
                "snapshot": snap.key.key,
                "finishedAt": snap.doc["finishedAt"],
                "complete": snap.doc["complete"],
                **image_readiness(snap.doc, mine, present),
            }
        )
    cache.retain(_NAMESPACE, catalog.bundles)
    return {
        "manifestsRead": len(read_keys) - sum(1 for m in manifests.values() if m is None),
        "manifestsUnread": unread + sum(1 for m in manifests.values() if m is None),
        "blobsChecked": len(checked),
        "blobsNotChecked": not_checked,
        "targets": targets,
        "problems": problems[:_PROBLEMS_SHOWN],
    }


async def find_records(store: Store) -> dict[str, Any]:
    """The verify and drill records the store holds: how many, the newest, and their results.

    Verify results (``verifications/``, :mod:`archiver.verifications`): the newest runs and each
    target's last verify. Drill results (``drills/``, written by ``omics-archiver drill``): the
    newest :data:`_DRILLS_SHOWN` as summary rows (``latest``). Records that cannot be read are
    counted (``unreadable``).
    """
    count, newest = 0, None
    async for info in store.list(RECORD_PREFIXES["drills"]):
        count += 1
        if newest is None or info.key > newest:
            newest = info.key
        if count >= _MAX_LISTED:
            break
    drills: dict[str, Any] = {"recorded": count, "newest": newest, "prefix": RECORD_PREFIXES["drills"]}
    if count:
        rows, problems = await list_drills(store)
        ordered = sorted(rows, key=lambda r: (r["time"], r["key"]))
        drills["latest"] = ordered[-_DRILLS_SHOWN:]
        drills["perTarget"] = list({(r["account"], r["region"]): r for r in ordered}.values())
        drills["unreadable"] = len(problems)
    return {"verify": await read_latest(store), "drills": drills}
