"""Safe delete through the CLI, against the emulator: back up, read back, verify, then delete.

Whatever goes wrong before the deletion (a store that cannot be written, a damaged bundle, no
confirmation) leaves the workflow and every version in place.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig
from tests.emulator_helpers import KNOWN_KEYS

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
WF = "3145728"  # bwa-align: versions 1.0.0 and 1.1.0
VERSIONS = {"1.0.0", "1.1.0"}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS), seed_dir=SEED) as emu:
        yield emu


def omics(emu: Emulator) -> Any:
    return boto3.client(
        "omics", endpoint_url=emu.url, region_name="us-east-1", config=Config(inject_host_prefix=False)
    )


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def delete(
    emu: Emulator, store: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any], str]:
    code = main(
        ["delete", "--workflow-id", WF, "--store", str(store), "--endpoint-url", emu.url, "--json", *extra]
    )
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def deletes(emu: Emulator) -> int:
    calls = emu.stats().calls
    return calls.get("DeleteWorkflow", 0) + calls.get("DeleteWorkflowVersion", 0)


def still_there(emu: Emulator) -> None:
    client = omics(emu)
    assert client.get_workflow(id=WF)["status"] == "ACTIVE"
    assert {v["versionName"] for v in client.list_workflow_versions(workflowId=WF)["items"]} == VERSIONS


def test_delete_backs_up_verifies_deletes_and_the_restore_brings_it_back(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    client = omics(emulator)
    source = client.get_workflow(id=WF)
    code, report, err = delete(emulator, store, capsys, "--yes")
    assert code == 0, err
    assert report["outcome"] == "ok" and report["deleted"] == ["version 1.1.0", "version 1.0.0", "workflow"]
    assert len(report["bundles"]) == 3 and all(b["verified"] for b in report["bundles"])
    assert (store / report["snapshot"]).exists()
    # gone: still listed as DELETED for a while (deleted_linger), then not at all
    assert WF not in {w["id"] for w in client.list_workflows()["items"] if w["status"] != "DELETED"}

    # into the account and region it came from, the restore wants --allow-same-target: exit 2, nothing made
    restore = [
        "restore",
        "--store",
        str(store),
        "--endpoint-url",
        emulator.url,
        "--workflow-id",
        WF,
        "--no-rate-limit",
        "--poll-interval",
        "50ms",
    ]
    made = emulator.stats().calls.get("CreateWorkflow", 0)
    assert main(restore) == 2
    err = capsys.readouterr().err
    assert "--allow-same-target" in err and "source account" in err and "--name-prefix" in err
    assert emulator.stats().calls.get("CreateWorkflow", 0) == made

    # every form of the snapshot the tool prints is taken back: the key in the JSON report and in the
    # text summary, the path in the store, a file:// URL, the bare id
    key = report["snapshot"]
    forms = [key, str(store / key), (store / key).as_uri(), Path(key).stem, Path(key).name]
    for form in forms:
        assert main([*restore, "--snapshot", form, "--allow-same-target", "--dry-run", "--json"]) == 0, form
        plan = json.loads(capsys.readouterr().out)
        assert plan["snapshots"] == [key] and plan["workflows"][0]["workflow"]["action"] == "create"
    other = Path(key).stem[:-1] + ("1" if Path(key).stem[-1] == "0" else "0")
    assert main([*restore, "--snapshot", other, "--allow-same-target"]) == 2
    assert "is not in the store" in capsys.readouterr().err
    assert emulator.stats().calls.get("CreateWorkflow", 0) == made

    # restored from the delete's own (partial) snapshot
    assert main([*restore, "--snapshot", key, "--allow-same-target", "--json"]) == 0
    restored = json.loads(capsys.readouterr().out)
    assert restored["outcome"] == "ok", restored["problems"]
    new_id = restored["workflows"][0]["workflow"]["targetId"]
    again = client.get_workflow(id=new_id)
    assert (again["name"], again["digest"], again["uuid"] != source["uuid"]) == (
        source["name"],
        source["digest"],
        True,
    )
    assert {v["versionName"] for v in client.list_workflow_versions(workflowId=new_id)["items"]} == VERSIONS


def test_delete_text_output_prints_a_key_restore_takes(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    argv = ["delete", "--workflow-id", WF, "--store", str(store), "--endpoint-url", emulator.url, "--yes"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    hint = next(line for line in out.splitlines() if "to bring it back:" in line)
    command = hint.split("to bring it back: omics-archiver ", 1)[1].split()
    assert "--snapshot" in command and "--allow-same-target" in command
    code = main([*command, "--endpoint-url", emulator.url, "--no-rate-limit", "--poll-interval", "50ms"])
    assert code == 0, capsys.readouterr()
    assert "created workflow bwa-align" in capsys.readouterr().out


def test_delete_refused_when_the_store_cannot_be_written(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a file where the store directory should be: the store cannot even be opened
    store = tmp_path / "archive"
    store.write_text("a file where the store directory should be\n")
    code, report, err = delete(emulator, store, capsys, "--yes")
    assert code == 1 and report == {} and "cannot open the store" in err
    # a file where the bundles directory should be: the backup fails, so the delete is refused
    store = tmp_path / "archive2"
    store.mkdir()
    (store / "bundles").write_text("in the way\n")
    code, report, err = delete(emulator, store, capsys, "--yes")
    assert code == 1 and report["outcome"] == "refused" and report["deleted"] == []
    assert len(report["refused"]) == 1 + len(VERSIONS)
    assert all("the backup failed" in r for r in report["refused"]) and "not deleting workflow" in err
    assert deletes(emulator) == 0
    still_there(emulator)


def test_delete_refused_when_a_bundle_does_not_verify(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    assert (
        main(["backup", "--store", str(store), "--endpoint-url", emulator.url, "--workflow-id", WF, "--json"])
        == 0
    )
    bundles = json.loads(capsys.readouterr().out)["bundles"]
    victim = store / next(b["key"] for b in bundles if b["versionName"] == "1.1.0")
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: the backup sees the state as already archived
    victim.write_bytes(bytes(data))
    code, report, err = delete(emulator, store, capsys, "--yes")
    assert code == 1 and report["outcome"] == "refused"
    assert any("version 1.1.0" in r for r in report["refused"]) and "not deleting" in err
    assert deletes(emulator) == 0
    still_there(emulator)


def test_confirmation_dry_run_and_no_terminal(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "archive"
    # no terminal and no --yes: refused before anything happens
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = delete(emulator, store, capsys)
    assert code == 2 and "--yes" in err
    assert not store.exists()
    # and its help says so
    with pytest.raises(SystemExit):
        main(["delete", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert "no terminal to confirm on and no --yes" in helptext.split("exit codes:")[1].split(" 3 ")[0]

    # a dry run reads the archive: it refuses a location without one, creating nothing
    code, _, err = delete(emulator, store, capsys, "--dry-run")
    assert code == 1 and "no archive at" in err and not store.exists()
    assert main(["backup", "--store", str(store), "--endpoint-url", emulator.url, "--workflow-id", WF]) == 0
    capsys.readouterr()
    files = sorted(p for p in store.rglob("*") if p.is_file())

    # a dry run writes nothing and deletes nothing
    code, report, _ = delete(emulator, store, capsys, "--dry-run")
    assert code == 0 and report["dryRun"] and report["snapshot"] is None
    assert report["toDelete"] == ["version 1.0.0", "version 1.1.0", "workflow"]
    assert sorted(p for p in store.rglob("*") if p.is_file()) == files

    # on a terminal, anything but yes declines
    monkeypatch.setattr("sys.stdin", _Tty("no\n"))
    code, report, err = delete(emulator, store, capsys)
    assert code == 1 and report["outcome"] == "declined" and report["confirmed"] is False
    assert "Type 'yes' to delete" in err
    assert deletes(emulator) == 0
    still_there(emulator)

    monkeypatch.setattr("sys.stdin", _Tty("yes\n"))
    code, report, _ = delete(emulator, store, capsys)
    assert code == 0 and report["confirmed"] is True and "workflow" in report["deleted"]


def test_delete_of_a_shared_workflow_is_refused_before_anything_is_deleted(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service deletes no workflow with a share that is not DELETED: checked before the versions go."""
    store = tmp_path / "archive"
    owner = omics(emulator)
    friend = boto3.client(
        "omics",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id="210987654321",
        aws_secret_access_key="testing-secret",
        config=Config(inject_host_prefix=False),
    )
    arn = owner.get_workflow(id=WF)["arn"]
    share_id = owner.create_share(resourceArn=arn, principalSubscriber="210987654321")["shareId"]
    for accept in (False, True):  # PENDING, then accepted (ACTIVATING / ACTIVE)
        if accept:
            friend.accept_share(shareId=share_id)
        code, report, err = delete(emulator, store, capsys, "--yes")
        assert code == 1 and report["outcome"] == "refused" and report["deleted"] == []
        refusal = next(r for r in report["refused"] if share_id in r)
        assert f"aws omics delete-share --share-id {share_id}" in refusal and "210987654321" in refusal
        assert share_id in err
        assert deletes(emulator) == 0
        still_there(emulator)

    # once the share is DELETED, the same delete goes through
    owner.delete_share(shareId=share_id)
    while owner.get_share(shareId=share_id)["share"]["status"] != "DELETED":
        time.sleep(0.02)
    code, report, err = delete(emulator, store, capsys, "--yes")
    assert code == 0, err
    assert report["deleted"] == ["version 1.1.0", "version 1.0.0", "workflow"]


def test_delete_of_a_workflow_being_updated_is_refused(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """UPDATING (like CREATING) cannot be deleted by the service: refused up front, not waited for."""
    emulator.configure(update_delay=600.0)
    omics(emulator).update_workflow_version(workflowId=WF, versionName="1.0.0", description="changing")
    code, report, _ = delete(emulator, tmp_path / "archive", capsys, "--yes")
    assert code == 1 and report["outcome"] == "refused"
    assert any("version 1.0.0 is UPDATING" in r for r in report["refused"]), report["refused"]
    assert deletes(emulator) == 0
    assert {
        v["versionName"] for v in omics(emulator).list_workflow_versions(workflowId=WF)["items"]
    } == VERSIONS
