"""The ``s3://bucket/prefix`` store, on aiobotocore.

Why this module: S3 is where an archive lives for real, under Object Lock and SSE-KMS, and S3
offers atomic visibility only in particular ways. Every key is stored at ``prefix + key``. This
module is the one boundary where botocore and aiohttp errors become archiver errors (``raise ...
from exc``): NoSuchBucket -> StoreError naming the bucket, NoSuchKey/404 -> ObjectNotFound,
AccessDenied -> StoreError, a delete refused by Object Lock -> ObjectLocked.

Writes:

* Below ``part_size``, one PutObject streamed from the open file. At or above it, a multipart
  upload: parts are read with ``pread`` and uploaded by a TaskGroup, at most ``max_concurrency``
  at a time, so at most ``max_concurrency x part_size`` bytes are in memory (the part size grows
  past ``part_size`` only when a file would need more than 10,000 parts). The object becomes
  visible at once, when CompleteMultipartUpload succeeds; any failure or cancellation aborts the
  upload so no parts linger (and cost money).
* ``if_absent`` uses S3 conditional writes: ``IfNoneMatch="*"`` on PutObject and on
  CompleteMultipartUpload; 412 PreconditionFailed means "exists" and the put returns ``False``,
  unless the object holds exactly the bytes we wrote: then the 412 may answer a retry of our own
  write whose response was lost (botocore and aiohttp both retry, and neither reliably says so),
  and the write is done either way, so the put returns ``True``. There is no race: S3 itself
  refuses; two writers of identical bytes both succeed, as they would one after the other. (A
  HEAD before a multipart upload only saves uploading a file whose key exists.) 409
  ConditionalRequestConflict (a concurrent conditional write) is retried a few times.
* Every put carries ``ChecksumAlgorithm=CRC32``, so the body checksum S3 demands on Object Lock
  puts is always there, plus SSE-KMS and Object Lock retention parameters when configured.

Deletes: on a versioned (Object Lock) bucket a plain DeleteObject never fails; it only hides the
object behind a delete marker. So ``delete`` first HEADs the object and refuses with ObjectLocked
while a retention date lies ahead or a legal hold is on, rather than pretend the object is gone.
After retention, the delete marker hides the object; the bucket's lifecycle rules decide when
noncurrent versions go.

moto (tests) quirks: it ignores Object Lock parameters on CreateMultipartUpload (real S3 honours
them), and it enforces the 5 MiB minimum part size, so tests force multipart with 5 MiB parts.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, aclosing, contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound
from botocore.loaders import Loader, create_loader

from .._errors import ObjectLocked, ObjectNotFound, StoreError, UsageError
from ._base import ObjectInfo, check_key
from ._local import COPY_CHUNK, in_thread, settle, write_atomic
from ._open import check_prefix, is_key
from ._options import StoreOptions

__all__ = ["S3Store", "StoreOptions"]

log = logging.getLogger(__name__)

MAX_PARTS = 10_000
_CONFLICT_RETRIES = 3
_NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404"})
_PRECONDITION = frozenset({"PreconditionFailed", "412"})
_DENIED = frozenset({"AccessDenied", "Forbidden", "403", "AllAccessDisabled"})
_TRANSPORT_ERRORS = (BotoCoreError, aiohttp.ClientError, TimeoutError)
_loader: Loader | None = None


def _shared_loader() -> Loader:
    """One botocore data loader for every session: it caches the parsed S3 model (~0.1 s a load)."""
    global _loader
    if _loader is None:
        _loader = create_loader()
    return _loader


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Store:
    """A :class:`~archiver.store.Store` in an S3 bucket under a prefix. Open it with ``open_store``."""

    def __init__(
        self, client: Any, *, bucket: str, prefix: str, options: StoreOptions, stack: AsyncExitStack
    ):
        self._client = client
        self._bucket = bucket
        self._prefix = prefix  # "" or ends with "/"
        self._options = options
        self._stack = stack
        self._closed = False

    @classmethod
    async def open(cls, bucket: str, prefix: str, options: StoreOptions) -> S3Store:
        """Create the client (closed by :meth:`aclose`) and check that the bucket is reachable."""
        config = AioConfig(
            max_pool_connections=max(10, options.max_concurrency + 2),
            retries={"mode": "standard", "max_attempts": 5},
        )
        stack = AsyncExitStack()
        try:
            session = AioSession(profile=options.profile)
            session.register_component("data_loader", _shared_loader())
            client = await stack.enter_async_context(
                session.create_client(
                    "s3", region_name=options.region, endpoint_url=options.endpoint_url, config=config
                )
            )
            store = cls(client, bucket=bucket, prefix=prefix, options=options, stack=stack)
            await store._check_bucket()
        except ProfileNotFound as exc:
            await stack.aclose()
            raise UsageError(f"AWS profile {options.profile!r} not found") from exc
        except BaseException as exc:
            await stack.aclose()
            if isinstance(exc, _TRANSPORT_ERRORS):
                raise StoreError(f"cannot open s3://{bucket}: {exc}") from exc
            raise
        return store

    async def _check_bucket(self) -> None:
        try:
            await self._client.head_bucket(Bucket=self._bucket)
        except ClientError as exc:
            code = _code(exc)
            if code in _NOT_FOUND or code == "NoSuchBucket":
                raise StoreError(f"S3 bucket {self._bucket!r} does not exist") from exc
            if code == "301":
                headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                region = headers.get("x-amz-bucket-region", "another region")
                raise StoreError(f"S3 bucket {self._bucket!r} is in {region}: set the region") from exc
            raise self._error(exc, "open", None) from exc

    @property
    def url(self) -> str:
        return f"s3://{self._bucket}/{self._prefix.rstrip('/')}" if self._prefix else f"s3://{self._bucket}"

    def _full(self, key: str) -> str:
        if self._closed:
            raise StoreError(f"store {self.url} is closed", key=key)
        return self._prefix + check_key(key)

    # -- errors ---------------------------------------------------------------------------------

    def _error(self, exc: BaseException, action: str, key: str | None) -> StoreError:
        where = f"s3://{self._bucket}/{self._prefix}{key}" if key is not None else self.url
        if not isinstance(exc, ClientError):
            return StoreError(f"cannot {action} {where}: {exc}", key=key)
        code = _code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if code == "NoSuchBucket":
            return StoreError(f"S3 bucket {self._bucket!r} does not exist", key=key)
        if code in _NOT_FOUND and key is not None:
            return ObjectNotFound(f"no object {key!r} in {self.url}", key=key)
        if code in _DENIED:
            return StoreError(f"access denied: cannot {action} {where}", key=key)
        return StoreError(f"cannot {action} {where}: {code} {message}".rstrip(), key=key)

    @contextmanager
    def _calls(self, action: str, key: str | None = None) -> Iterator[None]:
        """Translate botocore/aiohttp errors raised in the block (the one translation boundary)."""
        try:
            yield
        except ClientError as exc:
            raise self._error(exc, action, key) from exc
        except _TRANSPORT_ERRORS as exc:
            raise self._error(exc, action, key) from exc

    # -- writing --------------------------------------------------------------------------------

    def _write_params(self, full: str) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": full, "ChecksumAlgorithm": "CRC32"}
        opts = self._options
        if opts.kms_key_id:
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = opts.kms_key_id
        if opts.object_lock_days:
            params["ObjectLockMode"] = opts.object_lock_mode
            params["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=opts.object_lock_days)
        return params

    async def put_bytes(self, key: str, data: bytes, *, if_absent: bool = True) -> bool:
        full = self._full(key)
        return await self._put_object(key, full, data, if_absent)

    async def _put_object(self, key: str, full: str, body: bytes | BinaryIO, if_absent: bool) -> bool:
        params = self._write_params(full)
        if if_absent:
            params["IfNoneMatch"] = "*"
        for attempt in range(_CONFLICT_RETRIES):
            if attempt and not isinstance(body, bytes):
                body.seek(0)
            try:
                await self._client.put_object(Body=body, **params)
                return True
            except ClientError as exc:
                code = _code(exc)
                if if_absent and code in _PRECONDITION:
                    return await self._holds(key, full, body)
                if code == "ConditionalRequestConflict" and attempt + 1 < _CONFLICT_RETRIES:
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                raise self._error(exc, "put", key) from exc
            except _TRANSPORT_ERRORS as exc:
                raise self._error(exc, "put", key) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def put_file(self, key: str, path: Path, *, if_absent: bool = True) -> bool:
        full = self._full(key)
        try:
            size = (await in_thread(partial(os.stat, path))).st_size
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}", key=key) from exc
        if size < self._options.part_size:
            try:
                f = await in_thread(partial(_open_binary, path), cleanup=_close)
            except OSError as exc:
                raise StoreError(f"cannot read {path}: {exc.strerror or exc}", key=key) from exc
            try:
                return await self._put_object(key, full, f, if_absent)
            finally:
                f.close()
        if if_absent and await self.stat(key) is not None:
            return False  # saves uploading a large file; IfNoneMatch on completion is the real guard
        return await self._put_multipart(key, full, Path(path), size, if_absent)

    async def _put_multipart(self, key: str, full: str, path: Path, size: int, if_absent: bool) -> bool:
        part_size = max(self._options.part_size, -(-size // MAX_PARTS))
        with self._calls("start the upload of", key):
            created = await self._client.create_multipart_upload(**self._write_params(full))
        upload_id: str = created["UploadId"]
        try:
            parts = await self._upload_parts(key, full, upload_id, path, size, part_size)
            done: dict[str, Any] = {
                "Bucket": self._bucket,
                "Key": full,
                "UploadId": upload_id,
                "MultipartUpload": {"Parts": parts},
            }
            if if_absent:
                done["IfNoneMatch"] = "*"
            try:
                await self._client.complete_multipart_upload(**done)
            except ClientError as exc:
                if if_absent and _code(exc) in _PRECONDITION:
                    await self._abort(key, full, upload_id)
                    return await self._holds(key, full, path)
                raise self._error(exc, "complete the upload of", key) from exc
            except _TRANSPORT_ERRORS as exc:
                raise self._error(exc, "complete the upload of", key) from exc
            return True
        except BaseException:
            await self._abort(key, full, upload_id)
            raise

    async def _holds(self, key: str, full: str, source: bytes | BinaryIO | Path) -> bool:
        """After a 412 on an ``if_absent`` write: whether the object already holds exactly ``source``.

        A lost response makes botocore retry a write S3 has already done, and the retry's 412 would
        call our own object someone else's. Comparing bytes (lengths first, then the content in
        chunks) tells them apart: the same bytes mean the write is done, so the put is a success
        (``True``); anything else means the key was taken (``False``).
        """
        head = await self._head(key, full, "check")
        if head is None:
            return False
        size = len(source) if isinstance(source, bytes) else await in_thread(partial(_size_of, source))
        if int(head["ContentLength"]) != size:
            return False
        theirs = self._read(key, full, COPY_CHUNK)
        ours: BinaryIO = (
            io.BytesIO(source)
            if isinstance(source, bytes)
            else await in_thread(partial(_open_binary, source))
            if isinstance(source, Path)
            else source
        )
        try:
            if not isinstance(source, bytes | Path):
                await in_thread(partial(ours.seek, 0))
            async for chunk in theirs:
                if await in_thread(partial(ours.read, len(chunk))) != chunk:
                    return False
            return True
        except ObjectNotFound:
            return False
        finally:
            aclose = getattr(theirs, "aclose", None)
            if aclose is not None:
                await aclose()
            if isinstance(source, Path):
                ours.close()

    async def _upload_parts(
        self, key: str, full: str, upload_id: str, path: Path, size: int, part_size: int
    ) -> list[dict[str, Any]]:
        try:
            fd = await in_thread(partial(os.open, path, os.O_RDONLY), cleanup=os.close)
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}", key=key) from exc
        results: dict[int, dict[str, Any]] = {}
        slots = asyncio.Semaphore(self._options.max_concurrency)

        async def upload(number: int, offset: int, length: int) -> None:
            try:
                try:
                    data = await in_thread(partial(os.pread, fd, length, offset))
                except OSError as exc:
                    raise StoreError(f"cannot read {path}: {exc.strerror or exc}", key=key) from exc
                if len(data) != length:
                    raise StoreError(f"{path} shrank while it was being uploaded", key=key)
                with self._calls(f"upload part {number} of", key):
                    resp = await self._client.upload_part(
                        Bucket=self._bucket,
                        Key=full,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                        ChecksumAlgorithm="CRC32",
                    )
                del data
                part = {"ETag": resp["ETag"], "PartNumber": number}
                if "ChecksumCRC32" in resp:
                    part["ChecksumCRC32"] = resp["ChecksumCRC32"]
                results[number] = part
            finally:
                slots.release()

        try:
            async with asyncio.TaskGroup() as tg:
                for number, offset in enumerate(range(0, size, part_size), start=1):
                    await slots.acquire()  # bounds the parts in memory: acquired before a part is read
                    tg.create_task(upload(number, offset, min(part_size, size - offset)))
        except ExceptionGroup as group:
            first = group.exceptions[0]
            raise first from first.__cause__
        finally:
            os.close(fd)
        return [results[n] for n in sorted(results)]

    async def _abort(self, key: str, full: str, upload_id: str) -> None:
        """Abort a multipart upload, even while being cancelled; failures are logged, not raised."""
        task = asyncio.ensure_future(
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=full, UploadId=upload_id)
        )
        cancelled = await settle(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None and not (isinstance(exc, ClientError) and _code(exc) == "NoSuchUpload"):
            log.warning("could not abort the multipart upload of %s (id %s): %s", key, upload_id, exc)
        if cancelled:
            raise asyncio.CancelledError

    # -- reading --------------------------------------------------------------------------------

    async def _get(self, key: str, full: str, action: str) -> Any:
        with self._calls(action, key):
            return await self._client.get_object(Bucket=self._bucket, Key=full)

    def open_read(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise UsageError(f"chunk_size must be positive, not {chunk_size}")
        return self._read(key, self._full(key), chunk_size)

    async def _read(self, key: str, full: str, chunk_size: int) -> AsyncIterator[bytes]:
        resp = await self._get(key, full, "read")
        async with resp["Body"] as body:
            buf = bytearray()
            while True:
                with self._calls("read", key):
                    data = await body.read(chunk_size - len(buf))
                if not data:
                    break
                buf += data
                if len(buf) >= chunk_size:
                    yield bytes(buf)
                    buf.clear()
            if buf:
                yield bytes(buf)

    async def get_bytes(self, key: str) -> bytes:
        resp = await self._get(key, self._full(key), "read")
        async with resp["Body"] as body:
            with self._calls("read", key):
                data: bytes = await body.read()
        return data

    async def download(self, key: str, path: Path) -> None:
        resp = await self._get(key, self._full(key), "download")
        async with resp["Body"] as body, aclosing(body.iter_chunks(COPY_CHUNK)) as chunks:
            with self._calls("download", key):
                try:
                    await write_atomic(Path(path), chunks, if_absent=False)
                except OSError as exc:
                    if isinstance(exc, aiohttp.ClientError | TimeoutError):
                        raise
                    raise StoreError(f"cannot write {path}: {exc.strerror or exc}", key=key) from exc

    async def _head(self, key: str, full: str, action: str) -> dict[str, Any] | None:
        try:
            resp: dict[str, Any] = await self._client.head_object(Bucket=self._bucket, Key=full)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise self._error(exc, action, key) from exc
        except _TRANSPORT_ERRORS as exc:
            raise self._error(exc, action, key) from exc
        return resp

    async def stat(self, key: str) -> ObjectInfo | None:
        head = await self._head(key, self._full(key), "stat")
        if head is None:
            return None
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            modified=head.get("LastModified"),
            retain_until=head.get("ObjectLockRetainUntilDate"),
        )

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        check_prefix(prefix)
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        return self._list(prefix)

    async def _list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        # S3 returns keys in UTF-8 byte order; for the ASCII key alphabet that is str order.
        paginator = self._client.get_paginator("list_objects_v2")
        skip = len(self._prefix)
        with self._calls(f"list {prefix!r} in"):
            async for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix):
                for obj in page.get("Contents", ()):
                    key = obj["Key"][skip:]
                    if is_key(key):  # e.g. "folder/" placeholders are not objects of ours
                        yield ObjectInfo(key=key, size=int(obj["Size"]), modified=obj.get("LastModified"))

    # -- deleting -------------------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        full = self._full(key)
        head = await self._head(key, full, "delete")
        if head is None:
            return
        retain: datetime | None = head.get("ObjectLockRetainUntilDate")
        held = head.get("ObjectLockLegalHoldStatus") == "ON"
        if held or (retain is not None and retain > datetime.now(UTC)):
            raise self._locked(key, retain, held)
        try:
            await self._client.delete_object(Bucket=self._bucket, Key=full)
        except ClientError as exc:
            if _code(exc) in _DENIED and (retain is not None or head.get("ObjectLockMode")):
                raise self._locked(key, retain, held) from exc
            raise self._error(exc, "delete", key) from exc
        except _TRANSPORT_ERRORS as exc:
            raise self._error(exc, "delete", key) from exc

    def _locked(self, key: str, retain: datetime | None, held: bool) -> ObjectLocked:
        why = []
        if retain is not None:
            why.append(f"retained until {retain.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
        if held:
            why.append("under a legal hold")
        reason = " and ".join(why) or "locked"
        return ObjectLocked(
            f"cannot delete {key!r} from {self.url}: S3 Object Lock, {reason}",
            key=key,
            retain_until=retain,
            legal_hold=held,
        )

    async def cleanup_temporary(self, older_than: float) -> int:
        """Abort the multipart uploads under the prefix started more than ``older_than`` seconds ago.

        An upload a killed writer never completed nor aborted stays invisible and billed until
        aborted (a bucket lifecycle rule AbortIncompleteMultipartUpload does the same, later).
        """
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        removed = 0
        paginator = self._client.get_paginator("list_multipart_uploads")
        with self._calls("list the unfinished uploads in"):
            async for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix):
                for upload in page.get("Uploads", ()):
                    started = upload.get("Initiated")
                    key = str(upload["Key"])[len(self._prefix) :]
                    if isinstance(started, datetime) and started < cutoff and is_key(key):
                        await self._abort(key, str(upload["Key"]), str(upload["UploadId"]))
                        removed += 1
        return removed

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._stack.aclose()


def _size_of(source: BinaryIO | Path) -> int:
    return os.stat(source).st_size if isinstance(source, Path) else os.fstat(source.fileno()).st_size


def _open_binary(path: Path) -> BinaryIO:
    return open(path, "rb")


def _close(f: BinaryIO) -> None:
    f.close()
