"""SigV4 authentication: the emulator refuses what AWS refuses, and the archiver says so in one line.

The emulator runs as a process with a credentials file and is called by the stock AWS CLI (the
codes it reports are what botocore parsed from the wire), or by requests signed with botocore's own
``SigV4Auth`` where a test must choose the signing time, service or body. The archiver side runs the
real CLI against an emulator that knows the secrets, so a wrong one is refused for real. The last
tests are unit tests of the verifier (against botocore's signer) and of the error translation.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from archiver.testing import Credential, Emulator, EmulatorConfig
from tests.emulator_helpers import make_zip
from tests.test_backup_e2e import OURS, SEED
from tests.test_emulator_cli import AWS

ACCOUNT = "123456789012"
SECRET = "right-secret"
TEMP_KEY, TEMP_SECRET, TOKEN, TEMP_ACCOUNT = (
    "ASIATEMPORARYKEY",
    "temp-secret",
    "the-session-token",
    "210987654321",
)
FILE = {
    ACCOUNT: {"secret_access_key": SECRET, "account_id": ACCOUNT},
    TEMP_KEY: {"secret_access_key": TEMP_SECRET, "account_id": TEMP_ACCOUNT, "session_token": TOKEN},
}
KNOWN = {
    ACCOUNT: Credential(secret_access_key=SECRET, account_id=ACCOUNT),
    TEMP_KEY: Credential(secret_access_key=TEMP_SECRET, account_id=TEMP_ACCOUNT, session_token=TOKEN),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    credentials = tmp_path_factory.mktemp("auth") / "credentials.json"
    credentials.write_text(json.dumps(FILE))
    process = subprocess.Popen(
        [sys.executable, "-m", "archiver.testing", "--no-quotas", "--credentials", str(credentials)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read()
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()


def aws(server: str, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The stock AWS CLI against ``server``, as ``ACCOUNT`` with the right secret unless ``env`` says."""
    assert AWS is not None
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update(
        AWS_ACCESS_KEY_ID=ACCOUNT,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_ENDPOINT_URL_OMICS=server,
        AWS_DISABLE_HOST_PREFIX_INJECTION="true",
        AWS_MAX_ATTEMPTS="1",
    )
    command = [AWS, "omics", *args, "--output", "json"]
    return subprocess.run(command, env={**base, **env}, capture_output=True, text=True, timeout=60)


def refused(result: subprocess.CompletedProcess[str], code: str) -> None:
    assert result.returncode != 0, result.stdout
    assert f"An error occurred ({code})" in result.stderr, result.stderr


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed")
def test_aws_cli_unsigned_wrong_secret_unknown_key(server: str, tmp_path: Path) -> None:
    refused(
        aws(server, tmp_path, "list-workflows", "--no-sign-request"), "MissingAuthenticationTokenException"
    )
    refused(
        aws(server, tmp_path, "list-workflows", AWS_SECRET_ACCESS_KEY="wrong"), "InvalidSignatureException"
    )
    refused(
        aws(server, tmp_path, "list-workflows", AWS_ACCESS_KEY_ID="AKIAUNKNOWN"),
        "UnrecognizedClientException",
    )


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed")
def test_aws_cli_session_token(server: str, tmp_path: Path) -> None:
    temp = {"AWS_ACCESS_KEY_ID": TEMP_KEY, "AWS_SECRET_ACCESS_KEY": TEMP_SECRET}
    definition = tmp_path / "wf.zip"
    definition.write_bytes(make_zip())
    created = aws(
        server,
        tmp_path,
        *(
            "create-workflow",
            "--name",
            "temp",
            "--engine",
            "WDL",
            "--definition-zip",
            f"fileb://{definition}",
        ),
        **temp,
        AWS_SESSION_TOKEN=TOKEN,
    )
    assert created.returncode == 0, created.stderr
    workflow = json.loads(created.stdout)
    assert workflow["arn"].split(":")[4] == TEMP_ACCOUNT  # the account of the file, not the key id
    got = aws(
        server,
        tmp_path,
        "get-workflow",
        "--id",
        workflow["id"],
        "--export",
        "DEFINITION",
        **temp,
        AWS_SESSION_TOKEN=TOKEN,
    )
    assert got.returncode == 0, got.stderr
    url = json.loads(got.stdout)["definition"]
    assert f"X-Amz-Security-Token={TOKEN}" in url  # as S3 presigned URLs made with temporary credentials
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == definition.read_bytes()
    refused(aws(server, tmp_path, "list-workflows", **temp), "UnrecognizedClientException")  # no token
    wrong = aws(server, tmp_path, "list-workflows", **temp, AWS_SESSION_TOKEN="not-the-token")
    refused(wrong, "UnrecognizedClientException")
    # a token on a key that has none is refused too
    refused(aws(server, tmp_path, "list-workflows", AWS_SESSION_TOKEN=TOKEN), "UnrecognizedClientException")


def send(
    url: str,
    *,
    service: str = "omics",
    region: str = "us-east-1",
    key: str = ACCOUNT,
    secret: str = SECRET,
    path: str = "/workflow?type=PRIVATE",
    method: str = "GET",
    body: bytes = b"",
    sent_body: bytes | None = None,
    at: dt.datetime | None = None,
) -> tuple[int, str, dict[str, Any]]:
    """A request signed by botocore's SigV4Auth at ``at``; ``sent_body`` replaces the signed body."""
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"} if service == "sts" else {}
    request = AWSRequest(method=method, url=url + path, data=body, headers=headers)
    now = at or dt.datetime.now(dt.UTC)
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
    try:
        payload = body if sent_body is None else sent_body
        connection.request(method, path, body=payload or None, headers=dict(request.headers.items()))
        response = connection.getresponse()
        raw = response.read()
        error_type = response.getheader("x-amzn-ErrorType") or ""
        return (
            response.status,
            error_type.split(":")[0],
            (json.loads(raw) if raw.startswith(b"{") else {"raw": raw}),
        )
    finally:
        connection.close()


def test_signing_time_scope_and_body_are_checked(server: str) -> None:
    assert send(server)[:2] == (200, "")
    late = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
    status, code, body = send(server, at=late)
    assert (status, code) == (403, "InvalidSignatureException") and "Signature expired" in body["message"]
    early = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    assert send(server, at=early)[:2] == (403, "InvalidSignatureException")
    assert send(server, at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=14))[:2] == (200, "")
    status, code, body = send(server, service="s3")
    assert (status, code) == (403, "InvalidSignatureException") and "'omics'" in body["message"]
    status, code, body = send(server, region="sa-east-1")  # HealthOmics is not offered there
    assert (status, code) == (403, "InvalidSignatureException") and "region" in body["message"]
    # the body is part of the signature: one changed after signing is refused
    create = {"name": "x", "engine": "WDL", "definitionZip": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}
    signed = json.dumps(create).encode()
    tampered = json.dumps({**create, "name": "y"}).encode()
    status, code, _ = send(server, method="POST", path="/workflow", body=signed, sent_body=tampered)
    assert (status, code) == (403, "InvalidSignatureException")


def test_sts_is_authenticated_with_its_own_codes(server: str) -> None:
    form = b"Action=GetCallerIdentity&Version=2011-06-15"
    status, _, body = send(server, service="sts", method="POST", path="/", body=form)
    assert status == 200 and f"<Account>{ACCOUNT}</Account>".encode() in body["raw"]
    status, _, body = send(server, service="omics", method="POST", path="/", body=form)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body["raw"]
    request = urllib.request.Request(server + "/", data=form, method="POST")  # unsigned
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(request, timeout=10)
    with unsigned.value as answer:
        assert answer.code == 403 and b"<Code>MissingAuthenticationToken</Code>" in answer.read()


def test_a_pinned_region_refuses_requests_signed_for_another() -> None:
    with Emulator(EmulatorConfig(quotas=None, regions=frozenset({"us-east-1"}))) as emu:
        for region, ok in (("us-east-1", True), ("us-west-2", False)):
            client = boto3.session.Session().client(
                "omics",
                endpoint_url=emu.url,
                region_name=region,
                config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}),
            )
            try:
                if ok:
                    client.list_workflows()
                else:
                    with pytest.raises(ClientError) as error:
                        client.list_workflows()
                    assert error.value.response["Error"]["Code"] == "InvalidSignatureException"
            finally:
                client.close()


def test_a_bad_credentials_file_stops_the_emulator_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "credentials.json"
    bad.write_text(json.dumps({ACCOUNT: {"secret_access_key": "s", "account_id": "12"}}))
    result = subprocess.run(
        [sys.executable, "-m", "archiver.testing", "--credentials", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"omics-archiver emulator: {bad}: the account_id of {ACCOUNT} must be a string of 12 digits"
    ]


# -- the archiver under authentication -------------------------------------------------------------


@pytest.fixture
def known_emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN), seed_dir=SEED) as emu:
        yield emu


def test_backup_with_a_wrong_secret_fails_in_one_line_after_one_call(
    known_emulator: Emulator, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCOUNT, AWS_SECRET_ACCESS_KEY="wrong-secret", AWS_DEFAULT_REGION="us-east-1"
    )
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    command = [sys.executable, "-m", "archiver.cli", "backup", "--store", str(tmp_path / "store")]
    result = subprocess.run(
        [*command, "--endpoint-url", known_emulator.url, "--log-format", "text"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert [line for line in lines if line.startswith("omics-archiver: error:")] == lines[-1:]
    # the first call is STS's (the backup learns its account and region before it locks them)
    assert "GetCallerIdentity" in lines[-1] and "SignatureDoesNotMatch" in lines[-1]
    assert "wrong-secret" not in result.stderr
    stats = known_emulator.stats()
    assert stats.calls == {"GetCallerIdentity": 1}  # no retry, by botocore or the archiver
    assert stats.errors == {"GetCallerIdentity": 1}


def test_backup_in_two_processes_signs_in_every_process(
    known_emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from archiver.cli import main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCOUNT)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    known_emulator.configure(latency=0.3)  # with one workflow at a time, the parent cannot do it all
    store = tmp_path / "store"
    code = main(
        [
            "backup",
            "--store",
            str(store),
            "--endpoint-url",
            known_emulator.url,
            "--processes",
            "2",
            "--concurrency",
            "1",
            "--json",
            "--log-format",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == 0, report["failed"]
    assert len(report["bundles"]) == len(OURS) + sum(OURS.values())
    workers = {json.loads(line).get("worker") for line in err.splitlines() if '"event": "bundle"' in line}
    assert workers - {None}, err
    assert known_emulator.stats().errors == {}


def test_a_session_token_is_never_logged_or_stored(
    known_emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from archiver.cli import main

    for name, value in (
        ("AWS_ACCESS_KEY_ID", TEMP_KEY),
        ("AWS_SECRET_ACCESS_KEY", TEMP_SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
    ):
        monkeypatch.setenv(name, value)
    client = boto3.session.Session().client(
        "omics",
        endpoint_url=known_emulator.url,
        region_name="us-east-1",
        config=Config(inject_host_prefix=False),
    )
    try:
        client.create_workflow(name="temp", engine="WDL", definitionZip=make_zip(), readmeMarkdown="# hi")
    finally:
        client.close()
    store = tmp_path / "store"
    code = main(
        [
            "backup",
            "--store",
            str(store),
            "--endpoint-url",
            known_emulator.url,
            "--json",
            "--log-level",
            "DEBUG",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, out
    assert json.loads(out)["account"] == TEMP_ACCOUNT and json.loads(out)["bundles"]
    assert TOKEN not in out + err
    for path in store.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


# -- the verifier itself, against botocore's signer ------------------------------------------------

VERIFY_CASES = [
    ("GET", "/workflow/1234567?export=DEFINITION&export=README&type=PRIVATE", b""),
    ("GET", "/tags/arn%3Aaws%3Aomics%3Aus-east-1%3A123456789012%3Aworkflow%2F1234567", b""),
    ("GET", "/workflow?name=a%20b%2Bc%26d%3D&maxResults=5", b""),
    ("POST", "/workflow", json.dumps({"name": "ü ☃", "engine": "WDL"}).encode()),
    ("DELETE", "/tags/arn%3Aaws%3Aomics%3Aus-east-1%3A123456789012%3Aworkflow%2F1?tagKeys=b&tagKeys=a", b""),
]


@pytest.mark.parametrize(("method", "path", "body"), VERIFY_CASES)
def test_the_verifier_accepts_what_botocore_signs_and_nothing_altered(
    method: str, path: str, body: bytes
) -> None:
    from multidict import CIMultiDict

    from archiver.testing._auth import AuthFailure, authenticate

    url = "http://127.0.0.1:8080"
    request = AWSRequest(method=method, url=url + path, data=body, headers={"X-Custom": "a   b "})
    SigV4Auth(Credentials(TEMP_KEY, TEMP_SECRET, TOKEN), "omics", "us-east-1").add_auth(request)
    headers = CIMultiDict(request.headers.items())
    headers["Host"] = "127.0.0.1:8080"

    def check(**changes: Any) -> Any:
        args = {"method": method, "raw_path": path, "headers": headers, "body": body, **changes}
        return authenticate(
            **args,
            service="omics",
            regions={"us-east-1"},
            credentials=KNOWN,
            now=dt.datetime.now(dt.UTC).timestamp(),
        )

    identity = check()
    assert (identity.account, identity.region, identity.session_token) == (TEMP_ACCOUNT, "us-east-1", TOKEN)
    altered_headers = CIMultiDict(headers)
    altered_headers["Host"] = "127.0.0.1:8081"
    for changes in (
        {"method": "PUT"},
        {"raw_path": path.replace("/", "/x", 1)},
        {"raw_path": path + ("&" if "?" in path else "?") + "extra=1"},
        {"body": body + b" "},
        {"headers": altered_headers},
    ):
        with pytest.raises(AuthFailure) as refused:
            check(**changes)
        assert refused.value.code == "InvalidSignatureException", changes


@pytest.mark.parametrize(
    "code",
    [
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "ExpiredToken",
    ],
)
def test_auth_codes_are_one_error_class_and_never_retried(code: str) -> None:
    from archiver import AuthenticationError
    from archiver._aws import retry_kind, translate_client_error

    exc = ClientError(
        {"Error": {"Code": code, "Message": "no."}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "ListWorkflows",
    )
    assert retry_kind(exc) is None
    error = translate_client_error(exc, "ListWorkflows")
    assert isinstance(error, AuthenticationError) and error.code == code
    assert "\n" not in error.message and code in error.message and "credentials" in error.message
