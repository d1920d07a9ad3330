"""``restore --targets FILE`` and ``drill --targets FILE``: many destinations, one mapping file.

The targets file names the destination accounts and regions (for ``drill``: the sandboxes) and the
roles to assume there, in the format ``backup --targets`` reads; ``--mapping`` says which archived
account and region goes where (``archiver.targets._pairs``). This module checks the combination
before the first AWS call, prints each destination's plan or result and one summary row per
destination, and aggregates the exit code as ``backup --targets`` does: 0 every destination ok,
3 some partial or failed while others ran, 1 none could run. ``drill`` without ``--targets`` over
a store of several account-regions goes the same way, into the one sandbox the AWS options reach.
While it runs, :class:`~archiver.cli._across_progress.DestinationsProgress` shows the progress.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._aws import AwsSettings, open_omics_api
from .._errors import UsageError
from ..drill import DrillConfig, DrillReport, DrillRun, write_drills_metrics
from ..mapping import MappingFile, load_mapping
from ..restore import RestoreConfig, RestoreReport
from ..store import Store, open_archive
from ..targets import (
    Destination,
    DestinationRun,
    Pairing,
    Source,
    Target,
    TargetLogFilter,
    archived_sources,
    check_sources,
    chosen_sources,
    drill_targets,
    into_one,
    load_targets,
    pair_sources,
    restore_targets,
    same_target_pairs,
    select_by_tags,
)
from ._across_progress import DestinationsProgress
from ._common import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, store_options
from ._destination_options import add_destination_options, check_destination_options, wants_destinations
from ._words import count

if TYPE_CHECKING:
    from ._common import Progress

__all__ = [
    "add_destination_options",
    "check_destination_options",
    "destinations_of",
    "drill_targets_command",
    "label_logs",
    "restore_targets_command",
    "sandbox_of",
    "stored_sources",
    "table",
    "wants_destinations",
]

D = TypeVar("D", bound=DestinationRun[Any])

log = logging.getLogger("archiver.targets")


def label_logs(args: argparse.Namespace, progress: Progress | None) -> None:
    """Every log line of a destination's work names its account and region."""
    text_logs = progress is not None or getattr(args, "log_format", "auto") == "text"
    for handler in logging.getLogger("archiver").handlers:
        handler.addFilter(TargetLogFilter(prefix=text_logs))


async def destinations_of(
    args: argparse.Namespace, settings: AwsSettings, store: Store, mapping: MappingFile
) -> Pairing:
    """The destinations of ``--targets`` paired with the store's sources by the mapping."""
    regions = [settings.region] if settings.region else []
    targets: Sequence[Target] = select_by_tags(
        load_targets(args.targets, default_regions=regions), dict(args.target_tag)
    )
    if not targets:
        raise UsageError(f"--targets {args.targets}: no account matches --target-tag")
    return pair_sources(
        await archived_sources(store),
        targets,
        accounts={**mapping.accounts, **dict(args.map_account)},
        regions={**mapping.regions, **dict(args.map_region)},
        account=args.account,
        source_region=args.source_region,
        where=f"--targets {args.targets}",
    )


def _loaded(args: argparse.Namespace) -> MappingFile:
    return load_mapping(args.mapping) if args.mapping is not None else MappingFile()


def exit_code(outcomes: Sequence[str]) -> int:
    """0 every destination ok; 3 some partial or failed; 1 every one failed (none could run)."""
    if all(o == "ok" for o in outcomes):
        return EXIT_OK
    if all(o == "failed" for o in outcomes):
        return EXIT_FAILURE
    return EXIT_PARTIAL


def overall(code: int) -> str:
    return {EXIT_OK: "ok", EXIT_PARTIAL: "partial", EXIT_FAILURE: "failed"}[code]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def unmatched_lines(pairing: Pairing, verb: str) -> list[str]:
    return [
        f"  not {verb}: {s.key} maps to {account}/{region}, which the targets file does not name"
        for s, account, region in pairing.unmatched
    ]


async def stored_sources(args: argparse.Namespace) -> list[Source]:
    """The account-regions the store holds snapshots of that ``--account``/``--source-region`` leave."""
    async with open_archive(args.store, store_options(args), create=False) as store:
        return chosen_sources(await archived_sources(store), args.account, args.source_region)


async def sandbox_of(args: argparse.Namespace, settings: AwsSettings, store: Store) -> Pairing:
    """``drill`` across a store without ``--targets``: every source the filters leave, into the one
    sandbox the AWS options reach (its account: ``--account-id``, else the caller's)."""
    sources = await archived_sources(store)
    async with open_omics_api(settings) as api:
        identity = await api.caller_identity()
    sandbox = Target(account=args.account_id or identity.account, region=identity.region)
    return into_one(sources, sandbox, account=args.account, source_region=args.source_region)


def across(
    args: argparse.Namespace,
    progress: Progress | None,
    *,
    pair: Callable[[Store], Awaitable[Pairing]],
    run: Callable[..., Awaitable[list[D]]],
    config: RestoreConfig | DrillConfig,
    settings: AwsSettings,
    verb: str,
    what: str,
    ok: Callable[[Any], bool],
) -> tuple[Pairing, list[D]]:
    """The run of ``restore``/``drill`` across destinations: the store opened, the sources paired
    with their destinations (``pair``, which refuses what cannot be right before any AWS call),
    then ``run`` (``restore_targets``, ``drill_targets``) with ``config`` and the live progress view."""

    async def go() -> tuple[Pairing, list[D]]:
        async with open_archive(args.store, store_options(args), create=False) as store:
            pairing = await pair(store)
            _log_pairs(pairing.destinations)
            view = DestinationsProgress(progress, pairing.destinations, verb=verb, what=what, ok=ok)
            with view.watching():
                results = await run(
                    pairing.destinations,
                    store,
                    config,
                    settings=settings,
                    max_targets=args.max_targets,
                    on_source=view.source,
                    on_done=view.destination,
                )
            return pairing, results

    try:
        return asyncio.run(go())
    finally:
        if progress is not None:
            progress.clear()


async def _refuse(store: Store, pairing: Pairing, config: RestoreConfig) -> None:
    """What ``restore --targets`` refuses before the first AWS call (exit 2)."""
    refused = same_target_pairs(pairing.destinations, config)
    if refused:
        raise UsageError(
            f"{', '.join(refused)}: a destination is its source's own account and region; the "
            "restore would create second workflows beside the originals under the same names. Pass "
            "--allow-same-target to do that, or give the copies other names (--name-prefix, --rename)"
        )
    regions = {d.target.region for d in pairing.destinations}
    if config.staging is not None and "{region}" not in config.staging.url and len(regions) > 1:
        raise UsageError(
            f"the staging bucket {config.staging.url} is in one region, but the destinations are in "
            f"{', '.join(sorted(regions))}: name {{region}} in it (e.g. s3://staging-{{account}}-{{region}})"
        )
    checked = await check_sources(store, pairing.destinations, config)
    if checked.unmatched:
        raise UsageError(f"{', '.join(checked.unmatched)}: no workflow of any source matches")
    if checked.collisions:
        raise UsageError(
            f"sources merged into one destination hold workflows of the same name, which would "
            f"become two workflows of that name there: {'; '.join(checked.collisions[:5])}"
            + (f" and {len(checked.collisions) - 5} more" if len(checked.collisions) > 5 else "")
            + ". Restore those sources in separate runs (--account, --source-region) with "
            "--name-prefix or --rename for one of them"
        )


def restore_targets_command(
    args: argparse.Namespace,
    *,
    config: RestoreConfig,
    settings: AwsSettings,
    progress: Progress | None,
    render: Callable[[RestoreReport], str],
) -> int:
    """``restore --targets``: every destination restored at once; the exit code aggregated."""
    label_logs(args, progress)
    mapping = _loaded(args)

    async def pair(store: Store) -> Pairing:
        pairing = await destinations_of(args, settings, store, mapping)
        await _refuse(store, pairing, config)
        return pairing

    started = time.monotonic()
    pairing, results = across(
        args,
        progress,
        pair=pair,
        run=restore_targets,
        config=config,
        settings=settings,
        verb="restoring",
        what="destination",
        ok=lambda row: row.outcome == "ok",
    )
    code = exit_code([r.outcome for r in results])
    if args.json:
        doc = {
            "outcome": overall(code),
            "dryRun": config.dry_run,
            "durationSeconds": round(time.monotonic() - started, 3),
            "destinations": [
                {
                    "account": r.target.account,
                    "region": r.target.region,
                    "name": r.target.name,
                    "roleArn": r.target.role_arn,
                    "outcome": r.outcome,
                    "sources": [s.key for s in r.sources],
                    "durationSeconds": round(r.duration, 3),
                    **r.counts(),
                    "error": r.error,
                    "restores": [
                        {
                            "source": x.source.key,
                            "outcome": x.outcome,
                            "error": x.error,
                            "report": x.report.as_dict() if x.report is not None else None,
                        }
                        for x in r.results
                    ],
                }
                for r in results
            ],
            "unmatched": [
                {"source": s.key, "mapsTo": {"account": a, "region": g}} for s, a, g in pairing.unmatched
            ],
        }
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return code
    out: list[str] = []
    for r in results:
        for x in r.results:
            if x.report is not None:
                out.append(render(x.report))
            else:
                out.append(f"FAILED {x.source.key} -> {r.target.key}: {x.error}")
    ok = sum(1 for r in results if r.outcome == "ok")
    verb = "plan" if config.dry_run else overall(code)
    out.append(f"{verb}: {ok} of {count(len(results), 'destination')} ok")
    out += table(
        ["account", "region", "outcome", "sources", "created", "skipped", "failed", "duration"],
        [
            [
                r.target.account,
                r.target.region,
                r.outcome,
                ",".join(s.key for s in r.sources),
                *(str(v) for v in r.counts().values()),
                f"{r.duration:.1f}s",
            ]
            for r in results
        ],
        {4, 5, 6, 7},
    )
    out += [f"  FAILED {r.target.key}: {r.error}" for r in results if r.error]
    out += unmatched_lines(pairing, "restored")
    print("\n".join(out))
    return code


def _log_pairs(destinations: Sequence[Destination]) -> None:
    log.info(
        "%s: %s",
        count(len(destinations), "destination"),
        "; ".join(f"{', '.join(s.key for s in d.sources)} -> {d.target.key}" for d in destinations),
        extra={
            "event": "destinations",
            "destinations": {d.target.key: [s.key for s in d.sources] for d in destinations},
        },
    )


def drill_targets_command(
    args: argparse.Namespace,
    *,
    config: DrillConfig,
    settings: AwsSettings,
    progress: Progress | None,
    render: Callable[[DrillReport], str],
    into_sandbox: bool = False,
) -> int:
    """``drill --targets``, or (``into_sandbox``) ``drill`` of every archived account-region the
    filters leave into the one sandbox the AWS options reach: all at once, one row per drill.

    Exit 0 when every drill passed, 1 when none did, 3 otherwise.
    """
    label_logs(args, progress)
    mapping = _loaded(args)

    async def pair(store: Store) -> Pairing:
        if into_sandbox:
            return await sandbox_of(args, settings, store)
        return await destinations_of(args, settings, store, mapping)

    started = time.monotonic()
    pairing, results = across(
        args,
        progress,
        pair=pair,
        run=drill_targets,
        config=config,
        settings=settings,
        verb="drilling",
        what="sandbox",
        ok=lambda row: row.ok,
    )
    drills = [(r, d) for r in results for d in r.drills()]
    code = exit_code(["ok" if d.ok else "failed" for _, d in drills])
    if args.metrics_file is not None:
        write_drills_metrics(
            args.metrics_file,
            [
                DrillRun(
                    account=d.source.account,
                    region=d.source.region,
                    ok=d.ok,
                    checks=len(d.report.checks) if d.report else 0,
                    failed=d.report.failed if d.report else 0,
                    duration=r.duration,
                )
                for r, d in drills
            ],
        )
    if args.json:
        doc = {
            "outcome": overall(code),
            "durationSeconds": round(time.monotonic() - started, 3),
            "drills": [
                {
                    "source": {"account": d.source.account, "region": d.source.region},
                    "sandbox": {"account": r.target.account, "region": r.target.region},
                    "ok": d.ok,
                    "error": d.error,
                    "report": d.report.as_dict() if d.report is not None else None,
                }
                for r, d in drills
            ],
            "unmatched": [
                {"source": s.key, "mapsTo": {"account": a, "region": g}} for s, a, g in pairing.unmatched
            ],
        }
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return code
    out = [render(d.report) for _, d in drills if d.report is not None]
    passed = sum(1 for _, d in drills if d.ok)
    out.append(f"{overall(code)}: {passed} of {count(len(drills), 'drill')} passed")
    out += table(
        ["source", "sandbox", "result", "checks", "failed", "record"],
        [
            [
                d.source.key,
                r.target.key,
                "passed" if d.ok else "FAILED",
                str(len(d.report.checks)) if d.report else "0",
                str(d.report.failed) if d.report else "-",
                (d.report.key or "-") if d.report else "-",
            ]
            for r, d in drills
        ],
        {3, 4},
    )
    out += [f"  FAILED {d.source.key} -> {r.target.key}: {d.error}" for r, d in drills if d.error]
    out += unmatched_lines(pairing, "drilled")
    print("\n".join(out))
    return code
