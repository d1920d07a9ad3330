"""``omics-archiver restore``: recreate archived workflows, here or in another account or region."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from .._aws import open_omics_api
from .._errors import UsageError
from ..restore import ItemPlan, RestoreConfig, RestoreReport, Staging, run_restore
from ..store import open_archive
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_PARTIAL,
    add_alias,
    add_aws_options,
    add_output_options,
    add_rate_options,
    add_store_options,
    aws_settings,
    check_writable_dir,
    key_value,
    positive_int,
    print_error,
    rates_from,
    setup_logging,
    store_options,
)
from ._destination_options import add_destination_options, check_destination_options, wants_destinations
from ._restore_options import (
    add_images_options,
    add_mapping_options,
    add_wait_options,
    check_rewrite,
    ecr_mapping,
    images_mode,
    timestamp,
)
from ._words import count

_EXIT = {"ok": EXIT_OK, "partial": EXIT_PARTIAL, "failed": EXIT_FAILURE}
_ACCOUNT = re.compile(r"^[0-9]{12}$")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "restore",
        help="recreate archived workflows and versions (restore, roll back, migrate)",
        description=(
            "Recreate workflows and all their versions from the archive, in the current account and region "
            "or in another (--profile, --region). The state restored is the latest snapshot's, or that "
            "of --snapshot ID or --at TIME (workflows deleted since included). The whole plan is checked "
            "before anything is created; a rerun skips what an earlier run created (found by provenance "
            "tags, see --no-provenance-tags). Restoring into the account and region the workflows were "
            "archived from needs --allow-same-target or new names (--name-prefix, --rename). "
            "The target is reached with the AWS options; the store with --store-profile, else the same "
            "credentials."
        ),
    )
    add_store_options(parser)
    aws = add_aws_options(parser, what="the target, where workflows are created")
    for old in ("region", "profile", "endpoint-url", "sts-endpoint-url", "ecr-endpoint-url", "account-id"):
        add_alias(aws, f"--to-{old}", f"--{old}")
    add_alias(aws, "--to-allow-unknown-region", "--allow-unknown-region", flag=True)
    src = parser.add_argument_group("source state")
    src.add_argument(
        "--account", metavar="ID", help="the archived account (default: the only one in the store)"
    )
    src.add_argument(
        "--source-region", metavar="REGION", help="the archived region (default: the only one in the store)"
    )
    add_alias(src, "--from-account", "--account")
    add_alias(src, "--from-region", "--source-region")
    when = src.add_mutually_exclusive_group()
    when.add_argument(
        "--snapshot",
        metavar="ID|KEY",
        help="restore exactly this snapshot's state: its id, or its key as backup and delete print it "
        "(snapshots/<partition>/<account>/<region>/<id>.json, also with the store's path or URL before it)",
    )
    when.add_argument(
        "--at",
        metavar="TIME",
        type=timestamp,
        help="restore the state at this time (ISO 8601, UTC unless an offset is given): the latest "
        "complete snapshot at or before it, with later partial ones up to it laid over it",
    )
    sel = parser.add_argument_group("selection (at least one, or --all)")
    sel.add_argument(
        "--uuid", action="append", default=[], metavar="UUID", help="source workflow uuid (repeatable)"
    )
    sel.add_argument(
        "--workflow-id", action="append", default=[], metavar="ID", help="source workflow id (repeatable)"
    )
    sel.add_argument(
        "--name", action="append", default=[], metavar="GLOB", help="source workflow name (repeatable)"
    )
    sel.add_argument("--all", action="store_true", help="every workflow of the snapshot")
    names = parser.add_argument_group("names")
    names.add_argument(
        "--name-prefix",
        default="",
        metavar="PREFIX",
        help="prepend this to each restored name (default: none)",
    )
    names.add_argument(
        "--rename",
        action="append",
        default=[],
        type=key_value,
        metavar="OLD=NEW",
        help="restore the workflow named OLD as NEW (repeatable; takes precedence over --name-prefix)",
    )
    names.add_argument(
        "--allow-same-target",
        action="store_true",
        help="allow restoring into the account and region the workflows were archived from under their "
        "own names: each becomes a second workflow beside its original, if that still exists (needed to "
        "bring back deleted workflows; nothing is ever replaced)",
    )
    names.add_argument(
        "--no-provenance-tags",
        action="store_true",
        help="do not add the four omics-archiver:* provenance tags (they count against the 50-tag limit); "
        "a rerun then recognises earlier restores by name and definition digest only",
    )
    mig = parser.add_argument_group("migration")
    add_mapping_options(mig)
    add_images_options(mig)
    stg = parser.add_argument_group("large definitions")
    stg.add_argument(
        "--staging-bucket",
        metavar="S3URL",
        help="s3://BUCKET/PREFIX in the target region for definitions over 4.4 MB (staged objects are "
        "removed afterwards); with --targets, {account} and {region} in it stand for each destination's",
    )
    stg.add_argument(
        "--staging-bucket-owner", metavar="ID", help="the staging bucket's account, if not the target's"
    )
    stg.add_argument(
        "--staging-endpoint-url",
        metavar="URL",
        help="S3 endpoint for the staging bucket (default: --s3-endpoint-url)",
    )
    run = parser.add_argument_group("run")
    add_wait_options(run)
    run.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        metavar="N",
        help="create calls of each kind prepared at once, each holding one definition in memory "
        "(default: %(default)s)",
    )
    add_rate_options(run)
    run.add_argument(
        "--dry-run", action="store_true", help="print the plan; create, stage and change nothing"
    )
    run.add_argument("--work-dir", type=Path, metavar="DIR", help="temporary space for definitions")
    add_destination_options(parser, what="destination")
    add_output_options(parser)
    parser.set_defaults(run=run_command)


def _staging(args: argparse.Namespace) -> Staging | None:
    if not args.staging_bucket:
        if args.staging_bucket_owner:
            raise UsageError("--staging-bucket-owner needs --staging-bucket")
        return None
    text = args.staging_bucket
    if ("{account}" in text or "{region}" in text) and not wants_destinations(args):
        raise UsageError(
            "{account} and {region} in the staging bucket go with --targets (each destination's)"
        )
    # {account} and {region} stand for each destination's (restore --targets): checked as if filled in
    sample = text.replace("{account}", "123456789012").replace("{region}", "us-east-1")
    if not re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?", sample):
        raise UsageError(f"--staging-bucket must be s3://BUCKET[/PREFIX], not {text!r}")
    if args.staging_bucket_owner and not _ACCOUNT.match(args.staging_bucket_owner):
        raise UsageError("--staging-bucket-owner must be a 12-digit account id")
    bucket, _, prefix = text.removeprefix("s3://").partition("/")
    return Staging(
        bucket=bucket,
        prefix=prefix.strip("/"),
        owner_id=args.staging_bucket_owner,
        endpoint_url=args.staging_endpoint_url
        or args.s3_endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_S3"),
        profile=args.profile,
        region=args.region,
    )


def config_from_args(args: argparse.Namespace) -> RestoreConfig:
    from ..mapping import MappingFile, load_mapping  # only here: a restore with --mapping needs it

    loaded = load_mapping(args.mapping) if getattr(args, "mapping", None) is not None else MappingFile()
    if loaded.staging_bucket and not args.staging_bucket:
        args.staging_bucket = loaded.staging_bucket
        args.staging_bucket_owner = args.staging_bucket_owner or loaded.staging_owner
    check_rewrite(args)
    if args.account and not _ACCOUNT.match(args.account):
        raise UsageError("--account must be a 12-digit account id")
    return RestoreConfig(
        source_account=args.account,
        source_region=args.source_region,
        snapshot_id=args.snapshot,
        at=args.at,
        workflow_uuids=tuple(args.uuid),
        workflow_ids=tuple(args.workflow_id),
        names=tuple(args.name),
        select_all=args.all,
        name_prefix=args.name_prefix,
        renames=dict(args.rename),
        mapping=ecr_mapping(loaded, args),
        rewrite_images=args.rewrite_images,
        images=images_mode(args),
        staging=_staging(args),
        target_account=args.account_id,
        wait_timeout=args.wait_timeout,
        poll_interval=args.poll_interval,
        workflow_concurrency=args.concurrency,
        dry_run=args.dry_run,
        work_dir=args.work_dir,
        allow_same_target=args.allow_same_target,
        provenance_tags=not args.no_provenance_tags,
    )


def run_command(args: argparse.Namespace) -> int:
    progress = setup_logging(args)
    config = config_from_args(args)
    if not (config.selective or config.select_all):
        raise UsageError("say what to restore: --uuid, --workflow-id, --name or --all")
    settings = aws_settings(args, rates=rates_from(args))
    if args.work_dir is not None:
        check_writable_dir(args.work_dir, "--work-dir")
    check_destination_options(args)
    if wants_destinations(args):
        from ._restore_targets import restore_targets_command  # only a run across destinations

        return restore_targets_command(
            args, config=config, settings=settings, progress=progress, render=summary
        )

    async def go() -> RestoreReport:
        async with (
            open_archive(args.store, store_options(args), create=False) as store,
            open_omics_api(settings) as api,
        ):
            return await run_restore(api, store, config)

    report = asyncio.run(go())
    if progress is not None:
        progress.clear()
    for problem in report.problems:
        print_error(problem)
    if args.json:
        json.dump(report.as_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(summary(report))
    return _EXIT[report.outcome]


def _line(item: ItemPlan, dry_run: bool, indent: str, warnings: list[str]) -> list[str]:
    what = f"version {item.version_name}" if item.version_name else f"workflow {item.name}"
    source = f"from {item.source_arn}"
    if item.action == "create":
        verb = (
            "would create"
            if dry_run
            else {"created": "created", "failed": "FAILED", "not-attempted": "not created"}.get(
                item.result, item.result
            )
        )
    else:
        verb = "would skip" if dry_run else ("skipped" if item.result == "skipped" else item.result.upper())
        source += f" (restored before as {item.target_arn})"
    extras = []
    if item.staged_key:
        extras.append(f"staged, {item.definition_size} bytes")
    zipped = sum(1 for r in item.rewrites if r.line is not None)
    if zipped:
        extras.append(f"{zipped} image references rewritten, new digest")
    tail = f" [{'; '.join(extras)}]" if extras else ""
    target = f" -> {item.target_arn}" if item.result == "created" else ""
    lines = [f"{indent}{verb} {what} {source}{target}{tail}"]
    for r in item.rewrites:
        where = r.file if r.line is None else f"{r.file}:{r.line}"
        lines.append(f"{indent}    rewrote {where}: {r.old} -> {r.new}")
    for w in warnings:
        lines.append(f"{indent}    warning: {w}")
    if item.error:
        lines.append(f"{indent}    error: {item.error}")
    return lines


def _image_lines(report: RestoreReport) -> list[str]:
    """Per workflow, each image it needs in the target and whether it is there (archiver.images)."""
    images = (report.images or {}).get("images") or []
    if not images:
        return []
    lines = [f"  images needed in {report.target_account} {report.target_region}:"]
    for i in images:
        state = (
            "pushed"
            if i["pushed"]
            else "present"
            if i["present"]
            else "MISSING (archived: --push-images can push it)"
            if i["archived"]
            else "MISSING (not archived)"
        )
        lines.append(f"    {i['workflow']}: {i['target']}@{i['digest'][:19]}: {state}")
    return lines


def _warnings_once(items: list[ItemPlan]) -> list[list[str]]:
    """Each distinct warning of one workflow's items, under the first item that has it, naming the
    others it also concerns (a registry map shared by a workflow and its versions warns once)."""
    owners: dict[str, list[ItemPlan]] = {}
    for item in items:
        for w in dict.fromkeys(item.warnings):
            owners.setdefault(w, []).append(item)
    shown: list[list[str]] = [[] for _ in items]
    for w, concerned in owners.items():
        first = items.index(concerned[0])
        others = [f"version {i.version_name}" if i.version_name else "the workflow" for i in concerned[1:]]
        shown[first].append(w + (f" (also {', '.join(others)})" if others else ""))
    return shown


def summary(report: RestoreReport) -> str:
    s = report.stats
    src = report.source
    head = "plan" if report.dry_run else report.outcome
    lines = [
        f"{head}: account {src.get('account')} {src.get('region')} -> account {report.target_account} "
        f"{report.target_region}, from {', '.join(report.snapshots)}",
    ]
    for plan in report.workflows:
        shown = _warnings_once(plan.items())
        lines += _line(plan.workflow, report.dry_run, "  ", shown[0])
        for version, warnings in zip(plan.versions, shown[1:], strict=True):
            lines += _line(version, report.dry_run, "    ", warnings)
    lines += _image_lines(report)
    if report.problems:
        lines.append(f"  nothing was created: {count(len(report.problems), 'problem')}")
        lines += [f"  PROBLEM {p}" for p in report.problems]
    elif not report.dry_run:
        lines.append(
            f"  created {count(s['workflowsCreated'], 'workflow')} and "
            f"{count(s['versionsCreated'], 'version')}; skipped {count(s['workflowsSkipped'], 'workflow')} "
            f"and {count(s['versionsSkipped'], 'version')} (restored before); failed {s['failed']}"
        )
    return "\n".join(lines)
