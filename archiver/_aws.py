"""The boundary to AWS: client construction, rate limiting and error translation.

Everything that talks to HealthOmics or STS goes through :class:`OmicsApi`. It owns one
aiobotocore client (opened with :func:`open_omics_api` as an ``async with``), paces each call with
the per-operation :class:`~archiver._ratelimit.RateLimiter`, retries throttling, server errors and
connection failures itself, and turns every botocore exception into the archiver error tree
(``raise ... from exc``), so no other module imports botocore's exceptions.

Why our own retries: botocore's retries happen inside the client call, after the pacer has let the
call through once, so they bypass the pacing, and its retry budget runs out under sustained
throttling, failing items although the service would have answered a little later. Here every
attempt takes a pacer token, a throttle slows the operation down (additive increase, multiplicative
decrease, as botocore's adaptive mode and the AWS SDKs do) and is retried for as long as
``throttle_patience`` allows; server errors and connection failures get a bounded number of
attempts with jittered exponential back-off. Each retry is logged once, at info, with its
operation and attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import difflib
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aiobotocore.session import AioSession
from botocore.config import Config
from botocore.context import get_context
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.utils import parse_timestamp

from ._errors import (
    AccessDenied,
    AuthenticationError,
    ResourceNotFound,
    ServiceError,
    ServiceValidationError,
    Throttled,
    UsageError,
)
from ._leanreads import LeanReads
from ._ratelimit import RateLimiter
from ._settings import AwsSettings
from ._tls import aio_config

__all__ = [
    "AwsSettings",
    "CallerIdentity",
    "OmicsApi",
    "call_aws",
    "check_region",
    "new_session",
    "open_omics_api",
    "partition_of",
    "translate_client_error",
]

EXPORT_ALL = ["DEFINITION", "README"]

log = logging.getLogger("archiver.aws")


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    partition: str
    account: str
    region: str


_ERROR_CLASSES: dict[str, type[ServiceError]] = {
    "AccessDeniedException": AccessDenied,
    "AccessDenied": AccessDenied,
    "ResourceNotFoundException": ResourceNotFound,
    "ThrottlingException": Throttled,
    "TooManyRequestsException": Throttled,
    "ValidationException": ServiceValidationError,
    **dict.fromkeys(
        (
            # rest-json and JSON services (HealthOmics)
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "IncompleteSignatureException",
            "MissingAuthenticationTokenException",
            "ExpiredTokenException",
            # query services (STS)
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "IncompleteSignature",
            "MissingAuthenticationToken",
            "ExpiredToken",
            "RequestExpired",
        ),
        AuthenticationError,
    ),
}
"""Error codes to archiver errors. Authentication codes are answered with 403 and are neither
throttling nor transient: :func:`retry_kind` (and botocore's standard and legacy modes, were they
used) never retries them, so an :class:`AuthenticationError` is the first attempt's answer."""

_AUTH_HINT = "check the AWS credentials (access key, secret, session token), the region and the clock"


def translate_client_error(exc: Exception, operation: str, resource: str | None = None) -> ServiceError:
    """Map a botocore exception to the archiver error tree (the caller raises it ``from exc``)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "") or "")
        message = str(err.get("Message", "") or "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        cls = _ERROR_CLASSES.get(code, ServiceError)
        where = f" for {resource}" if resource else ""
        if cls is AuthenticationError:
            text = f"{operation}{where}: AWS refused the request's authentication: {code}: {message}"
            text = f"{text.rstrip(' .')}; {_AUTH_HINT}"
        else:
            text = f"{operation}{where} failed: {code or 'error'}: {message}".rstrip(": ")
        return cls(" ".join(text.split()), operation=operation, code=code, status=status, resource=resource)
    if isinstance(exc, NoCredentialsError):
        return AuthenticationError(
            "no AWS credentials found (set a profile, environment credentials or an instance role)",
            operation=operation,
            code="NoCredentials",
        )
    if isinstance(exc, (PartialCredentialsError, CredentialRetrievalError)):
        return AuthenticationError(
            f"{operation}: cannot use the AWS credentials: {exc}",
            operation=operation,
            code=type(exc).__name__,
        )
    if isinstance(exc, NoRegionError):
        return ServiceError("no AWS region configured (use --region)", operation=operation, code="NoRegion")
    return ServiceError(f"{operation} failed: {exc}", operation=operation, code=type(exc).__name__)


def _parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, with a fast path for the ISO 8601 strings HealthOmics sends.

    botocore's own goes through dateutil's general parser, a noticeable share of the CPU per call;
    the result is the same aware datetime. Anything else (epoch numbers, RFC 822, no offset) is
    left to botocore.
    """
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None:
                return moment
    parsed: datetime = parse_timestamp(value)
    return parsed


_THROTTLE_CODES = {
    "ThrottlingException",
    "TooManyRequestsException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
}
_TRANSIENT_CODES = {"InternalServerException", "InternalFailure", "ServiceUnavailable", "RequestTimeout"}
_THROTTLE_BACKOFF_CAP = 2.0
RetryKind = Literal["throttle", "transient", "connect"]


def retry_kind(exc: Exception) -> RetryKind | None:
    """Whether a failed attempt is worth another one, and which budget it draws on."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "") or "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in _THROTTLE_CODES or status == 429:
            return "throttle"
        if code in _TRANSIENT_CODES or int(status) >= 500:
            return "transient"
        return None
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return "connect"
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError | HTTPClientError):
        return "transient"
    return None


def _client_config(settings: AwsSettings, *, custom_endpoint: bool) -> Config:
    # aio_config: every client of the process shares one TLS context (see archiver._tls)
    return aio_config(
        # One attempt per botocore call: OmicsApi retries, through the pacer (see the module docstring).
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=settings.max_pool_connections,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        inject_host_prefix=not custom_endpoint,
        user_agent_extra="omics-archiver",
    )


class OmicsApi:
    """The HealthOmics operations omics-archiver uses, paced and with translated errors.

    Methods return botocore's parsed response dicts (``ResponseMetadata`` included); list methods
    are async generators over every page's items.
    """

    def __init__(
        self, client: Any, settings: AwsSettings, session: AioSession, lean: LeanReads | None = None
    ) -> None:
        self._client = client
        self._lean = lean  # the plain GETs, sent without botocore's per-request work (_leanreads)
        self._settings = settings
        self._session = session
        self.limiter = RateLimiter(settings.rates)
        self.throttles = 0  # throttled attempts (each was retried or, past the patience, failed)
        self.retries = 0  # attempts that were retried, whatever the reason

    @property
    def region(self) -> str:
        return str(self._client.meta.region_name)

    @property
    def settings(self) -> AwsSettings:
        return self._settings

    async def call(self, operation: str, resource: str | None = None, **params: Any) -> dict[str, Any]:
        """Call one operation by its API name (``GetWorkflow``), paced, retried and translated."""
        method = getattr(self._client, _snake(operation))
        send: Callable[[], Awaitable[dict[str, Any]]] = lambda: method(**params)  # noqa: E731
        lean = self._lean
        if lean is not None and lean.wanted(operation):
            send = functools.partial(lean.call, operation, params, send)
        endpoint = str(self._client.meta.endpoint_url)
        return await self._retrying(operation, resource, send, endpoint, paced=True)

    async def _retrying(
        self,
        operation: str,
        resource: str | None,
        send: Callable[[], Awaitable[dict[str, Any]]],
        endpoint: str,
        *,
        paced: bool,
    ) -> dict[str, Any]:
        s = self._settings
        started = time.monotonic()
        attempt = 0
        budget = {"transient": s.max_attempts, "connect": s.connect_attempts}
        while True:
            attempt += 1
            if paced:
                await self.limiter.acquire(operation)
            try:
                response: dict[str, Any] = await send()
            except (ClientError, BotoCoreError) as exc:
                kind = retry_kind(exc)
                if kind == "throttle":
                    self.limiter.throttled(operation)
                    self.throttles += 1
                    exhausted = time.monotonic() - started >= s.throttle_patience
                else:
                    exhausted = kind is None or attempt >= budget[kind]
                if exhausted:
                    raise _final_error(exc, operation, resource, endpoint, attempt) from exc
                self.retries += 1
                # A throttled call waits for the pacer too, which has just slowed down: a short
                # back-off is enough, and a long one would only idle the run.
                cap = min(s.backoff_cap, _THROTTLE_BACKOFF_CAP) if kind == "throttle" else s.backoff_cap
                delay = random.uniform(0, min(cap, s.backoff_base * 2 ** min(attempt - 1, 16)))
                log.info(
                    "retrying %s%s (attempt %d) in %.2f s: %s",
                    operation,
                    f" for {resource}" if resource else "",
                    attempt + 1,
                    delay,
                    _reason(exc),
                    extra={"event": "retry", "operation": operation, "attempt": attempt + 1, "reason": kind},
                )
                await asyncio.sleep(delay)
                continue
            if paced:
                self.limiter.succeeded(operation)
            return response

    async def _pages(
        self, operation: str, items_key: str, *, token_in: str, resource: str | None = None, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = await self.call(operation, resource, **params, **({token_in: token} if token else {}))
            for item in page.get(items_key, []):
                yield item
            token = page.get("nextToken")
            if not token:
                return

    def list_workflows(
        self, *, workflow_type: str = "PRIVATE", name: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        extra = {"name": name} if name is not None else {}
        return self._pages(
            "ListWorkflows", "items", token_in="startingToken", type=workflow_type, maxResults=100, **extra
        )

    def list_workflow_versions(
        self, workflow_id: str, *, owner_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        extra = {"workflowOwnerId": owner_id} if owner_id else {}
        return self._pages(
            "ListWorkflowVersions",
            "items",
            token_in="startingToken",
            resource=f"workflow {workflow_id}",
            workflowId=workflow_id,
            maxResults=100,
            **extra,
        )

    def list_shares(
        self, *, resource_owner: str, resource_arns: Sequence[str] = ()
    ) -> AsyncIterator[dict[str, Any]]:
        share_filter: dict[str, Any] = {"type": ["WORKFLOW"]}
        if resource_arns:
            share_filter["resourceArns"] = list(resource_arns)
        return self._pages(
            "ListShares", "shares", token_in="nextToken", resourceOwner=resource_owner, filter=share_filter
        )

    async def get_workflow(
        self, workflow_id: str, *, export: bool = False, owner_id: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"id": workflow_id, "type": "PRIVATE"}
        if export:
            params["export"] = EXPORT_ALL
        if owner_id:
            params["workflowOwnerId"] = owner_id
        return await self.call("GetWorkflow", f"workflow {workflow_id}", **params)

    async def get_workflow_version(
        self, workflow_id: str, version_name: str, *, export: bool = False, owner_id: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"workflowId": workflow_id, "versionName": version_name, "type": "PRIVATE"}
        if export:
            params["export"] = EXPORT_ALL
        if owner_id:
            params["workflowOwnerId"] = owner_id
        return await self.call(
            "GetWorkflowVersion", f"workflow {workflow_id} version {version_name}", **params
        )

    async def caller_identity(self, fallback_arn: str | None = None) -> CallerIdentity:
        """The account and partition: from a workflow ARN if one is known, else from STS."""
        if fallback_arn:
            parts = fallback_arn.split(":")
            if len(parts) > 4 and parts[4].isdigit():
                return CallerIdentity(partition=parts[1], account=parts[4], region=self.region)
        s = self._settings
        async with self._session.create_client(
            "sts",
            region_name=self.region,
            endpoint_url=s.sts_endpoint_url,
            config=_client_config(s, custom_endpoint=s.sts_endpoint_url is not None),
        ) as sts:
            ident = await self._retrying(
                "GetCallerIdentity", None, sts.get_caller_identity, str(sts.meta.endpoint_url), paced=False
            )
        arn = str(ident.get("Arn", ""))
        partition = arn.split(":")[1] if arn.count(":") >= 4 else partition_of(self.region)
        return CallerIdentity(partition=partition, account=str(ident["Account"]), region=self.region)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code') or 'error'}: {err.get('Message') or ''}".rstrip(": ")
    return type(exc).__name__


def _final_error(
    exc: Exception, operation: str, resource: str | None, endpoint: str, attempts: int
) -> ServiceError:
    """The error of the last attempt; for an endpoint never reached, one line naming it."""
    if retry_kind(exc) == "connect":
        return ServiceError(
            f"cannot reach {endpoint} ({operation}, {attempts} attempts): {_reason(exc)}; check the "
            "endpoint, the region and the network",
            operation=operation,
            code=type(exc).__name__,
        )
    return translate_client_error(exc, operation, resource)


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to (for ARNs and snapshot keys when STS is not asked)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region named in botocore's partition data (all partitions).

    From ``partitions.json`` (7 KB, which every client loads anyway), not ``endpoints.json``
    (about 60 ms of CPU to parse, a start-up cost of every run), without the ``<partition>-global``
    pseudo-regions it also names; read once per process.
    """
    data = AioSession().get_component("data_loader").load_data("partitions")
    return frozenset(
        region
        for partition in data.get("partitions", [])
        for region in partition.get("regions", {})
        if region != f"{partition.get('id')}-global"
    )


def check_region(region: str, *, allow_unknown: bool = False) -> None:
    """Refuse a region botocore's partition data does not know (a typo archives nothing).

    ``allow_unknown`` lets a region newer than the installed botocore through.
    """
    if allow_unknown:
        return
    regions = known_regions()
    if region in regions:
        return
    # Swapped letters first (us-esat-1), then whatever difflib finds closest.
    close = [r for r in sorted(regions) if sorted(r) == sorted(region)]
    close = close or difflib.get_close_matches(region, sorted(regions), n=2)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise UsageError(
        f"unknown AWS region {region!r}{hint}; if it is a region newer than this installation knows, "
        "pass --allow-unknown-region"
    )


async def _preflight(session: AioSession, settings: AwsSettings) -> None:
    """What every run needs from AWS, checked before its first call: a known region, credentials."""
    region = settings.region or session.get_config_variable("region")
    if not region:
        raise UsageError("no AWS region configured: pass --region or set a default region")
    check_region(str(region), allow_unknown=settings.allow_unknown_region)
    try:
        credentials = await session.get_credentials()
    except BotoCoreError as exc:
        raise UsageError(f"cannot resolve AWS credentials: {exc}") from exc
    if credentials is None:
        raise UsageError(
            "no AWS credentials found (set a profile, environment credentials or an instance role)"
        )


_LOADER: Any = None


def new_session(
    profile: str | None, credentials: Any = None, *, like: AioSession | None = None
) -> AioSession:
    """An aiobotocore session for ``profile``, signing with ``credentials`` when given.

    ``credentials`` is a botocore credentials object, typically refreshable (an assumed role's,
    see ``archiver.targets``): every client of the session then signs with it, and botocore
    refreshes it before it expires. Every session of the process shares one botocore data loader,
    which caches the service models it parsed: an org-wide run opens a session per target, and
    parsing the models again for each took 0.1 s of CPU and several MB per target.

    ``like``: a session of the same profile to copy rather than build (an org-wide run's base
    session, for each target). Building one registers botocore's ~130 event handlers again, about
    11 ms of CPU; a copy shares the original's components (data loader, event emitter, endpoint
    resolver, credential provider, configuration), which its clients only read or copy, and has
    credentials of its own: ``credentials``, or else the original's.
    """
    global _LOADER
    if like is not None:
        session: AioSession = copy.copy(like)
        if credentials is not None:
            session._credentials = credentials
        return session
    session = AioSession(profile=profile)
    if _LOADER is None:
        _LOADER = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _LOADER)
    if credentials is not None:
        session._credentials = credentials  # what AioSession.get_credentials hands to every client
    return session


async def call_aws(
    operation: str,
    send: Callable[[], Awaitable[dict[str, Any]]],
    *,
    endpoint: str,
    resource: str | None = None,
    attempts: int = 5,
    backoff_base: float = 0.25,
) -> dict[str, Any]:
    """One unpaced call outside HealthOmics (STS AssumeRole, Organizations), retried and translated.

    Throttling and transient errors are retried ``attempts`` times with jittered exponential
    back-off; anything else (AccessDenied above all) is the first attempt's answer.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await send()
        except (ClientError, BotoCoreError) as exc:
            if retry_kind(exc) is None or attempt >= attempts:
                raise _final_error(exc, operation, resource, endpoint, attempt) from exc
            delay = random.uniform(0, min(8.0, backoff_base * 2 ** (attempt - 1)))
            log.info(
                "retrying %s (attempt %d) in %.2f s: %s",
                operation,
                attempt + 1,
                delay,
                _reason(exc),
                extra={"event": "retry", "operation": operation, "attempt": attempt + 1},
            )
            await asyncio.sleep(delay)


@contextlib.asynccontextmanager
async def open_omics_api(settings: AwsSettings, *, like: AioSession | None = None) -> AsyncIterator[OmicsApi]:
    """Open an omics client for ``settings``; closed when the block exits.

    Before anything is sent, the region must be known (:func:`check_region`) and credentials must
    resolve; either failing is a :class:`UsageError`. ``like``: a session of ``settings.profile``
    to copy (see :func:`new_session`) instead of building one.
    """
    try:
        session = new_session(settings.profile, settings.credentials, like=like)
        await _preflight(session, settings)
    except BotoCoreError as exc:
        raise UsageError(f"cannot use AWS profile {settings.profile!r}: {exc}") from exc
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_parse_timestamp)
    custom = settings.endpoint_url is not None
    try:
        cm = session.create_client(
            "omics",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=_client_config(settings, custom_endpoint=custom),
        )
        client = await cm.__aenter__()
    except NoRegionError as exc:
        raise UsageError("no AWS region configured: pass --region or set a default region") from exc
    except BotoCoreError as exc:
        raise UsageError(f"cannot create the HealthOmics client: {exc}") from exc
    _cache_user_agent(client)
    try:
        yield OmicsApi(client, settings, session, LeanReads.for_client(client))
    finally:
        await cm.__aexit__(None, None, None)


def _cache_user_agent(client: Any) -> None:
    """Build the User-Agent header once per set of request features, not twice per request.

    botocore assembles it from about twenty components (SDK, OS, language, config, features) and
    then rebuilds it right before sending, so that features a request used are included: a tenth of
    the CPU botocore spends on a call. Everything in it is fixed for a client except the features
    in the request's context, so the string is cached per feature set and is exactly what botocore
    would send. A botocore without this structure is left alone.
    """
    creator = getattr(client, "_user_agent_creator", None)
    build = getattr(creator, "to_string", None)
    if creator is None or build is None:
        return
    cache: dict[frozenset[str], str] = {}

    def to_string() -> str:
        ctx = get_context()
        key = frozenset(ctx.features) if ctx is not None else frozenset()
        text = cache.get(key)
        if text is None:
            text = cache[key] = str(build())
        return text

    creator.to_string = to_string
