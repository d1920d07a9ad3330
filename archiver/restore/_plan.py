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
import contextlib
import fnmatch
import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .. import _layout
from .._errors import BundleError, RestoreError, StoreError, UsageError
from .._jsonutil import canonical_json
from .._snapshot import list_snapshot_keys, load_snapshot
from .._zipsafe import ZIP_ERRORS
from ..repair import load_notes
from ..store import Store
from ._read import BundleReads
from ._rewrite import (
    EcrMapping,
    EcrReference,
    Rewrite,
    find_references,
    registry_map_references,
    rewrite_definition,
    rewrite_registry_map,
)

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
    "selection",
]

log = logging.getLogger("archiver.restore")

DEFINITION_ZIP_MAX_BYTES = 4_400_000  # inline definitionZip: "4.4 MB"
DEFINITION_URI_MAX_BYTES = 100_000_000  # definitionUri: "100 MB"
# Definitions kept in memory between planning and creation, in all (each at most the inline limit,
# so a staged one is always a file); the rest wait in the work directory.
DEFINITIONS_IN_MEMORY = 64 << 20
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
    # an assumed role's credentials instead of the profile's (restore --targets); never printed
    credentials: Any = field(default=None, repr=False, compare=False)

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

    Every selected definition waits between planning and creation (a plan is checked whole before
    anything is created): in memory up to :data:`DEFINITIONS_IN_MEMORY` bytes in all, each at most
    the inline limit, the rest (and every rewritten one) in ``work_dir``. Memory when rewriting:
    one ZIP member at a time.
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
    images: str = "require"  # images missing in the target: require (refuse), push, allow-missing
    staging: Staging | None = None
    target_account: str | None = None
    inline_limit: int = DEFINITION_ZIP_MAX_BYTES
    wait_timeout: float = 900.0
    poll_interval: float = 1.0
    workflow_concurrency: int = 4
    download_concurrency: int = 4
    dry_run: bool = False
    work_dir: Path | None = None
    allow_same_target: bool = False
    provenance_tags: bool = True
    # a rerun adopts what an earlier restore created (find_earlier_restores); a drill must not: it
    # tests a fresh restore, and what it finds in its sandbox is not its own to check or delete
    adopt_earlier: bool = True
    # a selector matching nothing in this source is not an error (restore --targets: the selectors
    # apply to every source, and the CLI checks that each matches somewhere)
    unmatched_ok: bool = False

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
    definition: Path | None = None  # the definition to send: this file, or
    definition_data: bytes | None = field(default=None, repr=False)  # these bytes
    definition_size: int = 0
    definition_sha256: str = ""
    source_sha256: str = ""
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
    created: tuple[str, dict[str, Any]] | None = field(default=None, repr=False)
    images: Any = field(default=None, repr=False)  # the bundle manifest's image inventory

    @property
    def expected_digests(self) -> frozenset[str]:
        """The digests the service will give the restored copy, as far as they can be known.

        The source's digest when the definition is sent unchanged; and when the source's digest is
        the SHA-256 of its ZIP (the service showed its rule on this very item), the same rule
        applied to the definition sent. Empty when neither holds: nothing is assumed about a
        digest the service computes in an undocumented way.
        """
        source = str(self.entry["digest"])
        found: set[str] = set()
        if not any(r.line is not None for r in self.rewrites):
            found.add(source)
        if self.source_sha256 and source == "sha256:" + self.source_sha256 and self.definition_sha256:
            found.add("sha256:" + self.definition_sha256)
        return frozenset(found)

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


def parse_snapshot_selector(text: str) -> tuple[_layout.SnapshotKey | None, str]:
    """What ``--snapshot`` names: the parsed key if a key is given, and the snapshot id.

    Accepts every form the tool prints: a snapshot id, ``ID.json``, a store key
    (``snapshots/<partition>/<account>/<region>/<id>.json``, as ``backup`` and ``delete`` print it)
    and a full location ending in one (a path or ``s3://`` / ``file://`` URL of the store).
    """
    text = text.strip()
    at = text.rfind("snapshots/")
    if at >= 0:
        with contextlib.suppress(ValueError):
            key = _layout.parse_snapshot_key(text[at:])
            return key, key.snapshot_id
    base = text.rstrip("/").rsplit("/", 1)[-1]
    return None, base[: -len(".json")] if base.endswith(".json") else base


async def _parsed_keys(store: Store) -> list[_layout.SnapshotKey]:
    parsed = []
    for key in await list_snapshot_keys(store):
        try:
            parsed.append(_layout.parse_snapshot_key(key))
        except ValueError:
            continue
    return parsed


async def resolve_view(store: Store, config: RestoreConfig) -> SnapshotView:
    """The source state the config asks for (see the module docstring).

    A snapshot, account or region the store does not hold is the user's input to fix: UsageError
    (exit 2), naming what the store does hold.
    """
    everything = await _parsed_keys(store)
    parsed = everything
    if config.source_account:
        parsed = [p for p in parsed if p.account == config.source_account]
    if config.source_region:
        parsed = [p for p in parsed if p.region == config.source_region]
    if config.snapshot_id:
        wanted, snapshot_id = parse_snapshot_selector(config.snapshot_id)
        found = [p for p in parsed if p.snapshot_id == snapshot_id and (wanted is None or p == wanted)]
        if not found:
            raise UsageError(
                f"snapshot {config.snapshot_id} is not in the store {_where(config)}".rstrip()
                + f"; {_holdings(everything)}"
            )
        if len(found) > 1:
            raise UsageError(
                f"snapshot id {snapshot_id} exists for several accounts or regions; give its key "
                f"({', '.join(p.key for p in found)}) or use --account and --source-region"
            )
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
        if not everything:  # not found, like any snapshot asked for that is not there (exit 2)
            raise UsageError(
                "the store holds no snapshot yet (a backup writes the first): nothing to restore"
            )
        raise UsageError(f"the store holds no snapshot {_where(config)}; {_holdings(everything)}")
    if len(sources) > 1:
        choices = ", ".join(f"--account {a} --source-region {r}" for _, a, r in sources)
        raise UsageError(
            f"the store holds snapshots of several accounts or regions; choose one of: {choices}"
        )
    at = config.at or datetime.now(UTC)
    ordered = sorted(parsed, key=lambda p: (p.time, p.snapshot_id))
    eligible = [p for p in ordered if p.time <= at]
    if not eligible:
        first = ordered[0]
        raise UsageError(
            f"no snapshot at or before {at.isoformat()}; the earliest is {first.snapshot_id} "
            f"(--at {first.time.isoformat()} or later, or --snapshot {first.snapshot_id})"
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


def _holdings(parsed: list[_layout.SnapshotKey]) -> str:
    """What the store does hold, per account and region (for not-found messages)."""
    if not parsed:
        return "the store holds no snapshot at all"
    groups: dict[tuple[str, str], list[_layout.SnapshotKey]] = {}
    for p in parsed:
        groups.setdefault((p.account, p.region), []).append(p)
    parts = []
    for (account, region), keys in sorted(groups.items()):
        newest = max(keys, key=lambda p: (p.time, p.snapshot_id))
        parts.append(f"account {account} {region}: {len(keys)}, the newest {newest.snapshot_id}")
    return "it holds snapshots of " + "; ".join(parts) + " (`omics-archiver snapshots` lists them)"


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


@dataclass(frozen=True)
class Selector:
    """One ``--uuid``, ``--workflow-id`` or ``--name`` value."""

    what: Literal["uuid", "id", "name"]
    value: str

    def matches(self, group: list[Mapping[str, Any]]) -> bool:
        head = next((e for e in group if e["kind"] == "workflow"), None)
        if self.what == "uuid":
            return str(group[0]["workflowUuid"]) == self.value
        if self.what == "id":
            return str(group[0]["workflowId"]) == self.value
        return head is not None and fnmatch.fnmatchcase(str(head["name"]), self.value)

    @property
    def option(self) -> str:
        return {"uuid": "--uuid", "id": "--workflow-id", "name": "--name"}[self.what]


def selectors(config: RestoreConfig) -> list[Selector]:
    return [
        *(Selector("uuid", v) for v in config.workflow_uuids),
        *(Selector("id", v) for v in config.workflow_ids),
        *(Selector("name", v) for v in config.names),
    ]


def _groups(bundles: Any) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for entry in bundles:
        groups.setdefault(str(entry["workflowUuid"]), []).append(entry)
    return groups


def select(
    view: SnapshotView, config: RestoreConfig
) -> tuple[list[list[Mapping[str, Any]]], list[str], list[Selector]]:
    """The selected workflows, each as [workflow entry, version entries...]; selection problems; and
    the selectors that matched nothing in the view."""
    if not (config.selective or config.select_all):
        raise UsageError("say what to restore: --uuid, --workflow-id, --name or --all")
    wanted = selectors(config)
    problems: list[str] = []
    chosen: list[list[Mapping[str, Any]]] = []
    matched: set[Selector] = set()
    for wf_uuid, group in _groups(view.bundles).items():
        head = next((e for e in group if e["kind"] == "workflow"), None)
        hits = {s for s in wanted if s.matches(group)}
        if not (hits or config.select_all):
            continue
        matched |= hits
        if head is None:
            problems.append(
                f"workflow {group[0]['workflowId']} ({wf_uuid}) has only version bundles in the snapshot; "
                "its own state was not backed up, so it cannot be recreated"
            )
            continue
        versions = [e for e in group if e["kind"] == "workflow-version"]
        chosen.append([head, *versions])
    return chosen, problems, [s for s in wanted if s not in matched]


async def not_found_message(store: Store, view: SnapshotView, missing: list[Selector]) -> str:
    """Why the selectors matched nothing, and which older snapshot has each (``--snapshot``, ``--at``).

    Looks through the other snapshots of the view's account and region, newest first, and stops as
    soon as every selector is found (this runs only when a restore cannot go ahead anyway).
    """
    shown = ", ".join(k.rsplit("/", 1)[-1].removesuffix(".json") for k in view.keys)
    where: dict[Selector, _layout.SnapshotKey] = {}
    keys = await list_snapshot_keys(store, partition=view.partition, account=view.account, region=view.region)
    candidates = []
    for key in keys:
        if key in view.keys:
            continue
        with contextlib.suppress(ValueError):
            candidates.append(_layout.parse_snapshot_key(key))
    candidates.sort(key=lambda p: (p.time, p.snapshot_id), reverse=True)
    for p in candidates:
        if len(where) == len(missing):
            break
        try:
            doc = await load_snapshot(store, p.key)
        except (StoreError, BundleError):
            continue
        groups = list(_groups(doc.get("bundles", ())).values())
        for sel in missing:
            if sel not in where and any(sel.matches(g) for g in groups):
                where[sel] = p
    lines = []
    for sel in missing:
        head = f"no workflow in snapshot {shown} matches {sel.option} {sel.value}"
        found = where.get(sel)
        if found is None:
            lines.append(f"{head}, nor in any other snapshot of account {view.account} {view.region}")
        else:
            lines.append(
                f"{head}; snapshot {found.snapshot_id} has it: restore it with --snapshot "
                f"{found.snapshot_id} or --at {found.time.isoformat()}"
            )
    return "\n".join(lines)


def same_target_refusal(
    groups: list[list[Mapping[str, Any]]],
    view: SnapshotView,
    config: RestoreConfig,
    target_account: str,
    target_region: str,
) -> str | None:
    """Why a restore into the source account and region must not go ahead, or ``None``.

    There, every restored workflow keeping its name would sit beside its live original as a
    second workflow with a new id (a restore never replaces anything). That takes either
    ``allow_same_target`` (to bring back deleted workflows, or roll back beside the original) or a
    new name for each (``name_prefix``, ``renames``).
    """
    if config.allow_same_target or (view.account, view.region) != (target_account, target_region):
        return None
    names = {str(g[0]["name"]) for g in groups}
    kept = sorted(n for n in names if target_name(n, config) == n)
    if not kept:
        return None
    shown = ", ".join(kept[:5]) + (f" and {len(kept) - 5} more" if len(kept) > 5 else "")
    return (
        f"the target is the source account {target_account} in {target_region}: the restore would create "
        f"second workflows named {shown} beside the originals, with new ids (nothing is replaced). "
        "Pass --allow-same-target to do that (for example to bring back deleted workflows), or give "
        "the copies other names with --name-prefix PREFIX or --rename OLD=NEW"
    )


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


def _tags(
    item: ItemPlan, metadata: Mapping[str, Any], problems: list[str], *, provenance: bool = True
) -> dict[str, str]:
    source = {str(k): str(v) for k, v in (metadata.get("tags") or {}).items()}
    reserved = sorted(k for k in source if k.lower().startswith("aws:"))
    if reserved:
        item.warnings.append(
            f"tags reserved by AWS are not carried: {', '.join(reserved)} (AWS sets them; nothing to do)"
        )
    tags = {k: v for k, v in source.items() if k not in reserved and not k.startswith(TAG_PREFIX)}
    added = provenance_tags(metadata, item.entry) if provenance else {}
    tags.update(added)
    if len(tags) > MAX_TAGS:
        if added:
            problems.append(
                f"{item.label}: {len(tags) - len(added)} tags plus {len(added)} provenance tags exceed the "
                f"limit of {MAX_TAGS}; pass --no-provenance-tags, remove some tags from the source, or "
                "restore elsewhere"
            )
        else:
            problems.append(f"{item.label}: {len(tags)} tags exceed the limit of {MAX_TAGS}")
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
    *,
    provenance: bool = True,
) -> dict[str, Any]:
    """The CreateWorkflow / CreateWorkflowVersion parameters, without definition, requestId or workflowId."""
    params: dict[str, Any] = {k: metadata[k] for k in _CARRIED if metadata.get(k) not in (None, "")}
    if item.kind == "workflow":
        if not item.name or len(item.name) > MAX_NAME:
            problems.append(f"{item.label}: the target name must be 1 to {MAX_NAME} characters")
        params["name"] = item.name
    else:
        params["versionName"] = item.version_name
    params["tags"] = _tags(item, metadata, problems, provenance=provenance)
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
    reads: BundleReads


Selection = tuple[list[list[Mapping[str, Any]]], list[str]]


async def selection(
    store: Store, config: RestoreConfig, view: SnapshotView, *, target_account: str, target_region: str
) -> Selection:
    """The selected workflows (see :func:`select`) and their problems; UsageError when a selector
    matches nothing (naming the snapshot that has it) or the target is the source (see
    :func:`same_target_refusal`)."""
    groups, problems, missing = select(view, config)
    if missing and not config.unmatched_ok:
        raise UsageError(await not_found_message(store, view, missing))
    refusal = same_target_refusal(groups, view, config, target_account, target_region)
    if refusal:
        raise UsageError(refusal)
    return groups, problems


def bundle_reads(store: Store, config: RestoreConfig, work: Path) -> BundleReads:
    """The reads of a plan's bundles for ``config``, whose definitions wait in memory or ``work``
    (see :class:`RestoreConfig`); start them early with ``start(entries)``, close them after."""
    return BundleReads(
        store,
        work,
        concurrency=config.download_concurrency,
        memory=DEFINITIONS_IN_MEMORY,
        per_item=min(config.inline_limit, DEFINITION_ZIP_MAX_BYTES),
        rewrite=config.rewrite_images,
    )


async def plan_restore(
    store: Store,
    config: RestoreConfig,
    view: SnapshotView,
    *,
    work: Path,
    target_account: str,
    target_region: str,
    selected: Selection | None = None,
    reads: BundleReads | None = None,
) -> tuple[list[WorkflowPlan], list[str]]:
    """Read every selected bundle and plan its create; return the plan and its problems.

    A plan with problems must not be executed: each problem would stop the restore part-way.
    ``reads``: the reads already started (:func:`bundle_reads`, the caller's to close), else
    they are made here, their definitions kept in memory or ``work``.
    """
    groups, problems = selected or await selection(
        store, config, view, target_account=target_account, target_region=target_region
    )
    problems = list(problems)
    ctx = _Context(
        store=store,
        config=config,
        view=view,
        work=work,
        target_account=target_account,
        target_region=target_region,
        problems=problems,
        reads=reads or bundle_reads(store, config, work),
    )
    ctx.reads.start(entry for group in groups for entry in group)
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(_plan_workflow(ctx, group)) for group in groups]
    finally:
        if reads is None:
            await ctx.reads.close()
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
    config = ctx.config
    try:
        read = await ctx.reads.take(entry)
        recorded = entry.get("sha256")
        if recorded and read.sha256 != recorded and not await _repaired_to(ctx.store, key, read.sha256):
            read.discard()
            raise BundleError(f"bundle {key} does not match the SHA-256 its snapshot records", key=key)
        if read.error is not None:
            raise read.error
    except (StoreError, BundleError, RestoreError) as exc:
        ctx.problems.append(f"cannot read bundle {key}: {exc.message}")
        return None
    assert read.contents is not None
    contents = read.contents
    meta = contents.metadata
    item = ItemPlan(
        kind="workflow" if entry["kind"] == "workflow" else "workflow-version",
        entry=entry,
        name=name,
        version_name=None if entry["kind"] == "workflow" else str(entry["versionName"]),
        source_arn=str(meta.get("arn", contents.manifest["source"]["arn"])),
        creation_time=str(meta.get("creationTime", "")),
    )
    item.images = contents.manifest.get("images")
    registry, reg_changes = rewrite_registry_map(meta.get("containerRegistryMap"), config.mapping)
    item.rewrites.extend(reg_changes)
    if read.zip_problem:
        ctx.problems.append(f"{item.label}: the definition in bundle {key} {read.zip_problem}")
        return None
    item.source_sha256 = read.definition_sha256
    refs = read.references
    if config.rewrite_images:
        definition = ctx.work / f"{stem}.zip"
        try:
            assert read.definition is not None  # rewriting: always a file (BundleReads)
            changes, item.definition_sha256, refs = await asyncio.to_thread(
                _rewritten, read.definition, definition, config.mapping
            )
        except ZIP_ERRORS as exc:
            ctx.problems.append(
                f"{item.label}: the definition in bundle {key} cannot be read as a ZIP: {exc}"
            )
            return None
        item.rewrites.extend(changes)
        item.definition = definition
        item.definition_size = await asyncio.to_thread(lambda: definition.stat().st_size)
    else:
        item.definition, item.definition_data = read.definition, read.data
        item.definition_size, item.definition_sha256 = read.size, read.definition_sha256
    _warn_references(ctx, item, registry, refs)
    item.warnings.extend(_credential_warnings(registry, ctx.target_account, ctx.target_region))
    repository = meta.get("definitionRepositoryDetails")
    if isinstance(repository, Mapping):
        item.warnings.append(_repository_warning(repository, ctx.target_account, ctx.target_region))
        connection = str(repository.get("connectionArn"))
        if connection in config.mapping.connections:  # a mapping file (archiver.mapping)
            item.warnings.append(
                f"definitionRepositoryDetails.connectionArn: {connection} maps to "
                f"{config.mapping.connections[connection]}: link the restored workflow through it"
            )
    if meta.get("profiles") or meta.get("profileParameterTemplates"):
        item.warnings.append(
            "the source has workflow profiles (profiles, profileParameterTemplates); no API sets them, "
            "so they are kept in the archive but not recreated"
        )
    item.params = create_params(
        item, meta, contents.readme, registry, ctx.problems, provenance=config.provenance_tags
    )
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


def _warn_references(
    ctx: _Context, item: ItemPlan, registry: Mapping[str, Any] | None, found: list[EcrReference]
) -> None:
    refs: list[EcrReference] = registry_map_references(registry) + found
    source_account = ctx.view.account
    seen: set[str] = set()
    for ref in refs:
        where = ref.file if ref.line is None else f"{ref.file}:{ref.line}"
        in_definition = ref.line is not None and not ctx.config.rewrite_images
        mapping = ctx.config.mapping
        if ref.account == source_account and source_account != ctx.target_account:
            fix = f"--map-account {source_account}={ctx.target_account}"
            if in_definition:
                # already mapped (--mapping, --map-account): only the rewriting of the files is missing
                mapped = mapping.accounts.get(source_account) == ctx.target_account
                fix = "--rewrite-images" if mapped else fix + " with --rewrite-images"
            warning = (
                f"{where}: {ref.uri} still points at the source account {source_account}; pass {fix} "
                "to point it at the target account, or grant the target account pull access"
            )
        elif ref.region and ref.region != ctx.target_region:
            fix = f"--map-region {ref.region}={ctx.target_region}"
            if in_definition:
                mapped = mapping.regions.get(ref.region) == ctx.target_region
                fix = "--rewrite-images" if mapped else fix + " with --rewrite-images"
            warning = (
                f"{where}: {ref.uri} is in region {ref.region}; private ECR images are pulled from the "
                f"workflow's own region ({ctx.target_region}): pass {fix} (and copy the image there)"
            )
        else:
            continue
        if warning not in seen:
            seen.add(warning)
            item.warnings.append(warning)


def _rewritten(
    source: Path, target: Path, mapping: EcrMapping
) -> tuple[list[Rewrite], str, list[EcrReference]]:
    """``source`` rewritten to ``target`` (``source`` is removed): the changes, the SHA-256 of
    ``target`` and the image references left in it."""
    try:
        changes = rewrite_definition(source, target, mapping)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        source.unlink(missing_ok=True)
    digest = hashlib.sha256()
    with open(target, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return changes, digest.hexdigest(), find_references(target)


async def _repaired_to(store: Store, key: str, sha256: str) -> bool:
    """Whether a repair note vouches for bundle ``key`` holding these bytes (see archiver.repair)."""
    notes, _ = await load_notes(store, key)
    return any(n.sha256 == sha256 for n in notes.get(key, ()))
