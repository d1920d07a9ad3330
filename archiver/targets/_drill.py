"""``drill --targets``: drill every archived account-region into its sandbox, in one run.

The sandboxes are the destinations of a :class:`~archiver.targets._pairs.Pairing` (a targets file
of sandbox accounts and regions with their roles; the mapping sends each archived account-region
to one). Each source is drilled as ``drill`` drills one (``archiver.drill.run_drill``: its state
at ``at`` or now, restored under ``drill-<id>-`` names, checked, cleaned up, recorded in the store
under the source's account and region), the sandboxes concurrently with their own credentials and
pacers, the sources of one sandbox one after the other. A sandbox whose role cannot be assumed
fails its sources' drills without a record (nothing was restored); a drill that fails is recorded
and never stops the others.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .._aws import AwsSettings, OmicsApi
from .._errors import ArchiverError
from ..drill import DrillConfig, DrillReport, run_drill
from ..store import Store
from ._model import Target
from ._pairs import Destination, Source
from ._runner import Ran, for_each_target

__all__ = ["DrillResult", "SandboxResult", "drill_targets"]

log = logging.getLogger("archiver.targets")


@dataclass(kw_only=True)
class DrillResult:
    """One source drilled into its sandbox: the drill's report, or why it could not run."""

    source: Source
    report: DrillReport | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok


@dataclass(kw_only=True)
class SandboxResult:
    """How one sandbox went: each source's drill, or the error that stopped them all (AssumeRole)."""

    target: Target
    sources: tuple[Source, ...]
    results: list[DrillResult] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0

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
    on_done: Callable[[SandboxResult], None] | None = None,
) -> list[SandboxResult]:
    """Drill every source into its sandbox; one result per sandbox, in order."""
    sources = {d.target: d.sources for d in destinations}

    async def drill(target: Target, api: OmicsApi) -> list[DrillResult]:
        out: list[DrillResult] = []
        for source in sources[target]:
            one = dataclasses.replace(
                config,
                source_account=source.account,
                source_region=source.region,
                snapshot_id=None,
                target_account=target.account,
            )
            try:
                report = await run_drill(api, store, one)
            except ArchiverError as exc:
                log.error(
                    "drill of %s into %s could not run: %s",
                    source.key,
                    target.key,
                    exc.message,
                    extra={"event": "source-failed", "source": source.key, "error": exc.message},
                )
                out.append(DrillResult(source=source, error=exc.message))
            else:
                out.append(DrillResult(source=source, report=report))
        return out

    def result(ran: Ran[list[DrillResult]]) -> SandboxResult:
        return SandboxResult(
            target=ran.target,
            sources=sources[ran.target],
            results=ran.value or [],
            error=ran.error,
            duration=ran.duration,
        )

    ran = await for_each_target(
        list(sources),
        drill,
        settings=settings,
        max_targets=max_targets,
        on_done=(lambda r: on_done(result(r))) if on_done is not None else None,
    )
    return [result(r) for r in ran]
