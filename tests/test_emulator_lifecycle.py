"""Lifecycle and read consistency of the emulator, through stock boto3: the service's harsh parts.

Reads may lag writes (``consistency_lag``), deleted resources linger as DELETED, deletes are refused
unless ACTIVE or FAILED and while a share is open, shares pass PENDING -> ACTIVATING -> ACTIVE and
DELETING -> DELETED, and pagination tokens fit the model's 128 characters whatever the filters.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archiver.testing import Emulator, EmulatorConfig
from archiver.testing._cli import add_arguments, config_from_args
from archiver.testing._config import config_from_json
from tests.emulator_helpers import create_active, eventually, make_zip, omics_client, problems_fixture  # noqa: F401

OWNER, FRIEND = "123456789012", "210987654321"


@pytest.fixture
def clients(problems: list[str]) -> Iterator[tuple[Emulator, Any, Any]]:
    config = EmulatorConfig(quotas=None, share_activation_delay=0.3, share_deletion_delay=0.3)
    with Emulator(config) as emu:
        owner = omics_client(emu.url, problems, account=OWNER)
        friend = omics_client(emu.url, problems, account=FRIEND)
        yield emu, owner, friend
        owner.close()
        friend.close()


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _reads_after_create(seed: int, problems: list[str]) -> list[str]:
    """Create a workflow under a 1 s lag, then read it five times at once: what each read answered."""
    with Emulator(EmulatorConfig(quotas=None, consistency_lag=1.0, random_seed=seed)) as emu:
        client = omics_client(emu.url, problems)
        try:
            workflow_id = client.create_workflow(name="lagged", definitionZip=make_zip())["id"]
            seen = []
            for _ in range(5):
                try:
                    seen.append(client.get_workflow(id=workflow_id)["status"])
                except ClientError as exc:
                    seen.append(str(exc.response["Error"]["Code"]))
            assert workflow_id not in {w["id"] for w in client.list_workflows()["items"]}
            time.sleep(1.05)  # the lag passes: every read sees it
            assert [w["id"] for w in client.list_workflows()["items"]] == [workflow_id]
            assert client.get_workflow(id=workflow_id)["status"] == "ACTIVE"
        finally:
            client.close()
    return seen


def test_consistency_lag_hides_a_create_from_reads_reproducibly(problems: list[str]) -> None:
    first = _reads_after_create(11, problems)
    assert first[0] == "ResourceNotFoundException"
    assert _reads_after_create(11, problems) == first


def test_consistency_lag_after_update_and_delete(problems: list[str]) -> None:
    config = EmulatorConfig(quotas=None, update_delay=0.0, deleted_linger=0.0, random_seed=5)
    with Emulator(config) as emu:
        client = omics_client(emu.url, problems)
        try:
            workflow_id = create_active(client, description="old")
            emu.configure(consistency_lag=30.0)
            client.update_workflow(id=workflow_id, description="new")
            assert client.get_workflow(id=workflow_id)["description"] == "old"
            client.delete_workflow(id=workflow_id)
            # writes see the truth: the workflow is gone for them ...
            with pytest.raises(ClientError) as exc:
                client.update_workflow(id=workflow_id, description="again")
            assert code_of(exc) == "ResourceNotFoundException"
            # ... while reads still answer the state before (the old description, still listed)
            assert client.get_workflow(id=workflow_id)["status"] == "ACTIVE"
            assert [w["id"] for w in client.list_workflows()["items"]] == [workflow_id]
            emu.configure(consistency_lag=0.0)
            with pytest.raises(ClientError) as exc:
                client.get_workflow(id=workflow_id)
            assert code_of(exc) == "ResourceNotFoundException"
        finally:
            client.close()


def test_deletes_need_active_or_failed(problems: list[str]) -> None:
    with Emulator(EmulatorConfig(quotas=None, create_delay=0.3)) as emu:
        client = omics_client(emu.url, problems)
        try:
            workflow_id = client.create_workflow(name="young", definitionZip=make_zip())["id"]
            with pytest.raises(ClientError) as exc:
                client.delete_workflow(id=workflow_id)
            assert code_of(exc) == "ConflictException"
            assert "CREATING" in exc.value.response["Error"]["Message"]
            eventually(lambda: client.get_workflow(id=workflow_id), lambda w: w["status"] == "ACTIVE")
            client.create_workflow_version(workflowId=workflow_id, versionName="v1", definitionZip=make_zip())
            with pytest.raises(ClientError) as exc:
                client.delete_workflow_version(workflowId=workflow_id, versionName="v1")
            assert code_of(exc) == "ConflictException"
        finally:
            client.close()


def test_share_statuses_and_delete_refused_while_shared(
    clients: tuple[Emulator, Any, Any],
) -> None:
    emu, owner, friend = clients
    workflow_id = create_active(owner)
    arn = owner.get_workflow(id=workflow_id)["arn"]
    share_id = owner.create_share(resourceArn=arn, principalSubscriber=FRIEND)["shareId"]
    assert owner.get_share(shareId=share_id)["share"]["status"] == "PENDING"
    for status in ("PENDING", "ACTIVATING", "ACTIVE"):
        if status == "ACTIVATING":
            assert friend.accept_share(shareId=share_id)["status"] == "ACTIVATING"
            # not readable by the friend until ACTIVE
            with pytest.raises(ClientError) as exc:
                friend.get_workflow(id=workflow_id, workflowOwnerId=OWNER)
            assert code_of(exc) == "ResourceNotFoundException"
        if status == "ACTIVE":
            eventually(lambda: owner.get_share(shareId=share_id)["share"], lambda s: s["status"] == "ACTIVE")
            assert friend.get_workflow(id=workflow_id, workflowOwnerId=OWNER)["id"] == workflow_id
        with pytest.raises(ClientError) as exc:
            owner.delete_workflow(id=workflow_id)
        assert code_of(exc) == "ConflictException"
        message = exc.value.response["Error"]["Message"]
        assert "no active shares" in message and share_id in message and status in message
    assert owner.delete_share(shareId=share_id)["status"] == "DELETING"
    with pytest.raises(ClientError) as exc:
        owner.delete_workflow(id=workflow_id)
    assert code_of(exc) == "ConflictException"
    listed = owner.list_shares(resourceOwner="SELF", filter={"resourceArns": [arn]})["shares"]
    assert [s["status"] for s in listed] == ["DELETING"]
    eventually(lambda: owner.get_share(shareId=share_id)["share"], lambda s: s["status"] == "DELETED")
    owner.delete_workflow(id=workflow_id)

    # a share can also fail to activate, saying why
    emu.configure(share_failure_rate=1.0, share_activation_delay=0.0)
    other = create_active(owner, name="other")
    other_arn = owner.get_workflow(id=other)["arn"]
    failing = owner.create_share(resourceArn=other_arn, principalSubscriber=FRIEND)["shareId"]
    friend.accept_share(shareId=failing)
    details = owner.get_share(shareId=failing)["share"]
    assert details["status"] == "FAILED" and details["statusMessage"]


def test_pagination_tokens_fit_the_model_with_any_filter(problems: list[str]) -> None:
    name = "n" * 128  # the longest name the model allows
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        client = omics_client(emu.url, problems)
        try:
            ids = [create_active(client, name=name) for _ in range(3)]
            seen, token = [], None
            while True:
                page = client.list_workflows(
                    name=name, maxResults=1, **({"startingToken": token} if token else {})
                )
                seen += [w["id"] for w in page["items"]]
                token = page.get("nextToken")
                if not token:
                    break
                assert len(token) <= 128
            assert seen == ids
            for i in range(3):
                client.create_workflow_version(
                    workflowId=ids[0], versionName=f"v{i}", definitionZip=make_zip()
                )
            page = client.list_workflow_versions(workflowId=ids[0], maxResults=2)
            assert len(page["nextToken"]) <= 128
            rest = client.list_workflow_versions(
                workflowId=ids[0], maxResults=2, startingToken=page["nextToken"]
            )
            assert [v["versionName"] for v in page["items"] + rest["items"]] == ["v0", "v1", "v2"]
            with pytest.raises(ClientError) as exc:  # a token of another listing is refused
                client.list_workflows(name=name, startingToken=page["nextToken"])
            assert code_of(exc) == "ValidationException"
        finally:
            client.close()


def test_lifecycle_flags_and_control_api_keys() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = "--consistency-lag 2 --update-delay 0.3 --deleted-linger 4 --share-activation-delay 1"
    argv += " --share-deletion-delay 0.2 --share-failure-rate 0.5 --random-seed 9"
    config = config_from_args(parser.parse_args(argv.split()))
    assert (config.consistency_lag, config.update_delay, config.deleted_linger) == (2.0, 0.3, 4.0)
    assert (config.share_activation_delay, config.share_deletion_delay) == (1.0, 0.2)
    assert (config.share_failure_rate, config.random_seed) == (0.5, 9)
    assert config_from_json(EmulatorConfig(), {"consistency_lag": 1.5}).consistency_lag == 1.5
