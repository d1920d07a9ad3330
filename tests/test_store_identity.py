"""A store's identity and what a file store refuses, through the CLI (issue 10, points 2, 6 and 11).

* Readers (verify, list, snapshots, show, diff, restore, prune, backup --dry-run, delete) refuse a
  location without an archive, exit 1, and create nothing: no directory, no cache.
* The first writer writes ``config.json``; an archive of format 1 without one is still read, and
  the next writer adds it. Under umask 000 the directories made for a store and a cache are 0700.
* A symlink inside a file store is refused by name: backup does not write through it, verify
  reports it (exit 1), prune deletes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver._schema import problems
from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

from .lossy_proxy import lossy_proxy
from .test_catalog_support import SEED, Archive, run_cli

pytest_plugins = ("tests.s3server",)

_NOWHERE = ("--endpoint-url", "http://127.0.0.1:9", "--account-id", "123456789012", "--region", "us-east-1")
_READERS: list[tuple[str, ...]] = [
    ("verify", "--read-data"),
    ("list",),
    ("snapshots",),
    ("show", "1048576"),
    ("diff", "1048576", "1048577"),
    ("prune", "--keep-last", "1"),
    ("restore", "--all", "--dry-run", "--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1"),
    ("backup", "--dry-run", *_NOWHERE),
    ("delete", "--workflow-id", "1048576", "--dry-run", *_NOWHERE),
]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        yield emu


def backup(emu: Emulator, store: str, *extra: str) -> tuple[int, dict[str, object]]:
    code, out = run_cli(
        ["backup", "--store", store, "--endpoint-url", emu.url, "--json", "--log-level", "ERROR", *extra]
    )
    return code, json.loads(out) if out.strip() else {}


@pytest.mark.parametrize("argv", _READERS, ids=lambda a: a[0] + ("-dry-run" if "--dry-run" in a else ""))
def test_readers_refuse_a_missing_file_store_and_create_nothing(
    argv: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    typo = tmp_path / "typo" / "store"
    code = main([*argv, "--store", str(typo)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"no archive at {typo.as_uri()}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no store directory, no cache


def test_readers_refuse_an_empty_directory_and_an_empty_s3_prefix(
    tmp_path: Path, s3_bucket: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint, bucket = s3_bucket
    empty = tmp_path / "empty"
    empty.mkdir()
    for store, extra in ((str(empty), ()), (f"s3://{bucket}/typo", ("--s3-endpoint-url", endpoint))):
        for argv in (("verify", "--read-data"), ("snapshots", "--no-cache"), ("prune", "--keep-last", "1")):
            assert main([*argv, "--store", store, *extra]) == 1
            assert "no archive at" in capsys.readouterr().err
    assert list(empty.iterdir()) == []


def test_first_backup_writes_the_config_under_umask_000_with_private_dirs(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_bucket: tuple[str, str]
) -> None:
    store = tmp_path / "new" / "deeper" / "store"
    cache = tmp_path / "cachebase" / "a" / "b"
    old = os.umask(0)
    try:
        code, report = backup(emulator, str(store))
        assert code == 0, report
        assert main(["snapshots", "--store", str(store), "--cache-dir", str(cache)]) == 0
    finally:
        os.umask(old)
    made = (tmp_path / "new", tmp_path / "new" / "deeper", store, tmp_path / "cachebase", cache.parent, cache)
    for d in made:
        assert mode(d) == 0o700, d
    config = json.loads((store / "config.json").read_bytes())
    assert problems("store-config", config) == []
    assert config["format"] == "omics-archiver-store" and config["formatVersion"] == 1
    # a second backup keeps the identity
    assert backup(emulator, str(store))[0] == 0
    assert json.loads((store / "config.json").read_bytes())["id"] == config["id"]
    # and on S3
    endpoint, bucket = s3_bucket
    s3 = Archive(
        "s3",
        f"s3://{bucket}/dr",
        ("--s3-endpoint-url", endpoint),
        endpoint=endpoint,
        bucket=bucket,
        prefix="dr/",
    )
    assert backup(emulator, s3.url, *s3.args)[0] == 0
    assert problems("store-config", json.loads(s3.read("config.json"))) == []
    capsys.readouterr()


def test_an_archive_of_format_1_without_config_is_read_and_the_next_writer_adds_it(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert backup(emulator, str(store))[0] == 0
    (store / "config.json").unlink()  # as written before the config existed
    assert main(["verify", "--store", str(store)]) == 0
    assert not (store / "config.json").exists()  # readers write nothing
    assert backup(emulator, str(store))[0] == 0
    assert problems("store-config", json.loads((store / "config.json").read_bytes())) == []
    (store / "config.json").write_text('{"format": "omics-archiver-store", "formatVersion": 7}')
    assert main(["verify", "--store", str(store)]) == 1
    assert "newer than this tool supports" in capsys.readouterr().err


def test_a_symlinked_directory_in_a_file_store_is_refused_by_every_command(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert backup(emulator, str(store))[0] == 0
    bundles_before = sorted(p.relative_to(store) for p in (store / "bundles").rglob("*.tar.zst"))
    outside = tmp_path / "elsewhere"
    shutil.move(store / "snapshots" / "aws", outside)
    (store / "snapshots" / "aws").symlink_to(outside)
    before = sorted(p.relative_to(outside) for p in outside.rglob("*"))

    code, _ = backup(emulator, str(store))
    assert code != 0
    assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == before  # nothing written through it

    code = main(["verify", "--read-data", "--store", str(store), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert any(p["key"] == "snapshots/aws" and "symlink" in p["problem"] for p in out["problems"]), out

    assert main(["snapshots", "--store", str(store), "--no-cache"]) == 0
    assert "symlink snapshots/aws" in capsys.readouterr().err

    assert main(["prune", "--keep-last", "1", "--store", str(store)]) == 1
    assert "symlink snapshots/aws" in capsys.readouterr().err
    assert sorted(p.relative_to(store) for p in (store / "bundles").rglob("*.tar.zst")) == bundles_before


def test_s3_backup_survives_lost_responses_to_its_lock_marker_and_snapshot(
    emulator: Emulator, s3_bucket: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Point 10: the retry of a write S3 already did gets 412; our own bytes there mean success."""
    endpoint, bucket = s3_bucket
    rules = [
        lambda method, path: method == "PUT" and "/dr/locks/backup-" in path,
        lambda method, path: method == "PUT" and "/dr/snapshots/" in path,
    ]
    with lossy_proxy(endpoint, rules) as (proxy_url, proxy):
        store = Archive(
            "s3",
            f"s3://{bucket}/dr",
            ("--s3-endpoint-url", proxy_url),
            endpoint=endpoint,
            bucket=bucket,
            prefix="dr/",
        )
        code, report = backup(emulator, store.url, *store.args)
        assert [path.split("/")[3] for _, path in proxy.lost] == ["locks", "snapshots"]
    assert code == 0, capsys.readouterr().err
    snapshots = store.list_keys("snapshots/")
    assert len(snapshots) == 1 and report["snapshot"] == snapshots[0]
    assert store.list_keys("locks/") == []  # released: prune need not wait
    assert main(["prune", "--keep-last", "1", "--store", store.url, "--s3-endpoint-url", endpoint]) == 0
