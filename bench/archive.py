"""Generate a year-old archive directly in the store format, for the browsing and memory benchmarks.

Why: 365 nightly backups of 4,000 items would take hours through the emulator. The archive they
leave is simple to write directly: real bundles (``archiver._bundle.write_bundle``, so ``verify``
and ``show`` read them like any other) under their keys, and one snapshot per night listing every
item's current bundle, in the file store's format (one file per object at ``<root>/<key>``; the
file store's fsync-and-rename discipline is skipped: this is a fixture). Each night a few items
change (a new description, so a new state and a new bundle), as they do in a real account, and the
others are carried over as an incremental run records them (snapshot format 2: ``confirmedBy``
``list`` with a growing ``listedRuns``, or ``get`` when the rotating sweep of ``--full-every 7``
reads them), so entries differ night to night as they do in a real archive.

``python -m bench.archive DIR --workflows 2000 --versions 1 --nights 365`` writes one by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import uuid as uuidlib
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archiver._bundle import BundleSource, write_bundle
from archiver._jsonutil import pretty_json
from archiver._layout import bundle_key, readme_sha256, sanitize_metadata, snapshot_key, state_id
from archiver._snapshot import new_snapshot

__all__ = ["Generated", "write_archive"]

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"
START = datetime(2025, 12, 1, 2, 0, tzinfo=UTC)
FULL_EVERY = 7


@dataclass(frozen=True)
class Generated:
    items: int
    nights: int
    bundles: int
    snapshot_bytes: int
    bundle_bytes: int


def _definition() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("main.wdl", "version 1.0\nworkflow main {}\n")
    return buf.getvalue()


@dataclass
class _Item:
    workflow_id: str
    workflow_uuid: str
    uuid: str
    name: str
    version: str | None
    digest: str
    revision: int = 0
    entry: dict[str, Any] | None = None
    listed_runs: int = 0


def _response(item: _Item, created: datetime) -> dict[str, Any]:
    common: dict[str, Any] = {
        "uuid": item.uuid,
        "status": "ACTIVE",
        "type": "PRIVATE",
        "description": f"{item.name} revision {item.revision}",
        "engine": "WDL",
        "main": "main.wdl",
        "digest": item.digest,
        "parameterTemplate": {"input": {"description": "an input", "optional": False}},
        "storageType": "DYNAMIC",
        "creationTime": created,
        "tags": {"team": "bench"},
    }
    arn = f"arn:aws:omics:{REGION}:{ACCOUNT}:workflow/{item.workflow_id}"
    if item.version is None:
        return {"arn": arn, "id": item.workflow_id, "name": item.name, **common}
    return {
        "arn": f"{arn}/version/{item.version}",
        "workflowId": item.workflow_id,
        "versionName": item.version,
        "workflowBucketOwnerId": ACCOUNT,
        **common,
    }


def _write(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _bundle(root: Path, item: _Item, definition: bytes, created: datetime) -> dict[str, Any]:
    meta = sanitize_metadata(_response(item, created))
    readme = f"# {item.name}\n\nrevision {item.revision}\n".encode()
    sid = state_id(meta, readme_sha256(readme))
    kind = "workflow" if item.version is None else "workflow-version"
    source = BundleSource(
        kind=kind,
        partition=PARTITION,
        account=ACCOUNT,
        region=REGION,
        arn=str(meta["arn"]),
        workflow_id=item.workflow_id,
        workflow_uuid=item.workflow_uuid,
        version_name=item.version,
        uuid=item.uuid,
        digest=item.digest,
        creation_time=created,
        status="ACTIVE",
        name=item.name,
    )
    buf = io.BytesIO()
    info = write_bundle(buf, source=source, state_id=sid, metadata=meta, definition=definition, readme=readme)
    key = bundle_key(
        workflow_uuid=item.workflow_uuid,
        version_uuid=item.uuid if item.version is not None else None,
        digest=item.digest,
        state_id=sid,
    )
    data = buf.getvalue()
    _write(root, key, data)
    return {
        "key": key,
        "kind": kind,
        "workflowId": item.workflow_id,
        "workflowUuid": item.workflow_uuid,
        "uuid": item.uuid,
        "name": item.name,
        "versionName": item.version,
        "digest": item.digest,
        "stateId": sid,
        "size": len(data),
        "sha256": info.sha256,
        "new": True,
        "status": "ACTIVE",
        "creationTime": str(meta["creationTime"]),
        "description": str(meta.get("description", "")),
        "confirmedBy": "get",
        "listedRuns": 0,
    }


def write_archive(
    root: Path, *, workflows: int, versions: int, nights: int, changes_per_night: int, seed: int = 11
) -> Generated:
    """Write ``nights`` nightly snapshots of ``workflows x (1 + versions)`` items under ``root``."""
    rng = random.Random(seed)
    definition = _definition()
    created = START - timedelta(days=30)
    items: list[_Item] = []
    for w in range(workflows):
        wf_id = f"{1_000_000 + w}"
        wf_uuid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        name = f"pipeline-{w:05d}"
        digest = "sha256:" + f"{rng.getrandbits(256):064x}"
        items.append(_Item(wf_id, wf_uuid, wf_uuid, name, None, digest))
        for v in range(versions):
            v_uuid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
            v_digest = "sha256:" + f"{rng.getrandbits(256):064x}"
            items.append(_Item(wf_id, wf_uuid, v_uuid, name, f"v{v + 1}", v_digest))
    bundles = bundle_bytes = snapshot_bytes = 0
    for night in range(nights):
        when = START + timedelta(days=night)
        changed = range(len(items)) if night == 0 else rng.sample(range(len(items)), changes_per_night)
        written = 0
        new_keys: set[str] = set()
        for i in changed:
            item = items[i]
            item.revision += 1 if night else 0
            item.entry = _bundle(root, item, definition, created)
            new_keys.add(item.entry["key"])
            written += item.entry["size"]
        bundles += len(changed)
        bundle_bytes += written
        entries, by_listing = [], 0
        for it in items:
            assert it.entry is not None
            if it.entry["key"] in new_keys:
                it.listed_runs = 0
                entries.append(it.entry)
                continue
            h = int.from_bytes(hashlib.sha256(it.uuid.encode()).digest()[:8], "big")
            swept = it.listed_runs >= FULL_EVERY - 1 or (h + night) % FULL_EVERY == 0
            it.listed_runs = 0 if swept else it.listed_runs + 1
            by_listing += not swept
            entries.append(
                {
                    **it.entry,
                    "new": False,
                    "confirmedBy": "get" if swept else "list",
                    "listedRuns": it.listed_runs,
                }
            )
        snap_id = when.strftime("%Y%m%dT%H%M%S%fZ") + f"-{rng.getrandbits(32):08x}"
        doc = new_snapshot(
            snapshot_id=snap_id,
            run_id=str(uuidlib.UUID(int=rng.getrandbits(128), version=4)),
            started_at=when,
            finished_at=when + timedelta(minutes=7),
            partition=PARTITION,
            account=ACCOUNT,
            region=REGION,
            complete=True,
            filters={"workflowIds": [], "names": [], "tags": {}},
            bundles=entries,
            skipped=[],
            failed=[],
            quarantined=[],
            stats={
                "workflows": workflows,
                "versions": workflows * versions,
                "bundlesWritten": len(changed),
                "bytesWritten": written,
                "definitionBytesDownloaded": len(definition) * len(changed),
                "confirmedByListing": by_listing,
            },
        )
        doc["sweep"] = {"night": night, "fullEvery": FULL_EVERY, "full": False}
        data = pretty_json(doc)
        snapshot_bytes += len(data)
        _write(root, snapshot_key(PARTITION, ACCOUNT, REGION, snap_id), data)
    return Generated(len(items), nights, bundles, snapshot_bytes, bundle_bytes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="the file store's directory (created)")
    parser.add_argument("--workflows", type=int, default=2000, help="workflows (default 2000)")
    parser.add_argument("--versions", type=int, default=1, help="versions per workflow (default 1)")
    parser.add_argument("--nights", type=int, default=365, help="nightly snapshots (default 365)")
    parser.add_argument("--changes", type=int, default=20, help="items changed per night (default 20)")
    args = parser.parse_args(argv)
    got = write_archive(
        args.root,
        workflows=args.workflows,
        versions=args.versions,
        nights=args.nights,
        changes_per_night=args.changes,
    )
    print(json.dumps(got.__dict__))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
