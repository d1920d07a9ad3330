"""The semantics of each emulated HealthOmics operation, on already validated parameters.

One coroutine per operation takes the caller and the parsed input and returns the output as a
plain dict for ``_model.serialize_output`` (or raises ``ApiError``). This is where the service's
rules live: exactly one definition source (inline ZIP, S3, or a Git repository through
``_repository``) and its size limits, asynchronous create with idempotent ``requestId``, delete
order (versions first, only ACTIVE or FAILED resources, no open shares), the UPDATING and DELETED
statuses (``_lifecycle``), export URLs refused for shared and Ready2Run workflows, shares between
accounts and their PENDING -> ACTIVATING -> ACTIVE and DELETING -> DELETED lifecycle, tag limits
and pagination.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._config import README_MAX_BYTES, EmulatorConfig
from ._definition import S3Reader, inspect_definition
from ._export import Exporter
from ._faults import Governor
from ._lifecycle import mark_changed, snapshot
from ._model import ApiError, known_members
from ._repository import Repositories
from ._state import (
    Caller,
    Share,
    Workflow,
    WorkflowVersion,
    World,
    version_arn,
    workflow_arn,
)

__all__ = ["CallContext", "Operations"]

MAX_VERSIONS = 1000
MAX_TAGS = 50
_ACCOUNT = re.compile(r"[0-9]{12}")


@dataclass(kw_only=True)
class Inputs:
    """What a create request's definition source and README/registry members resolve to."""

    data: bytes
    readme: str | None = None
    readme_path: str | None = None
    parameter_template: dict[str, Any] | None = None
    registry: dict[str, Any] | None = None
    repository: dict[str, Any] | None = None


def repositories_of(config: EmulatorConfig) -> Repositories:
    root = config.repositories_dir
    return Repositories(
        None if root is None else Path(root),
        max_bytes=config.repository_max_bytes,
        file_max_bytes=config.repository_file_max_bytes,
    )


@dataclass(frozen=True)
class CallContext:
    caller: Caller
    base_url: str


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _fingerprint(params: dict[str, Any]) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, bytes):
            return "sha256:" + hashlib.sha256(value).hexdigest()
        raise TypeError(type(value))

    clean = {k: v for k, v in params.items() if k != "requestId"}
    return json.dumps(clean, sort_keys=True, default=default)


def _check_tags(tags: dict[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise ApiError("ValidationException", f"A resource can have at most {MAX_TAGS} tags; got {len(tags)}")
    for key in tags:
        if key.lower().startswith("aws:"):
            raise ApiError("ValidationException", f"Tag keys starting with 'aws:' are reserved: {key}")


class Operations:
    """Runs operations against a :class:`World`; ``config`` is read afresh on every call."""

    def __init__(
        self,
        world: World,
        exporter: Exporter,
        governor: Governor,
        s3: Callable[[], S3Reader],
        config: Callable[[], EmulatorConfig],
    ) -> None:
        self.world = world
        self.exporter = exporter
        self.governor = governor
        self._s3 = s3
        self._config = config
        self._share_rng = random.Random(f"shares:{config().random_seed}")

    async def call(self, name: str, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any] | None:
        handler = getattr(self, "_" + _snake(name))
        result: dict[str, Any] | None = await handler(ctx, params)
        return result

    # --- definitions ------------------------------------------------------------------------------

    async def _definition_inputs(self, caller: Caller, params: dict[str, Any]) -> Inputs:
        """The definition ZIP, README text, registry map and repository details a create names."""
        config = self._config()
        sources = [k for k in ("definitionZip", "definitionUri", "definitionRepository") if k in params]
        if len(sources) != 1:
            raise ApiError(
                "ValidationException",
                "Exactly one of definitionZip, definitionUri or definitionRepository must be specified",
            )
        readmes = [k for k in ("readmeMarkdown", "readmeUri", "readmePath") if k in params]
        if len(readmes) > 1:
            raise ApiError("ValidationException", f"Specify at most one of {', '.join(readmes)}")
        if "parameterTemplate" in params and "parameterTemplatePath" in params:
            raise ApiError(
                "ValidationException", "Specify at most one of parameterTemplate and parameterTemplatePath"
            )
        inputs = Inputs(data=b"", parameter_template=params.get("parameterTemplate"))
        if "definitionRepository" in params:
            built = await repositories_of(config).build(
                caller,
                params["definitionRepository"],
                readme_path=params.get("readmePath"),
                parameter_template_path=params.get("parameterTemplatePath"),
            )
            inputs.data, inputs.readme, inputs.repository = built.data, built.readme, built.details
            inputs.readme_path = params.get("readmePath")
            if built.parameter_template is not None:
                inputs.parameter_template = built.parameter_template
        else:
            for member in ("readmePath", "parameterTemplatePath"):
                if member in params:
                    raise ApiError("ValidationException", f"{member} needs definitionRepository")
        if "definitionZip" in params:
            inputs.data = params["definitionZip"]
            if len(inputs.data) > config.definition_zip_max_bytes:
                raise ApiError(
                    "ValidationException",
                    f"definitionZip is {len(inputs.data)} bytes; the inline limit is "
                    f"{config.definition_zip_max_bytes} bytes, use definitionUri",
                )
        elif "definitionUri" in params:
            inputs.data = await self._s3().read(
                params["definitionUri"], limit=config.definition_uri_max_bytes, member="definitionUri"
            )
        if "readmeUri" in params:
            raw = await self._s3().read(params["readmeUri"], limit=README_MAX_BYTES, member="readmeUri")
            inputs.readme = raw.decode("utf-8", errors="replace")
        elif "readmeMarkdown" in params:
            inputs.readme = params["readmeMarkdown"]
            _check_readme(params["readmeMarkdown"])
        registry = params.get("containerRegistryMap")
        if "containerRegistryMapUri" in params:
            if registry is not None:
                raise ApiError(
                    "ValidationException",
                    "Specify at most one of containerRegistryMap and containerRegistryMapUri",
                )
            raw = await self._s3().read(
                params["containerRegistryMapUri"], limit=README_MAX_BYTES, member="containerRegistryMapUri"
            )
            try:
                registry = json.loads(raw)
            except ValueError as exc:
                raise ApiError(
                    "ValidationException", "containerRegistryMapUri is not a JSON document"
                ) from exc
        inputs.registry = registry
        return inputs

    def _fill(self, record: Workflow | WorkflowVersion, params: dict[str, Any], inputs: Inputs) -> None:
        data = inputs.data
        verdict = inspect_definition(data, params.get("main"), params.get("engine"))
        record.description = params.get("description")
        record.engine = verdict.engine
        record.main = verdict.main
        record.parameter_template = inputs.parameter_template
        record.storage_type = params.get("storageType")
        record.storage_capacity = params.get("storageCapacity")
        record.accelerators = params.get("accelerators")
        record.container_registry_map = inputs.registry
        record.workflow_bucket_owner_id = params.get("workflowBucketOwnerId")
        record.readme = inputs.readme
        record.readme_path = inputs.readme_path
        record.definition_repository_details = inputs.repository
        record.definition = data
        record.digest = "sha256:" + hashlib.sha256(data).hexdigest()
        record.tags = dict(params.get("tags") or {})
        record.final_status = verdict.status
        record.final_message = verdict.message
        record.ready_at = time.monotonic() + self._config().create_delay

    def _idempotent(
        self, caller: Caller, op: str, scope: str, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        account = self.world.region(caller.region).account(caller.account)
        seen = account.idempotency.get((op, scope, params["requestId"]))
        if seen is None:
            return None
        if seen[0] != _fingerprint(params):
            raise ApiError(
                "ConflictException",
                f"requestId {params['requestId']} was already used with different parameters",
            )
        return dict(seen[1])

    def _remember(
        self, caller: Caller, op: str, scope: str, params: dict[str, Any], result: dict[str, Any]
    ) -> None:
        account = self.world.region(caller.region).account(caller.account)
        account.idempotency[(op, scope, params["requestId"])] = (_fingerprint(params), dict(result))

    # --- workflows --------------------------------------------------------------------------------

    async def _create_workflow(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        caller = ctx.caller
        again = self._idempotent(caller, "CreateWorkflow", "", params)
        if again is not None:
            return again
        _check_tags(params.get("tags") or {})
        inputs = await self._definition_inputs(caller, params)
        again = self._idempotent(caller, "CreateWorkflow", "", params)
        if again is not None:
            return again
        workflow = self.new_workflow(caller.account, caller.region)
        workflow.name = params.get("name")
        self._fill(workflow, params, inputs)
        mark_changed(workflow, time.monotonic(), None)
        result = {
            "arn": workflow.arn,
            "id": workflow.id,
            "status": "CREATING",
            "tags": workflow.tags,
            "uuid": workflow.uuid,
        }
        self._remember(caller, "CreateWorkflow", "", params, result)
        return result

    def new_workflow(
        self,
        account: str,
        region: str,
        *,
        fixed_id: str | None = None,
        fixed_uuid: str | None = None,
        type_: str = "PRIVATE",
    ) -> Workflow:
        workflow_id = self.world.new_workflow_id(fixed_id)
        workflow = Workflow(
            id=workflow_id,
            owner=account,
            region=region,
            type=type_,
            uuid=fixed_uuid or self.world.new_uuid(),
            arn=workflow_arn(region, account, workflow_id),
            seq=self.world.next_seq(),
            creation_time=self.world.creation_time(),
        )
        self.world.region(region).account(account).workflows[workflow_id] = workflow
        return workflow

    def new_version(self, workflow: Workflow, name: str, *, fixed_uuid: str | None = None) -> WorkflowVersion:
        if name in workflow.versions:
            raise ApiError("ConflictException", f"Workflow {workflow.id} already has a version named {name}")
        if len(workflow.versions) >= MAX_VERSIONS:
            raise ApiError(
                "ServiceQuotaExceededException", f"Workflow {workflow.id} already has {MAX_VERSIONS} versions"
            )
        version = WorkflowVersion(
            workflow_id=workflow.id,
            version_name=name,
            type=workflow.type,
            uuid=fixed_uuid or self.world.new_uuid(),
            arn=version_arn(workflow.region, workflow.owner, workflow.id, name),
            seq=self.world.next_seq(),
            creation_time=self.world.creation_time(),
        )
        workflow.versions[name] = version
        return version

    def _exports(
        self,
        ctx: CallContext,
        record: Workflow | WorkflowVersion,
        params: dict[str, Any],
        readonly: str | None,
    ) -> dict[str, str]:
        wanted = set(params.get("export") or [])
        if not wanted:
            return {}
        if readonly == "shared":
            raise ApiError("AccessDeniedException", "Export of a shared workflow is not permitted")
        if readonly == "ready2run":
            raise ApiError("AccessDeniedException", "Export of a Ready2Run workflow is not permitted")
        config = self._config()
        out: dict[str, str] = {}
        for kind, member, data in (
            ("definition", "DEFINITION", record.definition),
            ("readme", "README", None if record.readme is None else record.readme.encode()),
        ):
            if member in wanted and data is not None and record.status not in ("FAILED", "DELETED"):
                out[kind] = self.exporter.issue(
                    base_url=ctx.base_url,
                    access_key=ctx.caller.access_key,
                    region=ctx.caller.region,
                    session_token=ctx.caller.session_token,
                    kind=kind,
                    data=data,
                    ttl=config.url_ttl,
                    expire_early=self.governor.expire_early(config),
                )
        return out

    @staticmethod
    def _describe(record: Workflow | WorkflowVersion) -> dict[str, Any]:
        return {
            "arn": record.arn,
            "status": record.status,
            "type": record.type,
            "description": record.description,
            "engine": record.engine,
            "main": record.main,
            "digest": record.digest,
            "parameterTemplate": record.parameter_template,
            "storageCapacity": record.storage_capacity,
            "storageType": record.storage_type,
            "creationTime": record.creation_time,
            "statusMessage": record.status_message,
            "tags": record.tags,
            "accelerators": record.accelerators,
            "uuid": record.uuid,
            "containerRegistryMap": record.container_registry_map,
            "metadata": record.metadata,
            "definitionRepositoryDetails": record.definition_repository_details,
            "readmePath": record.readme_path,
            "profiles": record.profiles,
            "profileParameterTemplates": record.profile_parameter_templates,
        }

    async def _get_workflow(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        workflow, readonly = self.world.find_workflow(
            ctx.caller, params["id"], type_=params.get("type"), owner=params.get("workflowOwnerId")
        )
        out = self._describe(workflow)
        out.update(id=workflow.id, name=workflow.name, **self._exports(ctx, workflow, params, readonly))
        return known_members("GetWorkflow", out)

    async def _list_workflows(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        found = self.world.listable_workflows(
            ctx.caller, params.get("type"), self._config().list_shared_workflows
        )
        if "name" in params:
            found = [w for w in found if w.name == params["name"]]
        scope = f"ListWorkflows:{ctx.caller.account}:{params.get('type')}:{params.get('name')}"
        page, token = self.world.page(
            found, lambda w: w.seq, scope, params.get("startingToken"), params.get("maxResults")
        )
        items = [
            {
                "arn": w.arn,
                "id": w.id,
                "name": w.name,
                "status": w.status,
                "type": w.type,
                "digest": w.digest,
                "creationTime": w.creation_time,
                "metadata": w.metadata,
            }
            for w in page
        ]
        return {"items": self._omit_listed(items), "nextToken": token}

    async def _update_workflow(self, ctx: CallContext, params: dict[str, Any]) -> None:
        workflow = self.world.own_workflow(ctx.caller, params["id"])
        before = self._start_update(workflow, f"Workflow {workflow.id}")
        _update(workflow, params)
        if "name" in params:
            workflow.name = params["name"]
        mark_changed(workflow, time.monotonic(), before)

    def _start_update(self, record: Workflow | WorkflowVersion, what: str) -> Workflow | WorkflowVersion:
        """Refuse an update of a resource that is not ACTIVE or FAILED; else enter UPDATING."""
        now = time.monotonic()
        record.settle(now)
        if record.status not in ("ACTIVE", "FAILED"):
            raise ApiError("ConflictException", f"{what} is {record.status} and cannot be updated now")
        before = snapshot(record)
        record.final_status, record.final_message = record.status, record.status_message
        record.status = "UPDATING"
        record.updating_until = now + self._config().update_delay
        return before

    def _tombstone(self, record: Workflow | WorkflowVersion, what: str) -> None:
        """Refuse the deletion of a resource that is not ACTIVE or FAILED; else mark it DELETED."""
        now = time.monotonic()
        record.settle(now)
        if record.status not in ("ACTIVE", "FAILED"):
            raise ApiError(
                "ConflictException",
                f"{what} is {record.status}; it can be deleted only when it is ACTIVE or FAILED",
            )
        before = snapshot(record)
        record.status, record.status_message = "DELETED", None
        record.gone_at = now + self._config().deleted_linger
        mark_changed(record, now, before)

    async def _delete_workflow(self, ctx: CallContext, params: dict[str, Any]) -> None:
        workflow = self.world.own_workflow(ctx.caller, params["id"])
        if workflow.versions:
            raise ApiError(
                "ConflictException",
                f"Workflow {workflow.id} has {len(workflow.versions)} version(s); delete them first",
            )
        region = self.world.region(ctx.caller.region)
        for share in region.settled_shares():
            if share.resource_arn == workflow.arn and share.status != "DELETED":
                raise ApiError(
                    "ConflictException",
                    f"Workflow {workflow.id} can be deleted only when it has no active shares; "
                    f"share {share.share_id} is {share.status}",
                )
        self._tombstone(workflow, f"Workflow {workflow.id}")
        account = region.account(ctx.caller.account)
        account.deleted[workflow.id] = account.workflows.pop(workflow.id)

    # --- versions ---------------------------------------------------------------------------------

    async def _create_workflow_version(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        caller = ctx.caller
        workflow = self.world.own_workflow(caller, params["workflowId"])
        again = self._idempotent(caller, "CreateWorkflowVersion", workflow.id, params)
        if again is not None:
            return again
        _check_tags(params.get("tags") or {})
        inputs = await self._definition_inputs(caller, params)
        version = self.new_version(workflow, params["versionName"])
        self._fill(version, params, inputs)
        mark_changed(version, time.monotonic(), workflow.deleted_versions.pop(version.version_name, None))
        result = {
            "arn": version.arn,
            "workflowId": workflow.id,
            "versionName": version.version_name,
            "status": "CREATING",
            "tags": version.tags,
            "uuid": version.uuid,
        }
        self._remember(caller, "CreateWorkflowVersion", workflow.id, params, result)
        return result

    def _version(
        self, ctx: CallContext, params: dict[str, Any], *, consistent: bool = False
    ) -> tuple[WorkflowVersion, str | None]:
        workflow, readonly = self.world.find_workflow(
            ctx.caller,
            params["workflowId"],
            type_=params.get("type"),
            owner=params.get("workflowOwnerId"),
            consistent=consistent,
        )
        version = workflow.versions.get(params["versionName"])
        if not consistent:
            version = self.world.visible(version or workflow.deleted_versions.get(params["versionName"]))
        if version is None:
            raise ApiError(
                "ResourceNotFoundException",
                f"Version {params['versionName']} of workflow {params['workflowId']} not found",
            )
        version.settle(time.monotonic())
        return version, readonly

    async def _get_workflow_version(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        version, readonly = self._version(ctx, params)
        out = self._describe(version)
        out.update(
            workflowId=version.workflow_id,
            versionName=version.version_name,
            workflowBucketOwnerId=version.workflow_bucket_owner_id,
            **self._exports(ctx, version, params, readonly),
        )
        return known_members("GetWorkflowVersion", out)

    async def _list_workflow_versions(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        workflow, _ = self.world.find_workflow(
            ctx.caller, params["workflowId"], type_=params.get("type"), owner=params.get("workflowOwnerId")
        )
        versions = self.world.visible_versions(workflow)
        scope = f"ListWorkflowVersions:{workflow.arn}"
        page, token = self.world.page(
            versions, lambda v: v.seq, scope, params.get("startingToken"), params.get("maxResults")
        )
        items = [
            {
                "arn": v.arn,
                "workflowId": v.workflow_id,
                "versionName": v.version_name,
                "description": v.description,
                "status": v.status,
                "type": v.type,
                "digest": v.digest,
                "creationTime": v.creation_time,
                "metadata": v.metadata,
            }
            for v in page
        ]
        return {"items": self._omit_listed(items), "nextToken": token}

    def _omit_listed(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """List items as the model describes them (exactly its members, never one made up), less
        the members ``list_omit`` leaves out: a client must cope with a listing that shows less."""
        omit = self._config().list_omit
        return [{k: v for k, v in item.items() if k not in omit} for item in items] if omit else items

    async def _update_workflow_version(self, ctx: CallContext, params: dict[str, Any]) -> None:
        workflow = self.world.own_workflow(ctx.caller, params["workflowId"])
        version, _ = self._version(
            ctx, {"workflowId": workflow.id, "versionName": params["versionName"]}, consistent=True
        )
        before = self._start_update(version, f"Version {version.version_name} of workflow {workflow.id}")
        _update(version, params)
        mark_changed(version, time.monotonic(), before)

    async def _delete_workflow_version(self, ctx: CallContext, params: dict[str, Any]) -> None:
        workflow = self.world.own_workflow(ctx.caller, params["workflowId"])
        version, _ = self._version(
            ctx, {"workflowId": workflow.id, "versionName": params["versionName"]}, consistent=True
        )
        self._tombstone(version, f"Version {version.version_name} of workflow {workflow.id}")
        workflow.deleted_versions[version.version_name] = workflow.versions.pop(version.version_name)

    # --- shares -----------------------------------------------------------------------------------

    def _share(self, ctx: CallContext, share_id: str) -> Share:
        share = self.world.region(ctx.caller.region).shares.get(share_id)
        if share is None or ctx.caller.account not in (share.owner, share.principal):
            raise ApiError("ResourceNotFoundException", f"Share {share_id} not found")
        share.settle(time.monotonic())
        return share

    def create_share(self, owner: Caller, resource_arn: str, principal: str, name: str | None) -> Share:
        resource = self.world.resource_by_arn(owner, resource_arn, consistent=True)
        if not isinstance(resource, Workflow):
            raise ApiError("ValidationException", "Only workflows can be shared")
        if not _ACCOUNT.fullmatch(principal):
            raise ApiError("ValidationException", "principalSubscriber must be a 12-digit AWS account id")
        if principal == owner.account:
            raise ApiError("ValidationException", "A workflow cannot be shared with its owner")
        region = self.world.region(owner.region)
        for share in region.settled_shares():
            if (
                share.resource_arn == resource_arn
                and share.principal == principal
                and share.status in ("PENDING", "ACTIVATING", "ACTIVE")
            ):
                raise ApiError("ConflictException", f"Workflow is already shared with {principal}")
        now = self.world.creation_time()
        share = Share(
            share_id=self.world.new_uuid(),
            resource_arn=resource_arn,
            resource_id=resource.id,
            principal=principal,
            owner=owner.account,
            status="PENDING",
            share_name=name,
            creation_time=now,
            update_time=now,
            seq=self.world.next_seq(),
        )
        region.shares[share.share_id] = share
        return share

    async def _create_share(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        share = self.create_share(
            ctx.caller, params["resourceArn"], params["principalSubscriber"], params.get("shareName")
        )
        return {"shareId": share.share_id, "status": share.status, "shareName": share.share_name}

    async def _accept_share(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        share = self._share(ctx, params["shareId"])
        if share.principal != ctx.caller.account:
            raise ApiError("AccessDeniedException", "Only the principal subscriber can accept a share")
        if share.status in ("ACTIVATING", "ACTIVE"):
            return {"status": share.status}
        if share.status != "PENDING":
            raise ApiError("ConflictException", f"Share {share.share_id} is {share.status}")
        config = self._config()
        share.status = "ACTIVATING"
        share.settle_at = time.monotonic() + config.share_activation_delay
        share.final_status, share.final_message = "ACTIVE", None
        if config.share_failure_rate > 0 and self._share_rng.random() < config.share_failure_rate:
            share.final_status = "FAILED"
            share.final_message = "The share could not be activated (injected by the emulator)"
        share.update_time = self.world.creation_time()
        return {"status": share.status}

    @staticmethod
    def _share_details(share: Share) -> dict[str, Any]:
        return {
            "shareId": share.share_id,
            "resourceArn": share.resource_arn,
            "resourceId": share.resource_id,
            "principalSubscriber": share.principal,
            "ownerId": share.owner,
            "status": share.status,
            "statusMessage": share.status_message,
            "shareName": share.share_name,
            "creationTime": share.creation_time,
            "updateTime": share.update_time,
        }

    async def _get_share(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"share": self._share_details(self._share(ctx, params["shareId"]))}

    async def _list_shares(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("maxResults") is not None and params["maxResults"] < 1:
            raise ApiError("ValidationException", "maxResults must be at least 1")
        mine = params["resourceOwner"] == "SELF"
        filt = params.get("filter") or {}
        statuses = set(filt.get("status") or [])
        found = []
        for share in self.world.region(ctx.caller.region).settled_shares():
            if (share.owner if mine else share.principal) != ctx.caller.account:
                continue
            if statuses and share.status not in statuses:
                continue
            if not statuses and share.status == "DELETED":
                continue
            if filt.get("resourceArns") and share.resource_arn not in filt["resourceArns"]:
                continue
            if filt.get("type") and "WORKFLOW" not in filt["type"]:
                continue
            found.append(share)
        found.sort(key=lambda s: s.seq)
        scope = f"ListShares:{ctx.caller.account}:{_fingerprint(params | {'nextToken': None})}"
        page, token = self.world.page(
            found, lambda s: s.seq, scope, params.get("nextToken"), params.get("maxResults")
        )
        return {"shares": [self._share_details(s) for s in page], "nextToken": token}

    async def _delete_share(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        share = self._share(ctx, params["shareId"])
        if share.status not in ("DELETING", "DELETED"):
            share.status, share.status_message = "DELETING", None
            share.settle_at = time.monotonic() + self._config().share_deletion_delay
            share.final_status, share.final_message = "DELETED", None
            share.update_time = self.world.creation_time()
        return {"status": share.status}

    # --- tags -------------------------------------------------------------------------------------

    async def _tag_resource(self, ctx: CallContext, params: dict[str, Any]) -> None:
        resource = self.world.resource_by_arn(ctx.caller, params["resourceArn"], consistent=True)
        merged = {**resource.tags, **params["tags"]}
        _check_tags(merged)
        resource.tags = merged

    async def _untag_resource(self, ctx: CallContext, params: dict[str, Any]) -> None:
        resource = self.world.resource_by_arn(ctx.caller, params["resourceArn"], consistent=True)
        for key in params["tagKeys"]:
            resource.tags.pop(key, None)

    async def _list_tags_for_resource(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"tags": dict(self.world.resource_by_arn(ctx.caller, params["resourceArn"]).tags)}


def _check_readme(readme: str) -> None:
    if len(readme.encode()) > README_MAX_BYTES:
        raise ApiError("ValidationException", f"The README is larger than {README_MAX_BYTES} bytes")


def _update(record: Workflow | WorkflowVersion, params: dict[str, Any]) -> None:
    if "description" in params:
        record.description = params["description"]
    if "storageType" in params:
        record.storage_type = params["storageType"]
    if "storageCapacity" in params:
        record.storage_capacity = params["storageCapacity"]
    if "readmeMarkdown" in params:
        _check_readme(params["readmeMarkdown"])
        record.readme = params["readmeMarkdown"]
