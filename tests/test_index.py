"""The snapshot index (issue 11, 3): snapshots read and validated once, then answered from SQLite.

Runs the CLI on an archive generated in the store format by ``bench/archive.py`` (the benchmark's
generator, at a small size), so the generator is exercised too. Expected answers are computed here
from the snapshot files themselves, not through the index.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

import archiver._catalog as catalog_module
from archiver import _schema
from archiver._cache import Cache
from archiver._catalog import _index_snapshot, load_catalog, parse_snapshot
from archiver._errors import BundleError
from archiver.cli import main
from archiver.index import VOLATILE, SnapshotIndex, VolatileCheck
from archiver.store import open_archive
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


def snapshot_files(store: Path) -> list[tuple[str, dict[str, Any]]]:
    return [
        (p.relative_to(store).as_posix(), json.loads(p.read_bytes()))
        for p in sorted((store / "snapshots").rglob("*.json"))
    ]


def db(cache: Path) -> Path:
    return cache / "index" / "snapshots.sqlite"


def count(cache: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(db(cache))) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_answers_match_the_snapshot_files_and_come_from_the_index(
    generated: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = snapshot_files(generated)
    newest = files[-1][1]
    cache = tmp_path / "cache"
    listed = cli(capsys, generated, "list", cache=cache)["workflows"]
    workflows = {e["workflowUuid"]: e for e in newest["bundles"] if e["kind"] == "workflow"}
    assert {r["uuid"]: (r["key"], r["stateId"], r["name"]) for r in listed} == {
        u: (e["key"], e["stateId"], e["name"]) for u, e in workflows.items()
    }
    assert all(r["current"] and r["versions"] == ["v1"] for r in listed)
    snaps = cli(capsys, generated, "snapshots", cache=cache)["snapshots"]
    assert [(s["key"], s["archived"], s["new"]) for s in snaps] == [
        (k, len(d["bundles"]), d["stats"]["bundlesWritten"]) for k, d in files
    ]
    # stable parts once, volatile fields per snapshot; "new" flips once (first listing, then carried)
    assert count(cache, "snapshots") == 5 and count(cache, "lists") == 5
    assert 20 <= count(cache, "entries") <= 40
    with contextlib.closing(sqlite3.connect(db(cache))) as conn:
        bodies = [json.loads(b) for (b,) in conn.execute("SELECT body FROM entries")]
    assert not any(set(VOLATILE) & set(b) for b in bodies)

    assert cli(capsys, generated, "list", cache=None)["workflows"] == listed  # in memory: same

    def no_store_reads(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("a snapshot was read from the store although the index holds it")

    monkeypatch.setattr(catalog_module, "get_small", no_store_reads)
    assert cli(capsys, generated, "list", cache=cache)["workflows"] == listed
    assert cli(capsys, generated, "snapshots", cache=cache)["snapshots"] == snaps
    shown = cli(capsys, generated, "show", listed[0]["uuid"], cache=cache)
    expected = [k for k, d in files if any(e["key"] == listed[0]["key"] for e in d["bundles"])]
    assert shown["key"] == listed[0]["key"] and shown["snapshots"] == expected


async def _catalog_docs(store_path: Path, cache: Path) -> list[dict[str, Any]]:
    async with open_archive(str(store_path), create=False) as store:
        catalog = await load_catalog(store, Cache(cache, store_url=store.url))
        return [dict(s.doc) for s in catalog.snapshots]


def test_whole_documents_come_back_exactly(generated: Path, tmp_path: Path) -> None:
    import asyncio

    got = asyncio.run(_catalog_docs(generated, tmp_path / "cache"))
    assert got == [d for _, d in snapshot_files(generated)]


def test_filters(generated: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    rows = cli(capsys, generated, "list", cache=cache)["workflows"]
    one = rows[2]
    assert cli(capsys, generated, "list", "--workflow-id", one["workflowId"], cache=cache)["workflows"] == [
        one
    ]
    assert cli(capsys, generated, "list", "--name", one["name"][:-1] + "?", cache=cache)["workflows"] == [
        r for r in rows if r["name"][:-1] == one["name"][:-1]
    ]
    assert cli(capsys, generated, "list", "--account", "123456789012", cache=cache)["workflows"] == rows
    assert cli(capsys, generated, "list", "--account", "210987654321", cache=cache)["workflows"] == []
    assert cli(capsys, generated, "snapshots", "--source-region", "eu-west-1", cache=cache)["snapshots"] == []
    assert (
        len(cli(capsys, generated, "snapshots", "--source-region", "us-east-1", cache=cache)["snapshots"])
        == 5
    )
    # a filtered run keeps the rest of the index
    assert count(cache, "snapshots") == 5


def test_new_snapshots_are_picked_up_and_pruned_ones_dropped(
    generated: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(generated, store)
    newest = sorted((store / "snapshots").rglob("*.json"))[-1]
    held = tmp_path / "held.json"
    newest.rename(held)
    cache = tmp_path / "cache"
    assert len(cli(capsys, store, "snapshots", cache=cache)["snapshots"]) == 4
    held.rename(newest)
    assert len(cli(capsys, store, "snapshots", cache=cache)["snapshots"]) == 5
    assert count(cache, "snapshots") == 5
    cli(capsys, store, "prune", "--keep-last", "2", cache=cache)
    assert len(cli(capsys, store, "list", cache=cache)["workflows"]) == 6
    assert count(cache, "snapshots") == 2 and count(cache, "lists") == 2
    assert cli(capsys, store, "list", cache=cache) == cli(capsys, store, "list", cache=None)


def _tamper(sql: str) -> Any:
    def damage(path: Path) -> None:
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(sql)

    return damage


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
        lambda path: path.write_bytes(b"garbage" * 1000),
        _tamper("UPDATE entries SET body = replace(body, '\"ACTIVE\"', '\"DELETED\"')"),
        _tamper("UPDATE snapshots SET light = replace(light, '\"complete\":true', '\"complete\":false')"),
        _tamper("UPDATE snapshots SET volatile = x'00'"),
        _tamper("UPDATE lists SET ids = substr(ids, 5)"),
        _tamper("DELETE FROM entries WHERE id = 1"),
        _tamper("UPDATE meta SET value = 'another' WHERE name = 'schema'"),
    ],
    ids=["truncated", "garbage", "entry", "row", "volatile", "list", "missing-entry", "schema"],
)
def test_a_damaged_index_is_rebuilt_from_the_store(
    generated: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, damage: Any
) -> None:
    cache = tmp_path / "cache"
    first = [cli(capsys, generated, cmd, cache=cache) for cmd in ("list", "snapshots")]
    damage(db(cache))
    assert [cli(capsys, generated, cmd, cache=cache) for cmd in ("list", "snapshots")] == first
    assert count(cache, "snapshots") == 5


def test_two_commands_build_one_index_at_once(generated: Path, tmp_path: Path) -> None:
    import asyncio

    cache = tmp_path / "cache"
    results: list[Any] = []

    def one() -> None:
        results.append(asyncio.run(_catalog_docs(generated, cache)))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = [d for _, d in snapshot_files(generated)]
    assert results == [expected, expected]
    assert count(cache, "snapshots") == 5 and count(cache, "lists") == 5


def _mutations() -> list[tuple[str, Any]]:
    def entry(i: int, **change: Any) -> Any:
        def apply(doc: dict[str, Any]) -> None:
            for k, v in change.items():
                if v is KeyError:
                    del doc["bundles"][i][k]
                else:
                    doc["bundles"][i][k] = v

        return apply

    return [
        ("valid", lambda d: None),
        ("listedRuns -1", entry(3, listedRuns=-1)),
        ("listedRuns true", entry(3, listedRuns=True)),
        ("listedRuns 2.0", entry(3, listedRuns=2.0)),
        ("confirmedBy", entry(1, confirmedBy="guess")),
        ("no confirmedBy", entry(1, confirmedBy=KeyError)),
        ("new missing", entry(2, new=KeyError)),
        ("new as 1", entry(2, new=1)),
        ("size true", entry(0, size=True)),
        ("extra field", entry(4, extra="x")),
        (
            "kind flipped",
            lambda d: d["bundles"][5].update(
                kind={"workflow": "workflow-version"}.get(d["bundles"][5]["kind"], "workflow")
            ),
        ),
        ("bad sha", entry(0, sha256="XYZ")),
        ("entry not an object", lambda d: d["bundles"].append("x")),
        ("bundles not a list", lambda d: d.update(bundles={})),
        ("no stats", lambda d: d.pop("stats")),
        ("bad time", lambda d: d.update(finishedAt="yesterday")),
    ]


@pytest.mark.parametrize(("name", "mutate"), _mutations(), ids=[n for n, _ in _mutations()])
def test_piecewise_check_agrees_with_the_whole_schema(generated: Path, name: str, mutate: Any) -> None:
    """The index's piece-by-piece check (archiver.index._check) accepts exactly what the schema does."""
    (before, earlier), (key, doc) = snapshot_files(generated)[-2:]
    index = SnapshotIndex.open(None, "test")
    _index_snapshot(index, before, json.dumps(earlier).encode(), VolatileCheck())  # entries known
    bad = copy.deepcopy(doc)
    mutate(bad)
    raw = json.dumps(bad).encode()
    whole = _schema.problems("snapshot", bad)
    if not whole:
        assert name in ("valid", "listedRuns 2.0", "no confirmedBy")
        _index_snapshot(index, key, raw, VolatileCheck())
        assert parse_snapshot(key, raw) == bad
        return
    with pytest.raises(BundleError) as piecewise:
        _index_snapshot(index, key, raw, VolatileCheck())
    with pytest.raises(BundleError) as full:
        parse_snapshot(key, raw)
    assert piecewise.value.message == full.value.message
    assert index.rows([key]) == {}


def test_volatile_fields_are_optional_in_the_schema() -> None:
    """What the piecewise check rests on: removing volatile fields never makes an entry invalid."""
    items = _schema.schema("snapshot")["properties"]["bundles"]["items"]
    assert not set(VOLATILE) & set(items["required"])
    assert set(VOLATILE) <= set(items["properties"])
    assert "listedRuns" not in json.dumps(items.get("allOf", []))
    assert "confirmedBy" not in json.dumps(items.get("allOf", []))


@pytest.mark.parametrize("read_ahead", [1, 1 << 30])
def test_the_first_build_streams_with_bounded_read_ahead(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_ahead: int
) -> None:
    """Reads run ahead of the indexing only within _READ_AHEAD bytes (at least one) and
    _LOAD_CONCURRENCY reads: a first build holds a few raw snapshots, not the history."""
    import asyncio

    monkeypatch.setattr(catalog_module, "_READ_AHEAD", read_ahead)
    monkeypatch.setattr(catalog_module, "_LOAD_CONCURRENCY", 3)
    held: list[int] = []  # snapshots read and not yet indexed, seen at each read and each index
    state = {"read": 0, "indexed": 0}
    real_get, real_index = catalog_module.get_small, catalog_module._index_snapshot

    async def get_small(*args: Any, **kwargs: Any) -> bytes:
        got = await real_get(*args, **kwargs)
        state["read"] += 1
        held.append(state["read"] - state["indexed"])
        return got

    def index_snapshot(*args: Any) -> None:
        real_index(*args)
        state["indexed"] += 1

    monkeypatch.setattr(catalog_module, "get_small", get_small)
    monkeypatch.setattr(catalog_module, "_index_snapshot", index_snapshot)
    got = asyncio.run(_catalog_docs(generated, tmp_path / "cache"))
    assert got == [d for _, d in snapshot_files(generated)] and state["indexed"] == 5
    assert max(held) <= (1 if read_ahead == 1 else 3)  # how far reads get ahead depends on the load
