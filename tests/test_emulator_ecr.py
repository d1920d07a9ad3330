"""The emulator's ECR: the stock AWS CLI and boto3 push, describe, pull and are refused like ECR."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from archiver.testing import Emulator, EmulatorConfig, SeedError

MIB = 1024 * 1024
SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
AWS = str(Path(sys.executable).parent / "aws") if (Path(sys.executable).parent / "aws").exists() else None
AWS = AWS or shutil.which("aws")


@pytest.fixture(name="emulator")
def emulator_fixture() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        yield emu


def ecr_client(url: str, account: str = "123456789012", region: str = "us-east-1") -> Any:
    return boto3.session.Session().client(
        "ecr",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="testing-secret",
    )


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(ecr: Any, repo: str, data: bytes, part: int = 6 * MIB) -> str:
    """The layer-upload API, in parts of ``part`` bytes; returns the digest ECR computed."""
    upload = ecr.initiate_layer_upload(repositoryName=repo)
    for first in range(0, len(data), part):
        piece = data[first : first + part]
        answer = ecr.upload_layer_part(
            repositoryName=repo,
            uploadId=upload["uploadId"],
            partFirstByte=first,
            partLastByte=first + len(piece) - 1,
            layerPartBlob=piece,
        )
        assert answer["lastByteReceived"] == first + len(piece) - 1
    done = ecr.complete_layer_upload(
        repositoryName=repo, uploadId=upload["uploadId"], layerDigests=[sha(data)]
    )
    return str(done["layerDigest"])


def manifest_of(config: bytes, layers: list[bytes]) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": sha(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(x),
                    "digest": sha(x),
                }
                for x in layers
            ],
        },
        indent=3,
    )


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed")
def test_push_with_boto3_then_describe_pull_and_download_with_the_aws_cli(emulator: Emulator) -> None:
    assert AWS is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="123456789012", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")

    def aws(*args: str) -> Any:
        done = subprocess.run(
            [AWS, "ecr", *args, "--endpoint-url", emulator.url, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    created = aws("create-repository", "--repository-name", "tools/bwa")["repository"]
    assert created["repositoryUri"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/tools/bwa"
    assert created["repositoryArn"] == "arn:aws:ecr:us-east-1:123456789012:repository/tools/bwa"

    ecr = ecr_client(emulator.url)
    big = os.urandom(7 * MIB + 123)  # two parts: 6 MiB, then the rest
    config = b'{"architecture":"amd64","os":"linux"}'
    assert push_blob(ecr, "tools/bwa", big) == sha(big)
    assert push_blob(ecr, "tools/bwa", config) == sha(config)
    manifest = manifest_of(config, [big])
    pushed = ecr.put_image(repositoryName="tools/bwa", imageManifest=manifest, imageTag="0.7.17")
    digest = sha(manifest.encode())
    assert pushed["image"]["imageId"] == {"imageDigest": digest, "imageTag": "0.7.17"}

    details = aws("describe-images", "--repository-name", "tools/bwa")["imageDetails"]
    assert [(d["imageDigest"], d["imageTags"], d["imageSizeInBytes"]) for d in details] == [
        (digest, ["0.7.17"], len(big))
    ]
    got = aws("batch-get-image", "--repository-name", "tools/bwa", "--image-ids", "imageTag=0.7.17")
    assert got["failures"] == []
    assert got["images"][0]["imageManifest"] == manifest
    assert sha(got["images"][0]["imageManifest"].encode()) == digest
    missing = ecr.batch_get_image(repositoryName="tools/bwa", imageIds=[{"imageTag": "nope"}])
    assert missing["failures"][0]["failureCode"] == "ImageNotFound"

    url = aws("get-download-url-for-layer", "--repository-name", "tools/bwa", "--layer-digest", sha(big))
    with urllib.request.urlopen(url["downloadUrl"], timeout=30) as response:
        hasher, size = hashlib.sha256(), 0
        while chunk := response.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
    assert ("sha256:" + hasher.hexdigest(), size) == (sha(big), len(big))
    token = ecr.get_authorization_token()["authorizationData"][0]
    assert token["proxyEndpoint"] == "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"


def test_uploads_are_checked_like_ecr(emulator: Emulator) -> None:
    ecr = ecr_client(emulator.url)
    ecr.create_repository(repositoryName="tools/x")
    data = b"layer bytes"

    upload = ecr.initiate_layer_upload(repositoryName="tools/x")["uploadId"]
    ecr.upload_layer_part(
        repositoryName="tools/x", uploadId=upload, partFirstByte=0, partLastByte=4, layerPartBlob=data[:5]
    )
    with pytest.raises(ClientError) as gap:  # a part must continue where the last one ended
        ecr.upload_layer_part(
            repositoryName="tools/x",
            uploadId=upload,
            partFirstByte=6,
            partLastByte=10,
            layerPartBlob=data[6:],
        )
    assert gap.value.response["Error"]["Code"] == "InvalidLayerPartException"
    assert gap.value.response["lastValidByteReceived"] == 4
    ecr.upload_layer_part(
        repositoryName="tools/x", uploadId=upload, partFirstByte=5, partLastByte=10, layerPartBlob=data[5:]
    )
    with pytest.raises(ClientError) as small:  # a first part under 5 MiB
        ecr.complete_layer_upload(repositoryName="tools/x", uploadId=upload, layerDigests=[sha(data)])
    assert small.value.response["Error"]["Code"] == "LayerPartTooSmallException"

    upload = ecr.initiate_layer_upload(repositoryName="tools/x")["uploadId"]
    ecr.upload_layer_part(
        repositoryName="tools/x", uploadId=upload, partFirstByte=0, partLastByte=10, layerPartBlob=data
    )
    with pytest.raises(ClientError) as wrong:  # the digest is computed from the bytes
        ecr.complete_layer_upload(repositoryName="tools/x", uploadId=upload, layerDigests=[sha(b"other")])
    assert wrong.value.response["Error"]["Code"] == "InvalidLayerException"
    assert ecr.batch_check_layer_availability(repositoryName="tools/x", layerDigests=[sha(data)])[
        "failures"
    ] == [
        {
            "layerDigest": sha(data),
            "failureCode": "MissingLayerDigest",
            "failureReason": "Could not find layer",
        }
    ]
    with pytest.raises(ClientError) as gone:  # a completed (even refused) upload is consumed
        ecr.complete_layer_upload(repositoryName="tools/x", uploadId=upload, layerDigests=[sha(data)])
    assert gone.value.response["Error"]["Code"] == "UploadNotFoundException"

    upload = ecr.initiate_layer_upload(repositoryName="tools/x")["uploadId"]
    with pytest.raises(ClientError) as big:  # the quota's 10 MiB, harsher than the model's 20 MiB
        ecr.upload_layer_part(
            repositoryName="tools/x",
            uploadId=upload,
            partFirstByte=0,
            partLastByte=10 * MIB,
            layerPartBlob=bytes(10 * MIB + 1),
        )
    assert big.value.response["Error"]["Code"] == "InvalidLayerPartException"

    with pytest.raises(ClientError) as layers:
        ecr.put_image(repositoryName="tools/x", imageManifest=manifest_of(b"{}", [data]), imageTag="1")
    assert layers.value.response["Error"]["Code"] == "LayersNotFoundException"
    with pytest.raises(ClientError) as invalid:  # model constraints answer InvalidParameterException
        ecr.create_repository(repositoryName="Tools/UPPER")
    assert invalid.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as foreign:  # another account's registry is not visible
        ecr_client(emulator.url, account="210987654321").describe_repositories(repositoryNames=["tools/x"])
    assert foreign.value.response["Error"]["Code"] == "RepositoryNotFoundException"


def test_json_protocol_errors_signing_and_expired_layer_urls(emulator: Emulator) -> None:
    def post(service: str | None) -> tuple[int, dict[str, Any]]:
        request = AWSRequest(
            method="POST",
            url=emulator.url + "/",
            data=b'{"repositoryName": "nope"}',
            headers={
                "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeImages",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        if service is not None:
            SigV4Auth(Credentials("123456789012", "testing-secret"), service, "us-east-1").add_auth(request)
        prepared = urllib.request.Request(request.url, data=request.body, headers=dict(request.headers))
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(prepared, timeout=10)
        return answer.value.code, json.loads(answer.value.read())

    status, body = post("ecr")
    assert status == 400 and body["__type"] == "RepositoryNotFoundException" and "nope" in body["message"]
    assert post(None)[1]["__type"] == "MissingAuthenticationTokenException"
    assert post("omics")[1]["__type"] == "InvalidSignatureException"  # ECR checks the signing name ecr

    ecr = ecr_client(emulator.url)
    ecr.create_repository(repositoryName="tools/y")
    digest = push_blob(ecr, "tools/y", b"abc")
    emulator.configure(faults=emulator.config.faults.__class__(expire_early_rate=1.0))
    url = ecr.get_download_url_for_layer(repositoryName="tools/y", layerDigest=digest)["downloadUrl"]
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(url, timeout=10)
    assert expired.value.code == 403 and b"Request has expired" in expired.value.read()


def test_tags_move_in_mutable_repositories_and_not_in_immutable_ones(emulator: Emulator) -> None:
    ecr = ecr_client(emulator.url)
    for name, mutability in (("m/r", "MUTABLE"), ("i/r", "IMMUTABLE")):
        ecr.create_repository(repositoryName=name, imageTagMutability=mutability)
        config = push_blob(ecr, name, b"{}")
        assert config == sha(b"{}")
        layer_a, layer_b = b"a" * 10, b"b" * 10
        push_blob(ecr, name, layer_a)
        push_blob(ecr, name, layer_b)
        first = manifest_of(b"{}", [layer_a])
        ecr.put_image(repositoryName=name, imageManifest=first, imageTag="latest")
        second = manifest_of(b"{}", [layer_b])
        if mutability == "IMMUTABLE":
            with pytest.raises(ClientError) as refused:
                ecr.put_image(repositoryName=name, imageManifest=second, imageTag="latest")
            assert refused.value.response["Error"]["Code"] == "ImageTagAlreadyExistsException"
            continue
        ecr.put_image(repositoryName=name, imageManifest=second, imageTag="latest")
        tagged = ecr.describe_images(repositoryName=name, filter={"tagStatus": "TAGGED"})["imageDetails"]
        assert [d["imageDigest"] for d in tagged] == [sha(second.encode())]
        deleted = ecr.batch_delete_image(repositoryName=name, imageIds=[{"imageDigest": sha(first.encode())}])
        assert deleted["imageIds"] == [{"imageDigest": sha(first.encode())}]
        assert len(ecr.describe_images(repositoryName=name)["imageDetails"]) == 1
        with pytest.raises(ClientError) as not_empty:  # a repository with images goes only with force
            ecr.delete_repository(repositoryName=name)
        assert not_empty.value.response["Error"]["Code"] == "RepositoryNotEmptyException"
        ecr.delete_repository(repositoryName=name, force=True)
        assert name not in [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]


def test_seeded_images_have_stable_digests(tmp_path: Path) -> None:
    digests = []
    for _ in range(2):
        with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
            ecr = ecr_client(emu.url)
            image = ecr.batch_get_image(repositoryName="deepvariant", imageIds=[{"imageTag": "1.6.1-gpu"}])
            digests.append(image["images"][0]["imageId"]["imageDigest"])
            layers = json.loads(image["images"][0]["imageManifest"])["layers"]
            url = ecr.get_download_url_for_layer(
                repositoryName="deepvariant", layerDigest=layers[0]["digest"]
            )
            with urllib.request.urlopen(url["downloadUrl"], timeout=10) as response:
                assert sha(response.read()) == layers[0]["digest"]
    assert digests[0] == digests[1]

    bad = tmp_path / "accounts" / "123456789012" / "us-east-1"
    bad.mkdir(parents=True)
    (bad / "images.json").write_text('{"repositories": [{"name": "xx", "images": [{"layers": []}]}]}')
    with pytest.raises(SeedError, match="layers must be a non-empty list"):
        Emulator(seed_dir=tmp_path).start()
