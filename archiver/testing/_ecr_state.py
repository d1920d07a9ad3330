"""What the emulated ECR remembers: repositories, images and layer blobs, per account and region.

Layer blobs never live in memory. An upload appends each part to its own file under the emulator's
scratch directory, hashing as it goes; completing it moves that file to ``blobs/sha256/<hex>``, where one
file serves every repository that holds the blob (ECR scopes layers to repositories:
BatchCheckLayerAvailability and GetDownloadUrlForLayer answer per repository, so each repository
records which blobs it has). Manifests are small (the model caps them at 4 MiB) and are kept as the
exact text that was pushed, since an image's digest is the SHA-256 of those bytes. The directory is
removed when the emulator stops. Everything here runs on the emulator's event loop thread, except
the writing and hashing of upload parts (``Upload``), one worker thread call at a time per upload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["EcrWorld", "Image", "Registry", "Repository", "Upload", "registry_host"]


def registry_host(account: str, region: str) -> str:
    """The registry host name of an account and region: ``<account>.dkr.ecr.<region>.amazonaws.com``."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


@dataclass(eq=False, kw_only=True)
class Image:
    """One manifest in one repository, with the tags that point at it."""

    digest: str
    manifest: str
    media_type: str
    artifact_media_type: str | None
    size: int
    pushed_at: dt.datetime
    tags: list[str] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class Upload:
    """A layer upload in progress: the parts received so far, in order, in one file.

    :meth:`append` takes a part whose range the caller checked and counts it at once; the part is
    written and hashed in a worker thread (hashlib releases the GIL), each part after the previous
    one, while the loop answers and parses the next request. :meth:`finish` waits for the last.
    """

    id: str
    repository: str
    path: Path
    handle: IO[bytes]
    received: int = 0
    part_sizes: list[int] = field(default_factory=list)
    _hasher: Any = field(default_factory=hashlib.sha256)
    _tail: asyncio.Future[None] | None = None

    def append(self, blob: bytes) -> None:
        self.received += len(blob)
        self.part_sizes.append(len(blob))
        self._tail = asyncio.ensure_future(self._absorb(self._tail, blob))

    async def _absorb(self, previous: asyncio.Future[None] | None, blob: bytes) -> None:
        if previous is not None:
            await previous
        await asyncio.to_thread(self._write, blob)

    def _write(self, blob: bytes) -> None:
        self.handle.write(blob)
        self._hasher.update(blob)

    async def finish(self) -> str:
        """Every part written and the file closed: ``sha256:<hex>`` of the layer."""
        try:
            if self._tail is not None:
                await self._tail
        finally:
            self.handle.close()
        return "sha256:" + str(self._hasher.hexdigest())


@dataclass(eq=False, kw_only=True)
class Repository:
    name: str
    account: str
    region: str
    created_at: dt.datetime
    tag_mutability: str = "MUTABLE"
    tags: list[dict[str, str]] = field(default_factory=list)
    images: dict[str, Image] = field(default_factory=dict)  # by manifest digest
    tag_index: dict[str, str] = field(default_factory=dict)  # tag -> manifest digest
    layers: dict[str, int] = field(default_factory=dict)  # blob digest -> size

    @property
    def arn(self) -> str:
        return f"arn:aws:ecr:{self.region}:{self.account}:repository/{self.name}"

    @property
    def uri(self) -> str:
        return f"{registry_host(self.account, self.region)}/{self.name}"

    def untag(self, tag: str) -> None:
        digest = self.tag_index.pop(tag, None)
        if digest is not None and digest in self.images:
            self.images[digest].tags.remove(tag)

    def delete_image(self, digest: str) -> None:
        image = self.images.pop(digest)
        for tag in image.tags:
            self.tag_index.pop(tag, None)


@dataclass(eq=False)
class Registry:
    """One account's private registry in one region."""

    account: str
    region: str
    repositories: dict[str, Repository] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)


class EcrWorld:
    """Every registry of one emulator, and the scratch directory holding their blobs and uploads."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._registries: dict[tuple[str, str], Registry] = {}

    @property
    def _root(self) -> Path:
        """The scratch directory, made on first use and removed by :meth:`close` (or at exit)."""
        if self._dir is None:
            root = Path(tempfile.mkdtemp(prefix="omics-emulator-ecr-"))
            (root / "blobs" / "sha256").mkdir(parents=True)
            (root / "uploads").mkdir()
            self._cleanup = weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
            self._dir = root
        return self._dir

    def registry(self, account: str, region: str) -> Registry:
        key = (account, region)
        found = self._registries.get(key)
        if found is None:
            found = self._registries[key] = Registry(account, region)
        return found

    def registries(self) -> Iterator[Registry]:
        return iter(list(self._registries.values()))

    def scratch_dir(self) -> Path:
        """A directory on the blob store's file system, for files about to be adopted as blobs."""
        return self._root / "uploads"

    def blob_path(self, digest: str) -> Path:
        """Where the blob of ``sha256:<hex>`` is (or would be) stored."""
        algorithm, _, hexdigest = digest.partition(":")
        if (
            algorithm != "sha256"
            or len(hexdigest) != 64
            or not all(c in "0123456789abcdef" for c in hexdigest)
        ):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self._root / "blobs" / "sha256" / hexdigest

    def has_blob(self, digest: str) -> bool:
        try:
            return self.blob_path(digest).is_file()
        except ValueError:
            return False

    def start_upload(self, repository: str) -> Upload:
        upload_id = str(uuid.uuid4())
        path = self.scratch_dir() / upload_id
        handle = open(path, "wb")  # noqa: SIM115 - closed by finish_upload/discard_upload
        return Upload(id=upload_id, repository=repository, path=path, handle=handle)

    def adopt_blob(self, path: Path, digest: str) -> int:
        """Move a verified file into the blob store (or drop it if the blob is there); its size."""
        target = self.blob_path(digest)
        size = path.stat().st_size
        if target.exists():
            path.unlink()
        else:
            os.replace(path, target)
        return size

    def put_blob(self, data: bytes) -> tuple[str, int]:
        """Store ``data`` as a blob (seeds); its digest and size."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        target = self.blob_path(digest)
        if not target.exists():
            scratch = self.scratch_dir() / f"seed-{uuid.uuid4()}"
            scratch.write_bytes(data)
            os.replace(scratch, target)
        return digest, len(data)

    @staticmethod
    def discard_upload(upload: Upload) -> None:
        upload.handle.close()
        upload.path.unlink(missing_ok=True)

    def close(self) -> None:
        for registry in self._registries.values():
            for upload in registry.uploads.values():
                upload.handle.close()
            registry.uploads.clear()
        if self._dir is not None:
            self._cleanup()
            self._dir = None
