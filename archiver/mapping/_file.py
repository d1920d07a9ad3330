"""Reading a mapping file: bounded, parsed safely, validated, every problem naming the file and path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .._errors import UsageError
from .._schema import json_path, schema

__all__ = ["MAX_BYTES", "MappingFile", "load_mapping"]

MAX_BYTES = 1 << 20


@dataclass(frozen=True, kw_only=True)
class MappingFile:
    """What a mapping file says; every map is source value -> target value."""

    accounts: Mapping[str, str] = field(default_factory=dict)
    regions: Mapping[str, str] = field(default_factory=dict)
    registries: Mapping[str, str] = field(default_factory=dict)
    repository_prefixes: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)
    connections: Mapping[str, str] = field(default_factory=dict)
    staging_bucket: str | None = None
    staging_owner: str | None = None


def load_mapping(path: Path) -> MappingFile:
    """The mapping file at ``path``; :class:`~archiver.UsageError` naming the file and the JSON path."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the mapping file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise UsageError(f"the mapping file {path} is over {MAX_BYTES} bytes")
    try:
        doc: Any = yaml.safe_load(raw.decode("utf-8")) if raw.strip() else {}
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise UsageError(f"the mapping file {path} is not valid YAML{at}") from None
    validator = Draft202012Validator(schema("restore-mapping"))
    error = best_match(validator.iter_errors(doc))
    if error is not None:
        message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
        raise UsageError(f"the mapping file {path} is invalid at {json_path(error.absolute_path)}: {message}")
    ecr = doc.get("ecr") or {}
    staging = doc.get("staging") or {}
    return MappingFile(
        accounts=dict(doc.get("accounts") or {}),
        regions=dict(doc.get("regions") or {}),
        registries=dict(ecr.get("registries") or {}),
        repository_prefixes=dict(ecr.get("repositoryPrefixes") or {}),
        credentials=dict(doc.get("credentials") or {}),
        connections=dict(doc.get("connections") or {}),
        staging_bucket=staging.get("bucket"),
        staging_owner=staging.get("owner"),
    )
