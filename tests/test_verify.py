"""``verify`` through the CLI on real archives, in a directory and in S3 (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    # verify never modifies the store
    assert {k: archive.read(k) for k in archive.list_keys()} == before


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
