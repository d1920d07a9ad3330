"""The file store's write ordering (docs/format.md, invariant 5, "Durability"), seen from the system calls.

A recording fake wraps ``os.mkdir``, ``os.open``, ``os.fsync``, ``os.link`` and ``os.replace`` and
logs each call by path (an fsync by the path its descriptor was opened with). The ordering a crash
relies on: a file's data is fsynced before its name is published; a new directory's entry, and the
new name, are fsynced after they are made, at once outside a backup's deferral and, within it, in
the one pass that must come before anything naming them is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.store import FileStore
from archiver.store._hotpath import deferred_dir_sync, put_built

Event = tuple[str, str]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Event]]:
    log: list[Event] = []
    opened: dict[int, str] = {}
    real_open, real_fsync, real_mkdir = os.open, os.fsync, os.mkdir
    real_link, real_replace = os.link, os.replace

    def fake_open(path: str | Path, flags: int, mode: int = 0o777, **kw: object) -> int:
        fd = real_open(path, flags, mode, **kw)  # type: ignore[arg-type]
        opened[fd] = os.fspath(path)
        return fd

    def fake_fsync(fd: int) -> None:
        log.append(("fsync", opened.get(fd, f"fd {fd}")))
        real_fsync(fd)

    def fake_mkdir(path: str | Path, mode: int = 0o777, **kw: object) -> None:
        real_mkdir(path, mode, **kw)  # type: ignore[arg-type]
        log.append(("mkdir", os.fspath(path)))

    def fake_link(src: str | Path, dst: str | Path, **kw: object) -> None:
        real_link(src, dst, **kw)  # type: ignore[arg-type]
        log.append(("link", os.fspath(dst)))

    def fake_replace(src: str | Path, dst: str | Path, **kw: object) -> None:
        real_replace(src, dst, **kw)  # type: ignore[arg-type]
        log.append(("replace", os.fspath(dst)))

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "fsync", fake_fsync)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "link", fake_link)
    monkeypatch.setattr(os, "replace", fake_replace)
    yield log


def _data_synced_before_published(log: list[Event], final: str) -> None:
    published = next(i for i, (op, path) in enumerate(log) if op in ("link", "replace") and path == final)
    temp = os.path.join(os.path.dirname(final), ".~tmp-")
    data = [i for i, (op, path) in enumerate(log[:published]) if op == "fsync" and path.startswith(temp)]
    assert data, f"the data of {final} was not fsynced before its name was published: {log}"


def _at(log: list[Event], event: Event) -> int:
    assert event in log, f"{event} missing from {log}"
    return log.index(event)


@pytest.mark.parametrize("how", ["put_bytes", "put_built", "replace"])
async def test_outside_a_backup_every_entry_is_synced_at_once(
    tmp_path: Path, calls: list[Event], how: str
) -> None:
    store = await FileStore.open(tmp_path / "s")
    root = str(store.root)
    if how == "replace":
        await store.put_bytes("a/b/c", b"old")
    calls.clear()
    if how == "put_built":
        assert await put_built(store, "a/b/c", lambda: (b"new", None)) == (True, None)
    else:
        assert await store.put_bytes("a/b/c", b"new", if_absent=how != "replace")
    final = f"{root}/a/b/c"
    _data_synced_before_published(calls, final)
    published = max(i for i, (op, path) in enumerate(calls) if path == final)
    assert _at(calls, ("fsync", f"{root}/a/b")) > published, "the new name is synced after it is made"
    if how != "replace":
        for made, parent in ((f"{root}/a", root), (f"{root}/a/b", f"{root}/a")):
            assert _at(calls, ("mkdir", made)) < _at(calls, ("fsync", parent)) < published
    assert (tmp_path / "s/a/b/c").read_bytes() == b"new"


async def test_within_a_backup_entries_are_synced_in_one_pass_before_it_goes_on(
    tmp_path: Path, calls: list[Event]
) -> None:
    store = await FileStore.open(tmp_path / "s")
    root = str(store.root)
    keys = ["bundles/w/workflow/d1/s1", "bundles/w/versions/v/d2/s2"]
    calls.clear()
    async with deferred_dir_sync(store) as sync:
        for key in keys:
            assert await put_built(store, key, lambda: (b"bundle", None)) == (True, None)
            _data_synced_before_published(calls, f"{root}/{key}")
        assert not [c for c in calls if c[0] == "fsync" and not c[1].rsplit("/", 1)[-1].startswith(".~tmp-")]
        before = len(calls)
        await sync()
        synced = [path for op, path in calls[before:] if op == "fsync"]
        made = {os.path.dirname(path) for op, path in calls[:before] if op == "mkdir"}
        named = {f"{root}/bundles/w/workflow/d1", f"{root}/bundles/w/versions/v/d2"}
        assert made | named <= set(synced), "every new entry (directories and names) is synced"
        depth = [path.count("/") for path in synced]
        assert depth == sorted(depth, reverse=True), "deepest first"
    calls.clear()
    await store.put_bytes("snapshots/x", b"{}")  # after the block: synced at once
    assert ("fsync", f"{root}/snapshots") in calls


async def test_a_directory_pruned_meanwhile_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent delete may prune the directory between making it and creating the file."""
    from archiver.store import _file

    store = await FileStore.open(tmp_path / "s")
    real = _file.new_temp
    pruned: list[str] = []

    def prune_first(directory: str) -> tuple[int, str]:
        if not pruned:
            pruned.append(directory)
            os.rmdir(directory)
            os.rmdir(os.path.dirname(directory))
        return real(directory)

    monkeypatch.setattr(_file, "new_temp", prune_first)
    assert await store.put_bytes("a/b/c", b"x")
    assert pruned and (tmp_path / "s/a/b/c").read_bytes() == b"x"


def test_a_failed_close_of_the_temporary_file_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from archiver.store import _local

    tmp, final = str(tmp_path / ".~tmp-x"), str(tmp_path / "final")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    real_close = os.close

    def close(n: int) -> None:
        real_close(n)
        if n == fd:
            raise OSError(errno.EIO, "I/O error on close")

    monkeypatch.setattr(_local.os, "close", close)
    with pytest.raises(OSError):
        _local.publish_bytes(fd, tmp, final, b"data", if_absent=True, sync_dir=lambda _: None)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == []
