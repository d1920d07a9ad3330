"""``prune``: keep the archive to a size by a retention policy, as restic's ``forget --prune`` does.

Why: a nightly job adds a snapshot a day and a bundle per changed state; without retention the
archive only grows. The policy (``keep-last``, ``-hourly``, ``-daily``, ``-weekly``, ``-monthly``,
``-yearly``, ``-within``) is applied as restic applies it, to each *series* of snapshots on its own:
one series per partition, account, region and run filters (a filtered run lists only some
workflows, so it must never stand in for a complete one).

Order, so that no snapshot ever points at a missing bundle (restic's "delete in reverse order of
writing"): first the forgotten snapshots are deleted; then the snapshots are listed again and every
bundle that no remaining snapshot references, in any series, is deleted. A snapshot that S3 Object
Lock keeps is reported and keeps its bundles. A backup running at the same time is excluded by the
markers of :mod:`archiver._lock`. Quarantined exports are kept unless ``quarantine_within`` is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import _layout
from ._cache import Cache
from ._catalog import SNAPSHOT_LIMIT, SnapshotRecord, load_catalog, parse_snapshot
from ._errors import ObjectLocked, ObjectNotFound, StoreError, UsageError
from ._lock import LockTiming, prune_lock, remove_dead_locks
from .images import unreferenced_blobs
from .repair import notes_prefix
from .store import Store
from .store._small import get_small

__all__ = [
    "Duration",
    "PruneOptions",
    "PruneReport",
    "RetentionPolicy",
    "apply_policy",
    "parse_duration",
    "prune_store",
]

_DURATION = re.compile(r"^(?:(?P<y>[0-9]+)y)?(?:(?P<m>[0-9]+)m)?(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?$")


@dataclass(frozen=True)
class Duration:
    """A calendar duration as restic spells it: ``1y2m3d4h`` (years, months, days, hours)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def before(self, moment: datetime) -> datetime:
        """``moment`` minus this duration (months and years by the calendar, clamped to month end)."""
        total = moment.year * 12 + (moment.month - 1) - self.years * 12 - self.months
        year, month = divmod(total, 12)
        month += 1
        day = min(moment.day, _month_days(year, month))
        return moment.replace(year=year, month=month, day=day) - timedelta(days=self.days, hours=self.hours)

    def __str__(self) -> str:
        parts = [(self.years, "y"), (self.months, "mo"), (self.days, "d"), (self.hours, "h")]
        return "".join(f"{n}{u}" for n, u in parts if n) or "0h"


def _month_days(year: int, month: int) -> int:
    nxt = datetime(year + (month == 12), month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def parse_duration(text: str) -> Duration:
    """``30d``, ``12h``, ``1y2m`` ...; ``ValueError`` for anything else."""
    m = _DURATION.match(text.strip())
    if not text.strip() or not m:
        raise ValueError(
            f"invalid duration {text!r}: use a combination of Ny, Nm (months), Nd, Nh, e.g. 1y2m or 30d"
        )
    return Duration(*(int(m.group(g) or 0) for g in ("y", "m", "d", "h")))


@dataclass(frozen=True, kw_only=True)
class RetentionPolicy:
    """How many snapshots to keep per series; a snapshot is kept if any rule keeps it."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.last
            or self.hourly
            or self.daily
            or self.weekly
            or self.monthly
            or self.yearly
            or self.within
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "keepLast": self.last,
            "keepHourly": self.hourly,
            "keepDaily": self.daily,
            "keepWeekly": self.weekly,
            "keepMonthly": self.monthly,
            "keepYearly": self.yearly,
            "keepWithin": str(self.within) if self.within else None,
        }


_BUCKETS: list[tuple[str, Callable[[datetime, int], object]]] = [
    ("last", lambda t, i: i),
    ("hourly", lambda t, i: (t.year, t.month, t.day, t.hour)),
    ("daily", lambda t, i: (t.year, t.month, t.day)),
    ("weekly", lambda t, i: t.isocalendar()[:2]),
    ("monthly", lambda t, i: (t.year, t.month)),
    ("yearly", lambda t, i: t.year),
]


def apply_policy(
    snapshots: Iterable[SnapshotRecord], policy: RetentionPolicy
) -> tuple[list[tuple[SnapshotRecord, list[str]]], list[SnapshotRecord]]:
    """Split one series into (kept with the reasons, forgotten), newest first, as restic does.

    Walking from the newest snapshot, each ``keep-<bucket> N`` rule keeps a snapshot whose bucket
    (hour, day, ISO week, month, year; ``last``: every snapshot) differs from the previous one it
    kept, N times. ``within D`` keeps every snapshot taken no more than D before the newest one.
    """
    ordered = sorted(snapshots, key=lambda s: s.key.snapshot_id, reverse=True)
    if policy.empty:
        raise UsageError(
            "no retention policy given: nothing would be kept (give at least one --keep-* option)"
        )
    counts = {name: getattr(policy, name) for name, _ in _BUCKETS}
    last_value: dict[str, object] = {}
    cutoff = policy.within.before(ordered[0].time) if ordered and policy.within else None
    keep: list[tuple[SnapshotRecord, list[str]]] = []
    forget: list[SnapshotRecord] = []
    for index, snap in enumerate(ordered):
        reasons = []
        when = snap.time.astimezone(UTC)
        for name, bucket in _BUCKETS:
            if counts[name] <= 0:
                continue
            value = bucket(when, index)
            if name not in last_value or last_value[name] != value:
                last_value[name] = value
                counts[name] -= 1
                reasons.append(name)
        if cutoff is not None and snap.time >= cutoff:
            reasons.append(f"within {policy.within}")
        (keep.append((snap, reasons)) if reasons else forget.append(snap))
    return keep, forget


@dataclass(frozen=True, kw_only=True)
class PruneOptions:
    policy: RetentionPolicy
    dry_run: bool = False
    account: str | None = None
    region: str | None = None
    quarantine_within: Duration | None = None
    lock_wait: float = 0.0
    timing: LockTiming = field(default_factory=LockTiming)


@dataclass(kw_only=True)
class PruneReport:
    dry_run: bool
    policy: dict[str, Any]
    kept: list[dict[str, Any]] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    bundles_kept: int = 0
    bundles_deleted: list[str] = field(default_factory=list)
    bytes_deleted: int = 0
    locked: list[dict[str, str]] = field(default_factory=list)
    quarantine_deleted: list[str] = field(default_factory=list)
    locks_removed: list[str] = field(default_factory=list)
    image_blobs_deleted: list[str] = field(default_factory=list)
    image_bytes_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "policy": self.policy,
            "kept": self.kept,
            "forgotten": self.forgotten,
            "bundlesKept": self.bundles_kept,
            "bundlesDeleted": self.bundles_deleted,
            "bytesDeleted": self.bytes_deleted,
            "locked": self.locked,
            "quarantineDeleted": self.quarantine_deleted,
            "locksRemoved": self.locks_removed,
            "imageBlobsDeleted": self.image_blobs_deleted,
            "imageBytesDeleted": self.image_bytes_deleted,
        }


def _series(snapshots: Iterable[SnapshotRecord]) -> dict[tuple[str, str, str, bytes], list[SnapshotRecord]]:
    groups: dict[tuple[str, str, str, bytes], list[SnapshotRecord]] = {}
    for snap in snapshots:
        groups.setdefault((*snap.group, snap.filters), []).append(snap)
    return groups


async def _delete(store: Store, key: str, report: PruneReport) -> bool:
    try:
        await store.delete(key)
    except ObjectLocked as exc:
        report.locked.append({"key": key, "reason": exc.message})
        return False
    return True


async def _remaining_references(
    store: Store, known: dict[str, SnapshotRecord], docs: list[tuple[str, Any]] | None = None
) -> set[str]:
    """Bundle keys referenced by every snapshot in the store now (listed afresh, loaded if new);
    each snapshot's ``(key, document)`` is appended to ``docs`` when given."""
    referenced: set[str] = set()
    seen: set[object] = set()
    async for info in store.list("snapshots/"):
        snap = known.get(info.key)
        if snap is None:
            try:
                doc = parse_snapshot(
                    info.key, await get_small(store, info.key, SNAPSHOT_LIMIT, what="snapshot")
                )
            except ObjectNotFound:
                continue
            snap = SnapshotRecord(_layout.parse_snapshot_key(info.key), doc)
        referenced.update(str(e["key"]) for e in _distinct_entries(snap, seen))
        if docs is not None:
            docs.append((info.key, snap.doc))
    return referenced


def _distinct_entries(snap: SnapshotRecord, seen: set[object]) -> Iterable[Mapping[str, Any]]:
    """The entries of ``snap`` unless a snapshot in ``seen`` listed the very same ones (then none)."""
    if snap.listing in seen:
        return ()
    seen.add(snap.listing)
    return snap.entries()


async def _prune_quarantine(store: Store, options: PruneOptions, report: PruneReport, now: datetime) -> None:
    assert options.quarantine_within is not None
    cutoff = options.quarantine_within.before(now)
    async for info in store.list("quarantine/"):
        parts = info.key.split("/")
        if len(parts) < 5:
            continue
        if (options.account and parts[1] != options.account) or (
            options.region and parts[2] != options.region
        ):
            continue
        try:
            when = _layout.snapshot_time(parts[3])
        except ValueError:
            continue
        if when < cutoff and (options.dry_run or await _delete(store, info.key, report)):
            report.quarantine_deleted.append(info.key)


async def _plan_and_delete(
    store: Store, options: PruneOptions, report: PruneReport, now: datetime, cache: Cache | None
) -> None:
    catalog = await load_catalog(store, cache)
    if catalog.problems:
        first = catalog.problems[0]
        raise StoreError(
            f"the store has {len(catalog.problems)} unreadable object(s), e.g. {first[0]}: {first[1]}; "
            "prune refuses to decide what is referenced (run verify)"
        )
    forget: list[SnapshotRecord] = []
    for (_part, account, region, _filters), series in sorted(_series(catalog.snapshots).items()):
        if (options.account and account != options.account) or (options.region and region != options.region):
            continue
        keep, gone = apply_policy(series, options.policy)
        report.kept += [{"key": s.key.key, "time": s.doc["finishedAt"], "reasons": r} for s, r in keep]
        forget += gone
    # 1. forget snapshots (newest first does not matter: each is independent)
    still: dict[str, SnapshotRecord] = {s.key.key: s for s in catalog.snapshots}
    for snap in forget:
        if options.dry_run or await _delete(store, snap.key.key, report):
            report.forgotten.append(snap.key.key)
            still.pop(snap.key.key, None)
    # 2. then bundles no remaining snapshot references
    docs: list[tuple[str, Any]] = []
    if options.dry_run:
        seen: set[object] = set()
        referenced = {str(e["key"]) for s in still.values() for e in _distinct_entries(s, seen)}
        docs = [(k, s.doc) for k, s in still.items()]
    else:
        referenced = await _remaining_references(store, still, docs)
    for key, info in sorted(catalog.bundles.items()):
        if key in referenced:
            report.bundles_kept += 1
            continue
        if options.dry_run or await _delete(store, key, report):
            report.bundles_deleted.append(key)
            report.bytes_deleted += info.size
            if not options.dry_run:  # after the bundle: a note only widens what the bundle may hold
                async for note in store.list(notes_prefix(key)):
                    await _delete(store, note.key, report)
        else:
            report.bundles_kept += 1
    # 3. then archived image blobs no remaining snapshot reaches (backup --images copy)
    for info in await unreferenced_blobs(store, docs):
        if options.dry_run or await _delete(store, info.key, report):
            report.image_blobs_deleted.append(info.key)
            report.image_bytes_deleted += info.size
    if options.quarantine_within is not None:
        await _prune_quarantine(store, options, report, now)


async def prune_store(
    store: Store, options: PruneOptions, *, now: datetime | None = None, cache: Cache | None = None
) -> PruneReport:
    """Apply ``options.policy`` to every series; delete forgotten snapshots, then unreferenced bundles.

    A dry run takes no lock and deletes nothing. Otherwise the prune marker is held throughout;
    raises :class:`~archiver.StoreError` if a backup is running (after ``options.lock_wait`` seconds).
    ``cache``: the local cache whose snapshot index answers for snapshots read before.
    """
    if options.policy.empty:
        raise UsageError(
            "no retention policy given: nothing would be kept (give at least one --keep-* option)"
        )
    now = now or datetime.now(UTC)
    report = PruneReport(dry_run=options.dry_run, policy=options.policy.as_dict())
    if options.dry_run:
        await _plan_and_delete(store, options, report, now, cache)
        return report
    async with prune_lock(store, timing=options.timing, wait=options.lock_wait):
        await _plan_and_delete(store, options, report, now, cache)
        report.locks_removed = await remove_dead_locks(store, timing=options.timing)
    return report
