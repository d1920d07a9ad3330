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

And, since every archived item costs at least one such GET, each step is as cheap as botocore's
own result allows (issue 11 point 5, issue 13 point 6):

* path and query come from a function compiled once per operation (:func:`_compile_request`),
  held to botocore's rest serializer, which still serializes whatever it does not reproduce;
* refreshable credentials are asked for their frozen values at most once a second, and only
  while their expiry is further off than their advisory refresh window plus that second
  (:func:`_settled`), so every request is signed with what botocore would have handed out and a
  refresh happens when it would have; botocore's check costs timezone arithmetic per request;
* without a proxy, the request goes straight to that HTTP session's aiohttp session
  (:meth:`LeanReads._exchange`): the same headers, timeouts and connection pool, and the same
  botocore exceptions, without the request and response objects botocore wraps an exchange in.

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
import concurrent.futures
import contextvars
import functools
import hashlib
import hmac
import inspect
import json
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiobotocore.endpoint import convert_to_response_dict
from aiobotocore.httpsession import AIOHTTPSession
from aiohttp.http_exceptions import BadStatusLine
from botocore.auth import _host_from_url
from botocore.awsrequest import AWSPreparedRequest, HeadersDict
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.serialize import create_serializer
from botocore.utils import normalize_url_path, percent_encode, percent_encode_sequence
from multidict import CIMultiDict
from yarl import URL

__all__ = ["LeanReads"]

_Parse = Callable[[dict[str, Any]], "dict[str, Any] | None"]
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_RECHECK = 1.0  # seconds frozen credentials are reused without asking their refreshable source
# paths that botocore's normalize_url_path and quote(..., safe="/~") leave as they are
_PLAIN_PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))[^/]+)+/?")
_UNRESERVED_PATH = re.compile(r"[A-Za-z0-9_.~/-]*")
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what percent_encode leaves as it is
_Render = Callable[[Mapping[str, Any]], str | None]
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
        self._direct: dict[str, bool] = {}
        self._wrapped: aiohttp.ClientSession | None = None  # aiobotocore's aiohttp session ...
        self._session: aiohttp.ClientSession | None = None  # ... and ours over its connector
        self._renders: dict[str, _Render | None] = {}  # operation -> compiled path and query
        # the frozen credentials last read, whose credentials object, and until when (monotonic)
        # they stand without asking it again (see _settled)
        self._frozen: Any = None
        self._frozen_of: Any = None
        self._frozen_until = 0.0
        self._token_of: str | None = None
        self._token_canonical = ""  # base -> whether _exchange may carry its requests
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
        if model.name not in self._renders:
            self._renders[model.name] = _compile_request(model)
        render = self._renders[model.name]
        quick = render(params) if render is not None else None
        if quick is not None:
            return quick
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
        direct = self._direct.get(base)
        if direct is None:
            direct = self._direct[base] = self._can_go_direct(base)
        if not direct:
            request = AWSPreparedRequest("GET", url, headers, None, False)
            http_response = await self._http.send(request)
            response = await convert_to_response_dict(http_response, model)
            status = http_response.status_code
        else:
            status, raw_headers, body = await self._exchange(url, headers)
            response = {"headers": raw_headers, "status_code": status, "body": body}
        converter = self._converter(operation, model) if status < 300 else None
        quick = converter(response) if converter is not None else None
        if quick is not None:
            return quick
        if direct:  # what convert_to_response_dict hands botocore's parser
            response = {
                "headers": HeadersDict(response["headers"]),
                "status_code": status,
                "context": {"operation_name": model.name},
                "body": response["body"],
            }
        parsed: dict[str, Any] = await self._parser.parse(response, model.output_shape)
        if status >= 300:
            error = parsed.get("Error", {})
            code = error.get("QueryErrorCode") or error.get("Code")
            raise self._client.exceptions.from_code(code)(parsed, operation)
        return parsed

    def _can_go_direct(self, base: str) -> bool:
        """Whether requests to ``base`` can skip AIOHTTPSession.send: aiobotocore's own send (a
        subclass may build its TLS context differently, not send differently), and no proxy (a
        proxy, its headers and TLS context stay with aiobotocore)."""
        http = self._http
        config = getattr(http, "_proxy_config", None)
        if getattr(type(http), "send", None) is not AIOHTTPSession.send or config is None:
            return False
        if not callable(getattr(http, "_get_session", None)):
            return False
        return not config.proxy_url_for(base + "/")

    async def _exchange(self, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """AIOHTTPSession.send for a GET without a proxy, body or per-request timeout: the same
        session, headers and timeouts, and the same botocore exceptions, without building the
        request and response objects botocore wraps them in."""
        try:
            session = await self._http._get_session(None)
            ours = self._session
            if ours is None or self._wrapped is not session:  # a first request, or a new session
                ours = self._session = _sibling(session)
                self._wrapped = session
            wire = CIMultiDict(headers)
            wire["Accept-Encoding"] = "identity"  # as aiobotocore (botocore issue 1255)
            response = await ours.request("GET", URL(url, encoded=True), headers=wire)
            raw = {k.decode("utf-8").lower(): v.decode("utf-8") for k, v in response.raw_headers}
            body = await response.read()
        except Exception as exc:
            mapped = _botocore_error(exc, url)
            if mapped is exc:
                raise
            raise mapped from exc
        return response.status, raw, body

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
        now = time.monotonic()
        if credentials is self._frozen_of and now < self._frozen_until:
            frozen = self._frozen
        else:
            frozen = credentials.get_frozen_credentials()
            if inspect.isawaitable(frozen):
                frozen = await frozen
            self._frozen, self._frozen_of = frozen, credentials
            self._frozen_until = now + _RECHECK if _settled(credentials) else 0.0
        access, secret, token = frozen.access_key, frozen.secret_key, frozen.token
        if access is None or secret is None:
            raise NoCredentialsError()
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        host = self._hosts.get(base)
        if host is None:
            # botocore's host header (lower case, no default port), as SigV4 canonicalizes it
            host = self._hosts[base] = " ".join(_host_from_url(base).split())
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = stamp[:8]
        if token:
            if token is not self._token_of:  # its canonical form, once per session token
                self._token_of, self._token_canonical = token, " ".join(token.split())
            names = "host;x-amz-date;x-amz-security-token"
            signed = f"host:{host}\nx-amz-date:{stamp}\nx-amz-security-token:{self._token_canonical}\n"
        else:
            names = "host;x-amz-date"
            signed = f"host:{host}\nx-amz-date:{stamp}\n"
        path = parts.path
        if _PLAIN_PATH.fullmatch(path) is None:  # dot segments, empty segments, no path at all
            path = normalize_url_path(path)
        if _UNRESERVED_PATH.fullmatch(path) is None:
            path = quote(path, safe="/~")
        pairs = sorted(pair.partition("=")[::2] for pair in parts.query.split("&")) if parts.query else []
        canonical = "\n".join(
            ("GET", path, "&".join(f"{k}={v}" for k, v in pairs), signed, names, _EMPTY_SHA256)
        )
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        to_sign = f"{_ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.digest(self._key(secret, day), to_sign.encode(), "sha256").hex()
        headers = {
            "X-Amz-Date": stamp,
            "Authorization": (
                f"{_ALGORITHM} Credential={access}/{scope}, SignedHeaders={names}, Signature={signature}"
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


def _settled(credentials: Any) -> bool:
    """Whether refreshable ``credentials`` are sure not to be due a refresh for :data:`_RECHECK`
    seconds: their expiry is further off than their advisory refresh window plus that.

    botocore checks the expiry (a timezone-aware datetime computation) on every request signed;
    the windows are minutes long, so a check a second is enough to sign with the very credentials
    botocore would have handed out. Credentials that are not refreshable, or whose windows cannot
    be read, are asked every time (that is cheap for them).
    """
    needed = getattr(credentials, "refresh_needed", None)
    advisory = getattr(credentials, "_advisory_refresh_timeout", None)
    if not callable(needed) or not isinstance(advisory, int | float):
        return False
    return not needed(advisory + _RECHECK)


def _encode(value: Any) -> str:
    """botocore's percent_encode, without its work for a value it leaves as it is."""
    if type(value) is str and _UNRESERVED.fullmatch(value) is not None:
        return value
    return str(percent_encode(value))


def _compile_request(model: Any) -> _Render | None:
    """``_path_and_query`` by botocore's rest serializer, for its common cases, as one function.

    botocore's serializer builds a whole request dict (body, headers, host prefix) for every call;
    for a plain GET only the path labels and the query string matter. The returned function
    answers None for anything it does not reproduce exactly (a member of another type, a missing
    label, an unknown parameter), and botocore's serializer is used instead. tests/test_leanreads.py
    holds it to botocore's.
    """
    template = str(model.http.get("requestUri", ""))
    shape = model.input_shape
    if shape is None or "?" in template or "#" in template:
        return None
    pieces = re.split(r"{(.*?)}", template)
    head = pieces[0]
    # each label: (wire name, greedy, the literal after it)
    labels = [
        (label.removesuffix("+"), label.endswith("+"), literal)
        for label, literal in zip(pieces[1::2], pieces[2::2], strict=True)
    ]
    members: dict[str, tuple[bool, str, str]] = {}  # parameter -> (in the path, wire name, kind)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        kind = member.type_name
        if kind == "list" and location == "querystring":
            kind = "list" if member.member.type_name in ("string", "integer", "long") else ""
        elif kind not in ("string", "integer", "long", "boolean") or location not in ("uri", "querystring"):
            kind = ""
        # botocore percent-encodes the name of a query parameter too
        members[name] = (location == "uri", wire if location == "uri" else _encode(wire), kind)

    def render(params: Mapping[str, Any]) -> str | None:
        uri: dict[str, Any] = {}
        query: list[str] = []
        queried = False  # a query parameter was given (an empty list too: then a bare "?")
        for name, value in params.items():
            if value is None:
                continue
            found = members.get(name)
            if found is None or not found[2]:
                return None
            in_path, wire, kind = found
            if kind == "boolean":
                if not in_path and isinstance(value, dict):
                    return None  # botocore merges a dict into the query: not reproduced here
                value = str(value).lower()
            elif kind == "list":
                if isinstance(value, dict):
                    return None
                query.extend([f"{wire}={_encode(item)}" for item in value])
                queried = True
                continue
            elif isinstance(value, list | dict):
                return None  # botocore expands or merges it: not reproduced here
            if in_path:
                uri[wire] = value
            else:
                query.append(f"{wire}={_encode(value)}")
                queried = True
        out = [head]
        for wire, greedy, literal in labels:
            if wire not in uri:
                return None
            out.append(str(percent_encode(uri[wire], safe="/~")) if greedy else _encode(uri[wire]))
            out.append(literal)
        path = "".join(out)
        return f"{path}?{'&'.join(query)}" if queried else path

    return render


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


def _sibling(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """An aiohttp session over ``session``'s connection pool, timeouts and cookie jar.

    aiobotocore's session skips the automatic Content-Type header, which makes aiohttp copy and
    merge the headers of every request to honour it; a GET without a body never gets one anyway,
    so this session leaves the list empty and sends the very same headers (Accept as aiohttp adds
    it, the rest as given; tests/test_leanreads.py compares them on the wire). It owns nothing:
    closing aiobotocore's session closes the pool under both.
    """
    return aiohttp.ClientSession(
        connector=session.connector,
        connector_owner=False,
        timeout=session.timeout,
        cookie_jar=session.cookie_jar,
        auto_decompress=False,
    )


def _botocore_error(exc: Exception, url: str) -> Exception:
    """The exception aiobotocore's AIOHTTPSession.send raises for ``exc`` (no proxy in use).

    Its mapping, in its order; tests/test_leanreads.py holds the two to each other.
    """
    error: Exception
    if isinstance(exc, aiohttp.ClientSSLError):
        error = SSLError(endpoint_url=url, error=exc)
    elif isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        error = ProxyConnectionError(proxy_url=None, error=exc)
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | BadStatusLine):
        request = AWSPreparedRequest("GET", url, {}, None, False)
        error = ConnectionClosedError(error=exc, request=request, endpoint_url=url)
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        if str(exc).lower().startswith("connect"):
            error = ConnectTimeoutError(endpoint_url=url, error=exc)
        else:
            error = ReadTimeoutError(endpoint_url=url, error=exc)
    elif isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientConnectionError | socket.gaierror):
        error = EndpointConnectionError(endpoint_url=url, error=exc)
    elif isinstance(exc, asyncio.TimeoutError):
        error = ReadTimeoutError(endpoint_url=url, error=exc)
    elif isinstance(exc, concurrent.futures.CancelledError):
        error = exc
    else:
        error = HTTPClientError(error=exc)
    return error


def _record(request: Any, **_: Any) -> None:
    """before-send hook: note the URL and Authorization of the request botocore is sending."""
    seen = _seen.get()
    if seen is not None:
        seen["url"] = request.url
        value = request.headers.get("Authorization")
        seen["authorization"] = value.decode("latin-1") if isinstance(value, bytes) else value
