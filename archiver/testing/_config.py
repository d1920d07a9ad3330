"""Configuration and statistics values of the HealthOmics emulator.

These are the only types other engineers' tests construct directly, so they live apart from the
server machinery: plain frozen, keyword-only dataclasses that can be built, compared and replaced
(``dataclasses.replace``) from any thread. :func:`config_from_json` and :func:`stats_to_json` are the
one translation to and from the JSON of the HTTP control API (``/_emulator/...``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._auth import Credential

__all__ = [
    "DEFAULT_QUOTAS",
    "DEFINITION_URI_MAX_BYTES",
    "DEFINITION_ZIP_MAX_BYTES",
    "README_MAX_BYTES",
    "REPOSITORY_FILE_MAX_BYTES",
    "REPOSITORY_MAX_BYTES",
    "EmulatorConfig",
    "EmulatorStats",
    "Faults",
    "config_from_json",
    "stats_to_json",
]

# Inline definitionZip on create: the HealthOmics quota page says "4.4 MB"; read as decimal megabytes.
DEFINITION_ZIP_MAX_BYTES = 4_400_000
# definitionUri (S3) on create: "100 MB", read as decimal megabytes.
DEFINITION_URI_MAX_BYTES = 100_000_000
# definitionRepository (git through CodeConnections): "1 GiB repository, 100 MiB per file".
REPOSITORY_MAX_BYTES = 1 << 30
REPOSITORY_FILE_MAX_BYTES = 100 << 20
# readmeMarkdown / readmeUri: "500 KiB".
README_MAX_BYTES = 500 * 1024

_WORKFLOW_OPS_10 = ("GetWorkflow", "ListWorkflows", "UpdateWorkflow", "DeleteWorkflow")
_VERSION_OPS_10 = (
    "CreateWorkflowVersion",
    "GetWorkflowVersion",
    "ListWorkflowVersions",
    "UpdateWorkflowVersion",
    "DeleteWorkflowVersion",
)
_SHARE_OPS_1 = ("CreateShare", "AcceptShare", "GetShare", "ListShares", "DeleteShare")
_TAG_OPS_10 = ("TagResource", "UntagResource", "ListTagsForResource")

DEFAULT_QUOTAS: Mapping[str, float] = MappingProxyType(
    {
        **dict.fromkeys(_WORKFLOW_OPS_10, 10.0),
        "CreateWorkflow": 5.0,
        **dict.fromkeys(_VERSION_OPS_10, 10.0),
        **dict.fromkeys(_SHARE_OPS_1, 1.0),
        **dict.fromkeys(_TAG_OPS_10, 10.0),
    }
)
"""Requests per second per (account, region, operation); a bucket holds one second of its rate."""


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Injected failures; every field defaults to "off".

    ``error_rate`` and ``throttle_rate`` map an operation name (``"GetWorkflow"``) or ``"*"`` to the
    probability of an InternalServerException or ThrottlingException on a call. The download fields
    act on export URLs: ``truncate_rate`` cuts a download short after sending its Content-Length,
    ``expire_early_rate`` issues URLs that are already expired although they state the normal TTL,
    ``slow_download_bps`` caps download speed.
    """

    error_rate: Mapping[str, float] = field(default_factory=dict)
    throttle_rate: Mapping[str, float] = field(default_factory=dict)
    truncate_rate: float = 0.0
    expire_early_rate: float = 0.0
    slow_download_bps: int | None = None


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Behaviour of one emulator; replace fields at run time with ``Emulator.configure``.

    ``quotas`` maps operation names to requests per second (missing operations are unlimited);
    ``None`` lifts every quota. ``create_delay`` is how long a new workflow or version stays CREATING
    (0: ACTIVE on the next read). ``download_latency`` delays the first byte of each export download.
    ``repositories_dir`` holds the Git repositories ``definitionRepository`` reaches
    (``<dir>/<owner>/<name>``); ``None``: none exists.

    Lifecycle (docs/emulator.md, "Lifecycle and consistency"): ``update_delay`` is how long an
    updated workflow or version stays UPDATING; ``deleted_linger`` how long a deleted one still
    answers reads with status DELETED before 404; ``consistency_lag`` how long after a create, update
    or delete reads may still answer the state before it (seeded by ``random_seed``). Shares:
    ``share_activation_delay`` (ACTIVATING -> ACTIVE), ``share_deletion_delay`` (DELETING ->
    DELETED), ``share_failure_rate`` (probability that an accepted share ends FAILED).

    ``authentication`` checks every API request's SigV4 signature (see ``_auth``); ``credentials``
    are the known access keys (``None``: any 12-digit access key id is its account, and signatures
    cannot be verified, only their shape, scope and date); ``regions`` are the regions the endpoint
    serves (``None``: every region botocore lists for HealthOmics).

    ``deny_assume_role`` are role ARNs STS AssumeRole refuses with AccessDenied (as the seed's
    ``organization.json`` can also say); ``session_ttl`` overrides the lifetime in seconds of the
    credentials AssumeRole issues (``None``: the request's DurationSeconds), so expiry can be tested.

    ``list_omit`` are members (``digest``, ``creationTime``...) that ListWorkflows and
    ListWorkflowVersions items leave out, to test a client against a listing that shows less than
    the model promises.
    """

    url_ttl: float = 300.0
    create_delay: float = 0.0
    latency: float = 0.0
    quotas: Mapping[str, float] | None = field(default_factory=lambda: DEFAULT_QUOTAS)
    faults: Faults = field(default_factory=Faults)
    random_seed: int = 0
    s3_endpoint_url: str | None = None
    list_shared_workflows: bool = False
    download_latency: float = 0.0
    definition_uri_max_bytes: int = DEFINITION_URI_MAX_BYTES
    definition_zip_max_bytes: int = DEFINITION_ZIP_MAX_BYTES
    update_delay: float = 0.05
    deleted_linger: float = 0.5
    consistency_lag: float = 0.0
    share_activation_delay: float = 0.05
    share_deletion_delay: float = 0.05
    share_failure_rate: float = 0.0
    repositories_dir: str | None = None
    repository_max_bytes: int = REPOSITORY_MAX_BYTES
    repository_file_max_bytes: int = REPOSITORY_FILE_MAX_BYTES
    authentication: bool = True
    credentials: Mapping[str, Credential] | None = None
    regions: frozenset[str] | None = None
    deny_assume_role: frozenset[str] = frozenset()
    session_ttl: float | None = None
    list_omit: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class EmulatorStats:
    """A snapshot of what the emulator served since start or the last ``reset_stats``.

    ``calls``: API requests per operation (including refused ones); ``throttled``: 429 answers per
    operation; ``errors``: other error answers per operation (validation, not found, injected 500...);
    ``export_bytes``: body bytes sent by export downloads, keyed ``"definition"`` and ``"readme"``;
    ``downloads``: export download requests that were answered 200.
    """

    calls: Mapping[str, int] = field(default_factory=dict)
    throttled: Mapping[str, int] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)
    export_bytes: Mapping[str, int] = field(default_factory=lambda: {"definition": 0, "readme": 0})
    downloads: int = 0


def _float_map(value: Any, what: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object")
    return {str(k): float(v) for k, v in value.items()}


def config_from_json(base: EmulatorConfig, data: Mapping[str, Any]) -> EmulatorConfig:
    """Apply the JSON object of ``POST /_emulator/config`` to ``base``; unknown keys are an error."""
    simple = {
        "url_ttl": float,
        "create_delay": float,
        "latency": float,
        "download_latency": float,
        "random_seed": int,
        "list_shared_workflows": bool,
        "authentication": bool,
        "definition_uri_max_bytes": int,
        "definition_zip_max_bytes": int,
        "update_delay": float,
        "deleted_linger": float,
        "consistency_lag": float,
        "share_activation_delay": float,
        "share_deletion_delay": float,
        "share_failure_rate": float,
        "repository_max_bytes": int,
        "repository_file_max_bytes": int,
    }
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key in simple:
            changes[key] = simple[key](value)
        elif key in ("s3_endpoint_url", "repositories_dir"):
            changes[key] = None if value is None else str(value)
        elif key == "session_ttl":
            changes[key] = None if value is None else float(value)
        elif key == "list_omit":
            if not isinstance(value, list):
                raise ValueError("list_omit must be a list of member names")
            changes[key] = frozenset(str(v) for v in value)
        elif key == "deny_assume_role":
            if not isinstance(value, list):
                raise ValueError("deny_assume_role must be a list of role ARNs")
            changes[key] = frozenset(str(v) for v in value)
        elif key == "quotas":
            changes[key] = None if value is None else _float_map(value, "quotas")
        elif key == "faults":
            if not isinstance(value, dict):
                raise ValueError("faults must be an object")
            faults: dict[str, Any] = {}
            for fkey, fvalue in value.items():
                if fkey in ("error_rate", "throttle_rate"):
                    faults[fkey] = _float_map(fvalue, fkey)
                elif fkey in ("truncate_rate", "expire_early_rate"):
                    faults[fkey] = float(fvalue)
                elif fkey == "slow_download_bps":
                    faults[fkey] = None if fvalue is None else int(fvalue)
                else:
                    raise ValueError(f"unknown faults key {fkey!r}")
            changes[key] = dataclasses.replace(base.faults, **faults)
        else:
            raise ValueError(f"unknown config key {key!r}")
    return dataclasses.replace(base, **changes)


def stats_to_json(stats: EmulatorStats) -> dict[str, Any]:
    """The JSON object of ``GET /_emulator/stats``."""
    return {
        "calls": dict(stats.calls),
        "throttled": dict(stats.throttled),
        "errors": dict(stats.errors),
        "export_bytes": dict(stats.export_bytes),
        "downloads": stats.downloads,
    }
