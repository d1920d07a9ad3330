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
from ._snapshot import AccountState, account_state, new_snapshot, write_snapshot
from ._workdir import work_directory
from .images import archive_images, ecr_settings, open_ecr_resolver
from .incremental import Sweep
from .store import Store
from .store._hotpath import deferred_dir_sync

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
    downloader: Downloader | None = None,
) -> BackupReport:
    """Back up one account and region into ``store``; return the run's report.

    Raises only when nothing sensible can be recorded (discovery or the snapshot failed);
    per-workflow failures are in the report. The run holds a backup lock marker from its first
    read of the store to its snapshot write, so that a prune never deletes what it relies on.
    With ``sharding`` (see ``_shard``), ``sharding.processes - 1`` worker processes share the
    workflows with this one, each paced at its share of the rates; this process alone discovers,
    merges their reports, and writes the snapshot. ``downloader``: one shared by many runs (the
    targets of an org-wide backup), so that their downloads share one bound; default: the run's own.
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
        identity = await _identity(api, config)
        report.partition, report.account, report.region = (
            identity.partition,
            identity.account,
            identity.region,
        )
        target = (identity.partition, identity.account, identity.region)
        async with backup_lock(
            store, run_id=run_id, target=target, wait=config.lock_wait, enabled=not config.dry_run
        ):
            # Bundles' directory entries are made durable in one pass before the snapshot names
            # them, not one fsync per directory per bundle (docs/format.md, "Durability").
            async with deferred_dir_sync(store) as dir_sync:
                previous = await _run(
                    api, store, config, report, progress, sharding, workers, identity, downloader
                )
                if not config.dry_run:
                    await dir_sync(str(b["key"]) for b in report.bundles if b.get("new"))
            report.api = {"throttled": api.throttles, "retried": api.retries}
            if api.throttles:
                log.info(
                    "%d API calls were throttled and retried; pacing slowed down accordingly",
                    api.throttles,
                    extra={"event": "throttled", **api.limiter.statistics().throttled},
                )
            _carry_forward(report, previous)
            if config.images == "copy" and not config.dry_run:
                report.images = await _copy_images(api, store, config, report, previous)
            if not config.filtered:
                _find_vanished(report, previous)
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
    identity: CallerIdentity,
    downloader: Downloader | None = None,
) -> AccountState:
    """Run the pipeline; return what the archive held of the account and region before."""
    with work_directory("archiver", config.work_dir, sweep=config.sweep_work_dir) as tmp:
        async with (
            (
                contextlib.nullcontext(downloader)
                if downloader is not None
                else Downloader(concurrency=config.download_concurrency)
            ) as dl,
            open_ecr_resolver(ecr_settings(api.settings, api.region)) as images,
        ):
            pipeline = Pipeline(api, store, config, dl, images=images)
            # a DELETED workflow may still be listed for a while: it is gone (vanished), not ours to back up
            listed = [w async for w in api.list_workflows() if w.get("status") != "DELETED"]
            previous = await account_state(
                store, partition=identity.partition, account=identity.account, region=identity.region
            )
            known = {str(b["key"]): dict(b) for b in previous.bundles}
            pipeline.run = RunState(
                report=report,
                identity=identity,
                known=known,
                work=Path(tmp),
                progress=progress,
                sweep=Sweep(night=previous.night, full_every=config.full_every, full=config.full),
            )
            report.sweep = pipeline.run.sweep.as_dict()
            shared = await pipeline.shared_with_us()
            selected: list[Mapping[str, Any]] = []
            for item in listed:
                wf_id = str(item.get("id"))
                owner = str(item.get("arn", "")).split(":")[4] if item.get("arn") else identity.account
                if item.get("type", "PRIVATE") != "PRIVATE":
                    continue  # Ready2Run workflows are AWS's, not ours to back up
                if owner != identity.account or wf_id in shared:
                    if wf_id not in shared:
                        pipeline.skip_shared(wf_id, str(item.get("name", "")), owner)
                    continue
                if pipeline.wanted(item):
                    selected.append(item)
            report.listed = {
                str(w.get("id")): str(w.get("name", ""))
                for w in listed
                if w.get("type", "PRIVATE") == "PRIVATE"
            }
            report.found["workflows"] = len(selected)
            pipeline.run.changed()
            await _dispatch(api, pipeline, selected, sharding, workers)
            for wanted in config.workflow_ids:
                if not any(str(w.get("id")) == wanted for w in listed):
                    pipeline.fail(
                        Item("workflow", wanted, ""),
                        "discover",
                        ResourceNotFound(f"workflow {wanted} was not found", operation="ListWorkflows"),
                    )
    return previous


async def _identity(api: OmicsApi, config: BackupConfig) -> CallerIdentity:
    """Whose workflows these are: from ``--account-id``, else from STS (the lock is per target)."""
    if config.account:
        return CallerIdentity(partition=partition_of(api.region), account=config.account, region=api.region)
    return await api.caller_identity()


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


async def _copy_images(
    api: OmicsApi, store: Store, config: BackupConfig, report: BackupReport, previous: AccountState
) -> dict[str, Any]:
    """``--images copy``: archive the images the snapshot's bundles name (``archiver.images``)."""
    with work_directory("archiver-images", config.work_dir, sweep=config.sweep_work_dir) as tmp:
        return await archive_images(
            store,
            ecr_settings(api.settings, api.region),
            report.bundles,
            {str(b["key"]): b for b in previous.bundles},
            Path(tmp),
        )


def _carry_forward(report: BackupReport, previous: AccountState) -> None:
    """Keep the last good bundles of what failed this time in the new snapshot.

    A workflow that failed tonight (a transient error, a quarantine) still exists in the account;
    its newest archived state is the best record of it. Listing those bundles again means that the
    latest snapshot still restores it and that a prune keeping only that snapshot cannot delete its
    only backup. The ``failed`` entries say that it could not be refreshed. The last good state
    comes from :func:`~archiver._snapshot.account_state`: the newest complete snapshot with newer
    filtered ones laid over it, never a filtered snapshot alone.
    """
    if not report.failed:
        return
    failed_ids = {f["workflowId"] for f in report.failed}
    covered = {(b["workflowId"], b["kind"], b["versionName"]) for b in report.bundles}
    for entry in previous.bundles:
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


def _find_vanished(report: BackupReport, previous: AccountState) -> None:
    """Name every workflow the archive knew that the account no longer lists.

    A deleted workflow is expected now and then; a run that finds none of the workflows of the
    previous complete snapshot is what a wrong account, region or set of credentials looks like,
    and must not pass as a success (the report's outcome is then ``partial``).
    """
    gone = sorted(set(previous.workflows) - set(report.listed), key=lambda w: (len(w), w))
    for wf_id in gone:
        name = previous.workflows[wf_id]
        log.warning(
            "workflow %s (%s) was archived before but the account no longer lists it",
            wf_id,
            name,
            extra={"event": "vanished", "workflowId": wf_id, "workflowName": name},
        )
        report.vanished.append({"workflowId": wf_id, "name": name})
    if previous.complete is not None:
        before = {str(b["workflowId"]) for b in previous.complete["bundles"]}
        report.everything_vanished = bool(before) and not (before & set(report.listed))
        if report.everything_vanished:
            log.error(
                "none of the %d workflows of the previous complete snapshot is listed any more: check "
                "the account, region and credentials",
                len(before),
                extra={"event": "everything-vanished"},
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
        skipped=report.skipped
        + [
            {
                "workflowId": v["workflowId"],
                "name": v["name"],
                "owner": None,
                "versionName": None,
                "reason": "vanished",
            }
            for v in report.vanished
        ],
        failed=report.failed,
        quarantined=report.quarantined,
        stats=report.stats,
        sweep=report.sweep,
        images=report.images,
    )
