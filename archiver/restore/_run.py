"""Restore and migration: recreate archived workflows and versions in a target account and region.

One run::

    resolve the snapshot view ─► plan (read bundles, rewrite, check sizes and tags) ─► problems? stop
        ─► find earlier restores in the target (provenance tags) ─► conflicts? stop ─► dry run? stop
        ─► per workflow: CreateWorkflow ─► wait ACTIVE ─► CreateWorkflowVersion in creation order
           ─► wait ACTIVE ─► remove staged definitions

Nothing is created until the whole plan is known to be sound. Each create carries a requestId
derived from its bundle and target (:func:`archiver.restore._plan.request_id`), so a retried call,
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

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .._aws import OmicsApi, new_session, translate_client_error
from .._errors import ArchiverError, ResourceNotFound, RestoreError, ServiceError, UsageError
from .._slots import Slots
from .._workdir import work_directory
from ..images import ecr_settings, prepare_images
from ..store import Store
from ._board import Board
from ._plan import (
    ItemPlan,
    RestoreConfig,
    SnapshotView,
    Staging,
    WorkflowPlan,
    bundle_reads,
    matches_bundle,
    plan_restore,
    request_id,
    resolve_view,
    select,
    selection,
    target_name,
)
from ._read import BundleReads

__all__ = ["RestoreReport", "run_restore"]

log = logging.getLogger("archiver.restore")

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

_DISCOVERY_CONCURRENCY = 16


class _Target:
    """Reads of the target account, each made at most once a run and shared by whoever needs it.

    The reads start while the plan is still being made (:func:`_prefetch`), so the calls that find
    earlier restores overlap the reading of bundles instead of following it.
    """

    def __init__(self, api: OmicsApi) -> None:
        self.api = api
        # one bound per operation: each is paced at its own quota, so tag reads queued behind
        # the pacer must not hold back the version listings (they would run one after the other)
        self.tag_slots = Slots(_DISCOVERY_CONCURRENCY)
        self.version_slots = Slots(_DISCOVERY_CONCURRENCY)
        self._workflows: asyncio.Task[list[dict[str, Any]]] | None = None
        self._tags: dict[str, asyncio.Task[dict[str, str] | None]] = {}
        self._versions: dict[str, asyncio.Task[list[dict[str, Any]]]] = {}

    def workflows(self) -> asyncio.Task[list[dict[str, Any]]]:
        if self._workflows is None:
            self._workflows = asyncio.ensure_future(self._list_workflows())
        return self._workflows

    async def _list_workflows(self) -> list[dict[str, Any]]:
        return [w async for w in self.api.list_workflows()]

    async def live(self) -> list[dict[str, Any]]:
        listed = await self.workflows()
        return [w for w in listed if w.get("arn") and w.get("id") and w.get("status") != "DELETED"]

    def tags(self, arn: str) -> asyncio.Task[dict[str, str] | None]:
        """The resource's tags; ``None`` when the service does not answer for it (yet, or any more)."""
        if arn not in self._tags:
            self._tags[arn] = asyncio.ensure_future(self._read_tags(arn))
        return self._tags[arn]

    async def _read_tags(self, arn: str) -> dict[str, str] | None:
        async with self.tag_slots:
            try:
                response = await self.api.call("ListTagsForResource", arn, resourceArn=arn)
            except ResourceNotFound:
                return None
        return {str(k): str(v) for k, v in (response.get("tags") or {}).items()}

    def versions(self, workflow_id: str) -> asyncio.Task[list[dict[str, Any]]]:
        if workflow_id not in self._versions:
            self._versions[workflow_id] = asyncio.ensure_future(self._list_versions(workflow_id))
        return self._versions[workflow_id]

    async def _list_versions(self, workflow_id: str) -> list[dict[str, Any]]:
        async with self.version_slots:
            try:
                return [v async for v in self.api.list_workflow_versions(workflow_id)]
            except ResourceNotFound:
                return []  # listed, but its versions not readable yet (the lag): create, same requestIds

    async def close(self) -> None:
        started = (self._workflows, *self._tags.values(), *self._versions.values())
        tasks = [t for t in started if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _candidates(
    live: list[dict[str, Any]], name: str, digests: frozenset[str], provenance: bool
) -> list[dict[str, Any]]:
    """The listed workflows that could be an earlier restore: with provenance tags to confirm it,
    those of the planned name or a digest the copy would have; without, those with both."""
    out = []
    for listed in live:
        same_name, same_digest = listed.get("name") == name, listed.get("digest") in digests
        if (same_name or same_digest) if provenance else (same_name and same_digest):
            out.append(listed)
    return out


async def _restored_as(
    target: _Target, entry: Mapping[str, Any], candidates: list[dict[str, Any]], provenance: bool
) -> list[dict[str, Any]]:
    """The candidates that are restores of ``entry``'s bundle (by their provenance tags if used)."""
    if not provenance:
        return candidates
    tagged = await asyncio.gather(*(target.tags(str(w["arn"])) for w in candidates))
    pairs = zip(candidates, tagged, strict=True)
    return [w for w, tags in pairs if tags and matches_bundle(tags, entry)]


async def _prefetch(target: _Target, groups: list[list[Mapping[str, Any]]], config: RestoreConfig) -> None:
    """While the plan is made: the reads :func:`find_earlier_restores` will want, from the snapshot
    entries alone (the planned name and the source's digest)."""
    live = await target.live()

    async def one(head: Mapping[str, Any]) -> None:
        name = target_name(str(head["name"]), config)
        found = _candidates(live, name, frozenset({str(head["digest"])}), config.provenance_tags)
        for hit in await _restored_as(target, head, found, config.provenance_tags):
            await target.versions(str(hit["id"]))

    await asyncio.gather(*(one(group[0]) for group in groups))


async def find_earlier_restores(
    target: _Target, plans: list[WorkflowPlan], *, provenance: bool = True
) -> list[str]:
    """Mark the items an earlier run already created (``skip``, or ``wait`` if not ACTIVE yet).

    Calls: the ListWorkflows pages; then, for each listed workflow that could be an earlier
    restore of a planned one (the planned name, or a digest the restored copy would have),
    ListTagsForResource once (its provenance tags say which bundle it was restored from) and, if
    it is one, its ListWorkflowVersions pages. A version is recognised by name and digest as
    listed; only a version of the planned name with another digest has its tags read, to tell an
    earlier restore from a version someone else made (a conflict). Without provenance tags
    (``provenance=False``) a workflow is recognised by name and digest alone.

    Returns conflicts: a version name already taken in a restored workflow by a version of other
    provenance. The service's lists may lag: what an earlier run created may be missing, or its
    tags unreadable, for a while. Such an item is planned as a create again; its requestId is the
    earlier one, so the service answers with what it created then, and nothing is created twice.
    """
    if not plans:
        return []
    live = await target.live()

    async def one(plan: WorkflowPlan) -> list[str]:
        wf = plan.workflow
        found = _candidates(live, wf.name, wf.expected_digests, provenance)
        hits = sorted(await _restored_as(target, wf.entry, found, provenance), key=lambda w: str(w["id"]))
        if not hits:
            return []
        _adopt(wf, hits[0])
        if len(hits) > 1:
            wf.warnings.append(f"restored more than once: workflows {', '.join(str(h['id']) for h in hits)}")
        versions = await target.versions(str(wf.target_id))
        return await _match_versions(plan, versions, target if provenance else None)

    results = await asyncio.gather(*(one(p) for p in plans))
    return [c for r in results for c in r]


async def _match_versions(
    plan: WorkflowPlan, listed: list[dict[str, Any]], target: _Target | None
) -> list[str]:
    """Adopt the planned versions an earlier run created in the restored workflow; return conflicts.

    ``target`` is given when provenance tags are used: a version of the planned name whose digest
    is not one the copy would have then has its tags read (once) to decide.
    """
    wf = plan.workflow
    by_name: dict[str, list[dict[str, Any]]] = {}
    for v in listed:
        if v.get("status") != "DELETED":
            by_name.setdefault(str(v.get("versionName")), []).append(v)
    conflicts: list[str] = []
    for item in plan.versions:
        same = by_name.get(str(item.version_name), [])
        if not same:
            continue
        digests = item.expected_digests
        hit = next((v for v in same if v.get("digest") in digests), None)
        if hit is None and target is not None and same[0].get("arn"):
            tags = await target.tags(str(same[0]["arn"]))
            if tags is None:
                continue  # not readable yet: planned as a create, with the earlier requestId
            if matches_bundle(tags, item.entry):
                hit = same[0]
        if hit is not None:
            _adopt(item, {**hit, "id": wf.target_id})
            continue
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
        session = new_session(staging.profile, staging.credentials)
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
    """Creates each workflow, then its versions oldest first; waits through the :class:`Board`.

    Creates of each kind go ``workflow_concurrency`` at a time (each holds its definition in
    memory until the call is paced through); waiting holds nothing, so creates never stall behind
    workflows that are still CREATING.
    """

    def __init__(self, api: OmicsApi, config: RestoreConfig, stager: _Stager | None, board: Board) -> None:
        self.api = api
        self.config = config
        self.stager = stager
        self.board = board
        self.workflow_slots = Slots(config.workflow_concurrency)
        self.version_slots = Slots(config.workflow_concurrency)

    async def workflow(self, plan: WorkflowPlan) -> None:
        wf = plan.workflow
        if not await self._guard(wf, self._workflow_item(wf)):
            for v in plan.versions:
                v.result = "not-attempted"
                v.error = f"workflow {wf.name} was not restored"
            return
        started: list[ItemPlan] = []
        for i, item in enumerate(plan.versions):
            if item.action == "skip":
                item.result = "skipped"
                continue
            ok = await self._guard(item, self._start_version(item, str(wf.target_id)))
            if not ok:
                for later in plan.versions[i + 1 :]:
                    if later.action != "skip":
                        later.result = "not-attempted"
                        later.error = f"version {item.version_name} before it failed"
                break
            started.append(item)
        await asyncio.gather(*(self._guard(item, self._settle(item)) for item in started))

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

    async def _start_version(self, item: ItemPlan, workflow_id: str) -> None:
        if item.action == "create":
            await self._create(item, "CreateWorkflowVersion", {"workflowId": workflow_id})
        else:
            item.target_id = workflow_id

    async def _settle(self, item: ItemPlan) -> None:
        """Wait until ACTIVE (creating anew while the service names a deleted resource), then remove
        the staged definition (also when it failed) and the local copy (freeing the work directory
        as the run goes, instead of all of it at the end)."""
        try:
            await self._wait(item)
        finally:
            if self.stager is not None and item.staged_key:
                await self.stager.remove(item.staged_key)
            item.definition_data = None
            if item.definition is not None:
                await asyncio.to_thread(item.definition.unlink, missing_ok=True)
        if item.result == "planned":
            item.result = "created" if item.action == "create" else "skipped"

    async def _create(self, item: ItemPlan, operation: str, extra: dict[str, Any]) -> None:
        params: dict[str, Any] = {**item.params, **extra}
        staging = self.config.staging
        slots = self.workflow_slots if operation == "CreateWorkflow" else self.version_slots
        async with slots:
            if item.staged_key:  # over the inline limit: always a file (see RestoreConfig)
                assert self.stager is not None and staging is not None and item.definition is not None
                params["definitionUri"] = await self.stager.put(item.staged_key, item.definition)
                if staging.owner_id:
                    params["workflowBucketOwnerId"] = staging.owner_id
            elif item.definition_data is not None:
                params["definitionZip"] = item.definition_data
            else:
                assert item.definition is not None
                params["definitionZip"] = await asyncio.to_thread(item.definition.read_bytes)
            try:
                response = await self.api.call(
                    operation, item.label, **{**params, "requestId": item.request_id}
                )
            except ServiceError:
                if self.stager is not None and item.staged_key:
                    await self.stager.remove(item.staged_key)
                raise
        item.target_arn = str(response.get("arn", ""))
        item.target_uuid = str(response.get("uuid", "")) or None
        item.target_id = str(response.get("id") or params.get("workflowId"))
        item.created = (operation, extra)
        log.info(
            "created %s as %s",
            item.label,
            item.target_arn,
            extra={"event": "created", "bundle": item.entry["key"], "requestId": item.request_id},
        )

    async def _wait(self, item: ItemPlan) -> None:
        """Await a settled status; a DELETED answer to a create means its requestId named a resource
        deleted since (an earlier restore, deleted): create again with the next requestId of a
        deterministic series, so reruns stay idempotent."""
        base = item.request_id
        for attempt in range(1, _REQUEST_ATTEMPTS + 1):
            got = await self.board.settled(item, time.monotonic() + self.config.wait_timeout)
            status = str(got.get("status", ""))
            item.target_arn = str(got.get("arn", "")) or item.target_arn
            if status == "ACTIVE":
                return
            if status == "FAILED":
                item.status_message = await self._status_message(item)
                raise RestoreError(
                    f"{item.label}: the service reports FAILED: {item.status_message or 'no status message'}",
                    workflow=item.target_id,
                )
            if status != "DELETED":
                raise RestoreError(f"{item.label}: unexpected status {status}", workflow=item.target_id)
            if item.action != "create" or item.created is None or attempt == _REQUEST_ATTEMPTS:
                break
            log.info(
                "requestId %s named %s, which was deleted since; creating with the next one",
                item.request_id,
                item.target_arn,
                extra={"event": "request-id-reused"},
            )
            item.request_id = str(uuid.uuid5(uuid.UUID(base), str(attempt)))
            operation, extra = item.created
            await self._create(item, operation, extra)
        raise RestoreError(
            f"{item.label}: {item.target_arn} was deleted while it was being restored",
            workflow=item.target_id,
        )

    async def _status_message(self, item: ItemPlan) -> str:
        """Why the service failed it: a list does not say, so one Get (only for a FAILED item)."""
        try:
            if item.version_name is None:
                got = await self.api.get_workflow(str(item.target_id))
            else:
                got = await self.api.get_workflow_version(str(item.target_id), item.version_name)
        except ServiceError:
            return ""
        return str(got.get("statusMessage") or "")


# -- the run ----------------------------------------------------------------------------------------


async def run_restore(api: OmicsApi, store: Store, config: RestoreConfig) -> RestoreReport:
    """Plan and (unless ``dry_run``) carry out a restore into ``api``'s account and region.

    Raises only when nothing can be planned (no snapshot, bad selection); every problem found while
    planning is in the report's ``problems`` and means nothing was created.
    """
    report = RestoreReport(dry_run=config.dry_run, started_at=datetime.now(UTC))
    # The target's reads (finding earlier restores) and then the creates each come all at once,
    # into an account-region whose quotas this run presumably has to itself: start at full bucket.
    api.limiter.allow_burst(("CreateWorkflow", "CreateWorkflowVersion"))  # the bound: one spare
    api.limiter.allow_burst(("ListWorkflows", "ListWorkflowVersions", "ListTagsForResource"), spare=5)
    target = _Target(api)
    target.workflows()  # the target's listing starts at once: it needs nothing from the store
    account = asyncio.ensure_future(_target_account(api, config))
    try:
        view = await resolve_view(store, config)
        report.snapshots = view.keys
        report.source = {"partition": view.partition, "account": view.account, "region": view.region}
        with work_directory("restore", config.work_dir) as tmp:
            reads = bundle_reads(store, config, Path(tmp))
            try:
                # the bundles are read while the target's account is still being asked
                reads.start(entry for group in select(view, config)[0] for entry in group)
                report.target_account, report.target_region = await account, api.region
                plans = await _plan_while_listing(store, config, view, report, target, reads)
                if not report.problems and config.adopt_earlier:
                    report.problems.extend(
                        await find_earlier_restores(target, plans, provenance=config.provenance_tags)
                    )
                    earlier = sum(1 for i in report.items() if i.action != "create")
                    log.info(
                        "%d items were restored before",
                        earlier,
                        extra={"event": "earlier-restores", "items": earlier},
                    )
                if not report.problems:
                    report.problems.extend(await _images(api, store, config, report))
                if report.problems or config.dry_run:
                    report.finished_at = datetime.now(UTC)
                    return report
                await _execute(api, config, plans, len(await target.workflows()))
            finally:
                await reads.close()
    finally:
        account.cancel()
        await asyncio.gather(account, return_exceptions=True)
        await target.close()
    report.finished_at = datetime.now(UTC)
    return report


async def _images(api: OmicsApi, store: Store, config: RestoreConfig, report: RestoreReport) -> list[str]:
    """Are the images there (and pushed, with --push-images)? See archiver.images._readiness."""
    account, region = report.target_account, report.target_region

    def reissue(item: ItemPlan) -> None:
        item.request_id = request_id(item, account, region)
        if item.staged_key and config.staging is not None:
            item.staged_key = config.staging.key(item.request_id)

    creates = [i for i in report.items() if i.action == "create"]
    readiness, problems = await prepare_images(
        store,
        creates,
        policy=config.images,
        dry_run=config.dry_run,
        rewrite_images=config.rewrite_images,
        map_uri=config.mapping.map_uri,
        settings=ecr_settings(api.settings, region),
        target_account=account,
        reissue=reissue,
        inventories={str(i.entry["key"]): i.images for i in creates},  # read while planning
    )
    report.images = readiness.as_dict()
    return problems


async def _target_account(api: OmicsApi, config: RestoreConfig) -> str:
    return config.target_account or (await api.caller_identity()).account


async def _plan_while_listing(
    store: Store,
    config: RestoreConfig,
    view: SnapshotView,
    report: RestoreReport,
    target: _Target,
    reads: BundleReads,
) -> list[WorkflowPlan]:
    """Plan the restore while the target's reads that find earlier restores are made (the plan is
    CPU and store work, those are API calls); a plan that raises (nothing to do, usage) stops them."""
    started = time.monotonic()
    region, target_account = target.api.region, report.target_account
    selected = await selection(store, config, view, target_account=target_account, target_region=region)
    prefetch = asyncio.ensure_future(
        _prefetch(target, selected[0], config) if config.adopt_earlier else asyncio.sleep(0)
    )
    try:
        plans, problems = await plan_restore(
            store,
            config,
            view,
            work=reads.work,
            target_account=target_account,
            target_region=region,
            selected=selected,
            reads=reads,
        )
    except BaseException:
        prefetch.cancel()
        await asyncio.gather(prefetch, return_exceptions=True)
        raise
    report.workflows = plans
    report.problems.extend(problems)
    items = sum(len(p.items()) for p in plans)
    log.info(
        "planned %d items in %.1f s",
        items,
        time.monotonic() - started,
        extra={"event": "planned", "items": items, "seconds": round(time.monotonic() - started, 3)},
    )
    if problems:
        prefetch.cancel()
    await asyncio.gather(prefetch, return_exceptions=True)  # its failures surface when the reads are used
    return plans


async def _execute(api: OmicsApi, config: RestoreConfig, plans: list[WorkflowPlan], listed: int) -> None:
    needs_staging = any(i.staged_key and i.action == "create" for p in plans for i in p.items())
    async with contextlib.AsyncExitStack() as stack:
        stager: _Stager | None = None
        if needs_staging and config.staging is not None:
            client = await stack.enter_async_context(_open_s3(config.staging, api.region))
            stager = _Stager(client, config.staging)
            stack.push_async_callback(stager.remove_all)
        board = Board(api, config.poll_interval, listed)
        stack.push_async_callback(board.close)
        restorer = _Restorer(api, config, stager, board)
        async with asyncio.TaskGroup() as tg:
            for plan in plans:
                tg.create_task(restorer.workflow(plan))
