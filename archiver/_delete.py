"""Safe delete: remove a workflow and its versions only once their archive is proven good.

One run, for one workflow::

    backup (this workflow only) ─► each bundle of the run: download, verify, compare its manifest
    with the live workflow / version (uuid, digest) ─► what would block the service's delete
    (shares, statuses) ─► refuse? stop, delete nothing ─► confirm ─► re-check the live state and
    the blockers ─► DeleteWorkflowVersion each ─► DeleteWorkflow

Deletion is irreversible and the archive is the only way back, so every step before it must
succeed: a backup with any failure, skip or quarantine, a store that cannot be written (no
snapshot), a bundle that does not verify or does not describe what is live, a version that appeared
or changed since the backup: each refuses the delete, and nothing is deleted. So does anything
the service would refuse the workflow's deletion for, found before the versions are deleted (else
the workflow would be left without them): a share that is not DELETED (PENDING, ACTIVATING and
ACTIVE alike; the refusal names it and how to remove it), or a workflow or version that is not
ACTIVE or FAILED (CREATING, UPDATING: refused, not waited for; run delete again later). Reasons are
recorded in :attr:`DeleteReport.refused`. Versions go first, as the service requires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._aws import OmicsApi
from ._backup import BackupConfig, run_backup
from ._bundle import read_manifest, verify_bundle
from ._errors import ArchiverError, ResourceNotFound, ServiceError
from ._report import BackupReport
from ._workdir import work_directory
from .store import Store

__all__ = ["DeleteConfig", "DeleteReport", "run_delete"]

log = logging.getLogger("archiver.delete")


@dataclass(frozen=True, kw_only=True)
class DeleteConfig:
    """Which workflow, and how patiently to delete it (``DeleteWorkflow`` may need the versions gone)."""

    workflow_id: str
    account: str | None = None
    dry_run: bool = False
    work_dir: Path | None = None
    delete_timeout: float = 120.0
    poll_interval: float = 2.0


@dataclass(kw_only=True)
class DeleteReport:
    workflow_id: str
    dry_run: bool
    name: str = ""
    uuid: str = ""
    snapshot: str | None = None
    bundles: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    confirmed: bool | None = None
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    to_delete: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> Literal["ok", "refused", "declined", "partial"]:
        if self.refused:
            return "refused"
        if self.failed:
            return "partial"
        if self.confirmed is False:
            return "declined"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "dryRun": self.dry_run,
            "workflowId": self.workflow_id,
            "name": self.name,
            "uuid": self.uuid,
            "snapshot": self.snapshot,
            "bundles": self.bundles,
            "refused": self.refused,
            "confirmed": self.confirmed,
            "toDelete": self.to_delete,
            "deleted": self.deleted,
            "failed": self.failed,
        }


def _label(version: str | None) -> str:
    return "workflow" if version is None else f"version {version}"


async def _live(api: OmicsApi, workflow_id: str) -> dict[str | None, Mapping[str, Any]]:
    """The live workflow (key ``None``) and each version (by name): uuid, digest, status."""
    live: dict[str | None, Mapping[str, Any]] = {None: await api.get_workflow(workflow_id)}
    async for listed in api.list_workflow_versions(workflow_id):
        if listed.get("status") == "DELETED":
            continue  # deleted, still listed for a while
        name = str(listed["versionName"])
        live[name] = await api.get_workflow_version(workflow_id, name)
    return live


_DELETABLE = ("ACTIVE", "FAILED")


async def _blockers(api: OmicsApi, wf_id: str, live: Mapping[str | None, Mapping[str, Any]]) -> list[str]:
    """What the service would refuse the deletion for: statuses, and shares that are not DELETED."""
    out = []
    for name, item in sorted(live.items(), key=lambda kv: str(kv[0])):
        status = str(item.get("status", ""))
        if status not in _DELETABLE:
            out.append(
                f"{_label(name)} is {status}: the service deletes only ACTIVE or FAILED workflows and "
                "versions; run delete again once it is ACTIVE"
            )
    arn = str(live[None].get("arn", ""))
    async for share in api.list_shares(resource_owner="SELF", resource_arns=[arn]):
        if share.get("status") == "DELETED" or share.get("resourceArn", arn) != arn:
            continue
        share_id = str(share.get("shareId", ""))
        out.append(
            f"workflow {wf_id} is shared with account {share.get('principalSubscriber', '?')} "
            f"(share {share_id}, {share.get('status', '?')}) and the service deletes no workflow with "
            f"shares: remove it with `aws omics delete-share --share-id {share_id}`, wait until it "
            "is DELETED, then run delete again"
        )
    return out


async def _check_bundle(
    store: Store, entry: Mapping[str, Any], live: Mapping[str, Any] | None, scratch: Path
) -> list[str]:
    """Why this bundle does not prove the live item archived; ``[]`` when it does."""
    key = str(entry["key"])
    what = _label(entry.get("versionName"))
    if live is None:
        return [f"{what}: no longer exists, but the backup archived it"]
    path = scratch / "bundle.tar.zst"
    try:
        await store.download(key, path)
        problems = [f"{what}: bundle {key}: {p}" for p in await asyncio.to_thread(verify_bundle, path)]
        if problems:
            return problems
        manifest = await asyncio.to_thread(read_manifest, path)
    except ArchiverError as exc:
        return [f"{what}: bundle {key} cannot be read back: {exc.message}"]
    finally:
        path.unlink(missing_ok=True)
    source = manifest["source"]
    out = []
    for field_name in ("uuid", "digest"):
        if str(source.get(field_name)) != str(live.get(field_name)):
            out.append(f"{what}: the bundle's {field_name} {source.get(field_name)} is not the live one")
    if manifest.get("stateId") != entry.get("stateId"):
        out.append(f"{what}: bundle {key} holds state {manifest.get('stateId')}, not {entry.get('stateId')}")
    return out


async def _verify(
    api: OmicsApi,
    store: Store,
    config: DeleteConfig,
    backup: BackupReport,
    report: DeleteReport,
    scratch: Path,
) -> dict[str | None, Mapping[str, Any]]:
    wf_id = config.workflow_id
    for f in backup.failed:
        report.refused.append(
            f"the backup failed for {_label(f.get('versionName'))} at {f['stage']}: {f['error']}"
        )
    for q in backup.quarantined:
        report.refused.append(
            f"the backup quarantined {_label(q.get('versionName'))}: its metadata is invalid"
        )
    for s in backup.skipped:
        if str(s.get("workflowId")) == wf_id:
            report.refused.append(f"the backup skipped {_label(s.get('versionName'))} ({s.get('reason')})")
    if not config.dry_run and not backup.snapshot_key:
        report.refused.append("the backup wrote no snapshot")
    if report.refused:
        return {}
    live = await _live(api, wf_id)
    report.name, report.uuid = str(live[None].get("name", "")), str(live[None].get("uuid", ""))
    entries = {b.get("versionName"): b for b in backup.bundles if str(b["workflowId"]) == wf_id}
    for name in sorted(set(live) - set(entries), key=str):
        report.refused.append(f"{_label(name)} is live but has no bundle in this backup")
    for name, entry in sorted(entries.items(), key=lambda kv: str(kv[0])):
        row = {k: entry[k] for k in ("key", "kind", "versionName", "uuid", "digest", "stateId", "sha256")}
        if config.dry_run and entry.get("new"):
            row["verified"] = False
            row["note"] = "would be written by the backup"
        else:
            problems = await _check_bundle(store, entry, live.get(name), scratch)
            row["verified"] = not problems
            report.refused.extend(problems)
        report.bundles.append(row)
    report.to_delete = [_label(n) for n in sorted((n for n in live if n is not None), key=str)] + ["workflow"]
    report.refused.extend(await _blockers(api, wf_id, live))
    return live


async def _unchanged(
    api: OmicsApi, wf_id: str, verified: Mapping[str | None, Mapping[str, Any]]
) -> list[str]:
    """What changed in the live state since it was verified (new, gone or changed items), and
    what would now block the deletion (:func:`_blockers`)."""
    try:
        now = await _live(api, wf_id)
    except ResourceNotFound:
        return ["the workflow no longer exists"]
    changed = await _blockers(api, wf_id, now)
    for name in sorted(set(now) | set(verified), key=str):
        a, b = verified.get(name), now.get(name)
        if a is None or b is None or a.get("uuid") != b.get("uuid") or a.get("digest") != b.get("digest"):
            changed.append(f"{_label(name)} changed since the backup; back it up again")
    return changed


async def _delete_workflow(api: OmicsApi, config: DeleteConfig) -> None:
    """DeleteWorkflow, retried while the service still reports its versions (a ConflictException)."""
    deadline = time.monotonic() + config.delete_timeout
    while True:
        try:
            await api.call("DeleteWorkflow", f"workflow {config.workflow_id}", id=config.workflow_id)
            return
        except ServiceError as exc:
            if exc.code != "ConflictException" or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(config.poll_interval)


async def run_delete(
    api: OmicsApi,
    store: Store,
    config: DeleteConfig,
    *,
    confirm: Callable[[DeleteReport], bool] | None = None,
) -> DeleteReport:
    """Back up, verify and (unless refused, declined or a dry run) delete one workflow.

    ``confirm`` is asked (on a worker thread) after verification, with the report saying what will
    be deleted; ``None`` means confirmed.
    """
    report = await _run_delete(api, store, config, confirm)
    for reason in report.refused:
        log.error("not deleting workflow %s: %s", config.workflow_id, reason, extra={"event": "refused"})
    return report


async def _run_delete(
    api: OmicsApi, store: Store, config: DeleteConfig, confirm: Callable[[DeleteReport], bool] | None
) -> DeleteReport:
    wf_id = config.workflow_id
    report = DeleteReport(workflow_id=wf_id, dry_run=config.dry_run)
    # full: the copy a deletion relies on is read now, never confirmed by a listing alone
    backup_config = BackupConfig(
        workflow_ids=(wf_id,),
        account=config.account,
        dry_run=config.dry_run,
        work_dir=config.work_dir,
        full=True,
    )
    try:
        backup = await run_backup(api, store, backup_config)
    except ArchiverError as exc:
        report.refused.append(f"the backup failed: {exc.message}")
        return report
    report.snapshot = backup.snapshot_key
    with work_directory("delete", config.work_dir) as tmp:
        try:
            verified = await _verify(api, store, config, backup, report, Path(tmp))
        except ArchiverError as exc:
            report.refused.append(f"verification failed: {exc.message}")
            return report
    if report.refused or config.dry_run:
        return report
    if confirm is not None:
        report.confirmed = await asyncio.to_thread(confirm, report)
        if not report.confirmed:
            return report
    else:
        report.confirmed = True
    try:
        report.refused.extend(await _unchanged(api, wf_id, verified))
    except ArchiverError as exc:
        report.refused.append(f"cannot re-check the live state: {exc.message}")
    if report.refused:
        return report
    versions = sorted(
        (n for n in verified if n is not None), key=lambda n: str(verified[n].get("creationTime"))
    )
    for name in reversed(versions):
        try:
            await api.call(
                "DeleteWorkflowVersion",
                f"workflow {wf_id} version {name}",
                workflowId=wf_id,
                versionName=name,
            )
        except ArchiverError as exc:
            report.failed.append(f"version {name}: {exc.message}")
            log.error(
                "deletion of workflow %s stopped: %s", wf_id, exc.message, extra={"event": "delete-failed"}
            )
            return report
        report.deleted.append(f"version {name}")
        log.info("deleted workflow %s version %s", wf_id, name, extra={"event": "deleted"})
    try:
        await _delete_workflow(api, config)
    except ArchiverError as exc:
        report.failed.append(f"workflow: {exc.message}")
        log.error("deletion of workflow %s stopped: %s", wf_id, exc.message, extra={"event": "delete-failed"})
        return report
    report.deleted.append("workflow")
    log.info(
        "deleted workflow %s (%s); its archive is %s",
        wf_id,
        report.name,
        report.snapshot,
        extra={"event": "deleted"},
    )
    return report
