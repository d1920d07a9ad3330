"""What the report reads from the store besides snapshots: bundle manifests (images) and run records.

Why: image readiness lives in bundle manifests, and verify and drill results (once the tools record
them) under their own prefixes; the report must show them without reading whole bundles or trusting
what it finds. Manifests are read from the head of each bundle of each target's newest snapshot,
validated by :func:`archiver._bundle.read_manifest_from`, and kept in the local cache (bundles never
change). Both readers are bounded (manifests read, objects listed); an object that cannot be read is
counted and named, never raised.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from .._bundle import read_manifest_from
from .._cache import Cache
from .._catalog import Catalog
from .._errors import BundleError, StoreError
from ..drill._record import list_drills
from ..store import Store
from ..store._small import read_head

__all__ = ["RECORD_PREFIXES", "find_records", "read_images"]

RECORD_PREFIXES = {"verify": "verify/", "drills": "drills/"}
"""Where verify and drill results are recorded in the store (only drills record any so far)."""

_NAMESPACE = "manifests"
_HEAD_FIRST = 256 << 10
_HEAD_MAX = 8 << 20
_CONCURRENCY = 16
_MAX_LISTED = 100_000
_MAX_IMAGES = 500
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


def _scalars(entry: Any) -> dict[str, str]:
    """An image entry's scalar fields as text (the manifest format decides the fields, not the report)."""
    if not isinstance(entry, dict):
        return {"image": str(entry)[:512]}
    return {
        str(k)[:64]: str(v)[:512]
        for k, v in entry.items()
        if isinstance(v, str | int | float | bool) or v is None
    }


async def read_images(store: Store, catalog: Catalog, cache: Cache, *, max_manifests: int) -> dict[str, Any]:
    """The container images the manifests of each target's newest snapshot record.

    At most ``max_manifests`` manifests are read (the rest are counted as unread). Manifests of this
    format version record no images: the result then has ``images: []`` and says how many manifests
    were read, which the page shows as "no images recorded".
    """
    newest: dict[tuple[str, str, str], Any] = {}
    for snap in catalog.snapshots:
        newest[snap.group] = snap
    wanted: list[tuple[str, int]] = []
    for snap in newest.values():
        for entry in snap.entries():
            key = str(entry["key"])
            info = catalog.bundles.get(key)
            wanted.append((key, info.size if info is not None else int(entry["size"])))
    wanted = sorted(set(wanted))
    chosen, unread = wanted[:max_manifests], max(0, len(wanted) - max_manifests)
    sem = asyncio.Semaphore(_CONCURRENCY)

    async def one(key: str, size: int) -> tuple[str, dict[str, Any] | None, str | None]:
        async with sem:
            try:
                return key, await _manifest(store, cache, key, size), None
            except (BundleError, StoreError) as exc:
                return key, None, exc.message

    results = await asyncio.gather(*(one(k, s) for k, s in chosen))
    images: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    with_images = 0
    for key, manifest, error in results:
        if manifest is None:
            problems.append({"key": key, "problem": error or "unreadable"})
            continue
        found = manifest.get("images")
        if not isinstance(found, list) or not found:
            continue
        with_images += 1
        source = manifest.get("source") or {}
        for image in found:
            images.append(
                {
                    "workflowId": source.get("workflowId"),
                    "versionName": source.get("versionName"),
                    "name": source.get("name"),
                    "fields": _scalars(image),
                }
            )
    cache.retain(_NAMESPACE, catalog.bundles)
    return {
        "manifestsRead": len(chosen) - len(problems),
        "manifestsUnread": unread + len(problems),
        "manifestsWithImages": with_images,
        "images": images[:_MAX_IMAGES],
        "imagesNotShown": max(0, len(images) - _MAX_IMAGES),
        "problems": problems[:_PROBLEMS_SHOWN],
    }


async def find_records(store: Store) -> dict[str, Any]:
    """How many verify and drill records the store holds under :data:`RECORD_PREFIXES`, and the newest key.

    Drill results (``drills/``, written by ``omics-archiver drill``) are also read: the newest
    :data:`_DRILLS_SHOWN` as summary rows (``latest``) and how many could not be read. ``verify``
    records nothing in the store yet, so its entry stays a count of the listing.
    """
    out: dict[str, Any] = {}
    for name, prefix in RECORD_PREFIXES.items():
        count, newest = 0, None
        async for info in store.list(prefix):
            count += 1
            if newest is None or info.key > newest:
                newest = info.key
            if count >= _MAX_LISTED:
                break
        out[name] = {"recorded": count, "newest": newest, "prefix": prefix}
    if out["drills"]["recorded"]:
        rows, problems = await list_drills(store)
        out["drills"]["latest"] = sorted(rows, key=lambda r: (r["time"], r["key"]))[-_DRILLS_SHOWN:]
        out["drills"]["unreadable"] = len(problems)
    return out
