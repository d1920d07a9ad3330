"""Server-side validation and error wire format, over raw HTTP (botocore validates some client-side)."""

from __future__ import annotations

import base64
import http.client
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from archiver.testing import Credential, Emulator, EmulatorConfig

CREDENTIALS = Credentials("123456789012", "testing-secret")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    # With the secret known, every request's signature is recomputed and checked, odd paths included.
    known = {"123456789012": Credential(secret_access_key="testing-secret", account_id="123456789012")}
    with Emulator(EmulatorConfig(quotas=None, credentials=known)) as emu:
        yield emu.url


@dataclass
class Answer:
    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self) -> Any:
        return json.loads(self.content)


def call(url: str, method: str, path: str, body: Any = None) -> Answer:
    """One raw HTTP request (no botocore client), signed by botocore's SigV4 as account 123456789012."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    signed = AWSRequest(method=method, url=url + path, data=data or b"")
    SigV4Auth(CREDENTIALS, "omics", "us-east-1").add_auth(signed)
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
    try:
        connection.request(method, path, body=data, headers=dict(signed.headers.items()))
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def assert_validation(response: Answer, *fragments: str) -> str:
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-ErrorType"].startswith(
        "ValidationException:http://internal.amazon.com/coral/"
    )
    message: str = response.json()["message"]
    assert set(response.json()) == {"message"}
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize(
    ("method", "path", "body", "fragments"),
    [
        (
            "POST",
            "/workflow",
            {},
            ["1 validation error detected", "Value null at 'requestId'", "must not be null"],
        ),
        ("GET", "/workflow?maxResults=0", None, ["Value '0' at 'maxResults'", "greater than or equal to 1"]),
        ("GET", "/workflow?maxResults=101", None, ["less than or equal to 100"]),
        ("GET", "/workflow?maxResults=ten", None, ["Member must be an integer"]),
        ("GET", "/workflow?type=PUBLIC", None, ["enum value set: [PRIVATE, READY2RUN]"]),
        ("GET", "/workflow/abc", None, ["Value 'abc' at 'id'", "regular expression pattern: [0-9]+"]),
        ("GET", "/workflow/1234567890123456789", None, ["length less than or equal to 18"]),
        (
            "GET",
            "/workflow/1234567?export=ZIP",
            None,
            ["'export.1.member'", "enum value set: [DEFINITION, README]"],
        ),
        ("GET", "/workflow/1234567?workflowOwnerId=12", None, ["'workflowOwnerId'", "[0-9]{12}"]),
        ("GET", "/workflow/1234567/version/-bad", None, ["'versionName'"]),
        ("POST", "/workflow", {"requestId": "r", "name": 5}, ["at 'name'", "Member must be a string"]),
        ("POST", "/workflow", {"requestId": "r", "name": "x" * 129}, ["less than or equal to 128"]),
        ("POST", "/workflow", {"requestId": "r", "name": "a\u0000b"}, ["regular expression pattern"]),
        (
            "POST",
            "/workflow",
            {"requestId": "r", "storageCapacity": 100001},
            ["value less than or equal to 100000"],
        ),
        ("POST", "/workflow", {"requestId": "r", "engine": "SNAKEMAKE"}, ["enum value set"]),
        ("POST", "/workflow", {"requestId": "r", "definitionZip": "!!!"}, ["base64"]),
        (
            "POST",
            "/workflow",
            {"requestId": "r", "parameterTemplate": {}},
            ["'parameterTemplate'", "length greater"],
        ),
        (
            "POST",
            "/workflow",
            {"requestId": "r", "tags": {"k": "v" * 257}},
            ["Map value must satisfy constraint"],
        ),
        (
            "POST",
            "/workflow",
            {"requestId": "r", "parameterTemplate": {"p": {"optional": "yes"}}},
            ["'parameterTemplate.p.member.optional'", "Member must be a boolean"],
        ),
        (
            "POST",
            "/workflow",
            {"requestId": "r", "containerRegistryMap": {"registryMappings": [{"upstreamRegistryUrl": "q"}]}},
            ["'containerRegistryMap.registryMappings.1.member.ecrRepositoryPrefix'", "must not be null"],
        ),
        ("POST", "/shares", {}, ["'resourceOwner'", "must not be null"]),
        ("POST", "/shares", {"resourceOwner": "ME"}, ["enum value set: [SELF, OTHER]"]),
        (
            "POST",
            "/share",
            {"resourceArn": "a", "principalSubscriber": "b", "shareName": "no spaces"},
            ["shareName"],
        ),
        ("POST", "/tags/not-an-arn", {"tags": {}}, ["'resourceArn'", "arn:.+"]),
        ("POST", "/workflow/1234567/version", {"requestId": "r"}, ["Value null at 'versionName'"]),
    ],
)
def test_validation_errors(url: str, method: str, path: str, body: Any, fragments: list[str]) -> None:
    assert_validation(call(url, method, path, body), *fragments)


def test_several_problems_are_counted(url: str) -> None:
    message = assert_validation(
        call(url, "GET", "/workflow?maxResults=0&type=X"), "2 validation errors detected"
    )
    assert message.count("; ") == 1


def test_malformed_json_and_unknown_paths(url: str) -> None:
    response = call(url, "POST", "/workflow", b"{not json")
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"].startswith("SerializationException:")
    response = call(url, "GET", "/no/such/thing")
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"].startswith("UnknownOperationException:")


def test_raw_create_and_repeated_export_params(url: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.nf", "workflow {}")
    body = {
        "requestId": "raw-1",
        "definitionZip": base64.b64encode(buffer.getvalue()).decode(),
        "readmeMarkdown": "r",
    }
    created = call(url, "POST", "/workflow", body)
    assert created.status_code == 201
    workflow_id = created.json()["id"]
    got = call(url, "GET", f"/workflow/{workflow_id}?export=DEFINITION&export=README")
    assert got.status_code == 200
    document = got.json()
    assert document["engine"] == "NEXTFLOW" and document["main"] == "main.nf"
    assert "/_export/" in document["definition"] and "/_export/" in document["readme"]
    only_readme = call(url, "GET", f"/workflow/{workflow_id}?export=README").json()
    assert "definition" not in only_readme and "readme" in only_readme
    missing = call(url, "GET", "/workflow/1?export=DEFINITION")
    assert missing.status_code == 404
    assert missing.headers["x-amzn-ErrorType"].startswith("ResourceNotFoundException:")
    deleted = call(url, "DELETE", f"/workflow/{workflow_id}")
    assert (deleted.status_code, deleted.content) == (202, b"")


def test_encoded_and_raw_arns_in_tag_paths(url: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.wdl", "")
    body = {
        "requestId": "tags-1",
        "definitionZip": base64.b64encode(buffer.getvalue()).decode(),
        "tags": {"a": "b"},
    }
    arn = call(url, "POST", "/workflow", body).json()["arn"]
    assert call(url, "GET", "/tags/" + quote(arn, safe="")).json() == {"tags": {"a": "b"}}
    assert call(url, "GET", "/tags/" + arn).json() == {"tags": {"a": "b"}}
    untag = call(url, "DELETE", "/tags/" + quote(arn, safe="") + "?tagKeys=a&tagKeys=zz")
    assert untag.status_code == 204
    assert call(url, "GET", "/tags/" + quote(arn, safe="")).json() == {"tags": {}}
