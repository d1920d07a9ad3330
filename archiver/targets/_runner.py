"""One process, many targets: every account-region backed up concurrently, each on its own.

Quotas are per account and region, so targets do not compete for them: each target gets its own
:class:`~archiver._aws.OmicsApi` (its own per-operation pacers), its own lock and its own snapshot
(``run_backup`` as for a single account), and they all run at once on one event loop. What they
share is bounded once for the whole process: ``max_targets`` targets in flight (each with the
item bounds of :class:`~archiver._pipeline.BackupConfig`, whose docstring gives the memory of
one), one :class:`~archiver._download.Downloader` for every download (``download_concurrency`` a
target, at most :data:`MAX_SHARED_DOWNLOADS` in all: :func:`shared_downloads`), one store client
and one STS client for the role sessions.

A target's failure is that target's result, never the others': a role that cannot be assumed,
access denied, throttling past its patience, or a bug, all end as a :class:`TargetResult` with
the error, logged with the target's account and region. Only cancellation (Ctrl-C, SIGTERM)
stops the whole run.

The loop itself (:func:`for_each_target`: credentials, a client with its own pacers, the bound,
failure isolation) serves every command that works across targets: backup here, restore and
drill into many destinations (``_restore``, ``_drill``).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from aiobotocore.session import AioSession

from .._aws import AwsSettings, OmicsApi, new_session, open_omics_api
from .._backup import BackupConfig, run_backup
from .._download import Downloader
from .._errors import AccessDenied, ArchiverError, redact
from .._report import BackupReport
from .._slots import Slots
from .._workdir import sweep_work_dirs, work_base
from ..store import Store
from ._credentials import RoleAssumer
from ._model import Target

__all__ = ["Ran", "TargetLogFilter", "TargetResult", "TargetsConfig", "for_each_target", "run_targets"]

log = logging.getLogger("archiver.targets")

TargetOutcome = Literal["ok", "partial", "failed"]
R = TypeVar("R")

_CURRENT: contextvars.ContextVar[Target | None] = contextvars.ContextVar("archiver_target", default=None)


class TargetLogFilter(logging.Filter):
    """Adds ``account`` and ``region`` to every record logged while a target runs.

    Attach it to a handler: every task a target starts inherits its context, so the pipeline's
    own log lines are labelled too. ``prefix`` also puts ``[account/region]`` before the message
    (for the text format; JSON lines carry the fields).
    """

    def __init__(self, *, prefix: bool = False) -> None:
        super().__init__()
        self._prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        target = _CURRENT.get()
        if target is not None and not hasattr(record, "account"):
            record.account, record.region = target.account, target.region
            if self._prefix:
                record.msg = f"[{target.key}] {record.msg}"
        return True


@dataclass(frozen=True, kw_only=True)
class TargetsConfig:
    """How an org-wide run goes: the base AWS settings and the per-target backup settings.

    ``settings`` are the base credentials' (profile, endpoints, rates; each target gets a copy
    with its region and assumed credentials). ``backup`` is applied to every target, with the
    target's own filters added. At most ``max_targets`` targets run at once.
    """

    settings: AwsSettings
    backup: BackupConfig
    max_targets: int = 64
    session_seconds: int = 3600


@dataclass(kw_only=True)
class TargetResult:
    """How one target went: its report, or the error that stopped it before it could report."""

    target: Target
    report: BackupReport | None = None
    error: str | None = None
    duration: float = 0.0

    @property
    def outcome(self) -> TargetOutcome:
        if self.report is None:
            return "failed"
        return self.report.outcome

    def counts(self) -> dict[str, int]:
        """The summary row's numbers: archived (bundles in the snapshot), new, skipped, vanished, failed."""
        r = self.report
        if r is None:
            return {"archived": 0, "new": 0, "skipped": 0, "vanished": 0, "failed": 0}
        return {
            "archived": len(r.bundles),
            "new": r.stats.get("bundlesWritten", 0),
            "skipped": len(r.skipped),
            "vanished": len(r.vanished),
            "failed": len(r.failed) + len(r.quarantined),
        }


# The most downloads in flight for a run of many targets: each holds at most a 1 MiB chunk or a
# definition of up to 1 MiB in memory, so 64 MiB at most.
MAX_SHARED_DOWNLOADS = 64


def shared_downloads(config: TargetsConfig, targets: int) -> int:
    """Downloads in flight for all targets together: ``download_concurrency`` per target running at
    once (one target's quota keeps about that many busy against S3's first-byte latency; one bound
    of 8 for 50 targets made a run download-bound: 32 s against 19 s with 30 ms to first byte), at
    most :data:`MAX_SHARED_DOWNLOADS`."""
    running = max(1, min(targets, config.max_targets))
    return max(1, min(config.backup.download_concurrency * running, MAX_SHARED_DOWNLOADS))


async def run_targets(
    targets: Sequence[Target],
    store: Store,
    config: TargetsConfig,
    *,
    progress: Callable[[list[TargetResult]], None] | None = None,
    on_report: Callable[[Target, BackupReport], None] | None = None,
) -> list[TargetResult]:
    """Back up every target into ``store``, concurrently; one result per target, in their order.

    ``progress`` is called with the results so far as each target ends; ``on_report`` with a target
    and its report whenever that report changes (``run_backup``'s progress callback).
    """
    done: list[TargetResult] = []
    # What killed runs left in the work directory is swept once for the run, not once a target.
    await asyncio.to_thread(sweep_work_dirs, work_base(config.backup.work_dir))
    base_config = dataclasses.replace(config.backup, sweep_work_dir=False)
    async with Downloader(concurrency=shared_downloads(config, len(targets))) as downloader:

        async def backup(target: Target, api: OmicsApi) -> BackupReport:
            base = base_config
            backup = dataclasses.replace(
                base,
                workflow_ids=(*base.workflow_ids, *target.filters.workflow_ids),
                names=(*base.names, *target.filters.names),
                tags={**base.tags, **target.filters.tags},
                account=target.account if target.role_arn is not None else None,
            )
            report_progress = functools.partial(on_report, target) if on_report is not None else None
            return await run_backup(api, store, backup, downloader=downloader, progress=report_progress)

        def ended(ran: Ran[BackupReport]) -> None:
            result = TargetResult(target=ran.target, report=ran.value, error=ran.error, duration=ran.duration)
            if result.report is not None:
                log.info(
                    "target %s: %s",
                    result.target.key,
                    result.outcome,
                    extra={"event": "target-done", "outcome": result.outcome, **result.counts()},
                )
            done.append(result)
            if progress is not None:
                progress(done)

        ran = await for_each_target(
            targets,
            backup,
            settings=config.settings,
            max_targets=config.max_targets,
            session_seconds=config.session_seconds,
            on_done=ended,
        )
    return [TargetResult(target=r.target, report=r.value, error=r.error, duration=r.duration) for r in ran]


@dataclass(kw_only=True)
class Ran(Generic[R]):
    """What one target's work gave (``value``), or the error that stopped it (``error``)."""

    target: Target
    value: R | None = None
    error: str | None = None
    duration: float = 0.0


async def for_each_target(
    targets: Sequence[Target],
    work: Callable[[Target, OmicsApi], Awaitable[R]],
    *,
    settings: AwsSettings,
    max_targets: int = 64,
    session_seconds: int = 3600,
    on_done: Callable[[Ran[R]], None] | None = None,
) -> list[Ran[R]]:
    """Run ``work`` for every target, concurrently, each with an omics client of its own.

    The client signs with the target role's assumed credentials (or, for a target without a role,
    the base credentials, which must then be that account's) in the target's region, and has its
    own pacers. At most ``max_targets`` run at once. Whatever stops one target (AssumeRole refused,
    any :class:`~archiver._errors.ArchiverError`, a bug) is its :class:`Ran`'s ``error``; only
    cancellation stops them all. ``on_done`` is called as each target ends; the results come back
    in the targets' order.
    """
    results: list[Ran[R] | None] = [None] * len(targets)
    gate = Slots(max_targets)
    base_session = new_session(settings.profile, settings.credentials)  # each target's is a copy
    async with RoleAssumer(settings, duration_seconds=session_seconds) as assumer:

        async def one(index: int, target: Target) -> None:
            _CURRENT.set(target)
            async with gate:
                ran = await _one_target(target, work, settings, assumer, base_session)
            results[index] = ran
            if on_done is not None:
                on_done(ran)

        async with asyncio.TaskGroup() as tg:
            for index, target in enumerate(targets):
                tg.create_task(one(index, target), name=f"target {target.key}")
    return [r for r in results if r is not None]


async def _one_target(
    target: Target,
    work: Callable[[Target, OmicsApi], Awaitable[R]],
    base: AwsSettings,
    assumer: RoleAssumer,
    base_session: AioSession,
) -> Ran[R]:
    started = time.monotonic()
    try:
        credentials = await assumer.credentials(target) if target.role_arn is not None else None
        settings = dataclasses.replace(base, region=target.region, credentials=credentials)
        async with open_omics_api(settings, like=base_session) as api:
            if target.role_arn is None:
                identity = await api.caller_identity()
                if identity.account != target.account:
                    raise AccessDenied(
                        f"the base credentials are of account {identity.account}, not {target.account}: "
                        "give the account a role (role: or role_name:)",
                        operation="GetCallerIdentity",
                    )
            value = await work(target, api)
    except ArchiverError as exc:
        message = exc.message
    except Exception as exc:  # a bug must not take the other targets down with it
        log.exception("target %s stopped by an unexpected error", target.key)
        message = redact(f"unexpected error: {type(exc).__name__}: {exc}")
    else:
        return Ran(target=target, value=value, duration=time.monotonic() - started)
    log.error("target %s failed: %s", target.key, message, extra={"event": "target-failed", "error": message})
    return Ran(target=target, error=message, duration=time.monotonic() - started)
