"""``omics-archiver backup``: the nightly disaster-recovery job."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._aws import open_omics_api
from .._backup import BackupConfig, Sharding, run_backup
from .._metrics import write_metrics
from .._report import BackupReport
from ..store import open_archive
from ._backup_targets import add_target_options, run_targets_command, wants_targets
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_PARTIAL,
    add_aws_options,
    add_output_options,
    add_rate_options,
    add_store_options,
    aws_settings,
    check_writable_dir,
    check_writable_file,
    key_value,
    positive_int,
    rates_from,
    setup_logging,
    store_options,
)
from ._duration import duration_arg
from ._progress import BackupProgress, human_bytes

_EXIT = {"ok": EXIT_OK, "partial": EXIT_PARTIAL, "failed": EXIT_FAILURE}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "backup",
        help="back up every private workflow and version of an account and region",
        description=(
            "Back up every private HealthOmics workflow of the account and region, and every version of "
            "each, into immutable zstd-compressed bundles, then write a snapshot of the account's state. "
            "Workflows shared with the account by others cannot be exported and are skipped with a "
            "warning; Ready2Run workflows are left out. A state already in the store is not downloaded "
            "again. On a terminal, a progress bar shows totals, rate and ETA, and a summary table ends the "
            "run (-v adds a line per bundle); without one, JSON lines (start, progress, summary events)."
        ),
    )
    add_store_options(parser, write=True)
    add_aws_options(parser)
    sel = parser.add_argument_group("selection (any filter makes the snapshot partial)")
    sel.add_argument(
        "--workflow-id", action="append", default=[], metavar="ID", help="only this workflow (repeatable)"
    )
    sel.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="GLOB",
        help="only workflows whose name matches (repeatable)",
    )
    sel.add_argument(
        "--tag",
        action="append",
        default=[],
        type=key_value,
        metavar="KEY=VALUE",
        help="only workflows carrying this tag (repeatable; all must match)",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--concurrency",
        type=positive_int,
        default=16,
        metavar="N",
        help="workflows in flight at once in each process (versions: twice that); the API rate limits "
        "set the pace (default: %(default)s)",
    )
    run.add_argument(
        "--download-concurrency",
        type=positive_int,
        default=8,
        metavar="N",
        help="definition and README downloads at once, per process; with --targets, per target, at most "
        "64 in all (default: %(default)s)",
    )
    run.add_argument(
        "--processes",
        type=_processes_arg,
        default="auto",
        metavar="N|auto",
        help="processes sharing the work (each at 1/N of every rate, so that together they stay under the "
        "quotas). One process keeps up with the default quotas several times over; more only help when "
        f"the export rates are raised past what one CPU core can serve. auto: 1 while GetWorkflow and "
        f"GetWorkflowVersion are paced at {_ONE_PROCESS_RATE:g}/s or less, else one per CPU core (at most "
        f"{_MAX_PROCESSES}) (default: %(default)s)",
    )
    add_rate_options(run)
    run.add_argument(
        "--lock-wait",
        type=duration_arg,
        default=0.0,
        metavar="DURATION",
        help="if another backup of the same account and region is running, wait up to DURATION (90s, "
        "30m, 2h) for it to finish, then refuse (default: refuse at once)",
    )
    run.add_argument(
        "--images",
        choices=("record", "copy"),
        default="record",
        help="record: list each image and its ECR digest in the manifests; copy: also archive the images "
        "themselves in the store (OCI layout under images/, each blob once; see docs/format.md) "
        "(default: record)",
    )
    run.add_argument(
        "--progress-interval",
        type=duration_arg,
        default=10.0,
        metavar="DURATION",
        help="without a terminal, log a progress event at most this often (default: 10s)",
    )
    run.add_argument(
        "--full-every",
        type=positive_int,
        default=7,
        metavar="N",
        help="an item whose listing shows the archived state (same digest, name, description, status, "
        "creation time) is confirmed without a Get call, except that each run reads 1/N of them in full, "
        "so every item is read at least once every N runs; that catches what a listing cannot show "
        "(README, tags, storage, registry map). 1: read everything every run (default: %(default)s)",
    )
    run.add_argument(
        "--full", action="store_true", help="read every item in full this run (no confirmation by listing)"
    )
    run.add_argument("--dry-run", action="store_true", help="report what would be written; write nothing")
    run.add_argument(
        "--work-dir", type=Path, metavar="DIR", help="temporary space for downloads (default: system)"
    )
    run.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="write Prometheus metrics for node_exporter's textfile collector (atomically) after the run",
    )
    run.add_argument(
        "--metrics-job",
        default="backup",
        metavar="NAME",
        help="the archiver_job label of the metrics (default: %(default)s)",
    )
    add_target_options(parser)
    add_output_options(parser)
    parser.set_defaults(run=run_command)


_ONE_PROCESS_RATE = 40.0  # calls/s one process serves with room to spare (it manages ~100 on one core)
_MAX_PROCESSES = 8


def _processes_arg(value: str) -> int | str:
    return "auto" if value == "auto" else positive_int(value)


def processes_for(requested: int | str, rates: Mapping[str, float] | None, cpus: int | None) -> int:
    """``--processes``: a number as given; ``auto`` from the export rates and the CPU count."""
    if requested != "auto":
        return int(requested)
    export = [(rates or {}).get(op, 0.0) for op in ("GetWorkflow", "GetWorkflowVersion")]
    if rates is not None and all(0 < rate <= _ONE_PROCESS_RATE for rate in export):
        return 1
    return max(1, min(cpus or 1, _MAX_PROCESSES))


def run_command(args: argparse.Namespace) -> int:
    progress = setup_logging(args)
    if args.work_dir is not None:
        check_writable_dir(args.work_dir, "--work-dir")
    if args.metrics_file is not None:
        check_writable_file(args.metrics_file, "--metrics-file")
    rates = rates_from(args)
    settings = aws_settings(args, rates=rates)
    if wants_targets(args):
        return run_targets_command(
            args, settings=settings, config=_config(args), progress=progress, who=_who(args)
        )
    processes = processes_for(args.processes, rates, os.cpu_count())
    sharding = (
        Sharding(processes=processes, aws=settings, store_url=args.store, store_options=store_options(args))
        if processes > 1
        else None
    )
    config = _config(args)

    async def go() -> BackupReport:
        async with (
            open_archive(args.store, store_options(args), create=not args.dry_run) as store,
            open_omics_api(settings) as api,
        ):
            return await run_backup(api, store, config, progress=view, sharding=sharding)

    view = BackupProgress(progress, store=args.store, who=_who(args), interval=args.progress_interval)
    started = time.monotonic()
    try:
        report = asyncio.run(go())
    except BaseException:
        if args.metrics_file is not None and not args.dry_run:
            write_metrics(
                args.metrics_file, job=args.metrics_job, report=None, duration=time.monotonic() - started
            )
        raise
    finally:
        if progress is not None:
            progress.clear()
    elapsed = time.monotonic() - started
    if args.metrics_file is not None and not args.dry_run:
        write_metrics(args.metrics_file, job=args.metrics_job, report=report)
    view.finish(report, elapsed)
    if args.json:
        json.dump(report.as_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(summary(report, elapsed, rich_table=sys.stdout.isatty()))
    return _EXIT[report.outcome]


def _who(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> str:
    """Whose credentials the start line names (never the credentials themselves)."""
    env = os.environ if env is None else env
    profile = args.profile or env.get("AWS_PROFILE")
    return f"profile {profile}" if profile else "default credentials"


def _config(args: argparse.Namespace) -> BackupConfig:
    return BackupConfig(
        workflow_ids=tuple(args.workflow_id),
        names=tuple(args.name),
        tags=dict(args.tag),
        account=args.account_id,
        workflow_concurrency=args.concurrency,
        version_concurrency=args.concurrency * 2,
        download_concurrency=args.download_concurrency,
        dry_run=args.dry_run,
        work_dir=args.work_dir,
        lock_wait=args.lock_wait,
        full_every=args.full_every,
        full=args.full,
        images=args.images,
    )


def summary(report: BackupReport, elapsed: float, *, rich_table: bool = False) -> str:
    """What the run did, as a table (drawn by rich for a terminal), then what needs a look."""
    s = report.stats
    verb = "would write" if report.dry_run else "written"
    rows = [
        ("workflows", str(s["workflows"]), ""),
        ("versions", str(s["versions"]), ""),
        (f"new bundles {verb}", str(s["bundlesWritten"]), human_bytes(s["bytesWritten"])),
        ("unchanged bundles", str(len(report.bundles) - s["bundlesWritten"]), ""),
        ("skipped", str(len(report.skipped)), "shared or not active" if report.skipped else ""),
        ("quarantined", str(len(report.quarantined)), "invalid metadata" if report.quarantined else ""),
        ("failed", str(len(report.failed)), "see below" if report.failed else ""),
        ("vanished", str(len(report.vanished)), "see below" if report.vanished else ""),
        ("duration", f"{elapsed:.1f} s", ""),
    ]
    head = (
        f"{'dry run ' if report.dry_run else ''}{report.outcome}: backup of account {report.account} "
        f"in {report.region}"
    )
    lines = [head, _table(rows, rich_table)]
    if report.snapshot_key:
        lines.append(f"snapshot {report.snapshot_key}")
    for f in report.failed:
        version = f" version {f['versionName']}" if f.get("versionName") else ""
        lines.append(f"  FAILED workflow {f['workflowId']}{version} at {f['stage']}: {f['error']}")
    for v in report.vanished:
        lines.append(
            f"  VANISHED workflow {v['workflowId']} ({v['name']}): archived before, no longer listed"
        )
    if report.everything_vanished:
        lines.append(
            "  none of the previously archived workflows was found: check the account, region and credentials"
        )
    return "\n".join(lines)


def _table(rows: list[tuple[str, str, str]], rich_table: bool) -> str:
    if not rich_table:
        width = max(len(r[0]) for r in rows)
        count_width = max(len(r[1]) for r in rows)
        return "\n".join(f"  {a.ljust(width)}  {b.rjust(count_width)}  {c}".rstrip() for a, b, c in rows)
    from rich import box  # only for a terminal: rich takes ~0.1 s of CPU to import
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=box.SIMPLE)
    table.add_column()
    table.add_column(justify="right")
    table.add_column()
    for row in rows:
        table.add_row(*row)
    out = io.StringIO()
    Console(file=out, width=100, force_terminal=False, highlight=False, markup=False).print(table)
    return out.getvalue().rstrip("\n")
