"""What the emulated service remembers: workflows, versions and shares per account and region.

State is keyed the way HealthOmics keys it: each (account, region) owns its private workflows, and a
region holds the shares between its accounts and the Ready2Run workflows every account of the region
can see. This module owns the records, ARNs, ids, the CREATING -> ACTIVE/FAILED clock, visibility
rules (own, shared-with-me, Ready2Run) and the opaque pagination tokens; operation semantics live in
``_ops``. Everything here runs on the emulator's event loop thread only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._model import ApiError

__all__ = [
    "Account",
    "Caller",
    "Region",
    "Share",
    "Workflow",
    "WorkflowVersion",
    "World",
]

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the account (from the access key id) and the region (from the SigV4 scope)."""

    account: str
    region: str
    access_key: str
    session_token: str | None = None


@dataclass(eq=False, kw_only=True)
class _Definitional:
    """Fields a workflow and a version both carry; versions do not inherit them from the workflow."""

    uuid: str
    arn: str
    seq: int
    creation_time: dt.datetime
    type: str = "PRIVATE"
    status: str = "CREATING"
    status_message: str | None = None
    final_status: str = "ACTIVE"
    final_message: str | None = None
    ready_at: float = 0.0
    description: str | None = None
    engine: str | None = None
    main: str | None = None
    parameter_template: dict[str, Any] | None = None
    storage_type: str | None = None
    storage_capacity: int | None = None
    accelerators: str | None = None
    container_registry_map: dict[str, Any] | None = None
    workflow_bucket_owner_id: str | None = None
    readme: str | None = None
    readme_path: str | None = None
    definition_repository_details: dict[str, Any] | None = None
    # Output-only members the service fills in itself; here only a seed sets them.
    metadata: dict[str, Any] | None = None
    profiles: list[str] | None = None
    profile_parameter_templates: dict[str, Any] | None = None
    definition: bytes | None = None
    digest: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def settle(self, now: float) -> None:
        """Finish an asynchronous create once its delay has passed."""
        if self.status == "CREATING" and now >= self.ready_at:
            self.status = self.final_status
            self.status_message = self.final_message


@dataclass(eq=False, kw_only=True)
class WorkflowVersion(_Definitional):
    workflow_id: str
    version_name: str


@dataclass(eq=False, kw_only=True)
class Workflow(_Definitional):
    id: str
    owner: str
    region: str
    name: str | None = None
    versions: dict[str, WorkflowVersion] = field(default_factory=dict)


@dataclass(eq=False, kw_only=True)
class Share:
    share_id: str
    resource_arn: str
    resource_id: str
    principal: str
    owner: str
    status: str
    share_name: str | None
    creation_time: dt.datetime
    update_time: dt.datetime
    seq: int


@dataclass(eq=False)
class Account:
    workflows: dict[str, Workflow] = field(default_factory=dict)
    # (operation, scope, requestId) -> (fingerprint of the parameters, response)
    idempotency: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)


@dataclass(eq=False)
class Region:
    name: str
    accounts: dict[str, Account] = field(default_factory=dict)
    shares: dict[str, Share] = field(default_factory=dict)

    def account(self, account_id: str) -> Account:
        return self.accounts.setdefault(account_id, Account())

    def ready2run(self, workflow_id: str) -> Workflow | None:
        for account in self.accounts.values():
            found = account.workflows.get(workflow_id)
            if found is not None and found.type == "READY2RUN":
                return found
        return None

    def active_share(self, resource_arn: str, principal: str) -> Share | None:
        for share in self.shares.values():
            if (
                share.resource_arn == resource_arn
                and share.principal == principal
                and share.status == "ACTIVE"
            ):
                return share
        return None


class World:
    """Every region's state, the id allocator, the clock of creation times and the token signer."""

    def __init__(self, random_seed: int = 0) -> None:
        self.regions: dict[str, Region] = {}
        self._ids: set[str] = set()
        self._rng = random.Random(f"ids:{random_seed}")
        self._seq = 0
        self._last_time = dt.datetime.fromtimestamp(0, dt.UTC)
        self._token_key = hashlib.sha256(f"tokens:{random_seed}:{uuid.uuid4()}".encode()).digest()

    def region(self, name: str) -> Region:
        return self.regions.setdefault(name, Region(name))

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def creation_time(self) -> dt.datetime:
        """Now, but strictly after every earlier creation time at the millisecond resolution served."""
        now = dt.datetime.now(dt.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_time:
            now = self._last_time + dt.timedelta(milliseconds=1)
        self._last_time = now
        return now

    def new_workflow_id(self, fixed: str | None = None) -> str:
        if fixed is not None:
            if fixed in self._ids:
                raise ValueError(f"workflow id {fixed} is already taken")
            self._ids.add(fixed)
            return fixed
        while True:
            candidate = str(self._rng.randrange(1_000_000, 10_000_000))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def new_uuid(self) -> str:
        return str(uuid.uuid4())

    # --- visibility -------------------------------------------------------------------------------

    def find_workflow(
        self, caller: Caller, workflow_id: str, *, type_: str | None = None, owner: str | None = None
    ) -> tuple[Workflow, str | None]:
        """The workflow ``caller`` may read, and why it is read-only ("shared", "ready2run" or None)."""
        region = self.region(caller.region)
        if type_ == "READY2RUN":
            found = region.ready2run(workflow_id)
            if found is None:
                raise ApiError("ResourceNotFoundException", f"Ready2Run workflow {workflow_id} not found")
            found.settle(time.monotonic())
            return found, "ready2run"
        owner_id = owner or caller.account
        account = region.accounts.get(owner_id)
        workflow = account.workflows.get(workflow_id) if account else None
        if workflow is None or workflow.type != "PRIVATE":
            raise ApiError("ResourceNotFoundException", f"Workflow {workflow_id} not found")
        workflow.settle(time.monotonic())
        if owner_id == caller.account:
            return workflow, None
        if region.active_share(workflow.arn, caller.account) is None:
            raise ApiError("ResourceNotFoundException", f"Workflow {workflow_id} not found")
        return workflow, "shared"

    def own_workflow(self, caller: Caller, workflow_id: str) -> Workflow:
        workflow, readonly = self.find_workflow(caller, workflow_id)
        if readonly is not None:
            raise ApiError("ResourceNotFoundException", f"Workflow {workflow_id} not found")
        return workflow

    def listable_workflows(self, caller: Caller, type_: str | None, include_shared: bool) -> list[Workflow]:
        region = self.region(caller.region)
        now = time.monotonic()
        if type_ == "READY2RUN":
            found = [
                w for a in region.accounts.values() for w in a.workflows.values() if w.type == "READY2RUN"
            ]
        else:
            account = region.accounts.get(caller.account)
            found = [w for w in account.workflows.values() if w.type == "PRIVATE"] if account else []
            if include_shared:
                for share in region.shares.values():
                    if share.principal == caller.account and share.status == "ACTIVE":
                        owner = region.accounts.get(share.owner)
                        shared = owner.workflows.get(share.resource_id) if owner else None
                        if shared is not None and shared not in found:
                            found.append(shared)
        for workflow in found:
            workflow.settle(now)
        return sorted(found, key=lambda w: w.seq)

    def resource_by_arn(self, caller: Caller, arn: str) -> Workflow | WorkflowVersion:
        """A workflow or version of the caller's own account and region, by ARN (for tagging)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "omics":
            raise ApiError("ValidationException", f"Invalid resource ARN: {arn}")
        _, _, _, region, account, resource = parts
        path = resource.split("/")
        if region != caller.region or account != caller.account or path[0] != "workflow" or len(path) < 2:
            raise ApiError("ResourceNotFoundException", f"Resource {arn} not found")
        workflow = self.own_workflow(caller, path[1])
        if len(path) == 2:
            return workflow
        if len(path) == 4 and path[2] == "version" and path[3] in workflow.versions:
            version = workflow.versions[path[3]]
            version.settle(time.monotonic())
            return version
        raise ApiError("ResourceNotFoundException", f"Resource {arn} not found")

    # --- pagination -------------------------------------------------------------------------------

    def _token_mac(self, payload: str) -> str:
        return hmac.new(self._token_key, payload.encode(), hashlib.sha256).hexdigest()[:16]

    def page(
        self, items: Sequence[T], seq_of: Any, scope: str, token: str | None, max_results: int | None
    ) -> tuple[list[T], str | None]:
        """One page of ``items`` (ordered by seq) after ``token``, and the token of the next page."""
        after = 0
        if token is not None:
            after = self._decode_token(scope, token)
        remaining = [item for item in items if seq_of(item) > after]
        size = max_results or 100
        page = remaining[:size]
        if len(remaining) > size:
            payload = json.dumps([scope, seq_of(page[-1])], separators=(",", ":"))
            raw = json.dumps([payload, self._token_mac(payload)], separators=(",", ":"))
            return page, base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return page, None

    def _decode_token(self, scope: str, token: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload, mac = json.loads(raw)
            token_scope, after = json.loads(payload)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise ApiError("ValidationException", "Invalid pagination token") from exc
        if not hmac.compare_digest(str(mac), self._token_mac(str(payload))) or token_scope != scope:
            raise ApiError("ValidationException", "Invalid pagination token")
        return int(after)


def workflow_arn(region: str, account: str, workflow_id: str) -> str:
    return f"arn:aws:omics:{region}:{account}:workflow/{workflow_id}"


def version_arn(region: str, account: str, workflow_id: str, version_name: str) -> str:
    return f"{workflow_arn(region, account, workflow_id)}/version/{version_name}"


def iter_versions(workflow: Workflow) -> Iterable[WorkflowVersion]:
    return sorted(workflow.versions.values(), key=lambda v: v.seq)
