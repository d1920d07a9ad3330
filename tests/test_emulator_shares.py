"""Shares between accounts, Ready2Run workflows and STS GetCallerIdentity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from archiver.testing import Emulator, EmulatorConfig
from tests.emulator_helpers import create_active, make_zip, omics_client, problems_fixture  # noqa: F401

OWNER, FRIEND, STRANGER = "123456789012", "210987654321", "333333333333"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    r2r = tmp_path / "seed/accounts/555555555555/us-east-1/workflows/r2r"
    (r2r / "definition").mkdir(parents=True)
    (r2r / "definition/main.wdl").write_text("version 1.0\n")
    (r2r / "workflow.json").write_text(json.dumps({"id": "7340032", "type": "READY2RUN", "name": "R2R"}))
    with Emulator(EmulatorConfig(quotas=None), seed_dir=tmp_path / "seed") as emu:
        yield emu


@pytest.fixture
def clients(emulator: Emulator, problems: list[str]) -> Iterator[dict[str, Any]]:
    made = {
        account: omics_client(emulator.url, problems, account=account)
        for account in (OWNER, FRIEND, STRANGER)
    }
    yield made
    for client in made.values():
        client.close()


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_share_lifecycle_between_two_accounts(emulator: Emulator, clients: dict[str, Any]) -> None:
    owner, friend, stranger = clients[OWNER], clients[FRIEND], clients[STRANGER]
    workflow_id = create_active(owner, readmeMarkdown="hi")
    owner.create_workflow_version(workflowId=workflow_id, versionName="v1", definitionZip=make_zip())
    arn = owner.get_workflow(id=workflow_id)["arn"]

    created = owner.create_share(resourceArn=arn, principalSubscriber=FRIEND, shareName="to-friend")
    assert (created["status"], created["shareName"]) == ("PENDING", "to-friend")
    share_id = created["shareId"]
    with pytest.raises(ClientError) as exc:
        owner.create_share(resourceArn=arn, principalSubscriber=FRIEND)
    assert code_of(exc) == "ConflictException"
    with pytest.raises(ClientError) as exc:
        friend.get_workflow(id=workflow_id, workflowOwnerId=OWNER)
    assert code_of(exc) == "ResourceNotFoundException"
    pending = friend.list_shares(resourceOwner="OTHER", filter={"type": ["WORKFLOW"]})["shares"]
    assert [(s["shareId"], s["status"], s["ownerId"]) for s in pending] == [(share_id, "PENDING", OWNER)]

    with pytest.raises(ClientError) as exc:
        owner.accept_share(shareId=share_id)
    assert code_of(exc) == "AccessDeniedException"
    assert friend.accept_share(shareId=share_id)["status"] == "ACTIVE"
    details = friend.get_share(shareId=share_id)["share"]
    assert (details["resourceArn"], details["resourceId"], details["principalSubscriber"]) == (
        arn,
        workflow_id,
        FRIEND,
    )
    assert owner.get_share(shareId=share_id)["share"]["status"] == "ACTIVE"
    with pytest.raises(ClientError) as exc:
        stranger.get_share(shareId=share_id)
    assert code_of(exc) == "ResourceNotFoundException"

    shared = friend.get_workflow(id=workflow_id, workflowOwnerId=OWNER)
    assert shared["arn"] == arn and "definition" not in shared
    versions = friend.list_workflow_versions(workflowId=workflow_id, workflowOwnerId=OWNER)["items"]
    assert [v["versionName"] for v in versions] == ["v1"]
    assert friend.get_workflow_version(workflowId=workflow_id, versionName="v1", workflowOwnerId=OWNER)[
        "uuid"
    ]
    for call in (
        lambda: friend.get_workflow(id=workflow_id, workflowOwnerId=OWNER, export=["DEFINITION"]),
        lambda: friend.get_workflow_version(
            workflowId=workflow_id, versionName="v1", workflowOwnerId=OWNER, export=["README"]
        ),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code_of(exc) == "AccessDeniedException"
        assert "shared workflow" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        stranger.get_workflow(id=workflow_id, workflowOwnerId=OWNER)
    assert code_of(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        friend.update_workflow(id=workflow_id, description="mine now")
    assert code_of(exc) == "ResourceNotFoundException"

    assert friend.list_workflows()["items"] == []
    emulator.configure(list_shared_workflows=True)
    assert [w["id"] for w in friend.list_workflows()["items"]] == [workflow_id]

    mine = owner.list_shares(resourceOwner="SELF", filter={"resourceArns": [arn], "status": ["ACTIVE"]})[
        "shares"
    ]
    assert [s["shareId"] for s in mine] == [share_id]
    assert owner.list_shares(resourceOwner="OTHER")["shares"] == []
    assert owner.delete_share(shareId=share_id)["status"] == "DELETED"
    with pytest.raises(ClientError) as exc:
        friend.get_workflow(id=workflow_id, workflowOwnerId=OWNER)
    assert code_of(exc) == "ResourceNotFoundException"
    assert owner.list_shares(resourceOwner="SELF")["shares"] == []


def test_share_validation_and_pagination(clients: dict[str, Any]) -> None:
    owner = clients[OWNER]
    ids = [create_active(owner, name=f"w{i}") for i in range(3)]
    arns = [owner.get_workflow(id=i)["arn"] for i in ids]
    with pytest.raises(ClientError) as exc:
        owner.create_share(resourceArn=arns[0], principalSubscriber=OWNER)
    assert code_of(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        owner.create_share(resourceArn=arns[0], principalSubscriber="nobody")
    assert code_of(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        clients[FRIEND].create_share(resourceArn=arns[0], principalSubscriber=STRANGER)
    assert code_of(exc) == "ResourceNotFoundException"
    for arn in arns:
        owner.create_share(resourceArn=arn, principalSubscriber=FRIEND)
    first = owner.list_shares(resourceOwner="SELF", maxResults=2)
    assert len(first["shares"]) == 2
    rest = owner.list_shares(resourceOwner="SELF", maxResults=2, nextToken=first["nextToken"])
    assert len(rest["shares"]) == 1 and "nextToken" not in rest
    with pytest.raises(ClientError) as exc:
        owner.list_shares(resourceOwner="SELF", nextToken="garbage")
    assert code_of(exc) == "ValidationException"


def test_ready2run_needs_its_type_and_refuses_export(clients: dict[str, Any]) -> None:
    for client in (clients[OWNER], clients[FRIEND]):
        with pytest.raises(ClientError) as exc:
            client.get_workflow(id="7340032")
        assert code_of(exc) == "ResourceNotFoundException"
        got = client.get_workflow(id="7340032", type="READY2RUN")
        assert (got["type"], got["name"], got["status"]) == ("READY2RUN", "R2R", "ACTIVE")
        assert got["arn"] == "arn:aws:omics:us-east-1:555555555555:workflow/7340032"
        with pytest.raises(ClientError) as exc:
            client.get_workflow(id="7340032", type="READY2RUN", export=["DEFINITION"])
        assert code_of(exc) == "AccessDeniedException"
        listed = client.list_workflows(type="READY2RUN")["items"]
        assert [(w["id"], w["type"]) for w in listed] == [("7340032", "READY2RUN")]
        assert client.list_workflows()["items"] == []


def test_ready2run_is_per_region(emulator: Emulator, problems: list[str]) -> None:
    west = omics_client(emulator.url, problems, region="us-west-2")
    try:
        assert west.list_workflows(type="READY2RUN")["items"] == []
    finally:
        west.close()


def test_sts_get_caller_identity(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FRIEND)
    sts = boto3.session.Session().client("sts", region_name="us-east-1")
    try:
        identity = sts.get_caller_identity()
    finally:
        sts.close()
    assert identity["Account"] == FRIEND
    assert identity["Arn"] == f"arn:aws:iam::{FRIEND}:user/omics-emulator"
    assert identity["UserId"] == FRIEND
    other = boto3.session.Session().client(
        "sts",
        region_name="us-east-1",
        endpoint_url=emulator.url,
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="x",
    )
    try:  # without a credentials file only 12-digit access key ids are known (they are their account)
        with pytest.raises(ClientError) as refused:
            other.get_caller_identity()
    finally:
        other.close()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
