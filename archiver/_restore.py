"""Restore and migration: recreate archived workflows and versions in a target account and region.

One run::

    resolve the snapshot view ─► plan (read bundles, rewrite, check sizes and tags) ─► problems? stop
        ─► find earlier restores in the target (provenance tags) ─► conflicts? stop ─► dry run? stop
        ─► per workflow: CreateWorkflow ─► wait ACTIVE ─► CreateWorkflowVersion in creation order
           ─► wait ACTIVE ─► remove staged definitions

Nothing is created until the whole plan is known to be sound. Each create carries a requestId
derived from its bundle and target (:func:`archiver._restore_plan.request_id`), so a retried call,
or the rerun of a run killed at any point, is answered with what the first call created, and
provenance tags (``omics-archiver:source-uuid``, ``omics-archiver:bundle``...) by
which a rerun recognises what an earlier run created and skips it. Workflows are restored
concurrently (``workflow_concurrency``); the versions of one workflow are created one after the
other, oldest first, so the target lists them in the source's order. A failure stops the rest of
that workflow only. Definitions over the inline limit are staged in S3 in the target region and
the staged object is deleted once the service has taken it (or the create failed).

The service's reads lag its writes: right after a create, a Get may answer 404 and a List may miss
the new resource. A 404 after a create is waited out (up to ``wait_timeout``), never read as
"deleted"; only a status DELETED is. A rerun that does not see an earlier run's resources yet
creates them again with the same requestIds, which the service answers with the earlier ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aiobotocore.session import AioSession
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ._aws import OmicsApi, translate_client_error
from ._errors import ArchiverError, ResourceNotFound, RestoreError, ServiceError, UsageError
from ._restore_plan import (
    ItemPlan,
    RestoreConfig,
    SnapshotView,
    Staging,
    WorkflowPlan,
    matches_bundle,
    plan_restore,
    request_id,
    resolve_view,
)
from ._workdir import work_directory
from .images import ecr_settings, prepare_images
from .store import Store

__all__ = ["RestoreReport", "run_restore"]

log = logging.getLogger("archiver.restore")

_PENDING = {"CREATING", "UPDATING"}
_PART_SIZE = 16 * 1024 * 1024
_REQUEST_ATTEMPTS = 4


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(size)


@dataclass(kw_only=True)
class RestoreReport:
    """What a restore planned and did; the CLI prints it and picks the exit code from :attr:`outcome`."""

    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    snapshots: tuple[str, ...] = ()
    source: dict[str, str] = field(default_factory=dict)
    target_account: str = ""
    target_region: str = ""
    workflows: list[WorkflowPlan] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    images: dict[str, Any] | None = None  # restore readiness (archiver.images._readiness)

    def items(self) -> list[ItemPlan]:
        return [i for w in self.workflows for i in w.items()]

    @property
    def outcome(self) -> Literal["ok", "partial", "failed"]:
        if self.problems:
            return "failed"
        failed = [i for i in self.items() if i.result in ("failed", "not-attempted")]
        if not failed:
            return "ok"
        return "partial" if any(i.result in ("created", "skipped") for i in self.items()) else "failed"

    @property
    def stats(self) -> dict[str, int]:
        items = self.items()

        def count(kind: str, result: str) -> int:
            return sum(1 for i in items if i.kind == kind and i.result == result)

        return {
            "workflowsPlanned": sum(1 for i in items if i.kind == "workflow" and i.action == "create"),
            "versionsPlanned": sum(1 for i in items if i.kind == "workflow-version" and i.action == "create"),
            "workflowsCreated": count("workflow", "created"),
            "versionsCreated": count("workflow-version", "created"),
            "workflowsSkipped": count("workflow", "skipped")
            + sum(1 for i in items if i.kind == "workflow" and self.dry_run and i.action != "create"),
            "versionsSkipped": count("workflow-version", "skipped")
            + sum(1 for i in items if i.kind == "workflow-version" and self.dry_run and i.action != "create"),
            "failed": sum(1 for i in items if i.result == "failed"),
            "notAttempted": sum(1 for i in items if i.result == "not-attempted"),
            "staged": sum(1 for i in items if i.staged_key and i.action == "create"),
            "rewrites": sum(len(i.rewrites) for i in items),
            "warnings": sum(len(i.warnings) for i in items),
        }

    def as_dict(self) -> dict[str, Any]:
        def ts(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "outcome": self.outcome,
            "dryRun": self.dry_run,
            "startedAt": ts(self.started_at),
            "finishedAt": ts(self.finished_at),
            "snapshots": list(self.snapshots),
            "source": dict(self.source),
            "target": {"account": self.target_account, "region": self.target_region},
            "stats": self.stats,
            "problems": list(self.problems),
            "images": self.images,
            "workflows": [
                {"workflow": w.workflow.as_dict(), "versions": [v.as_dict() for v in w.versions]}
                for w in self.workflows
            ],
        }


# -- finding earlier restores -----------------------------------------------------------------------


async def _tags(api: OmicsApi, arn: str) -> dict[str, str] | None:
    """The resource's tags; ``None`` when the service does not answer for it (yet, or any more)."""
    try:
        response = await api.call("ListTagsForResource", arn, resourceArn=arn)
    except ResourceNotFound:
        return None
    return {str(k): str(v) for k, v in (response.get("tags") or {}).items()}


async def _tagged(
    api: OmicsApi, listed: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, str] | None]]:
    """Each listed resource that is not DELETED, with its tags (paced, fetched concurrently)."""
    sem = asyncio.Semaphore(8)

    async def one(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str] | None]:
        async with sem:
            return item, await _tags(api, str(item["arn"]))

    live = [i for i in listed if i.get("arn") and i.get("status") != "DELETED"]
    return list(await asyncio.gather(*(one(i) for i in live)))


async def find_earlier_restores(api: OmicsApi, plans: list[WorkflowPlan]) -> list[str]:
    """Mark the items an earlier run already created (``skip``, or ``wait`` if not ACTIVE yet).

    Looks at every private workflow of the target through its provenance tags. Returns conflicts:
    a version name already taken in a restored workflow by a version of other provenance.

    The service's lists may lag: what an earlier run created may be missing, or its tags
    unreadable, for a while. Such an item is planned as a create again; its requestId is the
    earlier one, so the service answers with what it created then (or refuses a version name
    taken by another resource), and nothing is created twice.
    """
    if not plans:
        return []
    listed = [w async for w in api.list_workflows()]
    found = [
        (w, t)
        for w, t in await _tagged(api, listed)
        if t is not None and any(k.startswith("omics-archiver:") for k in t)
    ]
    conflicts: list[str] = []
    for plan in plans:
        wf = plan.workflow
        hits = sorted((w for w, tags in found if matches_bundle(tags, wf.entry)), key=lambda w: str(w["id"]))
        if not hits:
            continue
        _adopt(wf, hits[0])
        if len(hits) > 1:
            wf.warnings.append(f"restored more than once: workflows {', '.join(str(h['id']) for h in hits)}")
        versions = [v async for v in api.list_workflow_versions(str(wf.target_id))]
        tagged = await _tagged(api, versions)
        for item in plan.versions:
            same = [v for v, tags in tagged if tags is not None and matches_bundle(tags, item.entry)]
            if same:
                _adopt(item, same[0])
            elif any(
                str(v.get("versionName")) == item.version_name and tags is not None for v, tags in tagged
            ):
                conflicts.append(
                    f"{item.label}: workflow {wf.target_id} in the target already has a version "
                    f"{item.version_name} that was not restored from this bundle"
                )
    return conflicts


def _adopt(item: ItemPlan, listed: Mapping[str, Any]) -> None:
    item.target_id = str(listed.get("id") or listed.get("workflowId"))
    item.target_arn = str(listed.get("arn"))
    item.action = "skip" if listed.get("status") == "ACTIVE" else "wait"


# -- staging ----------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _open_s3(staging: Staging, region: str) -> AsyncIterator[Any]:
    try:
        session = AioSession(profile=staging.profile)
    except BotoCoreError as exc:
        raise UsageError(f"cannot use AWS profile {staging.profile!r} for the staging bucket: {exc}") from exc
    config = Config(retries={"mode": "standard", "total_max_attempts": 8}, user_agent_extra="omics-archiver")
    async with session.create_client(
        "s3", region_name=staging.region or region, endpoint_url=staging.endpoint_url, config=config
    ) as client:
        yield client


class _Stager:
    """Uploads definitions to the staging bucket and removes them again."""

    def __init__(self, client: Any, staging: Staging) -> None:
        self.client = client
        self.staging = staging
        self.live: set[str] = set()

    def _owner(self) -> dict[str, str]:
        return {"ExpectedBucketOwner": self.staging.owner_id} if self.staging.owner_id else {}

    async def put(self, key: str, path: Path) -> str:
        """Upload ``path`` under ``key``: one PUT up to one part's size, else a multipart upload."""
        self.live.add(key)
        size = (await asyncio.to_thread(path.stat)).st_size
        try:
            if size <= _PART_SIZE:
                body = await asyncio.to_thread(path.read_bytes)
                await self.client.put_object(
                    Bucket=self.staging.bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/zip",
                    **self._owner(),
                )
            else:
                await self._multipart(key, path, size)
        except (ClientError, BotoCoreError) as exc:
            raise translate_client_error(exc, "PutObject", self.staging.uri(key)) from exc
        log.info("staged a definition at %s", self.staging.uri(key), extra={"event": "staged", "key": key})
        return self.staging.uri(key)

    async def _multipart(self, key: str, path: Path, size: int) -> None:
        """Memory holds one part at a time."""
        bucket = self.staging.bucket
        started = await self.client.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType="application/zip", **self._owner()
        )
        upload_id = started["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            for number, offset in enumerate(range(0, size, _PART_SIZE), start=1):
                chunk = await asyncio.to_thread(_read_at, path, offset, _PART_SIZE)
                done = await self.client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk, **self._owner()
                )
                parts.append({"PartNumber": number, "ETag": done["ETag"]})
            await self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **self._owner()
            )
        except BaseException:
            with contextlib.suppress(ClientError, BotoCoreError):
                await self.client.abort_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, **self._owner()
                )
            raise

    async def remove(self, key: str) -> None:
        if key not in self.live:
            return
        try:
            await self.client.delete_object(Bucket=self.staging.bucket, Key=key, **self._owner())
        except (ClientError, BotoCoreError) as exc:
            log.error(
                "could not remove the staged definition %s: %s; delete it by hand",
                self.staging.uri(key),
                translate_client_error(exc, "DeleteObject").message,
                extra={"event": "staging-left", "key": key},
            )
            return
        self.live.discard(key)
        log.info("removed the staged definition %s", self.staging.uri(key), extra={"event": "unstaged"})

    async def remove_all(self) -> None:
        for key in sorted(self.live):
            await self.remove(key)


# -- creating ---------------------------------------------------------------------------------------


class _Restorer:
    def __init__(self, api: OmicsApi, config: RestoreConfig, stager: _Stager | None) -> None:
        self.api = api
        self.config = config
        self.stager = stager
        self.sem = asyncio.Semaphore(config.workflow_concurrency)

    async def workflow(self, plan: WorkflowPlan) -> None:
        async with self.sem:
            wf = plan.workflow
            if not await self._guard(wf, self._workflow_item(wf)):
                for v in plan.versions:
                    v.result = "not-attempted"
                    v.error = f"workflow {wf.name} was not restored"
                return
            created: list[ItemPlan] = []
            for i, item in enumerate(plan.versions):
                if item.action == "skip":
                    item.result = "skipped"
                    continue
                ok = await self._guard(item, self._create_version(item, str(wf.target_id)))
                if not ok:
                    for later in plan.versions[i + 1 :]:
                        if later.action != "skip":
                            later.result = "not-attempted"
                            later.error = f"version {item.version_name} before it failed"
                    break
                created.append(item)
            await asyncio.gather(*(self._guard(item, self._settle(item)) for item in created))

    async def _guard(self, item: ItemPlan, work: Any) -> bool:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except ArchiverError as exc:
            item.result = "failed"
            item.error = exc.message
            log.error(
                "failed to restore %s: %s",
                item.label,
                exc.message,
                extra={"event": "failed", "bundle": item.entry["key"]},
            )
            return False
        return True

    async def _workflow_item(self, item: ItemPlan) -> None:
        if item.action == "skip":
            item.result = "skipped"
            log.info(
                "%s was restored before as workflow %s",
                item.label,
                item.target_id,
                extra={"event": "skipped"},
            )
            return
        if item.action == "create":
            await self._create(item, "CreateWorkflow", {})
        await self._settle(item)

    async def _create_version(self, item: ItemPlan, workflow_id: str) -> None:
        if item.action == "create":
            await self._create(item, "CreateWorkflowVersion", {"workflowId": workflow_id})
        else:
            item.target_id = workflow_id

    async def _settle(self, item: ItemPlan) -> None:
        """Wait until ACTIVE, then remove the staged definition (also when it failed)."""
        try:
            await self._wait(item)
        finally:
            if self.stager is not None and item.staged_key:
                await self.stager.remove(item.staged_key)
        if item.result == "planned":
            item.result = "created" if item.action == "create" else "skipped"

    async def _create(self, item: ItemPlan, operation: str, extra: dict[str, Any]) -> dict[str, Any]:
        assert item.definition is not None
        params: dict[str, Any] = {**item.params, **extra}
        staging = self.config.staging
        if item.staged_key:
            assert self.stager is not None and staging is not None
            params["definitionUri"] = await self.stager.put(item.staged_key, item.definition)
            if staging.owner_id:
                params["workflowBucketOwnerId"] = staging.owner_id
        else:
            params["definitionZip"] = await asyncio.to_thread(item.definition.read_bytes)
        try:
            response = await self._call_create(item, operation, params)
        except ServiceError:
            if self.stager is not None and item.staged_key:
                await self.stager.remove(item.staged_key)
            raise
        log.info(
            "created %s as %s",
            item.label,
            item.target_arn,
            extra={"event": "created", "bundle": item.entry["key"], "requestId": item.request_id},
        )
        return response

    async def _call_create(self, item: ItemPlan, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Create, with a fresh requestId when the service answers with a resource deleted since.

        The service remembers a requestId and answers a repeated create (a retry, a rerun) with the
        first one's result. Only if what it names reads as DELETED (an earlier restore was deleted)
        is the next requestId of a deterministic series used, so reruns stay idempotent. A 404 is
        the service's lag after a create and is waited out (:meth:`_visible`).
        """
        base = item.request_id
        for attempt in range(_REQUEST_ATTEMPTS):
            if attempt:
                item.request_id = str(uuid.uuid5(uuid.UUID(base), str(attempt)))
            response = await self.api.call(operation, item.label, **{**params, "requestId": item.request_id})
            item.target_arn = str(response.get("arn", ""))
            item.target_uuid = str(response.get("uuid", "")) or None
            item.target_id = str(response.get("id") or params.get("workflowId"))
            got = await self._visible(item, time.monotonic() + self.config.wait_timeout)
            if got.get("status") == "DELETED":
                log.info(
                    "requestId %s named %s, which was deleted since; creating with the next one",
                    item.request_id,
                    item.target_arn,
                    extra={"event": "request-id-reused"},
                )
                continue
            return response
        raise RestoreError(
            f"{item.label}: the service keeps answering with resources that no longer exist",
            workflow=item.target_id,
        )

    async def _get(self, item: ItemPlan) -> dict[str, Any]:
        if item.version_name is None:
            return await self.api.get_workflow(str(item.target_id))
        return await self.api.get_workflow_version(str(item.target_id), item.version_name)

    async def _visible(self, item: ItemPlan, deadline: float) -> dict[str, Any]:
        """Get the item; a 404 (the service's reads lag its creates) is waited out until ``deadline``."""
        while True:
            try:
                return await self._get(item)
            except ResourceNotFound as exc:
                if time.monotonic() >= deadline:
                    raise RestoreError(
                        f"{item.label}: {item.target_arn} (requestId {item.request_id}) was created but "
                        f"the service still answers {exc.code or 'not found'} after "
                        f"{self.config.wait_timeout:g} s; rerun the restore later (it reuses the same "
                        "requestIds and creates nothing twice)",
                        workflow=item.target_id,
                    ) from exc
            await asyncio.sleep(self.config.poll_interval)

    async def _wait(self, item: ItemPlan) -> None:
        deadline = time.monotonic() + self.config.wait_timeout
        while True:
            got = await self._visible(item, deadline)
            status = str(got.get("status", ""))
            item.target_uuid = str(got.get("uuid", "")) or item.target_uuid
            item.target_arn = str(got.get("arn", "")) or item.target_arn
            if status == "ACTIVE":
                return
            if status == "FAILED":
                item.status_message = str(got.get("statusMessage") or "")
                raise RestoreError(
                    f"{item.label}: the service reports FAILED: {item.status_message or 'no status message'}",
                    workflow=item.target_id,
                )
            if status == "DELETED":
                raise RestoreError(
                    f"{item.label}: {item.target_arn} was deleted while it was being restored",
                    workflow=item.target_id,
                )
            if status not in _PENDING:
                raise RestoreError(f"{item.label}: unexpected status {status}", workflow=item.target_id)
            if time.monotonic() >= deadline:
                raise RestoreError(
                    f"{item.label}: still {status} after {self.config.wait_timeout:g} s; rerun the restore "
                    "later to wait for it again (nothing will be created twice)",
                    workflow=item.target_id,
                )
            await asyncio.sleep(self.config.poll_interval)


# -- the run ----------------------------------------------------------------------------------------


async def run_restore(api: OmicsApi, store: Store, config: RestoreConfig) -> RestoreReport:
    """Plan and (unless ``dry_run``) carry out a restore into ``api``'s account and region.

    Raises only when nothing can be planned (no snapshot, bad selection); every problem found while
    planning is in the report's ``problems`` and means nothing was created.
    """
    report = RestoreReport(dry_run=config.dry_run, started_at=datetime.now(UTC))
    view: SnapshotView = await resolve_view(store, config)
    report.snapshots = view.keys
    report.source = {"partition": view.partition, "account": view.account, "region": view.region}
    target_account = config.target_account or (await api.caller_identity()).account
    report.target_account, report.target_region = target_account, api.region
    with work_directory("restore", config.work_dir) as tmp:
        plans, problems = await plan_restore(
            store, config, view, work=Path(tmp), target_account=target_account, target_region=api.region
        )
        report.workflows = plans
        report.problems.extend(problems)
        for item in report.items():
            for warning in item.warnings:
                log.warning("%s: %s", item.label, warning, extra={"event": "plan-warning"})
        if not report.problems:
            report.problems.extend(await find_earlier_restores(api, plans))
        if not report.problems:
            report.problems.extend(await _images(api, store, config, report))
        if report.problems or config.dry_run:
            report.finished_at = datetime.now(UTC)
            return report
        await _execute(api, config, plans)
    report.finished_at = datetime.now(UTC)
    return report


async def _images(api: OmicsApi, store: Store, config: RestoreConfig, report: RestoreReport) -> list[str]:
    """Are the images there (and pushed, with --push-images)? See archiver.images._readiness."""
    account, region = report.target_account, report.target_region

    def reissue(item: ItemPlan) -> None:
        item.request_id = request_id(item, account, region)
        if item.staged_key and config.staging is not None:
            item.staged_key = config.staging.key(item.request_id)

    readiness, problems = await prepare_images(
        store,
        [i for i in report.items() if i.action == "create"],
        policy=config.images,
        dry_run=config.dry_run,
        rewrite_images=config.rewrite_images,
        map_uri=config.mapping.map_uri,
        settings=ecr_settings(api.settings, region),
        target_account=account,
        reissue=reissue,
    )
    report.images = readiness.as_dict()
    return problems


async def _execute(api: OmicsApi, config: RestoreConfig, plans: list[WorkflowPlan]) -> None:
    needs_staging = any(i.staged_key and i.action == "create" for p in plans for i in p.items())
    async with contextlib.AsyncExitStack() as stack:
        stager: _Stager | None = None
        if needs_staging and config.staging is not None:
            client = await stack.enter_async_context(_open_s3(config.staging, api.region))
            stager = _Stager(client, config.staging)
            stack.push_async_callback(stager.remove_all)
        restorer = _Restorer(api, config, stager)
        async with asyncio.TaskGroup() as tg:
            for plan in plans:
                tg.create_task(restorer.workflow(plan))
