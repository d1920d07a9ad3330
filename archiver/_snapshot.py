"""Snapshots: the record of an account's state at the end of a backup run.

A snapshot lists every bundle that made up one account and region's state when the run finished
(unchanged bundles included), what was skipped and why, and what failed. It is written last, after
every bundle it names is durably in the store, and never overwritten, so a snapshot that exists is
always complete and always points at bundles that exist (see ``docs/format.md``). A run that is
interrupted writes none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import _layout, _schema
from ._catalog import SNAPSHOT_LIMIT, parse_snapshot
from ._errors import ObjectExists
from ._jsonutil import pretty_json, rfc3339
from ._version import __version__
from .store import Store
from .store._small import get_small

__all__ = [
    "SNAPSHOT_FORMAT_VERSION",
    "AccountState",
    "account_state",
    "latest_snapshot",
    "list_snapshot_keys",
    "load_snapshot",
    "new_snapshot",
    "write_snapshot",
]

SNAPSHOT_FORMAT_VERSION = 2  # 2: entries record what a listing can confirm; ``sweep`` (1 still reads)


def new_snapshot(
    *,
    snapshot_id: str,
    run_id: str,
    started_at: datetime,
    finished_at: datetime,
    partition: str,
    account: str,
    region: str,
    complete: bool,
    filters: Mapping[str, Any],
    bundles: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    quarantined: list[dict[str, Any]],
    stats: Mapping[str, int],
    sweep: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a snapshot document (format version 2); validated before it is written."""
    doc: dict[str, Any] = {
        "format": "omics-archiver-snapshot",
        "formatVersion": SNAPSHOT_FORMAT_VERSION,
        "toolVersion": __version__,
        "id": snapshot_id,
        "runId": run_id,
        "startedAt": rfc3339(started_at),
        "finishedAt": rfc3339(finished_at),
        "partition": partition,
        "account": account,
        "region": region,
        "complete": complete,
        "filters": dict(filters),
        "bundles": sorted(bundles, key=lambda b: str(b["key"])),
        "skipped": skipped,
        "failed": failed,
        "quarantined": quarantined,
        "stats": dict(stats),
    }
    if sweep is not None:
        doc["sweep"] = dict(sweep)
    return doc


async def write_snapshot(store: Store, doc: Mapping[str, Any]) -> str:
    """Validate and write ``doc`` under its key; never replaces an existing snapshot."""
    _schema.check("snapshot", doc)
    key = _layout.snapshot_key(doc["partition"], doc["account"], doc["region"], doc["id"])
    if not await store.put_bytes(key, pretty_json(doc), if_absent=True):
        raise ObjectExists(f"a snapshot already exists under {key}", key=key)
    return key


async def load_snapshot(store: Store, key: str) -> dict[str, Any]:
    """Read and validate one snapshot (at most ``SNAPSHOT_LIMIT`` bytes, nested at most
    ``MAX_DEPTH``). Raises BundleError if it does not parse or validate, StoreError if too large."""
    return parse_snapshot(key, await get_small(store, key, SNAPSHOT_LIMIT, what="snapshot"))


async def list_snapshot_keys(
    store: Store, *, partition: str | None = None, account: str | None = None, region: str | None = None
) -> list[str]:
    """Snapshot keys in time order, optionally for one partition/account/region."""
    prefix = "snapshots/"
    for part in (partition, account, region):
        if part is None:
            break
        prefix += part + "/"
    return [info.key for info in [i async for i in store.list(prefix)] if info.key.endswith(".json")]


async def latest_snapshot(
    store: Store, *, partition: str, account: str, region: str
) -> dict[str, Any] | None:
    """The newest snapshot of one account and region, or ``None``."""
    keys = await list_snapshot_keys(store, partition=partition, account=account, region=region)
    if not keys:
        return None
    return await load_snapshot(store, keys[-1])


@dataclass(frozen=True, kw_only=True)
class AccountState:
    """What the archive knows an account and region holds, as a backup must see it.

    ``complete`` is the newest snapshot that covered the whole account (no filters), or ``None``;
    ``bundles`` are its entries with every newer filtered snapshot laid over them workflow by
    workflow (a filtered run refreshes the workflows it covered and says nothing about the
    others); ``workflows`` maps every workflow id the account held at that point to its name.
    Never from a filtered snapshot alone: one that covers one workflow would make every other look
    gone, lose their carried-forward bundles and let a prune delete their only copies.
    """

    complete: Mapping[str, Any] | None = None
    bundles: tuple[Mapping[str, Any], ...] = ()
    workflows: Mapping[str, str] = field(default_factory=dict)
    night: int = 0  # the next run's number for the rotating sweep (``archiver.incremental``)


async def account_state(store: Store, *, partition: str, account: str, region: str) -> AccountState:
    """The :class:`AccountState` of one account and region (empty when nothing is archived)."""
    keys = await list_snapshot_keys(store, partition=partition, account=account, region=region)
    docs: list[dict[str, Any]] = []
    for key in reversed(keys):
        doc = await load_snapshot(store, key)
        docs.insert(0, doc)
        if doc.get("complete"):
            break
    complete = docs[0] if docs and docs[0].get("complete") else None
    entries: dict[tuple[str, str, str | None], Mapping[str, Any]] = {}
    workflows: dict[str, str] = {}
    night = 0
    for doc in docs:
        sweep = doc.get("sweep")
        if isinstance(sweep, Mapping):
            night = max(night, int(sweep["night"]) + 1)
        failed = {str(f.get("workflowId")) for f in doc.get("failed", [])}
        refreshed = {
            str(b["workflowId"])
            for b in doc["bundles"]
            if b["kind"] == "workflow" and str(b["workflowId"]) not in failed
        }
        entries = {k: e for k, e in entries.items() if k[0] not in refreshed}
        for b in doc["bundles"]:
            entries[(str(b["workflowId"]), str(b["kind"]), b.get("versionName"))] = b
            if b["kind"] == "workflow" or str(b["workflowId"]) not in workflows:
                workflows[str(b["workflowId"])] = str(b.get("name", ""))
        if doc is complete:
            for f in doc.get("failed", []) + doc.get("quarantined", []):
                if f.get("workflowId") is not None:
                    workflows.setdefault(str(f["workflowId"]), str(f.get("name") or ""))
    return AccountState(
        complete=complete,
        bundles=tuple(sorted(entries.values(), key=lambda e: str(e["key"]))),
        workflows=workflows,
        night=night,
    )
