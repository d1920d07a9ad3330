"""Org-wide backups: many accounts and regions (targets) in one run, on one machine or many.

Platform teams run HealthOmics in several accounts and regions; this package backs them all up in
one process (``backup --targets FILE`` or ``--organization``), each target with the credentials of
a role assumed in its account, and splits the targets among the children of an AWS Batch array
job or a Kubernetes Indexed Job (``--shard``) without any coordination between them.

- ``_model``: :class:`Target` (account, region, role, filters, tags);
- ``_file``: the targets file (YAML, ``schemas/targets.schema.json``);
- ``_organization``: the targets of AWS Organizations ``ListAccounts``;
- ``_credentials``: STS AssumeRole, refreshed before expiry;
- ``_sharding``: which targets a shard backs up (rendezvous hashing);
- ``_runner``: every target concurrently, each failure its own; one :class:`TargetResult` each;
- ``_pairs``: which archived account-region goes to which destination (``restore``/``drill``
  ``--targets`` with the restore mapping);
- ``_destinations``: many destinations at once, each through its sources one after the other;
- ``_restore``, ``_drill``: restore and drill into many destinations at once.
"""

from __future__ import annotations

from ._credentials import AssumedRoleCredentials, RoleAssumer
from ._destinations import DestinationRun, SourceHook, SourceRun, for_each_destination
from ._drill import DrillResult, SandboxResult, drill_targets
from ._file import load_targets, parse_targets, select_by_tags
from ._model import SESSION_NAME, Filters, Target, role_arn_for
from ._organization import organization_targets
from ._pairs import Destination, Pairing, Source, archived_sources, chosen_sources, into_one, pair_sources
from ._restore import (
    DestinationResult,
    SourceCheck,
    SourceResult,
    check_sources,
    restore_targets,
    same_target_pairs,
)
from ._runner import Ran, TargetLogFilter, TargetResult, TargetsConfig, for_each_target, run_targets
from ._sharding import Shard, checked, parse_shard, select_shard, shard_of

__all__ = [
    "SESSION_NAME",
    "AssumedRoleCredentials",
    "Destination",
    "DestinationResult",
    "DestinationRun",
    "DrillResult",
    "Filters",
    "Pairing",
    "Ran",
    "RoleAssumer",
    "SandboxResult",
    "Shard",
    "Source",
    "SourceCheck",
    "SourceHook",
    "SourceResult",
    "SourceRun",
    "Target",
    "TargetLogFilter",
    "TargetResult",
    "TargetsConfig",
    "archived_sources",
    "check_sources",
    "checked",
    "chosen_sources",
    "drill_targets",
    "for_each_destination",
    "for_each_target",
    "into_one",
    "load_targets",
    "organization_targets",
    "pair_sources",
    "parse_shard",
    "parse_targets",
    "restore_targets",
    "role_arn_for",
    "run_targets",
    "same_target_pairs",
    "select_by_tags",
    "select_shard",
    "shard_of",
]
