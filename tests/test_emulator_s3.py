"""definitionUri / readmeUri / containerRegistryMapUri read from S3 (a moto server on a free port)."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from archiver.testing import Emulator, EmulatorConfig
from archiver.testing._config import DEFINITION_URI_MAX_BYTES
from tests.emulator_helpers import make_zip, omics_client, problems_fixture  # noqa: F401

BUCKET = "defs"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_url: str) -> Iterator[Any]:
    client = boto3.session.Session().client("s3", endpoint_url=s3_url, region_name="us-east-1")
    with contextlib.suppress(ClientError):  # the bucket outlives one test: the server is per module
        client.create_bucket(Bucket=BUCKET)
    yield client
    client.close()


@pytest.fixture
def omics(s3_url: str, problems: list[str]) -> Iterator[Any]:
    with Emulator(EmulatorConfig(quotas=None, s3_endpoint_url=s3_url)) as emu:
        client = omics_client(emu.url, problems)
        yield client
        client.close()


def test_definition_and_readme_from_s3(s3: Any, omics: Any) -> None:
    data = make_zip({"main.cwl": "cwlVersion: v1.2\n"})
    s3.put_object(Bucket=BUCKET, Key="wf/def.zip", Body=data)
    s3.put_object(Bucket=BUCKET, Key="wf/README.md", Body=b"# from s3")
    registry = {"imageMappings": [{"sourceImage": "a", "destinationImage": "b"}]}
    s3.put_object(Bucket=BUCKET, Key="wf/registry.json", Body=json.dumps(registry).encode())
    created = omics.create_workflow(
        name="s3wf",
        definitionUri=f"s3://{BUCKET}/wf/def.zip",
        readmeUri=f"s3://{BUCKET}/wf/README.md",
        containerRegistryMapUri=f"s3://{BUCKET}/wf/registry.json",
    )
    got = omics.get_workflow(id=created["id"], export=["DEFINITION", "README"])
    assert (got["status"], got["engine"], got["main"]) == ("ACTIVE", "CWL", "main.cwl")
    assert got["containerRegistryMap"] == registry
    with urllib.request.urlopen(got["definition"], timeout=10) as response:
        assert response.read() == data
    with urllib.request.urlopen(got["readme"], timeout=10) as response:
        assert response.read() == b"# from s3"
    version = omics.create_workflow_version(
        workflowId=created["id"], versionName="v2", definitionUri=f"s3://{BUCKET}/wf/def.zip"
    )
    assert omics.get_workflow_version(workflowId=created["id"], versionName="v2")["digest"] == got["digest"]
    assert version["status"] == "CREATING"


def test_definition_uri_size_limit_and_missing_objects(s3: Any, omics: Any, s3_url: str) -> None:
    assert DEFINITION_URI_MAX_BYTES == 100_000_000
    s3.put_object(Bucket=BUCKET, Key="big.zip", Body=b"\0" * 2001)
    with Emulator(EmulatorConfig(quotas=None, s3_endpoint_url=s3_url, definition_uri_max_bytes=2000)) as emu:
        client = omics_client(emu.url, [])
        try:
            with pytest.raises(ClientError) as exc:
                client.create_workflow(name="big", definitionUri=f"s3://{BUCKET}/big.zip")
        finally:
            client.close()
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "limit is 2000 bytes" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="missing", definitionUri=f"s3://{BUCKET}/nope.zip")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="bad", definitionUri="https://example.com/x.zip")
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_definition_uri_needs_an_s3_endpoint(problems: list[str]) -> None:
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        client = omics_client(emu.url, problems)
        try:
            with pytest.raises(ClientError) as exc:
                client.create_workflow(name="x", definitionUri="s3://bucket/key.zip")
        finally:
            client.close()
    assert "S3 endpoint" in exc.value.response["Error"]["Message"]
