"""``omics-archiver drill``: restore a snapshot into a sandbox, check it, clean up, record the result."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from .._aws import open_omics_api
from ..drill import DrillConfig, DrillReport, run_drill, write_drill_metrics
from ..mapping import MappingFile, load_mapping
from ..store import open_archive
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_aws_options,
    add_output_options,
    add_rate_options,
    add_store_options,
    aws_settings,
    check_writable_dir,
    check_writable_file,
    positive_int,
    rates_from,
    setup_logging,
    store_options,
)
from ._restore_options import (
    add_images_options,
    add_mapping_options,
    add_wait_options,
    check_rewrite,
    ecr_mapping,
    images_mode,
    timestamp,
)
from ._restore_targets import (
    add_destination_options,
    check_destination_options,
    drill_targets_command,
    stored_sources,
    wants_destinations,
)
from ._words import count


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "drill",
        help="restore a snapshot into a sandbox, check it, clean up, and record the result",
        description=(
            "The restore test to schedule (weekly: examples/systemd/omics-archiver-drill.timer). Restores "
            "a snapshot (the latest, --snapshot ID or --at TIME; all its workflows or a random --sample N) "
            "into the sandbox account and region that --profile/--region/--endpoint-url reach, under "
            "names starting with drill-<id>-; a store of several accounts or regions has each drilled in "
            "turn into that sandbox (--account/--source-region narrow them; --targets with --mapping gives "
            "each its own sandbox). It waits for ACTIVE, checks each restored workflow and version "
            "(definition bytes through an export and SHA-256, parameter template, README, every image "
            "present in the sandbox's ECR), deletes what it created unless --keep, and records the result "
            "in the store (drills/..., shown by `snapshots`). Exit codes: 0 every check held, 1 a check "
            "failed or the drill could not run, 2 usage error, 3 (several sources) some drills failed, "
            "others passed."
        ),
    )
    add_store_options(parser)
    add_aws_options(parser, what="the sandbox, where the drill restores")
    src = parser.add_argument_group("source state")
    src.add_argument(
        "--account",
        metavar="ID",
        help="only the archive of this account (default: every account in the store)",
    )
    src.add_argument(
        "--source-region",
        metavar="REGION",
        help="only the archive of this region (default: every region in the store)",
    )
    when = src.add_mutually_exclusive_group()
    when.add_argument("--snapshot", metavar="ID", help="drill exactly this snapshot's state")
    when.add_argument(
        "--at",
        metavar="TIME",
        type=timestamp,
        help="drill the state at this time (ISO 8601, UTC unless an offset is given)",
    )
    src.add_argument(
        "--sample",
        type=positive_int,
        metavar="N",
        help="restore a random sample of N workflows (default: all)",
    )
    src.add_argument("--seed", type=int, metavar="N", help="seed of the random sample (default: random)")
    mig = parser.add_argument_group("sandbox")
    add_mapping_options(mig)
    add_images_options(mig, checks="; the drill's image checks still fail")
    mig.add_argument("--keep", action="store_true", help="leave what the drill created in the sandbox")
    run = parser.add_argument_group("run")
    add_wait_options(run)
    add_rate_options(run)
    run.add_argument("--work-dir", type=Path, metavar="DIR", help="temporary space for definitions")
    run.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="write Prometheus metrics (omics_archiver_drill_last_success_timestamp_seconds, failures) "
        "for node_exporter's textfile collector",
    )
    add_destination_options(parser, what="sandbox")
    add_output_options(parser)
    parser.set_defaults(run=run_command)


def config_from_args(args: argparse.Namespace) -> DrillConfig:
    loaded = load_mapping(args.mapping) if args.mapping is not None else MappingFile()
    check_rewrite(args)
    return DrillConfig(
        source_account=args.account,
        source_region=args.source_region,
        snapshot_id=args.snapshot,
        at=args.at,
        sample=args.sample,
        seed=args.seed,
        keep=args.keep,
        images=images_mode(args),
        mapping=ecr_mapping(loaded, args),
        rewrite_images=args.rewrite_images,
        target_account=args.account_id,
        wait_timeout=args.wait_timeout,
        poll_interval=args.poll_interval,
        work_dir=args.work_dir,
    )


def run_command(args: argparse.Namespace) -> int:
    progress = setup_logging(args)
    config = config_from_args(args)
    if args.work_dir is not None:
        check_writable_dir(args.work_dir, "--work-dir")
    if args.metrics_file is not None:
        check_writable_file(args.metrics_file, "--metrics-file")
    settings = aws_settings(args, rates=rates_from(args))
    check_destination_options(args)
    # several archived account-regions (after --account/--source-region): each drilled in turn
    many = not wants_destinations(args) and not args.snapshot and len(asyncio.run(stored_sources(args))) > 1
    if wants_destinations(args) or many:
        return drill_targets_command(
            args, config=config, settings=settings, progress=progress, render=summary, into_sandbox=many
        )

    async def go() -> DrillReport:
        async with (
            open_archive(args.store, store_options(args), create=False) as store,
            open_omics_api(settings) as api,
        ):
            return await run_drill(api, store, config)

    started = time.monotonic()
    report = asyncio.run(go())
    if progress is not None:
        progress.clear()
    if args.metrics_file is not None:
        write_drill_metrics(
            args.metrics_file,
            ok=report.ok,
            checks=len(report.checks),
            failed=report.failed,
            duration=time.monotonic() - started,
            account=report.source.get("account", ""),
            region=report.source.get("region", ""),
        )
    if args.json:
        json.dump(report.as_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(summary(report))
    return EXIT_OK if report.ok else EXIT_FAILURE


def summary(report: DrillReport) -> str:
    src, dst = report.source, report.target
    head = "passed" if report.ok else "FAILED"
    lines = [
        f"drill {report.id} {head}: {count(len(report.workflows), 'workflow')} of account "
        f"{src.get('account')} {src.get('region')} restored into {dst.get('account')} {dst.get('region')}; "
        f"{count(len(report.checks), 'check')}, {report.failed} failed",
    ]
    lines += [
        f"  FAILED {c['check']} of {c['workflow']}: {c['detail']}" for c in report.checks if not c["ok"]
    ]
    kept = [c for c in report.cleanup if not c["deleted"]]
    lines.append(
        f"  cleaned up {count(len(report.cleanup) - len(kept), 'object')}"
        + (f"; {len(kept)} could not be deleted" if kept else "")
    )
    lines.append(f"  recorded as {report.key}")
    return "\n".join(lines)
