"""The backup pipeline's per-item work: from HealthOmics to bundles (``_backup`` runs it).

One run, for one account and region::

    discover ──► per workflow: GetWorkflow(export) ─► README ─► state known? ─► definition ─► bundle ─► store
                 └─► ListWorkflowVersions ─► per version: GetWorkflowVersion(export) ─► ... same ...
    ... then, last: the snapshot

Each stage has its own bound: API calls are paced per operation by the rate limiter (the quotas
are the real limit); ``workflow_concurrency``/``version_concurrency`` bound the items in flight;
``download_concurrency`` bounds downloads; ``bundle_concurrency`` bounds compression (which runs
in worker threads). A failure in one item is recorded and the others go on; only a failure to
discover or to write the snapshot fails the run. A state whose bundle already exists costs one
Get call and a README download, never a definition download; an item whose listing shows the state
the archive last recorded costs no call at all, unless the rotating sweep (``archiver.incremental``)
picks it for a full read tonight.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import functools
import hashlib
import io
import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from . import _layout, _schema
from ._aws import CallerIdentity, OmicsApi
from ._bundle import BundleInfo, BundleSource, write_bundle
from ._download import Downloaded, Downloader
from ._errors import (
    AccessDenied,
    ArchiverError,
    BundleError,
    ExportError,
    MetadataInvalid,
    ServiceError,
    ServiceValidationError,
    StoreError,
)
from ._jsonutil import pretty_json
from ._report import BackupReport
from ._slots import Slots
from .images import EcrResolver, build_inventory, check_and_scan
from .incremental import Sweep, confirmed_entry, listing_matches, seen_fields
from .store import Store
from .store._hotpath import put_built

__all__ = ["BackupConfig", "Item", "Pipeline", "RunState"]

log = logging.getLogger("archiver.backup")

_EXPORTABLE = {"ACTIVE", "INACTIVE", "UPDATING"}
_OPEN_SHARES = {"PENDING", "ACTIVATING", "ACTIVE", None}
_README_LIMIT = 4 << 20  # the service caps READMEs at 500 KiB; anything far above is not a README
_IN_MEMORY = 1 << 20  # definitions up to this size are downloaded and bundled in memory
_SCAN_INLINE = 64 << 10  # definitions up to this size are scanned for images on the event loop
Kind = Literal["workflow", "workflow-version"]


@dataclass(frozen=True, kw_only=True)
class BackupConfig:
    """What to back up and how hard to push.

    Memory is bounded whatever the size of the definitions: ``download_concurrency`` chunks of
    1 MiB, definitions of up to 1 MiB held whole (at most one per item in flight), plus
    ``bundle_concurrency`` compressors of about 20 + 30 x ``compression_threads`` MiB each (zstd's
    per-worker buffers; hence at most 4 workers by default). Larger definitions wait in files in
    ``work_dir``, at most one per item in flight.
    """

    workflow_ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    account: str | None = None
    workflow_concurrency: int = 16
    version_concurrency: int = 32
    download_concurrency: int = 8
    bundle_concurrency: int = 1
    compression_level: int = 10
    # Bundles of definitions small enough to be bundled in memory (a few KiB, typically): level 10
    # would make them about 2% smaller for 14 times the CPU (0.55 ms against 0.04 ms for 10 KiB).
    small_compression_level: int = 3
    compression_threads: int = field(default_factory=lambda: min(os.cpu_count() or 1, 4))
    export_attempts: int = 6
    dry_run: bool = False
    work_dir: Path | None = None
    sweep_work_dir: bool = True  # False: the caller swept work_dir already (a targets run, once)
    lock_wait: float = 0.0  # seconds to wait for another backup of the same account and region
    # Incremental by listing: an unchanged item is read in full once every ``full_every`` runs
    # (1: every run); ``full`` reads everything this run.
    full_every: int = 7
    full: bool = False
    images: str = "record"  # "copy": archive the images the bundles name (archiver.images._archive)

    @property
    def filtered(self) -> bool:
        return bool(self.workflow_ids or self.names or self.tags)


@dataclass(slots=True)
class Item:
    """One workflow or workflow version to export."""

    kind: Kind
    workflow_id: str
    name: str
    version_name: str | None = None
    workflow_uuid: str | None = None

    @property
    def label(self) -> str:
        if self.version_name is None:
            return f"workflow {self.workflow_id} ({self.name})"
        return f"workflow {self.workflow_id} ({self.name}) version {self.version_name}"


@dataclass(slots=True)
class RunState:
    """Mutable bookkeeping of one run; only the pipeline's own tasks touch it (one event loop)."""

    report: BackupReport
    identity: CallerIdentity
    known: dict[str, dict[str, Any]]
    work: Path
    progress: Callable[[BackupReport], None] | None = None
    sweep: Sweep = field(default_factory=Sweep)  # default: read everything
    _index: dict[tuple[str, str, str | None], dict[str, Any]] = field(default_factory=dict)
    _indexed: int = -1

    def changed(self) -> None:
        if self.progress is not None:
            self.progress(self.report)

    def prior(self, workflow_id: str, kind: str, version_name: str | None) -> dict[str, Any] | None:
        """The archive's last entry of one item (from ``known``), or None."""
        if self._indexed != len(self.known):
            self._index = {
                (str(e.get("workflowId")), str(e.get("kind")), e.get("versionName")): e
                for e in self.known.values()
            }
            self._indexed = len(self.known)
        return self._index.get((workflow_id, kind, version_name))


class Pipeline:
    def __init__(
        self,
        api: OmicsApi,
        store: Store,
        config: BackupConfig,
        downloader: Downloader,
        *,
        images: EcrResolver | None = None,
    ) -> None:
        self.api = api
        self.images = images  # resolves the image inventory's ECR digests; None: not asked
        self.store = store
        self.config = config
        self.dl = downloader
        # Slots, not asyncio.Semaphore: thousands of queued versions wait in constant time
        self.wf_sem = Slots(config.workflow_concurrency)
        self.ver_sem = Slots(config.version_concurrency)
        self.bundle_sem = Slots(config.bundle_concurrency)
        self._names = itertools.count()  # of temporary files in the run's private work directory
        self.run: RunState

    # -- discovery -------------------------------------------------------------------------

    async def shared_with_us(self) -> dict[str, str]:
        """Workflows other accounts shared with us: workflow id -> owner account.

        A share not yet ACTIVE (PENDING, ACTIVATING) counts too: the workflow is another account's
        and is never exported, whatever stage its share is at.
        """
        shared: dict[str, str] = {}
        try:
            async for share in self.api.list_shares(resource_owner="OTHER"):
                arn = str(share.get("resourceArn", ""))
                if share.get("status") not in _OPEN_SHARES or ":workflow/" not in arn:
                    continue
                wf_id = arn.rsplit("/", 1)[-1]
                owner = str(share.get("ownerId") or arn.split(":")[4])
                shared[wf_id] = owner
                name = await self._shared_name(wf_id, owner, str(share.get("shareName", "")))
                self.skip_shared(wf_id, name, owner)
        except AccessDenied as exc:
            log.warning(
                "cannot list workflows shared with this account; they are not reported",
                extra={"event": "shares-unavailable", "error": exc.message},
            )
        return shared

    async def _shared_name(self, wf_id: str, owner: str, fallback: str) -> str:
        try:
            meta = await self.api.get_workflow(wf_id, owner_id=owner)
        except ArchiverError:
            return fallback
        return str(meta.get("name", fallback))

    def skip_shared(self, wf_id: str, name: str, owner: str) -> None:
        if any(s["workflowId"] == wf_id and s["reason"] == "shared" for s in self.run.report.skipped):
            return
        log.warning(
            "skipping workflow %s (%s): it is shared with this account by %s and cannot be exported",
            wf_id,
            name,
            owner,
            extra={
                "event": "skipped",
                "workflowId": wf_id,
                "workflowName": name,
                "owner": owner,
                "reason": "shared",
            },
        )
        self.run.report.skipped.append(
            {"workflowId": wf_id, "name": name, "owner": owner, "versionName": None, "reason": "shared"}
        )

    def wanted(self, item: Mapping[str, Any]) -> bool:
        c = self.config
        if c.workflow_ids and str(item.get("id")) not in c.workflow_ids:
            return False
        name = str(item.get("name", ""))
        return not (c.names and not any(fnmatch.fnmatchcase(name, pat) for pat in c.names))

    # -- per item ----------------------------------------------------------------------------

    async def workflow(self, listed: Mapping[str, Any], tg: asyncio.TaskGroup) -> None:
        item = Item("workflow", str(listed["id"]), str(listed.get("name", "")))
        prior = None if self.config.tags else self._unchanged(item, listed)
        if prior is not None:  # no Get call: the listing shows the archived state
            item.workflow_uuid = str(prior["workflowUuid"])
            self._confirm(item, prior)
            tg.create_task(self._versions(item, tg))
            return
        async with self.wf_sem:
            await self._guarded(item, self._export(item, tg))

    async def _guarded(self, item: Item, work: Awaitable[None]) -> None:
        """Run one item's work; record a failure instead of letting it stop the others."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except ArchiverError as exc:
            self.fail(item, _stage_of(exc), exc)
        except Exception as exc:  # a bug must not lose the other workflows' backups
            log.exception("unexpected error on %s", item.label, extra={"event": "bug"})
            self.fail(item, "bundle", exc)

    def _unchanged(self, item: Item, listed: Mapping[str, Any]) -> dict[str, Any] | None:
        """The archived entry of ``item`` if its listing confirms it and the sweep spares it tonight."""
        prior = self.run.prior(item.workflow_id, item.kind, item.version_name)
        if prior is None:
            return None
        if item.kind == "workflow-version" and prior.get("workflowUuid") != item.workflow_uuid:
            return None  # the workflow id was reused: another workflow's versions
        if not listing_matches(listed, prior, workflow=item.kind == "workflow"):
            return None
        return None if self.run.sweep.due(prior) else prior

    def _confirm(self, item: Item, prior: Mapping[str, Any]) -> None:
        report = self.run.report
        report.bundles.append(confirmed_entry(prior, name=item.name))
        report.stats["workflows" if item.kind == "workflow" else "versions"] += 1
        report.stats["confirmedByListing"] = report.stats.get("confirmedByListing", 0) + 1
        log.debug(
            "unchanged %s (confirmed by listing)",
            item.label,
            extra={"event": "bundle", "key": prior["key"], "new": False, "confirmedBy": "list"},
        )
        self.run.changed()

    def fail(self, item: Item, stage: str, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, ArchiverError) else f"{type(exc).__name__}: {exc}"
        log.error(
            "failed to back up %s at %s: %s",
            item.label,
            stage,
            message,
            extra={"event": "failed", "workflowId": item.workflow_id, "versionName": item.version_name},
        )
        self.run.report.failed.append(
            {
                "workflowId": item.workflow_id,
                "versionName": item.version_name,
                "name": item.name,
                "stage": stage,
                "error": message,
                "code": getattr(exc, "code", "") or type(exc).__name__,
            }
        )
        self.run.changed()

    async def _get(self, item: Item) -> dict[str, Any]:
        if item.version_name is None:
            return await self.api.get_workflow(item.workflow_id, export=True)
        return await self.api.get_workflow_version(item.workflow_id, item.version_name, export=True)

    async def _export(self, item: Item, tg: asyncio.TaskGroup | None) -> None:
        """Export one workflow or version, refreshing the presigned URLs when a download fails."""
        attempts = self.config.export_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = await self._get(item)
            except ArchiverError as exc:
                if isinstance(exc, AccessDenied | ServiceValidationError) and self._is_foreign(item, exc):
                    return
                if item.kind == "workflow" and tg is not None:
                    await self._versions_not_attempted(item, exc)
                raise
            if item.kind == "workflow":
                item.workflow_uuid = str(response.get("uuid", "")) or None
                if not self._tags_match(response):
                    self._filtered_out()
                    return
                if tg is not None and item.workflow_uuid:
                    tg.create_task(self._versions(item, tg))
                    tg = None  # versions are started once, whatever the retries below
            status = str(response.get("status", ""))
            if status not in _EXPORTABLE:
                self._skip(item, "not-active", f"status {status}")
                return
            try:
                await self._archive(item, response)
                return
            except ExportError as exc:
                if attempt == attempts:
                    raise
                log.info(
                    "retrying %s with fresh export URLs (%s)",
                    item.label,
                    exc.message,
                    extra={"event": "export-retry", "attempt": attempt},
                )
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))

    def _is_foreign(self, item: Item, exc: AccessDenied | ServiceValidationError) -> bool:
        """A workflow we may read but not export (shared with us) is a skip, not a failure.

        Shared workflows are normally recognised before any Get call (ListShares, the owner in the
        ARN); this catches one that neither revealed. The service's error code for a refused export
        is undocumented, so only a refusal that speaks of sharing counts: any other AccessDenied
        (an IAM policy, say) is a failure, never a silent skip.
        """
        if "shar" not in exc.message.lower():
            return False
        self._skip(item, "shared", exc.message)
        return True

    def _tags_match(self, response: Mapping[str, Any]) -> bool:
        tags = response.get("tags") or {}
        return all(tags.get(k) == v for k, v in self.config.tags.items())

    def _filtered_out(self) -> None:
        """A workflow ``--tag`` leaves out. Tags are known only from its Get, after the totals were
        counted from the listing: count it (``found["filteredOut"]``) so progress takes it off them."""
        found = self.run.report.found
        found["filteredOut"] = found.get("filteredOut", 0) + 1
        self.run.changed()

    def _skip(self, item: Item, reason: str, detail: str) -> None:
        log.warning(
            "skipping %s: %s",
            item.label,
            detail,
            extra={"event": "skipped", "workflowId": item.workflow_id, "reason": reason},
        )
        self.run.report.skipped.append(
            {
                "workflowId": item.workflow_id,
                "name": item.name,
                "owner": None,
                "versionName": item.version_name,
                "reason": reason,
            }
        )
        self.run.changed()

    async def _versions(self, wf: Item, tg: asyncio.TaskGroup) -> None:
        try:
            async for listed in self.api.list_workflow_versions(wf.workflow_id):
                if listed.get("status") == "DELETED":
                    continue  # deleted, still listed for a while
                version = Item(
                    "workflow-version",
                    wf.workflow_id,
                    wf.name,
                    version_name=str(listed["versionName"]),
                    workflow_uuid=wf.workflow_uuid,
                )
                found = self.run.report.found
                found["versions"] = found.get("versions", 0) + 1
                prior = self._unchanged(version, listed)
                if prior is not None:
                    self._confirm(version, prior)
                else:
                    tg.create_task(self._version(version))
        except asyncio.CancelledError:
            raise
        except ArchiverError as exc:
            self.fail(wf, "discover", exc)
        finally:
            found = self.run.report.found
            found["versionLists"] = found.get("versionLists", 0) + 1

    async def _versions_not_attempted(self, wf: Item, cause: ArchiverError) -> None:
        """Record a failure for every version of a workflow whose Get failed.

        Its versions cannot be archived without the workflow's uuid (part of their keys), and
        leaving them out would under-report the night: each gets its own ``failed`` entry (their
        last good bundles are carried forward like the workflow's).
        """
        try:
            async for listed in self.api.list_workflow_versions(wf.workflow_id):
                version = Item(
                    "workflow-version", wf.workflow_id, wf.name, version_name=str(listed["versionName"])
                )
                self.fail(
                    version,
                    "export",
                    ServiceError(
                        f"not attempted: its workflow could not be read ({cause.message})",
                        operation=getattr(cause, "operation", "GetWorkflow"),
                        code=getattr(cause, "code", "") or type(cause).__name__,
                    ),
                )
        except ArchiverError:
            pass  # the workflow's own failure says enough

    async def _version(self, item: Item) -> None:
        async with self.ver_sem:
            await self._guarded(item, self._export(item, None))

    async def _archive(self, item: Item, response: Mapping[str, Any]) -> None:
        schema: _schema.SchemaName = "workflow" if item.kind == "workflow" else "workflow-version"
        try:
            meta = _layout.sanitize_metadata(response)
        except (
            ValueError
        ) as exc:  # it would store a credential: nothing of it is kept, not even in quarantine
            raise MetadataInvalid(
                f"{item.label} cannot be archived: {exc}", schema=schema, problems=[]
            ) from exc
        problems, unknown = _schema.classify(schema, meta)
        if problems:
            await self._quarantine(item, response, meta, problems)
            return
        if unknown:
            self._warn_unknown(item, unknown)
        readme = await self._readme(item, response)
        sid = _layout.state_id(meta, _layout.readme_sha256(readme), sanitized=True)
        assert item.workflow_uuid is not None
        key = _layout.bundle_key(
            workflow_uuid=item.workflow_uuid,
            version_uuid=str(meta["uuid"]) if item.kind == "workflow-version" else None,
            digest=str(meta["digest"]),
            state_id=sid,
        )
        entry = await self._existing(key)
        if entry is None:
            if self.config.dry_run:
                self._record(item, meta, sid, key, size=0, sha256="", new=True)
                return
            entry = await self._write(item, response, meta, sid, key, readme)
        self._record(item, meta, sid, key, size=entry["size"], sha256=entry["sha256"], new=entry["new"])

    def _warn_unknown(self, item: Item, paths: list[str]) -> None:
        """Members the schema does not know are kept as returned; say so once per item and run."""
        log.warning(
            "%s: kept member(s) the schema does not know: %s",
            item.label,
            ", ".join(paths),
            extra={"event": "unknown-member", "workflowId": item.workflow_id, "paths": paths},
        )
        self.run.report.warnings.append(
            {
                "workflowId": item.workflow_id,
                "versionName": item.version_name,
                "reason": "unknown-member",
                "paths": paths,
            }
        )
        self.run.changed()

    def _record(
        self, item: Item, meta: Mapping[str, Any], sid: str, key: str, *, size: int, sha256: str, new: bool
    ) -> None:
        report = self.run.report
        report.bundles.append(
            {
                "key": key,
                "kind": item.kind,
                "workflowId": item.workflow_id,
                "workflowUuid": item.workflow_uuid,
                "uuid": str(meta["uuid"]),
                "name": item.name if item.kind == "workflow-version" else str(meta.get("name", item.name)),
                "versionName": item.version_name,
                "digest": str(meta["digest"]),
                "stateId": sid,
                "size": size,
                "sha256": sha256,
                "new": new,
                **seen_fields(meta),
                "confirmedBy": "get",
                "listedRuns": 0,
            }
        )
        if new:
            report.stats["bundlesWritten"] += 1
            report.stats["bytesWritten"] += size
        report.stats["workflows" if item.kind == "workflow" else "versions"] += 1
        log.info(
            "%s %s",
            "archived" if new else "unchanged",
            item.label,
            extra={"event": "bundle", "key": key, "new": new, "dryRun": self.config.dry_run},
        )
        self.run.changed()

    async def _existing(self, key: str) -> dict[str, Any] | None:
        """The snapshot entry of a bundle already in the store, or None if it must be written."""
        info = await self.store.stat(key)
        if info is None:
            return None
        known = self.run.known.get(key)
        if known is not None and known.get("size") == info.size:
            return {"size": info.size, "sha256": known["sha256"], "new": False}
        digest = hashlib.sha256()
        async for chunk in self.store.open_read(key):
            digest.update(chunk)
        return {"size": info.size, "sha256": digest.hexdigest(), "new": False}

    async def _readme(self, item: Item, response: Mapping[str, Any]) -> bytes | None:
        url = response.get("readme")
        if not url:
            return None
        data = await self.dl.fetch_bytes(str(url), resource=item.label, what="README", limit=_README_LIMIT)
        return data or None

    async def _definition(self, item: Item, response: Mapping[str, Any]) -> Downloaded:
        """Download the definition: in memory when small, else to a file in the work directory."""
        url = response.get("definition")
        if not url:
            raise ExportError(
                f"the service returned no definition URL for {item.label}",
                resource=item.label,
                what="definition",
            )
        path = self.run.work / f"definition-{next(self._names)}.zip"
        got = await self.dl.fetch(
            str(url), path, resource=item.label, what="definition", memory_limit=_IN_MEMORY
        )
        self.run.report.stats["definitionBytesDownloaded"] += got.size
        return got

    async def _write(
        self,
        item: Item,
        response: Mapping[str, Any],
        meta: Mapping[str, Any],
        sid: str,
        key: str,
        readme: bytes | None,
    ) -> dict[str, Any]:
        definition = await self._definition(item, response)
        images, zip_sound = await self._image_inventory(item, definition, meta)
        source = BundleSource(
            kind=item.kind,
            partition=self.run.identity.partition,
            account=self.run.identity.account,
            region=self.run.identity.region,
            arn=str(meta["arn"]),
            workflow_id=item.workflow_id,
            workflow_uuid=str(item.workflow_uuid),
            version_name=item.version_name,
            uuid=str(meta["uuid"]),
            digest=str(meta["digest"]),
            creation_time=_parse_time(meta.get("creationTime")),
            status=str(meta.get("status", "")),
            name=str(meta.get("name", item.name)),
        )
        # A small definition is bundled in memory, single-threaded, and built and stored in one
        # worker-thread hop (put_built); a large one goes through files in the work directory with
        # multi-threaded compression.
        write = functools.partial(
            write_bundle,
            source=source,
            state_id=sid,
            metadata=meta,
            readme=readme,
            images=images,
            threads=self.config.compression_threads,
            sanitized=True,
            zip_checked=zip_sound,
        )
        info: BundleInfo | None
        if definition.data is not None:
            small = definition.data

            def build() -> tuple[bytes, BundleInfo]:
                buffer = io.BytesIO()
                built = write(buffer, definition=small, level=self.config.small_compression_level)
                return buffer.getvalue(), built

            async with self.bundle_sem:
                try:
                    written, info = await put_built(self.store, key, build)
                except BundleError as exc:
                    await self._quarantine_bundle(
                        item, response, meta, exc, definition=definition, readme=readme
                    )
                    raise
        else:
            bundle_path = self.run.work / f"bundle-{next(self._names)}.tar.zst"
            try:
                async with self.bundle_sem:
                    try:
                        info = await asyncio.to_thread(
                            write,
                            bundle_path,
                            definition=_path(definition),
                            level=self.config.compression_level,
                        )
                    except BundleError as exc:
                        await self._quarantine_bundle(
                            item, response, meta, exc, definition=definition, readme=readme
                        )
                        raise
                written = await self.store.put_file(key, bundle_path, if_absent=True)
            finally:
                _remove(definition.path, bundle_path)
        if not written or info is None:  # another run wrote the same state meanwhile: same content
            existing = await self._existing(key)
            assert existing is not None
            return existing
        return {"size": info.size, "sha256": info.sha256, "new": True}

    async def _image_inventory(
        self, item: Item, definition: Downloaded, meta: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """The manifest's image inventory (``archiver.images``), and whether the definition is a sound
        ZIP (checked on the scan's read: write_bundle need not check it again); a failure is
        recorded, never raised."""
        source = definition.data if definition.data is not None else _path(definition)
        try:
            # a small definition is checked and scanned right here: cheaper than a hop to a thread
            if definition.data is None or len(definition.data) > _SCAN_INLINE:
                checked = await asyncio.to_thread(check_and_scan, source)
            else:
                checked = check_and_scan(source)
            inventory = await build_inventory(
                source,
                meta,
                account=self.run.identity.account,
                region=self.run.identity.region,
                resolver=self.images,
                scan=checked.scan,
            )
            return inventory, checked.zip_problem is None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not cost the workflow its backup
            log.exception("image inventory of %s failed", item.label, extra={"event": "bug"})
            return {"entries": [], "problems": [f"the inventory failed: {type(exc).__name__}: {exc}"]}, False

    async def _quarantine_bundle(
        self,
        item: Item,
        response: Mapping[str, Any],
        meta: Mapping[str, Any],
        exc: BundleError,
        *,
        definition: Downloaded,
        readme: bytes | None,
    ) -> None:
        """Quarantine an item whose bundle could not be built (a damaged definition ZIP, say).

        The snapshot schema wants every quarantined entry to say what was wrong: the problem is
        the bundle error, at ``$.definition`` (the export that gave the ZIP). The caller raises the
        error itself, so the item fails at the ``bundle`` stage.
        """
        problem = _schema.SchemaProblem("$.definition", exc.message)
        await self._quarantine(
            item, response, meta, [problem], definition=definition, readme=readme, raise_=False
        )

    async def _quarantine(
        self,
        item: Item,
        response: Mapping[str, Any],
        meta: Mapping[str, Any],
        problems: list[_schema.SchemaProblem],
        *,
        definition: Downloaded | None = None,
        readme: bytes | None = None,
        raise_: bool = True,
    ) -> None:
        """Keep what failed validation where a person can look at it, and record the failure.

        With ``problems`` (and ``raise_``), raise :class:`MetadataInvalid` naming the first.
        """
        run = self.run
        prefix = _layout.quarantine_prefix(
            run.identity.account, run.identity.region, run.report.run_id, item.workflow_id, item.version_name
        )
        listed = [p.as_dict() for p in problems]
        if not self.config.dry_run:
            if definition is None and response.get("definition"):
                with contextlib.suppress(ExportError):
                    definition = await self._definition(item, response)
            if readme is None and response.get("readme"):
                with contextlib.suppress(ExportError):
                    readme = await self._readme(item, response)
            await self.store.put_bytes(f"{prefix}/metadata.json", pretty_json(meta), if_absent=False)
            await self.store.put_bytes(
                f"{prefix}/errors.json", pretty_json({"problems": listed}), if_absent=False
            )
            if readme is not None:
                await self.store.put_bytes(f"{prefix}/README.md", readme, if_absent=False)
            if definition is not None and definition.data is not None:
                await self.store.put_bytes(f"{prefix}/definition.zip", definition.data, if_absent=False)
            elif definition is not None and definition.path is not None and definition.path.exists():
                await self.store.put_file(f"{prefix}/definition.zip", definition.path, if_absent=False)
        run.report.quarantined.append(
            {
                "workflowId": item.workflow_id,
                "versionName": item.version_name,
                "prefix": prefix,
                "problems": listed,
            }
        )
        if problems and raise_:
            best = problems[0]
            raise MetadataInvalid(
                f"metadata of {item.label} is invalid at {best.path}: {best.message}; "
                f"quarantined under {prefix}",
                schema="workflow" if item.kind == "workflow" else "workflow-version",
                problems=problems,
            )


def _remove(*paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def _path(got: Downloaded) -> Path:
    assert got.path is not None
    return got.path


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.fromtimestamp(0, UTC)


def _stage_of(exc: ArchiverError) -> str:
    if isinstance(exc, MetadataInvalid):
        return "validate"
    if isinstance(exc, ExportError):
        return "download"
    if isinstance(exc, BundleError):
        return "bundle"
    if isinstance(exc, StoreError):
        return "store"
    return "export"
