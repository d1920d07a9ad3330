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
        "http://localhost/a/./b/../c//d/?x=1",
        "http://localhost/a/.hidden/..",
        "http://localhost",
        "http://localhost/wf/v1.0~x_y-z/",
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


# --- the per-request fast paths (session 7): each is held to what it replaces -------------------


def _serialized(lean: LeanReads, model: Any, params: dict[str, Any]) -> str | None:
    """botocore's serializer's path and query (what _path_and_query answered before compiling)."""
    from botocore.utils import percent_encode_sequence

    try:
        request = lean._serializer.serialize_to_request(dict(params), model)
    except Exception:
        return None
    path = str(request["url_path"])
    return path + "?" + percent_encode_sequence(request["query_string"]) if request["query_string"] else path


def _odd(rng: random.Random) -> Any:
    return rng.choice(
        [
            "plain",
            "1.0.0",
            "a/b c",
            "é漢字~",
            "%41+=&?#",
            "",
            "..",
            rng.randrange(-5, 10**6),
            True,
            False,
            ["DEFINITION", "README"],
            ["a b", 7],
            (x for x in ()),
            {"k": "v"},
            None,
            3.5,
        ]
    )


async def test_the_compiled_path_and_query_is_botocores() -> None:
    session = AioSession()
    async with session.create_client(
        "omics", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    ) as client:
        lean = LeanReads.for_client(client)
        assert lean is not None
        service = client.meta.service_model
        rng = random.Random(7)
        compiled = 0
        for name in service.operation_names:
            model = service.operation_model(name)
            if lean._operation(name) is None:
                continue
            members = list(model.input_shape.members) if model.input_shape else []
            for _ in range(60):
                params = {m: _odd(rng) for m in members if rng.random() < 0.8}
                if rng.random() < 0.1:
                    params["notAMember"] = "x"
                params = {k: (list(v) if hasattr(v, "__next__") else v) for k, v in params.items()}
                expected = _serialized(lean, model, params)
                if expected is None:  # botocore refuses these parameters: so must the lean path
                    with pytest.raises(Exception):  # noqa: B017
                        lean._path_and_query(model, params)
                    continue
                assert lean._path_and_query(model, params) == expected, (name, params)
            render = lean._renders.get(name)
            compiled += render is not None
        # and the common call is compiled, not left to botocore
        model = service.operation_model("GetWorkflowVersion")
        params = {"workflowId": "12", "versionName": "v 1/é", "type": "PRIVATE", "export": ["DEFINITION"]}
        render = lean._renders["GetWorkflowVersion"]
        assert render is not None and render(params) == _serialized(lean, model, params)
    assert compiled >= 4


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_frozen_credentials_are_reused_for_a_second_only_outside_the_refresh_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from archiver.targets._credentials import AssumedRoleCredentials

    wall = [dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)]
    issued: list[str] = []

    async def refresh() -> dict[str, Any]:
        issued.append(f"AKID{len(issued)}")
        expiry = wall[0] + dt.timedelta(seconds=3600)
        return {"access_key": issued[-1], "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()}

    credentials = AssumedRoleCredentials(refresh)
    credentials._time_fetcher = lambda: wall[0]
    await credentials.get_frozen_credentials()
    asked = 0
    real = credentials.get_frozen_credentials

    async def counting() -> Any:
        nonlocal asked
        asked += 1
        return await real()

    credentials.get_frozen_credentials = counting
    clock = _Clock()
    monkeypatch.setattr("archiver._leanreads.time.monotonic", clock)
    session = AioSession()
    async with session.create_client(
        "omics", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    ) as client:
        lean = LeanReads.for_client(client)
        assert lean is not None
        lean._signer._credentials = credentials
        url = "https://omics.us-east-1.amazonaws.com/workflow/1"

        async def key() -> str:
            return (await lean._signed_headers(url))["Authorization"].split("Credential=")[1].split("/")[0]

        for _ in range(5):
            assert await key() == "AKID0"
        assert asked == 1  # reused within the second
        clock.now += 1.0
        await key()
        assert asked == 2  # asked again after it
        # 15 minutes (the advisory window) + 1 s before expiry: asked on every request, and the
        # refresh happens exactly when botocore's own check would do it
        wall[0] += dt.timedelta(seconds=3600 - 15 * 60 - 0.5)
        clock.now += 1.0
        for _ in range(3):
            assert await key() == "AKID0"
        assert asked == 5
        wall[0] += dt.timedelta(seconds=1)  # now in the advisory window
        assert await key() == "AKID1"
        assert asked == 6
        # other credentials (an object swapped in) are never answered from the cache
        lean._signer._credentials = Credentials("OTHER", "s")
        assert await key() == "OTHER"


def test_lean_calls_with_expiring_assumed_credentials_refresh_before_expiry(env: None) -> None:
    """A run longer than two assumed-role sessions, on the lean path with the cache: never refused."""
    from archiver.targets import RoleAssumer, Target

    ttl = 3.0
    target = Target(
        account="111111111111",
        region="us-east-1",
        role_arn="arn:aws:iam::111111111111:role/OmicsArchiverReader",
    )

    async def go(emu: Emulator) -> tuple[int, int, int]:
        settings = AwsSettings(region="us-east-1", endpoint_url=emu.url, sts_endpoint_url=emu.url, rates=None)
        async with RoleAssumer(settings, duration_seconds=900) as assumer:
            credentials = await assumer.credentials(target)
            asked = 0
            real = credentials.get_frozen_credentials

            async def counting() -> Any:
                nonlocal asked
                asked += 1
                return await real()

            credentials.get_frozen_credentials = counting
            calls = 0
            async with open_omics_api(
                AwsSettings(region="us-east-1", endpoint_url=emu.url, credentials=credentials, rates=None)
            ) as api:
                started = time.monotonic()
                while time.monotonic() - started < 2.2 * ttl:
                    await asyncio.gather(*(api.get_workflow("8388608") for _ in range(4)))
                    calls += 4
                    await asyncio.sleep(0.02)
                assert api._lean is not None and api._lean.ready("GetWorkflow")
            return credentials.refreshes, asked, calls

    with Emulator(EmulatorConfig(quotas=None, session_ttl=ttl), seed_dir=SEED) as emu:
        refreshes, asked, calls = asyncio.run(go(emu))
        stats = emu.stats()
    assert not stats.errors  # no request was refused: each session was renewed before it expired
    assert refreshes >= 3
    assert asked < calls  # the cache was in use


def _exceptions() -> list[BaseException]:
    import concurrent.futures
    import socket

    import aiohttp
    from aiohttp.client_reqrep import ConnectionKey

    key = ConnectionKey("h", 443, True, True, None, None, None)
    return [
        aiohttp.ClientConnectorCertificateError(key, ValueError("cert")),
        aiohttp.ClientConnectorSSLError(key, OSError(1, "ssl")),
        aiohttp.ClientProxyConnectionError(key, OSError(1, "proxy")),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("cut"),
        aiohttp.http_exceptions.BadStatusLine("junk"),
        aiohttp.ServerTimeoutError("Connection timeout to host"),
        aiohttp.ServerTimeoutError("Timeout on reading data from socket"),
        aiohttp.ClientConnectorError(key, OSError(111, "refused")),
        aiohttp.ClientOSError(104, "reset"),
        aiohttp.ClientConnectionError("gone"),
        socket.gaierror(-2, "Name or service not known"),
        TimeoutError(),
        concurrent.futures.CancelledError(),
        ValueError("anything else"),
    ]


@pytest.mark.parametrize("exc", _exceptions(), ids=lambda e: type(e).__name__)
async def test_the_direct_exchange_raises_what_aiobotocore_raises(
    exc: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aiohttp
    from botocore.awsrequest import AWSPreparedRequest

    async def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(aiohttp.ClientSession, "_request", failing)  # both sessions' requests
    url = "https://omics.us-east-1.amazonaws.com/workflow/1?type=PRIVATE"
    session = AioSession()
    async with session.create_client(
        "omics", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    ) as client:
        lean = LeanReads.for_client(client)
        assert lean is not None and lean._can_go_direct("https://omics.us-east-1.amazonaws.com")
        with pytest.raises(BaseException) as theirs:
            await lean._http.send(AWSPreparedRequest("GET", url, {}, None, False))
        with pytest.raises(BaseException) as ours:
            await lean._exchange(url, {"X-Amz-Date": "x"})
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


async def test_the_direct_exchange_sends_the_headers_aiobotocore_sends() -> None:
    from aiohttp import web
    from botocore.awsrequest import AWSPreparedRequest

    seen: list[list[tuple[str, str]]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(
            [(k, v) for k, v in request.headers.items() if k.lower() != "host"] + [("path", request.raw_path)]
        )
        return web.json_response({"ok": 1}, headers={"x-amzn-RequestId": "r-1", "X-Dup": "a"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        session = AioSession()
        async with session.create_client(
            "omics",
            region_name="us-east-1",
            aws_access_key_id="a",
            aws_secret_access_key="b",
            endpoint_url=base,
        ) as client:
            lean = LeanReads.for_client(client)
            assert lean is not None and lean._can_go_direct(base)
            url = base + "/workflow/a%2Fb/version/%C3%A9?export=DEFINITION&export=README&type=PRIVATE"
            headers = await lean._signed_headers(url)
            response = await lean._http.send(AWSPreparedRequest("GET", url, dict(headers), None, False))
            status, raw, body = await lean._exchange(url, dict(headers))
    finally:
        await runner.cleanup()
    assert seen[0] == seen[1]
    # the lean session owns nothing: closing the client closed the pool under it (no warning)
    assert lean._session is not None and lean._session.closed
    assert (status, raw, body) == (
        response.status_code,
        dict(response.headers.items()),
        await response.content,
    )


async def test_a_proxy_keeps_the_lean_requests_on_aiobotocores_send() -> None:
    from botocore.config import Config

    session = AioSession()
    async with session.create_client(
        "omics", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b",
        config=Config(proxies={"https": "http://proxy.example:3128"}),
    ) as client:  # fmt: skip
        lean = LeanReads.for_client(client)
        assert lean is not None
        assert not lean._can_go_direct("https://omics.us-east-1.amazonaws.com")
        assert lean._can_go_direct("http://127.0.0.1:8080")  # no proxy for plain http here
