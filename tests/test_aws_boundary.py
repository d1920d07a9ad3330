"""The AWS boundary: per-operation pacing at the quotas, error translation, partitions."""

from __future__ import annotations

import asyncio
import time

import pytest
from botocore.exceptions import ClientError
from botocore.utils import parse_timestamp

from archiver._aws import _parse_timestamp, partition_of, translate_client_error
from archiver._errors import AccessDenied, ServiceError, Throttled
from archiver._ratelimit import RateLimiter


async def test_calls_are_spaced_at_the_rate() -> None:
    limiter = RateLimiter({"GetWorkflow": 50.0})
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire("GetWorkflow") for _ in range(11)))
    elapsed = time.monotonic() - start
    # 11 calls at 50/s: the first goes at once, the last 10 intervals (0.2 s) later.
    assert 0.18 <= elapsed < 0.6
    assert limiter.statistics().calls == {"GetWorkflow": 11}


async def test_a_share_of_the_rate_for_one_of_several_processes() -> None:
    limiter = RateLimiter({"GetWorkflow": 100.0})
    limiter.share(0.25)  # one of four processes: 25/s
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire("GetWorkflow") for _ in range(6)))
    assert 0.19 <= time.monotonic() - start < 0.5  # 5 intervals of 40 ms (at 100/s: 50 ms in all)
    limiter.share(1.0)
    await asyncio.sleep(0.05)  # past the last slot of the shared rate
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire("GetWorkflow") for _ in range(6)))
    assert time.monotonic() - start < 0.17  # 50 ms at 100/s; it would be 200 ms at 25/s
    with pytest.raises(ValueError, match="rate share"):
        limiter.share(0)


async def test_operations_are_paced_independently() -> None:
    limiter = RateLimiter({"GetWorkflow": 10.0, "GetWorkflowVersion": 10.0})
    start = time.monotonic()
    await asyncio.gather(
        *(limiter.acquire("GetWorkflow") for _ in range(5)),
        *(limiter.acquire("GetWorkflowVersion") for _ in range(5)),
    )
    # Each op needs 4 intervals of 100 ms; side by side they take ~0.4 s, one after the other ~0.9 s.
    assert 0.38 <= time.monotonic() - start < 0.75


async def test_unlimited_operations_do_not_wait() -> None:
    limiter = RateLimiter(None)
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire("GetWorkflow") for _ in range(100)))
    assert time.monotonic() - start < 0.5  # paced at any rate, 100 calls would take seconds
    assert limiter.statistics().waited_seconds == {}


def test_partition_follows_the_region() -> None:
    assert partition_of("us-east-1") == "aws"
    assert partition_of("cn-north-1") == "aws-cn"
    assert partition_of("us-gov-west-1") == "aws-us-gov"


def test_client_errors_are_translated_into_the_error_tree() -> None:
    def client_error(code: str, status: int) -> ClientError:
        body = {"Error": {"Code": code, "Message": "nope"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(body, "GetWorkflow")

    denied = translate_client_error(client_error("AccessDeniedException", 403), "GetWorkflow", "workflow 1")
    assert isinstance(denied, AccessDenied)
    assert (denied.code, denied.status, denied.resource) == ("AccessDeniedException", 403, "workflow 1")
    assert str(denied) == "GetWorkflow for workflow 1 failed: AccessDeniedException: nope"
    assert isinstance(
        translate_client_error(client_error("ThrottlingException", 429), "GetWorkflow"), Throttled
    )
    other = translate_client_error(client_error("InternalServerException", 500), "GetWorkflow")
    assert type(other) is ServiceError and other.status == 500


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-24T02:08:25.167663Z",
        "2026-11-24T02:08:25Z",
        "2026-11-24T02:08:25.123+02:00",
        "2026-11-24T02:08:25",  # no offset: botocore's own rules
        "Tue, 24 Nov 2026 02:08:25 GMT",
        1795486105,
        "1795486105.5",
    ],
)
def test_timestamp_fast_path_agrees_with_botocore(value: object) -> None:
    ours, theirs = _parse_timestamp(value), parse_timestamp(value)
    assert ours == theirs
    assert (ours.tzinfo is None) == (theirs.tzinfo is None)
    if ours.tzinfo is not None:
        assert ours.utcoffset() == theirs.utcoffset()


def test_known_regions_are_those_of_botocore_endpoint_data() -> None:
    """The region check reads the small partitions.json; it must know what endpoints.json knows."""
    from aiobotocore.session import AioSession

    from archiver._aws import known_regions

    data = AioSession().get_component("data_loader").load_data("endpoints")
    named = {region for partition in data["partitions"] for region in partition.get("regions", {})}
    assert known_regions() == named and "us-east-1" in named and "aws-global" not in named
