"""``prune``: forget snapshots outside a retention policy, then delete the bundles nothing references."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from .._prune import PruneOptions, PruneReport, RetentionPolicy, prune_store
from ..store import open_archive
from . import _archive  # partially imported here (it imports this module): used at call time only
from ._common import (
    EXIT_OK,
    add_aws_options,
    add_filter_options,
    add_output_options,
    add_store_options,
    int_at_least,
    setup_logging,
    store_options,
)
from ._duration import duration_arg, retention_arg
from ._words import count

_count = int_at_least(0)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "prune",
        help="forget old snapshots by a retention policy and delete unreferenced bundles",
        description=(
            "Apply a retention policy, as restic's 'forget --prune' does, to each series of snapshots "
            "(one per account, region and run filters): a snapshot is kept if any --keep-* rule keeps it; "
            "the others are deleted first, then every bundle that no remaining snapshot references. A "
            "backup running at the same time is protected by lock markers (see docs/format.md): prune "
            "refuses to start while one runs, unless --lock-wait lets it wait. Objects S3 Object Lock still "
            "retains are reported, not an error. Quarantined exports are kept unless --quarantine-within "
            "is given. Retention durations count in y, mo (months), w, d and h: 1y6mo, 30d, 12h."
        ),
    )
    add_store_options(parser)
    add_aws_options(parser, omics=False)
    _archive.add_cache_options(parser)
    p = parser.add_argument_group("policy (per series; at least one)")
    p.add_argument("--keep-last", type=_count, default=0, metavar="N", help="keep the N newest snapshots")
    p.add_argument(
        "--keep-hourly", type=_count, default=0, metavar="N", help="the newest of each of the last N hours"
    )
    p.add_argument(
        "--keep-daily", type=_count, default=0, metavar="N", help="the newest of each of the last N days"
    )
    p.add_argument("--keep-weekly", type=_count, default=0, metavar="N", help="... of the last N ISO weeks")
    p.add_argument("--keep-monthly", type=_count, default=0, metavar="N", help="... of the last N months")
    p.add_argument("--keep-yearly", type=_count, default=0, metavar="N", help="... of the last N years")
    p.add_argument(
        "--keep-within",
        type=retention_arg,
        metavar="DURATION",
        help="keep every snapshot taken within DURATION of the newest one (e.g. 30d, 12h, 1y6mo)",
    )
    s = add_filter_options(parser, workflows=False, title="scope (default: every series)")
    s.add_argument(
        "--quarantine-within",
        type=retention_arg,
        metavar="DURATION",
        help="also delete quarantined exports older than DURATION (default: keep them all)",
    )
    r = parser.add_argument_group("run")
    r.add_argument("--dry-run", action="store_true", help="report what would be deleted; delete nothing")
    r.add_argument(
        "--lock-wait",
        type=duration_arg,
        default=0.0,
        metavar="DURATION",
        help="if a backup is running, wait up to DURATION (90s, 30m, 2h) for it to finish (default: fail "
        "at once)",
    )
    add_output_options(parser)
    parser.set_defaults(run=run_prune)


def run_prune(args: argparse.Namespace) -> int:
    setup_logging(args)
    policy = RetentionPolicy(
        last=args.keep_last,
        hourly=args.keep_hourly,
        daily=args.keep_daily,
        weekly=args.keep_weekly,
        monthly=args.keep_monthly,
        yearly=args.keep_yearly,
        within=args.keep_within,
    )
    options = PruneOptions(
        policy=policy,
        dry_run=args.dry_run,
        account=args.account,
        region=args.source_region,
        quarantine_within=args.quarantine_within,
        lock_wait=args.lock_wait,
    )

    async def go() -> PruneReport:
        async with open_archive(
            args.store, store_options(args), create=False, clean=not args.dry_run
        ) as store:
            return await prune_store(store, options, cache=_archive.open_cache(args, store.url))

    report = asyncio.run(go())
    if args.json:
        json.dump(report.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _summary(report)
    return EXIT_OK


def _summary(report: PruneReport) -> None:
    would = "would " if report.dry_run else ""
    lines = [
        f"{'dry run: ' if report.dry_run else ''}kept {count(len(report.kept), 'snapshot')}, {would}forget "
        f"{len(report.forgotten)}; {would}delete {count(len(report.bundles_deleted), 'unreferenced bundle')} "
        f"({count(report.bytes_deleted, 'byte')}), keep {report.bundles_kept}"
    ]
    lines += [f"  keep    {k['key']}  ({', '.join(k['reasons'])})" for k in report.kept]
    lines += [f"  forget  {key}" for key in report.forgotten]
    lines += [f"  delete  {key}" for key in report.bundles_deleted]
    lines += [f"  delete  {key}" for key in report.quarantine_deleted]
    lines += [
        f"  LOCKED  {x['key']}: {x['reason']} (kept; prune again after the retention date)"
        for x in report.locked
    ]
    print("\n".join(lines))
