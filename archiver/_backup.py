"""One backup run: discovery, the pipeline, and last, the snapshot.

``run_backup`` lists the account's workflows, learns its identity and the previous snapshot, skips
what other accounts shared with it, hands every private workflow to the :class:`Pipeline`
(``_pipeline.py``), keeps the last good state of whatever failed (see :func:`_carry_forward`) and
writes the snapshot, all under a backup lock marker so that a concurrent prune cannot delete what
the run relies on. A run interrupted anywhere writes no snapshot.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _layout
from ._aws import CallerIdentity, OmicsApi, partition_of
from ._download import Downloader
from ._errors import ResourceNotFound
from ._lock import backup_lock
from ._pipeline import BackupConfig, Item, Pipeline, RunState
from ._report import BackupReport
from ._shard import Sharding, Worker, run_local, run_workflows
from ._snapshot import latest_snapshot, new_snapshot, write_snapshot
from .store import Store

__all__ = ["BackupConfig", "Sharding", "run_backup"]

log = logging.getLogger("archiver.backup")


def _now() -> datetime:
    return datetime.now(UTC)


async def run_backup(
    api: OmicsApi,
    store: Store,
    config: BackupConfig | None = None,
    *,
    progress: Callable[[BackupReport], None] | None = None,
    sharding: Sharding | None = None,
) -> BackupReport:
    """Back up one account and region into ``store``; return the run's report.

    Raises only when nothing sensible can be recorded (discovery or the snapshot failed);
    per-workflow failures are in the report. The run holds a backup lock marker from its first
    read of the store to its snapshot write, so that a prune never deletes what it relies on.
    With ``sharding`` (see ``_shard``), ``sharding.processes - 1`` worker processes share the
    workflows with this one, each paced at its share of the rates; this process alone discovers,
    merges their reports, and writes the snapshot.
    """
    config = config or BackupConfig()
    started = _now()
    run_id = _layout.new_snapshot_id(started)
    report = BackupReport(run_id=run_id, started_at=started, dry_run=config.dry_run)
    async with contextlib.AsyncExitStack() as workers_stack:
        # Worker processes start first, so that their start-up overlaps discovery.
        workers = [
            await workers_stack.enter_async_context(Worker(k))
            for k in range(1, sharding.processes if sharding else 1)
        ]
        async with backup_lock(store, run_id=run_id, enabled=not config.dry_run):
            previous = await _run(api, store, config, report, progress, sharding, workers)
            _carry_forward(report, previous)
            report.finished_at = _now()
            if not config.dry_run:
                report.snapshot_key = await write_snapshot(store, _snapshot_of(report, config))
    return report


async def _run(
    api: OmicsApi,
    store: Store,
    config: BackupConfig,
    report: BackupReport,
    progress: Callable[[BackupReport], None] | None,
    sharding: Sharding | None,
    workers: list[Worker],
) -> dict[str, Any] | None:
    """Run the pipeline; return the previous snapshot of the account and region, if any."""
    with tempfile.TemporaryDirectory(prefix="omics-archiver-", dir=config.work_dir) as tmp:
        async with Downloader(concurrency=config.download_concurrency) as dl:
            pipeline = Pipeline(api, store, config, dl)
            listed = [w async for w in api.list_workflows()]
            if config.account:
                identity = CallerIdentity(
                    partition=partition_of(api.region), account=config.account, region=api.region
                )
            else:
                identity = await api.caller_identity()
            report.partition, report.account, report.region = (
                identity.partition,
                identity.account,
                identity.region,
            )
            previous = await latest_snapshot(
                store, partition=identity.partition, account=identity.account, region=identity.region
            )
            known = {str(b["key"]): b for b in (previous or {}).get("bundles", [])}
            pipeline.run = RunState(
                report=report, identity=identity, known=known, work=Path(tmp), progress=progress
            )
            shared = await pipeline.shared_with_us()
            selected: list[Mapping[str, Any]] = []
            for item in listed:
                wf_id = str(item.get("id"))
                owner = str(item.get("arn", "")).split(":")[4] if item.get("arn") else identity.account
                if item.get("type", "PRIVATE") != "PRIVATE":
                    continue  # Ready2Run workflows are AWS's, not ours to back up
                if item.get("status") == "DELETED":
                    continue  # deleted, still listed for a while
                if owner != identity.account or wf_id in shared:
                    if wf_id not in shared:
                        pipeline.skip_shared(wf_id, str(item.get("name", "")), owner)
                    continue
                if pipeline.wanted(item):
                    selected.append(item)
            await _dispatch(api, pipeline, selected, sharding, workers)
            for wanted in config.workflow_ids:
                if not any(str(w.get("id")) == wanted for w in listed):
                    pipeline.fail(
                        Item("workflow", wanted, ""),
                        "discover",
                        ResourceNotFound(f"workflow {wanted} was not found", operation="ListWorkflows"),
                    )
    return previous


async def _dispatch(
    api: OmicsApi,
    pipeline: Pipeline,
    selected: list[Mapping[str, Any]],
    sharding: Sharding | None,
    workers: list[Worker],
) -> None:
    """Back up ``selected`` here, or share it out among this process and the workers (``_shard``)."""
    processes = min(len(workers) + 1, len(selected))
    if sharding is None or processes <= 1:
        await run_workflows(pipeline, selected)
        return
    queue = collections.deque(selected)
    share = 1.0 / processes
    api.limiter.share(share)
    try:
        async with asyncio.TaskGroup() as tg:
            for worker in workers[: processes - 1]:
                tg.create_task(worker.run(sharding, pipeline, queue, rate_share=share))
            tg.create_task(run_local(pipeline, queue))
    finally:
        api.limiter.share(1.0)


def _carry_forward(report: BackupReport, previous: Mapping[str, Any] | None) -> None:
    """Keep the last good bundles of what failed this time in the new snapshot.

    A workflow that failed tonight (a transient error, a quarantine) still exists in the account;
    its newest archived state is the best record of it. Listing those bundles again means that the
    latest snapshot still restores it and that a prune keeping only that snapshot cannot delete its
    only backup. The ``failed`` entries say that it could not be refreshed.
    """
    if previous is None or not report.failed:
        return
    failed_ids = {f["workflowId"] for f in report.failed}
    covered = {(b["workflowId"], b["kind"], b["versionName"]) for b in report.bundles}
    for entry in previous.get("bundles", []):
        ident = (entry["workflowId"], entry["kind"], entry["versionName"])
        if entry["workflowId"] in failed_ids and ident not in covered:
            report.bundles.append({**entry, "new": False})
            covered.add(ident)
            log.warning(
                "kept the last archived state of %s %s%s: it could not be refreshed this time",
                "workflow" if entry["kind"] == "workflow" else "version",
                entry["workflowId"],
                f"@{entry['versionName']}" if entry["versionName"] else "",
                extra={"event": "carried-forward", "key": entry["key"]},
            )


def _snapshot_of(report: BackupReport, config: BackupConfig) -> dict[str, Any]:
    assert report.finished_at is not None
    return new_snapshot(
        snapshot_id=_layout.new_snapshot_id(report.finished_at),
        run_id=report.run_id,
        started_at=report.started_at,
        finished_at=report.finished_at,
        partition=report.partition,
        account=report.account,
        region=report.region,
        complete=not config.filtered,
        filters={
            "workflowIds": list(config.workflow_ids),
            "names": list(config.names),
            "tags": dict(config.tags),
        },
        bundles=report.bundles,
        skipped=report.skipped,
        failed=report.failed,
        quarantined=report.quarantined,
        stats=report.stats,
    )
