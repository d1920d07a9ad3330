"""``verify``: is the archive still able to restore what its snapshots promise?

A disaster-recovery archive is only trusted if it is checked. Two levels, as restic's ``check``:

* structure (always): every snapshot parses and validates; every bundle a snapshot lists exists with
  the size the snapshot recorded; every bundle's manifest (its first member, read from the first
  few KiB of the object) parses, validates, and agrees with its key and with the snapshot entries
  that list it;
* data (``read_data_percent``): each bundle, or a random sample, is streamed to a temporary file
  and checked whole with :func:`archiver._bundle.verify_bundle` (zstd frames and checksum, tar
  structure, every member's size and SHA-256, the ZIP's integrity), and the file's own size and
  SHA-256 are compared with the snapshot entries.

Every problem names the object it concerns. Verify only reads: it never writes, deletes or caches
anything in the store, except with ``--repair`` (:mod:`archiver.repair`), which writes a damaged
bundle anew when the live service still holds its state; the CLI then records the result
(:mod:`archiver.verifications`) unless told not to. A bundle may hold other bytes than its
snapshots recorded when a repair note (``repairs/``) vouches for them. Memory is bounded by
``concurrency`` downloads streamed to disk (each bundle's size in ``work_dir``), never by a
bundle's size in RAM.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import random
import secrets
import time
from array import array
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from . import _layout
from ._bundle import read_manifest, read_manifest_from, verify_bundle
from ._catalog import Catalog, SnapshotRecord, load_catalog
from ._errors import BundleError, ObjectNotFound, StoreError
from ._workdir import work_directory
from .images import verify_images
from .repair import RepairNote, RepairOutcome, accepted, load_notes
from .store import Store
from .store._small import read_head

__all__ = ["VerifyOptions", "VerifyProblem", "VerifyReport", "verify_store"]

_HEAD_FIRST = 256 << 10
_HEAD_MAX = 8 << 20
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class VerifyOptions:
    """How deep to look. ``read_data_percent=None``: structure only; ``100``: read every bundle.

    Disk use is at most ``concurrency`` bundles in ``work_dir`` (default: the system temp dir).
    ``account``/``region`` check only those snapshots and the bundles they list (``verify --account``,
    ``--source-region``): a bundle no snapshot lists belongs to no account, so is not counted then.
    """

    read_data_percent: float | None = None
    concurrency: int = 4
    manifest_concurrency: int = 16
    work_dir: Path | None = None
    seed: int | None = None
    account: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class VerifyProblem:
    """One problem: the object concerned (a bundle or snapshot key), what is wrong, who refers to it."""

    key: str
    message: str
    snapshot: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "problem": self.message, "snapshot": self.snapshot}


@dataclass(kw_only=True)
class VerifyReport:
    store: str
    started_at: datetime
    finished_at: datetime | None = None
    duration: float = 0.0
    read_data_percent: float | None = None
    snapshots: int = 0
    bundles: int = 0
    referenced: int = 0
    bundles_read: int = 0
    bytes_read: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)
    repairs: list[RepairOutcome] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)  # archived image blobs: counts (images._stored)
    targets: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)
    """Per (partition, account, region): the snapshots checked and the distinct bundles they list."""

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.repaired for r in self.repairs)

    def add(self, key: str, message: str, snapshot: str | None = None) -> None:
        self.problems.append(VerifyProblem(key, message, snapshot))

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "ok": self.ok,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "durationSeconds": round(self.duration, 3),
            "readDataPercent": self.read_data_percent,
            "snapshots": self.snapshots,
            "bundles": self.bundles,
            "referenced": self.referenced,
            "unreferenced": max(0, self.bundles - self.referenced),
            "bundlesRead": self.bundles_read,
            "bytesRead": self.bytes_read,
            "problems": [p.as_dict() for p in sorted(self.problems, key=lambda p: (p.key, p.message))],
            "repairs": [r.as_dict() for r in sorted(self.repairs, key=lambda r: r.key)],
            "images": dict(self.images),
            "targets": [
                {"partition": g[0], "account": g[1], "region": g[2], **counts}
                for g, counts in sorted(self.targets.items())
            ],
        }


async def _head_manifest(store: Store, key: str, size: int) -> dict[str, Any]:
    limit = _HEAD_FIRST
    while True:
        head = await read_head(store, key, limit)
        try:
            return await asyncio.to_thread(read_manifest_from, io.BytesIO(head), label=key)
        except BundleError:
            if len(head) >= size or limit >= _HEAD_MAX:
                raise
            limit = _HEAD_MAX


def _manifest_problems(
    key: str, manifest: Mapping[str, Any], entries: list[tuple[SnapshotRecord, Any]]
) -> list[str]:
    """Disagreements between a manifest, its key, and the snapshot entries that list it."""
    out: list[str] = []
    parsed = _layout.parse_bundle_key(key)
    source = manifest["source"]
    kind = "workflow" if parsed.kind == "workflow" else "workflow-version"
    if manifest["kind"] != kind:
        out.append(f"the manifest says kind {manifest['kind']}, the key says {kind}")
    if manifest["stateId"] != parsed.state_id:
        out.append(f"the manifest's state id {manifest['stateId']} differs from the key's {parsed.state_id}")
    if str(source["workflowUuid"]).lower() != parsed.workflow_uuid.lower():
        out.append("the manifest's workflow uuid differs from the key's")
    if parsed.version_uuid is not None and str(source["uuid"]).lower() != parsed.version_uuid.lower():
        out.append("the manifest's version uuid differs from the key's")
    try:
        segment = _layout.digest_segment(str(source["digest"]))
    except ValueError:
        segment = ""
    if segment != parsed.digest_segment:
        out.append(
            f"the manifest's digest {source['digest']} does not match the key's {parsed.digest_segment}"
        )
    for snap, entry in entries:
        for field_name, want in (
            ("stateId", manifest["stateId"]),
            ("digest", source["digest"]),
            ("uuid", source["uuid"]),
        ):
            if entry[field_name] != want:
                out.append(
                    f"snapshot {snap.key.key} records {field_name} {entry[field_name]!r}, "
                    f"the manifest {want!r}"
                )
        if (snap.key.account, snap.key.region) != (source["account"], source["region"]):
            out.append(f"snapshot {snap.key.key} is of another account or region than the bundle's source")
    return out


def _hash_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class _References:
    """Bundle key -> the ``(snapshot, entry)`` pairs that list it, oldest snapshot first.

    A year of nightly snapshots lists ~1.5 million entries, nearly all the same few thousand stable
    entries again, so the pairs are kept as two numbers each (the snapshot's position, the entry's
    number) and built into a list only for the key asked for. Snapshots from the snapshot index are
    walked by entry id (the bundle key is a column) and their entries read per key, not all kept.
    """

    def __init__(self, catalog: Catalog) -> None:
        self._snaps = catalog.snapshots
        self._index = catalog.index
        self._distinct: list[Mapping[str, Any]] = []  # without the index: entries by number
        self._pairs: dict[str, array[int]] = {}
        self.group_keys: dict[tuple[str, str, str], int] = {}
        """How many distinct bundle keys each account/region's snapshots list."""
        ids = [s.entry_ids() for s in self._snaps]
        if self._index is None or any(i is None for i in ids):
            self._index = None
            self._plain()
        else:
            self._indexed([i for i in ids if i is not None])

    def _add(self, key: str, position: int, number: int) -> None:
        pairs = self._pairs.get(key)
        if pairs is None:
            pairs = self._pairs[key] = array("I")
        pairs.append(position)
        pairs.append(number)

    def _plain(self) -> None:
        numbers: dict[int, int] = {}  # id() of an entry -> its number (entries stay alive in _distinct)
        groups: dict[tuple[str, str, str], set[str]] = {}
        for position, snap in enumerate(self._snaps):
            keys = groups.setdefault(snap.group, set())
            for entry in snap.entries():
                number = numbers.get(id(entry))
                if number is None:
                    number = numbers[id(entry)] = len(self._distinct)
                    self._distinct.append(entry)
                key = str(entry["key"])
                keys.add(key)
                self._add(key, position, number)
        self.group_keys = {g: len(k) for g, k in groups.items()}

    def _indexed(self, lists: list[Sequence[int]]) -> None:
        assert self._index is not None
        key_of: dict[int, str] = {}
        groups: dict[tuple[str, str, str], set[int]] = {}
        for position, (snap, ids) in enumerate(zip(self._snaps, lists, strict=True)):
            fresh = [i for i in set(ids) if i not in key_of]
            if fresh:
                key_of.update(self._index.bundle_keys(fresh))
            groups.setdefault(snap.group, set()).update(ids)
            for entry_id in ids:
                self._add(key_of[entry_id], position, entry_id)
        self.group_keys = {g: len({key_of[i] for i in ids}) for g, ids in groups.items()}

    def __contains__(self, key: object) -> bool:
        return key in self._pairs

    def __iter__(self) -> Iterator[str]:
        return iter(self._pairs)

    def get(self, key: str) -> list[tuple[SnapshotRecord, Any]]:
        """The pairs listing ``key`` (empty if none)."""
        pairs = self._pairs.get(key)
        if pairs is None:
            return []
        snaps = self._snaps
        if self._index is not None:
            read = self._index.read_entries(pairs[1::2])
            return [(snaps[pairs[i]], read[pairs[i + 1]]) for i in range(0, len(pairs), 2)]
        distinct = self._distinct
        return [(snaps[pairs[i]], distinct[pairs[i + 1]]) for i in range(0, len(pairs), 2)]

    def first_snapshot(self, key: str) -> str | None:
        pairs = self._pairs.get(key)
        return self._snaps[pairs[0]].key.key if pairs else None


Repairer = Callable[[str, list[tuple[SnapshotRecord, Any]]], Awaitable[RepairOutcome]]
"""Repairs one damaged bundle, given its key and the snapshot entries that list it."""


class _Verifier:
    def __init__(
        self,
        store: Store,
        options: VerifyOptions,
        report: VerifyReport,
        work: Path,
        repairer: Repairer | None = None,
    ) -> None:
        self.store, self.options, self.report, self.work = store, options, report, work
        self.repairer = repairer
        self.entries = _References(Catalog([], {}))
        self.listed_all = True
        self.notes: dict[str, list[RepairNote]] = {}

    def first_snapshot(self, key: str) -> str | None:
        return self.entries.first_snapshot(key)

    async def structure(self, catalog: Catalog) -> list[str]:
        """Check snapshots and references; return the keys of bundles that exist."""
        report = self.report
        for key, message in catalog.problems:
            report.add(key, message)
        self.listed_all = catalog.complete
        self.entries = _References(catalog)
        report.snapshots = len(catalog.snapshots)
        for snap in catalog.snapshots:
            counts = report.targets.setdefault(snap.group, {"snapshots": 0, "bundles": 0})
            counts["snapshots"] += 1
        for group, count in self.entries.group_keys.items():
            report.targets[group]["bundles"] = count
        report.bundles = len(catalog.bundles)
        report.referenced = len([k for k in self.entries if k in catalog.bundles])
        for key in sorted(self.entries):
            refs = self.entries.get(key)
            info = catalog.bundles.get(key)
            if info is None:
                await self._missing(key, refs)
                continue
            recorded = {(int(e["size"]), str(e["sha256"])) for _, e in refs}
            if len(recorded) > 1:
                report.add(
                    key,
                    f"snapshots disagree about its size and SHA-256: {sorted(recorded)}",
                    refs[0][0].key.key,
                )
            for snap, entry in refs:
                if int(entry["size"]) != info.size and not accepted(self.notes, key, info.size):
                    report.add(
                        key,
                        f"the bundle is {info.size} bytes but the snapshot recorded {entry['size']}",
                        snap.key.key,
                    )
                    break
        if self.options.account or self.options.region:  # only what the chosen snapshots list
            report.bundles = report.referenced
            return sorted(k for k in catalog.bundles if k in self.entries)
        return sorted(catalog.bundles)

    async def _missing(self, key: str, refs: list[tuple[SnapshotRecord, Any]]) -> None:
        try:
            if await self.store.stat(key) is not None and self.listed_all:
                return  # written since the listing
            for snap, _ in refs:
                # A snapshot pruned since we listed it no longer promises anything.
                if await self.store.stat(snap.key.key) is not None:
                    why = "missing from" if self.listed_all else "not in the (incomplete) listing of"
                    self.report.add(key, f"the bundle is {why} the store", snap.key.key)
                    return
        except StoreError as exc:
            self.report.add(key, f"the bundle cannot be read: {exc.message}", refs[0][0].key.key)

    async def manifest(self, key: str, size: int) -> None:
        try:
            manifest = await _head_manifest(self.store, key, size)
        except ObjectNotFound:
            return  # pruned since it was listed
        except (BundleError, StoreError) as exc:
            self.report.add(key, f"the manifest cannot be read: {exc.message}", self.first_snapshot(key))
            return
        for message in _manifest_problems(key, manifest, self.entries.get(key)):
            self.report.add(key, message, self.first_snapshot(key))

    async def read_and_repair(self, key: str) -> None:
        """Read one bundle; with a repairer, repair it if it is damaged and read it again."""
        before = len(self.report.problems)
        await self.read_data(key)
        damaged = [p for p in self.report.problems[before:] if p.key == key]
        refs = self.entries.get(key)
        if not damaged or self.repairer is None or not refs:
            return
        outcome = await self.repairer(key, refs)
        if outcome.repaired:
            again = VerifyReport(store=self.report.store, started_at=self.report.started_at)
            checker = _Verifier(self.store, self.options, again, self.work)
            checker.entries, checker.notes = self.entries, self.notes
            checker.notes = (await load_notes(self.store, key))[0] | {
                k: v for k, v in self.notes.items() if k != key
            }
            await checker.read_data(key)
            if again.problems:
                outcome = RepairOutcome(
                    key, False, f"{outcome.detail}, but it still does not verify: {again.problems[0].message}"
                )
            else:
                for p in damaged:
                    self.report.problems.remove(p)
        self.report.repairs.append(outcome)

    async def read_data(self, key: str) -> None:
        local = self.work / f"verify-{secrets.token_hex(6)}.tar.zst"
        try:
            try:
                await self.store.download(key, local)
            except ObjectNotFound:
                return
            except StoreError as exc:
                self.report.add(key, f"the bundle cannot be read: {exc.message}", self.first_snapshot(key))
                return
            size, sha256 = await asyncio.to_thread(_hash_file, local)
            self.report.bundles_read += 1
            self.report.bytes_read += size
            wrong = [
                (snap, entry)
                for snap, entry in self.entries.get(key)
                if (int(entry["size"]), str(entry["sha256"])) != (size, sha256)
                and not accepted(self.notes, key, size, sha256)
            ]
            if wrong:
                snap, entry = wrong[0]
                more = f" (as do {len(wrong) - 1} more snapshots)" if len(wrong) > 1 else ""
                self.report.add(
                    key,
                    f"the bundle's SHA-256 is {sha256} ({size} bytes) but the snapshot recorded "
                    f"{entry['sha256']} ({entry['size']} bytes){more}",
                    snap.key.key,
                )
            problems = await asyncio.to_thread(verify_bundle, local)
            for message in problems:
                self.report.add(key, message, self.first_snapshot(key))
            if not problems:
                manifest = await asyncio.to_thread(read_manifest, local)
                for message in _manifest_problems(key, manifest, self.entries.get(key)):
                    self.report.add(key, message, self.first_snapshot(key))
        finally:
            local.unlink(missing_ok=True)


def _sample(keys: list[str], percent: float, seed: int | None) -> list[str]:
    if percent >= 100:
        return keys
    count = min(len(keys), math.ceil(len(keys) * percent / 100))
    return sorted(random.Random(seed).sample(keys, count))


async def _bounded(limit: int, jobs: Iterable[Callable[[], Awaitable[None]]]) -> None:
    """Run ``jobs`` with at most ``limit`` at once: ``limit`` workers, not a task per job."""
    pending = iter(jobs)

    async def worker() -> None:
        for job in pending:
            await job()

    async with asyncio.TaskGroup() as tg:
        for _ in range(max(1, limit)):
            tg.create_task(worker())


async def verify_store(
    store: Store, options: VerifyOptions | None = None, *, repairer: Repairer | None = None
) -> VerifyReport:
    """Check the archive in ``store``; the report lists every problem found (none: it is sound).

    With a ``repairer`` (``verify --read-data --repair``), every bundle the data check finds
    damaged is handed to it, and read again if it says it repaired it; the report lists each
    outcome in ``repairs``, and a repaired bundle's problems are dropped once it verifies.
    """
    options = options or VerifyOptions()
    clock = time.monotonic()
    report = VerifyReport(
        store=store.url, started_at=datetime.now(UTC), read_data_percent=options.read_data_percent
    )
    catalog = await load_catalog(store, account=options.account, region=options.region)
    with work_directory("verify", options.work_dir) as tmp:
        verifier = _Verifier(store, options, report, Path(tmp), repairer)
        verifier.notes, note_problems = await load_notes(store)
        for key, message in note_problems:
            report.add(key, message)
        keys = await verifier.structure(catalog)
        images = await verify_images(  # archived container images (backup --images copy)
            store,
            [(s.key.key, s.doc) for s in catalog.snapshots],
            read_percent=options.read_data_percent,
            seed=options.seed,
        )
        for key, message, snapshot in images.problems:
            report.add(key, message, snapshot)
        report.images = images.as_dict()
        sampled = (
            set(_sample(keys, options.read_data_percent, options.seed))
            if options.read_data_percent
            else set()
        )
        heads = [k for k in keys if k not in sampled]
        await _bounded(
            options.manifest_concurrency,
            (partial(verifier.manifest, k, catalog.bundles[k].size) for k in heads),
        )
        await _bounded(options.concurrency, (partial(verifier.read_and_repair, k) for k in sorted(sampled)))
    report.finished_at = datetime.now(UTC)
    report.duration = time.monotonic() - clock
    report.problems.sort(key=lambda p: (p.key, p.message))
    return report
