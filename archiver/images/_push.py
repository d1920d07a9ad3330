"""Pushing archived images from the store into a target account's ECR, without a Docker daemon.

:class:`ImagePusher` recreates one archived image (``images/blobs/sha256/...``, see ``_oci``)
in a target repository through the ECR API: the repository is created if it does not exist;
``BatchCheckLayerAvailability`` says which config and layer blobs the repository already has, and
only the others are uploaded (``InitiateLayerUpload``, ``UploadLayerPart`` in order, in parts of
10 MiB, ECR's largest, streamed from the store with the next part read and encoded while one is in
flight, whatever the layer's size, ``CompleteLayerUpload``; request bodies built by
``_layer_part``); an index's platform
manifests are pushed before it; last, ``PutImage`` with the exact manifest bytes archived, so
the target's manifest digest is the source's. A blob read back from the store is checked against
its digest by ECR itself: ``CompleteLayerUpload`` computes it from the bytes received and refuses
a mismatch, reported as a damaged blob (hashing on this side as well cost a fifth of the push's CPU).
botocore errors become :class:`~archiver.ImageError` here, at the boundary.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pybase64
from botocore.exceptions import BotoCoreError, ClientError

from .._errors import ImageError, ObjectNotFound, StoreError
from ..store import Store
from ..store._small import get_small
from ._copy import _declared_type, _why
from ._layer_part import LayerPart, install
from ._oci import MANIFEST_LIMIT, Child, blob_key, children
from ._refs import EcrImage

__all__ = ["ImagePusher", "PushStats"]

_MIN_PART = 5 * 1024 * 1024  # quota "Minimum layer part size: 5 MiB" (every part but the last)
_MAX_PART = 10 * 1024 * 1024  # quota "Maximum layer part size: 10 MiB" (the API model says 20 MiB)
_MAX_PARTS = 4200  # quota "Layer parts: 4,200"
# Blobs are read and encoded in pieces of 768 KiB: a multiple of 3 bytes, so that the base64 texts
# of consecutive pieces simply add up to the part's (no padding but at the very end).
_PIECE = 3 * 256 * 1024


@dataclass(slots=True)
class PushStats:
    repositories_created: int = 0
    layers_uploaded: int = 0
    layer_bytes_uploaded: int = 0
    layers_present: int = 0
    images_pushed: int = 0
    created: list[str] = field(default_factory=list)  # URIs of the repositories this push created

    def as_dict(self) -> dict[str, Any]:
        return {
            "repositoriesCreated": self.repositories_created,
            "createdRepositories": list(self.created),
            "layersUploaded": self.layers_uploaded,
            "layerBytesUploaded": self.layer_bytes_uploaded,
            "layersPresent": self.layers_present,
            "imagesPushed": self.images_pushed,
        }


@dataclass
class ImagePusher:
    """Pushes archived images into the ECR of ``client`` (an aiobotocore ``ecr`` client)."""

    store: Store
    client: Any
    stats: PushStats = field(default_factory=PushStats)
    _repositories: set[tuple[str, str]] = field(default_factory=set)

    async def push(self, target: EcrImage, digest: str) -> None:
        """Make ``target``'s repository hold the archived image ``digest`` (tagged as ``target``)."""
        name = f"{target.account}.dkr.ecr.{target.region}.amazonaws.com/{target.repository}"
        await self._repository(target, name)
        await self._manifest(target, digest, name, tag=target.tag)
        self.stats.images_pushed += 1

    async def _repository(self, target: EcrImage, name: str) -> None:
        if (target.account, target.repository) in self._repositories:
            return
        try:
            await self.client.create_repository(registryId=target.account, repositoryName=target.repository)
            self.stats.repositories_created += 1
            self.stats.created.append(name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RepositoryAlreadyExistsException":
                raise ImageError(f"CreateRepository of {name} failed: {_why(exc)}", image=name) from None
        except BotoCoreError as exc:
            raise ImageError(f"CreateRepository of {name} failed: {_why(exc)}", image=name) from None
        self._repositories.add((target.account, target.repository))

    async def _manifest(self, target: EcrImage, digest: str, name: str, *, tag: str | None) -> None:
        try:
            raw = await get_small(self.store, blob_key(digest), MANIFEST_LIMIT, what="image manifest")
        except ObjectNotFound:
            raise ImageError(
                f"the image {digest} of {name} is not archived in the store (back it up with --images copy)",
                image=name,
            ) from None
        except StoreError as exc:
            raise ImageError(
                f"the archived manifest {digest} cannot be read: {exc.message}", image=name
            ) from None
        if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            raise ImageError(f"the archived manifest {digest} is damaged (run verify)", image=name)
        media_type = _declared_type(raw)
        try:
            kids = children(raw, key=blob_key(digest), media_type=media_type)
        except Exception as exc:  # hostile store content: a problem to report
            raise ImageError(f"the archived manifest {digest} cannot be read: {exc}", image=name) from None
        platforms = [k for k in kids if k.manifest]
        for child in platforms:
            await self._manifest(target, child.digest, name, tag=None)
        blobs = [k for k in kids if not k.manifest]
        if blobs:
            await self._blobs(target, blobs, name)
        try:
            await self.client.put_image(
                registryId=target.account,
                repositoryName=target.repository,
                imageManifest=raw.decode("utf-8"),
                imageManifestMediaType=media_type,
                imageDigest=digest,
                **({"imageTag": tag} if tag else {}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ImageAlreadyExistsException":
                raise ImageError(f"PutImage of {name}@{digest} failed: {_why(exc)}", image=name) from None
        except (BotoCoreError, UnicodeDecodeError) as exc:
            raise ImageError(f"PutImage of {name}@{digest} failed: {exc}", image=name) from None

    async def _blobs(self, target: EcrImage, blobs: list[Child], name: str) -> None:
        unique = list({b.digest: b for b in blobs}.values())
        present: set[str] = set()
        for start in range(0, len(unique), 100):  # BatchCheckLayerAvailability takes 100 digests
            try:
                answer = await self.client.batch_check_layer_availability(
                    registryId=target.account,
                    repositoryName=target.repository,
                    layerDigests=[b.digest for b in unique[start : start + 100]],
                )
            except (ClientError, BotoCoreError) as exc:
                raise ImageError(
                    f"BatchCheckLayerAvailability in {name} failed: {_why(exc)}", image=name
                ) from None
            present |= {
                str(layer.get("layerDigest"))
                for layer in answer.get("layers") or []
                if layer.get("layerAvailability") == "AVAILABLE"
            }
        for blob in unique:
            if blob.digest in present:
                self.stats.layers_present += 1
            else:
                await self._upload(target, blob, name)

    async def _upload(self, target: EcrImage, blob: Child, name: str) -> None:
        ids = {"registryId": target.account, "repositoryName": target.repository}
        part_size = _part_size(blob.size)
        if part_size is None:
            raise ImageError(
                f"the layer {blob.digest} of {name} is {blob.size:,} bytes: ECR's API takes at most "
                f"{_MAX_PARTS:,} parts of at most {_MAX_PART // (1 << 20)} MiB; push it with docker",
                image=name,
            )
        install(self.client)
        try:
            started = await self.client.initiate_layer_upload(**ids)
            sent = await self._send_parts(ids, started["uploadId"], blob.digest, part_size)
            if sent != blob.size:
                raise ImageError(f"the archived blob {blob.digest} is damaged (run verify)", image=name)
            # ECR computes the digest of the bytes received and refuses a mismatch
            # (InvalidLayerException): that is the check of what the store gave back.
            await self.client.complete_layer_upload(
                **ids, uploadId=started["uploadId"], layerDigests=[blob.digest]
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "LayerAlreadyExistsException":
                self.stats.layers_present += 1
                return
            if code == "InvalidLayerException":
                raise ImageError(
                    f"the archived blob {blob.digest} is damaged (run verify): {_why(exc)}", image=name
                ) from None
            raise ImageError(
                f"uploading layer {blob.digest} to {name} failed: {_why(exc)}", image=name
            ) from None
        except BotoCoreError as exc:
            raise ImageError(
                f"uploading layer {blob.digest} to {name} failed: {_why(exc)}", image=name
            ) from None
        except ObjectNotFound:
            raise ImageError(
                f"the blob {blob.digest} is missing from the store (run verify)", image=name
            ) from None
        except StoreError as exc:
            raise ImageError(f"reading the blob {blob.digest} failed: {exc.message}", image=name) from None
        self.stats.layers_uploaded += 1
        self.stats.layer_bytes_uploaded += sent

    async def _send_parts(self, ids: dict[str, str], upload_id: str, digest: str, part_size: int) -> int:
        """Upload the blob's parts in order; the bytes sent.

        The blob is read and base64-encoded in pieces, so no part is ever held raw. While part N
        is in flight, part N+1 is read and encoded and its call started; ``_layer_part`` builds
        and hashes its body and holds it until part N's call is done. Part N+2 is read only once
        N+1's body is built: at most two request bodies and one part's text are in memory.
        """
        sent = 0
        calls: list[asyncio.Task[Any]] = []

        async def send(part: LayerPart) -> None:
            nonlocal sent
            built: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            call = self.client.upload_layer_part(
                **ids,
                uploadId=upload_id,
                partFirstByte=sent,
                partLastByte=sent + part.size - 1,
                layerPartBlob=part.following(calls[-1] if calls else None, built),
            )
            sent += part.size
            calls.append(asyncio.create_task(call))
            await asyncio.wait([calls[-1], built], return_when=asyncio.FIRST_COMPLETED)
            if len(calls) == 2:
                await calls.pop(0)

        try:
            texts: list[bytes] = []
            size = 0
            async for piece in _pieces(self.store, blob_key(digest)):
                texts.append(pybase64.b64encode(piece))  # ~1 ms; on the loop: see _layer_part
                size += len(piece)
                if size == part_size:
                    await send(LayerPart(size, tuple(texts)))
                    texts, size = [], 0
            if texts:
                await send(LayerPart(size, tuple(texts)))
            while calls:
                await calls.pop(0)
        finally:
            if calls:
                for call in calls:
                    call.cancel()
                await asyncio.wait(calls)
                for call in calls:
                    if not call.cancelled():
                        call.exception()  # retrieved: the first failure is the one reported
        return sent


def _part_size(size: int) -> int | None:
    """The smallest part ECR accepts (5 MiB) that keeps the layer within 4,200 parts, in whole
    pieces; ``None`` when even parts of ECR's largest (10 MiB) would not do.

    Small parts keep memory flat (a part is held about four times over on its way out: its base64
    text, its request body, the previous part's body and what the socket has not taken of it);
    the round trips they add are hidden, the next part being prepared while one is in flight.
    """
    needed = max(_MIN_PART, -(-size // _MAX_PARTS))
    part = -(-needed // _PIECE) * _PIECE
    return part if part <= _MAX_PART // _PIECE * _PIECE else None


async def _pieces(store: Store, key: str) -> AsyncIterator[bytes]:
    """The object ``key`` in pieces of exactly ``_PIECE`` bytes (the last one shorter)."""
    buffer = bytearray()
    async for chunk in store.open_read(key, chunk_size=_PIECE):
        if not buffer and len(chunk) == _PIECE:  # a file store reads whole pieces: no copy
            yield chunk
            continue
        buffer += chunk
        while len(buffer) >= _PIECE:
            piece = bytes(buffer[:_PIECE])
            del buffer[:_PIECE]
            yield piece
    if buffer:
        yield bytes(buffer)
