"""What only the ``s3://`` store does: SSE-KMS, Object Lock, multipart limits, URL and error mapping.

Calls the store makes are observed through botocore's event hooks on the store's client (recording
fakes, not ``mock.patch``); the objects themselves are checked with a plain boto3 client on moto.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError

from archiver import ObjectLocked, StoreError, UsageError
from archiver.store import S3Store, Store, StoreOptions, open_store

pytest_plugins = ("tests.s3server",)

MiB = 1 << 20


@pytest.fixture
def s3(moto_server: str) -> Iterator[Any]:
    client = boto3.client("s3", endpoint_url=moto_server)
    yield client
    client.close()


def events(store: Store) -> Any:
    return cast(S3Store, store)._client.meta.events


def pending_uploads(s3: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def write(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


async def test_sse_kms_on_every_put(s3_bucket: tuple[str, str], s3: Any, tmp_path: Path) -> None:
    endpoint, bucket = s3_bucket
    kms = boto3.client("kms", endpoint_url=endpoint)
    key_id = kms.create_key(Description="archive")["KeyMetadata"]["KeyId"]
    kms.close()
    options = StoreOptions(endpoint_url=endpoint, kms_key_id=key_id, part_size=5 * MiB)
    async with open_store(f"s3://{bucket}/enc", options) as store:
        await store.put_bytes("small", b"1")
        await store.put_file("file", write(tmp_path / "f", 1000))
        await store.put_file("multipart", write(tmp_path / "m", 11 * MiB))
    for key in ("small", "file", "multipart"):
        head = s3.head_object(Bucket=bucket, Key=f"enc/{key}")
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert head["SSEKMSKeyId"].endswith(key_id), key


async def test_object_lock_retention_and_delete_refused(s3_lock_bucket: tuple[str, str], s3: Any) -> None:
    endpoint, bucket = s3_lock_bucket
    options = StoreOptions(endpoint_url=endpoint, object_lock_days=2)
    sent: list[dict[str, Any]] = []
    async with open_store(f"s3://{bucket}", options) as store:
        events(store).register(
            "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
        )
        assert await store.put_bytes("snapshots/s1.json", b"{}") is True
        info = await store.stat("snapshots/s1.json")
        assert info is not None and info.retain_until is not None
        expected = datetime.now(UTC) + timedelta(days=2)
        assert abs(info.retain_until - expected) < timedelta(minutes=5)
        with pytest.raises(ObjectLocked) as refused:
            await store.delete("snapshots/s1.json")
        assert refused.value.key == "snapshots/s1.json"
        assert "snapshots/s1.json" in str(refused.value)
        assert f"{info.retain_until:%Y-%m-%d}" in str(refused.value)
        assert refused.value.retain_until == info.retain_until and not refused.value.legal_hold
        assert [i.key async for i in store.list()] == ["snapshots/s1.json"]  # still there, not hidden
    head = s3.head_object(Bucket=bucket, Key="snapshots/s1.json")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    # Object Lock puts need a body checksum (Content-MD5 or x-amz-checksum-*): always sent.
    assert any("x-amz-checksum-crc32" in {k.lower() for k in h} for h in sent)


async def test_legal_hold_refuses_delete(s3_lock_bucket: tuple[str, str], s3: Any) -> None:
    endpoint, bucket = s3_lock_bucket
    async with open_store(f"s3://{bucket}/p", StoreOptions(endpoint_url=endpoint)) as store:
        await store.put_bytes("held", b"1")
        s3.put_object_legal_hold(Bucket=bucket, Key="p/held", LegalHold={"Status": "ON"})
        with pytest.raises(ObjectLocked, match="legal hold") as refused:
            await store.delete("held")
        assert refused.value.legal_hold
        await store.put_bytes("free", b"1")
        await store.delete("free")
        assert await store.stat("free") is None


async def test_multipart_carries_lock_and_kms_parameters(
    s3_lock_bucket: tuple[str, str], tmp_path: Path
) -> None:
    # moto ignores Object Lock parameters on CreateMultipartUpload, so check what is sent.
    endpoint, bucket = s3_lock_bucket
    options = StoreOptions(
        endpoint_url=endpoint, object_lock_days=1, object_lock_mode="GOVERNANCE", part_size=5 * MiB
    )
    calls: list[dict[str, Any]] = []
    async with open_store(f"s3://{bucket}", options) as store:
        events(store).register(
            "before-call.s3.CreateMultipartUpload", lambda params, **_: calls.append(dict(params))
        )
        assert await store.put_file("big", write(tmp_path / "big", 6 * MiB)) is True
    assert len(calls) == 1
    assert calls[0]["headers"]["x-amz-object-lock-mode"] == "GOVERNANCE"
    assert "x-amz-object-lock-retain-until-date" in calls[0]["headers"]


async def test_multipart_concurrency_is_bounded(s3_bucket: tuple[str, str], s3: Any, tmp_path: Path) -> None:
    endpoint, bucket = s3_bucket
    options = StoreOptions(endpoint_url=endpoint, part_size=5 * MiB, max_concurrency=2)
    in_flight = peak = parts = 0

    def before(**_: Any) -> None:
        nonlocal in_flight, peak, parts
        in_flight += 1
        parts += 1
        peak = max(peak, in_flight)

    def after(**_: Any) -> None:
        nonlocal in_flight
        in_flight -= 1

    async with open_store(f"s3://{bucket}", options) as store:
        events(store).register("before-call.s3.UploadPart", before)
        events(store).register("after-call.s3.UploadPart", after)
        assert await store.put_file("k", write(tmp_path / "f", 26 * MiB)) is True
    assert parts == 6
    assert peak == 2
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 26 * MiB


async def test_failed_part_aborts_the_upload(s3_bucket: tuple[str, str], s3: Any, tmp_path: Path) -> None:
    endpoint, bucket = s3_bucket

    def fail_third(params: dict[str, Any], **_: Any) -> None:
        if (
            "partNumber=3" in params.get("url_path", "")
            or params.get("query_string", {}).get("partNumber") == 3
        ):
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "UploadPart")

    async with open_store(f"s3://{bucket}", StoreOptions(endpoint_url=endpoint, part_size=5 * MiB)) as store:
        events(store).register("before-call.s3.UploadPart", fail_third)
        with pytest.raises(StoreError, match="InternalError") as info:
            await store.put_file("k", write(tmp_path / "f", 21 * MiB))
        assert info.value.key == "k"
        assert await store.stat("k") is None
    assert pending_uploads(s3, bucket) == []


async def test_conditional_complete_refuses_existing(
    s3_bucket: tuple[str, str], s3: Any, tmp_path: Path
) -> None:
    # Another writer wins between our HEAD and CompleteMultipartUpload: S3 itself refuses (412).
    endpoint, bucket = s3_bucket
    path = write(tmp_path / "f", 6 * MiB)
    async with open_store(
        f"s3://{bucket}/p", StoreOptions(endpoint_url=endpoint, part_size=5 * MiB)
    ) as store:
        await store.put_bytes("k", b"winner")
        s3store = cast(S3Store, store)
        assert await s3store._put_multipart("k", "p/k", path, 6 * MiB, True) is False
        assert await store.get_bytes("k") == b"winner"
    assert pending_uploads(s3, bucket) == []


async def test_conflicting_conditional_write_is_retried(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    calls = 0

    def conflict_once(**_: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ClientError(
                {"Error": {"Code": "ConditionalRequestConflict", "Message": "busy"}}, "PutObject"
            )

    async with open_store(f"s3://{bucket}", StoreOptions(endpoint_url=endpoint)) as store:
        events(store).register("before-call.s3.PutObject", conflict_once)
        assert await store.put_bytes("k", b"1") is True
        assert calls == 2


async def test_prefix_isolation_and_foreign_keys(s3_bucket: tuple[str, str], s3: Any) -> None:
    endpoint, bucket = s3_bucket
    for key in ("other/x", "archive-2/y", "archive/folder/", "archive/bad key", "archive/ok"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    async with open_store(f"s3://{bucket}/archive/", StoreOptions(endpoint_url=endpoint)) as store:
        assert store.url == f"s3://{bucket}/archive"
        await store.put_bytes("mine", b"1")
        assert [i.key async for i in store.list()] == ["mine", "ok"]
    assert s3.get_object(Bucket=bucket, Key="archive/mine")["Body"].read() == b"1"


@pytest.mark.parametrize(
    "url",
    ["ftp://host/x", "gs://bucket/x", "https://bucket.s3.amazonaws.com/x", "s3:/bucket", "s3://Bad_Bucket/x"],
)
async def test_bad_urls(url: str) -> None:
    with pytest.raises(UsageError) as info:
        async with open_store(url):
            pass
    if "://" in url and not url.startswith("s3://"):
        assert url in str(info.value) and "s3://" in str(info.value) and "file://" in str(info.value)


async def test_bad_urls_never_echo_credentials() -> None:
    for url in ("s3://AKIAEXAMPLE:hunter2secret@bucket/x", "ftp://user:hunter2secret@host/x"):
        with pytest.raises(UsageError) as info:
            async with open_store(url):
                pass
        assert "hunter2secret" not in str(info.value)
    with pytest.raises(UsageError, match="prefix"):
        async with open_store("s3://bucket-name/a//b"):
            pass


async def test_missing_bucket(moto_server: str) -> None:
    with pytest.raises(StoreError, match="no-such-bucket-4711"):
        async with open_store("s3://no-such-bucket-4711/p", StoreOptions(endpoint_url=moto_server)):
            pass


async def test_unknown_profile(moto_server: str) -> None:
    with pytest.raises(UsageError, match="nosuchprofile"):
        async with open_store(
            "s3://bucket-name", StoreOptions(endpoint_url=moto_server, profile="nosuchprofile")
        ):
            pass


def test_options_are_validated() -> None:
    with pytest.raises(UsageError, match="part_size"):
        StoreOptions(part_size=MiB)
    with pytest.raises(UsageError, match="max_concurrency"):
        StoreOptions(max_concurrency=0)
    with pytest.raises(UsageError, match="object_lock_days"):
        StoreOptions(object_lock_days=0)
    with pytest.raises(UsageError, match="object_lock_mode"):
        StoreOptions(object_lock_mode="FOREVER")  # type: ignore[arg-type]
