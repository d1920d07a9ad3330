"""aiobotocore against the emulator, on the test's own loop with ``open_emulator``."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from archiver.testing import EmulatorConfig, open_emulator
from tests.emulator_helpers import check_raw_response, make_zip


async def test_aiobotocore_workflow_round_trip() -> None:
    problems: list[str] = []
    checked: list[str] = []

    def hook(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        checked.append(operation_model.name)
        check_raw_response(operation_model, response_dict, problems)

    async with open_emulator(EmulatorConfig(quotas=None)) as emu:
        session = get_session()
        config = AioConfig(inject_host_prefix=False, retries={"total_max_attempts": 1})
        async with session.create_client(
            "omics",
            endpoint_url=emu.url,
            region_name="eu-west-1",
            aws_access_key_id="111122223333",
            aws_secret_access_key="x",
            config=config,
        ) as omics:
            omics.meta.events.register("before-parse.omics", hook)
            created = await omics.create_workflow(name="aio", definitionZip=make_zip(), tags={"a": "b"})
            assert created["arn"].startswith("arn:aws:omics:eu-west-1:111122223333:workflow/")
            got = await omics.get_workflow(id=created["id"], export=["DEFINITION"])
            assert got["status"] == "ACTIVE"
            await omics.create_workflow_version(
                workflowId=created["id"], versionName="v1", definitionZip=make_zip()
            )
            pages = [
                page
                async for page in omics.get_paginator("list_workflow_versions").paginate(
                    workflowId=created["id"]
                )
            ]
            assert [v["versionName"] for p in pages for v in p["items"]] == ["v1"]
            await omics.tag_resource(resourceArn=created["arn"], tags={"c": "d"})
            assert (await omics.list_tags_for_resource(resourceArn=created["arn"]))["tags"] == {
                "a": "b",
                "c": "d",
            }
            with pytest.raises(ClientError) as exc:
                await omics.get_workflow(id="1")
            assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
            async with aiohttp.ClientSession() as http, http.get(got["definition"]) as response:
                assert response.status == 200 and await response.read() == make_zip()
            async with aiohttp.ClientSession() as http, http.get(emu.url + "/_emulator/stats") as response:
                stats = json.loads(await response.read())
            assert stats["downloads"] == 1 and stats["calls"]["CreateWorkflow"] == 1
    assert problems == []
    assert len(checked) == 7
