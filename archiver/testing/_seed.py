"""Loading a seed directory: workflows that already exist when a test or demo starts.

A seed is a directory tree (its format is documented in docs/emulator.md)::

    <seed>/accounts/<account>/<region>/workflows/<dir>/
        workflow.json  definition/  README.md
        versions/<versionName>/version.json  definition/  README.md

Definitions are zipped deterministically at load time, so the same seed always yields the same
digests. Seeding bypasses the inline size limit and the asynchronous create: it represents state
that exists already. Workflows load in sorted directory order, so creation times increase in load
order; versions in sorted name order unless ``version.json`` gives ``"order"``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._definition import deterministic_zip, inspect_definition
from ._ecr_seed import load_images
from ._model import ApiError, validate_input
from ._ops import repositories_of
from ._state import Caller, Workflow, WorkflowVersion

if TYPE_CHECKING:
    from ._server import Core

__all__ = ["SeedError", "load_seed"]

_ACCOUNT = re.compile(r"[0-9]{12}")
_COMMON_KEYS = {
    "description",
    "engine",
    "main",
    "parameterTemplate",
    "storageType",
    "storageCapacity",
    "accelerators",
    "tags",
    "containerRegistryMap",
    "uuid",
    "status",
    "definitionRepository",
    "readmePath",
    "parameterTemplatePath",
    "metadata",
    "profiles",
    "profileParameterTemplates",
    "creationTime",
}
_WORKFLOW_KEYS = _COMMON_KEYS | {"name", "type", "id", "shareWith"}
_VERSION_KEYS = _COMMON_KEYS | {"order"}
# Seed-only keys, and output members the service sets itself (taken as given, unchecked: a seed may
# hold values the archiver's schemas do not expect).
_SEED_ONLY = {
    "type",
    "id",
    "shareWith",
    "uuid",
    "status",
    "order",
    "creationTime",
    "metadata",
    "profiles",
    "profileParameterTemplates",
}


class SeedError(ValueError):
    """A seed directory does not follow the documented format."""


def _read_json(path: Path, allowed: set[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SeedError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SeedError(f"{path}: must hold a JSON object")
    unknown = set(data) - allowed
    if unknown:
        raise SeedError(f"{path}: unknown key(s) {sorted(unknown)}")
    return data


def _check(op_name: str, spec: dict[str, Any], path: Path, extra: dict[str, Any]) -> None:
    fields = {k: v for k, v in spec.items() if k not in _SEED_ONLY}
    try:
        validate_input(op_name, {**fields, **extra, "requestId": "seed"})
    except ApiError as exc:
        raise SeedError(f"{path}: {exc.message}") from exc


def _creation_time(spec: dict[str, Any], path: Path) -> dt.datetime | None:
    """The seed's fixed ``creationTime`` (RFC 3339 in UTC, served to the millisecond), if it has one."""
    text = spec.get("creationTime")
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise SeedError(f"{path}: creationTime {text!r} is not an RFC 3339 time") from None
    if moment.utcoffset() != dt.timedelta(0):
        raise SeedError(f"{path}: creationTime {text!r} must be in UTC (end it with Z)")
    return moment.astimezone(dt.UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def _source(
    core: Core, caller: Caller, record: Workflow | WorkflowVersion, spec: dict[str, Any], directory: Path
) -> tuple[bytes, str | None]:
    """The definition ZIP and README of a seeded record: from definition/ or from its repository."""
    readme_file = directory / "README.md"
    if "definitionRepository" in spec:
        try:
            built = repositories_of(core.config).build_now(
                caller,
                spec["definitionRepository"],
                readme_path=spec.get("readmePath"),
                parameter_template_path=spec.get("parameterTemplatePath"),
            )
        except ApiError as exc:
            raise SeedError(f"{directory}: {exc.message}") from exc
        record.definition_repository_details = built.details
        record.readme_path = spec.get("readmePath")
        if built.parameter_template is not None:
            record.parameter_template = built.parameter_template
        return built.data, built.readme
    definition = directory / "definition"
    if not definition.is_dir():
        raise SeedError(f"{directory}: has no definition/ directory")
    readme = readme_file.read_text(encoding="utf-8") if readme_file.is_file() else None
    return deterministic_zip(definition), readme


def _fill(
    core: Core, caller: Caller, record: Workflow | WorkflowVersion, spec: dict[str, Any], directory: Path
) -> None:
    fixed_time = _creation_time(spec, directory)
    if fixed_time is not None:
        record.creation_time = fixed_time
    record.parameter_template = spec.get("parameterTemplate")
    data, readme = _source(core, caller, record, spec, directory)
    verdict = inspect_definition(data, spec.get("main"), spec.get("engine"))
    record.description = spec.get("description")
    record.engine = verdict.engine
    record.main = verdict.main
    record.storage_type = spec.get("storageType")
    record.storage_capacity = spec.get("storageCapacity")
    record.accelerators = spec.get("accelerators")
    record.container_registry_map = spec.get("containerRegistryMap")
    record.metadata = _free(spec, "metadata", dict, directory)
    record.profiles = _free(spec, "profiles", list, directory)
    record.profile_parameter_templates = _free(spec, "profileParameterTemplates", dict, directory)
    record.tags = dict(spec.get("tags") or {})
    record.readme = readme
    record.definition = data
    record.digest = "sha256:" + hashlib.sha256(data).hexdigest()
    record.status = spec.get("status", verdict.status)
    record.status_message = None if record.status == "ACTIVE" else verdict.message
    record.final_status, record.final_message = record.status, record.status_message


def _free(spec: dict[str, Any], key: str, kind: type, directory: Path) -> Any:
    value = spec.get(key)
    if value is not None and not isinstance(value, kind):
        raise SeedError(f"{directory}: {key} must be a JSON {'object' if kind is dict else 'array'}")
    return value


def _load_workflow(core: Core, account: str, region: str, directory: Path) -> None:
    spec = _read_json(directory / "workflow.json", _WORKFLOW_KEYS)
    _check("CreateWorkflow", spec, directory / "workflow.json", {})
    type_ = spec.get("type", "PRIVATE")
    if type_ not in ("PRIVATE", "READY2RUN"):
        raise SeedError(f"{directory}: type must be PRIVATE or READY2RUN")
    try:
        workflow = core.ops.new_workflow(
            account, region, fixed_id=spec.get("id"), fixed_uuid=spec.get("uuid"), type_=type_
        )
    except ValueError as exc:
        raise SeedError(f"{directory}: {exc}") from exc
    workflow.name = spec.get("name", directory.name)
    caller = Caller(account=account, region=region, access_key=account)
    _fill(core, caller, workflow, spec, directory)
    versions_dir = directory / "versions"
    entries = []
    if versions_dir.is_dir():
        for version_dir in sorted(p for p in versions_dir.iterdir() if p.is_dir()):
            version_spec = _read_json(version_dir / "version.json", _VERSION_KEYS)
            extra = {"workflowId": "1", "versionName": version_dir.name}
            _check("CreateWorkflowVersion", version_spec, version_dir / "version.json", extra)
            entries.append((version_spec.get("order", 0), version_dir.name, version_dir, version_spec))
    entries.sort(key=lambda e: (e[0], e[1]))
    for _, name, version_dir, version_spec in entries:
        # Seed convenience: a version without engine/main takes the workflow's.
        version_spec.setdefault("engine", spec.get("engine", workflow.engine))
        version_spec.setdefault("main", spec.get("main", workflow.main))
        version = core.ops.new_version(workflow, name, fixed_uuid=version_spec.get("uuid"))
        _fill(core, caller, version, version_spec, version_dir)
    for principal in spec.get("shareWith", []):
        if not _ACCOUNT.fullmatch(str(principal)):
            raise SeedError(f"{directory}: shareWith entries must be 12-digit account ids")
        share = core.ops.create_share(caller, workflow.arn, str(principal), f"seed-{workflow.id}-{principal}")
        share.status = "ACTIVE"


def _load_images(core: Core, account: str, region: str, path: Path) -> None:
    try:
        load_images(core, account, region, path)
    except ValueError as exc:
        raise SeedError(str(exc)) from exc


def load_seed(core: Core, seed_dir: Path) -> None:
    """Create every workflow, version and share of ``seed_dir`` in ``core``'s state.

    A top-level ``organization.json`` (the organization, its accounts, guarded roles) goes to STS
    and Organizations (``_sts``).
    """
    organization = seed_dir / "organization.json"
    if organization.is_file():
        from ._sts import OrganizationError

        try:
            core.directory.load(organization)
        except OrganizationError as exc:
            raise SeedError(str(exc)) from exc
    accounts = seed_dir / "accounts"
    if not accounts.is_dir():
        raise SeedError(f"{seed_dir}: has no accounts/ directory")
    for account_dir in sorted(p for p in accounts.iterdir() if p.is_dir()):
        if not _ACCOUNT.fullmatch(account_dir.name):
            raise SeedError(f"{account_dir}: account directories must be 12-digit account ids")
        for region_dir in sorted(p for p in account_dir.iterdir() if p.is_dir()):
            if (region_dir / "images.json").is_file():  # container images first: workflows name them
                _load_images(core, account_dir.name, region_dir.name, region_dir / "images.json")
            workflows = region_dir / "workflows"
            if not workflows.is_dir():
                continue
            for workflow_dir in sorted(p for p in workflows.iterdir() if p.is_dir()):
                _load_workflow(core, account_dir.name, region_dir.name, workflow_dir)
