"""The report as a few lines of text per target, for a terminal or a job's log.

Why: on call, the first question is "is this target fine?", asked in a shell: the last complete
backup and its age, the last verify, the last restore drill and image readiness, one line each.
The page (:mod:`._html`) has the detail. Store strings are printed as they are, minus control
characters (a name could otherwise move the cursor or clear the screen).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["render_text", "verify_depth"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _s(value: Any) -> str:
    return _CONTROL.sub("?", "" if value is None else str(value))


def age(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 0:
        return "in the future (clock skew?)"
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 1:
        return f"{minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if days else f"{hours} h {minutes} min"


def verify_depth(record: Mapping[str, Any]) -> str:
    """``structure``, ``structure and 10% data``, plus ``, repair``."""
    percent = record.get("readDataPercent")
    depth = "structure" if percent is None else f"structure and {format(percent, 'g')}% data"
    return depth + (", repair" if record.get("repair") else "")


def verify_line(v: Mapping[str, Any] | None) -> str:
    if v is None:
        return "no verify recorded for this target"
    return (
        f"{_s(v['time'])} {'passed' if v['ok'] else 'FAILED'} ({verify_depth(v)}): "
        f"{v['snapshots']} snapshot(s), {v['bundles']} bundle(s) checked, {v['bundlesRead']} read in "
        f"the whole store; {v['problems']} problem(s)"
    )


def drill_line(d: Mapping[str, Any] | None) -> str:
    if d is None:
        return "no restore drill recorded for this target"
    return (
        f"{_s(d['time'])} {'passed' if d['ok'] else 'FAILED'}: {d['workflows']} workflow(s) into "
        f"{_s(d['target'])}, {d['checks'] - d['failed']} of {d['checks']} checks held"
    )


def images_line(i: Mapping[str, Any] | None) -> str:
    if i is None:
        return "not read"
    unread = f"; {i['bundlesNotRead']} manifest(s) not read (--max-manifests)" if i["bundlesNotRead"] else ""
    if not i["referenced"] and unread:
        return unread[2:]
    return _images_counts(i) + unread


def _images_counts(i: Mapping[str, Any]) -> str:
    if not i["referenced"]:
        return "no images recorded in the latest complete snapshot's manifests"
    parts = [
        f"{i['referenced']} referenced",
        f"{i['withDigest']} with a digest",
        f"{i['archived']} archived in the store",
        f"{i['recordedOnly']} only recorded",
        f"{i['unresolved']} unresolved",
    ]
    if i["missingFromStore"]:
        parts.append(f"{i['missingFromStore']} MISSING from the store")
    return ", ".join(parts)


def render_text(doc: Mapping[str, Any]) -> str:
    """Per target: last complete backup, last verify, last drill, image readiness; then totals."""
    lines: list[str] = []
    for t in doc["targets"]:
        last = t["lastComplete"]
        backup = (
            f"last complete backup {_s(last['finishedAt'])} ({age(last['ageSeconds'])} ago"
            f"{', STALE' if last['stale'] else ''})"
            if last
            else "NO complete backup"
        )
        failed = t["lastSnapshot"]["failed"]
        lines.append(
            f"{_s(t['account'])} {_s(t['region'])} ({_s(t['partition'])}): {backup}"
            + (f"; {failed} failed in the last run" if failed else "")
        )
        lines.append(f"  verify  {verify_line(t.get('lastVerify'))}")
        lines.append(f"  drill   {drill_line(t.get('lastDrill'))}")
        lines.append(f"  images  {images_line(t.get('images'))}")
        for row in (t.get("images") or {}).get("rows", []):
            for u in row["unresolved"]:
                lines.append(f"    unresolved in {_s(row['name'])}: {_s(u['image'])}: {_s(u['reason'])}")
    if not doc["targets"]:
        lines.append("no snapshot in this store: nothing has been backed up")
    verify, drills = doc["verify"], doc["drills"]
    bad = (verify.get("unreadable") or 0) + (drills.get("unreadable") or 0) + len(doc["problems"])
    lines.append(
        f"{doc['snapshots']} snapshot(s), {doc['bundles']} bundle(s); {verify.get('recorded', 0)} verify and "
        f"{drills.get('recorded', 0)} drill record(s)"
        + (f"; {bad} object(s) could not be read" if bad else "")
    )
    return "\n".join(lines)
