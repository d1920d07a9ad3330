"""``backup --targets FILE`` / ``--organization``: the command-line side of ``archiver.targets``.

This module reads what only the CLI may read (the shard index of AWS Batch array jobs and
Kubernetes Indexed Jobs from the environment), prints the summary table, and turns the targets'
outcomes into one exit code: 0 when every target is ok, 3 when some target is partial or failed
while others ran, 1 when no target could run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._aws import AwsSettings
from .._backup import BackupConfig
from .._errors import ArchiverError, UsageError
from .._metrics import TargetRun, write_metrics, write_targets_metrics
from ..store import open_archive
from ._common import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, positive_int, store_options
from ._destination_options import add_target_tag_option
from ._progress import TargetsProgress
from ._words import count

if TYPE_CHECKING:  # a backup of one account-region does not load the targets machinery
    from ..targets import Shard, Target, TargetResult
    from ._common import Progress

__all__ = ["add_target_options", "run_targets_command", "wants_targets"]

log = logging.getLogger("archiver.targets")

SHARD_COUNT_ENV = "OMICS_ARCHIVER_SHARD_COUNT"
INDEX_ENVS = ("AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX")


def add_target_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "many accounts and regions (each target: its own assumed role, pacers, lock and snapshot)"
    )
    how = g.add_mutually_exclusive_group()
    how.add_argument(
        "--targets",
        type=Path,
        metavar="FILE",
        help="back up every account and region of this YAML file (format: schemas/targets.schema.json, "
        "example: examples/targets.yaml)",
    )
    how.add_argument(
        "--organization",
        action="store_true",
        help="back up every ACTIVE member account of AWS Organizations (ListAccounts; run it in the "
        "management or a delegated administrator account), assuming --role-name in each",
    )
    g.add_argument(
        "--role-name",
        metavar="NAME",
        help="with --organization: the role assumed in every member account (e.g. OmicsArchiverReader)",
    )
    g.add_argument(
        "--external-id", metavar="ID", help="with --organization: the external id passed to AssumeRole"
    )
    g.add_argument(
        "--include-management-account",
        action="store_true",
        help="with --organization: back up the management account too (assuming the same role there)",
    )
    g.add_argument(
        "--target-region",
        action="append",
        default=[],
        metavar="REGION",
        help="regions to back up in every account of --organization, or of a targets file account "
        "that lists none (repeatable, or comma-separated; default: --region or the profile's region)",
    )
    add_target_tag_option(g, help="only the targets file's accounts tagged so")
    g.add_argument(
        "--shard",
        metavar="INDEX/COUNT",
        help="back up only this shard of the targets (e.g. 0/4), chosen by a stable hash of account "
        "and region; default: AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX with --shard-count",
    )
    g.add_argument(
        "--shard-count",
        type=positive_int,
        metavar="N",
        help=f"the shard count for an index read from the environment (default: {SHARD_COUNT_ENV})",
    )
    g.add_argument(
        "--max-targets",
        type=positive_int,
        default=64,
        metavar="N",
        help="targets backed up at once in this process; bounds its memory at N times one target's "
        "(default: %(default)s)",
    )


def wants_targets(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "targets", None) or getattr(args, "organization", False))


def shard_from(args: argparse.Namespace, env: Mapping[str, str]) -> Shard | None:
    """``--shard``, else the index of an array or indexed job with ``--shard-count`` or the env count."""
    from ..targets import Shard, checked, parse_shard

    if args.shard:
        return parse_shard(args.shard)
    for name in INDEX_ENVS:
        text = env.get(name)
        if text is None or text == "":
            continue
        count_text = str(args.shard_count) if args.shard_count else env.get(SHARD_COUNT_ENV)
        if not count_text:
            raise UsageError(
                f"{name} is set ({text}) but the shard count is not: pass --shard-count or set "
                f"{SHARD_COUNT_ENV} to the array size (completions)"
            )
        try:
            shard = Shard(int(text), int(count_text))
        except ValueError:
            raise UsageError(f"{name}={text!r} and a count of {count_text!r} must be integers") from None
        return checked(shard, f"{name}={text} with count {count_text}")
    if args.shard_count:
        raise UsageError(
            "--shard-count needs AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX (or use --shard)"
        )
    return None


def _default_regions(args: argparse.Namespace, settings: AwsSettings) -> list[str]:
    if args.target_region:
        named = [r.strip() for given in args.target_region for r in given.split(",") if r.strip()]
        return list(dict.fromkeys(named))
    return [settings.region] if settings.region else []


def _check_options(args: argparse.Namespace) -> None:
    if args.organization and not args.role_name:
        raise UsageError("--organization needs --role-name (the role deployed in every member account)")
    if not args.organization:
        for option, value in (
            ("--role-name", args.role_name),
            ("--external-id", args.external_id),
            ("--include-management-account", args.include_management_account),
        ):
            if value:
                raise UsageError(f"{option} goes with --organization (a targets file names its roles)")
    if args.organization and args.target_tag:
        raise UsageError("--target-tag selects accounts of a targets file, not of --organization")
    if args.account_id:
        raise UsageError("--account-id is for one account; each target names its own")
    if args.processes not in ("auto", 1):
        raise UsageError(
            "--processes is for one account and region; many targets already run concurrently in "
            "one process, and --shard splits them among processes or machines"
        )


async def _targets(args: argparse.Namespace, settings: AwsSettings, env: Mapping[str, str]) -> list[Target]:
    from ..targets import load_targets, organization_targets, select_by_tags

    regions = _default_regions(args, settings)
    if args.targets is not None:
        targets = load_targets(args.targets, default_regions=regions)
        return list(select_by_tags(targets, dict(args.target_tag)))
    if not regions:
        raise UsageError("--organization needs regions: pass --target-region or --region")
    endpoint = env.get("AWS_ENDPOINT_URL_ORGANIZATIONS") or settings.endpoint_url
    return list(
        await organization_targets(
            settings,
            endpoint_url=endpoint,
            role_name=args.role_name,
            regions=regions,
            external_id=args.external_id,
            include_management=args.include_management_account,
        )
    )


def run_targets_command(
    args: argparse.Namespace,
    *,
    settings: AwsSettings,
    config: BackupConfig,
    progress: Progress | None,
    who: str = "default credentials",
    env: Mapping[str, str] | None = None,
) -> int:
    from ..targets import TargetLogFilter, TargetsConfig, run_targets, select_shard

    env = os.environ if env is None else env
    _check_options(args)
    shard = shard_from(args, env)
    text_logs = progress is not None or getattr(args, "log_format", "auto") == "text"
    for handler in logging.getLogger("archiver").handlers:
        handler.addFilter(TargetLogFilter(prefix=text_logs))
    targets_config = TargetsConfig(settings=settings, backup=config, max_targets=args.max_targets)

    async def go() -> tuple[list[Target], list[TargetResult]]:
        every = await _targets(args, settings, env)
        mine = list(select_shard(every, shard))
        log.info(
            "%s%s: %s",
            count(len(mine), "target"),
            f" in shard {shard} of {len(every)}" if shard else "",
            ", ".join(t.key for t in mine) or "none",
            extra={
                "event": "targets",
                "targets": [t.key for t in mine],
                "shard": str(shard) if shard else None,
            },
        )
        if not mine:
            return every, []
        view = TargetsProgress(
            progress, store=args.store, who=who, total=len(mine), interval=args.progress_interval
        )
        view.started()

        def ended(done: list[TargetResult]) -> None:
            view.ended(done[-1].target.key, done[-1].outcome == "ok")

        async with open_archive(args.store, store_options(args), create=not config.dry_run) as store:
            return every, await run_targets(
                mine,
                store,
                targets_config,
                progress=ended,
                on_report=lambda target, report: view.report(target.key, report),
            )

    started = time.monotonic()
    try:
        every, results = asyncio.run(go())
    except ArchiverError:
        if args.metrics_file is not None and not config.dry_run:
            # no target could even be named (the targets file or ListAccounts failed): the job failed
            duration = time.monotonic() - started
            write_metrics(args.metrics_file, job=args.metrics_job, report=None, duration=duration)
        raise
    if progress is not None:
        progress.clear()
    if args.metrics_file is not None and not config.dry_run:
        runs = [TargetRun(r.target.account, r.target.region, r.report, r.duration) for r in results]
        write_targets_metrics(args.metrics_file, job=args.metrics_job, runs=runs)
    code = exit_code(results)
    if args.json:
        doc = report_document(results, shard=shard, total=len(every), seconds=time.monotonic() - started)
        # one write: json.dump would write each of the ~4,500 tokens per target separately
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    else:
        print(summary_table(results, shard=shard, total=len(every)))
    return code


def exit_code(results: Sequence[TargetResult]) -> int:
    """0 every target ok (or none in this shard); 3 some partial or failed; 1 none could run."""
    if not results or all(r.outcome == "ok" for r in results):
        return EXIT_OK
    if all(r.report is None for r in results):
        return EXIT_FAILURE
    return EXIT_PARTIAL


def _overall(results: Sequence[TargetResult]) -> str:
    return {EXIT_OK: "ok", EXIT_PARTIAL: "partial", EXIT_FAILURE: "failed"}[exit_code(results)]


def report_document(
    results: Sequence[TargetResult], *, shard: Shard | None, total: int, seconds: float
) -> dict[str, Any]:
    """The ``--json`` report: one entry per target, each labelled ``account`` and ``region``."""
    return {
        "outcome": _overall(results),
        "shard": str(shard) if shard else None,
        "targetsTotal": total,
        "durationSeconds": round(seconds, 3),
        "targets": [
            {
                "account": r.target.account,
                "region": r.target.region,
                "name": r.target.name,
                "roleArn": r.target.role_arn,
                "tags": dict(r.target.tags),
                "outcome": r.outcome,
                "durationSeconds": round(r.duration, 3),
                **r.counts(),
                "error": r.error,
                "report": r.report.as_dict() if r.report is not None else None,
            }
            for r in results
        ],
    }


def summary_table(results: Sequence[TargetResult], *, shard: Shard | None, total: int) -> str:
    """One row per target: account, region, outcome, archived, new, skipped, vanished, failed, duration."""
    headers = ["account", "region", "outcome", "archived", "new", "skipped", "vanished", "failed", "duration"]
    rows = [
        [
            r.target.account,
            r.target.region,
            r.outcome,
            *(str(v) for v in r.counts().values()),
            f"{r.duration:.1f}s",
        ]
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    numeric = set(range(3, 9))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    where = f" (shard {shard}: {len(results)} of {total} targets)" if shard else ""
    failed = [r for r in results if r.outcome != "ok"]
    head = f"{_overall(results)}: {len(results) - len(failed)} of {len(results)} targets ok{where}"
    out = [head, line(headers), *(line(row) for row in rows)]
    for r in results:
        if r.error:
            out.append(f"  FAILED {r.target.key}: {r.error}")
        elif r.report is not None and r.report.failed:
            out.append(f"  PARTIAL {r.target.key}: {count(len(r.report.failed), 'item')} failed (see --json)")
    if not results:
        out.append("  no target in this shard" if shard else "  no targets")
    return "\n".join(out)
