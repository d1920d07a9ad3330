"""Copying private ECR images into the store, blob by blob, without a Docker daemon.

:class:`ImageCopier` archives one image (an ECR repository and a manifest digest) into the
store's OCI layout (``_oci``): the manifest from ``BatchGetImage``, checked against its digest;
for an image index, each platform's manifest the same way; then every layer and config blob
through ``GetDownloadUrlForLayer``, streamed to a file in the work directory while it is hashed
(one chunk of memory per download, whatever the layer's size), checked against its digest and
size, and written to the store under its digest. A blob already in the store is never downloaded
again, and blobs are written before the manifests naming them, so a manifest in the store means
a complete image: a second run over the same images downloads no layer byte. Concurrent copies
of one blob within a run share one download, and so do the copiers of the targets of one
``backup --targets`` run (one process, one store).

Every botocore error is translated here, at the boundary, into :class:`~archiver.ImageError`;
presigned URLs never appear in a message.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .._download import Downloader
from .._errors import ExportError, ExportExpired, ImageError, StoreError, redact
from ..store import Store
from ..store._small import get_small
from ._oci import LAYOUT_KEY, MANIFEST_LIMIT, Archived, Child, blob_key, children
from ._refs import EcrImage
from ._resolve import ACCEPTED_MEDIA_TYPES

__all__ = ["CopyStats", "ImageCopier"]

log = logging.getLogger("archiver.backup")

_URL_ATTEMPTS = 3
LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(slots=True)
class CopyStats:
    """What a copy run moved: blobs and bytes downloaded, and what it found already archived."""

    layers_downloaded: int = 0
    layer_bytes_downloaded: int = 0
    blobs_written: int = 0
    blobs_present: int = 0
    manifests_written: int = 0
    images_present: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "layersDownloaded": self.layers_downloaded,
            "layerBytesDownloaded": self.layer_bytes_downloaded,
            "blobsWritten": self.blobs_written,
            "blobsPresent": self.blobs_present,
            "manifestsWritten": self.manifests_written,
            "imagesPresent": self.images_present,
        }


# The blobs being fetched into a store (by its object's id) by any copier of this process: the
# targets of one ``backup --targets`` run share one store and one loop, and a blob they share is
# downloaded and written once. An entry lives only while its fetch runs.
_FETCHING: dict[tuple[int, str], asyncio.Task[None]] = {}


@dataclass
class ImageCopier:
    """Copies images of one ECR region (``client``: an aiobotocore ``ecr`` client) into ``store``."""

    store: Store
    client: Any
    downloader: Downloader
    work: Path
    stats: CopyStats = field(default_factory=CopyStats)
    _blobs: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _names: Any = field(default_factory=itertools.count)
    _layout_written: bool = False

    async def copy(self, image: EcrImage, digest: str, reference: str) -> Archived:
        """Archive the image ``digest`` of ``image``'s repository; what the run's index lists."""
        await self._layout()
        raw, media_type = await self._manifest(image, digest, reference, top=True)
        return Archived(reference=reference, digest=digest, size=len(raw), media_type=media_type)

    async def _layout(self) -> None:
        if not self._layout_written:
            await self.store.put_bytes(LAYOUT_KEY, LAYOUT, if_absent=True)
            self._layout_written = True

    async def _manifest(
        self, image: EcrImage, digest: str, reference: str, *, top: bool
    ) -> tuple[bytes, str]:
        key = blob_key(digest)
        if await self.store.stat(key) is not None:
            raw = await get_small(self.store, key, MANIFEST_LIMIT, what="image manifest")
            if "sha256:" + hashlib.sha256(raw).hexdigest() == digest:
                self.stats.images_present += int(top)
                return raw, _declared_type(raw)
            log.warning(
                "archived manifest %s is damaged; archiving it again", key, extra={"event": "image-damaged"}
            )
        raw, media_type = await self._batch_get_image(image, digest, reference)
        kids = children(raw, key=f"{reference}@{digest}", media_type=media_type)
        async with asyncio.TaskGroup() as tg:
            for child in kids:
                if child.manifest:
                    tg.create_task(self._manifest(image, child.digest, reference, top=False))
                else:
                    tg.create_task(self._blob(image, child, reference))
        await self.store.put_bytes(key, raw, if_absent=False)
        self.stats.manifests_written += 1
        return raw, media_type

    async def _batch_get_image(self, image: EcrImage, digest: str, reference: str) -> tuple[bytes, str]:
        try:
            answer = await self.client.batch_get_image(
                registryId=image.account,
                repositoryName=image.repository,
                imageIds=[{"imageDigest": digest}],
                acceptedMediaTypes=ACCEPTED_MEDIA_TYPES,
            )
        except (ClientError, BotoCoreError) as exc:
            raise ImageError(
                f"BatchGetImage of {reference}@{digest} failed: {_why(exc)}", image=reference
            ) from None
        images = answer.get("images") or []
        if not images or not isinstance(images[0].get("imageManifest"), str):
            failures = answer.get("failures") or [{}]
            code = failures[0].get("failureCode") or "ImageNotFound"
            raise ImageError(f"ECR has no manifest {digest} of {reference}: {code}", image=reference)
        raw = str(images[0]["imageManifest"]).encode()
        actual = "sha256:" + hashlib.sha256(raw).hexdigest()
        if actual != digest:
            raise ImageError(
                f"ECR's manifest of {reference} hashes to {actual}, not {digest}", image=reference
            )
        declared = images[0].get("imageManifestMediaType")
        return raw, str(declared) if isinstance(declared, str) else _declared_type(raw)

    async def _blob(self, image: EcrImage, child: Child, reference: str) -> None:
        task = self._blobs.get(child.digest)
        if task is None:  # one download per blob and run, whoever asks
            shared = (id(self.store), child.digest)
            other = _FETCHING.get(shared)
            if other is not None and other.get_loop() is asyncio.get_running_loop():
                # another copier of this process (another target of the same backup) is fetching
                # it into the same store: wait for that one; if it fails, fetch it ourselves
                await asyncio.wait([other])
                if not other.cancelled() and other.exception() is None:
                    self._blobs[child.digest] = other
                    return
            task = self._blobs[child.digest] = asyncio.get_running_loop().create_task(
                self._fetch_blob(image, child, reference)
            )
            _FETCHING[shared] = task
            task.add_done_callback(
                lambda done: _FETCHING.pop(shared, None) if _FETCHING.get(shared) is done else None
            )
        await asyncio.shield(task)

    async def _fetch_blob(self, image: EcrImage, child: Child, reference: str) -> None:
        key = blob_key(child.digest)
        found = await self.store.stat(key)
        if found is not None and found.size == child.size:
            self.stats.blobs_present += 1
            return
        path = self.work / f"blob-{next(self._names)}"
        try:
            for attempt in range(_URL_ATTEMPTS):
                url = await self._download_url(image, child.digest, reference)
                try:
                    got = await self.downloader.fetch(
                        url, path, resource=reference, what=f"layer {child.digest}"
                    )
                    break
                except ExportExpired:
                    if attempt + 1 == _URL_ATTEMPTS:
                        raise
                except ExportError as exc:
                    raise ImageError(exc.message, image=reference) from None
            if "sha256:" + got.sha256 != child.digest or got.size != child.size:
                raise ImageError(
                    f"layer {child.digest} of {reference} arrived as {got.size} bytes hashing to "
                    f"sha256:{got.sha256} (the manifest says {child.size} bytes)",
                    image=reference,
                )
            self.stats.layers_downloaded += 1
            self.stats.layer_bytes_downloaded += got.size
            try:
                if await self.store.put_file(key, path, if_absent=found is None):
                    self.stats.blobs_written += 1
            except StoreError as exc:
                raise ImageError(f"writing {key} failed: {exc.message}", image=reference) from None
        except ExportExpired:
            raise ImageError(
                f"the download URLs of layer {child.digest} of {reference} kept expiring", image=reference
            ) from None
        finally:
            path.unlink(missing_ok=True)

    async def _download_url(self, image: EcrImage, digest: str, reference: str) -> str:
        try:
            answer = await self.client.get_download_url_for_layer(
                registryId=image.account, repositoryName=image.repository, layerDigest=digest
            )
        except (ClientError, BotoCoreError) as exc:
            raise ImageError(
                f"GetDownloadUrlForLayer of {digest} ({reference}) failed: {_why(exc)}", image=reference
            ) from None
        url = answer.get("downloadUrl")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ImageError(
                f"ECR answered no download URL for layer {digest} of {reference}", image=reference
            )
        return url


def _declared_type(raw: bytes) -> str:
    import json

    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    kind = doc.get("mediaType") if isinstance(doc, dict) else None
    if isinstance(kind, str):
        return kind
    if isinstance(doc, dict) and "manifests" in doc:
        return "application/vnd.oci.image.index.v1+json"
    return "application/vnd.oci.image.manifest.v1+json"


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return redact(f"{error.get('Code') or 'error'}: {error.get('Message') or ''}".rstrip(": "))
    return redact(str(exc))
