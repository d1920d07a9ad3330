"""The lean reads (archiver._leanreads) send what botocore would, sign as botocore does, answer
what botocore answers, and stand aside whenever they cannot prove it (issue 11, point 5)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import random
import time
from typing import Any
from unittest import mock

import pytest
from aiobotocore.session import AioSession
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from archiver import _leanreads
from archiver._aws import AwsSettings, OmicsApi, _parse_timestamp, open_omics_api
from archiver._errors import AuthenticationError, ResourceNotFound
from archiver._leanreads import LeanReads
from archiver.testing import Credential, Emulator, EmulatorConfig
from tests.test_backup_e2e import SEED

ACCOUNT = "123456789012"
SECRET = "lean-secret"
KNOWN = {ACCOUNT: Credential(secret_access_key=SECRET, account_id=ACCOUNT)}
WORKFLOW = "1048576"  # seeded, with versions (tests/test_backup_e2e.OURS)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCOUNT)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)


@pytest.mark.parametrize("token", [None, "session-token/with+odd=chars"])
@pytest.mark.parametrize(
    "url",
    [
        "https://workflows-omics.us-east-1.amazonaws.com/workflow/123/version/1.0.0?type=PRIVATE&export=README&export=DEFINITION",
        "https://Workflows-Omics.us-east-1.amazonaws.com:443/workflow/a%2Fb%20c/version/%C3%A9%7E?b=2&a=1&a=0",
        "http://127.0.0.1:8080/prefix/workflow/1/version?startingToken=x%2By%3D&maxResults=100",
        "http://localhost/workflow",
    ],
)
async def test_the_signature_is_the_one_botocore_computes(url: str, token: str | None) -> None:
    session = AioSession()
    async with session.create_client(
        "omics", region_name="eu-west-2", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s3cr3t",
        aws_session_token=token, endpoint_url="http://127.0.0.1:1",
    ) as client:  # fmt: skip
        lean = LeanReads.for_client(client)
        assert lean is not None
        moment = dt.datetime(2026, 12, 1, 3, 4, 5)
        with mock.patch("archiver._leanreads.time.gmtime", return_value=moment.timetuple()):
            ours = await lean._signed_headers(url)
        request = AWSRequest(method="GET", url=url, headers={})
        with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
            SigV4Auth(Credentials("AKIDEXAMPLE", "s3cr3t", token), "omics", "eu-west-2").add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"] == "20261201T030405Z"
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


def _without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    # presigned URLs carry their own signing time; everything else must be equal
    return {k: v for k, v in answer.items() if k not in ("ResponseMetadata", "definition", "readme")}


async def _botocore(api: OmicsApi, operation: str, **params: Any) -> dict[str, Any]:
    method = getattr(api._client, {"GetWorkflow": "get_workflow"}.get(operation, "get_workflow_version"))
    answer: dict[str, Any] = await method(**params)
    return answer


async def test_after_one_botocore_call_an_operation_goes_lean_and_answers_the_same(env: None) -> None:
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN), seed_dir=SEED) as emu:
        async with open_omics_api(AwsSettings(region="us-east-1", endpoint_url=emu.url, rates=None)) as api:
            lean = api._lean
            assert lean is not None and not lean.ready("GetWorkflow")
            agents: list[Any] = []
            api._client.meta.events.register_last(
                "before-send.omics", lambda request, **_: agents.append(request.headers["User-Agent"])
            )
            versions = [v["versionName"] async for v in api.list_workflow_versions(WORKFLOW)]
            assert lean._user_agent is not None and lean._user_agent().encode() == agents[0]
            first = await api.get_workflow(WORKFLOW, export=True)  # botocore, observed
            assert lean.ready("GetWorkflow") and lean.ready("ListWorkflowVersions")
            sent = emu.stats().calls
            again = await api.get_workflow(WORKFLOW, export=True)  # lean
            assert _without_metadata(again) == _without_metadata(first)
            assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
            for name in versions:
                export = ["DEFINITION", "README"]
                by_botocore = await _botocore(
                    api, "GetWorkflowVersion", workflowId=WORKFLOW, versionName=name, export=export
                )
                lean_answer = await api.get_workflow_version(WORKFLOW, name, export=True)
                assert _without_metadata(lean_answer) == _without_metadata(by_botocore)
                assert isinstance(lean_answer["creationTime"], dt.datetime)
            assert lean.ready("GetWorkflowVersion")
            assert [v["versionName"] async for v in api.list_workflow_versions(WORKFLOW)] == versions
            # a lean answer's error is botocore's, translated like any other
            with pytest.raises(ResourceNotFound) as caught:
                await api.get_workflow("999999", export=True)
            assert caught.value.code == "ResourceNotFoundException"
        stats = emu.stats()
    # the emulator checked every signature (it knows the secret): none was refused
    assert set(stats.errors) == {"GetWorkflow"} and stats.errors["GetWorkflow"] == 1
    assert stats.calls["GetWorkflow"] == sent["GetWorkflow"] + 2


@pytest.mark.parametrize("rates", [None, {"GetWorkflow": 20.0}])
async def test_a_burst_of_first_calls_costs_one_botocore_request(
    env: None, rates: dict[str, float] | None
) -> None:
    """Concurrent first calls (or calls queued behind the pacer) wait for the one botocore call."""
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN), seed_dir=SEED) as emu:
        settings = AwsSettings(region="us-east-1", endpoint_url=emu.url, rates=rates)
        async with open_omics_api(settings) as api:
            by_botocore: list[str] = []
            api._client.meta.events.register_last(
                "before-send.omics", lambda request, **_: by_botocore.append(request.url)
            )
            answers = await asyncio.gather(*(api.get_workflow(WORKFLOW, export=True) for _ in range(12)))
            assert api._lean is not None and api._lean.ready("GetWorkflow")
        stats = emu.stats()
    assert {a["id"] for a in answers} == {WORKFLOW}
    assert len(by_botocore) == 1
    assert stats.calls["GetWorkflow"] == 12 and not stats.errors


async def test_a_client_with_the_same_endpoint_inputs_goes_lean_at_once(env: None) -> None:
    """What one client proved serves a client of the same endpoint inputs, not another endpoint's."""
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN), seed_dir=SEED) as emu:
        by_botocore: list[str] = []

        async def botocore_sends(endpoint: str) -> int:
            before = len(by_botocore)
            settings = AwsSettings(region="us-east-1", endpoint_url=endpoint, rates=None)
            async with open_omics_api(settings) as api:
                api._client.meta.events.register_last(
                    "before-send.omics", lambda request, **_: by_botocore.append(request.url)
                )
                assert (await api.get_workflow(WORKFLOW, export=True))["id"] == WORKFLOW
            return len(by_botocore) - before

        other = emu.url.replace("127.0.0.1", "localhost")
        assert other != emu.url
        assert await botocore_sends(emu.url) == 1
        assert await botocore_sends(emu.url) == 0  # proven by the first client
        assert await botocore_sends(other) == 1  # another endpoint is proven on its own
        assert await botocore_sends(other) == 0
        # clients that start at once wait for one first call between them
        _leanreads._PROVEN.clear()
        assert sum(await asyncio.gather(*(botocore_sends(emu.url) for _ in range(5)))) == 1
        assert emu.stats().calls["GetWorkflow"] == 9 and not emu.stats().errors


async def test_a_wrong_secret_is_refused_on_the_lean_path_too(env: None) -> None:
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN), seed_dir=SEED) as emu:
        async with open_omics_api(AwsSettings(region="us-east-1", endpoint_url=emu.url, rates=None)) as api:
            await api.get_workflow(WORKFLOW)
            assert api._lean is not None and api._lean.ready("GetWorkflow")
            api._lean._signer._credentials = Credentials(ACCOUNT, "not-the-secret")
            with pytest.raises(AuthenticationError) as caught:
                await api.get_workflow(WORKFLOW)
    assert caught.value.code == "InvalidSignatureException"


async def test_throttled_lean_calls_are_retried_through_the_pacer(env: None) -> None:
    with Emulator(EmulatorConfig(quotas={"GetWorkflow": 5.0}), seed_dir=SEED) as emu:
        async with open_omics_api(AwsSettings(region="us-east-1", endpoint_url=emu.url, rates=None)) as api:
            await api.get_workflow(WORKFLOW)
            started = time.monotonic()
            answers = await asyncio.gather(*(api.get_workflow(WORKFLOW) for _ in range(20)))
            assert api._lean is not None and api._lean.ready("GetWorkflow")
    assert {a["id"] for a in answers} == {WORKFLOW}
    assert api.throttles > 0 and time.monotonic() - started > 1.0


async def test_an_operation_whose_request_the_lean_path_cannot_reproduce_stays_with_botocore(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LeanReads, "_path_and_query", lambda self, model, params: "/elsewhere")
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        async with open_omics_api(AwsSettings(region="us-east-1", endpoint_url=emu.url, rates=None)) as api:
            for _ in range(3):
                assert (await api.get_workflow(WORKFLOW))["id"] == WORKFLOW
            lean = api._lean
            assert lean is not None and not lean.ready("GetWorkflow") and not lean.wanted("GetWorkflow")
            # ListShares is a POST with a body: never lean
            assert not lean.wanted("ListShares") and not lean.wanted("CreateWorkflow")


def _wire(shape: Any, rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value for ``shape`` as a service might send it: members missing or null,
    members the model does not know, null list items, timestamps in the spellings botocore takes."""
    kind = shape.type_name
    if kind == "structure":
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            roll = rng.random()
            if roll < 0.15 or depth > 4:
                continue
            out[member.serialization.get("name", name)] = (
                None if roll < 0.25 else _wire(member, rng, depth + 1)
            )
        if rng.random() < 0.3:
            out[f"newMember{rng.randrange(9)}"] = {"nested": [1, None, "x"]}
        return out
    if kind == "list":
        return [
            None if rng.random() < 0.1 else _wire(shape.member, rng, depth + 1)
            for _ in range(rng.randrange(4))
        ]
    if kind == "map":
        return {f"k{i}": _wire(shape.value, rng, depth + 1) for i in range(rng.randrange(3))}
    if kind == "timestamp":
        return rng.choice(
            ["2026-11-30T12:34:56.123456Z", "2026-11-30T12:34:56Z", "2026-11-30T12:34:56+02:00", 1764505496]
        )
    if kind == "blob":
        return base64.b64encode(rng.randbytes(rng.randrange(8))).decode()
    if kind in ("integer", "long"):
        return rng.randrange(-5, 10**12)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("float", "double"):
        return rng.random() * 1e6
    return rng.choice(["", "plain", "é 漢字", 'with "quotes"'])


@pytest.mark.parametrize(
    "operation", ["GetWorkflow", "GetWorkflowVersion", "ListWorkflowVersions", "ListWorkflows"]
)
async def test_the_compiled_parse_is_botocores_parse(operation: str) -> None:
    session = AioSession()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_parse_timestamp)
    async with session.create_client(
        "omics", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    ) as client:
        lean = LeanReads.for_client(client)
        assert lean is not None
        model = client.meta.service_model.operation_model(operation)
        convert = lean._converter(operation, model)
        assert convert is not None  # these outputs compile
        rng = random.Random(operation)
        for _ in range(150):
            body = json.dumps(_wire(model.output_shape, rng)).encode()
            headers = {"x-amzn-requestid": "req-1", "content-type": "application/json"}
            response = {"headers": headers, "status_code": 200, "body": body, "context": {}}
            expected = await lean._parser.parse(dict(response), model.output_shape)
            assert convert(dict(response)) == expected
        # what it cannot read is left to botocore's parser
        assert convert({**response, "body": b"not json"}) is None
        assert convert({**response, "body": b"[1, 2]"}) is None
