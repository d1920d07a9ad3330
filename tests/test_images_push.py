"""Pushing archived images: the one-pass UploadLayerPart bodies, the pipelined parts, and the emulator's
fast reading of them, each checked against what botocore and ``json.loads`` would have done."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiobotocore.session import AioSession
from botocore.serialize import create_serializer
from botocore.session import get_session

from archiver._download import Downloader
from archiver._errors import ImageError
from archiver.images._layer_part import LayerPart, install
from archiver.images._oci import blob_key
from archiver.images._push import _PIECE, ImagePusher, _part_size
from archiver.images._refs import EcrImage
from archiver.store import FileStore
from archiver.testing import Emulator, EmulatorConfig
from archiver.testing._ecr_part import layer_part_document

A, B = "123456789012", "444455556666"
MIB = 1024 * 1024


def test_part_sizes_stay_within_ecr_quotas() -> None:
    largest = 10 * MIB // _PIECE * _PIECE  # 9.75 MiB: ECR's 10 MiB in whole pieces
    for size in (1, 5 * MIB, 20 * 1024 * MIB, 30 * 1024 * MIB, 4200 * largest):
        part = _part_size(size)
        assert part is not None and part % _PIECE == 0 and part % 3 == 0
        assert 5 * MIB <= part <= 10 * MIB and -(-size // part) <= 4200
    assert _part_size(4200 * largest + 1) is None  # over 39 GiB: refused with a clear error


async def test_a_layer_part_body_is_the_one_botocore_would_build(tmp_path: Path) -> None:
    raw = os.urandom(_PIECE * 2 + 1000)
    texts = (base64.b64encode(raw[:_PIECE]), base64.b64encode(raw[_PIECE:]))
    sent: list[bytes] = []
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        session = AioSession()
        session.set_credentials(A, "x")
        async with session.create_client("ecr", region_name="us-east-1", endpoint_url=emu.url) as client:
            install(client)
            client.meta.events.register(
                "before-send.ecr.UploadLayerPart", lambda request, **_: sent.append(request.body)
            )
            await client.create_repository(repositoryName="tools/x")
            upload = (await client.initiate_layer_upload(repositoryName="tools/x"))["uploadId"]
            params = {
                "repositoryName": "tools/x",
                "uploadId": upload,
                "partFirstByte": 0,
                "partLastByte": len(raw) - 1,
            }
            await client.upload_layer_part(**params, layerPartBlob=LayerPart(len(raw), texts))
            done = await client.complete_layer_upload(
                repositoryName="tools/x",
                uploadId=upload,
                layerDigests=["sha256:" + hashlib.sha256(raw).hexdigest()],
            )
    model = get_session().get_service_model("ecr").operation_model("UploadLayerPart")
    expected = create_serializer("json").serialize_to_request({**params, "layerPartBlob": raw}, model)["body"]
    assert sent == [expected]
    assert done["layerDigest"] == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_a_layer_part_without_the_handlers_is_refused_not_sent(tmp_path: Path) -> None:
    ecr = boto3.client("ecr", region_name="us-east-1", aws_access_key_id=A, aws_secret_access_key="x")
    with pytest.raises(Exception, match="layerPartBlob"):  # botocore's ParamValidationError
        ecr.upload_layer_part(
            repositoryName="tools/x",
            uploadId="0" * 8 + "-0000-0000-0000-" + "0" * 12,
            partFirstByte=0,
            partLastByte=2,
            layerPartBlob=LayerPart(3, (b"YWJj",)),
        )


def _seed(root: Path, layers: list[int]) -> Path:
    seed = root / "seed" / "accounts" / A / "us-east-1"
    seed.mkdir(parents=True)
    images = {
        "repositories": [
            {"name": "big", "images": [{"tags": ["1"], "layers": [{"size": n} for n in layers]}]}
        ]
    }
    (seed / "images.json").write_text(json.dumps(images))
    return root / "seed"


async def _archive(emu: Emulator, store: FileStore, work: Path) -> str:
    from archiver.images._copy import ImageCopier

    ecr = boto3.client(
        "ecr", endpoint_url=emu.url, region_name="us-east-1", aws_access_key_id=A, aws_secret_access_key="x"
    )
    digest = str(ecr.describe_images(repositoryName="big")["imageDetails"][0]["imageDigest"])
    session = AioSession()
    session.set_credentials(A, "x")
    async with (
        session.create_client("ecr", region_name="us-east-1", endpoint_url=emu.url) as client,
        Downloader(concurrency=2) as dl,
    ):
        await ImageCopier(store, client, dl, work).copy(
            EcrImage(A, "us-east-1", "big", "1", None), digest, "big:1"
        )
    return digest


async def _push(emu: Emulator, store: FileStore, digest: str) -> Any:
    session = AioSession()
    session.set_credentials(B, "x")
    async with session.create_client("ecr", region_name="us-west-2", endpoint_url=emu.url) as client:
        pusher = ImagePusher(store, client)
        await pusher.push(EcrImage(B, "us-west-2", "big", "1", None), digest)
    return pusher.stats


async def test_a_multi_part_layer_is_pushed_in_order_and_lands_with_the_same_digests(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "work").mkdir()
    store = FileStore(tmp_path / "store")
    with Emulator(EmulatorConfig(quotas=None), seed_dir=_seed(tmp_path, [12 * MIB + 5, 1000])) as emu:
        digest = await _archive(emu, store, tmp_path / "work")
        emu.reset_stats()
        stats = await _push(emu, store, digest)
        calls = emu.stats().calls
        again = await _push(emu, store, digest)  # everything is there: nothing uploaded
        target = boto3.client(
            "ecr",
            endpoint_url=emu.url,
            region_name="us-west-2",
            aws_access_key_id=B,
            aws_secret_access_key="x",
        )
        details = target.describe_images(repositoryName="big")["imageDetails"]
    assert [d["imageDigest"] for d in details] == [digest]
    assert stats.layers_uploaded == 3 and stats.layer_bytes_uploaded > 12 * MIB  # two layers + config
    assert calls["UploadLayerPart"] == 3 + 1 + 1  # 12 MiB in parts of 5.25 MiB, then two small blobs
    assert again.layers_uploaded == 0 and again.layers_present == 3


async def test_a_damaged_archived_layer_is_refused_by_ecr_and_reported(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "work").mkdir()
    store = FileStore(tmp_path / "store")
    with Emulator(EmulatorConfig(quotas=None), seed_dir=_seed(tmp_path, [6 * MIB])) as emu:
        digest = await _archive(emu, store, tmp_path / "work")
        manifest = json.loads(await store.get_bytes(blob_key(digest)))
        layer = manifest["layers"][0]["digest"]
        path = tmp_path / "store" / blob_key(layer)
        data = bytearray(path.read_bytes())
        data[4 * MIB] ^= 1  # same size, one bit flipped in the second part
        path.write_bytes(bytes(data))
        with pytest.raises(ImageError, match="is damaged"):
            await _push(emu, store, digest)
        target = boto3.client(
            "ecr",
            endpoint_url=emu.url,
            region_name="us-west-2",
            aws_access_key_id=B,
            aws_secret_access_key="x",
        )
        assert target.describe_images(repositoryName="big")["imageDetails"] == []


BLOB = base64.b64encode(b"layer bytes!").decode()
IDS = '"registryId": "123456789012", "repositoryName": "r", "uploadId": "u", "partFirstByte": 0'


@pytest.mark.parametrize(
    "body",
    [
        f'{{{IDS}, "layerPartBlob": "{BLOB}"}}',
        f'  {{"layerPartBlob":"{BLOB}", {IDS}}}',
        f'{{{IDS}, "layerPartBlob": ""}}',
        f'{{"x\\"layerPartBlob": "{BLOB}", "layerPartBlob": ""}}',  # the first match is inside a key
        f'{{"layerPartBlob": "{BLOB}", "layerPartBlob": ""}}',  # duplicate: the last one counts
        f'{{"layerPart\\u0042lob": "", "layerPartBlob": "{BLOB}"}}',  # an escaped duplicate
        f'{{"n": {{"layerPartBlob": "{BLOB}"}}, "layerPartBlob": "QQ=="}}',  # nested first
        f'{{"layerPartBlob": "{BLOB[:4]}\\/{BLOB[5:]}"}}',  # an escape in the value
        f'{{"layerPartBlob": "{BLOB[:-1]}"}}',  # not valid base64
        f'{{"layerPartBlob": "{BLOB}"',  # not valid JSON
        f'["layerPartBlob", "{BLOB}"]',
    ],
)
def test_the_emulators_fast_reading_of_a_part_equals_the_general_one(body: str) -> None:
    raw = body.encode()
    fast = layer_part_document(raw)
    if fast is None:
        return  # the general path answers: nothing to compare
    general = json.loads(raw)
    general["layerPartBlob"] = base64.b64decode(general["layerPartBlob"], validate=True)
    assert fast == general


def test_the_fast_reading_takes_botocores_bodies() -> None:
    for body in (f'{{{IDS}, "layerPartBlob": "{BLOB}"}}', f'  {{"layerPartBlob":"{BLOB}", {IDS}}}'):
        assert layer_part_document(body.encode()) is not None
