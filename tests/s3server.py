"""A moto S3 (and KMS) server for tests, shared by every test module that needs S3.

Why a real HTTP server rather than ``mock_aws``: the store talks to S3 through aiobotocore and
aiohttp, which moto's in-process patching does not reach. As aiobotocore's own tests do, the server
runs on its own thread, bound to 127.0.0.1 port 0 (the OS picks a free port), once per session.

Use it from a test module with::

    pytest_plugins = ("tests.s3server",)

and then request ``moto_server`` (the endpoint URL), ``s3_bucket`` or ``s3_lock_bucket`` (each a
fresh bucket: ``(endpoint_url, bucket_name)``). The autouse fixture in ``tests/conftest.py`` sets
fake credentials, so boto3 and aiobotocore clients pointed at the endpoint just work.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

__all__ = ["make_bucket", "moto_server", "s3_bucket", "s3_lock_bucket"]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 for the whole session; yields its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def make_bucket(endpoint_url: str, *, object_lock: bool = False) -> str:
    """Create a bucket with a fresh name on the moto server and return the name."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
    try:
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
    finally:
        s3.close()
    return name


@pytest.fixture
def s3_bucket(moto_server: str) -> tuple[str, str]:
    """A fresh, empty bucket: ``(endpoint_url, bucket)``."""
    return moto_server, make_bucket(moto_server)


@pytest.fixture
def s3_lock_bucket(moto_server: str) -> tuple[str, str]:
    """A fresh bucket with Object Lock enabled (hence versioned): ``(endpoint_url, bucket)``."""
    return moto_server, make_bucket(moto_server, object_lock=True)
