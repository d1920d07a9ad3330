"""Markers that keep ``prune`` from deleting what a running backup is about to reference.

The race prune must not lose: a backup writes a new bundle (referenced by no snapshot yet), or finds
an old bundle already in the store and decides to reuse it; meanwhile prune forgets the snapshots
that referenced the old one and deletes every unreferenced bundle; then the backup writes a snapshot
naming a bundle that is gone. A grace period on bundle age cannot prevent the second case (the
reused bundle is old), so we use markers, as restic's locks do, in a form that works on any store
with read-after-write listing (local directories, S3 since December 2020) and with S3 Object Lock:

* ``locks/backup-<id>.json``: a backup run holds one from before it reads the store until its
  snapshot is written. ``locks/prune-<id>.json``: a prune holds one while it deletes.
* Each side writes its own marker first, then lists the others'. A prune that sees a live backup
  marker withdraws (and fails, or waits). A backup that sees a live prune marker waits until it is
  gone. Whatever the interleaving, at least one of the two sees the other's marker, so a prune never
  deletes while a backup that could reference an unreferenced bundle is running.
* Markers are refreshed every ``refresh`` seconds (overwritten with a new ``refreshedAt``). One not
  refreshed for ``stale_after`` seconds belongs to a crashed process and is ignored (prune removes
  it). A holder that could not refresh for ``stale_after`` seconds has lost its lock: its task is
  cancelled and :class:`StoreError` raised, so a backup never writes a snapshot after its marker may
  have been ignored. Clocks of the hosts must agree to well within ``stale_after``.
* Releasing deletes the marker; where S3 Object Lock forbids that, the marker is overwritten with
  ``"ended": true`` (a new object version is always allowed), which counts as released.

One backup per target: a backup marker names the partition, account and region it is for. Two
backups of one target would throttle each other and both be slower than one, so a second one
waits (``wait``, the CLI's ``--lock-wait``) and then refuses, naming who holds the target. Both
write first and look second; when each sees the other, the one whose marker key sorts later
withdraws, and the earlier one waits for it to go; one that sees only later markers waits for them
too (they either withdraw or are already running). A marker written on this host by a process
that no longer exists is dead at once, whatever its age: it is ignored and removed (a crash, a
kill -9). Markers of other hosts can only go stale. ``omics-archiver unlock`` removes dead and
stale markers (``--remove-all``: every marker), as restic's ``unlock`` does.

Described for users in ``docs/format.md`` ("Concurrency and pruning").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ._errors import ArchiverError, ObjectLocked, ObjectNotFound, StoreError
from ._jsonutil import is_rfc3339, load_json_object, parse_rfc3339, rfc3339
from ._version import __version__
from .store import Store
from .store._small import ObjectTooLarge, get_small

__all__ = [
    "LOCK_PREFIX",
    "LockInfo",
    "LockTiming",
    "StoreLock",
    "backup_lock",
    "list_locks",
    "prune_lock",
    "remove_dead_locks",
]

log = logging.getLogger("archiver.lock")

LOCK_PREFIX = "locks/"
# A marker is a few hundred bytes; anything far larger was not written by us and is not read whole.
MAX_MARKER_BYTES = 64 * 1024
LockKind = Literal["backup", "prune"]
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class LockTiming:
    """``refresh``: seconds between marker refreshes; ``stale_after``: a marker older than this is
    dead; ``poll``: seconds between looks while waiting; ``wait``: how long a backup waits for a
    running prune (a prune waits only as long as its caller asks)."""

    refresh: float = 120.0
    stale_after: float = 900.0
    poll: float = 5.0
    wait: float = 3600.0

    def __post_init__(self) -> None:
        if not 0 < self.refresh < self.stale_after:
            raise ValueError("refresh must be positive and shorter than stale_after")


@dataclass(frozen=True)
class LockInfo:
    """A marker as found in the store."""

    key: str
    kind: str
    run_id: str
    host: str
    pid: int | None
    created_at: datetime | None
    refreshed_at: datetime | None
    ended: bool
    modified: datetime | None
    target: str | None = None  # "partition/account/region" of a backup marker, if it says

    def last_sign_of_life(self) -> datetime | None:
        times = [t for t in (self.refreshed_at, self.modified) if t is not None]
        return max(times) if times else None

    def dead_here(self) -> bool:
        """Written on this host by a process that no longer exists."""
        return self.host == socket.gethostname() and self.pid is not None and not _pid_alive(self.pid)

    def live(self, now: datetime, stale_after: float) -> bool:
        seen = self.last_sign_of_life()
        fresh = seen is not None and (now - seen).total_seconds() < stale_after
        return not self.ended and fresh and not self.dead_here()

    def describe(self) -> str:
        since = rfc3339(self.created_at) if self.created_at else "an unknown time"
        return f"{self.kind} run {self.run_id} on {self.host} (pid {self.pid}) since {since}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we can check: judged by age alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _target_of(doc: dict[str, Any]) -> str | None:
    target = doc.get("target")
    if isinstance(target, dict) and all(
        isinstance(target.get(k), str) for k in ("partition", "account", "region")
    ):
        return f"{target['partition']}/{target['account']}/{target['region']}"
    return None


def _time(value: Any) -> datetime | None:
    return parse_rfc3339(value) if isinstance(value, str) and is_rfc3339(value) else None


async def _read_marker(store: Store, key: str, modified: datetime | None) -> LockInfo | None:
    try:
        raw: bytes | None = await get_small(store, key, MAX_MARKER_BYTES, what="lock marker")
    except ObjectNotFound:
        return None
    except ObjectTooLarge:
        raw = None  # not a marker we wrote: judged by its age alone
    return _parse_marker(key, raw, modified)


def _parse_marker(key: str, raw: bytes | None, modified: datetime | None) -> LockInfo:
    name = key[len(LOCK_PREFIX) :]
    kind = name.split("-", 1)[0]
    try:
        doc: dict[str, Any] = load_json_object(raw, f"lock marker {key}") if raw is not None else {}
    except ValueError:
        doc = {}  # unreadable: judged by its age alone
    pid = doc.get("pid")
    return LockInfo(
        key=key,
        kind=str(doc.get("kind", kind)),
        run_id=str(doc.get("runId", name)),
        host=str(doc.get("host", "?")),
        pid=pid if isinstance(pid, int) else None,
        created_at=_time(doc.get("createdAt")),
        refreshed_at=_time(doc.get("refreshedAt")),
        ended=doc.get("ended") is True,
        modified=modified,
        target=_target_of(doc),
    )


class _Known:
    """What this process knows of one store's markers, so that a look costs a listing, not a read each.

    Every target of an org-wide run holds a marker and looks at all the others': read each time,
    that was N reads per target and N squared per run (2,500 for 50 targets; GET requests on S3).
    A marker this process wrote is known as it wrote it (``own``: nobody else writes that key). One
    written elsewhere is read once per version, by one reader while the others wait for it: ``seen``
    keeps it with the size and modification time the listing gave, and a listing showing either
    changed reads it again (a refresh rewrites it later, an end rewrites it shorter); one no longer
    listed is forgotten.
    """

    def __init__(self) -> None:
        self.own: dict[str, LockInfo] = {}  # as parsed, with no modification time
        self.seen: dict[str, tuple[tuple[int, datetime], LockInfo]] = {}
        self.reading: dict[tuple[str, int, datetime], asyncio.Task[LockInfo | None]] = {}

    async def marker(self, store: Store, key: str, size: int, modified: datetime | None) -> LockInfo | None:
        own = self.own.get(key)
        if own is not None:
            return dataclasses.replace(own, modified=modified)
        if modified is None:  # a store that gives no modification time: nothing to tell versions by
            return await _read_marker(store, key, modified)
        version = (size, modified)
        seen = self.seen.get(key)
        if seen is not None and seen[0] == version:
            return seen[1]
        reading = self.reading.get((key, *version))
        if reading is None or reading.get_loop() is not asyncio.get_running_loop():
            reading = asyncio.create_task(self._read(store, key, version), name=f"read {key}")
            self.reading[(key, *version)] = reading
            reading.add_done_callback(lambda _: self.reading.pop((key, *version), None))
        return await asyncio.shield(reading)

    async def _read(self, store: Store, key: str, version: tuple[int, datetime]) -> LockInfo | None:
        marker = await _read_marker(store, key, version[1])
        if marker is not None:  # known before the task is done and no longer found in ``reading``
            self.seen[key] = (version, marker)
        return marker

    def forget_unlisted(self, prefix: str, listed: set[str]) -> None:
        """Forget what others wrote that is gone (``own`` goes as this process releases its own:
        a listing that began before one of them was written would not show it)."""
        for key in [k for k in self.seen if k.startswith(prefix) and k not in listed]:
            del self.seen[key]


_KNOWN: dict[str, _Known] = {}  # by store URL


def _known(store: Store) -> _Known:
    return _KNOWN.setdefault(store.url, _Known())


async def list_locks(store: Store, kind: LockKind | None = None) -> list[LockInfo]:
    """Every marker in the store (of one kind), live or not."""
    prefix = LOCK_PREFIX + (f"{kind}-" if kind else "")
    known = _known(store)
    found = []
    listed: set[str] = set()
    async for info in store.list(prefix):
        if info.key.endswith(".json"):
            listed.add(info.key)
            marker = await known.marker(store, info.key, info.size, info.modified)
            if marker is not None:
                found.append(marker)
    known.forget_unlisted(prefix, listed)
    return found


class StoreLock:
    """A marker this process holds; refreshed in the background until released."""

    def __init__(
        self,
        store: Store,
        kind: LockKind,
        run_id: str,
        timing: LockTiming,
        clock: Clock,
        target: tuple[str, str, str] | None = None,
    ) -> None:
        self.store, self.kind, self.run_id, self.timing, self.clock = store, kind, run_id, timing, clock
        self.target = target
        stamp = clock().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.key = f"{LOCK_PREFIX}{kind}-{stamp}-{secrets.token_hex(4)}.json"
        self.created = clock()
        self.lost = False
        self._last_ok = time.monotonic()
        self._refresher: asyncio.Task[None] | None = None
        self._owner: asyncio.Task[Any] | None = None

    def _doc(self, *, ended: bool) -> bytes:
        doc = {
            "format": "omics-archiver-lock",
            "formatVersion": 1,
            "toolVersion": __version__,
            "kind": self.kind,
            "runId": self.run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "createdAt": rfc3339(self.created),
            "refreshedAt": rfc3339(self.clock()),
            "ended": ended,
        }
        if self.target is not None:
            doc["target"] = dict(zip(("partition", "account", "region"), self.target, strict=True))
        return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode()

    async def _put(self, doc: bytes, *, if_absent: bool) -> bool:
        """Write the marker; this process then knows its content without reading it (``_Known``).

        Known from before the write, since this process's other targets may list the key as soon
        as it lands; a write that fails or does not happen leaves it to be read from the store.
        """
        known = _known(self.store)
        known.own[self.key] = _parse_marker(self.key, doc, None)
        try:
            written = await self.store.put_bytes(self.key, doc, if_absent=if_absent)
        except BaseException:
            known.own.pop(self.key, None)
            raise
        if not written:
            known.own.pop(self.key, None)
        return written

    async def acquire(self) -> None:
        if not await self._put(self._doc(ended=False), if_absent=True):
            raise StoreError(f"lock marker {self.key} already exists", key=self.key)
        self._last_ok = time.monotonic()
        self._owner = asyncio.current_task()
        self._refresher = asyncio.create_task(self._refresh_loop(), name=f"refresh {self.key}")

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.timing.refresh)
            try:
                await self._put(self._doc(ended=False), if_absent=False)
                self._last_ok = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "cannot refresh lock marker %s: %s", self.key, exc, extra={"event": "lock-refresh"}
                )
            if time.monotonic() - self._last_ok >= self.timing.stale_after:
                self.lost = True
                log.error(
                    "lost lock marker %s: not refreshed in time", self.key, extra={"event": "lock-lost"}
                )
                if self._owner is not None:
                    self._owner.cancel()
                return

    async def release(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        try:
            try:
                await self.store.delete(self.key)
                _known(self.store).own.pop(self.key, None)
            except ObjectLocked:
                await self._put(self._doc(ended=True), if_absent=False)
        except ArchiverError as exc:
            # Harmless: the marker goes stale after ``stale_after`` and is then ignored and removed.
            log.warning(
                "cannot release lock marker %s: %s", self.key, exc.message, extra={"event": "lock-release"}
            )

    async def others(self, kind: LockKind) -> list[LockInfo]:
        now = self.clock()
        return [
            m
            for m in await list_locks(self.store, kind)
            if m.key != self.key and m.live(now, self.timing.stale_after)
        ]


@asynccontextmanager
async def _held(lock: StoreLock) -> AsyncIterator[StoreLock]:
    """Release on the way out; turn the cancellation a lost lock caused into a StoreError."""
    try:
        yield lock
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if lock.lost and task is not None and task.uncancel() == 0:
            raise StoreError(
                f"lost the {lock.kind} lock {lock.key}: it could not be refreshed for "
                f"{lock.timing.stale_after:.0f} s, so a prune may have ignored it; nothing more was written",
                key=lock.key,
            ) from None
        raise
    finally:
        await asyncio.shield(lock.release())


@asynccontextmanager
async def backup_lock(
    store: Store,
    *,
    run_id: str,
    target: tuple[str, str, str] | None = None,
    wait: float = 0.0,
    timing: LockTiming | None = None,
    enabled: bool = True,
    clock: Clock = _utcnow,
) -> AsyncIterator[StoreLock | None]:
    """Hold a backup marker for ``target`` (partition, account, region) for the block.

    First wait up to ``wait`` seconds for another backup of the same target (see the module
    docstring), then up to ``timing.wait`` for a running prune. Wrap everything from the first read
    of the store to the snapshot write. ``enabled=False`` (a dry run, which writes nothing) holds no
    marker. Raises :class:`StoreError` naming the other backup's host, pid and start, if it is still
    running after ``wait``; or if a prune still runs after ``timing.wait``; or if the marker is lost.
    """
    if not enabled:
        yield None
        return
    timing = timing or LockTiming()
    lock = await _exclusive_backup_marker(store, run_id, target, wait, timing, clock)
    async with _held(lock):
        deadline = time.monotonic() + timing.wait
        while running := await lock.others("prune"):
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"a prune is still running after {timing.wait:.0f} s ({running[0].describe()}); "
                    f"if it crashed, its marker {running[0].key} goes stale {timing.stale_after:.0f} s "
                    "after its last refresh",
                    key=running[0].key,
                )
            log.info("waiting for a running prune: %s", running[0].describe(), extra={"event": "lock-wait"})
            await asyncio.sleep(timing.poll)
        yield lock


_SETTLE = 3.0  # seconds a first-comer waits for a later rival to see it and withdraw


async def _rivals(lock: StoreLock) -> list[LockInfo]:
    """Live backup markers of ``lock``'s target (a marker that names none may be of any target);
    dead markers of this host are removed on the way."""
    now = lock.clock()
    found = []
    for m in await list_locks(lock.store, "backup"):
        if m.key == lock.key:
            continue
        if m.dead_here() and not m.ended:
            log.warning(
                "taking over the lock of %s: that process no longer exists",
                m.describe(),
                extra={"event": "lock-takeover", "key": m.key},
            )
            with contextlib.suppress(ArchiverError):
                await lock.store.delete(m.key)
            continue
        mine = "/".join(lock.target) if lock.target else None
        if m.live(now, lock.timing.stale_after) and (m.target is None or mine is None or m.target == mine):
            found.append(m)
    return found


async def _exclusive_backup_marker(
    store: Store,
    run_id: str,
    target: tuple[str, str, str] | None,
    wait: float,
    timing: LockTiming,
    clock: Clock,
) -> StoreLock:
    """A backup marker once no other backup of ``target`` runs; StoreError after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    what = f"account {target[1]} in {target[2]}" if target else "this store"
    poll = min(timing.poll, 1.0)
    while True:
        lock = StoreLock(store, "backup", run_id, timing, clock, target)
        await lock.acquire()
        try:
            rivals = await _rivals(lock)
            if rivals and not any(r.key < lock.key for r in rivals):
                # First come: every rival came later, and withdraws once it sees us, or is already
                # running without having seen us; wait for them to go either way.
                settle = time.monotonic() + max(_SETTLE, deadline - time.monotonic())
                while rivals and time.monotonic() < settle:
                    await asyncio.sleep(poll)
                    rivals = await _rivals(lock)
        except BaseException:
            await lock.release()
            raise
        if not rivals:
            return lock
        await lock.release()
        if time.monotonic() >= deadline:
            waited = f" after waiting {wait:.0f} s (--lock-wait)" if wait > 0 else ""
            raise StoreError(
                f"another backup of {what} is running: {rivals[0].describe()}; refused{waited}. "
                f"If that process is gone, 'omics-archiver unlock' removes its lock {rivals[0].key}",
                key=rivals[0].key,
            )
        log.info(
            "waiting for another backup of %s: %s", what, rivals[0].describe(), extra={"event": "lock-wait"}
        )
        await asyncio.sleep(poll)


@asynccontextmanager
async def prune_lock(
    store: Store, *, timing: LockTiming | None = None, wait: float = 0.0, clock: Clock = _utcnow
) -> AsyncIterator[StoreLock]:
    """Hold a prune marker for the block, with no backup running.

    If a live backup marker is found, the prune withdraws its own marker and tries again every
    ``timing.poll`` seconds for up to ``wait`` seconds, then raises :class:`StoreError` naming the
    backup.
    """
    timing = timing or LockTiming()
    deadline = time.monotonic() + wait
    while True:
        lock = StoreLock(store, "prune", f"prune-{secrets.token_hex(4)}", timing, clock)
        await lock.acquire()
        try:
            running = await lock.others("backup")
        except BaseException:
            await lock.release()
            raise
        if not running:
            break
        await lock.release()
        if time.monotonic() >= deadline:
            raise StoreError(
                f"a backup is running ({running[0].describe()}); prune deleted nothing. Try again later "
                f"or give --lock-wait; a crashed backup's marker {running[0].key} goes stale "
                f"{timing.stale_after:.0f} s after its last refresh",
                key=running[0].key,
            )
        await asyncio.sleep(timing.poll)
    async with _held(lock):
        yield lock


async def remove_dead_locks(
    store: Store, *, timing: LockTiming | None = None, clock: Clock = _utcnow, remove_all: bool = False
) -> list[str]:
    """Delete markers that are ended, stale, or of a process of this host that no longer exists (with
    ``remove_all``, every marker); return their keys (Object Lock: left, not an error)."""
    timing = timing or LockTiming()
    now = clock()
    removed = []
    for marker in await list_locks(store):
        if marker.live(now, timing.stale_after) and not remove_all:
            continue
        try:
            await store.delete(marker.key)
        except ObjectLocked:
            continue
        removed.append(marker.key)
    return removed
