"""Planning a restore: which snapshot, which bundles, and exactly what each create call will carry.

A restore is planned completely before anything is created, so that every reason it cannot work
(a definition too large to send inline without a staging bucket, a workflow with more tags than the
service allows once the provenance tags are added, a missing or damaged bundle) is reported while
the target is still untouched. Planning reads only the store and the local work directory.

Which state is restored (:func:`resolve_view`):

* ``snapshot_id``: exactly that snapshot.
* otherwise the state at ``at`` (default: now): the latest *complete* snapshot at or before it, with
  the later *partial* snapshots up to ``at`` laid over it in time order (a partial snapshot, such as
  the one ``delete`` writes, replaces what it holds of each workflow it covers). Workflows deleted
  since are in the view as long as a snapshot of that time holds them.

What each item carries (:func:`create_params`): name (renamed or prefixed), description, engine, main,
parameter template, storage type and capacity, accelerators, tags, README and container registry
map, plus the provenance tags of :data:`PROVENANCE_KEYS`. The ``requestId`` is a UUID derived from the
bundle, the target account and region and the request itself, so a retried create is idempotent.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from . import _layout
from ._bundle import read_bundle
from ._errors import BundleError, RestoreError, StoreError, UsageError
from ._jsonutil import canonical_json
from ._rewrite import (
    EcrMapping,
    EcrReference,
    Rewrite,
    find_references,
    registry_map_references,
    rewrite_definition,
    rewrite_registry_map,
)
from ._snapshot import list_snapshot_keys, load_snapshot
from ._zipsafe import ZIP_ERRORS, zip_problem
from .repair import load_notes
from .store import Store

__all__ = [
    "DEFINITION_URI_MAX_BYTES",
    "DEFINITION_ZIP_MAX_BYTES",
    "PROVENANCE_KEYS",
    "ItemPlan",
    "RestoreConfig",
    "SnapshotView",
    "Staging",
    "WorkflowPlan",
    "plan_restore",
    "resolve_view",
]

log = logging.getLogger("archiver.restore")

DEFINITION_ZIP_MAX_BYTES = 4_400_000  # inline definitionZip: "4.4 MB"
DEFINITION_URI_MAX_BYTES = 100_000_000  # definitionUri: "100 MB"
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_NAME = 128
TAG_PREFIX = "omics-archiver:"
TAG_ARN = TAG_PREFIX + "source-arn"
TAG_UUID = TAG_PREFIX + "source-uuid"
TAG_DIGEST = TAG_PREFIX + "source-digest"
TAG_BUNDLE = TAG_PREFIX + "bundle"
PROVENANCE_KEYS = (TAG_ARN, TAG_UUID, TAG_DIGEST, TAG_BUNDLE)
_REQUEST_NAMESPACE = uuid.UUID("0d7c3f5e-3a52-5b8e-9d0e-6f6d69637361")
# Metadata fields carried to CreateWorkflow / CreateWorkflowVersion as they are.
_CARRIED = (
    "description",
    "engine",
    "main",
    "parameterTemplate",
    "storageType",
    "storageCapacity",
    "accelerators",
)

Kind = Literal["workflow", "workflow-version"]
Action = Literal["create", "skip", "wait"]


@dataclass(frozen=True, kw_only=True)
class Staging:
    """Where definitions too large to send inline go: an S3 bucket in the target region."""

    bucket: str
    prefix: str = ""
    owner_id: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    region: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def key(self, request_id: str) -> str:
        return f"{self.prefix.strip('/')}/{request_id}.zip".lstrip("/")


@dataclass(frozen=True, kw_only=True)
class RestoreConfig:
    """What to restore, where from, how to rewrite it, and how long to wait.

    Disk: every selected definition sits in ``work_dir`` between planning and creation (a plan is
    checked whole before anything is created). Memory: one ZIP member at a time when rewriting.
    """

    source_account: str | None = None
    source_region: str | None = None
    snapshot_id: str | None = None
    at: datetime | None = None
    workflow_uuids: tuple[str, ...] = ()
    workflow_ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    select_all: bool = False
    name_prefix: str = ""
    renames: Mapping[str, str] = field(default_factory=dict)
    mapping: EcrMapping = field(default_factory=EcrMapping)
    rewrite_images: bool = False
    staging: Staging | None = None
    target_account: str | None = None
    inline_limit: int = DEFINITION_ZIP_MAX_BYTES
    wait_timeout: float = 900.0
    poll_interval: float = 3.0
    workflow_concurrency: int = 4
    download_concurrency: int = 4
    dry_run: bool = False
    work_dir: Path | None = None

    @property
    def selective(self) -> bool:
        return bool(self.workflow_uuids or self.workflow_ids or self.names)


@dataclass(frozen=True, kw_only=True)
class SnapshotView:
    """The source state to restore from: one snapshot, or a complete one with partial ones over it."""

    partition: str
    account: str
    region: str
    keys: tuple[str, ...]
    bundles: tuple[Mapping[str, Any], ...]


@dataclass(kw_only=True)
class ItemPlan:
    """One workflow or version: what will be sent, and (after the run) what happened."""

    kind: Kind
    entry: Mapping[str, Any]
    name: str
    version_name: str | None
    source_arn: str
    creation_time: str
    params: dict[str, Any] = field(default_factory=dict)
    definition: Path | None = None
    definition_size: int = 0
    definition_sha256: str = ""
    request_id: str = ""
    staged_key: str | None = None
    rewrites: list[Rewrite] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    action: Action = "create"
    target_id: str | None = None
    target_arn: str | None = None
    target_uuid: str | None = None
    result: Literal["planned", "created", "skipped", "failed", "not-attempted"] = "planned"
    error: str | None = None
    status_message: str | None = None

    @property
    def label(self) -> str:
        base = f"workflow {self.entry['workflowId']} ({self.name})"
        return base if self.version_name is None else f"{base} version {self.version_name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "bundle": self.entry["key"],
            "sourceArn": self.source_arn,
            "sourceUuid": self.entry["uuid"],
            "sourceDigest": self.entry["digest"],
            "name": self.name,
            "versionName": self.version_name,
            "action": self.action,
            "result": self.result,
            "definitionBytes": self.definition_size,
            "definitionSha256": self.definition_sha256,
            "definitionRewritten": any(r.line is not None for r in self.rewrites),
            "inline": self.staged_key is None,
            "stagedKey": self.staged_key,
            "requestId": self.request_id,
            "targetId": self.target_id,
            "targetArn": self.target_arn,
            "targetUuid": self.target_uuid,
            "rewrites": [r.as_dict() for r in self.rewrites],
            "warnings": list(self.warnings),
            "error": self.error,
            "statusMessage": self.status_message,
        }


@dataclass(kw_only=True)
class WorkflowPlan:
    workflow: ItemPlan
    versions: list[ItemPlan] = field(default_factory=list)

    def items(self) -> list[ItemPlan]:
        return [self.workflow, *self.versions]


# -- which snapshot ---------------------------------------------------------------------------------


async def resolve_view(store: Store, config: RestoreConfig) -> SnapshotView:
    """The source state the config asks for (see the module docstring)."""
    parsed = []
    for key in await list_snapshot_keys(store):
        try:
            parsed.append(_layout.parse_snapshot_key(key))
        except ValueError:
            continue
    if config.source_account:
        parsed = [p for p in parsed if p.account == config.source_account]
    if config.source_region:
        parsed = [p for p in parsed if p.region == config.source_region]
    if config.snapshot_id:
        found = [p for p in parsed if p.snapshot_id == config.snapshot_id]
        if not found:
            raise UsageError(f"snapshot {config.snapshot_id} is not in the store {_where(config)}")
        if len(found) > 1:
            raise UsageError(f"snapshot id {config.snapshot_id} exists for several accounts; use --account")
        doc = await load_snapshot(store, found[0].key)
        p = found[0]
        return SnapshotView(
            partition=p.partition,
            account=p.account,
            region=p.region,
            keys=(p.key,),
            bundles=tuple(doc["bundles"]),
        )
    sources = sorted({(p.partition, p.account, p.region) for p in parsed})
    if not sources:
        raise RestoreError(f"the store holds no snapshot {_where(config)}")
    if len(sources) > 1:
        choices = ", ".join(f"--account {a} --source-region {r}" for _, a, r in sources)
        raise UsageError(
            f"the store holds snapshots of several accounts or regions; choose one of: {choices}"
        )
    at = config.at or datetime.now(UTC)
    ordered = sorted(parsed, key=lambda p: (p.time, p.snapshot_id))
    eligible = [p for p in ordered if p.time <= at]
    if not eligible:
        raise RestoreError(
            f"no snapshot at or before {at.isoformat()}; the earliest is {ordered[0].snapshot_id}"
        )
    docs: list[dict[str, Any]] = []
    for p in reversed(eligible):
        doc = await load_snapshot(store, p.key)
        docs.insert(0, doc)
        if doc.get("complete"):
            break
    partition, account, region = sources[0]
    return SnapshotView(
        partition=partition,
        account=account,
        region=region,
        keys=tuple(_layout.snapshot_key(d["partition"], d["account"], d["region"], d["id"]) for d in docs),
        bundles=tuple(_overlay(docs)),
    )


def _where(config: RestoreConfig) -> str:
    parts = [f"account {config.source_account}" if config.source_account else "", config.source_region or ""]
    return ("for " + " in ".join(p for p in parts if p)) if any(parts) else ""


def _overlay(docs: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    """The bundles of ``docs[0]`` with each later snapshot laid over it (see the module docstring)."""
    entries: dict[str, Mapping[str, Any]] = {}
    for doc in docs:
        failed = {str(f.get("workflowId")) for f in doc.get("failed", [])}
        replaced = {
            str(b["workflowUuid"])
            for b in doc["bundles"]
            if b["kind"] == "workflow" and str(b["workflowId"]) not in failed
        }
        entries = {u: e for u, e in entries.items() if str(e["workflowUuid"]) not in replaced}
        for b in doc["bundles"]:
            entries[str(b["uuid"])] = b
    return sorted(entries.values(), key=lambda e: str(e["key"]))


# -- what to restore --------------------------------------------------------------------------------


def select(view: SnapshotView, config: RestoreConfig) -> tuple[list[list[Mapping[str, Any]]], list[str]]:
    """The selected workflows, each as [workflow entry, version entries...]; and selection problems."""
    if not (config.selective or config.select_all):
        raise UsageError("say what to restore: --uuid, --workflow-id, --name or --all")
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for entry in view.bundles:
        groups.setdefault(str(entry["workflowUuid"]), []).append(entry)
    problems: list[str] = []
    chosen: list[list[Mapping[str, Any]]] = []
    matched: set[str] = set()
    for wf_uuid, group in groups.items():
        head = next((e for e in group if e["kind"] == "workflow"), None)
        ident = str(group[0]["workflowId"])
        name = str(head["name"]) if head else ""
        hits = {f"uuid {wf_uuid}"} if wf_uuid in config.workflow_uuids else set()
        if ident in config.workflow_ids:
            hits.add(f"id {ident}")
        hits |= {f"name {pat}" for pat in config.names if head and fnmatch.fnmatchcase(name, pat)}
        if not (hits or config.select_all):
            continue
        matched |= hits
        if head is None:
            problems.append(
                f"workflow {ident} ({wf_uuid}) has only version bundles in the snapshot; its own state "
                "was not backed up, so it cannot be recreated"
            )
            continue
        versions = [e for e in group if e["kind"] == "workflow-version"]
        chosen.append([head, *versions])
    for what, values in (
        ("uuid", config.workflow_uuids),
        ("id", config.workflow_ids),
        ("name", config.names),
    ):
        for value in values:
            if f"{what} {value}" not in matched:
                problems.append(f"no workflow in the snapshot matches {what} {value}")
    return chosen, problems


def target_name(name: str, config: RestoreConfig) -> str:
    if name in config.renames:
        return config.renames[name]
    return config.name_prefix + name


def provenance_tags(metadata: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, str]:
    key = str(entry["key"])
    return {
        TAG_ARN: str(metadata["arn"]),
        TAG_UUID: str(metadata["uuid"]),
        TAG_DIGEST: str(metadata["digest"]),
        TAG_BUNDLE: key if len(key) <= MAX_TAG_VALUE else str(entry["stateId"]),
    }


def matches_bundle(tags: Mapping[str, str], entry: Mapping[str, Any]) -> bool:
    """Whether a target resource's tags say it was restored from ``entry``'s bundle."""
    return tags.get(TAG_UUID) == str(entry["uuid"]) and tags.get(TAG_BUNDLE) in (
        str(entry["key"]),
        str(entry["stateId"]),
    )


def _tags(item: ItemPlan, metadata: Mapping[str, Any], problems: list[str]) -> dict[str, str]:
    source = {str(k): str(v) for k, v in (metadata.get("tags") or {}).items()}
    reserved = sorted(k for k in source if k.lower().startswith("aws:"))
    if reserved:
        item.warnings.append(f"tags reserved by AWS are not carried: {', '.join(reserved)}")
    tags = {k: v for k, v in source.items() if k not in reserved and not k.startswith(TAG_PREFIX)}
    tags.update(provenance_tags(metadata, item.entry))
    if len(tags) > MAX_TAGS:
        problems.append(
            f"{item.label}: {len(tags) - len(PROVENANCE_KEYS)} tags plus {len(PROVENANCE_KEYS)} provenance "
            f"tags exceed the limit of {MAX_TAGS}; remove some tags from the source or restore elsewhere"
        )
    for k, v in tags.items():
        if len(k) > MAX_TAG_KEY or len(v) > MAX_TAG_VALUE:
            problems.append(f"{item.label}: tag {k[:40]!r} is longer than the service allows")
    return tags


def create_params(
    item: ItemPlan,
    metadata: Mapping[str, Any],
    readme: bytes | None,
    registry_map: Mapping[str, Any] | None,
    problems: list[str],
) -> dict[str, Any]:
    """The CreateWorkflow / CreateWorkflowVersion parameters, without definition, requestId or workflowId."""
    params: dict[str, Any] = {k: metadata[k] for k in _CARRIED if metadata.get(k) not in (None, "")}
    if item.kind == "workflow":
        if not item.name or len(item.name) > MAX_NAME:
            problems.append(f"{item.label}: the target name must be 1 to {MAX_NAME} characters")
        params["name"] = item.name
    else:
        params["versionName"] = item.version_name
    params["tags"] = _tags(item, metadata, problems)
    if readme:
        try:
            params["readmeMarkdown"] = readme.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(
                f"{item.label}: the README is not UTF-8 text and cannot be sent as readmeMarkdown"
            )
    if registry_map:
        params["containerRegistryMap"] = dict(registry_map)
    return params


def request_id(item: ItemPlan, target_account: str, target_region: str) -> str:
    """A UUID naming this create for this target: the same bundle, target and request give the same id."""
    basis = {
        "bundle": str(item.entry["key"]),
        "account": target_account,
        "region": target_region,
        "params": item.params,
        "definitionSha256": item.definition_sha256,
    }
    return str(uuid.uuid5(_REQUEST_NAMESPACE, canonical_json(basis).decode()))


# -- the plan ---------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _Context:
    store: Store
    config: RestoreConfig
    view: SnapshotView
    work: Path
    target_account: str
    target_region: str
    problems: list[str]
    sem: asyncio.Semaphore


async def plan_restore(
    store: Store,
    config: RestoreConfig,
    view: SnapshotView,
    *,
    work: Path,
    target_account: str,
    target_region: str,
) -> tuple[list[WorkflowPlan], list[str]]:
    """Read every selected bundle into ``work`` and plan its create; return the plan and its problems.

    A plan with problems must not be executed: each problem would stop the restore part-way.
    """
    groups, problems = select(view, config)
    ctx = _Context(
        store=store,
        config=config,
        view=view,
        work=work,
        target_account=target_account,
        target_region=target_region,
        problems=problems,
        sem=asyncio.Semaphore(config.download_concurrency),
    )
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(_plan_workflow(ctx, group)) for group in groups]
    plans = [p for p in (t.result() for t in tasks) if p is not None]
    plans.sort(key=lambda p: (p.workflow.name, str(p.workflow.entry["workflowUuid"])))
    return plans, problems


async def _plan_workflow(ctx: _Context, group: list[Mapping[str, Any]]) -> WorkflowPlan | None:
    head, versions = group[0], group[1:]
    name = target_name(str(head["name"]), ctx.config)
    items = await asyncio.gather(*(_plan_item(ctx, entry, name) for entry in [head, *versions]))
    if any(i is None for i in items):
        return None
    planned = [i for i in items if i is not None]
    ordered = sorted(planned[1:], key=lambda i: (i.creation_time, str(i.version_name)))
    return WorkflowPlan(workflow=planned[0], versions=ordered)


async def _plan_item(ctx: _Context, entry: Mapping[str, Any], name: str) -> ItemPlan | None:
    key = str(entry["key"])
    stem = str(entry["uuid"]) + "-" + str(entry["stateId"])
    bundle = ctx.work / f"{stem}.tar.zst"
    original = ctx.work / f"{stem}.source.zip"
    try:
        async with ctx.sem:
            await ctx.store.download(key, bundle)
            sha = await asyncio.to_thread(_sha256_file, bundle)
            if entry.get("sha256") and sha != entry["sha256"] and not await _repaired_to(ctx.store, key, sha):
                raise BundleError(f"bundle {key} does not match the SHA-256 its snapshot records", key=key)
            contents = await asyncio.to_thread(read_bundle, bundle, definition_to=original)
    except (StoreError, BundleError) as exc:
        ctx.problems.append(f"cannot read bundle {key}: {exc.message}")
        return None
    finally:
        bundle.unlink(missing_ok=True)
    meta = contents.metadata
    item = ItemPlan(
        kind="workflow" if entry["kind"] == "workflow" else "workflow-version",
        entry=entry,
        name=name,
        version_name=None if entry["kind"] == "workflow" else str(entry["versionName"]),
        source_arn=str(meta.get("arn", contents.manifest["source"]["arn"])),
        creation_time=str(meta.get("creationTime", "")),
    )
    config = ctx.config
    registry, reg_changes = rewrite_registry_map(meta.get("containerRegistryMap"), config.mapping)
    item.rewrites.extend(reg_changes)
    definition = ctx.work / f"{stem}.zip"
    try:
        why = await asyncio.to_thread(zip_problem, original)
        if why:
            ctx.problems.append(f"{item.label}: the definition in bundle {key} {why}")
            original.unlink(missing_ok=True)
            return None
        if config.rewrite_images:
            changes = await asyncio.to_thread(rewrite_definition, original, definition, config.mapping)
            item.rewrites.extend(changes)
            original.unlink(missing_ok=True)
        else:
            original.replace(definition)
        item.definition = definition
        item.definition_size = definition.stat().st_size
        item.definition_sha256 = await asyncio.to_thread(_sha256_file, definition)
        await _warn_references(ctx, item, registry)
        item.warnings.extend(_credential_warnings(registry, ctx.target_account, ctx.target_region))
    except ZIP_ERRORS as exc:
        ctx.problems.append(f"{item.label}: the definition in bundle {key} cannot be read as a ZIP: {exc}")
        return None
    repository = meta.get("definitionRepositoryDetails")
    if isinstance(repository, Mapping):
        item.warnings.append(_repository_warning(repository, ctx.target_account, ctx.target_region))
    if meta.get("profiles") or meta.get("profileParameterTemplates"):
        item.warnings.append(
            "the source has workflow profiles (profiles, profileParameterTemplates); no API sets them, "
            "so they are kept in the archive but not recreated"
        )
    item.params = create_params(item, meta, contents.readme, registry, ctx.problems)
    if item.definition_size > DEFINITION_URI_MAX_BYTES:
        ctx.problems.append(
            f"{item.label}: the definition is {item.definition_size} bytes, over the "
            f"{DEFINITION_URI_MAX_BYTES}-byte limit of definitionUri"
        )
    item.request_id = request_id(item, ctx.target_account, ctx.target_region)
    if item.definition_size > config.inline_limit:
        if config.staging is None:
            ctx.problems.append(
                f"{item.label}: the definition is {item.definition_size} bytes, over the "
                f"{config.inline_limit}-byte inline limit; pass --staging-bucket s3://BUCKET/PREFIX "
                f"(a bucket in {ctx.target_region}) to restore it"
            )
        else:
            item.staged_key = config.staging.key(item.request_id)
    return item


def _credential_warnings(registry: Mapping[str, Any] | None, account: str, region: str) -> list[str]:
    """Registry mappings whose ``credentialArn`` (a Secrets Manager secret) is not the target's own."""
    out: list[str] = []
    for i, entry in enumerate((registry or {}).get("registryMappings") or []):
        arn = entry.get("credentialArn") if isinstance(entry, Mapping) else None
        if not isinstance(arn, str):
            continue
        parts = arn.split(":")
        if len(parts) < 6 or (parts[3], parts[4]) != (region, account):
            out.append(
                f"containerRegistryMap.registryMappings[{i}].credentialArn: {arn} is not a secret of "
                f"{account} in {region}; the pull-through cache needs a secret of the target account "
                "and region (edit the registry map after the restore)"
            )
    return out


def _repository_warning(repository: Mapping[str, Any], account: str, region: str) -> str:
    """The plan's note on a source made from a Git repository: what is lost and how to link it again."""
    reference = repository.get("sourceReference")
    at = ""
    if isinstance(reference, Mapping):
        at = f" at {reference.get('type', '?')} {reference.get('value', '?')}"
    return (
        f"the source was created from repository {repository.get('fullRepositoryId', '?')}{at} through "
        f"connection {repository.get('connectionArn', '?')}; it is restored from the archived ZIP and is "
        "not linked to the repository. Connections belong to one account and region: to link it again, "
        f"create a version from the repository through a connection of {account} in {region}"
    )


async def _warn_references(ctx: _Context, item: ItemPlan, registry: Mapping[str, Any] | None) -> None:
    assert item.definition is not None
    refs: list[EcrReference] = registry_map_references(registry)
    refs += await asyncio.to_thread(find_references, item.definition)
    source_account = ctx.view.account
    for ref in refs:
        where = ref.file if ref.line is None else f"{ref.file}:{ref.line}"
        if ref.account == source_account and source_account != ctx.target_account:
            hint = "" if ref.line is None or ctx.config.rewrite_images else " (see --rewrite-images)"
            item.warnings.append(
                f"{where}: {ref.uri} still points at the source account {source_account}{hint}"
            )
        elif ref.region and ref.region != ctx.target_region:
            item.warnings.append(
                f"{where}: {ref.uri} is in region {ref.region}; private ECR images are pulled from the "
                f"workflow's own region ({ctx.target_region})"
            )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def _repaired_to(store: Store, key: str, sha256: str) -> bool:
    """Whether a repair note vouches for bundle ``key`` holding these bytes (see archiver.repair)."""
    notes, _ = await load_notes(store, key)
    return any(n.sha256 == sha256 for n in notes.get(key, ()))
