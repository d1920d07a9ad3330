"""How a run shows its progress: a rich progress bar on a terminal, JSON-line events without one.

Why here: the library only fills in its report and calls a callback when it changes (what discovery
found in ``report.found``, what is done in ``report.stats`` and the entry lists); drawing belongs to
the CLI. On a terminal, :class:`Terminal` keeps one live area at the bottom of stderr (drawn by rich)
and prints log lines above it. Without a terminal, :class:`BackupProgress` logs three events whose
field names are stable and documented in the README: ``start`` (who, where, what), ``progress``
(every ``interval`` seconds while items finish) and ``summary``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._report import BackupReport
from ._words import count

if TYPE_CHECKING:  # rich is imported only when a terminal shows progress (._terminal)
    from ._terminal import Terminal

__all__ = ["BackupProgress", "TargetsProgress", "figures", "human_bytes", "human_seconds"]

log = logging.getLogger("archiver.progress")


def human_bytes(n: float) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _is_version(entry: Mapping[str, Any]) -> bool:
    return entry.get("versionName") is not None


def figures(report: BackupReport, elapsed: float) -> dict[str, Any]:
    """The progress of a backup as numbers, with the field names of the ``progress`` event.

    Workflows to back up are known once listing is done; versions are listed per workflow as the
    run goes, so their total is estimated (``versionsTotal``) from the versions per workflow seen
    so far, and becomes exact once every workflow's versions are listed (``versionsExact``).
    Workflows that ``--tag`` leaves out (known only once their Get answers) come off the totals as
    they are found out (``filteredOut``), so a filtered run ends at 100%.
    """
    s = report.stats
    found = report.found
    filtered = found.get("filteredOut", 0)  # --tag: left out once their Get showed their tags
    workflows_total = max(found.get("workflows", 0) - filtered, 0)
    versions_found = found.get("versions", 0)
    lists = found.get("versionLists", 0)
    pending_lists = max(workflows_total - lists, 0)
    estimate = versions_found + (round(pending_lists * versions_found / lists) if lists else 0)
    failed_wf = sum(1 for f in report.failed if not _is_version(f))
    failed_ver = len(report.failed) - failed_wf
    # workflows skipped before the run (shared with us) were never among those to back up
    skipped = [e for e in report.skipped if e.get("reason") != "shared" or _is_version(e)]
    skipped_ver = sum(1 for e in skipped if _is_version(e))
    workflows_done = min(s["workflows"] + failed_wf + len(skipped) - skipped_ver, workflows_total)
    versions_done = s["versions"] + failed_ver + skipped_ver
    versions_total = max(estimate, versions_done)
    items_total = workflows_total + versions_total
    items_done = workflows_done + versions_done
    rate = items_done / elapsed if elapsed > 0 else 0.0
    remaining = max(items_total - items_done, 0)
    eta = remaining / rate if rate > 0 else None
    return {
        "workflowsTotal": workflows_total,
        "workflowsDone": workflows_done,
        "filteredOut": filtered,
        "versionsTotal": versions_total,
        "versionsExact": pending_lists == 0,
        "versionsDone": versions_done,
        "itemsTotal": items_total,
        "itemsDone": items_done,
        "percent": round(100.0 * items_done / items_total, 1) if items_total else 100.0,
        "bundlesWritten": s["bundlesWritten"],
        "unchanged": len(report.bundles) - s["bundlesWritten"],
        "skipped": len(skipped),
        "failed": len(report.failed),
        "bytesWritten": s["bytesWritten"],
        "itemsPerSecond": round(rate, 2),
        "elapsedSeconds": round(elapsed, 1),
        "etaSeconds": round(eta, 1) if eta is not None else None,
    }


class BackupProgress:
    """The backup's progress callback: a bar on a terminal, else ``start``/``progress`` log events.

    ``who``: the profile or credentials used, ``store``: the store's URL, both for the start line.
    ``label``: the target, when this is one of many (its bar's key and prefix; the start line is then
    left to :class:`TargetsProgress` on a terminal).
    """

    def __init__(
        self,
        terminal: Terminal | None,
        *,
        store: str,
        who: str,
        interval: float = 10.0,
        clock: Any = time.monotonic,
        label: str = "",
    ) -> None:
        self.terminal = terminal
        self.store = store
        self.who = who
        self.interval = interval
        self.label = label
        self._clock = clock
        self._began: float | None = None  # when discovery ended
        self._last = 0.0

    def __call__(self, report: BackupReport) -> None:
        if "workflows" not in report.found:
            return  # still discovering
        now = self._clock()
        if self._began is None:
            self._began = self._last = now
            self._start(report)
        # the figures only when shown: this runs once per archived item
        if self.terminal is not None:
            self._draw(figures(report, now - self._began))
        elif now - self._last >= self.interval:
            self._last = now
            self._log(figures(report, now - self._began), report)

    def _start(self, report: BackupReport) -> None:
        shared = sum(1 for e in report.skipped if e.get("reason") == "shared" and not _is_version(e))
        doc = {
            "event": "start",
            "runId": report.run_id,
            "account": report.account,
            "region": report.region,
            "partition": report.partition,
            "identity": self.who,
            "store": self.store,
            "dryRun": report.dry_run,
            "workflowsFound": report.found.get("workflows", 0),
            "sharedSkipped": shared,
        }
        text = (
            f"{'dry run: ' if report.dry_run else ''}backing up account {report.account} in {report.region} "
            f"({self.who}) to {self.store}: {count(report.found.get('workflows', 0), 'workflow')} to back up"
            + (f", {shared} shared with this account skipped" if shared else "")
        )
        if self.terminal is None:
            log.info("%s", text, extra=doc)
        elif not self.label:
            self.terminal.print(text)

    def _draw(self, n: dict[str, Any]) -> None:
        assert self.terminal is not None
        versions = f"{n['versionsDone']}/{'' if n['versionsExact'] else '~'}{n['versionsTotal']}"
        detail = (
            f"  {n['bundlesWritten']} new, {n['unchanged']} unchanged, {n['skipped']} skipped, "
            f"{n['failed']} failed; {human_bytes(n['bytesWritten'])} written; "
            f"{n['itemsPerSecond']:.1f} items/s"
        )
        prefix = f"{self.label}  " if self.label else ""
        self.terminal.bar(
            key=self.label,
            description=f"{prefix}workflows {n['workflowsDone']}/{n['workflowsTotal']}  versions {versions}",
            total=max(n["itemsTotal"], 1),
            completed=n["itemsDone"],
            eta=f"ETA {human_seconds(n['etaSeconds'])}",
            detail=None if self.label else detail,
        )

    def _log(self, n: dict[str, Any], report: BackupReport) -> None:
        log.info(
            "%.1f%%: %d of %d workflows, %d of %s%d versions; %s written; ETA %s",
            n["percent"],
            n["workflowsDone"],
            n["workflowsTotal"],
            n["versionsDone"],
            "" if n["versionsExact"] else "~",
            n["versionsTotal"],
            human_bytes(n["bytesWritten"]),
            human_seconds(n["etaSeconds"]),
            extra={"event": "progress", "account": report.account, "region": report.region, **n},
        )

    def hide(self) -> None:
        """On a terminal, take this target's bar away (it is done; the summary table has it)."""
        if self.terminal is not None and self.label:
            self.terminal.bar(key=self.label, description="", total=1, completed=1, eta="", visible=False)

    def finish(self, report: BackupReport, elapsed: float) -> None:
        """The ``summary`` event (without a terminal; on one, the summary table says it all)."""
        if self.terminal is not None:
            self.terminal.clear()
            return
        s = report.stats
        doc = {
            "event": "summary",
            "outcome": report.outcome,
            "account": report.account,
            "region": report.region,
            "dryRun": report.dry_run,
            "workflows": s["workflows"],
            "versions": s["versions"],
            "bundlesWritten": s["bundlesWritten"],
            "unchanged": len(report.bundles) - s["bundlesWritten"],
            "bytesWritten": s["bytesWritten"],
            "skipped": len(report.skipped),
            "quarantined": len(report.quarantined),
            "failed": len(report.failed),
            "vanished": len(report.vanished),
            "elapsedSeconds": round(elapsed, 1),
            "snapshot": report.snapshot_key,
        }
        log.info(
            "%s: %s and %s, %s (%s), %d failed, in %.1f s",
            report.outcome,
            count(s["workflows"], "workflow"),
            count(s["versions"], "version"),
            count(s["bundlesWritten"], "new bundle"),
            human_bytes(s["bytesWritten"]),
            len(report.failed),
            elapsed,
            extra=doc,
        )


class TargetsProgress:
    """Many targets at once: on a terminal one bar per running target and a line of totals under
    them; without one, each target's ``start`` and ``progress`` events (labelled ``account`` and
    ``region``) and a ``targets-progress`` event as each target ends."""

    def __init__(
        self,
        terminal: Terminal | None,
        *,
        store: str,
        who: str,
        total: int,
        interval: float = 10.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.terminal = terminal
        self.store = store
        self.who = who
        self.total = total
        self.interval = interval
        self._clock = clock
        self._views: dict[str, BackupProgress] = {}
        self._reports: dict[str, BackupReport] = {}
        self._ended: set[str] = set()
        self._bad = 0

    def started(self) -> None:
        text = f"backing up {count(self.total, 'target')} ({self.who}) to {self.store}"
        if self.terminal is not None:
            self.terminal.print(text)

    def report(self, key: str, report: BackupReport) -> None:
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = BackupProgress(
                self.terminal,
                store=self.store,
                who=self.who,
                interval=self.interval,
                clock=self._clock,
                label=key,
            )
        self._reports[key] = report
        view(report)
        self._totals()

    def ended(self, key: str, ok: bool) -> None:
        self._ended.add(key)
        self._bad += 0 if ok else 1
        view = self._views.get(key)
        if view is not None:
            view.hide()
        n = len(self._ended)
        if self.terminal is None:
            log.info(
                "%d of %d targets done, %d not ok",
                n,
                self.total,
                self._bad,
                extra={
                    "event": "targets-progress",
                    "targetsDone": n,
                    "targetsTotal": self.total,
                    "targetsNotOk": self._bad,
                },
            )
        self._totals()

    def _totals(self) -> None:
        if self.terminal is None:
            return
        reports = list(self._reports.values())
        written = sum(r.stats["bundlesWritten"] for r in reports)
        size = sum(r.stats["bytesWritten"] for r in reports)
        failed = sum(len(r.failed) for r in reports)
        self.terminal.bar(
            key="",
            description=f"targets {len(self._ended)}/{self.total} done, {self._bad} not ok",
            total=max(self.total, 1),
            completed=len(self._ended),
            eta="",
            detail=f"  {count(written, 'new bundle')} ({human_bytes(size)}), {failed} failed items so far",
        )
