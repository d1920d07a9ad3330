"""The emulated Amazon ECR API: the json protocol front and the semantics of each operation.

ECR speaks the json protocol (botocore model ``ecr``): ``POST /`` with ``X-Amz-Target:
AmazonEC2ContainerRegistry_V20150921.<Operation>`` and an ``application/x-amz-json-1.1`` body.
:func:`serve` selects, validates and serializes through ``_model`` exactly as the HealthOmics front
does, and answers errors the json way: status 400 (500 for ServerException) and a body
``{"__type": "<Code>", "message": "..."}``, with the error shape's extra members where the model has
some (InvalidLayerPartException's ``lastValidByteReceived``). Model constraint violations answer
InvalidParameterException, as ECR does.

:class:`EcrOperations` holds the rules: repositories per account and region (another account's
registry is never visible: repository policies are not emulated), layer uploads whose parts must
arrive in order with matching byte ranges and be at least 5 MiB except the last and at most 10 MiB
(the quota page's maximum; the API model allows 20 MiB), layer digests
computed from the bytes, image digests as the SHA-256 of the pushed manifest text, tags moved or
refused by the repository's tag mutability, and download URLs served by the emulator itself
(``_export``), expiring like export URLs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._auth import AuthFailure
from ._config import EmulatorConfig
from ._ecr_part import layer_part_document, read_body
from ._ecr_state import EcrWorld, Image, Registry, Repository, Upload, registry_host
from ._export import Exporter
from ._faults import Governor
from ._model import ApiError, json_operation, parse_request, serialize_output
from ._state import Caller

if TYPE_CHECKING:
    from ._server import Core

__all__ = [
    "ECR_TARGET",
    "MAX_PART_BYTES",
    "MIN_PART_BYTES",
    "PART_SIZE",
    "EcrError",
    "EcrOperations",
    "serve",
]

PART_SIZE = 10 * 1024 * 1024  # what InitiateLayerUpload suggests (the quota page's maximum part size)
MAX_PART_BYTES = PART_SIZE  # quota "Maximum layer part size: 10 MiB" (not adjustable)
MIN_PART_BYTES = 5 * 1024 * 1024  # "Minimum layer part size: 5 MiB" (every part but the last)
MAX_PARTS = 4200  # "Layer parts: 4,200"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
_INDEXES = (DOCKER_LIST, OCI_INDEX)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_JSON = "application/x-amz-json-1.1"
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."

log = logging.getLogger("archiver.testing")


class EcrError(ApiError):
    """An ECR error answer: its code, message and any extra members of the error shape."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(code, message, status=500 if code == "ServerException" else 400)
        self.fields = fields


def _ecr_error(exc: ApiError) -> EcrError:
    """The shared machinery's errors (validation, quotas, injected faults) as ECR names them."""
    if isinstance(exc, EcrError):
        return exc
    code = {"ValidationException": "InvalidParameterException", "InternalServerException": "ServerException"}
    return EcrError(code.get(exc.code, exc.code), exc.message)


def _no_repository(name: str, registry_id: str) -> EcrError:
    return EcrError(
        "RepositoryNotFoundException",
        f"The repository with name '{name}' does not exist in the registry with id '{registry_id}'",
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Tokens:
    """Opaque, HMAC-protected pagination tokens: a forged or foreign one is refused."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self, scope: str, offset: int) -> str:
        body = json.dumps([scope, offset]).encode()
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac + body).decode()

    def offset(self, scope: str, token: str | None) -> int:
        if token is None:
            return 0
        try:
            raw = base64.urlsafe_b64decode(token.encode())
            mac, body = raw[:16], raw[16:]
            found_scope, offset = json.loads(body)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise EcrError("InvalidParameterException", "Invalid parameter at 'nextToken'") from exc
        good = hmac.compare_digest(mac, hmac.new(self._key, body, hashlib.sha256).digest()[:16])
        if not good or found_scope != scope or not isinstance(offset, int):
            raise EcrError("InvalidParameterException", "Invalid parameter at 'nextToken'")
        return offset


class EcrOperations:
    """Runs ECR operations against an :class:`EcrWorld`; ``config`` is read afresh on every call."""

    def __init__(
        self,
        world: EcrWorld,
        exporter: Exporter,
        governor: Governor,
        config: Callable[[], EmulatorConfig],
    ) -> None:
        self.world = world
        self.exporter = exporter
        self.governor = governor
        self._config = config
        self._tokens = _Tokens()

    async def call(
        self, name: str, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        handler = getattr(self, "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())
        result: dict[str, Any] | None = await handler(caller, base_url, params)
        return result

    # --- lookups ----------------------------------------------------------------------------------

    def _registry(self, caller: Caller, params: dict[str, Any]) -> Registry:
        return self.world.registry(caller.account, caller.region)

    def _repository(self, caller: Caller, params: dict[str, Any]) -> Repository:
        name = params["repositoryName"]
        registry_id = params.get("registryId", caller.account)
        repo = None
        if registry_id == caller.account:
            repo = self._registry(caller, params).repositories.get(name)
        if repo is None:
            raise _no_repository(name, registry_id)
        return repo

    @staticmethod
    def _repository_json(repo: Repository) -> dict[str, Any]:
        return {
            "repositoryArn": repo.arn,
            "registryId": repo.account,
            "repositoryName": repo.name,
            "repositoryUri": repo.uri,
            "createdAt": repo.created_at,
            "imageTagMutability": repo.tag_mutability,
            "imageScanningConfiguration": {"scanOnPush": False},
            "encryptionConfiguration": {"encryptionType": "AES256"},
        }

    @staticmethod
    def _find(repo: Repository, image_id: dict[str, Any]) -> tuple[Image | None, dict[str, Any] | None]:
        """The image an ImageIdentifier names, or the ImageFailure saying why there is none."""
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        failure: dict[str, Any] = {"imageId": image_id}
        if digest is None and tag is None:
            return None, {
                **failure,
                "failureCode": "MissingDigestAndTag",
                "failureReason": "Missing image digest and image tag",
            }
        if digest is not None and not _DIGEST.fullmatch(digest):
            return None, {
                **failure,
                "failureCode": "InvalidImageDigest",
                "failureReason": "Invalid image digest",
            }
        if tag is not None and not _TAG.fullmatch(tag):
            return None, {**failure, "failureCode": "InvalidImageTag", "failureReason": "Invalid image tag"}
        by_tag = repo.tag_index.get(tag) if tag is not None else None
        if tag is not None and digest is not None and by_tag is not None and by_tag != digest:
            return None, {
                **failure,
                "failureCode": "ImageTagDoesNotMatchDigest",
                "failureReason": "Image tag does not match digest",
            }
        image = repo.images.get(digest if digest is not None else by_tag or "")
        if image is None:
            return None, {
                **failure,
                "failureCode": "ImageNotFound",
                "failureReason": "Requested image not found",
            }
        return image, None

    # --- repositories -----------------------------------------------------------------------------

    async def _create_repository(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        registry_id = params.get("registryId", caller.account)
        if registry_id != caller.account:
            raise EcrError(
                "InvalidParameterException",
                "Invalid parameter at 'registryId': you can only create repositories in your own registry",
            )
        registry = self._registry(caller, params)
        name = params["repositoryName"]
        if name in registry.repositories:
            raise EcrError(
                "RepositoryAlreadyExistsException",
                f"The repository with name '{name}' already exists in the registry with id "
                f"'{caller.account}'",
            )
        mutability = params.get("imageTagMutability", "MUTABLE")
        if mutability not in ("MUTABLE", "IMMUTABLE"):
            raise EcrError("InvalidParameterException", f"imageTagMutability {mutability} is not emulated")
        repo = Repository(
            name=name,
            account=caller.account,
            region=caller.region,
            created_at=_now(),
            tag_mutability=mutability,
            tags=list(params.get("tags") or []),
        )
        registry.repositories[name] = repo
        return {"repository": self._repository_json(repo)}

    async def _delete_repository(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        repo = self._repository(caller, params)
        if repo.images and not params.get("force", False):
            raise EcrError(
                "RepositoryNotEmptyException",
                f"The repository with name '{repo.name}' in registry with id '{repo.account}' cannot be "
                "deleted because it still contains images",
            )
        registry = self._registry(caller, params)
        del registry.repositories[repo.name]
        for upload_id in [u for u, up in registry.uploads.items() if up.repository == repo.name]:
            self.world.discard_upload(registry.uploads.pop(upload_id))
        return {"repository": self._repository_json(repo)}

    async def _describe_repositories(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        registry_id = params.get("registryId", caller.account)
        names = params.get("repositoryNames")
        if names is not None:
            if "maxResults" in params or "nextToken" in params:
                raise EcrError(
                    "InvalidParameterException",
                    "Invalid parameter: maxResults and nextToken cannot be used with repositoryNames",
                )
            found = []
            for name in names:
                found.append(self._repository(caller, {"repositoryName": name, "registryId": registry_id}))
            return {"repositories": [self._repository_json(r) for r in found]}
        repos = (
            sorted(self._registry(caller, params).repositories.values(), key=lambda r: r.name)
            if registry_id == caller.account
            else []
        )
        scope = f"repos:{caller.account}:{caller.region}"
        start = self._tokens.offset(scope, params.get("nextToken"))
        size = params.get("maxResults", 100)
        page = repos[start : start + size]
        result: dict[str, Any] = {"repositories": [self._repository_json(r) for r in page]}
        if start + size < len(repos):
            result["nextToken"] = self._tokens.issue(scope, start + size)
        return result

    # --- images -----------------------------------------------------------------------------------

    async def _describe_images(self, caller: Caller, base_url: str, params: dict[str, Any]) -> dict[str, Any]:
        repo = self._repository(caller, params)
        if "imageIds" in params:
            if "maxResults" in params or "nextToken" in params or "filter" in params:
                raise EcrError(
                    "InvalidParameterException",
                    "Invalid parameter: maxResults, nextToken and filter cannot be used with imageIds",
                )
            images = []
            for image_id in params["imageIds"]:
                image, failure = self._find(repo, image_id)
                if image is None:
                    assert failure is not None
                    shown = ", ".join(f"{k}:'{image_id.get(k, 'null')}'" for k in ("imageDigest", "imageTag"))
                    raise EcrError(
                        "ImageNotFoundException",
                        f"The image with imageId {{{shown}}} does not exist within the repository with name "
                        f"'{repo.name}' in the registry with id '{repo.account}'",
                    )
                if image not in images:
                    images.append(image)
            return {"imageDetails": [self._image_detail(repo, i) for i in images]}
        status = (params.get("filter") or {}).get("tagStatus", "ANY")
        images = [
            i
            for i in sorted(repo.images.values(), key=lambda i: (i.pushed_at, i.digest))
            if status == "ANY" or (status == "TAGGED") == bool(i.tags)
        ]
        scope = f"images:{repo.arn}:{status}"
        start = self._tokens.offset(scope, params.get("nextToken"))
        size = params.get("maxResults", 100)
        result: dict[str, Any] = {
            "imageDetails": [self._image_detail(repo, i) for i in images[start : start + size]]
        }
        if start + size < len(images):
            result["nextToken"] = self._tokens.issue(scope, start + size)
        return result

    @staticmethod
    def _image_detail(repo: Repository, image: Image) -> dict[str, Any]:
        return {
            "registryId": repo.account,
            "repositoryName": repo.name,
            "imageDigest": image.digest,
            "imageTags": list(image.tags) or None,
            "imageSizeInBytes": image.size,
            "imagePushedAt": image.pushed_at,
            "imageManifestMediaType": image.media_type,
            "artifactMediaType": image.artifact_media_type,
            "imageStatus": "ACTIVE",
        }

    async def _batch_get_image(self, caller: Caller, base_url: str, params: dict[str, Any]) -> dict[str, Any]:
        repo = self._repository(caller, params)
        accepted = params.get("acceptedMediaTypes")
        images: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for image_id in params["imageIds"]:
            image, failure = self._find(repo, image_id)
            if image is None:
                failures.append(failure or {})
                continue
            if accepted is not None and image.media_type not in accepted:
                failures.append(
                    {
                        "imageId": image_id,
                        "failureCode": "ImageNotFound",
                        "failureReason": f"The image's manifest media type {image.media_type} is not "
                        "among the accepted media types",
                    }
                )
                continue
            images.append(
                {
                    "registryId": repo.account,
                    "repositoryName": repo.name,
                    "imageId": {
                        "imageDigest": image.digest,
                        **({"imageTag": image_id["imageTag"]} if "imageTag" in image_id else {}),
                    },
                    "imageManifest": image.manifest,
                    "imageManifestMediaType": image.media_type,
                }
            )
        return {"images": images, "failures": failures}

    async def _batch_delete_image(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        repo = self._repository(caller, params)
        deleted: list[dict[str, str]] = []
        failures: list[dict[str, Any]] = []
        for image_id in params["imageIds"]:
            image, failure = self._find(repo, image_id)
            if image is None:
                failures.append(failure or {})
                continue
            tag = image_id.get("imageTag")
            if tag is not None and "imageDigest" not in image_id:
                repo.untag(tag)
                deleted.append({"imageDigest": image.digest, "imageTag": tag})
                if not image.tags:
                    repo.delete_image(image.digest)
            else:
                deleted += [{"imageDigest": image.digest, "imageTag": t} for t in image.tags] or [
                    {"imageDigest": image.digest}
                ]
                repo.delete_image(image.digest)
        return {"imageIds": deleted, "failures": failures}

    async def _put_image(self, caller: Caller, base_url: str, params: dict[str, Any]) -> dict[str, Any]:
        repo = self._repository(caller, params)
        text: str = params["imageManifest"]
        image = self.push(
            repo,
            text,
            media_type=params.get("imageManifestMediaType"),
            tag=params.get("imageTag"),
            expected_digest=params.get("imageDigest"),
        )
        tag = params.get("imageTag")
        return {
            "image": {
                "registryId": repo.account,
                "repositoryName": repo.name,
                "imageId": {"imageDigest": image.digest, **({"imageTag": tag} if tag else {})},
                "imageManifest": text,
                "imageManifestMediaType": image.media_type,
            }
        }

    def push(
        self,
        repo: Repository,
        text: str,
        *,
        media_type: str | None = None,
        tag: str | None = None,
        expected_digest: str | None = None,
    ) -> Image:
        """PutImage's rules (also used by seeds): the stored image, once every reference is present."""
        try:
            manifest = json.loads(text)
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict):
            raise EcrError(
                "InvalidParameterException",
                "Invalid parameter at 'imageManifest' failed to satisfy constraint: 'Invalid JSON syntax'",
            )
        media_type = self._media_type(manifest, media_type)
        digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        if expected_digest is not None and expected_digest != digest:
            raise EcrError(
                "ImageDigestDoesNotMatchException",
                f"Provided digest {expected_digest} does not match the digest of the manifest {digest}",
            )
        size, artifact = self._check_references(repo, manifest, media_type)
        if tag is not None and not _TAG.fullmatch(tag):
            raise EcrError(
                "InvalidParameterException", f"Invalid parameter at 'imageTag': {tag!r} is not a valid tag"
            )
        existing = repo.images.get(digest)
        if existing is not None and (tag is None or tag in existing.tags):
            raise EcrError(
                "ImageAlreadyExistsException",
                f"Image with digest '{digest}'"
                + (f" and tag '{tag}'" if tag else "")
                + f" already exists in the repository with name '{repo.name}' in the registry with id "
                f"'{repo.account}'",
            )
        if tag is not None and tag in repo.tag_index and repo.tag_mutability == "IMMUTABLE":
            raise EcrError(
                "ImageTagAlreadyExistsException",
                f"The image tag '{tag}' already exists in the '{repo.name}' repository and cannot be "
                "overwritten because the repository is immutable.",
            )
        image = existing or Image(
            digest=digest,
            manifest=text,
            media_type=media_type,
            artifact_media_type=artifact,
            size=size,
            pushed_at=_now(),
        )
        repo.images[digest] = image
        if tag is not None:
            repo.untag(tag)
            image.tags.append(tag)
            repo.tag_index[tag] = digest
        return image

    @staticmethod
    def _media_type(manifest: dict[str, Any], declared: str | None) -> str:
        inner = manifest.get("mediaType")
        if inner is None and manifest.get("schemaVersion") == 2:
            inner = OCI_INDEX if "manifests" in manifest else OCI_MANIFEST
        media_type = declared or inner
        if media_type not in (*_MANIFESTS, *_INDEXES) or (declared and inner and declared != inner):
            raise EcrError(
                "InvalidParameterException",
                f"Invalid parameter at 'imageManifestMediaType': unsupported or inconsistent manifest "
                f"media type {media_type!r}",
            )
        if manifest.get("schemaVersion") != 2:
            raise EcrError(
                "InvalidParameterException", "Invalid parameter at 'imageManifest': schemaVersion must be 2"
            )
        return str(media_type)

    @staticmethod
    def _check_references(
        repo: Repository, manifest: dict[str, Any], media_type: str
    ) -> tuple[int, str | None]:
        """The image size and artifact media type, once every blob or manifest it names is present."""
        if media_type in _INDEXES:
            entries = manifest.get("manifests")
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise EcrError(
                    "InvalidParameterException", "Invalid parameter at 'imageManifest': no manifests list"
                )
            missing = [str(e.get("digest")) for e in entries if e.get("digest") not in repo.images]
            if missing:
                raise EcrError(
                    "ReferencedImagesNotFoundException",
                    f"Manifests with digests '{missing}' required for pushing image into repository with "
                    f"name '{repo.name}' in the registry with id '{repo.account}' do not exist",
                )
            return 0, None
        config, layers = manifest.get("config"), manifest.get("layers")
        if (
            not isinstance(config, dict)
            or not isinstance(layers, list)
            or not all(isinstance(x, dict) for x in layers)
        ):
            raise EcrError(
                "InvalidParameterException",
                "Invalid parameter at 'imageManifest': config and layers required",
            )
        digests = [str(config.get("digest")), *(str(x.get("digest")) for x in layers)]
        missing = [d for d in digests if d not in repo.layers]
        if missing:
            raise EcrError(
                "LayersNotFoundException",
                f"Layers with digests '{missing}' required for pushing image into repository with name "
                f"'{repo.name}' in the registry with id '{repo.account}' do not exist",
            )
        size = sum(repo.layers[str(x.get("digest"))] for x in layers)
        artifact = config.get("mediaType")
        return size, str(artifact) if isinstance(artifact, str) else None

    # --- layers -----------------------------------------------------------------------------------

    async def _batch_check_layer_availability(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        repo = self._repository(caller, params)
        layers: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for digest in params["layerDigests"]:
            if not _DIGEST.fullmatch(digest):
                failures.append(
                    {
                        "layerDigest": digest,
                        "failureCode": "InvalidLayerDigest",
                        "failureReason": "Invalid layer digest",
                    }
                )
            elif digest not in repo.layers:
                failures.append(
                    {
                        "layerDigest": digest,
                        "failureCode": "MissingLayerDigest",
                        "failureReason": "Could not find layer",
                    }
                )
            else:
                layers.append(
                    {
                        "layerDigest": digest,
                        "layerAvailability": "AVAILABLE",
                        "layerSize": repo.layers[digest],
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    }
                )
        return {"layers": layers, "failures": failures}

    async def _get_download_url_for_layer(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        repo = self._repository(caller, params)
        digest = params["layerDigest"]
        if digest not in repo.layers:
            raise EcrError(
                "LayersNotFoundException",
                f"The image layer '{digest}' does not exist within the repository with name '{repo.name}' "
                f"in the registry with id '{repo.account}'",
            )
        config = self._config()
        url = self.exporter.issue(
            base_url=base_url,
            access_key=caller.access_key,
            region=caller.region,
            kind="layer",
            data=self.world.blob_path(digest),
            ttl=config.url_ttl,
            expire_early=self.governor.expire_early(config),
            session_token=caller.session_token,
        )
        return {"downloadUrl": url, "layerDigest": digest}

    async def _initiate_layer_upload(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        repo = self._repository(caller, params)
        upload = self.world.start_upload(repo.name)
        self._registry(caller, params).uploads[upload.id] = upload
        return {"uploadId": upload.id, "partSize": PART_SIZE}

    def _upload(self, caller: Caller, params: dict[str, Any]) -> tuple[Repository, Upload]:
        repo = self._repository(caller, params)
        upload = self._registry(caller, params).uploads.get(params["uploadId"])
        if upload is None or upload.repository != repo.name:
            raise EcrError(
                "UploadNotFoundException",
                f"The upload with id '{params['uploadId']}' does not exist in the repository with name "
                f"'{repo.name}' in the registry with id '{repo.account}'",
            )
        return repo, upload

    async def _upload_layer_part(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        repo, upload = self._upload(caller, params)
        blob: bytes = params["layerPartBlob"]
        first, last = params["partFirstByte"], params["partLastByte"]
        if first != upload.received or last - first + 1 != len(blob) or not blob:
            raise EcrError(
                "InvalidLayerPartException",
                f"The layer part with range {first}-{last} ({len(blob)} bytes) does not continue the upload "
                f"'{upload.id}', which has received bytes 0-{upload.received - 1}",
                registryId=repo.account,
                repositoryName=repo.name,
                uploadId=upload.id,
                lastValidByteReceived=upload.received - 1,
            )
        if len(blob) > MAX_PART_BYTES:  # the quota (10 MiB) is harsher than the model (20 MiB)
            raise EcrError(
                "InvalidLayerPartException",
                f"The layer part of {len(blob)} bytes exceeds the maximum layer part size of "
                f"{MAX_PART_BYTES} bytes",
                registryId=repo.account,
                repositoryName=repo.name,
                uploadId=upload.id,
                lastValidByteReceived=upload.received - 1,
            )
        if len(upload.part_sizes) >= MAX_PARTS:
            raise EcrError("LimitExceededException", f"An upload has at most {MAX_PARTS} parts")
        upload.append(blob)  # no await between the range check and this: parts stay in order
        return {
            "registryId": repo.account,
            "repositoryName": repo.name,
            "uploadId": upload.id,
            "lastByteReceived": upload.received - 1,
        }

    async def _complete_layer_upload(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        repo, upload = self._upload(caller, params)
        registry = self._registry(caller, params)
        claimed = params["layerDigests"]
        if not upload.part_sizes:
            raise EcrError(
                "EmptyUploadException", f"The upload with id '{upload.id}' does not have any layer parts"
            )
        if any(size < MIN_PART_BYTES for size in upload.part_sizes[:-1]):
            raise EcrError(
                "LayerPartTooSmallException",
                f"Layer parts must be at least {MIN_PART_BYTES} bytes, except the last one",
            )
        del registry.uploads[upload.id]  # consumed, whatever the outcome
        try:
            digest = await upload.finish()
            if len(claimed) != 1 or claimed[0] != digest:
                raise EcrError(
                    "InvalidLayerException",
                    f"The layer digest calculated for the upload with id '{upload.id}' ({digest}) does not "
                    f"match the digest provided ({', '.join(claimed)})",
                )
            if digest in repo.layers:
                raise EcrError(
                    "LayerAlreadyExistsException",
                    f"The layer with digest '{digest}' already exists in the repository with name "
                    f"'{repo.name}' in the registry with id '{repo.account}'",
                )
            repo.layers[digest] = self.world.adopt_blob(upload.path, digest)
        finally:
            upload.path.unlink(missing_ok=True)
        return {
            "registryId": repo.account,
            "repositoryName": repo.name,
            "uploadId": upload.id,
            "layerDigest": digest,
        }

    # --- authorization ----------------------------------------------------------------------------

    async def _get_authorization_token(
        self, caller: Caller, base_url: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        ids = params.get("registryIds") or [caller.account]
        expires = _now() + dt.timedelta(hours=12)
        data = []
        for registry_id in ids:
            token = base64.b64encode(f"AWS:{secrets.token_urlsafe(48)}".encode()).decode()
            data.append(
                {
                    "authorizationToken": token,
                    "expiresAt": expires,
                    "proxyEndpoint": f"https://{registry_host(registry_id, caller.region)}",
                }
            )
        return {"authorizationData": data}


def _answer(status: int, body: dict[str, Any] | bytes) -> web.Response:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return web.Response(
        status=status,
        body=payload,
        content_type=_JSON,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


async def serve(core: Core, request: web.Request) -> web.Response:
    """Answer one json-protocol request (``X-Amz-Target``) for ECR, signed for ``ecr``.

    A request the authentication refuses answers 400 with the json error body
    (``UnrecognizedClientException``, ``InvalidSignatureException``...), as json-protocol
    services answer sender faults; the status of each in real ECR is not documented.
    """
    op = json_operation("ecr", request.headers.get("X-Amz-Target", ""))
    if op is not None:
        core.stats.call(op.name)
    body = await read_body(request, core.max_request_bytes)
    try:
        caller = await core.authenticate(request, "ecr", body)
    except AuthFailure as exc:
        if op is not None:
            core.stats.failed(op.name, exc.code)
        return _answer(400, {"__type": exc.code, "message": exc.message})
    if op is None:
        return _answer(400, {"__type": "UnknownOperationException", "message": "Unknown operation"})
    config = core.config
    try:
        if config.latency > 0:
            await asyncio.sleep(config.latency)
        core.governor.admit(config, caller.account, caller.region, op.name)
        document = layer_part_document(body) if op.name == "UploadLayerPart" else None
        params = parse_request(op, {}, {}, request.headers, body, document=document)
        result = await core.ecr.call(op.name, caller, f"{request.scheme}://{request.host}", params)
    except ApiError as exc:
        error = _ecr_error(exc)
        core.stats.failed(op.name, error.code)
        return _answer(error.status, {"__type": error.code, "message": error.message, **error.fields})
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("emulator bug in ECR %s", op.name)
        core.stats.failed(op.name, "ServerException")
        return _answer(500, {"__type": "ServerException", "message": "Internal emulator error"})
    return _answer(200, serialize_output(op, result))
