"""One verify run as a record in the store, and the newest records read back (bounded, validated).

A run checks the whole store, so there is one record per run, not per target; it says per target
(partition, account, region) how many snapshots and bundles it covered and how many problems it
found there, so the report can show each target's last verify. Problems and repairs are kept
whole up to :data:`_MAX_LISTED` each (the count is always exact), every text redacted
(:func:`archiver._errors.redact`) and cut to 1,000 characters: a record stays well under
:data:`RECORD_LIMIT`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import _layout
from .._errors import ObjectNotFound, StoreError, redact
from .._jsonutil import canonical_json, rfc3339
from .._schema import problems as schema_problems
from .._version import __version__
from ..store import Store
from ..store._small import get_small

if TYPE_CHECKING:
    from .._verify import VerifyReport

__all__ = ["PREFIX", "RECORD_LIMIT", "build_record", "read_latest", "record_key", "write_record"]

PREFIX = "verifications/"
RECORD_LIMIT = 4 * 1024 * 1024
FORMAT = "omics-archiver-verify"
FORMAT_VERSION = 1
_KEY = re.compile(r"^verifications/(?P<id>[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8})\.json$")
_MAX_LISTED = 1000  # problems and repairs kept in a record
_TEXT = 1000
_MAX_KEYS = 100_000  # record keys listed by a reader
_READ = 20  # newest records a reader opens, at most
_SHOWN = 10  # newest records a reader returns as rows


def record_key(verify_id: str) -> str:
    key = f"{PREFIX}{verify_id}.json"
    if not _KEY.match(key):
        raise ValueError(f"not a verify record key: {key!r}")
    return key


def _text(value: object, limit: int = _TEXT) -> str:
    text = redact(str(value))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _target_of(key: str | None) -> tuple[str, str, str] | None:
    if key is None:
        return None
    try:
        parsed = _layout.parse_snapshot_key(key)
    except ValueError:
        return None
    return (parsed.partition, parsed.account, parsed.region)


def build_record(
    report: VerifyReport, *, verify_id: str, seed: int | None, repair: bool, exit_code: int
) -> dict[str, Any]:
    """The record of a finished verify run (``report``), valid against its schema."""
    per_target: dict[tuple[str, str, str], dict[str, int]] = {
        group: {"snapshots": counts["snapshots"], "bundles": counts["bundles"], "problems": 0}
        for group, counts in report.targets.items()
    }
    for p in report.problems:
        group = _target_of(p.snapshot) or _target_of(p.key)
        if group is not None and group in per_target:
            per_target[group]["problems"] += 1
    problems = sorted(report.problems, key=lambda p: (p.key, p.message))
    return {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "toolVersion": __version__,
        "id": verify_id,
        "key": record_key(verify_id),
        "startedAt": rfc3339(report.started_at),
        "finishedAt": rfc3339(report.finished_at or report.started_at),
        "durationSeconds": round(max(0.0, report.duration), 3),
        "ok": report.ok,
        "exitCode": exit_code,
        "scope": {"readDataPercent": report.read_data_percent, "seed": seed, "repair": repair},
        "checked": {
            "snapshots": report.snapshots,
            "bundles": report.bundles,
            "referenced": report.referenced,
            "bundlesRead": report.bundles_read,
            "bytesRead": report.bytes_read,
            "imageBlobs": {
                k: int(report.images.get(k, 0)) for k in ("blobs", "referenced", "blobsRead", "bytesRead")
            },
        },
        "targets": [
            {"partition": g[0], "account": g[1], "region": g[2], **counts}
            for g, counts in sorted(per_target.items())
        ],
        "problemCount": len(problems),
        "problems": [
            {
                "key": _text(p.key, 1024),
                "problem": _text(p.message),
                "snapshot": None if p.snapshot is None else _text(p.snapshot, 1024),
            }
            for p in problems[:_MAX_LISTED]
        ],
        "repairs": [
            {
                "key": _text(r.key, 1024),
                "outcome": "repaired" if r.repaired else "unrepairable",
                "detail": _text(r.detail),
            }
            for r in sorted(report.repairs, key=lambda r: r.key)[:_MAX_LISTED]
        ],
    }


async def write_record(store: Store, record: Mapping[str, Any]) -> str:
    """Write ``record`` once under its key (never replacing anything); return the key."""
    found = schema_problems("verify-record", record)
    if found:
        raise ValueError(f"verify record does not match its schema at {found[0].path}: {found[0].message}")
    key = str(record["key"])
    await store.put_bytes(key, canonical_json(record), if_absent=True)
    return key


def _row(key: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    scope, checked = doc["scope"], doc["checked"]
    return {
        "key": key,
        "id": doc["id"],
        "time": doc["finishedAt"],
        "ok": doc["ok"],
        "exitCode": doc["exitCode"],
        "readDataPercent": scope["readDataPercent"],
        "repair": scope["repair"],
        "snapshots": checked["snapshots"],
        "bundles": checked["bundles"],
        "bundlesRead": checked["bundlesRead"],
        "imageBlobs": checked["imageBlobs"]["blobs"],
        "problems": doc["problemCount"],
        "firstProblems": [dict(p) for p in doc["problems"][:3]],
    }


async def _read(store: Store, key: str) -> dict[str, Any] | str:
    """The validated record at ``key``, or why it cannot be used."""
    try:
        doc = json.loads(await get_small(store, key, RECORD_LIMIT, what="verify record"))
    except (StoreError, ValueError, RecursionError) as exc:
        return getattr(exc, "message", None) or f"not JSON: {type(exc).__name__}"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return "not a verify record"
    version = doc.get("formatVersion")
    if isinstance(version, int) and version > FORMAT_VERSION:
        return f"verify record format version {version} is newer than this tool supports ({FORMAT_VERSION})"
    found = schema_problems("verify-record", doc)
    if found:
        return f"does not match the verify record schema at {found[0].path}: {found[0].message}"
    if doc["key"] != key:
        return f"the record says it is {doc['key']!r}"
    return doc


async def read_latest(store: Store) -> dict[str, Any]:
    """The newest verify records: how many there are, the newest rows, and each target's last verify.

    Only the newest :data:`_READ` records are opened (keys sort by time). ``perTarget`` holds, for
    each target a record covers, the newest readable record covering it, with that target's own
    counts. Records that cannot be read are counted and named (``unreadable``, ``problems``).
    """
    keys: list[str] = []
    async for info in store.list(PREFIX):
        if _KEY.match(info.key):
            keys.append(info.key)
        if len(keys) >= _MAX_KEYS:
            break
    keys.sort(reverse=True)
    rows: list[dict[str, Any]] = []
    per_target: dict[tuple[str, str, str], dict[str, Any]] = {}
    problems: list[dict[str, str]] = []
    for key in keys[:_READ]:
        try:
            got = await _read(store, key)
        except ObjectNotFound:
            continue
        if isinstance(got, str):
            problems.append({"key": key, "problem": got})
            continue
        row = _row(key, got)
        rows.append(row)
        for t in got["targets"]:
            group = (t["partition"], t["account"], t["region"])
            if group not in per_target:
                per_target[group] = {
                    **{k: row[k] for k in ("key", "time", "ok", "readDataPercent", "repair", "bundlesRead")},
                    "partition": group[0],
                    "account": group[1],
                    "region": group[2],
                    "snapshots": t["snapshots"],
                    "bundles": t["bundles"],
                    "problems": t["problems"],
                }
    return {
        "recorded": len(keys),
        "newest": keys[0] if keys else None,
        "prefix": PREFIX,
        "read": min(len(keys), _READ),
        "latest": rows[:_SHOWN],
        "perTarget": [per_target[g] for g in sorted(per_target)],
        "unreadable": len(problems),
        "problems": problems,
    }
