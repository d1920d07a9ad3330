"""The four JSON Schemas: realistic documents pass, broken ones fail at the right JSON path.

The realistic responses carry every member of botocore's GetWorkflowResponse /
GetWorkflowVersionResponse, so a field the model knows but the schema does not shows up here.
``workflow_response`` and ``version_response`` are also used by the bundle and layout tests.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from jsonschema import Draft202012Validator

from archiver import MetadataInvalid
from archiver._layout import quarantine_prefix, sanitize_metadata
from archiver._schema import SCHEMA_NAMES, check, classify, json_path, problems, schema

WORKFLOW_UUID = "0b4d2c4e-7d1f-4c1e-9a51-5f0c3b2a1d00"
VERSION_UUID = "7e1a9c3b-2f4d-4e6a-8b1c-0d2e3f4a5b6c"
DIGEST = "sha256:" + "3b" * 32
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
STATE_A = "0123456789abcdef0123456789abcdef"
STATE_B = "fedcba9876543210fedcba9876543210"
PRESIGNED = (
    "https://omics-export.s3.us-east-1.amazonaws.com/1234567/definition.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAEXAMPLE%2F20241124%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=deadbeef"
)


def _common() -> dict[str, Any]:
    return {
        "status": "ACTIVE",
        "type": "PRIVATE",
        "description": "Germline variant calling",
        "engine": "WDL",
        "definition": PRESIGNED,
        "main": "main.wdl",
        "digest": DIGEST,
        "parameterTemplate": {
            "input_bam": {"description": "Aligned reads", "optional": False},
            "ref": {"description": "Reference FASTA", "optional": True},
        },
        "storageCapacity": 1200,
        "creationTime": datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC),
        "statusMessage": "ready",
        "tags": {"owner": "genomics-team", "cost-center": "42"},
        "metadata": {"origin": "pipeline-repo"},
        "accelerators": "GPU",
        "storageType": "STATIC",
        "containerRegistryMap": {
            "registryMappings": [
                {
                    "upstreamRegistryUrl": "registry-1.docker.io",
                    "ecrRepositoryPrefix": "docker-hub",
                    "upstreamRepositoryPrefix": "library",
                    "ecrAccountId": "123456789012",
                    "credentialArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-ptc/hub-AbCd",
                }
            ],
            "imageMappings": [
                {
                    "sourceImage": "docker.io/library/ubuntu:22.04",
                    "destinationImage": ECR + "/docker-hub/ubuntu:22.04",
                }
            ],
        },
        "readme": PRESIGNED.replace("definition.zip", "README.md"),
        "definitionRepositoryDetails": {
            "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/abc-123",
            "fullRepositoryId": "example-org/germline",
            "sourceReference": {"type": "BRANCH", "value": "main"},
            "providerType": "GitHub",
            "providerEndpoint": "https://github.com",
        },
        "readmePath": "docs/README.md",
        "profiles": ["default", "small"],
        "profileParameterTemplates": {"small": {"threads": {"description": "CPU threads", "optional": True}}},
        "ResponseMetadata": {
            "RequestId": "f00",
            "HTTPStatusCode": 200,
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        },
    }


def workflow_response() -> dict[str, Any]:
    """A GetWorkflow(export=[DEFINITION, README]) response as boto3 returns it."""
    return {
        "arn": "arn:aws:omics:us-east-1:123456789012:workflow/1234567",
        "id": "1234567",
        "name": "germline",
        "uuid": WORKFLOW_UUID,
        **_common(),
    }


def version_response() -> dict[str, Any]:
    """A GetWorkflowVersion(export=[DEFINITION, README]) response as boto3 returns it."""
    return {
        "arn": "arn:aws:omics:us-east-1:123456789012:workflow/1234567/version/v2",
        "workflowId": "1234567",
        "versionName": "v2",
        "uuid": VERSION_UUID,
        "workflowBucketOwnerId": "123456789012",
        **_common(),
    }


def _model_members(operation: str) -> set[str]:
    model = botocore.session.get_session().get_service_model("omics")
    return set(model.operation_model(operation).output_shape.members)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    doc = schema(name)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize(
    ("operation", "name", "build"),
    [
        ("GetWorkflow", "workflow", workflow_response),
        ("GetWorkflowVersion", "workflow-version", version_response),
    ],
)
def test_schema_knows_every_model_member(operation: str, name: str, build: Any) -> None:
    members = _model_members(operation)
    assert members <= set(schema(name)["properties"]), members - set(schema(name)["properties"])
    assert members <= set(build()), "the realistic response must carry every model member"


@pytest.mark.parametrize(
    ("name", "build"), [("workflow", workflow_response), ("workflow-version", version_response)]
)
def test_realistic_metadata_is_accepted(name: Any, build: Any) -> None:
    meta = sanitize_metadata(build())
    assert problems(name, meta) == []
    check(name, meta)


def test_minimal_active_workflow_is_accepted() -> None:
    meta = {
        "arn": "arn:aws:omics:us-east-1:123456789012:workflow/1",
        "id": "1",
        "uuid": WORKFLOW_UUID,
        "status": "ACTIVE",
        "digest": "AbC+/0==",
        "creationTime": "2024-05-01T12:00:00Z",
    }
    check("workflow", meta)


def test_unknown_members_are_told_apart_from_wrong_ones() -> None:
    meta = sanitize_metadata(workflow_response())
    meta["aFieldFromTheFuture"] = {"anything": [1, 2, 3]}
    meta["containerRegistryMap"] = {
        "registryMappings": [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "q", "newKey": "v"}]
    }
    meta["metadata"] = {"engineVersion": {"nested": True}, "long": "x" * 300}
    found, unknown = classify("workflow", meta)
    assert found == []
    assert unknown == sorted(unknown, key=unknown.index)  # stable, no duplicates
    assert set(unknown) == {
        "$.aFieldFromTheFuture",
        "$.containerRegistryMap.registryMappings[0].newKey",
        "$.metadata.engineVersion",
        "$.metadata.long",
    }
    meta["storageCapacity"] = -1
    found, unknown = classify("workflow", meta)
    assert [p.path for p in found] == ["$.storageCapacity"]
    assert "$.aFieldFromTheFuture" in unknown


def _set(doc: dict[str, Any], path: list[str | int], value: Any) -> None:
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["uuid"], _DELETE, "$.uuid"),
        (["digest"], _DELETE, "$.digest"),
        (["creationTime"], _DELETE, "$.creationTime"),
        (["uuid"], "not-a-uuid", "$.uuid"),
        (["id"], "12a", "$.id"),
        (["arn"], "workflow/1234567", "$.arn"),
        (["status"], "BROKEN", "$.status"),
        (["engine"], "SNAKEMAKE", "$.engine"),
        (["storageType"], "ELASTIC", "$.storageType"),
        (["accelerators"], "TPU", "$.accelerators"),
        (["digest"], "", "$.digest"),
        (["digest"], "x" * 129, "$.digest"),
        (["name"], "n" * 129, "$.name"),
        (["description"], "d" * 257, "$.description"),
        (["creationTime"], "2024-05-01T12:00:00", "$.creationTime"),
        (["creationTime"], "yesterday", "$.creationTime"),
        (["storageCapacity"], "1200", "$.storageCapacity"),
        (["tags", "owner"], "v" * 257, "$.tags.owner"),
        (["tags", "k" * 129], "v", "$.tags"),
        (["tags", "owner"], 7, "$.tags.owner"),
        (["parameterTemplate", "input_bam", "optional"], "no", "$.parameterTemplate.input_bam.optional"),
        (["parameterTemplate", "input_bam", "default"], "x", "$.parameterTemplate.input_bam.default"),
        (
            ["containerRegistryMap", "registryMappings", 0, "ecrRepositoryPrefix"],
            _DELETE,
            "$.containerRegistryMap.registryMappings[0].ecrRepositoryPrefix",
        ),
        (
            ["containerRegistryMap", "registryMappings", 0, "ecrAccountId"],
            "12345",
            "$.containerRegistryMap.registryMappings[0].ecrAccountId",
        ),
        (
            ["definitionRepositoryDetails", "sourceReference", "type"],
            "PR",
            "$.definitionRepositoryDetails.sourceReference.type",
        ),
        (["definition"], PRESIGNED, "$.definition"),
        (["definition"], "http://example.com/def.zip", "$.definition"),
        (["readme"], "HTTPS://example.com/README.md", "$.readme"),
    ],
)
def test_bad_workflow_metadata_is_rejected_at_its_path(path: list[str | int], value: Any, where: str) -> None:
    meta = sanitize_metadata(workflow_response())
    _set(meta, path, value)
    found = problems("workflow", meta)
    assert found, "expected a problem"
    assert found[0].path == where, found


def test_too_many_tags() -> None:
    meta = sanitize_metadata(workflow_response())
    meta["tags"] = {f"k{i}": "v" for i in range(51)}
    assert problems("workflow", meta)[0].path == "$.tags"


def test_definition_that_is_not_a_url_is_allowed() -> None:
    meta = sanitize_metadata(workflow_response())
    meta["definition"] = "main.wdl"
    check("workflow", meta)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["versionName"], _DELETE, "$.versionName"),
        (["versionName"], "-v2", "$.versionName"),
        (["workflowId"], _DELETE, "$.workflowId"),
        (["workflowBucketOwnerId"], "me", "$.workflowBucketOwnerId"),
    ],
)
def test_bad_version_metadata_is_rejected_at_its_path(path: list[str | int], value: Any, where: str) -> None:
    meta = sanitize_metadata(version_response())
    _set(meta, path, value)
    assert problems("workflow-version", meta)[0].path == where


def test_check_raises_metadata_invalid_naming_schema_path_and_problem() -> None:
    meta = sanitize_metadata(workflow_response())
    meta["tags"]["owner"] = "v" * 300
    meta["status"] = "BROKEN"
    with pytest.raises(MetadataInvalid) as info:
        check("workflow", meta)
    err = info.value
    assert err.schema == "workflow"
    assert len(err.problems) == 2
    assert err.problems[0].path in str(err)
    assert str(err).startswith("workflow document does not match its schema at $.")
    assert "(and 1 more)" in str(err)
    assert {p.path for p in err.problems} == {"$.tags.owner", "$.status"}


def test_problem_messages_are_bounded_and_redacted() -> None:
    meta = sanitize_metadata(workflow_response())
    meta["definition"] = PRESIGNED + "x" * 1000
    (problem,) = problems("workflow", meta)
    assert len(problem.message) <= 400
    assert "deadbeef" not in problem.message


def test_json_path_spelling() -> None:
    assert json_path([]) == "$"
    assert json_path(["members", 2, "sha256"]) == "$.members[2].sha256"
    assert json_path(["tags", "cost-center"]) == "$.tags['cost-center']"
    assert json_path(["tags", "it's"]) == "$.tags['it\\'s']"


def manifest_document() -> dict[str, Any]:
    return {
        "format": "omics-archiver-bundle",
        "formatVersion": 1,
        "toolVersion": "0.1.0",
        "kind": "workflow-version",
        "stateId": "0123456789abcdef0123456789abcdef",
        "source": {
            "partition": "aws",
            "account": "123456789012",
            "region": "us-east-1",
            "arn": "arn:aws:omics:us-east-1:123456789012:workflow/1234567/version/v2",
            "workflowId": "1234567",
            "workflowUuid": WORKFLOW_UUID,
            "versionName": "v2",
            "uuid": VERSION_UUID,
            "digest": DIGEST,
            "creationTime": "2024-05-01T12:30:15.25Z",
            "status": "ACTIVE",
            "name": "germline",
        },
        "members": [
            {"name": "metadata.json", "size": 1234, "sha256": "a" * 64},
            {"name": "parameter-template.json", "size": 99, "sha256": "b" * 64},
            {"name": "definition.zip", "size": 4096, "sha256": "c" * 64},
        ],
    }


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["members", 2, "sha256"], "C" * 64, "$.members[2].sha256"),
        (["members", 1, "size"], -1, "$.members[1].size"),
        (["members", 0, "name"], "evil.sh", "$.members[0].name"),
        (["source", "extra"], "x", "$.source.extra"),
        (["source", "uuid"], _DELETE, "$.source.uuid"),
        (["kind"], "workflow", "$.source.versionName"),
        (["stateId"], "0123", "$.stateId"),
        (["formatVersion"], 3, "$.formatVersion"),
        (["formatVersion"], 2, "$.images"),  # format 2 requires the image inventory
        (["createdAt"], "2024-05-01T00:00:00Z", "$.createdAt"),
    ],
)
def test_bad_manifest_is_rejected_at_its_path(path: list[str | int], value: Any, where: str) -> None:
    doc = manifest_document()
    assert problems("manifest", doc) == []
    _set(doc, path, value)
    assert problems("manifest", doc)[0].path == where


def snapshot_document() -> dict[str, Any]:
    """The snapshot example of docs/format.md, as the pipeline writes it."""
    return {
        "format": "omics-archiver-snapshot",
        "formatVersion": 1,
        "toolVersion": "0.1.0",
        "id": "20261124T010203123456Z-1a2b3c4d",
        "runId": "20261124T010000000001Z-9f8e7d6c",
        "startedAt": "2026-11-24T01:00:00.000001Z",
        "finishedAt": "2026-11-24T01:02:03.123456Z",
        "partition": "aws",
        "account": "123456789012",
        "region": "us-east-1",
        "complete": True,
        "filters": {"workflowIds": [], "names": [], "tags": {}},
        "bundles": [
            {
                "key": f"bundles/{WORKFLOW_UUID}/workflow/sha256-{'3b' * 32}/{STATE_A}.tar.zst",
                "kind": "workflow",
                "workflowId": "1234567",
                "workflowUuid": WORKFLOW_UUID,
                "uuid": WORKFLOW_UUID,
                "name": "germline",
                "versionName": None,
                "digest": DIGEST,
                "stateId": "0123456789abcdef0123456789abcdef",
                "size": 48213,
                "sha256": "d" * 64,
                "new": True,
            },
            {
                "key": f"bundles/{WORKFLOW_UUID}/versions/{VERSION_UUID}/b64-AbC-_0/{STATE_B}.tar.zst",
                "kind": "workflow-version",
                "workflowId": "1234567",
                "workflowUuid": WORKFLOW_UUID,
                "uuid": VERSION_UUID,
                "name": "germline",
                "versionName": "v2",
                "digest": "AbC+/0==",
                "stateId": "fedcba9876543210fedcba9876543210",
                "size": 51002,
                "sha256": "e" * 64,
                "new": False,
            },
        ],
        "skipped": [
            {
                "workflowId": "7654321",
                "name": "shared-qc",
                "owner": "210987654321",
                "versionName": None,
                "reason": "shared",
            },
            {
                "workflowId": "9000001",
                "name": None,
                "owner": None,
                "versionName": None,
                "reason": "not-active",
            },
        ],
        "failed": [
            {
                "workflowId": "2345678",
                "versionName": "v1",
                "name": "rnaseq",
                "stage": "download",
                "error": "downloading the definition failed: HTTP 500",
                "code": "ExportError",
            }
        ],
        "quarantined": [
            {
                "workflowId": "3456789",
                "versionName": None,
                "prefix": quarantine_prefix(
                    "123456789012", "us-east-1", "20261124T010000000001Z-9f8e7d6c", "3456789", None
                ),
                "problems": [{"path": "$.status", "message": "'BROKEN' is not one of [...]"}],
            }
        ],
        "stats": {
            "workflows": 2,
            "versions": 1,
            "bundlesWritten": 1,
            "bytesWritten": 48213,
            "definitionBytesDownloaded": 40000,
        },
    }


def test_snapshot_example_is_accepted() -> None:
    check("snapshot", snapshot_document())


def test_snapshot_round_trips_through_json() -> None:
    doc = json.loads(json.dumps(snapshot_document()))
    assert problems("snapshot", doc) == []


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["bundles", 0, "sha256"], "xyz", "$.bundles[0].sha256"),
        (["bundles", 0, "versionName"], "v1", "$.bundles[0].versionName"),
        (["bundles", 1, "key"], "bundles/../etc/passwd", "$.bundles[1].key"),
        (["bundles", 0, "surprise"], 1, "$.bundles[0].surprise"),
        (["failed", 0, "stage"], "upload", "$.failed[0].stage"),
        (["failed", 0, "error"], "GET " + PRESIGNED, "$.failed[0].error"),
        (["skipped", 0, "owner"], "someone", "$.skipped[0].owner"),
        (["quarantined", 0, "prefix"], "elsewhere/x", "$.quarantined[0].prefix"),
        (["quarantined", 0, "problems"], [], "$.quarantined[0].problems"),
        (["stats", "bytesWritten"], -5, "$.stats.bytesWritten"),
        (["stats", "bundlesWritten"], _DELETE, "$.stats.bundlesWritten"),
        (["id"], "2026-11-24", "$.id"),
        (["finishedAt"], "2026-11-24 01:02:03", "$.finishedAt"),
        (["complete"], "yes", "$.complete"),
        (["surprise"], True, "$.surprise"),
    ],
)
def test_bad_snapshot_is_rejected_at_its_path(path: list[str | int], value: Any, where: str) -> None:
    doc = copy.deepcopy(snapshot_document())
    _set(doc, path, value)
    assert problems("snapshot", doc)[0].path == where


def test_packaged_schemas_come_first_then_the_source_tree(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from archiver import _schema as module

    monkeypatch.setattr(module.importlib.resources, "files", lambda package: tmp_path)
    assert json.loads(module._schema_text("manifest"))["$id"] == "urn:omics-archiver:schema:manifest"
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "manifest.schema.json").write_text('{"packaged": true}')
    assert json.loads(module._schema_text("manifest")) == {"packaged": True}
