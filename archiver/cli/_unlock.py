"""``omics-archiver unlock``: remove lock markers left by processes that are gone.

A marker of a crashed backup or prune goes stale by itself after 15 minutes, and one of a process
of this host that no longer exists is ignored at once; ``unlock`` removes them from the store so
that nobody has to wonder. ``--remove-all`` also removes live markers, for when you know better
than the markers (a host that was switched off for good), as restic's ``unlock --remove-all``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from .._lock import list_locks, remove_dead_locks
from ..store import open_archive
from ._common import (
    EXIT_OK,
    add_aws_options,
    add_output_options,
    add_store_options,
    setup_logging,
    store_options,
)
from ._words import count


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "unlock",
        help="remove stale lock markers (of crashed or killed runs)",
        description=(
            "Remove the lock markers of backups and prunes that are no longer running: ended ones, stale "
            "ones (not refreshed for 15 minutes) and those of processes of this host that no longer exist. "
            "With --remove-all, remove every marker, live or not: only when you are sure that no backup or "
            "prune uses the store."
        ),
    )
    add_store_options(parser)
    add_aws_options(parser, omics=False)
    parser.add_argument("--remove-all", action="store_true", help="remove live markers too")
    add_output_options(parser)
    parser.set_defaults(run=run_unlock)


def run_unlock(args: argparse.Namespace) -> int:
    setup_logging(args)

    async def go() -> tuple[list[str], list[str]]:
        async with open_archive(args.store, store_options(args), create=False) as store:
            removed = await remove_dead_locks(store, remove_all=args.remove_all)
            left = [m.key for m in await list_locks(store)]
            return removed, left

    removed, left = asyncio.run(go())
    if args.json:
        json.dump({"removed": removed, "remaining": left}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"removed {count(len(removed), 'lock marker')}; {len(left)} remain (held by running processes)")
        for key in removed:
            print(f"  removed {key}")
        for key in left:
            print(f"  kept    {key}")
    return EXIT_OK
