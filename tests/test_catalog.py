"""``list``, ``snapshots``, ``show``, ``diff`` and the local cache, through the CLI, on real archives in a
directory and in S3 (moto)."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from archiver.cli import main

from .test_catalog_support import FASTQ_QC, Archive, build_archives, copy_archive

pytest_plugins = ("tests.s3server",)

OURS = {"1048576": 3, "2097152": 2, "3145728": 2, "4194304": 1}  # seeded us-east-1 workflows -> versions


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> dict[str, Archive]:
    return build_archives(tmp_path_factory.mktemp("catalog"), moto_server)


@pytest.fixture(params=["file", "s3"])
def archive(request: pytest.FixtureRequest, archives: dict[str, Archive]) -> Archive:
    return archives[request.param]


def run(archive: Archive, capsys: pytest.CaptureFixture[str], *argv: str, cache: Path | None = None) -> Any:
    extra = ["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]
    code = main(archive.cli(*argv, "--json", *extra))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_list_and_snapshots(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    rows = run(archive, capsys, "list")["workflows"]
    assert {r["workflowId"]: len(r["versions"]) for r in rows} == OURS
    fastq = next(r for r in rows if r["workflowId"] == FASTQ_QC)
    assert fastq["versions"] == ["1.0.0", "1.1.0", "2.0.0"]
    assert fastq["bundles"] == 5  # two workflow states and three versions
    assert all(r["current"] and r["account"] == "123456789012" and r["region"] == "us-east-1" for r in rows)
    snaps = run(archive, capsys, "snapshots")["snapshots"]
    assert len(snaps) == 2
    assert [s["new"] for s in snaps] == [12, 1]
    assert all(
        s["archived"] == 12 and s["skipped"] == 1 and s["failed"] == 0 and s["complete"] for s in snaps
    )
    # the human tables
    assert main(archive.cli("list", "--no-cache")) == 0
    out = capsys.readouterr().out
    assert "fastq-qc" in out and "LAST BACKUP" in out and "1.0.0,1.1.0,2.0.0" in out
    assert main(archive.cli("snapshots", "--no-cache")) == 0
    assert "ARCHIVED" in capsys.readouterr().out


def test_show_by_uuid_and_key(archive: Archive, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = run(archive, capsys, "list")["workflows"]
    fastq = next(r for r in rows if r["workflowId"] == FASTQ_QC)
    doc = run(archive, capsys, "show", fastq["uuid"])
    assert doc["key"] == fastq["key"]
    assert doc["metadata"]["description"] == "FastQC and MultiQC (description updated)"
    assert doc["manifest"]["source"]["workflowId"] == FASTQ_QC
    assert set(doc["parameterTemplate"]) == {"fastqs", "run_name", "fastqc_threads"}
    assert len(doc["states"]) == 2
    old = next(s for s in doc["states"] if s["key"] != doc["key"])
    by_key = run(archive, capsys, "show", old["key"])
    assert by_key["metadata"]["description"] != doc["metadata"]["description"]
    by_state = run(archive, capsys, "show", f"{fastq['uuid']}@{old['stateId'][:8]}")
    assert by_state["key"] == old["key"]
    version = run(archive, capsys, "show", f"{FASTQ_QC}:2.0.0")
    assert version["manifest"]["source"]["versionName"] == "2.0.0"
    assert main(archive.cli("show", f"{FASTQ_QC}:1.1.0", "--no-cache")) == 0
    out = capsys.readouterr().out
    assert "members:" in out and "definition.zip" in out and "adapters" in out
    assert main(archive.cli("show", "99999", "--no-cache")) == 2
    assert "no bundle" in capsys.readouterr().err


def test_diff_shows_a_changed_file_inside_the_definition(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = run(archive, capsys, "diff", f"{FASTQ_QC}:1.0.0", f"{FASTQ_QC}:1.1.0")
    assert not doc["identical"]
    changed = {f["name"]: f for f in doc["definition"]["changed"]}
    assert set(changed) == {"main.wdl", "tasks/qc.wdl"}
    diff = "\n".join(changed["tasks/qc.wdl"]["diff"])
    assert '+      ~{"--adapters " + adapters} \\' in diff
    assert "--- a/tasks/qc.wdl" in diff and "+++ b/tasks/qc.wdl" in diff
    assert set(doc["parameterTemplate"]["added"]) == {"adapters", "contaminants", "multiqc_config"}
    assert doc["readme"]["changed"] and doc["readme"]["added"]
    paths = {c["path"] for c in doc["metadata"]}
    assert {"$.versionName", "$.description", "$.tags.release"} <= paths
    # 1.1.0 -> 2.0.0 adds a file; the two states of the workflow differ only in metadata
    added = run(archive, capsys, "diff", f"{FASTQ_QC}:1.1.0", f"{FASTQ_QC}:2.0.0")["definition"]["added"]
    assert [f["name"] for f in added] == ["tasks/trim.wdl"]
    states = run(archive, capsys, "show", FASTQ_QC)["states"]
    meta_only = run(archive, capsys, "diff", states[0]["key"], states[1]["key"])
    assert [c["path"] for c in meta_only["metadata"]] == ["$.description"]
    assert meta_only["definition"]["sameDigest"] and not meta_only["readme"]["changed"]
    # the human output carries the unified diff
    assert main(archive.cli("diff", f"{FASTQ_QC}:1.0.0", f"{FASTQ_QC}:1.1.0", "--no-cache")) == 0
    out = capsys.readouterr().out
    assert "changed  tasks/qc.wdl" in out and '+      ~{"--adapters " + adapters} \\' in out


def test_deleted_cache_is_rebuilt(
    archive: Archive, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = [run(archive, capsys, cmd, cache=cache) for cmd in ("list", "snapshots")]
    shown = run(archive, capsys, "show", FASTQ_QC, cache=cache)
    cached = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())
    assert "index/snapshots.sqlite" in cached and any(c.startswith("bundle-summaries/") for c in cached)
    # from the cache: same answers
    assert [run(archive, capsys, cmd, cache=cache) for cmd in ("list", "snapshots")] == first
    assert run(archive, capsys, "show", FASTQ_QC, cache=cache) == shown
    shutil.rmtree(cache)
    assert [run(archive, capsys, cmd, cache=cache) for cmd in ("list", "snapshots")] == first
    assert run(archive, capsys, "show", FASTQ_QC, cache=cache) == shown
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()) == cached
    # no cache at all: same answers
    assert [run(archive, capsys, cmd) for cmd in ("list", "snapshots")] == first


def test_cache_follows_the_store(
    archives: dict[str, Archive], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A pruned snapshot leaves the index; a damaged index is rebuilt from the store, not an answer."""
    import sqlite3

    archive = copy_archive(archives["file"], tmp_path)
    cache = tmp_path / "cache"
    index = cache / "index" / "snapshots.sqlite"

    def indexed() -> int:
        with contextlib.closing(sqlite3.connect(index)) as conn:
            return int(conn.execute("SELECT count(*) FROM snapshots").fetchone()[0])

    assert len(run(archive, capsys, "snapshots", cache=cache)["snapshots"]) == 2
    assert indexed() == 2
    with contextlib.closing(sqlite3.connect(index)) as conn, conn:
        conn.execute("UPDATE snapshots SET light = replace(light, '\"complete\":true', '\"complete\":1234')")
    assert main(archive.cli("prune", "--keep-last", "1")) == 0
    capsys.readouterr()
    assert len(run(archive, capsys, "snapshots", cache=cache)["snapshots"]) == 1
    assert indexed() == 1
    assert run(archive, capsys, "snapshots", cache=cache) == run(archive, capsys, "snapshots")


def test_report_reads_both_stores_and_caches_manifests(
    archive: Archive, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``report`` reads snapshots and manifest heads from a directory and from S3, then from its cache."""
    cache = tmp_path / "cache"
    first = run(archive, capsys, "report", cache=cache)
    target = first["targets"][0]
    assert [n["newBundles"] for n in target["nights"]] == [12, 1]
    assert (
        first["images"]["manifestsRead"] == 12
        and first["images"]["targets"][0]["snapshot"] == target["lastComplete"]["key"]
    )
    assert len(list((cache / "manifests").rglob("*.tar.zst"))) == 12
    again = run(archive, capsys, "report", cache=cache)
    assert again["images"] == first["images"] and again["targets"][0]["grid"] == target["grid"]


def test_cache_skips_the_schema_walk_only_for_the_bytes_it_validated(
    archives: dict[str, Archive],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A snapshot is schema-checked once, when first read; an index changed in the cache is not trusted."""
    import sqlite3

    import archiver._catalog as catalog_module

    archive, cache = archives["file"], tmp_path / "cache"
    walks: list[object] = []
    real = catalog_module.light_ok

    def counting(doc: Any) -> Any:
        walks.append(doc)
        return real(doc)

    monkeypatch.setattr(catalog_module, "light_ok", counting)
    first = run(archive, capsys, "snapshots", cache=cache)
    assert len(walks) == 2
    walks.clear()
    assert run(archive, capsys, "snapshots", cache=cache) == first
    run(archive, capsys, "list", cache=cache)
    assert walks == []  # answered from the index
    with contextlib.closing(sqlite3.connect(cache / "index" / "snapshots.sqlite")) as conn, conn:
        changed = conn.execute(
            "UPDATE snapshots SET light = replace(light, '\"complete\":true', '\"complete\":1234')"
        ).rowcount
    assert changed == 2
    assert run(archive, capsys, "snapshots", cache=cache) == first
    assert len(walks) == 2  # the damaged index was dropped: both snapshots read and checked again
