"""``omics-archiver report``: the archive at a glance, as JSON and as a static page rendered in Chromium.

The archive is real (backups of the seeded emulator, one of them filtered, one after a workflow was
deleted, so it vanished) plus two things written behind the tool's back, as a store may hold them: a
later snapshot that records a failure with a hostile error text, and a snapshot that is not JSON. One workflow
has a hostile name. The page must show all of it as text, run no script, and log nothing to the
browser console.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from archiver import _layout
from archiver.testing import Emulator, EmulatorConfig

from .test_catalog_support import FASTQ_QC, SEED, fake_aws_env, run_cli

HOSTILE_NAME = '<script>alert("name")</script> & "quoted"'
HOSTILE_ERROR = "<img src=x onerror=alert(1)> export failed"
DEEPVARIANT = "4194304"
BWA = "3145728"


def _backup(store: str, url: str, *extra: str) -> None:
    code, out = run_cli(
        ["backup", "--store", store, "--endpoint-url", url, "--json", "--log-level", "ERROR", *extra]
    )
    assert code == 0, out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    root = tmp / "archive"
    with fake_aws_env(tmp), Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        omics = boto3.client(
            "omics", endpoint_url=emu.url, region_name="us-east-1", config=Config(inject_host_prefix=False)
        )
        omics.create_workflow(
            name=HOSTILE_NAME,
            engine="WDL",
            definitionZip=_zip(),
            main="main.wdl",
            description="<b>bold</b>",
        )
        time.sleep(0.3)  # CreateWorkflow is asynchronous: let it become ACTIVE
        _backup(str(root), emu.url)
        omics.update_workflow(id=FASTQ_QC, description="FastQC and MultiQC (description updated)")
        _backup(str(root), emu.url, "--full")  # a workflow's description is not in its listing
        _backup(str(root), emu.url, "--workflow-id", FASTQ_QC)
        for version in omics.list_workflow_versions(workflowId=BWA)["items"]:
            omics.delete_workflow_version(workflowId=BWA, versionName=version["versionName"])
        omics.delete_workflow(id=BWA)
        _backup(str(root), emu.url)
    snaps = sorted((root / "snapshots").rglob("*.json"))
    doc = json.loads(snaps[-1].read_text())
    snap_id = _layout.new_snapshot_id(datetime.now(UTC))
    doc.update(id=snap_id, runId=snap_id, finishedAt=datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    doc["bundles"] = [b for b in doc["bundles"] if b["workflowId"] != DEEPVARIANT]
    doc["skipped"] = [s for s in doc["skipped"] if s["reason"] != "vanished"]
    doc["failed"] = [
        {
            "workflowId": DEEPVARIANT,
            "versionName": None,
            "name": "deepvariant-gpu",
            "stage": "export",
            "error": HOSTILE_ERROR,
            "code": "ThrottlingException",
        }
    ]
    for b in doc["bundles"]:
        b["new"] = False
    doc["stats"].update(bundlesWritten=0, bytesWritten=0, definitionBytesDownloaded=0)
    key = _layout.snapshot_key("aws", "123456789012", "us-east-1", snap_id)
    (root / key).write_text(json.dumps(doc))
    broken = _layout.snapshot_key("aws", "123456789012", "us-east-1", "20260101T000000000000Z-deadbeef")
    (root / broken).write_text("{not json")
    return root


def _zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.wdl", "version 1.0\nworkflow hostile {}\n")
    return buffer.getvalue()


def _report_json(store: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out = run_cli(["report", "--store", str(store), "--json", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "not valid JSON" in err or "20260101T000000000000Z-deadbeef" in err  # warned on stderr
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_report_json_tells_where_each_target_stands(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _report_json(store, capsys)
    assert [(t["account"], t["region"]) for t in doc["targets"]] == [("123456789012", "us-east-1")]
    target = doc["targets"][0]
    assert target["snapshots"] == 5
    nights = target["nights"]
    assert [n["complete"] for n in nights] == [True, True, False, True, True]
    assert [n["newBundles"] for n in nights] == [13, 1, 0, 0, 0]
    assert [n["failed"] for n in nights] == [0, 0, 0, 0, 1]
    assert [n["vanished"] for n in nights] == [0, 0, 0, 1, 0]
    assert [(v["workflowId"], v["name"]) for v in target["latest"]["vanished"]] == [(BWA, "bwa-align")]
    last = target["lastComplete"]
    assert last["key"] == target["lastSnapshot"]["key"] and not last["stale"] and last["failed"] == 1
    assert target["latest"]["failed"][0]["error"] == HOSTILE_ERROR
    grid = {r["workflowId"]: r["states"] for r in target["grid"]["rows"]}
    assert grid[FASTQ_QC] == ["new", "new", "same", "same", "same"]
    assert grid[DEEPVARIANT] == ["new", "same", "not-covered", "same", "failed"]
    assert grid[BWA] == ["new", "same", "not-covered", "vanished", "absent"]
    hostile = next(r for r in target["grid"]["rows"] if r["name"] == HOSTILE_NAME)
    assert hostile["states"] == ["new", "same", "not-covered", "same", "same"]
    assert doc["verify"]["recorded"] == 0 and doc["drills"]["recorded"] == 0
    assert target["lastVerify"] is None and target["lastDrill"] is None
    # image readiness, from the manifests of the newest complete snapshot (backed up with --images record)
    assert doc["images"]["manifestsRead"] == 8 and doc["images"]["blobsChecked"] == 0
    ready = target["images"]
    assert ready is doc["images"]["targets"][0] or ready == doc["images"]["targets"][0]
    assert not ready["copyRun"] and ready["snapshot"] == target["lastComplete"]["key"]
    counts = [ready[k] for k in ("referenced", "withDigest", "archived", "recordedOnly", "unresolved")]
    assert counts == [8, 6, 0, 6, 2]
    unresolved = {u["image"].rsplit("/", 1)[1]: u["reason"] for r in ready["rows"] for u in r["unresolved"]}
    assert set(unresolved) == {"multiqc:1.21", "salmon:1.10.1--h7e5ed60_0"}
    assert all("ImageNotFound" in reason for reason in unresolved.values())
    assert [p["key"].rsplit("/", 1)[1] for p in doc["problems"]] == ["20260101T000000000000Z-deadbeef.json"]


def test_report_text_has_a_few_lines_per_target(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(["report", "--store", str(store), "--no-cache"])
    capsys.readouterr()
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("123456789012 us-east-1 (aws): last complete backup ")
    assert "1 failed in the last run" in lines[0]
    assert lines[1] == "  verify  no verify recorded for this target"
    assert lines[2] == "  drill   no restore drill recorded for this target"
    assert lines[3] == (
        "  images  8 referenced, 6 with a digest, 0 archived in the store, 6 only recorded, 2 unresolved"
    )
    assert any(line.startswith("    unresolved in fastq-qc: ") and "multiqc:1.21" in line for line in lines)
    assert lines[-1].endswith("0 verify and 0 drill record(s); 1 object(s) could not be read")
    code, out = run_cli(["report", "--store", str(store), "--no-cache", "--max-manifests", "0"])
    capsys.readouterr()
    assert code == 0 and out.splitlines()[3] == "  images  8 manifest(s) not read (--max-manifests)"


def test_report_usage_errors(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-dir" / "r.html"
    assert run_cli(["report", "--store", str(store), "--no-cache", "--html", str(missing)])[0] == 2
    assert "cannot write the report to" in capsys.readouterr().err
    assert not missing.parent.exists()
    nowhere = tmp_path / "no-archive"
    assert run_cli(["report", "--store", str(nowhere), "--no-cache", "--json"])[0] == 1
    assert "no archive at" in capsys.readouterr().err and not nowhere.exists()


# -- the page, in a real browser -----------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is missing in CI: .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed here (Debian: apt-get install chromium); CI installs it")


def _render(chromium: str, page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM Chromium built from ``page`` and the console messages it logged."""
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


class _Dom(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.handlers: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.handlers += [name for name, _ in attrs if name.startswith("on")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_page_renders_in_chromium(store: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    # the console check can fail: a page with a script error and a console.error is caught
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom'); missing();</script>")
    _, console = _render(chromium, control, tmp_path / "profile-control")
    assert any("boom" in line for line in console) and any("missing" in line for line in console)

    page = tmp_path / "report.html"
    code, out = run_cli(["report", "--store", str(store), "--html", str(page), "--no-cache"])
    assert code == 0 and f"written to {page}" in out
    dom, console = _render(chromium, page, tmp_path / "profile")
    assert console == []
    parsed = _Dom()
    parsed.feed(dom)
    text = " ".join(" ".join(parsed.text).split())
    assert parsed.tags.get("script", 0) == 0 and parsed.tags.get("img", 0) == 0 and parsed.handlers == []
    assert parsed.tags["svg"] == 2 and parsed.tags["polyline"] >= 4
    for expected in (
        "Last complete backup per target",
        "123456789012 / us-east-1",
        "Nightly counts",
        "Failed in the latest snapshot, vanished in the recent ones",
        "noticed by the backup of",
        "bwa-align",
        "Workflow states over time",
        "no verify recorded in this store",
        "no drill recorded in this store",
        "Last verify and restore drill",
        "verify no verify recorded for this target",
        "restore drill no drill recorded for this target",
        "Image readiness",
        "8 image(s) referenced by 3 workflow(s)",
        ": 6 with a recorded digest, 0 archived in the store, 6 only recorded, 2 unresolved; that backup "
        "recorded the images only (--images record).",
        "multiqc:1.21",
        "ECR: ImageNotFound: Requested image not found",
        "8 manifest(s) of the latest complete snapshots read",
        "Unreadable objects",
        "20260101T000000000000Z-deadbeef.json",
        HOSTILE_NAME,
        HOSTILE_ERROR,
        "deepvariant-gpu",
        "partial",
    ):
        assert expected in text, expected
    assert page.stat().st_size < 200_000


def test_report_shows_the_newest_drill_results(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drill records written by the drill's own code show their result; an unreadable one is counted."""
    import asyncio

    from archiver.drill import DrillReport, drill_key, write_drill
    from archiver.store import open_store

    copy = tmp_path / "store"
    shutil.copytree(store, copy)

    def drill(drill_id: str, finished: datetime, *, ok: bool) -> DrillReport:
        report = DrillReport(
            id=drill_id,
            started_at=finished,
            finished_at=finished,
            snapshots=("20261129T000000000000Z-0000abcd",),
            target={"account": "222222222222", "region": "us-west-2"},
            workflows=[FASTQ_QC],
        )
        report.check(FASTQ_QC, "definition", True)
        report.check(FASTQ_QC, "readme", ok, None if ok else "README differs")
        report.key = drill_key("aws", "123456789012", "us-east-1", drill_id)  # the source's
        return report

    async def write() -> None:
        async with open_store(str(copy)) as s:
            for d in (
                drill("20261128T010000000000Z-0000aaaa", datetime(2026, 11, 28, 1, tzinfo=UTC), ok=False),
                drill("20261129T010000000000Z-0000bbbb", datetime(2026, 11, 29, 1, tzinfo=UTC), ok=True),
            ):
                assert d.key is not None
                await write_drill(s, d.key, d.as_dict())
            await s.put_bytes("drills/aws/123456789012/us-east-1/20261130T010000000000Z-0000cccc.json", b"{x")

    asyncio.run(write())
    code, out = run_cli(["report", "--store", str(copy), "--json", "--no-cache"])
    capsys.readouterr()
    assert code == 0
    drills = json.loads(out)["drills"]
    assert drills["recorded"] == 3 and drills["unreadable"] == 1
    assert [(r["ok"], r["checks"], r["failed"]) for r in drills["latest"]] == [(False, 2, 1), (True, 2, 0)]
    (target,) = json.loads(out)["targets"]
    assert target["lastDrill"]["id"] == "20261129T010000000000Z-0000bbbb" and target["lastDrill"]["ok"]
    page = tmp_path / "report.html"
    code, _ = run_cli(["report", "--store", str(copy), "--html", str(page), "--no-cache"])
    text = page.read_text()
    assert code == 0 and "no drill recorded" not in text
    checks = text[text.index("Last verify and restore drill") : text.index("Image readiness")]
    assert "2026-11-29T01:00:00" in checks and "passed" in checks and "2 of 2 checks held" in checks
    section = text[text.index("Last restore drill") : text.index("Container images")]
    assert section.index("passed") < section.index("FAILED")  # newest first
    assert "1 of 2" in section and "222222222222 us-west-2" in section
    assert "1 record(s) could not be read" in section
    # snapshots lists them too, filtered by the archived region (--source-region), never by --region
    base = ["snapshots", "--store", str(copy), "--json", "--no-cache"]
    listed = [json.loads(run_cli([*base, *extra])[1])["drills"] for extra in ([], ["--region", "us-west-2"])]
    assert len(listed[0]) == len(listed[1]) == 2
    assert json.loads(run_cli([*base, "--source-region", "us-west-2"])[1])["drills"] == []
    capsys.readouterr()


def test_report_shows_the_last_verify_per_target(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records written by ``verify`` itself: the newest per target shows (when, passed/FAILED, depth,
    what it checked, problems), older runs are listed, and damaged records are counted, not fatal."""
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    broken = "snapshots/aws/123456789012/us-east-1/20260101T000000000000Z-deadbeef.json"
    assert run_cli(["verify", "--store", str(copy)])[0] == 1  # the unreadable snapshot is a problem
    (copy / broken).unlink()
    assert run_cli(["verify", "--store", str(copy), "--read-data", "50", "--seed", "1"])[0] == 0
    (copy / "verifications" / "20200101T000000000000Z-0000cccc.json").write_bytes(b"{x")
    hostile = {"format": "omics-archiver-verify", "formatVersion": 1, "ok": True, "targets": "<b>"}
    (copy / "verifications" / "20200102T000000000000Z-0000dddd.json").write_text(json.dumps(hostile))
    (copy / "verifications" / "20200103T000000000000Z-0000eeee.json").write_bytes(b" " * (5 << 20))
    newest = sorted((copy / "verifications").iterdir())[-1]  # a valid record, under another key
    (copy / "verifications" / "20200104T000000000000Z-0000ffff.json").write_bytes(newest.read_bytes())
    capsys.readouterr()

    code, out = run_cli(["report", "--store", str(copy), "--json", "--no-cache"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out)
    verify = doc["verify"]
    assert verify["recorded"] == 6 and verify["unreadable"] == 4
    why = {p["key"].rsplit("/", 1)[1][:8]: p["problem"] for p in verify["problems"]}
    assert "refusing to read it" in why["20200103"] and "the record says it is" in why["20200104"]
    assert [(r["ok"], r["readDataPercent"], r["problems"]) for r in verify["latest"]] == [
        (True, 50.0, 0),
        (False, None, 1),
    ]
    assert verify["latest"][1]["firstProblems"][0]["key"] == broken
    last = doc["targets"][0]["lastVerify"]
    assert (last["ok"], last["snapshots"], last["bundles"], last["problems"]) == (True, 5, 14, 0)
    assert last["key"] == verify["latest"][0]["key"]

    code, out = run_cli(["report", "--store", str(copy), "--no-cache"])
    verify_line = next(line for line in out.splitlines() if line.startswith("  verify  "))
    assert f"{last['time']} passed (structure and 50% data): 5 snapshot(s), 14 bundle(s)" in verify_line

    page = tmp_path / "report.html"
    assert run_cli(["report", "--store", str(copy), "--html", str(page), "--no-cache"])[0] == 0
    dom, console = _render(_chromium(), page, tmp_path / "profile")
    assert console == []
    parsed = _Dom()
    parsed.feed(dom)
    text = " ".join(" ".join(parsed.text).split())
    checks = text[text.index("Last verify and restore drill") : text.index("Image readiness")]
    assert f"verify {last['time']} passed structure and 50% data: 5 snapshot(s), 14 bundle(s)" in checks
    assert "0 problem(s)" in checks and "no drill recorded for this target" in checks
    runs = text[text.index("Last verify 6 verify record(s)") : text.index("Last restore drill")]
    assert "passed" in runs and "FAILED" in runs and broken in runs
    assert "4 record(s) could not be read" in runs and "not JSON" in runs
    assert "does not match the verify record schema" in runs and "&lt;b&gt;" not in page.read_text()


def test_report_shows_image_readiness_after_images_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store backed up with ``--images copy`` against the emulator's ECR: per workflow, what is
    referenced, has a digest, is archived in the store; an archived image whose manifest blob is gone
    from the store is no longer counted as archived, and is named as missing."""
    root = tmp_path / "archive"
    with fake_aws_env(tmp_path), Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        _backup(str(root), emu.url, "--images", "copy")
    code, out = run_cli(["report", "--store", str(root), "--json", "--no-cache"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out)
    ready = doc["targets"][0]["images"]
    assert ready["copyRun"] and doc["images"]["blobsChecked"] > 0
    snapshot = json.loads((root / ready["snapshot"]).read_text())
    copied = {i["digest"] for b in snapshot["bundles"] for i in b.get("images", [])}
    assert ready["archived"] == ready["withDigest"] > 0 and ready["recordedOnly"] == 0
    assert ready["unresolved"] == ready["referenced"] - ready["withDigest"] > 0
    rows = {r["name"]: r for r in ready["rows"]}
    assert rows["deepvariant-gpu"]["archived"] == rows["deepvariant-gpu"]["referenced"] > 0
    assert all(u["reason"] for r in ready["rows"] for u in r["unresolved"])

    gone = sorted(copied)[0]
    (root / "images" / "blobs" / "sha256" / gone.split(":")[1]).unlink()
    code, out = run_cli(["report", "--store", str(root), "--json", "--no-cache"])
    after = json.loads(out)["targets"][0]["images"]
    assert (
        after["missingFromStore"] >= 1 and after["archived"] == ready["archived"] - after["missingFromStore"]
    )
    assert after["recordedOnly"] == after["missingFromStore"]
    code, out = run_cli(["report", "--store", str(root), "--no-cache"])
    assert f"{after['missingFromStore']} MISSING from the store" in out
    capsys.readouterr()
