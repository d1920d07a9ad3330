"""``verify`` through the CLI on real archives, in a directory and in S3 (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver._schema import problems
from archiver.cli import main

from .test_catalog_support import Archive, build_archives, copy_archive

pytest_plugins = ("tests.s3server",)


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> dict[str, Archive]:
    return build_archives(tmp_path_factory.mktemp("verify"), moto_server)


@pytest.fixture(params=["file", "s3"])
def archive(request: pytest.FixtureRequest, archives: dict[str, Archive], tmp_path: Path) -> Archive:
    return copy_archive(archives[request.param], tmp_path)


def verify(
    archive: Archive, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, object]]:
    code = main(archive.cli("verify", "--json", *extra))
    out = capsys.readouterr().out
    return code, json.loads(out)


def bundle_keys(archive: Archive) -> list[str]:
    return [k for k in archive.list_keys() if k.startswith("bundles/")]


def test_healthy_store_passes_structure_and_data(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {k: archive.read(k) for k in archive.list_keys()}
    code, report = verify(archive, capsys)
    assert code == 0, report["problems"]
    assert report["ok"] is True
    assert report["snapshots"] == 2
    assert report["bundles"] == len(bundle_keys(archive)) == 13
    code, report = verify(archive, capsys, "--read-data")
    assert code == 0, report["problems"]
    assert report["bundlesRead"] == 13
    assert report["bytesRead"] == sum(len(before[k]) for k in bundle_keys(archive))
    # verify changes nothing in the store: it only adds its own record, one per run
    after = {k: archive.read(k) for k in archive.list_keys()}
    added = sorted(set(after) - set(before))
    assert {k: after[k] for k in before} == before
    assert len(added) == 2 and all(k.startswith("verifications/") for k in added)
    assert added[-1] == report["record"]
    record = json.loads(after[added[-1]])
    assert problems("verify-record", record) == []
    assert (record["ok"], record["exitCode"], record["problemCount"]) == (True, 0, 0)
    assert record["scope"] == {"readDataPercent": 100.0, "seed": None, "repair": False}
    assert record["checked"]["bundlesRead"] == 13 and record["checked"]["snapshots"] == 2
    assert [(t["account"], t["region"], t["bundles"]) for t in record["targets"]] == [
        ("123456789012", "us-east-1", 13)
    ]
    # snapshots lists the runs, newest first
    assert main(archive.cli("snapshots", "--json")) == 0
    runs = json.loads(capsys.readouterr().out)["verifications"]
    assert [(r["key"], r["ok"], r["readDataPercent"]) for r in runs] == [
        (added[1], True, 100.0),
        (added[0], True, None),
    ]
    assert main(archive.cli("snapshots")) == 0
    listed = capsys.readouterr().out
    assert "verify runs" in listed and "structure and 100% data" in listed
    # --no-record: nothing at all is written
    code, report = verify(archive, capsys, "--no-record")
    assert code == 0 and report["record"] is None
    assert sorted(archive.list_keys()) == sorted(after)


def test_one_flipped_byte_is_named(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    victim = bundle_keys(archive)[3]
    data = bytearray(archive.read(victim))
    data[len(data) // 2] ^= 0x01
    archive.write(victim, bytes(data))
    code, report = verify(archive, capsys, "--read-data")
    assert code == 1
    problems = report["problems"]
    assert isinstance(problems, list) and problems
    assert {p["key"] for p in problems} == {victim}
    assert any("SHA-256" in p["problem"] for p in problems)
    # the record says it failed, how deep it looked, and names the problem under its target
    record = json.loads(archive.read(str(report["record"])))
    assert (record["ok"], record["exitCode"], record["problemCount"]) == (False, 1, len(problems))
    assert record["scope"]["readDataPercent"] == 100.0
    assert {p["key"] for p in record["problems"]} == {victim}
    assert record["targets"][0]["problems"] == len(problems)
    # the human output names it too
    assert main(archive.cli("verify", "--read-data")) == 1
    assert victim in capsys.readouterr().out


def test_flipped_byte_in_a_sample_of_one_hundred_percent_and_structure_only(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = bundle_keys(archive)[0]
    data = bytearray(archive.read(victim))
    data[-5] ^= 0x80  # inside the definition ZIP / zstd checksum region: only reading the data can tell
    archive.write(victim, bytes(data))
    code, report = verify(archive, capsys, "--read-data", "100")
    assert code == 1
    assert {p["key"] for p in report["problems"]} == {victim}  # type: ignore[union-attr]


def test_missing_bundle_is_named(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    victim = bundle_keys(archive)[5]
    archive.remove(victim)
    code, report = verify(archive, capsys)
    assert code == 1
    problems = report["problems"]
    assert isinstance(problems, list)
    assert [p["key"] for p in problems] == [victim] * len(problems) and problems
    assert all("missing" in p["problem"] and p["snapshot"].startswith("snapshots/") for p in problems)


def test_invalid_snapshot_is_named(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    snap = next(k for k in archive.list_keys() if k.startswith("snapshots/"))
    doc = json.loads(archive.read(snap))
    doc["stats"]["workflows"] = "many"
    archive.write(snap, json.dumps(doc).encode())
    code, report = verify(archive, capsys)
    assert code == 1
    assert [p["key"] for p in report["problems"]] == [snap]  # type: ignore[union-attr]


def test_metrics_file(archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = tmp_path / "verify.prom"
    assert (
        main(archive.cli("verify", "--metrics-file", str(metrics), "--read-data", "50", "--seed", "1")) == 0
    )
    text = metrics.read_text()
    assert 'omics_archiver_verify_problems{archiver_job="verify"} 0' in text
    assert 'omics_archiver_last_run_success{archiver_job="verify"} 1' in text
    assert 'omics_archiver_verify_bundles_read{archiver_job="verify"} 7' in text
    capsys.readouterr()


def test_a_store_that_refuses_the_record_keeps_verify_s_verdict(
    archives: dict[str, Archive], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The record cannot be written (here ``verifications`` is a file, so no object can go under it):
    verify warns, says so, and exits with its own code, 0 for a sound archive, 1 for a damaged one."""
    archive = copy_archive(archives["file"], tmp_path)
    assert archive.root is not None
    (archive.root / "verifications").write_bytes(b"in the way")
    code = main(archive.cli("verify", "--json", "--log-format", "json"))
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["record"] is None
    warned = [json.loads(line) for line in err.splitlines() if "verify-record-failed" in line]
    assert len(warned) == 1 and warned[0]["level"] == "warning"
    assert "could not be recorded" in warned[0]["message"] and "--no-record" in warned[0]["message"]
    victim = bundle_keys(archive)[0]
    archive.remove(victim)
    assert main(archive.cli("verify")) == 1
    out, err = capsys.readouterr()
    assert victim in out and "recorded as" not in out and "could not be recorded" in err
