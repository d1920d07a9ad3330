"""``omics-archiver delete``: delete a workflow only after its archive is proven good."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from .._aws import open_omics_api
from .._delete import DeleteConfig, DeleteReport, run_delete
from .._errors import UsageError
from ..store import open_archive
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_PARTIAL,
    add_aws_options,
    add_output_options,
    add_store_options,
    aws_settings,
    check_writable_dir,
    setup_logging,
    store_options,
)
from ._words import count

_EXIT = {"ok": EXIT_OK, "refused": EXIT_FAILURE, "declined": EXIT_FAILURE, "partial": EXIT_PARTIAL}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "delete",
        help="back up a workflow, verify the backup, then delete the workflow and its versions",
        description=(
            "Back up one workflow and all its versions, read every bundle back and verify it against the "
            "live workflow (uuid and digest), then delete the versions and the workflow. If any step "
            "fails, nothing is deleted. Asks for confirmation on a terminal unless --yes; without a "
            "terminal (cron, CI, a pipe) it needs --yes. It prints the key of the snapshot it wrote, "
            "which restore --snapshot takes."
        ),
    )
    parser.add_argument("--workflow-id", required=True, metavar="ID", help="the workflow to delete")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="back up nothing and delete nothing: show what would be backed up, verified and deleted",
    )
    parser.add_argument("--work-dir", type=Path, metavar="DIR", help="temporary space for downloads")
    add_store_options(parser, write=True)
    add_aws_options(parser)
    add_output_options(parser)
    parser.set_defaults(run=run_command)


def _ask(report: DeleteReport) -> bool:
    items = ", ".join(report.to_delete)
    sys.stderr.write(
        f"The archive of workflow {report.workflow_id} ({report.name}) is verified (snapshot "
        f"{report.snapshot}).\nDelete {items}? This cannot be undone. Type 'yes' to delete: "
    )
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def run_command(args: argparse.Namespace) -> int:
    if not args.workflow_id.isdigit():
        raise UsageError(f"--workflow-id must be a workflow id (digits), not {args.workflow_id!r}")
    interactive = sys.stdin.isatty()
    if not (args.yes or args.dry_run or interactive):
        raise UsageError("refusing to delete without confirmation: stdin is not a terminal; pass --yes")
    progress = setup_logging(args)
    if args.work_dir is not None:
        check_writable_dir(args.work_dir, "--work-dir")
    settings = aws_settings(args)
    config = DeleteConfig(
        workflow_id=args.workflow_id, account=args.account_id, dry_run=args.dry_run, work_dir=args.work_dir
    )
    confirm = None if (args.yes or args.dry_run) else _ask

    async def go() -> DeleteReport:
        async with (
            open_archive(args.store, store_options(args), create=not args.dry_run) as store,
            open_omics_api(settings) as api,
        ):
            return await run_delete(api, store, config, confirm=confirm)

    report = asyncio.run(go())
    if progress is not None:
        progress.clear()
    if args.json:
        json.dump(report.as_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(_summary(report, args.store))
    return _EXIT[report.outcome]


def _summary(report: DeleteReport, store: str) -> str:
    head = f"workflow {report.workflow_id}" + (f" ({report.name})" if report.name else "")
    if report.outcome == "refused":
        return f"refused: {head} was not deleted ({count(len(report.refused), 'problem')})"
    if report.outcome == "declined":
        return f"declined: {head} was not deleted"
    verified = sum(1 for b in report.bundles if b.get("verified"))
    lines = []
    if report.dry_run:
        lines.append(f"dry run: {head}: would back up, verify and delete {', '.join(report.to_delete)}")
        lines.append(f"  {verified} of {count(len(report.bundles), 'bundle')} already archived and verified")
    else:
        state = "deleted" if report.outcome == "ok" else "PARTIALLY deleted"
        lines.append(f"{state}: {head}: {', '.join(report.deleted) or 'nothing'}")
        lines.append(f"  archived and verified: {count(verified, 'bundle')}; snapshot {report.snapshot}")
        if report.snapshot and report.deleted:
            lines.append(
                f"  to bring it back: omics-archiver restore --store {store} --snapshot {report.snapshot} "
                f"--workflow-id {report.workflow_id} --allow-same-target"
            )
        for failure in report.failed:
            lines.append(f"  FAILED {failure}")
    return "\n".join(lines)
