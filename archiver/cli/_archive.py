"""``verify``, ``list``, ``snapshots``, ``show`` and ``diff``: looking after an archive once it exists.

These commands only read the store. They print a readable table, or with ``--json`` one JSON document
on stdout; logs go to stderr. ``verify`` exits 1 when it finds any problem. ``prune`` lives in
:mod:`._archive_prune` and is registered from here.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._cache import Cache, cache_dir_for
from .._catalog import Catalog, SnapshotRecord, load_catalog, show_bundle, snapshot_rows, workflow_rows
from .._diff import diff_bundles
from .._errors import StoreError, UsageError
from .._layout import new_snapshot_id
from .._metrics import write_verify_metrics
from .._verify import Repairer, VerifyOptions, VerifyReport, verify_store
from .._workdir import work_directory
from ..drill import list_drills
from ..repair import RepairOutcome, repair_bundle
from ..report import verify_depth
from ..store import Store, open_archive
from ..verifications import build_record, read_latest, write_record
from . import _archive_prune
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_aws_options,
    add_filter_options,
    add_output_options,
    add_store_options,
    aws_settings,
    check_writable_dir,
    check_writable_file,
    positive_int,
    setup_logging,
    store_options,
)
from ._words import count

if TYPE_CHECKING:
    from .._aws import OmicsApi
    from .._download import Downloader

SELECTORS = (
    "A bundle is named by its key (bundles/.../STATE.tar.zst), by UUID (the newest state of that "
    "workflow or version), by UUID@STATE (a state id or a unique prefix of at least 4 hex digits), by "
    "WORKFLOW_ID (the newest state of that workflow) or by WORKFLOW_ID:VERSION (of that version)."
)


def add_parser(sub: Any) -> None:
    _add_verify(sub)
    _add_list(sub)
    _add_snapshots(sub)
    _add_show(sub)
    _add_diff(sub)
    _archive_prune.add_parser(sub)


# -- shared -------------------------------------------------------------------------------------


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("cache")
    g.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="local cache of snapshots and bundle summaries; safe to delete at any time, rebuilt from the "
        "store (default: $XDG_CACHE_HOME/omics-archiver/<hash of the store URL>, else ~/.cache/...)",
    )
    g.add_argument("--no-cache", action="store_true", help="read everything from the store; write no cache")


def open_cache(args: argparse.Namespace, store_url: str) -> Cache:
    if args.no_cache:
        return Cache(None)
    if args.cache_dir is not None:
        return Cache(args.cache_dir, store_url=store_url)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Cache(cache_dir_for(store_url, Path(base) / "omics-archiver"), store_url=store_url)


def print_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain left-aligned text table; numbers are right-aligned."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(isinstance(r[i], int | float) and not isinstance(r[i], bool) for r in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 100, got {text}")
    return value


def _parser(
    sub: Any, name: str, help: str, description: str, *, write: bool = False
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    add_store_options(parser, write=write)
    return parser


# -- verify ------------------------------------------------------------------------------------


def _add_verify(sub: Any) -> None:
    parser = _parser(
        sub,
        "verify",
        "check that the archive is complete and sound",
        "Check the archive: every snapshot parses and validates, every bundle a snapshot lists exists with "
        "the recorded size, and every bundle's manifest parses, validates and agrees with its key and "
        "snapshots. With --read-data, also decompress every bundle (or a random PERCENT of them) and check "
        "each member's size and SHA-256, the definition ZIP's integrity, and the bundle's own SHA-256 "
        "against the snapshots. Each problem names its bundle or snapshot key. Modifies the store only "
        "with --repair (the --kms-key-id and --object-lock-* options apply to the bundles it rewrites).",
        write=True,
    )
    g = parser.add_argument_group("verify")
    g.add_argument(
        "--read-data",
        nargs="?",
        const=100.0,
        type=_percent,
        metavar="PERCENT",
        help="read and check bundle contents: all of them, or a random PERCENT (default: structure only)",
    )
    g.add_argument(
        "--repair",
        action="store_true",
        help="with --read-data: re-export each damaged bundle from HealthOmics when the workflow's state "
        "(uuid, digest, state id) is unchanged, and write it anew (needs the AWS options below); "
        "otherwise report it as unrepairable",
    )
    g.add_argument(
        "--seed", type=int, metavar="N", help="random seed for the --read-data sample (default: random)"
    )
    g.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        metavar="N",
        help="bundles read at once (default: %(default)s)",
    )
    g.add_argument("--work-dir", type=Path, metavar="DIR", help="where bundles are downloaded to be read")
    add_filter_options(parser, workflows=False)
    g.add_argument(
        "--metrics-file", type=Path, metavar="PATH", help="write Prometheus metrics (node_exporter textfile)"
    )
    g.add_argument(
        "--metrics-job", default="verify", metavar="NAME", help="archiver_job label (default: verify)"
    )
    g.add_argument(
        "--no-record",
        action="store_true",
        help="do not record the result in the store (verifications/<id>.json, shown by report); for "
        "read-only access. A store that refuses the record is warned about and changes no exit code",
    )
    add_aws_options(parser)
    add_output_options(parser)
    parser.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    setup_logging(args)
    if args.work_dir is not None:
        check_writable_dir(args.work_dir, "--work-dir")
    if args.metrics_file is not None:
        check_writable_file(args.metrics_file, "--metrics-file")
    if args.repair and args.read_data is None:
        raise UsageError("--repair needs --read-data: only reading a bundle's data finds it damaged")
    options = VerifyOptions(
        read_data_percent=args.read_data,
        concurrency=args.concurrency,
        work_dir=args.work_dir,
        seed=args.seed,
        account=args.account,
        region=args.source_region,
    )

    async def go() -> VerifyReport:
        async with open_archive(args.store, store_options(args), create=False) as store:
            if not args.repair:
                report = await verify_store(store, options)
            else:
                # the AWS SDK only for a repair: a plain verify reads the store alone
                from .._aws import open_omics_api
                from .._download import Downloader

                async with open_omics_api(aws_settings(args)) as api, Downloader() as dl:
                    repairer = _repairer(api, store, dl, args.work_dir)
                    report = await verify_store(store, options, repairer=repairer)
            if not args.no_record:
                recorded[0] = await _record_verify(store, report, args)
            return report

    recorded: list[str | None] = [None]

    try:
        report = asyncio.run(go())
    except BaseException:
        if args.metrics_file is not None:
            write_verify_metrics(args.metrics_file, job=args.metrics_job, report=None)
        raise
    if args.metrics_file is not None:
        write_verify_metrics(args.metrics_file, job=args.metrics_job, report=report)
    if args.json:
        print_json({**report.as_dict(), "record": recorded[0]})
    else:
        _print_verify(report, args)
        if recorded[0] is not None:
            print(f"  recorded as {recorded[0]}")
    return EXIT_OK if report.ok else EXIT_FAILURE


async def _record_verify(store: Store, report: VerifyReport, args: argparse.Namespace) -> str | None:
    """Write the run's record (archiver.verifications); a store that refuses it is warned about only:
    the archive's soundness, and so the exit code, does not depend on whether its result could be kept."""
    verify_id = new_snapshot_id(report.started_at)
    record = build_record(
        report,
        verify_id=verify_id,
        seed=args.seed,
        repair=args.repair,
        exit_code=EXIT_OK if report.ok else EXIT_FAILURE,
    )
    try:
        return await write_record(store, record)
    except StoreError as exc:
        logging.getLogger("archiver.verify").warning(
            "the verify result could not be recorded in the store (%s); the exit code is verify's own "
            "(--no-record skips recording)",
            exc.message,
            extra={"event": "verify-record-failed", "key": record["key"]},
        )
        return None


def _repairer(api: OmicsApi, store: Store, dl: Downloader, work_dir: Path | None) -> Repairer:
    async def repair(key: str, refs: list[tuple[SnapshotRecord, Any]]) -> RepairOutcome:
        snap, entry = refs[-1]  # the newest snapshot that lists it
        recorded = {(int(e["size"]), str(e["sha256"])) for _, e in refs}
        with work_directory("repair", work_dir) as work:
            outcome = await repair_bundle(
                api,
                store,
                key,
                entry,
                account=snap.key.account,
                region=snap.key.region,
                recorded=recorded,
                work=work,
                downloader=dl,
                now=datetime.now(UTC),
            )
        log = logging.getLogger("archiver.repair")
        log.log(logging.INFO if outcome.repaired else logging.ERROR, "%s", outcome.detail, extra={"key": key})
        return outcome

    return repair


def _print_verify(report: VerifyReport, args: argparse.Namespace) -> None:
    chosen = " and ".join(
        f"{what} {value}"
        for what, value in (("account", args.account), ("region", args.source_region))
        if value
    )
    depth = (
        "structure"
        if report.read_data_percent is None
        else f"structure and {report.read_data_percent:g}% data"
    )
    status = "ok" if report.ok else count(len(report.problems), "problem")
    print(
        f"verify ({depth}) of {report.store}{f' ({chosen})' if chosen else ''}: {status}\n"
        f"  {count(report.snapshots, 'snapshot')}, {count(report.bundles, 'bundle')} "
        f"({report.referenced} referenced), "
        f"{report.bundles_read} read ({human_bytes(report.bytes_read)}) in {report.duration:.1f} s"
    )
    if len(report.targets) > 1:
        for (_, account, region), n in sorted(report.targets.items()):
            counts = f"{count(n['snapshots'], 'snapshot')}, {count(n['bundles'], 'bundle')}"
            print(f"  account {account} {region}: {counts}")
    for p in report.problems:
        via = f" (listed by {p.snapshot})" if p.snapshot else ""
        print(f"  PROBLEM {p.key}: {p.message}{via}")
    for r in report.repairs:
        print(f"  {'REPAIRED' if r.repaired else 'UNREPAIRABLE'} {r.key}: {r.detail}")


# -- list, snapshots, show -----------------------------------------------------------------------


async def _catalog(args: argparse.Namespace, *, bundles: bool = True) -> tuple[Catalog, Cache]:
    async with open_archive(args.store, store_options(args), create=False) as store:
        cache = open_cache(args, store.url)
        catalog = await load_catalog(
            store,
            cache,
            account=getattr(args, "account", None),
            region=getattr(args, "source_region", None),
            bundles=bundles,
        )
        return catalog, cache


def _warn_problems(catalog: Catalog) -> None:
    for key, message in catalog.problems:
        print(f"omics-archiver: warning: {key}: {message}", file=sys.stderr)


def _add_list(sub: Any) -> None:
    parser = _parser(
        sub,
        "list",
        "list the workflows in the archive",
        "List every workflow the archive holds: its newest state, its versions in that state, how many "
        "bundles it has, and when it was last backed up. CURRENT says whether the newest complete "
        "snapshot of its account and region still lists it.",
    )
    add_filter_options(parser)
    add_aws_options(parser, omics=False)
    add_cache_options(parser)
    add_output_options(parser)
    parser.set_defaults(run=run_list)


def _selected(row: dict[str, Any], args: argparse.Namespace) -> bool:
    """``--workflow-id`` and ``--name`` (shell-style patterns), as ``backup`` and ``restore`` read them."""
    if args.workflow_id and row["workflowId"] not in args.workflow_id:
        return False
    return not args.name or any(fnmatch.fnmatchcase(str(row["name"]), pattern) for pattern in args.name)


def run_list(args: argparse.Namespace) -> int:
    setup_logging(args)
    catalog, _ = asyncio.run(_catalog(args))
    _warn_problems(catalog)
    rows = [r for r in workflow_rows(catalog) if _selected(r, args)]
    if args.json:
        print_json({"workflows": rows})
        return EXIT_OK
    print(
        table(
            [
                [
                    r["account"],
                    r["region"],
                    r["workflowId"],
                    r["name"],
                    r["uuid"],
                    r["stateId"][:12],
                    r["versions"],
                    r["bundles"],
                    "-" if r.get("images") is None else r["images"],
                    r["lastBackup"],
                    r["current"],
                ]
                for r in rows
            ],
            [
                "ACCOUNT",
                "REGION",
                "ID",
                "NAME",
                "UUID",
                "STATE",
                "VERSIONS",
                "BUNDLES",
                "IMAGES",
                "LAST BACKUP",
                "CURRENT",
            ],
        )
    )
    return EXIT_OK


def _add_snapshots(sub: Any) -> None:
    parser = _parser(
        sub,
        "snapshots",
        "list the snapshots in the archive",
        "List the snapshots of each account and region, oldest first: when the run finished, whether it "
        "covered the whole account (COMPLETE: no filters), and how many workflows and versions it archived "
        "(NEW of them written by that run), skipped, quarantined and failed; then the restore drills "
        "(drills/) and the newest verify runs (verifications/) recorded in the store.",
    )
    add_filter_options(parser, workflows=False)
    add_aws_options(parser, omics=False)
    add_cache_options(parser)
    add_output_options(parser)
    parser.set_defaults(run=run_snapshots)


async def _drills(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The restore drills recorded in the store (archiver.drill), filtered like the snapshots, and the
    newest verify runs (archiver.verifications; a run checks the whole store, so they are not)."""
    async with open_archive(args.store, store_options(args), create=False) as store:
        rows, problems = await list_drills(store)
        verified = await read_latest(store)
    for key, message in [*problems, *((p["key"], p["problem"]) for p in verified["problems"])]:
        print(f"omics-archiver: warning: {key}: {message}", file=sys.stderr)
    account, region = getattr(args, "account", None), getattr(args, "source_region", None)
    drills = [
        r for r in rows if (not account or r["account"] == account) and (not region or r["region"] == region)
    ]
    return drills, list(verified["latest"])


def run_snapshots(args: argparse.Namespace) -> int:
    setup_logging(args)
    catalog, _ = asyncio.run(_catalog(args, bundles=False))
    _warn_problems(catalog)
    rows = snapshot_rows(catalog)
    drills, verifications = asyncio.run(_drills(args))
    if args.json:
        print_json({"snapshots": rows, "drills": drills, "verifications": verifications})
        return EXIT_OK
    print(
        table(
            [
                [
                    r["account"],
                    r["region"],
                    r["time"],
                    r["id"],
                    r["complete"],
                    r["archived"],
                    r["new"],
                    r["skipped"],
                    r["quarantined"],
                    r["failed"],
                    "-" if r.get("images") is None else r["images"],
                ]
                for r in rows
            ],
            [
                "ACCOUNT",
                "REGION",
                "TIME",
                "ID",
                "COMPLETE",
                "ARCHIVED",
                "NEW",
                "SKIPPED",
                "QUARANTINED",
                "FAILED",
                "IMAGES",
            ],
        )
    )
    if drills:
        print("\nrestore drills:")
        print(
            table(
                [
                    [
                        r["account"],
                        r["region"],
                        r["time"],
                        r["id"],
                        "passed" if r["ok"] else "FAILED",
                        r["target"],
                        r["workflows"],
                        r["checks"],
                        r["failed"],
                    ]
                    for r in drills
                ],
                ["ACCOUNT", "REGION", "TIME", "ID", "RESULT", "SANDBOX", "WORKFLOWS", "CHECKS", "FAILED"],
            )
        )
    if verifications:
        print("\nverify runs (the newest, of the whole store):")
        print(
            table(
                [
                    [
                        r["time"],
                        r["id"],
                        "passed" if r["ok"] else "FAILED",
                        verify_depth(r),
                        r["snapshots"],
                        r["bundles"],
                        r["bundlesRead"],
                        r["problems"],
                    ]
                    for r in verifications
                ],
                ["TIME", "ID", "RESULT", "DEPTH", "SNAPSHOTS", "BUNDLES", "READ", "PROBLEMS"],
            )
        )
    return EXIT_OK


def _add_show(sub: Any) -> None:
    parser = _parser(
        sub,
        "show",
        "show one bundle's manifest and metadata",
        "Show one bundle: its manifest (source, members), its metadata, parameter template and README, the "
        "snapshots that list it, and every state of the same workflow or version. " + SELECTORS,
    )
    parser.add_argument("selector", metavar="KEY|UUID", help="which bundle (see above)")
    add_aws_options(parser, omics=False)
    parser.add_argument(
        "--work-dir", type=Path, metavar="DIR", help="where the bundle is downloaded to be read"
    )
    add_cache_options(parser)
    add_output_options(parser)
    parser.set_defaults(run=run_show)


def run_show(args: argparse.Namespace) -> int:
    setup_logging(args)

    async def go() -> dict[str, Any]:
        async with open_archive(args.store, store_options(args), create=False) as store:
            cache = open_cache(args, store.url)
            catalog = await load_catalog(store, cache)
            key = catalog.resolve(args.selector)
            return await show_bundle(store, catalog, key, cache, work_dir=args.work_dir)

    doc = asyncio.run(go())
    if args.json:
        print_json(doc)
    else:
        _print_show(doc)
    return EXIT_OK


def _print_show(doc: dict[str, Any]) -> None:
    manifest, meta = doc["manifest"], doc["metadata"]
    src = manifest["source"]
    fields = [
        ("key", doc["key"]),
        ("kind", manifest["kind"]),
        ("name", src["name"]),
        ("workflow id", src["workflowId"]),
        ("version", src["versionName"]),
        ("uuid", src["uuid"]),
        ("workflow uuid", src["workflowUuid"]),
        ("account / region", f"{src['partition']} {src['account']} {src['region']}"),
        ("arn", src["arn"]),
        ("digest", src["digest"]),
        ("state id", manifest["stateId"]),
        ("status", src["status"]),
        ("created", src["creationTime"]),
        ("engine", meta.get("engine")),
        ("main", meta.get("main")),
        ("storage", f"{meta.get('storageType', '-')} {meta.get('storageCapacity', '')}".strip()),
        ("description", meta.get("description")),
        ("tags", ", ".join(f"{k}={v}" for k, v in sorted((meta.get("tags") or {}).items())) or None),
        ("bundle size", human_bytes(doc["size"]) if doc["size"] is not None else None),
        ("tool version", manifest["toolVersion"]),
    ]
    width = max(len(k) for k, _ in fields)
    print("\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in fields))
    print("\nmembers:")
    print(
        table([[m["name"], m["size"], m["sha256"]] for m in manifest["members"]], ["NAME", "SIZE", "SHA-256"])
    )
    template = doc["parameterTemplate"]
    if template:
        print("\nparameters:")
        print(
            table(
                [
                    [name, (p or {}).get("optional", False), (p or {}).get("description", "")]
                    for name, p in sorted(template.items())
                ],
                ["NAME", "OPTIONAL", "DESCRIPTION"],
            )
        )
    _print_images(manifest, doc.get("archivedImages") or [])
    print(f"\nlisted by {count(len(doc['snapshots']), 'snapshot')}; states of this {manifest['kind']}:")
    print(
        table(
            [
                [
                    s["stateId"],
                    s["size"],
                    s["snapshots"],
                    s["firstSeen"],
                    s["lastSeen"],
                    s["key"] == doc["key"],
                ]
                for s in doc["states"]
            ],
            ["STATE", "SIZE", "SNAPSHOTS", "FIRST SEEN", "LAST SEEN", "THIS"],
        )
    )
    if doc["readme"]:
        lines = doc["readme"].splitlines()
        print("\nREADME.md:\n  " + "\n  ".join(lines[:20]) + ("\n  ..." if len(lines) > 20 else ""))


def _print_images(manifest: dict[str, Any], archived: list[dict[str, str]]) -> None:
    """The image inventory, and which images the store holds (``backup --images copy``)."""
    entries = (manifest.get("images") or {}).get("entries") or []
    if not entries:
        return
    held = {(a["image"], a["digest"]) for a in archived}
    print("\nimages:")
    print(
        table(
            [
                [
                    e.get("image") or e.get("expression"),
                    e.get("pullImage") or "-",
                    (e.get("digest") or "-")[:19],
                    e.get("status"),
                    "yes" if (e.get("pullImage"), e.get("digest")) in held else "no",
                ]
                for e in entries
            ],
            ["IMAGE", "PULLED FROM", "DIGEST", "STATUS", "ARCHIVED"],
        )
    )


# -- diff --------------------------------------------------------------------------------------


def _add_diff(sub: Any) -> None:
    parser = _parser(
        sub,
        "diff",
        "show what changed between two states of a workflow",
        "Compare two bundles: metadata fields changed, the parameter template, files added, removed and "
        "changed inside the definition ZIP (with a unified diff of changed text files, bounded by "
        "--max-diff-lines), and the README. " + SELECTORS,
    )
    parser.add_argument("a", metavar="A", help="the older bundle")
    parser.add_argument("b", metavar="B", help="the newer bundle")
    add_aws_options(parser, omics=False)
    parser.add_argument(
        "--max-diff-lines",
        type=positive_int,
        default=200,
        metavar="N",
        help="unified diff lines per file (default: %(default)s)",
    )
    parser.add_argument(
        "--work-dir", type=Path, metavar="DIR", help="where bundles are downloaded to be read"
    )
    add_cache_options(parser)
    add_output_options(parser)
    parser.set_defaults(run=run_diff)


def run_diff(args: argparse.Namespace) -> int:
    setup_logging(args)

    async def go() -> dict[str, Any]:
        async with open_archive(args.store, store_options(args), create=False) as store:
            catalog = await load_catalog(store, open_cache(args, store.url))
            a, b = catalog.resolve(args.a), catalog.resolve(args.b)
            if a == b:
                raise UsageError(f"{args.a!r} and {args.b!r} name the same bundle {a}")
            return await diff_bundles(store, a, b, max_lines=args.max_diff_lines, work_dir=args.work_dir)

    doc = asyncio.run(go())
    if args.json:
        print_json(doc)
    else:
        _print_diff(doc)
    return EXIT_OK


def _print_diff(doc: dict[str, Any]) -> None:
    print(f"--- {doc['a']['key']}\n+++ {doc['b']['key']}")
    if doc["identical"]:
        print("no differences")
        return
    if doc["metadata"]:
        print("\nmetadata:")
        print(
            table([[c["path"], _short(c["a"]), _short(c["b"])] for c in doc["metadata"]], ["FIELD", "A", "B"])
        )
    params = doc["parameterTemplate"]
    if any(params.values()):
        print("\nparameter template:")
        rows = [["added", n, _short(v)] for n, v in params["added"].items()]
        rows += [["removed", n, _short(v)] for n, v in params["removed"].items()]
        rows += [
            ["changed", n, f"{_short(v['a'])} -> {_short(v['b'])}"] for n, v in params["changed"].items()
        ]
        print(table(rows, ["", "PARAMETER", "VALUE"]))
    definition = doc["definition"]
    if definition["added"] or definition["removed"] or definition["changed"]:
        print("\ndefinition files:")
        rows = [["added", f["name"], f["size"]] for f in definition["added"]]
        rows += [["removed", f["name"], f["size"]] for f in definition["removed"]]
        rows += [["changed", f["name"], f"{f['sizeA']} -> {f['sizeB']}"] for f in definition["changed"]]
        print(table(rows, ["", "FILE", "SIZE"]))
        for f in definition["changed"]:
            if f.get("diff"):
                print("\n" + "\n".join(f["diff"]))
                if f.get("truncated"):
                    print(f"... (diff of {f['name']} cut at {len(f['diff'])} lines)")
            elif f.get("note"):
                print(f"\n{f['name']}: {f['note']}")
    readme = doc["readme"]
    if readme["changed"]:
        print("\nREADME.md:")
        print("\n".join(readme["diff"]) if readme["diff"] else readme.get("note", "changed"))


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
