"""``backup --images copy``: after the bundles, archive every image they name into the store.

:func:`archive_images` runs once per backup, before the snapshot is written. For each bundle of
the snapshot it takes the images its manifest resolved to a digest (``images.entries`` with
``status: resolved``): from the previous snapshot's entry for the same bundle when there is one
(an unchanged bundle is not read again), else from the bundle's manifest in the store. Each
distinct (image, digest) is copied once (``_copy``), and the bundle's snapshot entry gains
``images``: what it needs, by pull reference and manifest digest. The run's OCI image index
(``_oci.index_document``) is written as a blob and named in the snapshot's ``images`` object,
with what could not be archived and why. An image that cannot be copied never fails the backup:
it is reported (a warning, the snapshot's ``images.failed``) and tried again next time.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._bundle import read_manifest_from
from .._download import Downloader
from .._errors import ArchiverError, BundleError, StoreError
from .._slots import Slots
from ..store import Store
from ..store._small import read_head
from ._copy import ImageCopier
from ._oci import Archived, blob_key, index_document
from ._refs import parse_ecr
from ._resolve import EcrSettings, open_ecr_resolver

__all__ = ["archive_images", "bundle_images", "read_bundle_manifest", "referenced_images"]

log = logging.getLogger("archiver.backup")

_HEAD_FIRST = 256 << 10
_HEAD_MAX = 8 << 20
MAX_FAILED = 100


async def read_bundle_manifest(store: Store, key: str, size: int | None = None) -> dict[str, Any]:
    """The manifest of the bundle ``key``, reading only the head of the object."""
    limit = _HEAD_FIRST
    while True:
        head = await read_head(store, key, limit)
        try:
            return await asyncio.to_thread(read_manifest_from, io.BytesIO(head), label=key)
        except BundleError:
            if len(head) < limit or limit >= _HEAD_MAX or (size is not None and len(head) >= size):
                raise
            limit = _HEAD_MAX


def bundle_images(manifest: Mapping[str, Any]) -> list[dict[str, str]]:
    """``[{"image": pull reference, "digest": ...}]`` of the images a bundle's manifest resolved."""
    inventory = manifest.get("images")
    entries = inventory.get("entries") if isinstance(inventory, dict) else None
    found: dict[tuple[str, str], dict[str, str]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("status") != "resolved":
            continue
        pull, digest = entry.get("pullImage"), entry.get("digest")
        if isinstance(pull, str) and isinstance(digest, str) and parse_ecr(pull) is not None:
            found[(pull, digest)] = {"image": pull, "digest": digest}
    return [found[k] for k in sorted(found)]


async def archive_images(
    store: Store,
    settings: EcrSettings,
    bundles: list[dict[str, Any]],
    previous: Mapping[str, Mapping[str, Any]],
    work: Path,
    *,
    concurrency: int = 4,
) -> dict[str, Any]:
    """Copy the images of ``bundles`` (snapshot entries, given ``images`` here) into ``store``.

    ``previous`` maps bundle keys to the previous snapshot's entries. Returns the snapshot's
    ``images`` object (docs/format.md).
    """
    failed: list[dict[str, Any]] = []
    wanted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in bundles:
        listed = await _images_of(store, entry, previous.get(str(entry["key"])), failed)
        if listed is None:
            continue
        entry["images"] = listed
        for image in listed:
            wanted.setdefault((image["image"], image["digest"]), []).append(entry)
    archived: list[Archived] = []
    async with Downloader(concurrency=concurrency) as dl, open_ecr_resolver(settings) as resolver:
        copier = ImageCopier(store, None, dl, work)
        sem = Slots(concurrency)

        async def one(reference: str, digest: str) -> None:
            target = parse_ecr(reference)
            assert target is not None
            async with sem:
                try:
                    if copier.client is None:
                        copier.client = await resolver.client()
                    archived.append(await copier.copy(target, digest, reference))
                except ArchiverError as exc:
                    _fail(failed, reference, digest, exc.message)

        async with asyncio.TaskGroup() as tg:
            for reference, digest in sorted(wanted):
                tg.create_task(one(reference, digest))
    index = index_document(archived)
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    try:
        await store.put_bytes(blob_key(digest), index, if_absent=True)
    except StoreError as exc:
        _fail(failed, "(index)", digest, exc.message)
    stats = copier.stats.as_dict()
    log.info(
        "images: %d archived (%d already in the store), %d layer bytes downloaded, %d could not be archived",
        len(archived),
        stats["imagesPresent"],
        stats["layerBytesDownloaded"],
        len(failed),
        extra={"event": "images-copied", **stats, "failed": len(failed)},
    )
    return {
        "mode": "copy",
        "index": digest,
        "archived": len(archived),
        "failed": failed[:MAX_FAILED],
        "stats": stats,
    }


async def _images_of(
    store: Store,
    entry: Mapping[str, Any],
    before: Mapping[str, Any] | None,
    failed: list[dict[str, Any]],
) -> list[dict[str, str]] | None:
    if before is not None and isinstance(before.get("images"), list):
        return [dict(i) for i in before["images"]]
    if isinstance(entry.get("images"), list):  # carried forward from the previous snapshot
        return [dict(i) for i in entry["images"]]
    key = str(entry["key"])
    try:
        manifest = await read_bundle_manifest(store, key, int(entry.get("size") or 0) or None)
    except (BundleError, StoreError) as exc:
        _fail(failed, key, None, f"the bundle's manifest cannot be read: {exc.message}")
        return None
    return bundle_images(manifest)


def _fail(failed: list[dict[str, Any]], reference: str, digest: str | None, reason: str) -> None:
    log.warning(
        "cannot archive image %s: %s",
        reference,
        reason,
        extra={"event": "image-not-archived", "image": reference, "reason": reason},
    )
    failed.append({"image": reference[:1000], "digest": digest, "reason": reason[:1000]})


def referenced_images(snapshots: Iterable[Mapping[str, Any]]) -> set[str]:
    """The index digests the given snapshot documents name (``images.index``)."""
    found: set[str] = set()
    for doc in snapshots:
        images = doc.get("images")
        if isinstance(images, dict) and isinstance(images.get("index"), str):
            found.add(images["index"])
    return found
