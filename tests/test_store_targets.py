"""verify, list, snapshots, prune and drill across every target of one store (issue 13 point 2).

End to end through the CLI against the emulator: two accounts x two regions backed up twice by one
``backup --targets``, then each command over the whole store and filtered by ``--account`` and
``--source-region`` (the filters on archived content; the AWS options only say where the sandbox
is). ``drill`` without ``--targets`` drills each chosen account-region in turn into the one
sandbox the AWS options reach.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig
from tests.emulator_helpers import KNOWN_KEYS, make_zip, omics_client

X, Y = "210987654321", "111122223333"
SANDBOX = "123456789012"  # the base credentials' account (tests/conftest.py)
REGIONS = ("us-east-1", "us-west-2")
PROBLEMS: list[str] = []  # responses of the emulator that do not match the service model
WDL = "version 1.0\ntask hello {\n  command { echo hi }\n}\nworkflow hello { call hello }\n"


def _omics(emu: Emulator, account: str, region: str) -> Any:
    return omics_client(emu.url, PROBLEMS, account=account, region=region)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS)) as emu:
        for account in (X, Y):
            for region in REGIONS:
                _omics(emu, account, region).create_workflow(
                    name=f"hello-{account[:3]}-{region}",
                    engine="WDL",
                    definitionZip=make_zip({"main.wdl": WDL}),
                )
        yield emu
    assert PROBLEMS == []


@pytest.fixture
def store(emulator: Emulator, tmp_path: Path) -> Path:
    root = tmp_path
    targets = root / "targets.yaml"
    regions = ", ".join(REGIONS)
    targets.write_text(
        f'role_name: OmicsArchiverReader\naccounts:\n  - id: "{X}"\n    regions: [{regions}]\n'
        f'  - id: "{Y}"\n    regions: [{regions}]\n'
    )
    archive = root / "archive"
    argv = ["backup", "--store", str(archive), "--endpoint-url", emulator.url, "--no-rate-limit"]
    for _ in range(2):  # two snapshots of each target, for prune to choose from
        assert main([*argv, "--targets", str(targets), "--log-level", "ERROR"]) == 0
    return archive


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> Any:
    assert main([*argv, "--json", "--log-level", "ERROR"]) == code
    return json.loads(capsys.readouterr().out)


def test_list_snapshots_verify_and_prune_across_targets_filter_by_account_and_region(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--store", str(store)]
    every = {(a, r) for a in (X, Y) for r in REGIONS}
    rows = _json(capsys, "list", *base)["workflows"]
    assert {(w["account"], w["region"]) for w in rows} == every
    (one,) = _json(capsys, "list", *base, "--account", X, "--source-region", "us-west-2")["workflows"]
    assert (one["account"], one["region"], one["name"]) == (X, "us-west-2", f"hello-{X[:3]}-us-west-2")

    snaps = _json(capsys, "snapshots", *base, "--account", Y)["snapshots"]
    assert sorted((s["account"], s["region"]) for s in snaps) == sorted([(Y, r) for r in REGIONS] * 2)
    snaps = _json(capsys, "snapshots", *base, "--source-region", "us-east-1")["snapshots"]
    assert sorted((s["account"], s["region"]) for s in snaps) == sorted(
        [(a, "us-east-1") for a in (X, Y)] * 2
    )

    whole = _json(capsys, "verify", *base, "--no-record")
    assert whole["ok"] and {(t["account"], t["region"]) for t in whole["targets"]} == every
    assert whole["snapshots"] == 8 and whole["bundles"] == whole["referenced"] == 4
    part = _json(capsys, "verify", *base, "--account", X, "--source-region", "us-east-1", "--read-data")
    assert part["ok"] and [(t["account"], t["region"]) for t in part["targets"]] == [(X, "us-east-1")]
    assert (part["snapshots"], part["bundles"], part["bundlesRead"]) == (2, 1, 1)
    assert part["record"]  # recorded, naming only the target it checked
    record = json.loads((store / part["record"]).read_text())
    assert [(t["account"], t["region"]) for t in record["targets"]] == [(X, "us-east-1")]
    assert main(["verify", *base, "--account", X, "--source-region", "us-east-1", "--no-record"]) == 0
    assert f"(account {X} and region us-east-1): ok" in capsys.readouterr().out

    # prune keeps the newest snapshot of X in us-east-1 only; every other target keeps both
    pruned = _json(capsys, "prune", *base, "--account", X, "--source-region", "us-east-1", "--keep-last", "1")
    assert len(pruned["forgotten"]) == 1 and f"/{X}/us-east-1/" in pruned["forgotten"][0]
    left = _json(capsys, "snapshots", *base)["snapshots"]
    per = {k: sum(1 for s in left if (s["account"], s["region"]) == k) for k in every}
    assert per == {k: 1 if k == (X, "us-east-1") else 2 for k in every}


def test_drill_without_targets_drills_each_chosen_account_region_into_the_one_sandbox(
    emulator: Emulator, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drill = ["drill", "--store", str(store), "--endpoint-url", emulator.url, "--region", "us-east-1"]
    drill += ["--no-rate-limit", "--poll-interval", "50ms"]
    before = sum(1 for _ in (store / "drills").rglob("*.json")) if (store / "drills").exists() else 0
    # every account of us-west-2, into the sandbox in us-east-1 (the AWS options); progress events
    # (no terminal here) as each source ends
    assert main([*drill, "--source-region", "us-west-2", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["outcome"] == "ok"
    assert sorted((d["source"]["account"], d["source"]["region"], d["ok"]) for d in doc["drills"]) == [
        (Y, "us-west-2", True),
        (X, "us-west-2", True),
    ]
    assert {(d["sandbox"]["account"], d["sandbox"]["region"]) for d in doc["drills"]} == {
        (SANDBOX, "us-east-1")
    }
    events = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    progress = [e for e in events if e.get("event") == "destinations-progress"]
    assert [(e["sourcesDone"], e["sourcesTotal"], e["sourcesNotOk"]) for e in progress] == [
        (1, 2, 0),
        (2, 2, 0),
    ]
    records = sorted(p.relative_to(store / "drills").parts[1:3] for p in (store / "drills").rglob("*.json"))
    assert len(records) == before + 2 and {(X, "us-west-2"), (Y, "us-west-2")} <= set(records)
    assert all(
        w["status"] == "DELETED" for w in _omics(emulator, SANDBOX, "us-east-1").list_workflows()["items"]
    )

    # one account-region left by the filters: the drill of one, as before
    single = _json(capsys, *drill, "--account", X, "--source-region", "us-east-1")
    assert single["format"] == "omics-archiver-drill" and single["ok"]
    assert single["source"]["account"] == X and single["target"] == {
        "account": SANDBOX,
        "region": "us-east-1",
    }
    # a filter the store holds nothing of is the user's to fix, before any AWS call
    calls = sum(emulator.stats().calls.values())
    assert main([*drill, "--account", "999999999999", "--log-level", "ERROR"]) == 2
    assert "the store holds no snapshot" in capsys.readouterr().err
    assert sum(emulator.stats().calls.values()) == calls
