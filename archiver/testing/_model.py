"""The wire contract of the emulator, derived from botocore's service models (``omics``, ``ecr``).

Everything a real HealthOmics front end decides from the model alone lives here: which operation a
method and raw path select, how a request's path labels, query string and JSON body map onto the
input shape, the service-side validation (required members, types, enums, patterns, lengths,
ranges, list and map sizes) with Coral's message style, and the serialization of output shapes
(model timestamp format, ``None`` members omitted). The same machinery serves the json-protocol
services (ECR): :func:`json_operation` selects the operation from ``X-Amz-Target``, whose body
:func:`parse_request` reads like a rest-json one without labels, and :func:`serialize_output` writes
timestamps as that protocol's epoch seconds. Operation logic never parses HTTP itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import botocore.session
import pybase64
from botocore.model import OperationModel, Shape, StructureShape

__all__ = [
    "ERROR_STATUS",
    "OPERATIONS",
    "ApiError",
    "Route",
    "format_timestamp",
    "json_operation",
    "known_members",
    "match_route",
    "parse_request",
    "serialize_output",
    "service_model",
    "validate_input",
    "validation_error",
]

OPERATIONS: tuple[str, ...] = (
    "ListWorkflows",
    "GetWorkflow",
    "ListWorkflowVersions",
    "GetWorkflowVersion",
    "CreateWorkflow",
    "CreateWorkflowVersion",
    "UpdateWorkflow",
    "UpdateWorkflowVersion",
    "DeleteWorkflow",
    "DeleteWorkflowVersion",
    "CreateShare",
    "AcceptShare",
    "GetShare",
    "ListShares",
    "DeleteShare",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)

ERROR_STATUS: Mapping[str, int] = {
    "ValidationException": 400,
    "SerializationException": 400,
    "ServiceQuotaExceededException": 402,
    "AccessDeniedException": 403,
    "UnknownOperationException": 404,
    "ResourceNotFoundException": 404,
    "RequestTimeoutException": 408,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}

# Java's "[\p{L}||\p{M}||\p{Z}||\p{S}||\p{N}||\p{P}]+": any character but controls, formats,
# surrogates, private use and unassigned code points. Python's re has no \p{..}, so it is a predicate.
_PRINTABLE_PATTERN = r"[\p{L}||\p{M}||\p{Z}||\p{S}||\p{N}||\p{P}]+"


class ApiError(Exception):
    """An error answer of the API: the Coral error code, its HTTP status and the message."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else ERROR_STATUS[code]


def validation_error(problems: list[str]) -> ApiError:
    """Coral's aggregate message: ``N validation error(s) detected: a; b``."""
    noun = "error" if len(problems) == 1 else "errors"
    return ApiError(
        "ValidationException", f"{len(problems)} validation {noun} detected: " + "; ".join(problems)
    )


@functools.cache
def service_model(service: str = "omics") -> Any:
    return botocore.session.get_session().get_service_model(service)


def json_operation(service: str, target: str) -> OperationModel | None:
    """The operation of a json-protocol ``service`` named by an ``X-Amz-Target`` header, if any."""
    model = service_model(service)
    prefix, _, name = target.partition(".")
    if prefix != model.metadata.get("targetPrefix") or name not in model.operation_names:
        return None
    op: OperationModel = model.operation_model(name)
    return op


@dataclass(frozen=True)
class Route:
    """One operation's HTTP binding: method and the request URI split into segments."""

    op: OperationModel
    method: str
    segments: tuple[str, ...]

    def match(self, method: str, parts: list[str]) -> dict[str, str] | None:
        if method != self.method:
            return None
        labels: dict[str, str] = {}
        last = len(self.segments) - 1
        for index, segment in enumerate(self.segments):
            if segment.startswith("{"):
                name = segment.strip("{}+")
                if index == last and name == "resourceArn":
                    # ARNs arrive percent-encoded (%2F), but accept a raw slash-separated one too.
                    if len(parts) <= index:
                        return None
                    labels[name] = unquote("/".join(parts[index:]))
                    return labels
                if index >= len(parts) or not parts[index]:
                    return None
                labels[name] = unquote(parts[index])
            elif index >= len(parts) or parts[index] != segment:
                return None
        return labels if len(parts) == len(self.segments) else None


@functools.cache
def _routes() -> tuple[Route, ...]:
    model = service_model()
    routes = []
    for name in OPERATIONS:
        op = model.operation_model(name)
        uri = op.http["requestUri"].split("?")[0]
        routes.append(Route(op, op.http["method"], tuple(uri.strip("/").split("/"))))
    return tuple(routes)


def match_route(method: str, raw_path: str) -> tuple[OperationModel, dict[str, str]] | None:
    """The operation bound to ``method`` and the still percent-encoded ``raw_path``, and its labels."""
    parts = raw_path.split("?")[0].strip("/").split("/")
    for route in _routes():
        labels = route.match(method, parts)
        if labels is not None:
            return route.op, labels
    return None


def _render(value: Any) -> str:
    """A value as Coral's messages print it (Java ``toString``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    return str(value)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _matches_pattern(pattern: str, value: str) -> bool:
    if pattern == _PRINTABLE_PATTERN:
        return bool(value) and all(not unicodedata.category(ch).startswith("C") for ch in value)
    return _compiled(pattern).fullmatch(value) is not None


def _constraint_problems(shape: Shape, value: Any) -> list[str]:
    """Constraint failures of one scalar or the size of one list/map, as "Member must ..." texts."""
    meta = shape.metadata
    out: list[str] = []
    kind = shape.type_name
    if kind == "string":
        if "enum" in meta and value not in meta["enum"]:
            out.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
        if "min" in meta and len(value) < meta["min"]:
            out.append(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            out.append(f"Member must have length less than or equal to {meta['max']}")
        if "pattern" in meta and not _matches_pattern(meta["pattern"], value):
            out.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    elif kind in ("integer", "long"):
        if "min" in meta and value < meta["min"]:
            out.append(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            out.append(f"Member must have value less than or equal to {meta['max']}")
    elif kind in ("list", "map"):
        if "min" in meta and len(value) < meta["min"]:
            out.append(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            out.append(f"Member must have length less than or equal to {meta['max']}")
    return out


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "boolean": "a boolean",
    "blob": "a base64-encoded blob",
    "list": "a list",
    "map": "a map",
    "structure": "a structure",
    "timestamp": "a timestamp",
    "double": "a number",
    "float": "a number",
}


def _type_ok(shape: Shape, value: Any) -> bool:
    kind = shape.type_name
    if kind == "string":
        return isinstance(value, str)
    if kind in ("integer", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("double", "float"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "blob":
        if isinstance(value, bytes):
            return True
        if not isinstance(value, str):
            return False
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return True
    if kind == "list":
        return isinstance(value, list)
    if kind in ("map", "structure"):
        return isinstance(value, dict)
    return True


def _validate(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    shown = "<blob>" if shape.type_name == "blob" else _render(value)
    if not _type_ok(shape, value):
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: "
            f"Member must be {_TYPE_NAMES.get(shape.type_name, shape.type_name)}"
        )
        return
    for text in _constraint_problems(shape, value):
        quoted = f"'{shown}'" if value is not None else "null"
        problems.append(f"Value {quoted} at '{path}' failed to satisfy constraint: {text}")
    if isinstance(shape, StructureShape):
        _validate_structure(shape, value, path, problems)
    elif shape.type_name == "list":
        for index, item in enumerate(value, start=1):
            _validate(shape.member, item, f"{path}.{index}.member", problems)
    elif shape.type_name == "map":
        key_problems: list[str] = []
        value_problems: list[str] = []
        for key, item in value.items():
            key_problems += _constraint_problems(shape.key, key)
            if shape.value.type_name in ("structure", "list", "map"):
                _validate(shape.value, item, f"{path}.{key}.member", problems)
            elif not _type_ok(shape.value, item):
                value_problems.append(f"Member must be {_TYPE_NAMES.get(shape.value.type_name)}")
            else:
                value_problems += _constraint_problems(shape.value, item)
        for label, found in (("Map keys", key_problems), ("Map value", value_problems)):
            if found:
                unique = ", ".join(dict.fromkeys(found))
                problems.append(
                    f"Value '{shown}' at '{path}' failed to satisfy constraint: "
                    f"{label} must satisfy constraint: [{unique}]"
                )


def _validate_structure(
    shape: StructureShape, value: Mapping[str, Any], path: str, problems: list[str]
) -> None:
    for name, member in shape.members.items():
        member_path = f"{path}.{name}" if path else name
        if name not in value or value[name] is None:
            if name in shape.required_members:
                problems.append(
                    f"Value null at '{member_path}' failed to satisfy constraint: Member must not be null"
                )
            continue
        _validate(member, value[name], member_path, problems)


def _from_text(shape: Shape, text: str) -> Any:
    """A path label, query or header value converted to the member's type (left as text if invalid)."""
    if shape.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if shape.type_name == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def parse_request(
    op: OperationModel,
    labels: Mapping[str, str],
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
    *,
    document: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The validated input of ``op`` (blobs decoded to bytes), or :class:`ApiError`.

    ``document`` is the body already parsed (``_ecr_part`` parses layer parts faster), if it is.
    """
    shape = op.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    if document is None:
        document = _document(body)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = _from_text(member, labels[wire])
        elif location == "querystring":
            values = query.get(wire)
            if values:
                if member.type_name == "list":
                    params[name] = [_from_text(member.member, v) for v in values]
                else:
                    params[name] = _from_text(member, values[-1])
        elif location == "header":
            if wire in headers:
                params[name] = _from_text(member, headers[wire])
        elif location is None and name in document:
            params[name] = document[name]
    for name, member in shape.members.items():  # decode blobs once (a layer part is 10 MiB)
        if member.type_name == "blob" and isinstance(params.get(name), str):
            with contextlib.suppress(binascii.Error, ValueError):  # left as text: validation reports it
                params[name] = pybase64.b64decode(params[name], validate=True)  # SIMD: ~10x base64's
    problems: list[str] = []
    _validate_structure(shape, params, "", problems)
    if problems:
        raise validation_error(problems)
    return params


def _document(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError("SerializationException", "Could not parse the request body as JSON") from exc
    if not isinstance(document, dict):
        raise ApiError("SerializationException", "The request body must be a JSON object")
    return document


def validate_input(op_name: str, params: Mapping[str, Any], service: str = "omics") -> None:
    """Validate ``params`` against an operation's input shape (used for seed files)."""
    problems: list[str] = []
    _validate_structure(service_model(service).operation_model(op_name).input_shape, params, "", problems)
    if problems:
        raise validation_error(problems)


def known_members(op_name: str, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` without the members the installed model's output shape lacks (an older botocore).

    The service returns them anyway, but a client whose model lacks them could not read them either.
    """
    members = service_model().operation_model(op_name).output_shape.members
    return {k: v for k, v in result.items() if k in members}


def format_timestamp(value: dt.datetime, fmt: str = "iso8601") -> Any:
    value = value.astimezone(dt.UTC)
    if fmt == "unixTimestamp":
        return value.timestamp()
    if fmt == "rfc822":
        return value.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _serialize(shape: Shape, value: Any, timestamps: str = "iso8601") -> Any:
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                out[member.serialization.get("name", name)] = _serialize(member, item, timestamps)
        unknown = set(value) - set(shape.members)
        if unknown:
            raise AssertionError(f"{shape.name} has no member(s) {sorted(unknown)}")
        return out
    if kind == "list":
        return [_serialize(shape.member, v, timestamps) for v in value]
    if kind == "map":
        return {k: _serialize(shape.value, v, timestamps) for k, v in value.items()}
    if kind == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", timestamps))
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    return value


def serialize_output(op: OperationModel, result: Mapping[str, Any] | None) -> bytes:
    """The JSON body of ``op``'s output; empty when a rest-json operation has no output members.

    Timestamps without a model format are ISO 8601 in rest-json (as HealthOmics sends them) and epoch
    seconds in the json protocol; a json-protocol answer always has a body, ``{}`` at least.
    """
    shape = op.output_shape
    json_protocol = op.metadata.get("protocol") == "json"
    if shape is None or not shape.members:
        return b"{}" if json_protocol else b""
    timestamps = "unixTimestamp" if json_protocol else "iso8601"
    return json.dumps(_serialize(shape, result or {}, timestamps), separators=(",", ":")).encode()
