"""The boundary to Amazon ECR: which manifest digest an image reference names, now.

:class:`EcrResolver` asks ECR ``BatchGetImage`` for each private ECR image a run meets, once per run
(concurrent askers of the same image share one call, and answers, good or bad, are kept for the
run), paced by its own rate limiter. It checks that the manifest it got hashes to the digest ECR
states. It never raises for an image: every botocore error is translated here, at the boundary,
into a :class:`Resolution` with the reason, because an image that cannot be resolved is a fact to
record, never a failed backup. The aiobotocore client is opened on first use (a run without ECR
images opens none) and closed with the resolver (:func:`open_ecr_resolver`).

Pacing: ECR's published rate for BatchGetImage is 2,000 requests per second per account and
region, shared with every image pull of the account (HealthOmics runs pull through it too), so
the default :data:`DEFAULT_RATE` stays far below it; deduplication keeps the number of calls at the
number of distinct images anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .._aws import AwsSettings, new_session
from .._errors import redact
from .._ratelimit import RateLimiter
from .._tls import aio_config
from ._refs import EcrImage

__all__ = [
    "ACCEPTED_MEDIA_TYPES",
    "DEFAULT_RATE",
    "EcrResolver",
    "EcrSettings",
    "Resolution",
    "ecr_settings",
    "open_ecr_resolver",
]

log = logging.getLogger("archiver.backup")  # a backup run's records, wherever they come from

DEFAULT_RATE = 20.0
ACCEPTED_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
]


@dataclass(frozen=True, kw_only=True)
class EcrSettings:
    """How to reach ECR: the backup's region and profile; ``endpoint_url`` for the emulator."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    rate: float | None = DEFAULT_RATE
    max_attempts: int = 5
    credentials: Any = field(default=None, repr=False, compare=False)  # an assumed role's (targets)


@dataclass(frozen=True, slots=True)
class Resolution:
    """The manifest digest (and media type) of an image, or why there is none."""

    digest: str | None
    media_type: str | None = None
    reason: str | None = None


class EcrResolver:
    """Resolves private ECR images of one region to digests, each once; see the module docstring."""

    def __init__(self, settings: EcrSettings, stack: contextlib.AsyncExitStack) -> None:
        self.settings = settings
        self._stack = stack
        self._client: Any = None
        self._opening: asyncio.Lock = asyncio.Lock()
        self._limiter = RateLimiter({"BatchGetImage": settings.rate} if settings.rate else None)
        self._answers: dict[tuple[str, str, str, str], asyncio.Task[Resolution]] = {}
        self.calls = 0

    async def _ecr(self) -> Any:
        async with self._opening:
            if self._client is None:
                s = self.settings
                session = new_session(s.profile, s.credentials)
                self._client = await self._stack.enter_async_context(
                    session.create_client(
                        "ecr",
                        region_name=s.region,
                        endpoint_url=s.endpoint_url,
                        config=aio_config(
                            retries={"mode": "standard", "total_max_attempts": s.max_attempts},
                            user_agent_extra="omics-archiver",
                        ),
                    )
                )
            return self._client

    async def client(self) -> Any:
        """The run's aiobotocore ``ecr`` client (opened on first use), for copying images."""
        return await self._ecr()

    async def resolve(self, image: EcrImage) -> Resolution:
        """The digest ``image`` has now, or the reason it cannot be known; never raises for it."""
        if image.region != self.settings.region:
            return Resolution(
                None,
                reason=f"the image is in ECR in {image.region}; HealthOmics pulls only from ECR in the "
                f"workflow's region ({self.settings.region})",
            )
        selector = image.digest or f"tag:{image.tag or 'latest'}"
        key = (image.account, image.region, image.repository, selector)
        task = self._answers.get(key)
        if task is None:  # a task of its own: one asker's cancellation does not cancel the others'
            task = self._answers[key] = asyncio.get_running_loop().create_task(self._ask(image))
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        """Cancel what is still being asked (a cancelled run)."""
        pending = [t for t in self._answers.values() if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _ask(self, image: EcrImage) -> Resolution:
        answer = await self._batch_get_image(image)
        if answer.digest is None:
            log.warning(
                "cannot resolve image %s/%s (%s): %s",
                image.account,
                image.repository,
                image.digest or image.tag,
                answer.reason,
                extra={"event": "image-unresolved", "repository": image.repository, "reason": answer.reason},
            )
        return answer

    async def _batch_get_image(self, image: EcrImage) -> Resolution:
        try:
            client = await self._ecr()
            await self._limiter.acquire("BatchGetImage")
            self.calls += 1
            answer = await client.batch_get_image(
                registryId=image.account,
                repositoryName=image.repository,
                imageIds=[image.image_id],
                acceptedMediaTypes=ACCEPTED_MEDIA_TYPES,
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "error")
            return Resolution(
                None, reason=redact(f"BatchGetImage failed: {code}: {error.get('Message', '')}".rstrip(": "))
            )
        except BotoCoreError as exc:
            return Resolution(None, reason=redact(f"BatchGetImage failed: {exc}"))
        return _resolution(image, answer)


def _resolution(image: EcrImage, answer: dict[str, Any]) -> Resolution:
    images = answer.get("images") or []
    if not images:
        failures = answer.get("failures") or [{}]
        code = str(failures[0].get("failureCode") or "ImageNotFound")
        why = str(failures[0].get("failureReason") or "")
        return Resolution(None, reason=redact(f"ECR: {code}" + (f": {why}" if why else "")))
    found = images[0]
    digest = str((found.get("imageId") or {}).get("imageDigest") or "")
    manifest = found.get("imageManifest")
    if not digest.startswith("sha256:") or not isinstance(manifest, str):
        return Resolution(None, reason="ECR answered without a sha256 digest and manifest")
    actual = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    if actual != digest:
        return Resolution(None, reason=f"ECR states digest {digest} but its manifest hashes to {actual}")
    if image.digest and image.digest != digest:
        return Resolution(None, reason=f"ECR answered {digest} for a reference pinned to {image.digest}")
    media_type = found.get("imageManifestMediaType")
    return Resolution(digest, media_type=str(media_type) if media_type else None)


def ecr_settings(aws: AwsSettings, region: str) -> EcrSettings:
    """The ECR side of a run's AWS settings: same profile and region; unpaced with ``--no-rate-limit``."""
    rate = None if aws.rates is None else aws.rates.get("BatchGetImage", DEFAULT_RATE)
    return EcrSettings(
        region=region,
        profile=aws.profile,
        endpoint_url=aws.ecr_endpoint_url,
        rate=rate,
        credentials=aws.credentials,
    )


@contextlib.asynccontextmanager
async def open_ecr_resolver(settings: EcrSettings) -> AsyncIterator[EcrResolver]:
    """A resolver for ``settings``; its client (if one was opened) is closed when the block exits."""
    async with contextlib.AsyncExitStack() as stack:
        resolver = EcrResolver(settings, stack)
        try:
            yield resolver
        finally:
            await resolver.aclose()
