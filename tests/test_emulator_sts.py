"""The emulator's STS AssumeRole and Organizations ListAccounts, through boto3 and the stock AWS CLI.

The example seed's ``organization.json`` is the organization: management account 123456789012,
members research (111111111111), clinical (222222222222, role ``Other`` needs external id ``xyz``),
genomics-core, a SUSPENDED legacy account and a quarantine account whose reader role is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from archiver.testing import Emulator, EmulatorConfig
from tests.test_backup_e2e import SEED
from tests.test_emulator_cli import AWS

MANAGEMENT = "123456789012"
READER = "arn:aws:iam::111111111111:role/OmicsArchiverReader"
GUARDED = "arn:aws:iam::222222222222:role/Other"
QUARANTINED = "arn:aws:iam::444444444444:role/OmicsArchiverReader"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(), seed_dir=SEED) as emu:
        yield emu


def client(emulator: Emulator, service: str, key: str = MANAGEMENT, **creds: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=creds.get("secret", "testing-secret"),
        aws_session_token=creds.get("token"),
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}, parameter_validation=False),
    )


def assume(emulator: Emulator, role: str, **kwargs: Any) -> dict[str, Any]:
    answer = client(emulator, "sts").assume_role(RoleArn=role, RoleSessionName="omics-archiver", **kwargs)
    return dict(answer)


def as_role(emulator: Emulator, service: str, creds: dict[str, Any]) -> Any:
    c = creds["Credentials"]
    return client(emulator, service, c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_assumed_role_credentials_act_in_the_roles_account(emulator: Emulator) -> None:
    answer = assume(emulator, READER, DurationSeconds=900)
    creds = answer["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA111111111111") and len(creds["AccessKeyId"]) == 20
    remaining = creds["Expiration"].timestamp() - time.time()
    assert 880 < remaining <= 901
    arn = "arn:aws:sts::111111111111:assumed-role/OmicsArchiverReader/omics-archiver"
    assert answer["AssumedRoleUser"]["Arn"] == arn
    identity = as_role(emulator, "sts", answer).get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == ("111111111111", arn)
    names = [w["name"] for w in as_role(emulator, "omics", answer).list_workflows()["items"]]
    assert names == ["deepvariant-gpu"]  # research's own, not the management account's five
    mine = client(emulator, "omics").list_workflows()["items"]
    assert {w["id"] for w in mine}.isdisjoint(
        w["id"] for w in as_role(emulator, "omics", answer).list_workflows()["items"]
    )


def test_the_session_token_is_required_and_checked(emulator: Emulator) -> None:
    creds = assume(emulator, READER)["Credentials"]
    key, secret = creds["AccessKeyId"], creds["SecretAccessKey"]
    for token in (None, creds["SessionToken"][:-2] + "xx"):
        kwargs = {"secret": secret} | ({"token": token} if token else {})
        with pytest.raises(ClientError) as exc:
            client(emulator, "omics", key, **kwargs).list_workflows()
        assert code_of(exc) == ("UnrecognizedClientException", 403)
    with pytest.raises(ClientError) as exc:
        client(emulator, "omics", key, secret="wrong", token=creds["SessionToken"]).list_workflows()
    assert code_of(exc) == ("InvalidSignatureException", 403)


def test_expired_credentials_are_refused() -> None:
    with Emulator(EmulatorConfig(session_ttl=0.5), seed_dir=SEED) as emu:
        answer = assume(emu, READER)
        as_role(emu, "omics", answer).list_workflows()
        time.sleep(0.6)
        with pytest.raises(ClientError) as exc:
            as_role(emu, "omics", answer).list_workflows()
        assert code_of(exc) == ("ExpiredTokenException", 403)
        with pytest.raises(ClientError) as exc:
            as_role(emu, "sts", answer).get_caller_identity()
        assert code_of(exc) == ("ExpiredToken", 403)
        assert emu.stats().errors["ListWorkflows"] == 1


@pytest.mark.parametrize(
    ("role", "kwargs"),
    [
        (QUARANTINED, {}),  # denied by the seed
        (GUARDED, {}),  # external id missing
        (GUARDED, {"ExternalId": "wrong-id"}),
        ("arn:aws:iam::999999999999:role/OmicsArchiverReader", {}),  # not in the organization
    ],
)
def test_refused_roles_answer_access_denied(emulator: Emulator, role: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(ClientError) as exc:
        assume(emulator, role, **kwargs)
    assert code_of(exc) == ("AccessDenied", 403)
    assert "is not authorized to perform: sts:AssumeRole" in str(exc.value)


def test_the_right_external_id_and_the_deny_option(emulator: Emulator) -> None:
    answer = assume(emulator, GUARDED, ExternalId="xyz")
    assert as_role(emulator, "sts", answer).get_caller_identity()["Account"] == "222222222222"
    emulator.configure(deny_assume_role=frozenset({GUARDED}))
    try:
        with pytest.raises(ClientError) as exc:
            assume(emulator, GUARDED, ExternalId="xyz")
        assert code_of(exc) == ("AccessDenied", 403)
    finally:
        emulator.configure(deny_assume_role=frozenset())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"DurationSeconds": 899}, "durationSeconds"), ({"DurationSeconds": 43201}, "durationSeconds")],
)
def test_assume_role_validates(emulator: Emulator, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ClientError) as exc:
        assume(emulator, READER, **kwargs)
    assert code_of(exc) == ("ValidationError", 400)
    assert field in str(exc.value)


def test_list_accounts_pages_from_the_seed(emulator: Emulator) -> None:
    paginator = client(emulator, "organizations").get_paginator("list_accounts")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 4}))
    assert [len(p["Accounts"]) for p in pages] == [4, 2]
    statuses = {a["Id"]: a["Status"] for p in pages for a in p["Accounts"]}
    assert statuses == {
        "123456789012": "ACTIVE",
        "111111111111": "ACTIVE",
        "222222222222": "ACTIVE",
        "210987654321": "ACTIVE",
        "333333333333": "SUSPENDED",
        "444444444444": "ACTIVE",
    }
    first = pages[0]["Accounts"][1]
    assert first["Arn"] == "arn:aws:organizations::123456789012:account/o-omicsdemo01/111111111111"
    assert first["Name"] == "research"


def test_list_accounts_refuses_members_and_bad_input(emulator: Emulator) -> None:
    with pytest.raises(ClientError) as exc:
        as_role(emulator, "organizations", assume(emulator, READER)).list_accounts()
    assert code_of(exc) == ("AccessDeniedException", 400)
    with pytest.raises(ClientError) as exc:
        client(emulator, "organizations").list_accounts(NextToken="forged")
    assert code_of(exc) == ("InvalidInputException", 400)
    with Emulator(EmulatorConfig()) as bare, pytest.raises(ClientError) as exc:
        client(bare, "organizations").list_accounts()
    assert code_of(exc) == ("AWSOrganizationsNotInUseException", 400)


def test_a_bad_organization_file_is_a_seed_error(tmp_path: Path) -> None:
    from archiver.testing._seed import SeedError

    (tmp_path / "accounts").mkdir()
    (tmp_path / "organization.json").write_text(json.dumps({"management_account": "12"}))
    with Emulator(EmulatorConfig()) as emu, pytest.raises(SeedError, match="management_account"):
        emu.load_seed(tmp_path)


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed")
def test_stock_aws_cli_assumes_roles_and_lists_accounts(tmp_path: Path) -> None:
    assert AWS is not None
    process = subprocess.Popen(
        [sys.executable, "-m", "archiver.testing", "--seed", str(SEED), "--deny-assume-role", READER],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        url = process.stdout.readline().strip()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=MANAGEMENT,
            AWS_SECRET_ACCESS_KEY="testing-secret",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(tmp_path / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        )

        def aws(*args: str) -> subprocess.CompletedProcess[str]:
            command = [AWS or "aws", *args, "--endpoint-url", url, "--output", "json"]
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

        ok = aws(
            "sts", "assume-role", "--role-arn", GUARDED, "--role-session-name", "cli", "--external-id", "xyz"
        )
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["Credentials"]["AccessKeyId"].startswith("ASIA222222222222")
        denied = aws("sts", "assume-role", "--role-arn", READER, "--role-session-name", "cli")
        assert denied.returncode != 0 and "AccessDenied" in denied.stderr
        listed = aws("organizations", "list-accounts")
        assert listed.returncode == 0, listed.stderr
        assert len(json.loads(listed.stdout)["Accounts"]) == 6
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
