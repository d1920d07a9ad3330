"""The emulator's HTTP face: one aiohttp application serving the API, STS, downloads and control.

:class:`Core` owns a running emulator's parts (config, state, operations, exporter, governor,
statistics); :func:`build_app` binds them to routes. Requests are told apart by path: ``/_export/``
downloads (export URLs and ECR layers), ``/_emulator/`` control, ``POST /`` STS (GetCallerIdentity,
AssumeRole) or, with an ``X-Amz-Target`` header, the json-protocol APIs: Organizations
(``AWSOrganizationsV20161128.*``, ``_sts``) and ECR (``AmazonEC2ContainerRegistry_V20150921.*``,
``_ecr``); everything else is routed by the botocore model. The API, ECR, Organizations and STS
authenticate every request by its SigV4 signature (``_auth``),
unless ``EmulatorConfig.authentication`` is off; the caller's account and region come from it. The
downloads check their own presigned-style URLs; the control API is not an AWS API and is not signed.
API errors answer the rest-json way: status, header ``x-amzn-ErrorType:
<Code>:http://internal.amazon.com/coral/...`` and body ``{"message": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from ._auth import STS_CODES, AuthFailure, authenticate, aws_region, omics_regions
from ._config import EmulatorConfig, config_from_json, stats_to_json
from ._definition import S3Reader
from ._ecr import ECR_TARGET, EcrOperations
from ._ecr import serve as serve_ecr
from ._ecr_state import EcrWorld
from ._export import Exporter, stream_grant
from ._faults import Governor, StatsRecorder
from ._model import ApiError, match_route, parse_request, serialize_output
from ._ops import CallContext, Operations
from ._state import DEFAULT_ACCOUNT, DEFAULT_REGION, Caller, World
from ._sts import (
    ORGANIZATIONS_TARGET,
    Directory,
    organizations_error,
    organizations_response,
    sts_error,
    sts_response,
)

__all__ = ["MAX_REQUEST_BYTES", "Core", "build_app", "caller_of"]

log = logging.getLogger("archiver.testing")

# Large enough for a base64 definitionZip well over the 4.4 MB limit, so the limit answers, not aiohttp.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[0-9]{8}/([^/,\s]+)/")
_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazonaws.omics/"
_AUTH_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.coral.service/"


def caller_of(headers: Mapping[str, str], query: Mapping[str, str]) -> Caller:
    """Account and region from the SigV4 credential scope; 12-digit access keys are account ids."""
    match = _CREDENTIAL.search(headers.get("Authorization", ""))
    if match is None and "X-Amz-Credential" in query:
        match = _CREDENTIAL.search("Credential=" + query["X-Amz-Credential"])
    access_key, region = (match.group(1), match.group(2)) if match else ("AKIDEMULATOR", DEFAULT_REGION)
    account = access_key if re.fullmatch(r"[0-9]{12}", access_key) else DEFAULT_ACCOUNT
    return Caller(account=account, region=region, access_key=access_key)


class Core:
    """Everything one emulator instance holds; used from its event loop thread."""

    max_request_bytes = MAX_REQUEST_BYTES

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.world = World(config.random_seed)
        self.exporter = Exporter()
        self.governor = Governor(config.random_seed)
        self.stats = StatsRecorder()
        self.directory = Directory()
        self._s3 = S3Reader(config.s3_endpoint_url)
        self.ops = Operations(self.world, self.exporter, self.governor, self.s3, lambda: self.config)
        self.world.consistency.lag = config.consistency_lag
        self.ecr_world = EcrWorld()
        self.ecr = EcrOperations(self.ecr_world, self.exporter, self.governor, lambda: self.config)

    def s3(self) -> S3Reader:
        if self._s3.endpoint_url != self.config.s3_endpoint_url:
            self._s3.close()
            self._s3 = S3Reader(self.config.s3_endpoint_url)
        return self._s3

    async def authenticate(self, request: web.Request, service: str, body: bytes | None = None) -> Caller:
        """The caller of ``request`` signed for ``service``; raises ``AuthFailure`` if refused.

        ``body`` is the request's body when the caller read it already (``request.read()`` otherwise).
        """
        config = self.config
        if not config.authentication:
            caller = caller_of(request.headers, request.query)
            session = self.directory.sessions.get(caller.access_key)
            if session is None:
                return caller
            return Caller(account=session.account, region=caller.region, access_key=caller.access_key)
        regions = config.regions
        identity = authenticate(
            method=request.method,
            raw_path=request.raw_path,
            headers=request.headers,
            body=await request.read() if body is None else body,
            service=service,
            regions=regions
            if regions is not None
            else (omics_regions() if service == "omics" else aws_region),
            credentials=config.credentials,
            now=time.time(),
            sessions=self.directory.session_credentials,
        )
        return Caller(
            account=identity.account,
            region=identity.region,
            access_key=identity.access_key,
            session_token=identity.session_token,
        )

    def reconfigure(self, config: EmulatorConfig) -> None:
        if config.random_seed != self.config.random_seed:
            self.governor.reseed(config.random_seed)
            self.world.consistency.reseed(config.random_seed)
        self.world.consistency.lag = config.consistency_lag
        self.config = config

    def load_seed(self, seed_dir: Path) -> None:
        from ._seed import load_seed

        load_seed(self, seed_dir)

    def close(self) -> None:
        self._s3.close()
        self.ecr_world.close()


def _error(code: str, message: str, status: int, namespace: str = _ERROR_NAMESPACE) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps({"message": message}).encode(),
        content_type="application/json",
        headers={"x-amzn-ErrorType": f"{code}:{namespace}", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def build_app(core: Core) -> web.Application:
    """The aiohttp application of ``core``."""

    async def api(request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.raw_path.split("?")[0] == "/":
            if request.headers.get("X-Amz-Target", "").startswith(ECR_TARGET):
                return await serve_ecr(core, request)
            return await sts(request)
        route = match_route(request.method, request.raw_path)
        if route is not None:
            core.stats.call(route[0].name)
        try:
            caller = await core.authenticate(request, "omics")
        except AuthFailure as exc:
            if route is not None:
                core.stats.failed(route[0].name, exc.code)
            return _error(exc.code, exc.message, 403, _AUTH_NAMESPACE)
        if route is None:
            return _error("UnknownOperationException", "Unknown operation", 404)
        op, labels = route
        config = core.config
        try:
            if config.latency > 0:
                await asyncio.sleep(config.latency)
            core.governor.admit(config, caller.account, caller.region, op.name)
            body = await request.read()
            query = {key: request.query.getall(key) for key in request.query}
            params = parse_request(op, labels, query, request.headers, body)
            ctx = CallContext(caller=caller, base_url=f"{request.scheme}://{request.host}")
            result = await core.ops.call(op.name, ctx, params)
        except ApiError as exc:
            core.stats.failed(op.name, exc.code)
            return _error(exc.code, exc.message, exc.status)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("emulator bug in %s", op.name)
            core.stats.failed(op.name, "InternalServerException")
            return _error("InternalServerException", "Internal emulator error", 500)
        payload = serialize_output(op, result)
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        status = int(op.http.get("responseCode", 200))
        if not payload:
            return web.Response(status=status, headers=headers)
        return web.Response(status=status, body=payload, content_type="application/json", headers=headers)

    async def sts(request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target", "")
        if target.startswith(ORGANIZATIONS_TARGET):
            return await organizations(request, target[len(ORGANIZATIONS_TARGET) :])
        form: Mapping[str, Any] = await request.post()
        action = str(form.get("Action") or request.query.get("Action") or "")
        name = action if action in ("GetCallerIdentity", "AssumeRole") else "GetCallerIdentity"
        core.stats.call(name)
        try:
            caller = await core.authenticate(request, "sts")
        except AuthFailure as exc:
            core.stats.failed(name, STS_CODES[exc.code])
            message = (
                "Request is missing Authentication Token"
                if exc.code == "MissingAuthenticationTokenException"
                else exc.message
            )
            return sts_error(STS_CODES[exc.code], message, 403)
        config = core.config
        answer = sts_response(
            core.directory,
            caller,
            {str(k): str(v) for k, v in form.items()},
            denied=config.deny_assume_role,
            now=time.time(),
            session_ttl=config.session_ttl,
        )
        if answer.status >= 400:
            core.stats.failed(name, "AccessDenied" if answer.status == 403 else "ValidationError")
        return answer

    async def organizations(request: web.Request, operation: str) -> web.Response:
        core.stats.call(operation)
        try:
            caller = await core.authenticate(request, "organizations")
        except AuthFailure as exc:
            core.stats.failed(operation, exc.code)
            return organizations_error(exc.code, exc.message, 403)
        answer = organizations_response(core.directory, caller, operation, await request.read())
        if answer.status >= 400:
            core.stats.failed(operation, "error")
        return answer

    async def download(request: web.Request) -> web.StreamResponse:
        checked = core.exporter.check(request)
        if isinstance(checked, web.Response):
            return checked
        config = core.config
        if config.download_latency > 0:
            await asyncio.sleep(config.download_latency)
        cut_at = None if request.method == "HEAD" else core.governor.truncate_at(config, checked.size)
        if request.method != "HEAD":
            core.stats.download()
        return await stream_grant(
            request,
            checked,
            cut_at=cut_at,
            bytes_per_second=config.faults.slow_download_bps,
            on_bytes=core.stats.sent,
        )

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(stats_to_json(core.stats.snapshot()))

    async def reset_stats(request: web.Request) -> web.Response:
        core.stats.reset()
        return web.json_response({})

    async def set_config(request: web.Request) -> web.Response:
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            core.reconfigure(config_from_json(core.config, data))
        except (ValueError, TypeError) as exc:
            return web.json_response({"message": str(exc)}, status=400)
        return web.json_response({})

    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_get("/_export/{token}/{filename}", download)
    app.router.add_get("/_emulator/stats", get_stats)
    app.router.add_post("/_emulator/reset-stats", reset_stats)
    app.router.add_post("/_emulator/config", set_config)
    app.router.add_route("*", "/{tail:.*}", api)
    return app
