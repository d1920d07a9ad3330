"""``report``: the archive at a glance, as text, a static HTML page (``--html FILE``) or JSON (``--json``).

Read-only, like ``list`` and ``snapshots``: snapshots come through the local cache, bundle manifests
are read from the head of each bundle of the newest snapshots (and cached). Objects that cannot be
read are shown on the page and warned about on stderr; they do not fail the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._catalog import load_catalog
from .._errors import UsageError
from ..report import build_overview, find_records, read_images, render_html, render_text
from ..store import open_archive
from ._archive import add_cache_options, human_bytes, open_cache, print_json
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
from ._words import count


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="write the archive at a glance as a static HTML page (or JSON)",
        description=(
            "Show that backups work: per account and region, the last complete backup and its age; the "
            "nightly counts over time as small charts; the failed and vanished workflows of the latest "
            "snapshots; each workflow's states over time; the last verify and restore drill results; "
            "image readiness (images referenced, with a digest, archived in the store, unresolved). "
            "Without options it prints a few lines per target; --html writes one self-contained page "
            "(inline CSS and SVG, no script, loads nothing); --json prints the data. Only reads the store."
        ),
    )
    add_store_options(parser)
    add_aws_options(parser, omics=False)
    add_filter_options(parser, workflows=False)
    g = parser.add_argument_group("report")
    g.add_argument("--html", type=Path, metavar="FILE", help="write the page to FILE (replaced atomically)")
    g.add_argument(
        "--max-manifests",
        type=int_at_least(0),
        default=2000,
        metavar="N",
        help="bundle manifests read for the images section, at most (default: %(default)s; cached)",
    )
    add_cache_options(parser)
    add_output_options(parser)
    parser.set_defaults(run=run_report)


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory, then rename."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write the report to {path}: {exc.strerror or exc}") from None


def run_report(args: argparse.Namespace) -> int:
    setup_logging(args)
    if args.html is not None and args.html.is_dir():
        raise UsageError(f"--html {args.html} is a directory; give a file name")

    async def go() -> dict[str, Any]:
        async with open_archive(args.store, store_options(args), create=False) as store:
            cache = open_cache(args, store.url)
            catalog = await load_catalog(store, cache, account=args.account, region=args.source_region)
            images = await read_images(store, catalog, cache, max_manifests=args.max_manifests)
            records = await find_records(store)
            return build_overview(
                catalog, store=store.url, now=datetime.now(UTC), images=images, records=records
            )

    doc = asyncio.run(go())
    for problem in doc["problems"]:
        print(f"omics-archiver: warning: {problem['key']}: {problem['problem']}", file=sys.stderr)
    if args.html is not None:
        page = render_html(doc)
        _write(args.html, page)
        size = len(page.encode("utf-8"))
        if not args.json:
            print(
                f"report of {count(len(doc['targets']), 'target')} and {count(doc['snapshots'], 'snapshot')} "
                f"written to {args.html} ({human_bytes(size)})"
            )
    if args.json:
        print_json(doc)
    else:
        print(render_text(doc))
    return EXIT_OK
