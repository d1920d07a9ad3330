"""Browsing an archive: its snapshots, its workflows, one bundle, and the selectors that name a bundle.

Why: people on call need to see what the archive holds without unpacking it by hand. Everything here
is read-only and built from two store reads: the listing of ``bundles/`` and the snapshot documents
(which the optional :class:`~archiver._cache.Cache` keeps locally, since snapshots never change).
The commands ``list``, ``snapshots`` and ``show`` and the ``diff`` selectors are built on it.

Selectors name one bundle (documented in ``docs/format.md`` and ``omics-archiver show --help``)::

    bundles/<uuid>/.../<state>.tar.zst   that bundle
    <uuid>                               the newest state of the workflow or version with that uuid
    <uuid>@<state-id prefix>             one state of it (at least 4 hex digits, must be unique)
    <workflow-id>                        the newest state of the workflow with that id
    <workflow-id>:<version-name>         the newest state of that version

"Newest" means: in the newest snapshot that lists it; a bundle no snapshot lists is found only by its
key or by ``<uuid>@<state>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import re
import secrets
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import _layout, _schema
from ._bundle import BundleContents, read_bundle
from ._cache import Cache
from ._errors import BundleError, ObjectNotFound, StoreError, UsageError
from ._jsonutil import canonical_json, load_json_object
from ._workdir import work_directory
from .index import IndexDamaged, SnapshotIndex, VolatileCheck, light_ok, stable_ok
from .store import ObjectInfo, Store
from .store._small import get_small, too_large

__all__ = [
    "SNAPSHOT_LIMIT",
    "Catalog",
    "SnapshotRecord",
    "fetch_bundle",
    "load_catalog",
    "parse_snapshot",
    "show_bundle",
    "snapshot_rows",
    "workflow_rows",
]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_UUID_STATE = re.compile(r"^(?P<uuid>[0-9a-fA-F-]{36})@(?P<state>[0-9a-f]{4,32})$")
_WORKFLOW = re.compile(r"^(?P<id>[0-9]{1,18})(?::(?P<version>[A-Za-z0-9][A-Za-z0-9._-]{0,63}))?$")
_LOAD_CONCURRENCY = 8
_READ_AHEAD = 8 << 20
"""Snapshot bytes read ahead of the one being indexed (a first index build holds about this much)."""
SNAPSHOT_LIMIT = 64 << 20
"""The largest snapshot any reader accepts: 64 MiB is ~100,000 bundle entries (an account at
HealthOmics' quotas holds far fewer). Larger objects under ``snapshots/`` are refused unread."""
_SUMMARY_NAMESPACE = "bundle-summaries"
_SNAPSHOT_NAMESPACE = "snapshots"  # before the index: whole snapshots; emptied on sight
_VALID_NAMESPACE = "snapshots-valid"
_INDEX_NAMESPACE = "index"
_INDEX_KEY = "snapshots.sqlite"
_OLD_INDEX_KEY = "snapshots.idx"


class SnapshotRecord:
    """One snapshot: its parsed key and its validated document.

    A record from :func:`load_catalog` reads its ``bundles`` from the snapshot index on each access
    of ``doc["bundles"]`` (the rest of ``doc`` is at hand); :meth:`entries` gives the entries' stable
    parts (no ``confirmedBy``, ``listedRuns``) shared with every snapshot listing the same
    entries, which is what browsing needs. Treat both as read-only.
    """

    __slots__ = ("_count", "_entries", "_index", "_list", "doc", "key")

    def __init__(
        self,
        key: _layout.SnapshotKey,
        doc: Mapping[str, Any],
        *,
        index: SnapshotIndex | None = None,
        list_id: int | None = None,
        count: int | None = None,
    ) -> None:
        self.key = key
        self.doc = doc
        self._index = index
        self._list = list_id
        self._count = count

    @property
    def time(self) -> datetime:
        return self.key.time

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.key.partition, self.key.account, self.key.region)

    @property
    def filters(self) -> bytes:
        """The run's filters, canonical: differently filtered runs are different series."""
        return canonical_json(self.doc.get("filters", {}))

    @property
    def listing(self) -> object:
        """Equal for two snapshots of one catalog that list the very same stable entries."""
        return ("list", self._list) if self._list is not None else id(self.doc["bundles"])

    def entry_count(self) -> int:
        return self._count if self._count is not None else len(self.doc["bundles"])

    def entries(self) -> Sequence[Mapping[str, Any]]:
        """The entries' stable parts (see the class docstring)."""
        if self._index is not None and self._list is not None:
            return self._index.stable_entries(self._list)
        bundles: Sequence[Mapping[str, Any]] = self.doc["bundles"]
        return bundles

    def entry_ids(self) -> Sequence[int] | None:
        """The index's ids of :meth:`entries` (``None`` for a record not from the index)."""
        if self._index is not None and self._list is not None:
            return self._index.entry_ids(self._list)
        return None

    def __repr__(self) -> str:
        return f"SnapshotRecord({self.key.key!r})"


class _IndexedDoc(Mapping[str, Any]):
    """A snapshot document whose ``bundles`` are read from the index when asked for."""

    __slots__ = ("_index", "_key", "_light")

    def __init__(self, light: dict[str, Any], index: SnapshotIndex, key: str) -> None:
        self._light, self._index, self._key = light, index, key

    def __getitem__(self, name: str) -> Any:
        if name == "bundles":
            bundles = self._index.bundles(self._key)
            if bundles is None:
                raise StoreError(f"snapshot {self._key} left the local index while in use; run again")
            return bundles
        return self._light[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._light
        yield "bundles"

    def __len__(self) -> int:
        return len(self._light) + 1


@dataclass
class Catalog:
    """What a store holds: snapshots (oldest first), bundle objects by key, and unreadable snapshots."""

    snapshots: list[SnapshotRecord]
    bundles: dict[str, ObjectInfo]
    problems: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = True
    """False when a listing could not be completed: absence from it proves nothing."""
    index: SnapshotIndex | None = None

    def referenced(self) -> dict[str, list[SnapshotRecord]]:
        """Bundle key -> the snapshots that list it (every entry of every snapshot: prefer
        :meth:`listing` for one key)."""
        refs: dict[str, list[SnapshotRecord]] = {}
        for snap in self.snapshots:
            for entry in snap.entries():
                refs.setdefault(str(entry["key"]), []).append(snap)
        return refs

    def listing(self, key: str) -> list[SnapshotRecord]:
        """The snapshots that list the bundle ``key``, oldest first (each distinct entry list read once)."""
        targets = self.index.ids_of_key(key) if self.index is not None else None
        verdict: dict[object, bool] = {}
        out = []
        for snap in self.snapshots:
            same = snap.listing
            hit = verdict.get(same)
            if hit is None:
                ids = snap.entry_ids()
                if ids is not None and targets is not None:
                    hit = any(t in ids for t in targets)
                else:
                    hit = any(str(e["key"]) == key for e in snap.entries())
                verdict[same] = hit
            if hit:
                out.append(snap)
        return out

    def resolve(self, selector: str) -> str:
        """The bundle key a selector names (see the module docstring); UsageError if none or ambiguous."""
        sel = selector.strip()
        if sel.startswith("bundles/"):
            try:
                _layout.parse_bundle_key(sel)
            except ValueError:
                raise UsageError(f"{selector!r} is not a bundle key") from None
            if sel not in self.bundles:
                raise UsageError(f"no bundle {sel} in the store")
            return sel
        m = _UUID_STATE.match(sel)
        if m:
            uuid, prefix = m.group("uuid").lower(), m.group("state")
            hits = [
                k
                for k in self.bundles
                if _uuid_of(k) == uuid and _layout.parse_bundle_key(k).state_id.startswith(prefix)
            ]
            return _one(selector, hits)
        if _UUID.match(sel):
            return _one(selector, self._newest(lambda e: str(e["uuid"]).lower() == sel.lower()), newest=True)
        m = _WORKFLOW.match(sel)
        if m:
            wf_id, version = m.group("id"), m.group("version")
            return _one(
                selector,
                self._newest(lambda e: str(e["workflowId"]) == wf_id and e.get("versionName") == version),
                newest=True,
            )
        raise UsageError(
            f"cannot understand {selector!r}: give a bundle key, UUID, UUID@STATE, "
            "WORKFLOW_ID or WORKFLOW_ID:VERSION"
        )

    def _newest(self, match: Any) -> list[str]:
        """Keys matching, from the newest snapshot listing any (one per account/region series)."""
        found: dict[tuple[str, str, str], str] = {}
        done: set[tuple[tuple[str, str, str], object]] = set()
        for snap in reversed(self.snapshots):
            if snap.group in found or (snap.group, snap.listing) in done:
                continue
            done.add((snap.group, snap.listing))
            for entry in snap.entries():
                if match(entry) and str(entry["key"]) in self.bundles:
                    found[snap.group] = str(entry["key"])
                    break
        return sorted(set(found.values()))

    def states_of(self, uuid: str) -> list[dict[str, Any]]:
        """Every bundle of the workflow or version ``uuid``, with the snapshots that list it."""
        out = []
        for key, info in self.bundles.items():
            if _uuid_of(key) != uuid.lower():
                continue
            snaps = self.listing(key)
            out.append(
                {
                    "key": key,
                    "stateId": _layout.parse_bundle_key(key).state_id,
                    "size": info.size,
                    "snapshots": len(snaps),
                    "firstSeen": snaps[0].doc["finishedAt"] if snaps else None,
                    "lastSeen": snaps[-1].doc["finishedAt"] if snaps else None,
                }
            )
        return sorted(out, key=lambda s: (s["lastSeen"] or "", s["key"]))


def _uuid_of(key: str) -> str:
    parsed = _layout.parse_bundle_key(key)
    return (parsed.version_uuid or parsed.workflow_uuid).lower()


def _one(selector: str, hits: list[str], *, newest: bool = False) -> str:
    if not hits:
        raise UsageError(f"no bundle in the store matches {selector!r}")
    if len(hits) > 1:
        what = "accounts or regions" if newest else "bundles"
        listed = "\n  ".join(hits[:10])
        raise UsageError(f"{selector!r} matches bundles of several {what}; give a key:\n  {listed}")
    return hits[0]


def parse_snapshot(key: str, raw: bytes) -> dict[str, Any]:
    """Parse and validate a snapshot's bytes; :class:`BundleError` naming the key and the problem."""
    doc = _parse(key, raw)
    found = _schema.problems("snapshot", doc)
    if found:
        raise _invalid(key, found)
    _check_key(key, doc)
    return doc


def _parse(key: str, raw: bytes) -> dict[str, Any]:
    try:
        return load_json_object(raw, f"snapshot {key}")
    except ValueError as exc:
        raise BundleError(str(exc), key=key) from None


def _invalid(key: str, found: list[_schema.SchemaProblem]) -> BundleError:
    return BundleError(f"snapshot {key} is invalid at {found[0].path}: {found[0].message}", key=key)


def _check_key(key: str, doc: Mapping[str, Any]) -> None:
    parsed = _layout.parse_snapshot_key(key)
    if (doc["partition"], doc["account"], doc["region"], doc["id"]) != (
        parsed.partition,
        parsed.account,
        parsed.region,
        parsed.snapshot_id,
    ):
        raise BundleError(f"snapshot {key} names another account, region or id than its key", key=key)


def _index_snapshot(index: SnapshotIndex, key: str, raw: bytes, volatile_ok: VolatileCheck) -> None:
    """Validate a snapshot's bytes as :func:`parse_snapshot` does, piece by piece, and index it."""
    size, sha = len(raw), hashlib.sha256(raw).hexdigest()
    doc = _parse(key, raw)
    if light_ok(doc):
        _check_key(key, doc)
        if index.add(key, size, sha, doc, stable_ok=stable_ok, volatile_ok=volatile_ok):
            return
    found = _schema.problems("snapshot", doc)
    if found:
        raise _invalid(key, found)
    raise BundleError(f"snapshot {key} is invalid", key=key)  # pragma: no cover - the check is exact


class _Listing:
    """``store.list`` that records a listing it could not complete as a problem instead of raising."""

    def __init__(self, store: Store, problems: list[tuple[str, str]]) -> None:
        self.store, self.problems, self.complete = store, problems, True

    async def each(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        try:
            async for info in self.store.list(prefix):
                yield info
        except StoreError as exc:
            self.complete = False
            self.problems.append((exc.key or prefix, exc.message))


@functools.cache
def _schema_fingerprint() -> str:
    return hashlib.sha256(canonical_json(_schema.schema("snapshot"))).hexdigest()


def open_index(cache: Cache) -> SnapshotIndex:
    """The snapshot index kept in ``cache`` (a private temporary one without); a damaged one is deleted and
    started afresh, and one that cannot be written is replaced by a private temporary one."""
    cache.discard(_INDEX_NAMESPACE, _OLD_INDEX_KEY)  # the index before SQLite
    path = cache.file(_INDEX_NAMESPACE, _INDEX_KEY)
    if path is not None:
        try:
            return SnapshotIndex.open(path, _schema_fingerprint())
        except IndexDamaged:
            SnapshotIndex.remove(path)
        with contextlib.suppress(IndexDamaged):
            return SnapshotIndex.open(path, _schema_fingerprint())
    return SnapshotIndex.open(None, _schema_fingerprint())


async def _fill(store: Store, index: SnapshotIndex, listed: list[ObjectInfo]) -> list[tuple[str, str]]:
    """Read, validate and index the snapshots of ``listed`` the index lacks; their problems.

    A stream, one snapshot indexed at a time: reads run ahead of the indexing only while the bytes
    read and not yet indexed stay within :data:`_READ_AHEAD` (always at least one read), so a first
    build over a year of nightly snapshots holds one parsed document and a few raw ones, however
    many snapshots there are (each snapshot's entries are inserted in one transaction).
    """
    rows = index.rows(i.key for i in listed)
    missing = deque(i for i in listed if i.key not in rows or rows[i.key].size != i.size)
    del rows
    volatile_ok = VolatileCheck()
    problems: list[tuple[str, str]] = []

    async def read(info: ObjectInfo) -> bytes | None:
        try:
            return await get_small(store, info.key, SNAPSHOT_LIMIT, what="snapshot")
        except ObjectNotFound:
            return None  # deleted (pruned) since it was listed
        except StoreError as exc:
            problems.append((info.key, exc.message))
            return None

    reading: deque[tuple[ObjectInfo, asyncio.Task[bytes | None]]] = deque()
    ahead = 0
    try:
        while missing or reading:
            while missing and (
                not reading or (len(reading) < _LOAD_CONCURRENCY and ahead + missing[0].size <= _READ_AHEAD)
            ):
                info = missing.popleft()
                reading.append((info, asyncio.ensure_future(read(info))))
                ahead += info.size
            info, task = reading.popleft()
            raw = await task
            del task
            ahead -= info.size
            if raw is None:
                continue
            try:
                _index_snapshot(index, info.key, raw, volatile_ok)
            except BundleError as exc:
                problems.append((info.key, exc.message))
    finally:
        for _, task in reading:
            task.cancel()
        if reading:
            await asyncio.gather(*(t for _, t in reading), return_exceptions=True)
    return problems


async def load_catalog(
    store: Store,
    cache: Cache | None = None,
    *,
    account: str | None = None,
    region: str | None = None,
    bundles: bool = True,
) -> Catalog:
    """List every snapshot and, with ``bundles``, every bundle; snapshots come from the index.

    Snapshots the index lacks are read, validated and indexed first. Snapshot keys that do not
    parse or validate, snapshots over :data:`SNAPSHOT_LIMIT` bytes, and a listing the store could
    not complete (a symlink in a file store) are reported in ``problems`` rather than raised, so one
    damaged object does not hide the rest of the archive. Anyone who decides from the catalog what
    to delete must refuse a catalog with problems.
    """
    cache = cache or Cache(None)
    listed: list[ObjectInfo] = []
    problems: list[tuple[str, str]] = []
    listing = _Listing(store, problems)
    async for info in listing.each("snapshots/"):
        try:
            parsed = _layout.parse_snapshot_key(info.key)
        except ValueError:
            problems.append((info.key, "not a snapshot key (unexpected object under snapshots/)"))
            continue
        if (account and parsed.account != account) or (region and parsed.region != region):
            continue
        if info.size > SNAPSHOT_LIMIT:
            problems.append((info.key, too_large(info.key, info.size, SNAPSHOT_LIMIT, "snapshot").message))
            continue
        listed.append(info)
    cache.retain(_SNAPSHOT_NAMESPACE, ())  # superseded by the index
    cache.retain(_VALID_NAMESPACE, ())
    index = open_index(cache)
    for attempt in (1, 2):
        try:
            if account is None and region is None and listing.complete:
                index.retain(i.key for i in listed)
            found = await _fill(store, index, listed)
            rows = index.rows(i.key for i in listed)
            break
        except (IndexDamaged, sqlite3.DatabaseError):
            index.close()
            path = cache.file(_INDEX_NAMESPACE, _INDEX_KEY)
            if path is not None:
                SnapshotIndex.remove(path)
            index = open_index(cache) if attempt == 1 else SnapshotIndex.open(None, _schema_fingerprint())
    problems += found
    records = [
        SnapshotRecord(
            _layout.parse_snapshot_key(row.key),
            _IndexedDoc(row.light, index, row.key),
            index=index,
            list_id=row.list_id,
            count=row.count,
        )
        for row in rows.values()
    ]
    records.sort(key=lambda r: (r.key.snapshot_id, r.key.key))
    objects: dict[str, ObjectInfo] = {}
    if bundles:
        async for info in listing.each("bundles/"):
            try:
                _layout.parse_bundle_key(info.key)
            except ValueError:
                problems.append((info.key, "not a bundle key (unexpected object under bundles/)"))
                continue
            objects[info.key] = info
        if listing.complete:
            cache.retain(_SUMMARY_NAMESPACE, objects)
    return Catalog(records, objects, problems, listing.complete, index)


def snapshot_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """One row per snapshot, grouped by account and region, oldest first."""
    rows = []
    for snap in sorted(catalog.snapshots, key=lambda s: (s.group, s.key.snapshot_id)):
        d = snap.doc
        rows.append(
            {
                "key": snap.key.key,
                "id": d["id"],
                "partition": d["partition"],
                "account": d["account"],
                "region": d["region"],
                "time": d["finishedAt"],
                "complete": d["complete"],
                "archived": snap.entry_count(),
                "new": d["stats"]["bundlesWritten"],
                "skipped": len(d["skipped"]),
                "failed": len(d["failed"]),
                "quarantined": len(d["quarantined"]),
                "bytesWritten": d["stats"]["bytesWritten"],
                "images": (d.get("images") or {}).get("archived"),  # None: images not copied
            }
        )
    return rows


def workflow_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """One row per workflow (by uuid): its newest state, versions, bundle count, last backup time.

    ``current`` says whether the newest complete snapshot of its account and region still lists it
    (``false``: deleted from HealthOmics since, or it failed in the last run).
    """
    latest_complete: dict[tuple[str, str, str], SnapshotRecord] = {}
    for snap in catalog.snapshots:
        if snap.doc["complete"]:
            latest_complete[snap.group] = snap
    current_uuids = {
        group: {str(e["workflowUuid"]) for e in snap.entries()} for group, snap in latest_complete.items()
    }
    seen: dict[str, dict[str, Any]] = {}
    done: set[tuple[tuple[str, str, str], object]] = set()
    known_ids: dict[tuple[str, str, str], set[int]] = {}
    for snap in reversed(catalog.snapshots):
        # Snapshots listing the very same entries add nothing new; nor does one whose entries all
        # appeared in a newer snapshot of its series (every workflow they name has its row).
        same = (snap.group, snap.listing)
        if same in done:
            continue
        done.add(same)
        ids = snap.entry_ids()
        if ids is not None and catalog.index is not None:
            # A workflow this snapshot would add a row for has a workflow entry no newer snapshot
            # of its series listed (else that one gave it its row): look only for those.
            known = known_ids.setdefault(snap.group, set())
            fresh = [i for i in ids if i not in known]
            known.update(fresh)
            wanted = {w for w, kind in catalog.index.kinds(fresh).values() if kind == "workflow"}
            wanted -= seen.keys()
            if not wanted:
                continue
        else:
            wanted = None
        by_wf: dict[str, list[Mapping[str, Any]]] = {}
        for entry in snap.entries():
            if wanted is None or str(entry["workflowUuid"]) in wanted:
                by_wf.setdefault(str(entry["workflowUuid"]), []).append(entry)
        for wf_uuid, entries in by_wf.items():
            if wf_uuid in seen:
                continue
            wf = next((e for e in entries if e["kind"] == "workflow"), None)
            if wf is None:
                continue
            versions = sorted(str(e["versionName"]) for e in entries if e["kind"] == "workflow-version")
            archived = {(i["image"], i["digest"]) for e in entries for i in e.get("images") or []}
            seen[wf_uuid] = {
                "account": snap.key.account,
                "region": snap.key.region,
                "workflowId": wf["workflowId"],
                "name": wf["name"],
                "uuid": wf_uuid,
                "digest": wf["digest"],
                "stateId": wf["stateId"],
                "key": wf["key"],
                "versions": versions,
                "bundles": 0,
                "images": len(archived) if any("images" in e for e in entries) else None,
                "lastBackup": snap.doc["finishedAt"],
                "snapshot": snap.key.key,
                "current": wf_uuid in current_uuids.get(snap.group, ()),
            }
    for key in catalog.bundles:
        row = seen.get(_layout.parse_bundle_key(key).workflow_uuid)
        if row is not None:
            row["bundles"] += 1
    return sorted(seen.values(), key=lambda r: (r["account"], r["region"], r["name"], r["workflowId"]))


async def fetch_bundle(
    store: Store, key: str, workdir: Path, *, definition_to: Path | None = None
) -> BundleContents:
    """Download the bundle ``key`` into ``workdir`` and read it (members checked on the way).

    Memory stays bounded: the bundle is streamed to a temporary file and read from there; the
    definition, if wanted, goes to ``definition_to``. The downloaded bundle is removed afterwards.
    """
    local = workdir / f"bundle-{secrets.token_hex(6)}.tar.zst"
    try:
        await store.download(key, local)
        try:
            return await asyncio.to_thread(read_bundle, local, definition_to=definition_to)
        except BundleError as exc:
            raise BundleError(f"bundle {key} is damaged: {exc.message}", key=key) from exc
    finally:
        local.unlink(missing_ok=True)


async def show_bundle(
    store: Store, catalog: Catalog, key: str, cache: Cache | None = None, *, work_dir: Path | None = None
) -> dict[str, Any]:
    """The manifest, metadata, parameter template and README of one bundle, and the states of its uuid."""
    cache = cache or Cache(None)
    summary: dict[str, Any] | None = None
    cached = cache.get(_SUMMARY_NAMESPACE, key)
    if cached is not None:
        try:
            summary = json.loads(cached)
        except ValueError:
            summary = None
    if not isinstance(summary, dict):
        with work_directory("show", work_dir) as tmp:
            contents = await fetch_bundle(store, key, Path(tmp))
        summary = {
            "manifest": contents.manifest,
            "metadata": contents.metadata,
            "parameterTemplate": contents.parameter_template,
            "readme": contents.readme.decode("utf-8", "replace") if contents.readme is not None else None,
        }
        cache.put(_SUMMARY_NAMESPACE, key, json.dumps(summary, sort_keys=True).encode("utf-8"))
    refs = catalog.listing(key)
    archived = {
        (i["image"], i["digest"])
        for s in {s.listing: s for s in refs}.values()
        for e in s.entries()
        if e["key"] == key
        for i in e.get("images") or []
    }
    return {
        "key": key,
        "size": catalog.bundles[key].size if key in catalog.bundles else None,
        **summary,
        "snapshots": [s.key.key for s in refs],
        "archivedImages": [{"image": i, "digest": d} for i, d in sorted(archived)],
        "states": catalog.states_of(_uuid_of(key)),
    }
