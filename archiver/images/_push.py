"""Pushing archived images from the store into a target account's ECR, without a Docker daemon.

:class:`ImagePusher` recreates one archived image (``images/blobs/sha256/...``, see ``_oci``)
in a target repository through the ECR API: the repository is created if it does not exist;
``BatchCheckLayerAvailability`` says which config and layer blobs the repository already has, and
only the others are uploaded (``InitiateLayerUpload``, ``UploadLayerPart`` in order, in parts of
5 MiB, larger only for layers over 20 GiB to stay within 4,200 parts, streamed from the store one
part at a time whatever the layer's size, ``CompleteLayerUpload``); an index's platform
manifests are pushed before it; last, ``PutImage`` with the exact manifest bytes archived, so
the target's manifest digest is the source's. Every blob read back from the store is checked
against its digest on the way (``CompleteLayerUpload`` would refuse a wrong one anyway).
botocore errors become :class:`~archiver.ImageError` here, at the boundary.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .._errors import ImageError, ObjectNotFound, StoreError
from ..store import Store
from ..store._small import get_small
from ._copy import _declared_type, _why
from ._oci import MANIFEST_LIMIT, Child, blob_key, children
from ._refs import EcrImage

__all__ = ["ImagePusher", "PushStats"]

_MIN_PART = 5 * 1024 * 1024  # "Minimum layer part size: 5 MiB" (every part but the last)
_MAX_PARTS = 4200  # "Layer parts: 4,200"


@dataclass(slots=True)
class PushStats:
    repositories_created: int = 0
    layers_uploaded: int = 0
    layer_bytes_uploaded: int = 0
    layers_present: int = 0
    images_pushed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "repositoriesCreated": self.repositories_created,
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
        try:
            started = await self.client.initiate_layer_upload(**ids)
            upload_id = started["uploadId"]
            part = _part_size(blob.size)
            hasher = hashlib.sha256()
            sent = 0
            async for chunk in _parts(self.store, blob_key(blob.digest), part):
                hasher.update(chunk)
                with warnings.catch_warnings():
                    # aiohttp warns about any body over 1 MiB sent as bytes; a layer part is one
                    # (the json protocol carries it base64-encoded in the request body).
                    warnings.filterwarnings("ignore", message="Sending a large body directly")
                    await self.client.upload_layer_part(
                        **ids,
                        uploadId=upload_id,
                        partFirstByte=sent,
                        partLastByte=sent + len(chunk) - 1,
                        layerPartBlob=chunk,
                    )
                sent += len(chunk)
            if "sha256:" + hasher.hexdigest() != blob.digest or sent != blob.size:
                raise ImageError(f"the archived blob {blob.digest} is damaged (run verify)", image=name)
            await self.client.complete_layer_upload(**ids, uploadId=upload_id, layerDigests=[blob.digest])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "LayerAlreadyExistsException":
                self.stats.layers_present += 1
                return
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


def _part_size(size: int) -> int:
    """The smallest part ECR accepts (5 MiB, all but the last) that keeps a layer within 4,200 parts.

    Each part is held in memory several times over on its way out (base64 in a JSON body, signed),
    so small parts keep the push's memory flat; ECR's suggested ``partSize`` is only a suggestion.
    """
    needed = -(-size // _MAX_PARTS)
    mib = 1024 * 1024
    return max(_MIN_PART, -(-needed // mib) * mib)


async def _parts(store: Store, key: str, size: int) -> Any:
    """The object ``key`` in parts of exactly ``size`` bytes (the last one shorter)."""
    buffer = bytearray()
    async for chunk in store.open_read(key, chunk_size=min(size, 1 << 20)):
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
