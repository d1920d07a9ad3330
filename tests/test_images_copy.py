"""``backup --images copy``: the images themselves in the store, each blob once, streamed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"


def backup(store: Path, emu: Emulator, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code = main(
        ["backup", "--store", str(store), "--endpoint-url", emu.url, "--json", "--images", "copy", *extra]
    )
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert code == 0, report
    return report


def blobs(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (store / "images" / "blobs" / "sha256").iterdir()}


def test_copy_archives_each_blob_once_and_a_second_run_downloads_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        emu.reset_stats()
        first = backup(store, emu, capsys)
        served = emu.stats().layer_bytes
        emu.reset_stats()
        second = backup(store, emu, capsys)
        again = emu.stats()
    images = first["images"]
    assert images["failed"] == [] and images["archived"] >= 3
    assert images["stats"]["layerBytesDownloaded"] == served > 0
    found = blobs(store)
    for hexdigest, data in found.items():  # content-addressed: every blob hashes to its name
        assert hashlib.sha256(data).hexdigest() == hexdigest
    assert json.loads((store / "images" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(found[images["index"].split(":")[1]])
    refs = {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}
    needed = {i["image"] for b in first["bundles"] for i in b.get("images", [])}
    assert refs == needed and len(refs) == images["archived"]
    for entry in index["manifests"]:  # every manifest and every blob it names is in the store
        manifest = json.loads(found[entry["digest"].split(":")[1]])
        for blob in [manifest["config"], *manifest["layers"]]:
            assert len(found[blob["digest"].split(":")[1]]) == blob["size"]
    # the second run: nothing downloaded, no blob written, the same index
    assert again.layer_bytes == 0 and "GetDownloadUrlForLayer" not in again.calls
    assert second["images"]["stats"]["layerBytesDownloaded"] == 0
    assert second["images"]["stats"]["blobsWritten"] == 0
    assert second["images"]["index"] == images["index"]
    assert blobs(store).keys() == found.keys()
    snapshot = json.loads((store / second["snapshot"]).read_text())
    assert snapshot["images"]["index"] == images["index"]


def test_archived_images_are_listed_verified_and_pruned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        report = backup(store, emu, capsys, "--workflow-id", "4194304")
    needed = {i["image"]: i for b in report["bundles"] for i in b.get("images", [])}
    wanted = len(needed)
    needed = next(i for r, i in needed.items() if r.endswith("/deepvariant:1.6.1-gpu"))

    assert main(["list", "--store", str(store), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr()[0])["workflows"]
    assert row["images"] == wanted > 1
    assert main(["snapshots", "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr()[0])["snapshots"][0]["images"] == wanted
    key = next(b["key"] for b in report["bundles"] if b["kind"] == "workflow")
    assert main(["show", "--store", str(store), key]) == 0
    shown = capsys.readouterr()[0]
    assert "ARCHIVED" in shown and "deepvariant:1.6.1-gpu" in shown and " yes" in shown

    # verify --read-data hashes every blob: one flipped byte in a layer is found and named
    blobdir = store / "images" / "blobs" / "sha256"
    manifest = json.loads((blobdir / needed["digest"].split(":")[1]).read_bytes())
    layer = blobdir / manifest["layers"][0]["digest"].split(":")[1]
    assert main(["verify", "--store", str(store), "--json"]) == 0
    capsys.readouterr()
    data = bytearray(layer.read_bytes())
    data[0] ^= 1
    layer.write_bytes(bytes(data))
    assert main(["verify", "--store", str(store), "--read-data", "--json"]) == 1
    verified = json.loads(capsys.readouterr()[0])
    assert [p["key"] for p in verified["problems"]] == [f"images/blobs/sha256/{layer.name}"]
    assert "hashes to" in verified["problems"][0]["problem"]
    layer.unlink()
    assert main(["verify", "--store", str(store), "--json"]) == 1  # structure alone sees it missing
    assert "missing" in json.loads(capsys.readouterr()[0])["problems"][0]["problem"]
    data[0] ^= 1
    layer.write_bytes(bytes(data))

    # prune deletes a blob no snapshot reaches, and keeps every one that is reached
    orphan = blobdir / hashlib.sha256(b"orphan").hexdigest()
    orphan.write_bytes(b"orphan")
    before = set(p.name for p in blobdir.iterdir())
    assert main(["prune", "--store", str(store), "--keep-last", "1", "--json"]) == 0
    pruned = json.loads(capsys.readouterr()[0])
    assert pruned["imageBlobsDeleted"] == [f"images/blobs/sha256/{orphan.name}"]
    assert set(p.name for p in blobdir.iterdir()) == before - {orphan.name}
    assert main(["verify", "--store", str(store), "--read-data", "--json"]) == 0


TWO_TARGETS = (
    'role_name: OmicsArchiverReader\nregions: [us-east-1, us-west-2]\naccounts:\n  - id: "123456789012"\n'
)


def test_targets_of_one_run_archive_their_images_and_each_shared_blob_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both regions of the seed's account use bwa:0.7.17 and samtools:1.19.2 (the same blobs)."""
    targets, store = tmp_path / "targets.yaml", tmp_path / "archive"
    targets.write_text(TWO_TARGETS)
    # downloads that take a while: both targets are fetching the shared blobs at the same time
    with Emulator(EmulatorConfig(quotas=None, download_latency=0.1), seed_dir=SEED) as emu:
        emu.reset_stats()
        argv = ["backup", "--store", str(store), "--endpoint-url", emu.url, "--no-rate-limit"]
        code = main([*argv, "--targets", str(targets), "--images", "copy", "--json", "--log-level", "ERROR"])
        served = emu.stats().layer_bytes
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    images = {t["region"]: t["report"]["images"] for t in report["targets"]}
    assert images["us-east-1"]["archived"] >= 2 and images["us-west-2"]["archived"] == 2
    assert all(i["failed"] == [] for i in images.values())
    found = blobs(store)
    named: dict[str, int] = {}  # every config and layer blob the archived manifests name
    for data in found.values():
        doc = json.loads(data) if data[:1] == b"{" else {}
        for blob in [doc["config"], *doc["layers"]] if "layers" in doc else []:
            named[blob["digest"]] = blob["size"]
    assert all(d.split(":")[1] in found for d in named)
    downloaded = sum(i["stats"]["layerBytesDownloaded"] for i in images.values())
    written = sum(i["stats"]["blobsWritten"] for i in images.values())
    assert served == downloaded == sum(named.values())  # no blob fetched twice, across targets
    assert written == len(named)
