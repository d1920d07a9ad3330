"""Incremental backups by listing (issue 11, point 1): an unchanged item costs no Get call, a
rotating sweep still reads each one within ``--full-every`` runs, ``--full`` reads everything, a
listing that lacks a field falls back to Get, and format 1 snapshots still read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.cli import main
from archiver.incremental import Sweep, listing_matches
from archiver.testing import Emulator, EmulatorConfig

from .emulator_helpers import create_active, make_zip, omics_client

WORKFLOWS = 6
VERSIONS = 2
ITEMS = WORKFLOWS * (1 + VERSIONS)


@pytest.fixture(name="world")
def world_fixture() -> Iterator[tuple[Emulator, Any]]:
    with Emulator(EmulatorConfig(quotas=None, update_delay=0.0)) as emu:
        problems: list[str] = []
        omics = omics_client(emu.url, problems)
        for i in range(WORKFLOWS):
            wf_id = create_active(omics, f"wf-{i}", description=f"workflow {i}")
            for v in range(VERSIONS):
                omics.create_workflow_version(
                    workflowId=wf_id,
                    versionName=f"v{v}",
                    definitionZip=make_zip({"main.wdl": f"workflow w{i}v{v} {{}}"}),
                    description=f"version {v}",
                )
        yield emu, omics
        omics.close()
        assert problems == []


def _backup(emu: Emulator, store: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code = main(
        ["backup", "--store", str(store), "--endpoint-url", emu.url, "--json", "--log-level", "ERROR", *extra]
    )
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert code == 0, report["failed"]
    return report


def _gets(emu: Emulator) -> int:
    calls = emu.stats().calls
    return calls.get("GetWorkflow", 0) + calls.get("GetWorkflowVersion", 0)


def test_an_unchanged_run_makes_no_get_call_and_the_snapshot_says_so(
    world: tuple[Emulator, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu, _ = world
    store = tmp_path / "archive"
    first = _backup(emu, store, capsys)
    assert len(first["bundles"]) == ITEMS and first["stats"]["confirmedByListing"] == 0
    emu.reset_stats()
    second = _backup(emu, store, capsys, "--full-every", "1000")
    calls = emu.stats().calls
    assert _gets(emu) == 0, calls
    assert calls["ListWorkflowVersions"] == WORKFLOWS and calls["ListWorkflows"] == 1
    assert emu.stats().downloads == 0
    assert sorted(b["key"] for b in second["bundles"]) == sorted(b["key"] for b in first["bundles"])
    assert second["stats"]["confirmedByListing"] == ITEMS
    assert second["stats"]["workflows"] == WORKFLOWS and second["stats"]["versions"] == WORKFLOWS * VERSIONS
    snapshot = json.loads((store / second["snapshot"]).read_text())
    assert snapshot["formatVersion"] == 2
    assert snapshot["sweep"] == {"night": 1, "fullEvery": 1000, "full": False}
    assert {(b["confirmedBy"], b["listedRuns"], b["new"]) for b in snapshot["bundles"]} == {
        ("list", 1, False)
    }
    # what the entry records of the item survives the confirmation, for the next night to compare
    assert all(b["status"] == "ACTIVE" and b["creationTime"] for b in snapshot["bundles"])
    # the archive's readers take the new format
    assert main(["verify", "--store", str(store)]) == 0
    assert main(["list", "--store", str(store)]) == 0


def test_the_sweep_reads_every_item_within_full_every_runs_and_full_reads_all(
    world: tuple[Emulator, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu, _ = world
    store = tmp_path / "archive"
    _backup(emu, store, capsys)
    read: dict[str, int] = {}
    per_run = []
    for _ in range(3):
        emu.reset_stats()
        report = _backup(emu, store, capsys, "--full-every", "3")
        got = [b for b in report["bundles"] if b["confirmedBy"] == "get"]
        assert _gets(emu) == len(got)
        per_run.append(len(got))
        for b in got:
            read[b["uuid"]] = read.get(b["uuid"], 0) + 1
    assert len(read) == ITEMS, "every item was read in full once in 3 runs"
    assert set(read.values()) == {1}, "and only once: the sweep spreads the items over the nights"
    assert all(0 < n < ITEMS for n in per_run)
    emu.reset_stats()
    full = _backup(emu, store, capsys, "--full")
    assert _gets(emu) == ITEMS and full["stats"]["confirmedByListing"] == 0
    assert {b["listedRuns"] for b in full["bundles"]} == {0}


def test_changes_a_listing_shows_are_read_and_what_it_cannot_show_waits_for_the_sweep(
    world: tuple[Emulator, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu, omics = world
    store = tmp_path / "archive"
    first = _backup(emu, store, capsys)
    wf = next(b for b in first["bundles"] if b["kind"] == "workflow" and b["name"] == "wf-0")
    other = next(b for b in first["bundles"] if b["kind"] == "workflow" and b["name"] == "wf-1")
    omics.update_workflow_version(workflowId=wf["workflowId"], versionName="v0", description="changed")
    omics.update_workflow(id=other["workflowId"], name="wf-1-renamed")
    omics.create_workflow_version(workflowId=wf["workflowId"], versionName="v9", definitionZip=make_zip())
    omics.update_workflow(id=wf["workflowId"], readmeMarkdown="# not in any listing\n")
    emu.reset_stats()
    second = _backup(emu, store, capsys, "--full-every", "1000")
    got = {(b["workflowId"], b["versionName"]) for b in second["bundles"] if b["confirmedBy"] == "get"}
    assert got == {
        (wf["workflowId"], "v0"),  # its description is in the version listing
        (wf["workflowId"], "v9"),  # new
        (other["workflowId"], None),  # renamed
    }
    assert _gets(emu) == 3
    new = {(b["workflowId"], b["versionName"]) for b in second["bundles"] if b["new"]}
    assert new == got
    # the renamed workflow's versions keep their bundles, under the new name
    renamed = [b for b in second["bundles"] if b["workflowId"] == other["workflowId"]]
    assert {b["name"] for b in renamed} == {"wf-1-renamed"} and len(renamed) == 1 + VERSIONS
    # the README change is invisible to a listing: found by the full read
    third = _backup(emu, store, capsys, "--full")
    assert [(b["workflowId"], b["versionName"]) for b in third["bundles"] if b["new"]] == [
        (wf["workflowId"], None)
    ]


def test_a_listing_without_digests_falls_back_to_get(
    world: tuple[Emulator, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu, _ = world
    store = tmp_path / "archive"
    _backup(emu, store, capsys)
    emu.configure(list_omit=frozenset({"digest"}))
    emu.reset_stats()
    second = _backup(emu, store, capsys, "--full-every", "1000")
    assert _gets(emu) == ITEMS and second["stats"]["confirmedByListing"] == 0
    assert not any(b["new"] for b in second["bundles"])


def test_format_1_snapshots_still_read_and_lead_to_a_full_run(
    world: tuple[Emulator, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu, _ = world
    store = tmp_path / "archive"
    first = _backup(emu, store, capsys)
    path = store / first["snapshot"]
    doc = json.loads(path.read_text())
    doc["formatVersion"] = 1
    del doc["sweep"]
    del doc["stats"]["confirmedByListing"]
    for b in doc["bundles"]:
        for key in ("status", "creationTime", "description", "confirmedBy", "listedRuns"):
            b.pop(key)
    path.write_text(json.dumps(doc))
    assert main(["snapshots", "--store", str(store)]) == 0
    capsys.readouterr()
    emu.reset_stats()
    second = _backup(emu, store, capsys, "--full-every", "1000")
    assert _gets(emu) == ITEMS and not any(b["new"] for b in second["bundles"])
    emu.reset_stats()
    _backup(emu, store, capsys, "--full-every", "1000")
    assert _gets(emu) == 0


def test_listing_matches_needs_every_field_it_compares() -> None:
    entry = {
        "digest": "sha256:aa",
        "name": "wf",
        "status": "ACTIVE",
        "creationTime": "2026-01-02T03:04:05.006Z",
        "description": "d",
    }
    listed = {
        "digest": "sha256:aa",
        "name": "wf",
        "status": "ACTIVE",
        "creationTime": "2026-01-02T03:04:05.006000+00:00",
    }
    assert listing_matches(listed, entry, workflow=True)
    for missing in ("digest", "name", "status", "creationTime"):
        assert not listing_matches({k: v for k, v in listed.items() if k != missing}, entry, workflow=True)
    assert not listing_matches(
        {**listed, "status": "UPDATING"}, {**entry, "status": "UPDATING"}, workflow=True
    )
    assert not listing_matches({**listed, "creationTime": "2026-01-02T03:04:05Z"}, entry, workflow=True)
    assert not listing_matches({**listed, "description": "e"}, entry, workflow=True)
    # a version's listing carries its description; without one, the version has none
    assert not listing_matches(listed, entry, workflow=False)
    assert listing_matches({**listed, "description": "d"}, entry, workflow=False)
    assert listing_matches(listed, {**entry, "description": None}, workflow=False)
    # a format 1 entry records no status or creation time: never confirmed by listing
    assert not listing_matches(listed, {"digest": "sha256:aa", "name": "wf"}, workflow=True)


def test_the_sweep_spreads_items_and_bounds_list_only_streaks() -> None:
    entries = [{"uuid": f"00000000-0000-0000-0000-{i:012d}"} for i in range(700)]
    for night in range(3):
        due = [e for e in entries if Sweep(night=night, full_every=7, full=False).due(e)]
        assert 60 <= len(due) <= 140
    # each item exactly once in 7 consecutive nights
    counts = [sum(Sweep(night=n, full_every=7, full=False).due(e) for n in range(10, 17)) for e in entries]
    assert set(counts) == {1}
    # a streak of full_every - 1 list-only runs is swept whatever the hash (full_every was raised)
    assert all(Sweep(night=0, full_every=7, full=False).due({**e, "listedRuns": 6}) for e in entries)
    assert all(Sweep(night=0, full_every=1, full=False).due(e) for e in entries)
    assert all(Sweep(night=0, full_every=7, full=True).due(e) for e in entries)
