"""Signed HealthOmics reads without botocore's per-request machinery, held to botocore's own requests.

An archive run is mostly GetWorkflow, GetWorkflowVersion and the two List calls, hundreds or
thousands of times. botocore spends about 1.2 ms of CPU on each (parameter validation, a dozen
event hooks, endpoint-rule resolution, building and re-parsing the request, SigV4 from scratch, a
fresh invocation id), four times what the HTTP exchange itself costs, and CPU per item is what
decides how many account-regions one process keeps busy (issue 11, point 5).

:class:`LeanReads` sends those GETs itself, reusing what can be reused:

* the request is serialized by botocore's own rest-json serializer (validation off: the archiver
  builds these parameters itself), so path labels and query strings are encoded exactly as
  botocore does;
* it is signed with SigV4 over ``host``, ``x-amz-date`` and the session token, with the derived
  signing key cached per day (botocore derives it four HMACs deep for every request), using the
  very credentials object the client signs with, so refreshable (assumed-role) credentials are
  refreshed as before;
* it travels over the client's own aiobotocore HTTP session (its connection pool, TLS settings,
  proxies and exception mapping);
* a successful answer is parsed by plain functions compiled once from the operation's output shape
  (:func:`_compile`, held to botocore's parse by tests/test_leanreads.py); an error, or an answer
  they cannot read, goes to botocore's own parser, and errors are raised as the client's modelled
  ``ClientError`` classes.

Nothing is assumed about the endpoint. An operation goes lean only after botocore has sent one
request for it, in this client or in another whose endpoint-rule inputs are the same (region,
FIPS, dual-stack, custom endpoint, host-prefix setting: ``_endpoint_key``; a run of many targets
opens one client per account and region), and the lean serializer reproduced that request's URL
exactly, for the same parameters, and its credential scope's region and service (``observe``);
until then, and for any operation whose model is not a plain GET of path and query parameters,
botocore sends it. While that first request is in flight, the operation's other calls wait for it.
So a custom endpoint, a FIPS or dual-stack endpoint, a host prefix or a path prefix is whatever
botocore resolved. If the client lacks the internals used here (another aiobotocore), nothing goes
lean and botocore sends everything, as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import hmac
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from aiobotocore.endpoint import convert_to_response_dict
from botocore.auth import _host_from_url
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import NoCredentialsError
from botocore.serialize import create_serializer
from botocore.utils import normalize_url_path, percent_encode_sequence

__all__ = ["LeanReads"]

_Parse = Callable[[dict[str, Any]], "dict[str, Any] | None"]
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_ALGORITHM = "AWS4-HMAC-SHA256"
# What botocore's before-send saw for the call in flight, for :meth:`LeanReads.observe`.
_seen: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("lean_seen", default=None)


# Endpoints proven by one client, for every client whose endpoint-rule inputs are the same (a run
# of many targets opens a client per account and region: each would otherwise send every
# operation through botocore once). Keyed by :func:`_endpoint_key`; bounded.
_PROVEN: dict[tuple[Any, ...], dict[str, str]] = {}
_PROVEN_MAX = 256
# The first calls in flight, by the same key: operation -> set when it ends (then removed).
_OBSERVING: dict[tuple[Any, ...], dict[str, asyncio.Event]] = {}


def _endpoint_key(client: Any) -> tuple[Any, ...] | None:
    """What decides the URL botocore sends an operation to, or None if it is not all known here.

    botocore's endpoint rules are a function of the service's rule-set parameters; when every
    parameter is a plain built-in value (region, FIPS, dual-stack, a custom endpoint URL), two
    clients with the same values resolve the same endpoint. Host prefixes follow the client's
    ``inject_host_prefix``. A parameter that comes from the operation or the credentials (an
    account id, say) makes the endpoint client-specific: nothing is shared.
    """
    resolver = getattr(client, "_ruleset_resolver", None)
    builtins = getattr(resolver, "_builtins", None)
    definitions = getattr(resolver, "_param_definitions", None)
    if not isinstance(builtins, dict) or not isinstance(definitions, dict):
        return None
    values: list[tuple[str, Any]] = []
    for name, definition in definitions.items():
        builtin = getattr(definition, "builtin", None)
        if builtin is None:
            return None
        value = builtins.get(builtin)
        if not isinstance(value, (str, bool, type(None))):
            return None
        values.append((str(name), value))
    model = client.meta.service_model
    config = client.meta.config
    return (
        model.service_id,
        model.api_version,
        str(client.meta.region_name),
        bool(getattr(config, "inject_host_prefix", True)),
        tuple(sorted(values)),
    )


def _plain_get(model: Any) -> bool:
    """True for an operation this module can send: a GET whose input is path and query only."""
    http = model.http
    if http.get("method") != "GET" or model.has_streaming_output or model.has_event_stream_output:
        return False
    if getattr(model, "auth_type", None) not in (None, "v4"):
        return False
    inputs = model.input_shape.members.values() if model.input_shape is not None else ()
    if any(m.serialization.get("location") not in ("uri", "querystring") for m in inputs):
        return False
    outputs = model.output_shape.members.values() if model.output_shape is not None else ()
    return not any(m.serialization.get("location") for m in outputs)


def _scope(authorization: str) -> tuple[str, str] | None:
    """The (region, service) of a SigV4 Authorization header's credential scope."""
    if not authorization.startswith(_ALGORITHM + " "):
        return None
    for part in authorization[len(_ALGORITHM) + 1 :].split(","):
        name, _, value = part.strip().partition("=")
        if name == "Credential":
            fields = value.split("/")
            if len(fields) == 5:
                return fields[2], fields[3]
    return None


class LeanReads:
    """Sends the plain GET operations of one aiobotocore client once botocore has shown the way.

    Build it with :meth:`for_client`, which answers ``None`` when the client lacks what is needed.
    """

    def __init__(self, client: Any, http_session: Any, parser: Any, signer: Any) -> None:
        self._client = client
        self._http = http_session
        self._parser = parser
        self._signer = signer
        self._model = client.meta.service_model
        self._serializer = create_serializer(self._model.metadata["protocol"], include_validation=False)
        self._region = str(client.meta.region_name)
        self._service = str(self._model.signing_name)
        self._base: dict[str, str] = {}  # operation -> scheme://host[/path prefix], once proven
        self._refused: set[str] = set()  # operations whose botocore request the lean one did not match
        key = _endpoint_key(client)
        if key is not None and key not in _PROVEN and len(_PROVEN) >= _PROVEN_MAX:
            _PROVEN.clear()
            _OBSERVING.clear()
        # operation -> base proven by a client with the same endpoint inputs (this one included)
        self._shared: dict[str, str] = _PROVEN.setdefault(key, {}) if key is not None else {}
        # operation -> set when the first call in flight (of any client with this key) ends
        self._observing: dict[str, asyncio.Event] = _OBSERVING.setdefault(key, {}) if key is not None else {}
        self._models: dict[str, Any] = {}
        self._converters: dict[str, _Parse | None] = {}
        self._hosts: dict[str, str] = {}  # scheme://netloc -> the host header botocore signs
        self._keys: dict[tuple[str, str], bytes] = {}  # (secret, day) -> signing key
        self._user_agent: Callable[[], str] | None = None
        creator = getattr(client, "_user_agent_creator", None)
        if creator is not None and callable(getattr(creator, "to_string", None)):
            self._user_agent = creator.to_string
        client.meta.events.register(f"before-send.{self._model.service_id.hyphenize()}", _record)

    @classmethod
    def for_client(cls, client: Any) -> LeanReads | None:
        endpoint = getattr(client, "_endpoint", None)
        http_session = getattr(endpoint, "http_session", None)
        factory = getattr(endpoint, "_response_parser_factory", None)
        signer = getattr(client, "_request_signer", None)
        if http_session is None or factory is None or signer is None:
            return None
        if not callable(getattr(http_session, "send", None)) or not hasattr(signer, "_credentials"):
            return None
        parser = factory.create_parser(client.meta.service_model.metadata["protocol"])
        return cls(client, http_session, parser, signer)

    def _operation(self, operation: str) -> Any | None:
        model = self._models.get(operation)
        if model is None and operation not in self._models:
            model = self._client.meta.service_model.operation_model(operation)
            self._models[operation] = model = model if _plain_get(model) else None
        return model

    def ready(self, operation: str) -> bool:
        """Whether ``operation`` goes lean now (botocore has shown its URL and it matched).

        Shown to this client, or to another with the same endpoint inputs (:func:`_endpoint_key`).
        """
        if operation in self._base:
            return True
        base = self._shared.get(operation)
        if base is None or operation in self._refused or self._operation(operation) is None:
            return False
        self._base[operation] = base
        return True

    def wanted(self, operation: str) -> bool:
        """Whether ``operation`` could go lean once botocore has sent it once."""
        return operation not in self._refused and self._operation(operation) is not None

    def _path_and_query(self, model: Any, params: Mapping[str, Any]) -> str:
        request = self._serializer.serialize_to_request(dict(params), model)
        path = str(request["url_path"])
        query = request["query_string"]
        if query:
            path += "?" + percent_encode_sequence(query)
        return path

    async def call(
        self, operation: str, params: Mapping[str, Any], send: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """Send ``operation`` lean if it is ready, else through botocore's ``send`` and observe it.

        Decided when the request leaves, not when it was queued (behind a pacer, say). While the
        first botocore call of an operation is in flight, the others wait for it, so a burst of
        concurrent calls costs one botocore request, not one each.
        """
        if not self.ready(operation):
            first = self._observing.get(operation)
            if first is None:
                first = self._observing[operation] = asyncio.Event()
                try:
                    return await self.observe(operation, params, send)
                finally:
                    first.set()
                    if self._observing.get(operation) is first:
                        del self._observing[operation]
            await first.wait()
            if not self.ready(operation):  # the first call failed or did not match
                return await self.observe(operation, params, send)
        return await self.send(operation, params)

    async def observe(
        self, operation: str, params: Mapping[str, Any], send: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """Let botocore send ``operation``; learn its endpoint if the lean request matches."""
        seen: dict[str, Any] = {}
        token = _seen.set(seen)
        try:
            response = await send()
        finally:
            _seen.reset(token)
        url, authorization = seen.get("url"), seen.get("authorization")
        model = self._operation(operation)
        if model is None or not isinstance(url, str) or operation in self._base:
            return response
        ours = self._path_and_query(model, params)
        if not url.endswith(ours) or _scope(str(authorization or "")) != (self._region, self._service):
            self._refused.add(operation)
            return response
        base = url[: len(url) - len(ours)]
        parts = urlsplit(base)
        if parts.scheme in ("http", "https") and parts.netloc and not parts.query and not parts.fragment:
            self._base[operation] = self._shared[operation] = base
        else:
            self._refused.add(operation)
        return response

    async def send(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``operation`` (which :meth:`ready` said is lean); botocore's parsed answer or error."""
        model = self._operation(operation)
        assert model is not None  # ready() only for operations _operation accepted
        base = self._base[operation]
        url = base + self._path_and_query(model, params)
        headers = await self._signed_headers(url)
        request = AWSPreparedRequest("GET", url, headers, None, False)
        http_response = await self._http.send(request)
        response = await convert_to_response_dict(http_response, model)
        status = http_response.status_code
        converter = self._converter(operation, model) if status < 300 else None
        quick = converter(response) if converter is not None else None
        if quick is not None:
            return quick
        parsed: dict[str, Any] = await self._parser.parse(response, model.output_shape)
        if status >= 300:
            error = parsed.get("Error", {})
            code = error.get("QueryErrorCode") or error.get("Code")
            raise self._client.exceptions.from_code(code)(parsed, operation)
        return parsed

    def _converter(self, operation: str, model: Any) -> _Parse | None:
        """The compiled parser of ``operation``'s successful answers (None: botocore's parser)."""
        if operation not in self._converters:
            try:
                body = _compile(model.output_shape, self._parser, 0) if model.output_shape else None
            except _Unsupported:
                self._converters[operation] = None
            else:
                self._converters[operation] = functools.partial(_answer, body)
        return self._converters[operation]

    async def _signed_headers(self, url: str) -> dict[str, str]:
        credentials = self._signer._credentials
        if credentials is None:
            raise NoCredentialsError()
        frozen = credentials.get_frozen_credentials()
        if inspect.isawaitable(frozen):
            frozen = await frozen
        access, secret, token = frozen.access_key, frozen.secret_key, frozen.token
        if access is None or secret is None:
            raise NoCredentialsError()
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        host = self._hosts.get(base)
        if host is None:
            host = self._hosts[base] = _host_from_url(base)  # botocore's: lower case, no default port
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = stamp[:8]
        signed = {"host": host, "x-amz-date": stamp}
        if token:
            signed["x-amz-security-token"] = token
        names = sorted(signed)
        pairs = sorted(pair.partition("=")[::2] for pair in parts.query.split("&")) if parts.query else []
        canonical = "\n".join(
            (
                "GET",
                quote(normalize_url_path(parts.path), safe="/~"),
                "&".join(f"{k}={v}" for k, v in pairs),
                "".join(f"{n}:{' '.join(signed[n].split())}\n" for n in names),
                ";".join(names),
                _EMPTY_SHA256,
            )
        )
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        to_sign = f"{_ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._key(secret, day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers = {
            "X-Amz-Date": stamp,
            "Authorization": (
                f"{_ALGORITHM} Credential={access}/{scope}, SignedHeaders={';'.join(names)}, "
                f"Signature={signature}"
            ),
        }
        if token:
            headers["X-Amz-Security-Token"] = token
        if self._user_agent is not None:
            headers["User-Agent"] = self._user_agent()
        return headers

    def _key(self, secret: str, day: str) -> bytes:
        key = self._keys.get((secret, day))
        if key is None:
            if len(self._keys) > 8:  # rotated credentials or a new day: drop the old keys
                self._keys.clear()
            key = ("AWS4" + secret).encode()
            for part in (day, self._region, self._service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys[(secret, day)] = key
        return key


class _Unsupported(Exception):
    """An output shape :func:`_compile` does not reproduce botocore's parse of: botocore parses it."""


_Convert = Callable[[Any], Any]


def _compile(shape: Any, parser: Any, depth: int) -> _Convert | None:
    """botocore's rest-json body parse of ``shape`` as plain functions; ``None``: the value as is.

    What botocore's ``BaseJSONParser`` does, without looking the handler up by name for every
    value: a structure keeps only its modelled members (by their wire name) whose value is not
    null, a list converts its non-null items, a map its keys and values, timestamps and blobs go
    through the parser's own timestamp and blob parsers, and every other scalar is kept as it came.
    Document types, tagged unions and very deep shapes are left to botocore (:class:`_Unsupported`).
    tests/test_leanreads.py holds the result to botocore's parse.
    """
    if depth > 32:
        raise _Unsupported
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type or shape.is_tagged_union:
            raise _Unsupported
        members = tuple(
            (name, member.serialization.get("name", name), _compile(member, parser, depth + 1))
            for name, member in shape.members.items()
        )

        def structure(value: Any) -> Any:
            if value is None:
                return None
            out: dict[str, Any] = {}
            for name, wire, convert in members:
                raw = value.get(wire)
                if raw is not None:
                    out[name] = raw if convert is None else convert(raw)
            return out

        return structure
    if kind == "list":
        item = _compile(shape.member, parser, depth + 1)
        if item is None:
            return list
        return lambda node: [None if value is None else item(value) for value in node]
    if kind == "map":
        key, value = _compile(shape.key, parser, depth + 1), _compile(shape.value, parser, depth + 1)
        return lambda node: {
            (k if key is None else key(k)): (v if value is None else value(v)) for k, v in node.items()
        }
    if kind == "timestamp":
        return parser._timestamp_parser  # type: ignore[no-any-return]
    if kind == "blob":
        return parser._blob_parser  # type: ignore[no-any-return]
    return None


def _answer(body: _Convert | None, response: dict[str, Any]) -> dict[str, Any] | None:
    """A successful answer parsed as botocore's parser would, or None to let botocore parse it."""
    raw = response["body"]
    try:
        document = json.loads(raw) if raw else {}
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    parsed: dict[str, Any] = body(document) if body is not None else {}
    headers = response["headers"]
    metadata: dict[str, Any] = {}
    if "x-amzn-requestid" in headers:
        metadata["RequestId"] = headers["x-amzn-requestid"]
    elif "x-amz-request-id" in headers:
        metadata["RequestId"] = headers["x-amz-request-id"]
        metadata["HostId"] = headers.get("x-amz-id-2", "")
    metadata["HTTPStatusCode"] = response["status_code"]
    metadata["HTTPHeaders"] = {str(k).lower(): v for k, v in headers.items()}
    return {"ResponseMetadata": metadata, **parsed}


def _record(request: Any, **_: Any) -> None:
    """before-send hook: note the URL and Authorization of the request botocore is sending."""
    seen = _seen.get()
    if seen is not None:
        seen["url"] = request.url
        value = request.headers.get("Authorization")
        seen["authorization"] = value.decode("latin-1") if isinstance(value, bytes) else value
