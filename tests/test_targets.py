"""Org-wide backups (issue 13): targets file, AssumeRole, Organizations, shards, one summary.

End to end through the CLI against the emulator seeded with the example organization
(examples/seed/organization.json): the management account 123456789012 holds the base
credentials; 444444444444's OmicsArchiverReader role is refused; 333333333333 is SUSPENDED.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver._aws import AwsSettings, open_omics_api
from archiver._errors import AccessDenied, AuthenticationError
from archiver.cli import main
from archiver.targets import RoleAssumer, Target
from archiver.testing import Emulator, EmulatorConfig
from tests.test_backup_e2e import SEED

READER = "OmicsArchiverReader"
DONE_WHEN_TARGETS = """
role_name: OmicsArchiverReader
regions: [us-east-1, us-west-2]
accounts:
  - id: "123456789012"
    name: platform
  - id: "111111111111"
    name: research
    tags: {env: prod}
  - id: "444444444444"     # the seed refuses this account's reader role
    name: quarantine
"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        yield emu


def _backup(emu: Emulator, store: Path, *args: str) -> list[str]:
    return ["backup", "--store", str(store), "--endpoint-url", emu.url, "--no-rate-limit", *args]


def _json_run(capsys: pytest.CaptureFixture[str], argv: list[str], expect: int) -> dict[str, Any]:
    assert main([*argv, "--json", "--log-level", "ERROR"]) == expect
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def _snapshots(store: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((store / "snapshots").rglob("*.json")):
        account, region = path.parent.parent.name, path.parent.name
        out.setdefault(f"{account}/{region}", []).append(json.loads(path.read_text()))
    return out


def test_one_run_backs_up_every_target_and_a_refused_role_fails_only_its_own(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(DONE_WHEN_TARGETS)
    store, metrics = tmp_path / "archive", tmp_path / "backup.prom"
    argv = _backup(emulator, store, "--targets", str(targets), "--metrics-file", str(metrics))
    assert main([*argv, "--log-level", "ERROR"]) == 3
    table = capsys.readouterr().out
    rows = {tuple(line.split()[:3]) for line in table.splitlines()[2:8]}
    assert rows == {
        ("123456789012", "us-east-1", "ok"),
        ("123456789012", "us-west-2", "ok"),
        ("111111111111", "us-east-1", "ok"),
        ("111111111111", "us-west-2", "ok"),
        ("444444444444", "us-east-1", "failed"),
        ("444444444444", "us-west-2", "failed"),
    }
    assert table.startswith("partial: 4 of 6 targets ok")
    assert "FAILED 444444444444/us-east-1: AssumeRole for arn:aws:iam::444444444444:role/" in table
    assert "AccessDenied" in table
    snapshots = _snapshots(store)
    assert sorted(snapshots) == [
        "111111111111/us-east-1",
        "111111111111/us-west-2",
        "123456789012/us-east-1",
        "123456789012/us-west-2",
    ]
    for key, (snapshot,) in snapshots.items():
        assert snapshot["complete"] is True and snapshot["failed"] == [], key
        assert snapshot["bundles"], key
    # each account's own workflows, never the base account's: the role's credentials were used
    research = {b["workflowId"] for b in snapshots["111111111111/us-east-1"][0]["bundles"]}
    assert research == {"8388608"}
    text = metrics.read_text()
    assert (
        'omics_archiver_last_run_success{account="444444444444",archiver_job="backup",region="us-west-2"} 0'
        in text
    )
    assert (
        'omics_archiver_last_run_success{account="111111111111",archiver_job="backup",region="us-east-1"} 1'
        in text
    )

    # again, as JSON: every entry labelled; nothing new is written
    doc = _json_run(capsys, argv, 3)
    assert doc["outcome"] == "partial" and doc["targetsTotal"] == 6
    by_key = {f"{t['account']}/{t['region']}": t for t in doc["targets"]}
    assert by_key["111111111111/us-east-1"]["tags"] == {"env": "prod"}
    assert by_key["111111111111/us-east-1"]["report"]["account"] == "111111111111"
    assert by_key["111111111111/us-east-1"]["new"] == 0
    assert by_key["444444444444/us-west-2"]["report"] is None
    assert "AccessDenied" in by_key["444444444444/us-west-2"]["error"]


def test_shards_split_the_targets_disjointly_from_the_flag_or_the_batch_environment(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(DONE_WHEN_TARGETS)
    store = tmp_path / "archive"
    argv = _backup(emulator, store, "--targets", str(targets))

    def keys(doc: dict[str, Any]) -> set[str]:
        return {f"{t['account']}/{t['region']}" for t in doc["targets"]}

    everything = keys(_json_run(capsys, argv, 3))
    assert len(everything) == 6
    shards = []
    for index in (0, 1):
        doc = _json_run_any(capsys, [*argv, "--shard", f"{index}/2"])
        assert doc["shard"] == f"{index}/2" and doc["targetsTotal"] == 6
        shards.append(keys(doc))
    assert shards[0] and shards[1] and not shards[0] & shards[1]
    assert shards[0] | shards[1] == everything
    monkeypatch.setenv("OMICS_ARCHIVER_SHARD_COUNT", "2")
    for index in (0, 1):
        monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", str(index))
        assert keys(_json_run_any(capsys, argv)) == shards[index]
    monkeypatch.delenv("AWS_BATCH_JOB_ARRAY_INDEX")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    assert keys(_json_run_any(capsys, argv)) == shards[1]
    monkeypatch.delenv("OMICS_ARCHIVER_SHARD_COUNT")
    assert main(argv) == 2  # an index without a count is a usage error
    assert "OMICS_ARCHIVER_SHARD_COUNT" in capsys.readouterr().err


def _json_run_any(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    code = main([*argv, "--json", "--log-level", "ERROR"])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    expected = {"ok": 0, "partial": 3, "failed": 1}[doc["outcome"]]
    assert code == expected
    return doc


def test_organization_finds_the_active_member_accounts(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _backup(
        emulator,
        tmp_path / "archive",
        "--organization",
        "--role-name",
        READER,
        "--target-region",
        "us-east-1",
    )
    doc = _json_run(capsys, argv, 3)
    outcomes = {t["account"]: t["outcome"] for t in doc["targets"]}
    # 333333333333 is SUSPENDED, 123456789012 the management account: both left out
    assert outcomes == {
        "111111111111": "ok",
        "210987654321": "ok",
        "222222222222": "ok",
        "444444444444": "failed",  # its reader role is refused
    }
    names = {t["account"]: t["name"] for t in doc["targets"]}
    assert names["111111111111"] == "research"
    with_management = _json_run(capsys, [*argv, "--include-management-account"], 3)
    assert "123456789012" in {t["account"] for t in with_management["targets"]}


def test_assumed_credentials_are_refreshed_before_they_expire(tmp_path: Path) -> None:
    ttl = 3.0
    target = Target(
        account="111111111111", region="us-east-1", role_arn=f"arn:aws:iam::111111111111:role/{READER}"
    )

    async def go(emu: Emulator) -> None:
        settings = AwsSettings(region="us-east-1", endpoint_url=emu.url, sts_endpoint_url=emu.url)
        async with RoleAssumer(settings, duration_seconds=900) as assumer:
            credentials = await assumer.credentials(target)
            first = await credentials.get_frozen_credentials()
            async with open_omics_api(
                AwsSettings(region="us-east-1", endpoint_url=emu.url, credentials=credentials)
            ) as api:
                assert [w["id"] async for w in api.list_workflows()] == ["8388608"]
                await asyncio.sleep(ttl + 0.2)  # the first session has expired by now
                assert [w["id"] async for w in api.list_workflows()] == ["8388608"]
            assert credentials.refreshes >= 2
            assert (await credentials.get_frozen_credentials()).access_key != first.access_key
            # the emulator does refuse the first session now: the refresh is what kept the run going
            stale = AwsSettings(region="us-east-1", endpoint_url=emu.url, credentials=_static(first))
            async with open_omics_api(stale) as api:
                with pytest.raises(AuthenticationError, match="ExpiredToken"):
                    [w async for w in api.list_workflows()]
            refused = Target(
                account="444444444444",
                region="us-east-1",
                role_arn=f"arn:aws:iam::444444444444:role/{READER}",
            )
            with pytest.raises(AccessDenied, match="AssumeRole"):
                await assumer.credentials(refused)

    with Emulator(EmulatorConfig(quotas=None, session_ttl=ttl), seed_dir=SEED) as emu:
        asyncio.run(go(emu))


def _static(frozen: Any) -> Any:
    from aiobotocore.credentials import AioCredentials

    return AioCredentials(frozen.access_key, frozen.secret_key, frozen.token)


def test_an_account_without_a_role_uses_the_base_credentials_only_if_they_are_its_own(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        'accounts:\n  - id: "123456789012"\n    regions: [us-west-2]\n    tags: {env: prod}\n'
        '  - id: "111111111111"\n    regions: [us-west-2]\n'
    )
    argv = _backup(emulator, tmp_path / "archive", "--targets", str(targets))
    doc = _json_run(capsys, argv, 3)
    by_account = {t["account"]: t for t in doc["targets"]}
    assert by_account["123456789012"]["outcome"] == "ok" and by_account["123456789012"]["roleArn"] is None
    assert "base credentials are of account 123456789012" in by_account["111111111111"]["error"]
    only_prod = _json_run(capsys, [*argv, "--target-tag", "env=prod"], 0)
    assert [t["account"] for t in only_prod["targets"]] == ["123456789012"]


def test_a_refused_role_reaches_the_user_as_one_line_never_a_traceback(
    emulator: Emulator, tmp_path: Path
) -> None:
    """aiobotocore logs a failed credential refresh with its traceback; the CLI's stderr must not."""
    targets = tmp_path / "targets.yaml"
    targets.write_text(f'role_name: {READER}\naccounts:\n  - id: "444444444444"\n    regions: [us-east-1]\n')
    argv = [
        sys.executable,
        "-m",
        "archiver.cli",
        *_backup(emulator, tmp_path / "archive", "--targets", str(targets)),
    ]
    for fmt in ("text", "json"):
        done = subprocess.run([*argv, "--log-format", fmt], capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr and "Refreshing temporary credentials" not in done.stderr
        assert (
            "AssumeRole for arn:aws:iam::444444444444:role/OmicsArchiverReader failed: AccessDenied"
            in done.stderr
        )
