"""``drill --targets``, or ``drill`` over a store of many: every archived account-region drilled.

The sandboxes are the destinations of a :class:`~archiver.targets._pairs.Pairing`: a targets file
of sandbox accounts and regions with their roles, the mapping sending each archived account-region
to one; or, without a targets file, the one sandbox the AWS options reach, for every source
(:func:`~archiver.targets._pairs.into_one`). Each source is drilled as ``drill`` drills one
(``archiver.drill.run_drill``: its state at ``at`` or now, restored under ``drill-<id>-`` names,
checked, cleaned up, recorded in the store under the source's account and region), the sandboxes
concurrently with their own credentials and pacers, the sources of one sandbox one after the
other. A sandbox whose role cannot be assumed fails its sources' drills without a record (nothing
was restored); a drill that fails is recorded and never stops the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._aws import AwsSettings, OmicsApi
from ..drill import DrillConfig, DrillReport, run_drill
from ..store import Store
from ._destinations import DestinationRun, SourceHook, SourceRun, for_each_destination
from ._model import Target
from ._pairs import Destination, Source

__all__ = ["DrillResult", "SandboxResult", "drill_targets"]


@dataclass(kw_only=True)
class DrillResult(SourceRun[DrillReport]):
    """One source drilled into its sandbox: the drill's report, or why it could not run."""

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok


@dataclass(kw_only=True)
class SandboxResult(DestinationRun[DrillResult]):
    """How one sandbox went: each source's drill, or the error that stopped them all (AssumeRole)."""

    def drills(self) -> list[DrillResult]:
        """One per source: a sandbox that could not be reached fails every drill of it."""
        if self.error is not None:
            return [DrillResult(source=s, error=self.error) for s in self.sources]
        return self.results


async def drill_targets(
    destinations: Sequence[Destination],
    store: Store,
    config: DrillConfig,
    *,
    settings: AwsSettings,
    max_targets: int = 64,
    on_source: SourceHook | None = None,
    on_done: Callable[[SandboxResult], None] | None = None,
) -> list[SandboxResult]:
    """Drill every source into its sandbox; one result per sandbox, in order."""

    async def drill(target: Target, api: OmicsApi, source: Source) -> DrillReport:
        one = dataclasses.replace(
            config,
            source_account=source.account,
            source_region=source.region,
            snapshot_id=None,
            target_account=target.account,
        )
        return await run_drill(api, store, one)

    return await for_each_destination(
        destinations,
        drill,
        row=DrillResult,
        result=SandboxResult,
        what="drill",
        settings=settings,
        max_targets=max_targets,
        on_source=on_source,
        on_done=on_done,
    )
