"""Restore and migration: recreate archived workflows in a target account and region.

One capability in three steps, each its own module:

- ``_plan``: which snapshot and bundles, and exactly what each create call will carry (planned
  completely, reading only the store, before anything is created);
- ``_rewrite``: moving private ECR image references to another account or region (``--map-account``,
  ``--map-region``) in definitions and container registry maps;
- ``_run``: the run itself (conflicts, creates, waits, staged definitions) and its
  :class:`RestoreReport`.

``restore`` and ``drill`` (a restore into a sandbox) both use it.
"""

from __future__ import annotations

from ._plan import (
    DEFINITION_URI_MAX_BYTES,
    DEFINITION_ZIP_MAX_BYTES,
    PROVENANCE_KEYS,
    ItemPlan,
    RestoreConfig,
    SnapshotView,
    Staging,
    WorkflowPlan,
    plan_restore,
    resolve_view,
    select,
    selection,
    selectors,
    target_name,
)
from ._rewrite import (
    REGISTRY_MAP,
    EcrMapping,
    EcrReference,
    Rewrite,
    find_references,
    registry_map_references,
    rewrite_definition,
    rewrite_registry_map,
)
from ._run import RestoreReport, run_restore

__all__ = [
    "DEFINITION_URI_MAX_BYTES",
    "DEFINITION_ZIP_MAX_BYTES",
    "PROVENANCE_KEYS",
    "REGISTRY_MAP",
    "EcrMapping",
    "EcrReference",
    "ItemPlan",
    "RestoreConfig",
    "RestoreReport",
    "Rewrite",
    "SnapshotView",
    "Staging",
    "WorkflowPlan",
    "find_references",
    "plan_restore",
    "registry_map_references",
    "resolve_view",
    "rewrite_definition",
    "rewrite_registry_map",
    "run_restore",
    "select",
    "selection",
    "selectors",
    "target_name",
]
