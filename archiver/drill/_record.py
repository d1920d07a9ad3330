"""Drill results in the store: ``drills/<partition>/<account>/<region>/<drill-id>.json``.

The account and region are the *source*'s (the archived state the drill restored), so that the
results of one archive sit together whatever sandbox they ran in. A result is written once
(never replaced) and read back bounded and defensively: a damaged record is reported, never a
crash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .._errors import ObjectNotFound, StoreError
from .._jsonutil import canonical_json
from ..store import Store
from ..store._small import get_small

__all__ = ["DRILL_LIMIT", "PREFIX", "drill_key", "list_drills", "write_drill"]

PREFIX = "drills/"
DRILL_LIMIT = 4 * 1024 * 1024
_KEY = re.compile(
    r"^drills/(?P<partition>[a-z][a-z0-9-]*)/(?P<account>[0-9]{12})/(?P<region>[a-z0-9-]+)"
    r"/(?P<id>[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8})\.json$"
)


def drill_key(partition: str, account: str, region: str, drill_id: str) -> str:
    key = f"{PREFIX}{partition}/{account}/{region}/{drill_id}.json"
    if not _KEY.match(key):
        raise ValueError(f"not a drill key: {key!r}")
    return key


async def write_drill(store: Store, key: str, doc: Mapping[str, Any]) -> None:
    await store.put_bytes(key, canonical_json(doc), if_absent=True)


async def list_drills(store: Store) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Every drill result (oldest first) as a summary row, and the records that could not be read."""
    rows: list[dict[str, Any]] = []
    problems: list[tuple[str, str]] = []
    async for info in store.list(PREFIX):
        m = _KEY.match(info.key)
        if m is None:
            continue
        try:
            doc = json.loads(await get_small(store, info.key, DRILL_LIMIT, what="drill result"))
        except ObjectNotFound:
            continue
        except (StoreError, ValueError, RecursionError) as exc:
            problems.append((info.key, getattr(exc, "message", None) or f"not JSON: {type(exc).__name__}"))
            continue
        if not isinstance(doc, dict) or doc.get("format") != "omics-archiver-drill":
            problems.append((info.key, "not a drill result"))
            continue
        rows.append(_row(info.key, m, doc))
    rows.sort(key=lambda r: (r["id"], r["key"]))
    return rows, problems


def _row(key: str, m: re.Match[str], doc: dict[str, Any]) -> dict[str, Any]:
    """The summary of one drill result, each field checked (the record is untrusted)."""
    raw_checks = doc.get("checks")
    checks = [c for c in raw_checks if isinstance(c, dict)] if isinstance(raw_checks, list) else []
    target = doc.get("target")
    target = target if isinstance(target, dict) else {}
    workflows = doc.get("workflows")
    snapshots = doc.get("snapshots")
    return {
        "key": key,
        "id": m["id"],
        "account": m["account"],
        "region": m["region"],
        "time": str(doc.get("finishedAt", "")),
        "ok": doc.get("ok") is True,
        "workflows": len(workflows) if isinstance(workflows, list) else 0,
        "checks": len(checks),
        "failed": sum(1 for c in checks if c.get("ok") is not True),
        "target": f"{target.get('account', '?')} {target.get('region', '?')}",
        "snapshot": str(snapshots[-1]) if isinstance(snapshots, list) and snapshots else "?",
    }
