"""One drill: restore into the sandbox, check what the service holds, clean up, record.

The restore is the ordinary one (``archiver.restore.run_restore``) with the drill's names
(``drill-<id>-`` before each name, so a drill never collides with real workflows) and the sampled
workflows. Each created workflow and version is then read back from the service: status ACTIVE,
its definition exported and its SHA-256 compared with the bytes the restore sent, its parameter
template and README compared with the archived ones; each image it needs must be present in the
sandbox's ECR. What the drill created is deleted afterwards (versions first, then the
workflow; the ECR repositories its push created, and the images it pushed into repositories that
existed before), unless ``keep``; the record lists each deletion. Every check is a row of the
result; the drill passed only if every row did.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import _layout
from .._aws import OmicsApi
from .._download import Downloader
from .._errors import ArchiverError, ServiceError
from .._jsonutil import rfc3339
from .._version import __version__
from .._workdir import work_directory
from ..images import ecr_settings
from ..images._resolve import open_ecr_resolver
from ..restore import EcrMapping, ItemPlan, RestoreConfig, RestoreReport, resolve_view, run_restore
from ..store import Store
from ._record import drill_key, write_drill

__all__ = ["DrillConfig", "DrillReport", "run_drill"]

log = logging.getLogger("archiver.drill")


@dataclass(frozen=True, kw_only=True)
class DrillConfig:
    source_account: str | None = None
    source_region: str | None = None
    snapshot_id: str | None = None
    at: datetime | None = None
    sample: int | None = None
    seed: int | None = None
    keep: bool = False
    images: str = "require"  # as restore: require, push, allow-missing
    mapping: EcrMapping = field(default_factory=EcrMapping)
    rewrite_images: bool = False
    target_account: str | None = None
    wait_timeout: float = 900.0
    poll_interval: float = 3.0
    work_dir: Path | None = None


@dataclass(kw_only=True)
class DrillReport:
    id: str
    started_at: datetime
    finished_at: datetime | None = None
    key: str | None = None
    snapshots: tuple[str, ...] = ()
    source: dict[str, str] = field(default_factory=dict)
    target: dict[str, str] = field(default_factory=dict)
    workflows: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    cleanup: list[dict[str, Any]] = field(default_factory=list)
    restore: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.checks if not c["ok"])

    def check(self, workflow: str, name: str, ok: bool, detail: str | None = None) -> None:
        self.checks.append({"workflow": workflow, "check": name, "ok": ok, "detail": detail})
        if not ok:
            log.error(
                "drill check %s failed for %s: %s", name, workflow, detail, extra={"event": "drill-check"}
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": "omics-archiver-drill",
            "formatVersion": 1,
            "toolVersion": __version__,
            "id": self.id,
            "key": self.key,
            "startedAt": rfc3339(self.started_at),
            "finishedAt": rfc3339(self.finished_at) if self.finished_at else None,
            "ok": self.ok,
            "snapshots": list(self.snapshots),
            "source": dict(self.source),
            "target": dict(self.target),
            "workflows": list(self.workflows),
            "checks": list(self.checks),
            "failed": self.failed,
            "cleanup": list(self.cleanup),
            "restore": dict(self.restore),
        }


async def run_drill(api: OmicsApi, store: Store, config: DrillConfig) -> DrillReport:
    """Drill once; the result is recorded in ``store`` whatever happened (unless nothing was chosen)."""
    started = datetime.now(UTC)
    report = DrillReport(id=_layout.new_snapshot_id(started), started_at=started)
    base = RestoreConfig(
        source_account=config.source_account,
        source_region=config.source_region,
        snapshot_id=config.snapshot_id,
        at=config.at,
        select_all=True,
    )
    view = await resolve_view(store, base)
    report.snapshots = view.keys
    report.source = {"partition": view.partition, "account": view.account, "region": view.region}
    uuids = sorted({str(b["workflowUuid"]) for b in view.bundles})
    if config.sample is not None and config.sample < len(uuids):
        uuids = sorted(random.Random(config.seed).sample(uuids, config.sample))
    report.workflows = uuids
    restore_config = RestoreConfig(
        source_account=view.account,
        source_region=view.region,
        snapshot_id=config.snapshot_id,
        at=config.at,
        workflow_uuids=tuple(uuids),
        name_prefix=f"drill-{report.id[-8:]}-",
        adopt_earlier=False,  # every drill creates afresh: adopting a real restore would test nothing
        mapping=config.mapping,
        rewrite_images=config.rewrite_images,
        images=config.images,
        target_account=config.target_account,
        wait_timeout=config.wait_timeout,
        poll_interval=config.poll_interval,
        work_dir=config.work_dir,
    )
    restored: RestoreReport | None = None
    try:
        restored = await run_restore(api, store, restore_config)
        report.target = {"account": restored.target_account, "region": restored.target_region}
        report.restore = {
            "outcome": restored.outcome,
            "problems": restored.problems,
            "stats": restored.stats,
            "images": (restored.images or {}).get("push") or {},
        }
        if restored.problems:
            for problem in restored.problems:
                report.check("(restore)", "restore", False, problem)
        else:
            report.check("(restore)", "restore", restored.outcome == "ok", f"outcome {restored.outcome}")
            await _check_items(api, restored, report, config.work_dir)
    except ArchiverError as exc:
        report.check("(restore)", "restore", False, exc.message)
    finally:
        if restored is not None and not config.keep:
            await _clean_up(api, restored, report)
    report.finished_at = datetime.now(UTC)
    report.key = drill_key(view.partition, view.account, view.region, report.id)
    await write_drill(store, report.key, report.as_dict())
    return report


async def _check_items(
    api: OmicsApi, restored: RestoreReport, report: DrillReport, work_dir: Path | None
) -> None:
    images = (restored.images or {}).get("images") or []
    with work_directory("drill", work_dir) as tmp:
        async with Downloader(concurrency=4) as dl:
            for item in restored.items():
                if item.target_id is None and item.kind == "workflow":
                    report.check(item.label, "created", False, f"result {item.result}: {item.error}")
                    continue
                await _check_item(api, dl, item, report, Path(tmp), restored)
    for image in images:
        report.check(
            str(image["workflow"]),
            "image-present",
            bool(image["present"]),
            f"{image['target']}@{image['digest']}" + ("" if image["present"] else f": {image['reason']}"),
        )


async def _check_item(
    api: OmicsApi, dl: Downloader, item: ItemPlan, report: DrillReport, tmp: Path, restored: RestoreReport
) -> None:
    workflow_id = _workflow_id(item, restored)
    if workflow_id is None or item.result not in ("created", "skipped"):
        report.check(item.label, "created", False, f"result {item.result}: {item.error}")
        return
    try:
        if item.kind == "workflow":
            got = await api.get_workflow(workflow_id, export=True)
        else:
            assert item.version_name is not None
            got = await api.get_workflow_version(workflow_id, item.version_name, export=True)
    except ArchiverError as exc:
        report.check(item.label, "readable", False, exc.message)
        return
    report.check(item.label, "active", got.get("status") == "ACTIVE", f"status {got.get('status')}")
    try:
        definition = await dl.fetch(
            str(got.get("definition") or ""), tmp / "definition.zip", resource=item.label, what="definition"
        )
        sha = definition.sha256
        if definition.path is not None:
            definition.path.unlink(missing_ok=True)
        report.check(
            item.label,
            "definition-sha256",
            sha == item.definition_sha256,
            f"exported {sha}, restored {item.definition_sha256}",
        )
    except ArchiverError as exc:
        report.check(item.label, "definition-sha256", False, f"the export could not be read: {exc.message}")
    expected_template = item.params.get("parameterTemplate") or {}
    report.check(
        item.label,
        "parameter-template",
        (got.get("parameterTemplate") or {}) == expected_template,
        f"{len(expected_template)} parameters",
    )
    readme_expected = str(item.params.get("readmeMarkdown") or "")
    readme = b""
    try:
        if got.get("readme"):
            readme = await dl.fetch_bytes(
                str(got["readme"]), resource=item.label, what="README", limit=1 << 20
            )
        report.check(
            item.label,
            "readme",
            readme.decode("utf-8", "replace") == readme_expected,
            f"{len(readme)} bytes, {hashlib.sha256(readme).hexdigest()[:12]}",
        )
    except ArchiverError as exc:
        report.check(item.label, "readme", False, exc.message)


def _workflow_id(item: ItemPlan, restored: RestoreReport) -> str | None:
    if item.kind == "workflow":
        return item.target_id
    for plan in restored.workflows:
        if item in plan.versions:
            return plan.workflow.target_id
    return None


async def _clean_up(api: OmicsApi, restored: RestoreReport, report: DrillReport) -> None:
    """Delete what this drill created: versions (newest first), then workflows; pushed images."""
    for plan in restored.workflows:
        workflow_id = plan.workflow.target_id
        if workflow_id is None:
            continue
        for version in reversed(plan.versions):
            if version.result == "created":
                await _delete(
                    report,
                    version.label,
                    "DeleteWorkflowVersion",
                    api,
                    workflowId=workflow_id,
                    versionName=version.version_name,
                )
        if plan.workflow.result == "created":
            await _delete(report, plan.workflow.label, "DeleteWorkflow", api, id=workflow_id)
    pushed = {
        (i["target"], i["digest"]) for i in (restored.images or {}).get("images") or [] if i.get("pushed")
    }
    push = (restored.images or {}).get("push") or {}
    created = sorted({str(r) for r in push.get("createdRepositories") or []})
    if pushed or created:
        await _delete_images(api, restored, report, pushed, created)


async def _delete(report: DrillReport, label: str, operation: str, api: OmicsApi, **params: Any) -> None:
    for attempt in range(20):
        try:
            await api.call(operation, label, **params)
            report.cleanup.append({"what": label, "deleted": True, "error": None})
            return
        except ArchiverError as exc:
            if isinstance(exc, ServiceError) and exc.code == "ConflictException" and attempt < 19:
                await asyncio.sleep(0.5)  # still settling (UPDATING): try again
                continue
            report.cleanup.append({"what": label, "deleted": False, "error": exc.message})
            report.check(label, "cleanup", False, exc.message)
            return


async def _delete_images(
    api: OmicsApi,
    restored: RestoreReport,
    report: DrillReport,
    pushed: set[tuple[str, str]],
    created: list[str],
) -> None:
    """Delete the repositories the drill's push created (with what it pushed into them), and the
    images it pushed into repositories that were there before (by digest: each was missing before
    the push, so nothing that existed before the drill is touched)."""
    from ..images import parse_ecr

    async with open_ecr_resolver(ecr_settings(api.settings, restored.target_region)) as resolver:
        for reference, digest in sorted(pushed):
            target = parse_ecr(reference)
            if target is None or _repository_uri(target.account, target.region, target.repository) in created:
                continue  # goes with its repository
            what = f"image {reference}@{digest}"
            await _ecr_delete(
                resolver,
                report,
                what,
                "batch_delete_image",
                registryId=target.account,
                repositoryName=target.repository,
                imageIds=[{"imageDigest": digest}],
            )
        for uri in created:
            host, _, repository = uri.partition("/")
            await _ecr_delete(
                resolver,
                report,
                f"repository {uri}",
                "delete_repository",
                registryId=host.split(".", 1)[0],
                repositoryName=repository,
                force=True,
            )


def _repository_uri(account: str, region: str, repository: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"


async def _ecr_delete(resolver: Any, report: DrillReport, what: str, operation: str, **params: Any) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    error: str | None = None
    try:
        client = await resolver.client()
        answer = await getattr(client, operation)(**params)
        failures = answer.get("failures") or []
        if failures:
            error = "; ".join(str(f.get("failureReason") or f.get("failureCode")) for f in failures)[:300]
    except ClientError as exc:
        error = str(exc.response.get("Error", {}).get("Message") or exc)[:300]
    except BotoCoreError as exc:
        error = str(exc)[:300]
    except ArchiverError as exc:
        error = exc.message
    report.cleanup.append({"what": what, "deleted": error is None, "error": error})
    if error is not None:
        report.check(what, "cleanup", False, error)
