"""Shared pieces of the emulator contract tests: clients, ZIPs and the botocore output-shape walker.

Every boto3 client made by :func:`omics_client` has a ``before-parse`` hook that checks the raw body
of every answer against the botocore model (output shape for successes, error body for failures)
and records any violation in the returned ``problems`` list, which the fixtures assert empty.
Test modules import the fixtures by their function names (``emulator_fixture``...); pytest knows
them as ``emulator``, ``problems`` and ``omics``.
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from archiver.testing import Credential, Emulator, EmulatorConfig

SECRET = "testing-secret"
ACCOUNTS = ("123456789012", "210987654321", "111122223333", "444455556666", "555555555555", "333333333333")
KNOWN_KEYS = {account: Credential(secret_access_key=SECRET, account_id=account) for account in ACCOUNTS}
"""Access keys (each its account's id) whose secret the emulator knows, so it verifies signatures."""

_ISO8601 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


def make_zip(files: dict[str, str] | None = None) -> bytes:
    """A ZIP of ``files``; byte-identical for the same files (fixed timestamps, not the clock)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in (files or {"main.wdl": "version 1.0\nworkflow hello {}\n"}).items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def shape_problems(shape: Any, value: Any, path: str = "$") -> list[str]:
    """Where decoded JSON breaks ``shape``: unknown members, types, enums, required, timestamps."""
    kind = shape.type_name
    out: list[str] = []
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected object, got {type(value).__name__}"]
        wire = {m.serialization.get("name", n): (n, m) for n, m in shape.members.items()}
        for key, item in value.items():
            if key not in wire:
                out.append(f"{path}: member {key!r} is not in {shape.name}")
            else:
                out += shape_problems(wire[key][1], item, f"{path}.{key}")
        for required in shape.required_members:
            if required not in value:
                out.append(f"{path}: required member {required!r} missing")
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected list"]
        for index, item in enumerate(value):
            out += shape_problems(shape.member, item, f"{path}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected map"]
        for key, item in value.items():
            out += shape_problems(shape.key, key, f"{path}<key>")
            out += shape_problems(shape.value, item, f"{path}[{key!r}]")
    elif kind == "string":
        if not isinstance(value, str):
            out.append(f"{path}: expected string")
        elif "enum" in shape.metadata and value not in shape.metadata["enum"]:
            out.append(f"{path}: {value!r} not in enum {shape.metadata['enum']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(f"{path}: expected integer")
    elif kind == "boolean":
        if not isinstance(value, bool):
            out.append(f"{path}: expected boolean")
    elif kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
        if fmt == "iso8601" and not (isinstance(value, str) and _ISO8601.fullmatch(value)):
            out.append(f"{path}: {value!r} is not an iso8601 timestamp")
    elif kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            out.append(f"{path}: not base64")
    return out


def check_raw_response(operation_model: Any, response_dict: dict[str, Any], problems: list[str]) -> None:
    status = response_dict["status_code"]
    body = response_dict["body"]
    name = operation_model.name
    if status >= 300:
        header = response_dict["headers"].get("x-amzn-ErrorType", "")
        document = json.loads(body)
        if not re.fullmatch(r"\w+:http://internal\.amazon\.com/coral/\S+", header):
            problems.append(f"{name}: bad x-amzn-ErrorType {header!r}")
        if set(document) != {"message"} or not isinstance(document["message"], str):
            problems.append(f"{name}: error body {document!r}")
        return
    expected = operation_model.http.get("responseCode", 200)
    if status != expected:
        problems.append(f"{name}: status {status}, model says {expected}")
    shape = operation_model.output_shape
    if shape is None or not shape.members:
        if body:
            problems.append(f"{name}: expected an empty body")
        return
    problems += [f"{name}: {p}" for p in shape_problems(shape, json.loads(body))]


def omics_client(
    url: str,
    problems: list[str],
    *,
    account: str = "123456789012",
    region: str = "us-east-1",
    retries: int = 0,
) -> Any:
    client = boto3.session.Session().client(
        "omics",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key=SECRET,
        config=Config(
            inject_host_prefix=False, retries={"total_max_attempts": retries + 1, "mode": "standard"}
        ),
    )

    def hook(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        check_raw_response(operation_model, response_dict, problems)

    client.meta.events.register("before-parse.omics", hook)
    return client


@pytest.fixture(name="emulator")
def emulator_fixture() -> Iterator[Emulator]:
    """An emulator without quotas (tests of quotas turn them on) that verifies signatures."""
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS)) as emu:
        yield emu


@pytest.fixture(name="problems")
def problems_fixture() -> Iterator[list[str]]:
    found: list[str] = []
    yield found
    assert found == []


@pytest.fixture(name="omics")
def omics_fixture(emulator: Emulator, problems: list[str]) -> Iterator[Any]:
    client = omics_client(emulator.url, problems)
    yield client
    client.close()


def create_active(omics: Any, name: str = "wf", **kwargs: Any) -> str:
    kwargs.setdefault("definitionZip", make_zip())
    created = omics.create_workflow(name=name, **kwargs)
    assert created["status"] == "CREATING"
    workflow_id: str = created["id"]
    assert omics.get_workflow(id=workflow_id)["status"] == "ACTIVE"
    return workflow_id
