"""``restore --targets``: migrate many accounts and regions in one run, one destination each.

Each destination of a :class:`~archiver.targets._pairs.Pairing` is restored as ``restore`` restores
one account-region (``archiver.restore.run_restore``, the whole plan checked before anything is
created there), with the credentials of the role assumed in it and pacers of its own, all
destinations at once (:func:`~archiver.targets._runner.for_each_target`). The sources of one
destination are restored one after the other through its one client. What fails fails where it
happened: a role that cannot be assumed fails its destination, a source whose plan has problems or
whose restore is refused (the same-target protection holds per source and destination) fails that
source; the others go on.

The staging bucket for large definitions may name ``{account}`` and ``{region}``, replaced by each
destination's, since the service reads staged definitions only from a bucket in its own region;
objects are staged with the destination's credentials.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from .._aws import AwsSettings, OmicsApi
from .._errors import ArchiverError
from ..restore import RestoreConfig, RestoreReport, resolve_view, run_restore, select, selectors, target_name
from ..store import Store
from ._destinations import DestinationRun, SourceHook, SourceRun, for_each_destination
from ._model import Target
from ._pairs import Destination, Source

__all__ = [
    "DestinationResult",
    "SourceCheck",
    "SourceResult",
    "check_sources",
    "restore_targets",
    "same_target_pairs",
]

Outcome = Literal["ok", "partial", "failed"]


@dataclass(kw_only=True)
class SourceResult(SourceRun[RestoreReport]):
    """One source restored into its destination: the restore's report, or why there is none."""

    @property
    def outcome(self) -> Outcome:
        return "failed" if self.report is None else self.report.outcome


@dataclass(kw_only=True)
class DestinationResult(DestinationRun[SourceResult]):
    """How one destination went: each source's result, or the error that stopped it (AssumeRole)."""

    @property
    def outcome(self) -> Outcome:
        outcomes = {r.outcome for r in self.results}
        if self.error is not None or not outcomes or outcomes == {"failed"}:
            return "failed"
        return "ok" if outcomes == {"ok"} else "partial"

    def counts(self) -> dict[str, int]:
        """The summary row: workflows and versions created, skipped (restored before), failed."""
        out = {"created": 0, "skipped": 0, "failed": 0}
        for r in self.results:
            if r.report is None:
                continue
            s = r.report.stats
            out["created"] += s["workflowsCreated"] + s["versionsCreated"]
            out["skipped"] += s["workflowsSkipped"] + s["versionsSkipped"]
            out["failed"] += s["failed"]
        return out


def same_target_pairs(destinations: Sequence[Destination], config: RestoreConfig) -> list[str]:
    """``source -> destination`` pairs that would restore into the source itself under the same
    names: refused before anything runs unless ``allow_same_target`` (or new names are given)."""
    if config.allow_same_target or config.name_prefix or config.renames:
        return []
    return [
        f"{s.key} -> {d.target.key}"
        for d in destinations
        for s in d.sources
        if (s.account, s.region) == (d.target.account, d.target.region)
    ]


@dataclass(frozen=True, kw_only=True)
class SourceCheck:
    """What the sources' snapshots say before anything runs (see :func:`check_sources`)."""

    unmatched: list[str]  # "--name X" for each selector matching no workflow of any source
    collisions: list[str]  # "D: NAME (from S1, S2)" for names two sources would create in one destination


async def check_sources(
    store: Store, destinations: Sequence[Destination], config: RestoreConfig
) -> SourceCheck:
    """The selectors that match nothing anywhere, and the names merged sources would both create.

    Each source is restored with the selectors that match there; one matching nowhere is the
    user's input to fix. Workflow names are not unique in HealthOmics, so two sources mapped to one
    destination (accounts merged) that both hold a workflow of one name would leave two workflows of
    that name there, told apart only by their provenance tags: refused too, before the first AWS
    call (restore those sources in separate runs, with ``--account`` and ``--name-prefix``). Reads
    each source's snapshots; a source whose state cannot be resolved counts as matching nothing
    (its restore reports why).
    """
    remaining = set(selectors(config))
    collisions: list[str] = []
    for d in destinations:
        names: dict[str, list[str]] = {}
        for s in d.sources:
            one = dataclasses.replace(
                config, source_account=s.account, source_region=s.region, snapshot_id=None
            )
            try:
                view = await resolve_view(store, one)
            except ArchiverError:
                continue
            groups, _, missing = select(view, one)
            remaining &= set(missing)
            for name in sorted({target_name(str(g[0]["name"]), config) for g in groups}):
                names.setdefault(name, []).append(s.key)
        collisions += [
            f"{d.target.key}: {name} (from {', '.join(keys)})"
            for name, keys in names.items()
            if len(keys) > 1
        ]
    unmatched = [f"{sel.option} {sel.value}" for sel in selectors(config) if sel in remaining]
    return SourceCheck(unmatched=unmatched, collisions=collisions)


def _staging_for(config: RestoreConfig, target: Target, api: OmicsApi) -> RestoreConfig:
    staging = config.staging
    if staging is None:
        return config

    def fill(text: str) -> str:
        return text.replace("{account}", target.account).replace("{region}", target.region)

    return dataclasses.replace(
        config,
        staging=dataclasses.replace(
            staging,
            bucket=fill(staging.bucket),
            prefix=fill(staging.prefix),
            owner_id=fill(staging.owner_id) if staging.owner_id else None,
            region=target.region,
            credentials=api.settings.credentials,
        ),
    )


async def restore_targets(
    destinations: Sequence[Destination],
    store: Store,
    config: RestoreConfig,
    *,
    settings: AwsSettings,
    max_targets: int = 64,
    on_source: SourceHook | None = None,
    on_done: Callable[[DestinationResult], None] | None = None,
) -> list[DestinationResult]:
    """Restore every destination from its sources, concurrently; one result per destination, in order.

    ``config`` is applied to every source with its account and region, the destination's account,
    and ``unmatched_ok`` (a selector need not match in every source).
    """

    async def restore(target: Target, api: OmicsApi, source: Source) -> RestoreReport:
        one = dataclasses.replace(
            _staging_for(config, target, api),
            source_account=source.account,
            source_region=source.region,
            snapshot_id=None,
            target_account=target.account,
            unmatched_ok=True,
        )
        return await run_restore(api, store, one)

    return await for_each_destination(
        destinations,
        restore,
        row=SourceResult,
        result=DestinationResult,
        what="restore",
        settings=settings,
        max_targets=max_targets,
        on_source=on_source,
        on_done=on_done,
    )
