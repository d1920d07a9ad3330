"""The snapshot index (issue 11, 3): snapshots read and validated once, then answered from the index.

Runs the CLI on an archive generated in the store format by ``bench/archive.py`` (the benchmark's
generator, at a small size), so the generator is exercised too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import archiver._catalog as catalog_module
from archiver._catalog import _schema_fingerprint
from archiver.cli import main
from archiver.index import SnapshotIndex
from bench.archive import write_archive


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated") / "store"
    got = write_archive(root, workflows=6, versions=1, nights=5, changes_per_night=2)
    assert (got.items, got.nights, got.bundles) == (12, 5, 12 + 4 * 2)
    return root


def cli(capsys: pytest.CaptureFixture[str], store: Path, *argv: str, cache: Path | None) -> Any:
    extra = ["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]
    code = main([*argv, "--store", str(store), "--json", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_browsing_reads_each_snapshot_once(
    generated: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    uncached = [cli(capsys, generated, cmd, cache=None) for cmd in ("list", "snapshots")]
    assert [cli(capsys, generated, cmd, cache=cache) for cmd in ("list", "snapshots")] == uncached
    rows = uncached[0]["workflows"]
    assert len(rows) == 6 and all(r["current"] and r["versions"] == ["v1"] for r in rows)
    assert sum(r["bundles"] for r in rows) == 20
    assert [s["new"] for s in uncached[1]["snapshots"]] == [12, 2, 2, 2, 2]

    def no_store_reads(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("a snapshot was read from the store although the index holds it")

    monkeypatch.setattr(catalog_module, "get_small", no_store_reads)
    assert [cli(capsys, generated, cmd, cache=cache) for cmd in ("list", "snapshots")] == uncached
    shown = cli(capsys, generated, "show", rows[0]["uuid"], cache=cache)
    assert shown["key"] == rows[0]["key"] and len(shown["snapshots"]) >= 1


def test_index_keeps_each_distinct_entry_once(
    generated: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cli(capsys, generated, "snapshots", cache=cache)
    index = SnapshotIndex.load((cache / "index" / "snapshots.idx").read_bytes(), _schema_fingerprint())
    assert len(index.snapshots) == 5
    # 20 bundles; the "new" flag makes an entry of a later night differ from its first listing
    assert 20 <= len(index.entries) <= 20 + 4 * 12
    assert sum(len(ids) for *_, ids in index.snapshots.values()) == 5 * 12


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],
        lambda raw: b"garbage",
        lambda raw: raw.replace(b"omics-archiver-index 1", b"omics-archiver-index 9"),
        lambda raw: raw.replace(b'"ids":"', b'"ids":"////', 1),
    ],
)
def test_a_damaged_index_is_rebuilt_from_the_store(
    generated: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, damage: Any
) -> None:
    cache = tmp_path / "cache"
    first = cli(capsys, generated, "list", cache=cache)
    path = cache / "index" / "snapshots.idx"
    path.write_bytes(damage(path.read_bytes()))
    assert cli(capsys, generated, "list", cache=cache) == first
    assert len(SnapshotIndex.load(path.read_bytes(), _schema_fingerprint()).snapshots) == 5


def test_index_refuses_ids_beyond_its_entries() -> None:
    index = SnapshotIndex("schema")
    index.add("k", 1, "0" * 64, {"id": "x", "bundles": [{"key": "a"}]})
    assert SnapshotIndex.load(index.dump(), "schema").doc("k", 1) == {"id": "x", "bundles": [{"key": "a"}]}
    with pytest.raises(ValueError, match="names an entry it does not hold"):
        SnapshotIndex.load(_renumbered(index.dump()), "schema")
    with pytest.raises(ValueError, match="another snapshot schema"):
        SnapshotIndex.load(index.dump(), "other")


def _renumbered(raw: bytes) -> bytes:
    """``raw`` with its entries removed and the checksum made right again (a consistent forgery)."""
    import hashlib

    header, _, body = raw.partition(b"\n")
    doc = json.loads(body)
    doc["entries"] = []
    new = json.dumps(doc, separators=(",", ":")).encode()
    fmt, _, schema = header.decode().rsplit(" ", 2)
    return f"{fmt} {hashlib.sha256(new).hexdigest()} {schema}\n".encode() + new
