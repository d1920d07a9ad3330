"""The report as one self-contained static HTML page: inline CSS and SVG, no script, nothing to load.

Why: the page is evidence that backups work, handed to auditors and opened by on-call on any
machine, now or years later, offline. So it holds everything it shows, runs no code, and forbids
itself to load anything (a Content-Security-Policy of ``default-src 'none'``). Every string that
comes from the store (names, errors, keys, image fields) is hostile and goes through
:func:`html.escape`, in text and in attributes alike; numbers are formatted, never pasted.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ._chart import Series, line_chart
from ._text import age, verify_depth

__all__ = ["render_html"]

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
_NIGHTS_IN_TABLE = 14
_CELL_GLYPH = {
    "new": "+",
    "same": "=",
    "failed": "F",
    "quarantined": "Q",
    "vanished": "V",
    "absent": "\u2013",
    "not-covered": "\u00b7",
}

_CSS = """
:root { --ok: #1a7f37; --bad: #c62828; --warn: #b26a00; --muted: #6b7280; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; color: #1f2328; margin: 0 auto; max-width: 1200px; padding: 16px 24px 48px;
  background: #fff; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.meta, .muted { color: var(--muted); }
table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left;
  vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-weight: 600;
  font-size: 12px; color: #fff; }
.badge.ok { background: var(--ok); }
.badge.bad { background: var(--bad); }
.badge.warn { background: var(--warn); }
.none { color: var(--muted); font-style: italic; }
.summary { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.summary div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px;
  min-width: 150px; }
.summary b { display: block; font-size: 20px; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
.chart { max-width: 100%; height: auto; }
.chart .grid { stroke: #eaeef2; stroke-width: 1; }
.chart .tick { fill: var(--muted); font-size: 11px; }
.chart .line { fill: none; stroke-width: 2; }
.legend span { display: inline-block; margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 4px; vertical-align: -1px; }
.s-workflows { stroke: #0969da; fill: #0969da; background: #0969da; }
.s-versions { stroke: #8250df; fill: #8250df; background: #8250df; }
.s-new { stroke: #1a7f37; fill: #1a7f37; background: #1a7f37; }
.s-failed { stroke: #c62828; fill: #c62828; background: #c62828; }
.s-skipped { stroke: #9a6700; fill: #9a6700; background: #9a6700; }
.s-vanished { stroke: #e8590c; fill: #e8590c; background: #e8590c; }
table.grid td.c { width: 22px; min-width: 22px; text-align: center; padding: 1px 0;
  font: 600 12px ui-monospace, monospace; }
table.grid th.col { font-size: 11px; font-weight: 500; padding: 2px 1px; text-align: center;
  white-space: nowrap; }
.c-new { background: #dafbe1; color: #1a7f37; } .c-same { background: #f0f3f6; color: #57606a; }
.c-failed { background: #ffd7d5; color: #a40e26; }
.c-quarantined { background: #fff1c2; color: #7d4e00; }
.c-vanished { background: #ffe2cc; color: #bc4c00; } .c-absent { background: #fff; color: #8c959f; }
.c-not-covered {
  background: repeating-linear-gradient(45deg, #fff, #fff 3px, #eef1f4 3px, #eef1f4 6px);
  color: #8c959f; }
.key { display: inline-block; width: 18px; text-align: center;
  font: 600 12px ui-monospace, monospace; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: set[int] | None = None) -> str:
    """A table from already-escaped cells; ``numeric`` column indexes are right-aligned."""
    numeric = numeric or set()
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _none(text: str) -> str:
    return f'<p class="none">{_e(text)}</p>'


def _workflow(item: Mapping[str, Any]) -> str:
    text = f"{_e(item.get('workflowId') or '?')}"
    if item.get("versionName"):
        text += f":{_e(item['versionName'])}"
    if item.get("name"):
        text += f" <span class=muted>({_e(item['name'])})</span>"
    return text


def _status(target: Mapping[str, Any]) -> tuple[str, str]:
    last = target["lastComplete"]
    if last is None:
        return "bad", "no complete backup"
    if last["stale"]:
        return "bad", "stale"
    latest = target["lastSnapshot"]
    if latest["failed"] or latest["quarantined"]:
        return "warn", "partial"
    return "ok", "ok"


def _targets_section(doc: Mapping[str, Any]) -> str:
    rows = []
    for t in doc["targets"]:
        css, word = _status(t)
        last, latest = t["lastComplete"], t["lastSnapshot"]
        rows.append(
            [
                f'<span class="badge {css}">{_e(word)}</span>',
                _e(t["account"]),
                _e(t["region"]),
                _e(last["finishedAt"]) if last else '<span class="none">never</span>',
                _e(age(last["ageSeconds"])) if last else "",
                _e(latest["finishedAt"])
                + ("" if latest["complete"] else " <span class=muted>(filtered)</span>"),
                _e(latest["failed"]),
                _e(latest["quarantined"]),
                _e(t["snapshots"]),
            ]
        )
    if not rows:
        return "<h2>Last complete backup per target</h2>" + _none(
            "no snapshot in this store: nothing has been backed up"
        )
    return (
        "<h2>Last complete backup per target</h2>"
        + _table(
            [
                "status",
                "account",
                "region",
                "last complete backup",
                "age",
                "last run",
                "failed",
                "quarantined",
                "snapshots",
            ],
            rows,
            numeric={6, 7, 8},
        )
        + '<p class="muted">A complete backup covered the whole account and region (no filters). Older than '
        + _e(format(doc["staleAfterHours"], "g"))
        + " h is flagged stale.</p>"
    )


def _nights(target: Mapping[str, Any]) -> str:
    every = target["nights"]
    nights = [n for n in every if n["complete"]]  # a filtered run's counts are not comparable
    labels = [n["finishedAt"][:10] for n in nights]
    inventory = line_chart(
        f"workflows and versions per backup, {target['account']} {target['region']}",
        labels,
        [
            Series("workflows", "s-workflows", [n["workflows"] for n in nights]),
            Series("versions", "s-versions", [n["versions"] for n in nights]),
        ],
        _e,
    )
    activity = line_chart(
        f"new bundles, failed, skipped and vanished per backup, {target['account']} {target['region']}",
        labels,
        [
            Series("new bundles", "s-new", [n["newBundles"] for n in nights]),
            Series("skipped", "s-skipped", [n["skipped"] for n in nights]),
            Series("vanished", "s-vanished", [n["vanished"] for n in nights]),
            Series("failed", "s-failed", [n["failed"] for n in nights]),  # drawn last: on top
        ],
        _e,
    )
    legend = "".join(
        f'<span><i class="{s}"></i>{_e(name)}</span>'
        for s, name in [
            ("s-workflows", "workflows"),
            ("s-versions", "versions"),
            ("s-new", "new bundles"),
            ("s-failed", "failed"),
            ("s-skipped", "skipped"),
            ("s-vanished", "vanished"),
        ]
    )
    recent = list(reversed(every[-_NIGHTS_IN_TABLE:]))
    rows = [
        [
            _e(n["finishedAt"]),
            "yes" if n["complete"] else "filtered",
            _e(n["workflows"]),
            _e(n["versions"]),
            _e(n["newBundles"]),
            _e(n["failed"]),
            _e(n["skipped"]),
            _e(n["quarantined"]),
            _e(n["vanished"]),
        ]
        for n in recent
    ]
    notes = []
    if len(nights) < len(every):
        notes.append("The charts show complete backups only; filtered runs are in the table.")
    if target["nightsNotShown"]:
        notes.append(f"{target['nightsNotShown']} older snapshots are not charted.")
    more = f'<p class="muted">{_e(" ".join(notes))}</p>' if notes else ""
    return (
        "<h3>Nightly counts</h3>"
        + f'<div class="legend">{legend}</div><div class="charts">{inventory}{activity}</div>'
        + more
        + _table(
            [
                "finished",
                "complete",
                "workflows",
                "versions",
                "new bundles",
                "failed",
                "skipped",
                "quarantined",
                "vanished",
            ],
            rows,
            numeric={2, 3, 4, 5, 6, 7, 8},
        )
    )


def _latest(target: Mapping[str, Any]) -> str:
    latest = target["latest"]
    parts = [
        "<h3>Failed in the latest snapshot, vanished in the recent ones</h3>"
        f'<p class="muted mono">{_e(latest["snapshot"])}</p>'
    ]
    if latest["failed"]:
        parts.append(
            _table(
                ["failed", "stage", "code", "error"],
                [[_workflow(f), _e(f["stage"]), _e(f["code"]), _e(f["error"])] for f in latest["failed"]],
            )
        )
        if latest["failedNotShown"]:
            parts.append(f'<p class="muted">and {_e(latest["failedNotShown"])} more failed</p>')
    else:
        parts.append(_none("no failed workflows"))
    if latest["vanished"]:
        parts.append(
            _table(
                ["vanished", "noticed by the backup of"],
                [[_workflow(v), _e(v["noticedAt"])] for v in latest["vanished"]],
            )
        )
        if latest["vanishedNotShown"]:
            parts.append(f'<p class="muted">and {_e(latest["vanishedNotShown"])} more vanished</p>')
    else:
        parts.append(_none("no workflow vanished in the snapshots shown"))
    if latest["quarantined"]:
        parts.append(
            _table(
                ["quarantined", "where", "problem"],
                [[_workflow(q), _e(q["path"]), _e(q["problem"])] for q in latest["quarantined"]],
            )
        )
    return "".join(parts)


def _grid(target: Mapping[str, Any], states: Mapping[str, str]) -> str:
    grid = target["grid"]
    if not grid["rows"]:
        return "<h3>Workflow states over time</h3>" + _none("no workflow archived")
    days = [c["finishedAt"][5:10] for c in grid["columns"]]
    labels = days if len(set(days)) == len(days) else [c["finishedAt"][11:16] for c in grid["columns"]]
    head = "".join(
        f'<th class="col" title="{_e(c["finishedAt"])}{"" if c["complete"] else " (filtered run)"}">'
        f"{_e(label)}{'' if c['complete'] else '*'}</th>"
        for c, label in zip(grid["columns"], labels, strict=True)
    )
    rows = []
    for r in grid["rows"]:
        cells = "".join(
            f'<td class="c c-{_e(s)}" title="{_e(states.get(s, s))}">{_e(_CELL_GLYPH.get(s, "?"))}</td>'
            for s in r["states"]
        )
        uuid = f"uuid {r['uuid']}" if r.get("uuid") else "never archived"
        rows.append(
            f'<tr><td>{_e(r["workflowId"])}</td><td title="{_e(uuid)}">{_e(r.get("name") or "")}</td>'
            f"{cells}</tr>"
        )
    legend = " ".join(
        f'<span><span class="key c-{_e(s)}">{_e(_CELL_GLYPH.get(s, "?"))}</span> {_e(text)}</span>'
        for s, text in states.items()
    )
    more = []
    if grid["rowsNotShown"]:
        more.append(f"{_e(grid['rowsNotShown'])} more workflows are not shown.")
    if target["gridColumnsNotShown"]:
        more.append(f"{_e(target['gridColumnsNotShown'])} older snapshots are not shown.")
    return (
        "<h3>Workflow states over time</h3>"
        + f'<table class="grid"><thead><tr><th>id</th><th>workflow</th>{head}</tr></thead>'
        + f"<tbody>{''.join(rows)}</tbody></table>"
        + f'<p class="legend">{legend}; * a filtered run</p>'
        + (f'<p class="muted">{" ".join(more)}</p>' if more else "")
    )


def _records(title: str, what: str, record: Mapping[str, Any]) -> str:
    if not record.get("recorded"):
        return f"<h2>{_e(title)}</h2>" + _none(f"no {what} recorded in this store")
    head = (
        f"<h2>{_e(title)}</h2><p>{_e(record['recorded'])} {_e(what)} record(s) under "
        f"<code>{_e(record.get('prefix'))}</code>; newest <code>{_e(record.get('newest'))}</code>."
    )
    latest = record.get("latest")
    if not isinstance(latest, list):
        return head + " This version of the report lists them but cannot read their contents yet.</p>"
    rows = [
        [
            _e(r.get("time")),
            "passed" if r.get("ok") else "FAILED",
            _e(r.get("target")),
            _e(r.get("snapshot")),
            _e(r.get("workflows")),
            _e(f"{r.get('checks', 0) - r.get('failed', 0)} of {r.get('checks', 0)}"),
        ]
        for r in reversed(latest)
    ]
    unreadable = record.get("unreadable") or 0
    note = f'<p class="muted">{_e(unreadable)} record(s) could not be read.</p>' if unreadable else ""
    return (
        head
        + "</p>"
        + _table(["finished", "result", "sandbox", "snapshot", "workflows", "checks held"], rows)
        + note
    )


def _checks(target: Mapping[str, Any]) -> str:
    """The target's last verify and newest restore drill, side by side."""
    v, d = target.get("lastVerify"), target.get("lastDrill")
    rows = []
    if v is None:
        rows.append(["verify", '<span class="none">no verify recorded for this target</span>', "", "", ""])
    else:
        rows.append(
            [
                "verify",
                _e(v["time"]),
                _badge(v["ok"]),
                _e(
                    f"{verify_depth(v)}: {v['snapshots']} snapshot(s), {v['bundles']} bundle(s); "
                    f"{v['bundlesRead']} bundle(s) read in the whole store"
                ),
                _e(f"{v['problems']} problem(s)"),
            ]
        )
    if d is None:
        rows.append(
            ["restore drill", '<span class="none">no drill recorded for this target</span>', "", "", ""]
        )
    else:
        rows.append(
            [
                "restore drill",
                _e(d["time"]),
                _badge(d["ok"]),
                _e(f"{d['workflows']} workflow(s) of {d['snapshot']} into {d['target']}"),
                _e(f"{d['checks'] - d['failed']} of {d['checks']} checks held"),
            ]
        )
    return "<h3>Last verify and restore drill</h3>" + _table(
        ["check", "finished", "result", "what was checked", "outcome"], rows
    )


def _badge(ok: object) -> str:
    return '<span class="badge ok">passed</span>' if ok is True else '<span class="badge bad">FAILED</span>'


def _readiness(target: Mapping[str, Any]) -> str:
    """Per workflow of the target's newest complete snapshot: its images and where they stand."""
    head = "<h3>Image readiness</h3>"
    r = target.get("images")
    if r is None:
        return head + _none("not read (see Container images below)")
    if not r["referenced"] and not r["bundlesWithoutInventory"]:
        if r["bundlesNotRead"]:
            return head + _none(
                f"{r['bundlesNotRead']} manifest(s) of {r['snapshot']} not read (--max-manifests)"
            )
        return head + _none(f"no images recorded in {r['snapshot']}")
    mode = (
        "that backup copied the images into the store (--images copy)"
        if r["copyRun"]
        else "that backup recorded the images only (--images record)"
    )
    parts = [
        head,
        f"<p>{_e(r['referenced'])} image(s) referenced by {_e(r['workflows'])} workflow(s) of "
        f"<code>{_e(r['snapshot'])}</code>: {_e(r['withDigest'])} with a recorded digest, "
        f"{_e(r['archived'])} archived in the store, {_e(r['recordedOnly'])} only recorded, "
        f"{_e(r['unresolved'])} unresolved; {_e(mode)}.</p>",
    ]
    if r["missingFromStore"]:
        parts.append(
            f'<p><span class="badge bad">MISSING</span> {_e(r["missingFromStore"])} image(s) the snapshot '
            "lists as archived are not in the store (run verify).</p>"
        )
    rows = []
    for w in r["rows"]:
        unresolved = "<br>".join(
            f"<code>{_e(u['image'])}</code>"
            + (f" <span class=muted>(version {_e(u['versionName'])})</span>" if u["versionName"] else "")
            + f": {_e(u['reason'])}"
            for u in w["unresolved"]
        )
        if w["unresolvedNotShown"]:
            unresolved += f"<br>and {_e(w['unresolvedNotShown'])} more"
        if w["bundlesWithoutInventory"]:
            n = _e(w["bundlesWithoutInventory"])
            unresolved += f"<br><span class=muted>{n} bundle(s) without an inventory</span>"
        rows.append(
            [
                _workflow(w),
                _e(w["referenced"]),
                _e(w["withDigest"]),
                _e(w["archived"]),
                _e(w["withDigest"] - w["archived"]),
                unresolved,
            ]
        )
    parts.append(
        _table(
            ["workflow", "referenced", "with digest", "archived", "only recorded", "unresolved"],
            rows,
            numeric={1, 2, 3, 4},
        )
    )
    if r["rowsNotShown"]:
        parts.append(f'<p class="muted">{_e(r["rowsNotShown"])} more workflows are not shown.</p>')
    if r["bundlesNotRead"]:
        parts.append(f'<p class="muted">{_e(r["bundlesNotRead"])} manifest(s) not read.</p>')
    return "".join(parts)


def _verify_runs(verify: Mapping[str, Any]) -> str:
    head = "<h2>Last verify</h2>"
    if not verify.get("recorded"):
        return head + _none("no verify recorded in this store")
    rows = [
        [
            _e(r["time"]),
            _badge(r["ok"]),
            _e(verify_depth(r)),
            _e(r["snapshots"]),
            _e(r["bundles"]),
            _e(r["bundlesRead"]),
            _e(r["imageBlobs"]),
            _e(r["problems"])
            + "".join(
                f"<br><span class=mono>{_e(p['key'])}</span>: {_e(p['problem'])}" for p in r["firstProblems"]
            ),
        ]
        for r in verify.get("latest") or []
    ]
    unreadable = verify.get("unreadable") or 0
    note = f'<p class="muted">{_e(unreadable)} record(s) could not be read.</p>' if unreadable else ""
    return (
        head + f"<p>{_e(verify['recorded'])} verify record(s) under <code>{_e(verify.get('prefix'))}</code>; "
        f"the newest {_e(len(rows))}:</p>"
        + _table(
            [
                "finished",
                "result",
                "depth",
                "snapshots",
                "bundles",
                "bundles read",
                "image blobs",
                "problems",
            ],
            rows,
            numeric={3, 4, 5, 6},
        )
        + note
        + "".join(
            f'<p class="muted"><span class=mono>{_e(p["key"])}</span>: {_e(p["problem"])}</p>'
            for p in verify.get("problems") or []
        )
    )


def _images(images: Mapping[str, Any]) -> str:
    read, unread = images.get("manifestsRead", 0), images.get("manifestsUnread", 0)
    note = f"{read} manifest(s) of the latest complete snapshots read" + (
        f", {unread} not read" if unread else ""
    )
    checked = images.get("blobsChecked", 0)
    if checked or images.get("blobsNotChecked"):
        note += f"; {checked} archived image(s) looked up in the store"
        if images.get("blobsNotChecked"):
            note += f", {images['blobsNotChecked']} not looked up"
    referenced = sum(t.get("referenced", 0) for t in images.get("targets") or [])
    parts = ["<h2>Container images</h2>"]
    parts.append(
        _none(f"no images recorded ({note})") if not referenced else f'<p class="muted">{_e(note)}</p>'
    )
    problems = images.get("problems") or []
    if problems:
        parts.append(
            _table(["unreadable object", "problem"], [[_e(p["key"]), _e(p["problem"])] for p in problems])
        )
    return "".join(parts)


def _problems(doc: Mapping[str, Any]) -> str:
    problems = doc["problems"]
    if not problems:
        return "<h2>Unreadable objects</h2>" + _none("none: every snapshot in the store was read")
    return "<h2>Unreadable objects</h2>" + _table(
        ["key", "problem"], [[f"<span class=mono>{_e(p['key'])}</span>", _e(p["problem"])] for p in problems]
    )


def render_html(doc: Mapping[str, Any]) -> str:
    """The whole page for an overview built by :func:`archiver.report.build_overview`."""
    targets = doc["targets"]
    stale = sum(1 for t in targets if _status(t)[0] == "bad")
    failing = sum(1 for t in targets if t["lastSnapshot"]["failed"])
    summary = (
        '<div class="summary">'
        f"<div>targets<b>{_e(len(targets))}</b></div>"
        f"<div>stale or never complete<b>{_e(stale)}</b></div>"
        f"<div>targets with failures in the last run<b>{_e(failing)}</b></div>"
        f"<div>snapshots<b>{_e(doc['snapshots'])}</b></div>"
        f"<div>bundles<b>{_e(doc['bundles'])}</b></div>"
        "</div>"
    )
    body = [
        "<h1>omics-archiver report</h1>",
        f'<p class="meta">store <code>{_e(doc["store"])}</code> &middot; '
        f"generated {_e(doc['generatedAt'])}</p>",
        summary,
        _targets_section(doc),
    ]
    for t in targets:
        body.append(
            f"<h2>{_e(t['account'])} / {_e(t['region'])} <span class=muted>({_e(t['partition'])})</span></h2>"
        )
        body.append(_nights(t))
        body.append(_checks(t))
        body.append(_readiness(t))
        body.append(_latest(t))
        body.append(_grid(t, doc["cellStates"]))
    body.append(_verify_runs(doc["verify"]))
    body.append(_records("Last restore drill", "drill", doc["drills"]))
    body.append(_images(doc["images"]))
    body.append(_problems(doc))
    body.append(
        "<footer>Written by omics-archiver report from the store's snapshots. This page runs no script and "
        "loads nothing: it is complete as it is.</footer>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>omics-archiver report: {_e(doc['store'])}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
