"""What the archive report shows, as plain JSON-ready data built from a :class:`~archiver._catalog.Catalog`.

Why: auditors and people on call must be able to show that backups work without reading snapshots by
hand. This module decides *what* is shown (per target, the last complete backup and its age; the
nightly counts; what failed or vanished; each workflow's states over time); :mod:`._html` decides
how it looks, and ``omics-archiver report --json`` prints this data as it is.

Everything comes from snapshots that :func:`archiver._catalog.load_catalog` already parsed and
validated; what could not be read is carried along as ``problems``, never raised. Every list is
bounded (nights per target, workflows per grid), and what was cut is counted, so a store with years
of nightly snapshots still gives a page of a few hundred KiB. Vanished workflows are the ``skipped``
entries with reason ``vanished`` (see ``docs/format.md``); snapshots written before backups named
them simply have none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .._catalog import Catalog, SnapshotRecord
from .._jsonutil import parse_rfc3339, rfc3339

__all__ = ["CELL_STATES", "STALE_AFTER", "Limits", "build_overview"]

STALE_AFTER = timedelta(hours=26)
"""A target whose last complete backup is older than this is flagged (as the example alert rules do)."""

CELL_STATES = {
    "new": "a new state was archived",
    "same": "archived, unchanged",
    "failed": "the backup failed for it (or one of its versions)",
    "quarantined": "quarantined: its metadata failed validation",
    "vanished": "vanished: gone from the account since the previous complete backup",
    "absent": "not in this complete backup (deleted from the account, or not archived)",
    "not-covered": "not covered: this run was filtered",
}
"""Each workflow's state in one snapshot, in the order the legend shows them."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """How much of the history the report shows; what is cut is counted, not silently dropped."""

    nights: int = 60  # snapshots per target in the chart and counts table
    grid_columns: int = 20  # snapshots per target in the workflow states grid
    grid_rows: int = 500  # workflows per target in the grid
    listed: int = 200  # failed / vanished / quarantined entries shown per target


def build_overview(
    catalog: Catalog,
    *,
    store: str,
    now: datetime,
    limits: Limits | None = None,
    images: Mapping[str, Any] | None = None,
    records: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report's data: targets, nights, latest failures, workflow states, images, verify and drills.

    ``images`` is what :func:`archiver.report.read_images` found in the manifests, ``records`` the
    verify and drill records found in the store (:func:`archiver.report.find_records`); both are
    shown as "none recorded" when absent.
    """
    limits = limits or Limits()
    by_target: dict[tuple[str, str, str], list[SnapshotRecord]] = {}
    for snap in catalog.snapshots:
        by_target.setdefault(snap.group, []).append(snap)
    targets = [_target(group, snaps, now=now, limits=limits) for group, snaps in sorted(by_target.items())]
    verify = dict((records or {}).get("verify") or {"recorded": 0, "newest": None})
    drills = dict((records or {}).get("drills") or {"recorded": 0, "newest": None})
    images = dict(images or {"manifestsRead": 0, "manifestsUnread": 0, "targets": []})
    _attach(targets, verify, drills, images)
    return {
        "format": "omics-archiver-report",
        "generatedAt": rfc3339(now),
        "store": store,
        "staleAfterHours": STALE_AFTER.total_seconds() / 3600,
        "snapshots": len(catalog.snapshots),
        "bundles": len(catalog.bundles),
        "targets": targets,
        "verify": verify,
        "drills": drills,
        "images": images,
        "problems": [{"key": key, "problem": message} for key, message in catalog.problems],
        "cellStates": dict(CELL_STATES),
    }


def _attach(
    targets: list[dict[str, Any]],
    verify: Mapping[str, Any],
    drills: Mapping[str, Any],
    images: Mapping[str, Any],
) -> None:
    """Give each target its last verify, its newest drill and its image readiness (``None``: none)."""

    def group(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return (row.get("partition"), row.get("account"), row.get("region"))

    verified = {group(v): v for v in verify.get("perTarget") or []}
    readiness = {group(i): i for i in images.get("targets") or []}
    drilled: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for d in drills.get("perTarget") or []:
        drilled[(d.get("account"), d.get("region"))] = d
    for t in targets:
        t["lastVerify"] = verified.get(group(t))
        t["lastDrill"] = drilled.get((t["account"], t["region"]))
        t["images"] = readiness.get(group(t))


def _vanished(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The workflows the run found gone since the previous complete snapshot."""
    return [s for s in doc["skipped"] if s.get("reason") == "vanished"]


def _age(finished: str, now: datetime) -> float | None:
    try:
        return round((now - parse_rfc3339(finished)).total_seconds(), 3)
    except ValueError:
        return None


def _snapshot_summary(snap: SnapshotRecord, now: datetime) -> dict[str, Any]:
    d = snap.doc
    age = _age(d["finishedAt"], now)
    return {
        "key": snap.key.key,
        "id": d["id"],
        "finishedAt": d["finishedAt"],
        "ageSeconds": age,
        "stale": age is None or age > STALE_AFTER.total_seconds(),
        "complete": d["complete"],
        "failed": len(d["failed"]),
        "quarantined": len(d["quarantined"]),
        "toolVersion": d["toolVersion"],
    }


def _night(snap: SnapshotRecord) -> dict[str, Any]:
    d, s = snap.doc, snap.doc["stats"]
    return {
        "id": d["id"],
        "finishedAt": d["finishedAt"],
        "complete": d["complete"],
        "workflows": s["workflows"],
        "versions": s["versions"],
        "newBundles": s["bundlesWritten"],
        "failed": len(d["failed"]),
        "skipped": len(d["skipped"]) - len(_vanished(d)),
        "quarantined": len(d["quarantined"]),
        "vanished": len(_vanished(d)),
    }


def _label(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "workflowId": entry.get("workflowId"),
        "versionName": entry.get("versionName"),
        "name": entry.get("name"),
    }


def _latest_lists(recent: list[SnapshotRecord], limit: int) -> dict[str, Any]:
    """What failed or was quarantined in the newest of ``recent``, and what vanished in any of them.

    A vanished workflow is named once, by the run that noticed it, so the whole window is searched
    (newest first), each with the time it was noticed.
    """
    snap = recent[-1]
    d = snap.doc
    failed = [{**_label(f), "stage": f["stage"], "code": f["code"], "error": f["error"]} for f in d["failed"]]
    quarantined = [
        {**_label(q), "problem": q["problems"][0]["message"], "path": q["problems"][0]["path"]}
        for q in d["quarantined"]
    ]
    vanished = [
        {**_label(v), "noticedAt": s.doc["finishedAt"]} for s in reversed(recent) for v in _vanished(s.doc)
    ]
    return {
        "snapshot": snap.key.key,
        "failed": failed[:limit],
        "failedNotShown": max(0, len(failed) - limit),
        "quarantined": quarantined[:limit],
        "quarantinedNotShown": max(0, len(quarantined) - limit),
        "vanished": vanished[:limit],
        "vanishedNotShown": max(0, len(vanished) - limit),
    }


def _target(
    group: tuple[str, str, str], snaps: list[SnapshotRecord], *, now: datetime, limits: Limits
) -> dict[str, Any]:
    partition, account, region = group
    complete = [s for s in snaps if s.doc["complete"]]
    nights = snaps[-limits.nights :]
    return {
        "partition": partition,
        "account": account,
        "region": region,
        "snapshots": len(snaps),
        "lastComplete": _snapshot_summary(complete[-1], now) if complete else None,
        "lastSnapshot": _snapshot_summary(snaps[-1], now),
        "nights": [_night(s) for s in nights],
        "nightsNotShown": len(snaps) - len(nights),
        "latest": _latest_lists(snaps[-limits.grid_columns :], limits.listed),
        "grid": _grid(snaps[-limits.grid_columns :], limits.grid_rows),
        "gridColumnsNotShown": max(0, len(snaps) - limits.grid_columns),
    }


def _ids(entries: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(e["workflowId"]) for e in entries if e.get("workflowId") is not None}


def _grid(snaps: list[SnapshotRecord], max_rows: int) -> dict[str, Any]:
    """Each workflow's state in each of ``snaps`` (oldest first): rows by workflow uuid.

    Failed and quarantined entries carry a workflow id, not a uuid: they are matched to the workflow
    that had that id in the snapshots shown (ids are not reused while a workflow exists), and get a
    row of their own when no archived workflow had it.
    """
    rows: dict[str, dict[str, Any]] = {}
    uuid_of_id: dict[str, str] = {}
    for snap in snaps:
        for entry in snap.entries():
            if entry["kind"] != "workflow":
                continue
            uuid = str(entry["workflowUuid"]).lower()
            uuid_of_id[str(entry["workflowId"])] = uuid
            row = rows.setdefault(uuid, {"uuid": uuid, "workflowId": str(entry["workflowId"])})
            row["name"] = entry["name"]  # the newest name wins
    for snap in snaps:
        d = snap.doc
        for entry in [*d["failed"], *d["quarantined"], *_vanished(d)]:
            wf_id = entry.get("workflowId")
            if wf_id is not None and str(wf_id) not in uuid_of_id:
                key = f"id:{wf_id}"
                uuid_of_id[str(wf_id)] = key
                rows.setdefault(key, {"uuid": None, "workflowId": str(wf_id), "name": entry.get("name")})
    cells: dict[str, list[str]] = {key: [] for key in rows}
    for snap in snaps:
        d = snap.doc
        present: dict[str, bool] = {}
        for entry in d["bundles"]:
            uuid = str(entry["workflowUuid"]).lower()
            present[uuid] = present.get(uuid, False) or bool(entry["new"])
        failed = {uuid_of_id.get(i) for i in _ids(d["failed"])}
        quarantined = {uuid_of_id.get(i) for i in _ids(d["quarantined"])}
        vanished = {uuid_of_id.get(i) for i in _ids(_vanished(d))}
        for key in rows:
            if key in failed:
                state = "failed"
            elif key in quarantined:
                state = "quarantined"
            elif key in vanished:
                state = "vanished"
            elif key in present:
                state = "new" if present[key] else "same"
            else:
                state = "absent" if d["complete"] else "not-covered"
            cells[key].append(state)
    ordered = sorted(rows.values(), key=lambda r: (str(r.get("name") or ""), r["workflowId"]))
    shown = ordered[:max_rows]
    return {
        "columns": [
            {"id": s.doc["id"], "finishedAt": s.doc["finishedAt"], "complete": s.doc["complete"]}
            for s in snaps
        ],
        "rows": [{**r, "states": cells[r["uuid"] or f"id:{r['workflowId']}"]} for r in shown],
        "rowsNotShown": len(ordered) - len(shown),
    }
