"""Contract tests of the emulator's workflow and version operations through stock boto3."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archiver.testing import Emulator
from tests.emulator_helpers import (  # noqa: F401
    create_active,
    emulator_fixture,
    eventually,
    make_zip,
    omics_client,
    omics_fixture,
    problems_fixture,
)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_create_get_list_update_delete(omics: Any) -> None:
    created = omics.create_workflow(
        name="hello",
        description="first",
        engine="WDL",
        definitionZip=make_zip(),
        main="main.wdl",
        parameterTemplate={"x": {"description": "an input", "optional": True}},
        storageType="STATIC",
        storageCapacity=1200,
        accelerators="GPU",
        tags={"team": "a"},
        containerRegistryMap={"imageMappings": [{"sourceImage": "a", "destinationImage": "b"}]},
        readmeMarkdown="# Hello",
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["status"] == "CREATING"
    assert created["arn"] == f"arn:aws:omics:us-east-1:123456789012:workflow/{created['id']}"
    assert len(created["id"]) == 7 and created["id"].isdigit()
    workflow = omics.get_workflow(id=created["id"])
    assert workflow["status"] == "ACTIVE"
    assert workflow["uuid"] == created["uuid"]
    assert workflow["digest"].startswith("sha256:") and len(workflow["digest"]) == 71
    assert "definition" not in workflow and "readme" not in workflow
    assert workflow["parameterTemplate"] == {"x": {"description": "an input", "optional": True}}
    assert workflow["containerRegistryMap"]["imageMappings"][0]["destinationImage"] == "b"
    assert (workflow["storageType"], workflow["storageCapacity"], workflow["accelerators"]) == (
        "STATIC",
        1200,
        "GPU",
    )

    listed = omics.list_workflows()["items"]
    assert [(w["id"], w["digest"]) for w in listed] == [(created["id"], workflow["digest"])]
    assert "uuid" not in listed[0]

    update = omics.update_workflow(
        id=created["id"], name="renamed", description="second", readmeMarkdown="new"
    )
    assert update["ResponseMetadata"]["HTTPStatusCode"] == 202
    after = omics.get_workflow(id=created["id"])
    assert (after["name"], after["description"], after["digest"]) == ("renamed", "second", workflow["digest"])
    assert after["status"] == "UPDATING"  # for update_delay (default 0.05 s)
    with pytest.raises(ClientError) as exc:
        omics.delete_workflow(id=created["id"])
    assert error_of(exc) == ("ConflictException", 409)
    assert (
        eventually(lambda: omics.get_workflow(id=created["id"]), lambda w: w["status"] != "UPDATING")[
            "status"
        ]
        == "ACTIVE"
    )

    deleted = omics.delete_workflow(id=created["id"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    # DELETED for deleted_linger (default 0.5 s), in Get and List; then gone
    assert omics.get_workflow(id=created["id"])["status"] == "DELETED"
    assert [w["status"] for w in omics.list_workflows()["items"]] == ["DELETED"]
    with pytest.raises(ClientError) as exc:
        eventually(lambda: omics.get_workflow(id=created["id"]), lambda w: False, timeout=5)
    assert error_of(exc) == ("ResourceNotFoundException", 404)
    assert omics.list_workflows()["items"] == []


def test_versions_are_independent_and_must_go_first(omics: Any) -> None:
    workflow_id = create_active(omics, engine="WDL")
    version = omics.create_workflow_version(
        workflowId=workflow_id,
        versionName="1.0.0",
        definitionZip=make_zip({"other.wdl": "version 1.0\n"}),
        engine="WDL",
        description="v1",
        storageType="DYNAMIC",
        tags={"release": "1"},
    )
    assert version["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert version["arn"].endswith(f"workflow/{workflow_id}/version/1.0.0")
    got = omics.get_workflow_version(workflowId=workflow_id, versionName="1.0.0")
    assert got["status"] == "ACTIVE" and got["main"] == "other.wdl" and got["uuid"] == version["uuid"]
    assert got["uuid"] != omics.get_workflow(id=workflow_id)["uuid"]
    assert "parameterTemplate" not in got

    omics.update_workflow_version(workflowId=workflow_id, versionName="1.0.0", description="changed")
    changed = omics.get_workflow_version(workflowId=workflow_id, versionName="1.0.0")
    assert (changed["description"], changed["status"]) == ("changed", "UPDATING")
    with pytest.raises(ClientError) as exc:
        omics.delete_workflow_version(workflowId=workflow_id, versionName="1.0.0")
    assert error_of(exc) == ("ConflictException", 409)
    eventually(
        lambda: omics.get_workflow_version(workflowId=workflow_id, versionName="1.0.0"),
        lambda v: v["status"] == "ACTIVE",
    )
    with pytest.raises(ClientError) as exc:
        omics.create_workflow_version(workflowId=workflow_id, versionName="1.0.0", definitionZip=make_zip())
    assert error_of(exc) == ("ConflictException", 409)
    with pytest.raises(ClientError) as exc:
        omics.delete_workflow(id=workflow_id)
    assert error_of(exc) == ("ConflictException", 409)
    omics.delete_workflow_version(workflowId=workflow_id, versionName="1.0.0")
    assert omics.get_workflow_version(workflowId=workflow_id, versionName="1.0.0")["status"] == "DELETED"
    listed = omics.list_workflow_versions(workflowId=workflow_id)["items"]
    assert [(v["versionName"], v["status"]) for v in listed] == [("1.0.0", "DELETED")]
    omics.delete_workflow(id=workflow_id)
    with pytest.raises(ClientError) as exc:
        eventually(
            lambda: omics.get_workflow_version(workflowId=workflow_id, versionName="1.0.0"),
            lambda v: False,
            timeout=5,
        )
    assert error_of(exc) == ("ResourceNotFoundException", 404)


def test_create_is_asynchronous_with_delay(emulator: Emulator, omics: Any) -> None:
    emulator.configure(create_delay=0.3)
    created = omics.create_workflow(name="slow", definitionZip=make_zip())
    assert omics.get_workflow(id=created["id"])["status"] == "CREATING"
    time.sleep(0.35)
    assert omics.get_workflow(id=created["id"])["status"] == "ACTIVE"


@pytest.mark.parametrize(
    ("files", "main", "fragment"),
    [
        (None, "missing.wdl", "not found"),
        ({"a.wdl": "", "b.wdl": ""}, None, "specify main"),
        ("not a zip", None, "not a valid ZIP"),
    ],
)
def test_invalid_definitions_end_failed(omics: Any, files: Any, main: str | None, fragment: str) -> None:
    data = files.encode() if isinstance(files, str) else make_zip(files)
    kwargs = {"main": main} if main else {}
    created = omics.create_workflow(name="bad", engine="WDL", definitionZip=data, **kwargs)
    got = omics.get_workflow(id=created["id"], export=["DEFINITION"])
    assert got["status"] == "FAILED"
    assert fragment in got["statusMessage"]
    assert "definition" not in got


def test_request_id_is_an_idempotency_token(omics: Any) -> None:
    first = omics.create_workflow(name="idem", definitionZip=make_zip(), requestId="req-1")
    again = omics.create_workflow(name="idem", definitionZip=make_zip(), requestId="req-1")
    assert (again["id"], again["uuid"]) == (first["id"], first["uuid"])
    assert len(omics.list_workflows()["items"]) == 1
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="other", definitionZip=make_zip(), requestId="req-1")
    assert error_of(exc) == ("ConflictException", 409)
    version = omics.create_workflow_version(
        workflowId=first["id"], versionName="v1", definitionZip=make_zip(), requestId="r"
    )
    repeat = omics.create_workflow_version(
        workflowId=first["id"], versionName="v1", definitionZip=make_zip(), requestId="r"
    )
    assert repeat["uuid"] == version["uuid"]


def test_definition_source_rules(emulator: Emulator, omics: Any) -> None:
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="none")
    assert error_of(exc) == ("ValidationException", 400)
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="two", definitionZip=make_zip(), definitionUri="s3://bucket/key.zip")
    assert error_of(exc) == ("ValidationException", 400)
    emulator.configure(definition_zip_max_bytes=100)
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="big", definitionZip=make_zip({"main.wdl": "x" * 200}))
    assert error_of(exc) == ("ValidationException", 400)
    assert "limit" in exc.value.response["Error"]["Message"]


def test_inline_limit_is_4_4_mb(omics: Any) -> None:
    just_over = b"\0" * 4_400_001
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="big", definitionZip=just_over)
    assert error_of(exc) == ("ValidationException", 400)


def test_pagination_with_opaque_tokens(omics: Any) -> None:
    ids = [omics.create_workflow(name=f"wf{i}", definitionZip=make_zip())["id"] for i in range(5)]
    first = omics.list_workflows(maxResults=2)
    assert len(first["items"]) == 2 and first["nextToken"]
    pages = omics.get_paginator("list_workflows").paginate(PaginationConfig={"PageSize": 2})
    assert [w["id"] for page in pages for w in page["items"]] == ids
    with pytest.raises(ClientError) as exc:
        omics.list_workflows(startingToken="bogus-token")
    assert error_of(exc) == ("ValidationException", 400)
    for i in range(3):
        omics.create_workflow_version(workflowId=ids[0], versionName=f"v{i}", definitionZip=make_zip())
    versions = omics.get_paginator("list_workflow_versions").paginate(
        workflowId=ids[0], PaginationConfig={"PageSize": 1}
    )
    assert [v["versionName"] for page in versions for v in page["items"]] == ["v0", "v1", "v2"]
    assert [w["name"] for w in omics.list_workflows(name="wf3")["items"]] == ["wf3"]


def test_tags_on_workflows_and_versions(omics: Any) -> None:
    workflow_id = create_active(omics, tags={"a": "1"})
    arn = omics.get_workflow(id=workflow_id)["arn"]
    tagged = omics.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert omics.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    omics.untag_resource(resourceArn=arn, tagKeys=["a", "missing"])
    assert omics.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    version_arn = omics.create_workflow_version(
        workflowId=workflow_id, versionName="v", definitionZip=make_zip()
    )["arn"]
    omics.tag_resource(resourceArn=version_arn, tags={"v": "x"})
    assert omics.list_tags_for_resource(resourceArn=version_arn)["tags"] == {"v": "x"}
    with pytest.raises(ClientError) as exc:
        omics.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    assert error_of(exc) == ("ValidationException", 400)
    with pytest.raises(ClientError) as exc:
        omics.list_tags_for_resource(resourceArn=arn.replace(workflow_id, "9999999"))
    assert error_of(exc) == ("ResourceNotFoundException", 404)


def test_state_is_per_account_and_region(emulator: Emulator, omics: Any, problems: list[str]) -> None:
    workflow_id = create_active(omics)
    west = omics_client(emulator.url, problems, region="us-west-2")
    other = omics_client(emulator.url, problems, account="210987654321")
    try:
        assert west.list_workflows()["items"] == []
        assert other.list_workflows()["items"] == []
        with pytest.raises(ClientError) as exc:
            other.get_workflow(id=workflow_id)
        assert error_of(exc) == ("ResourceNotFoundException", 404)
        made = west.create_workflow(name="w", definitionZip=make_zip())
        assert made["arn"].startswith("arn:aws:omics:us-west-2:123456789012:workflow/")
    finally:
        west.close()
        other.close()


def test_version_quota(omics: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.testing import _ops

    workflow_id = create_active(omics)
    monkeypatch.setattr(_ops, "MAX_VERSIONS", 2)
    for name in ("a", "b"):
        omics.create_workflow_version(workflowId=workflow_id, versionName=name, definitionZip=make_zip())
    with pytest.raises(ClientError) as exc:
        omics.create_workflow_version(workflowId=workflow_id, versionName="c", definitionZip=make_zip())
    assert error_of(exc) == ("ServiceQuotaExceededException", 402)
