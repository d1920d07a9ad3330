"""Quotas, injected faults, latency and the HTTP control API."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archiver.testing import DEFAULT_QUOTAS, Emulator, EmulatorConfig, Faults
from tests.emulator_helpers import create_active, omics_client, problems_fixture  # noqa: F401


@pytest.fixture
def limited(problems: list[str]) -> Iterator[tuple[Emulator, Any]]:
    with Emulator() as emu:
        client = omics_client(emu.url, problems)
        yield emu, client
        client.close()


def outcomes(call: Any, count: int) -> list[str]:
    found = []
    for _ in range(count):
        try:
            call()
            found.append("ok")
        except ClientError as exc:
            found.append(
                f"{exc.response['Error']['Code']}:{exc.response['ResponseMetadata']['HTTPStatusCode']}"
            )
    return found


def test_default_quotas_match_the_facts() -> None:
    assert DEFAULT_QUOTAS["GetWorkflow"] == 10 and DEFAULT_QUOTAS["CreateWorkflow"] == 5
    assert DEFAULT_QUOTAS["ListShares"] == 1 and DEFAULT_QUOTAS["GetWorkflowVersion"] == 10
    assert EmulatorConfig().quotas == DEFAULT_QUOTAS


def test_quota_throttles_with_429_per_account_and_op(
    limited: tuple[Emulator, Any], problems: list[str]
) -> None:
    emulator, client = limited
    client.list_tags_for_resource  # noqa: B018 (loads the client's model before the burst)
    results = outcomes(lambda: client.list_workflows(), 30)
    assert results[:10] == ["ok"] * 10
    assert "ThrottlingException:429" in results[10:]
    assert emulator.stats().throttled["ListWorkflows"] >= 1
    other = omics_client(emulator.url, problems, account="210987654321")
    try:
        assert other.list_workflows()["items"] == []
        assert outcomes(lambda: other.list_shares(resourceOwner="SELF"), 2) == [
            "ok",
            "ThrottlingException:429",
        ]
    finally:
        other.close()
    time.sleep(0.25)
    assert client.list_workflows()["items"] == []


def test_quotas_can_be_changed_or_lifted(limited: tuple[Emulator, Any]) -> None:
    emulator, client = limited
    emulator.configure(quotas={"ListWorkflows": 2.0})
    assert outcomes(lambda: client.list_workflows(), 3)[2] == "ThrottlingException:429"
    emulator.configure(quotas=None)
    assert outcomes(lambda: client.list_workflows(), 30) == ["ok"] * 30


def test_botocore_retries_throttling(problems: list[str]) -> None:
    with Emulator(EmulatorConfig(quotas={"ListWorkflows": 20.0})) as emu:
        client = omics_client(emu.url, problems, retries=4)
        try:
            for _ in range(30):
                client.list_workflows()
        finally:
            client.close()
        assert emu.stats().throttled.get("ListWorkflows", 0) >= 1


def fault_pattern(seed: int, problems: list[str]) -> list[str]:
    faults = Faults(error_rate={"ListWorkflows": 0.5}, throttle_rate={"*": 0.2})
    with Emulator(EmulatorConfig(quotas=None, faults=faults, random_seed=seed)) as emu:
        client = omics_client(emu.url, problems)
        try:
            return outcomes(lambda: client.list_workflows(), 24)
        finally:
            client.close()


def test_faults_are_reproducible_from_the_seed(problems: list[str]) -> None:
    first = fault_pattern(7, problems)
    assert first == fault_pattern(7, problems)
    assert "InternalServerException:500" in first and "ThrottlingException:429" in first and "ok" in first
    assert first != fault_pattern(8, problems)


def test_error_rate_per_operation_and_stats(problems: list[str]) -> None:
    config = EmulatorConfig(quotas=None, faults=Faults(error_rate={"GetWorkflow": 1.0}))
    with Emulator(config) as emu:
        client = omics_client(emu.url, problems)
        try:
            created = client.create_workflow(name="x", definitionZip=b"PK")
            with pytest.raises(ClientError) as exc:
                client.get_workflow(id=created["id"])
            assert exc.value.response["Error"]["Code"] == "InternalServerException"
        finally:
            client.close()
        stats = emu.stats()
        assert stats.calls == {"CreateWorkflow": 1, "GetWorkflow": 1}
        assert stats.errors == {"GetWorkflow": 1}


def test_latency_is_added_to_calls(limited: tuple[Emulator, Any]) -> None:
    emulator, client = limited
    emulator.configure(latency=0.15)
    started = time.monotonic()
    client.list_workflows()
    assert time.monotonic() - started >= 0.15


def control(url: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_http_control_api(limited: tuple[Emulator, Any]) -> None:
    emulator, client = limited
    client.list_workflows()
    status, stats = control(emulator.url, "/_emulator/stats")
    assert status == 200
    assert stats == {
        "calls": {"ListWorkflows": 1},
        "throttled": {},
        "errors": {},
        "export_bytes": {"definition": 0, "readme": 0},
        "downloads": 0,
        "layer_bytes": 0,
    }
    assert control(emulator.url, "/_emulator/reset-stats", {})[0] == 200
    assert control(emulator.url, "/_emulator/stats")[1]["calls"] == {}
    change = {"quotas": None, "latency": 0, "url_ttl": 60, "create_delay": 0, "list_shared_workflows": True}
    assert (
        control(emulator.url, "/_emulator/config", {**change, "faults": {"error_rate": {"*": 1.0}}})[0] == 200
    )
    assert emulator.config.quotas is None and emulator.config.url_ttl == 60.0
    assert emulator.config.list_shared_workflows is True
    with pytest.raises(ClientError) as exc:
        client.list_workflows()
    assert exc.value.response["Error"]["Code"] == "InternalServerException"
    assert control(emulator.url, "/_emulator/config", {"faults": {"error_rate": {}}})[0] == 200
    assert outcomes(lambda: client.list_workflows(), 20) == ["ok"] * 20
    status, body = control(emulator.url, "/_emulator/config", {"no_such_knob": 1})
    assert status == 400 and "no_such_knob" in body["message"]
