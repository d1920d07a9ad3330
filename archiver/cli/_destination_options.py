"""The options of a run across destinations (``--targets``, ``--target-tag``, ``--max-targets``).

Apart from :mod:`._restore_targets`, which runs such a run, so that ``restore`` and ``drill`` can
build their parsers without importing what only a run across destinations needs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .._errors import UsageError
from ._common import key_value, positive_int

__all__ = [
    "add_destination_options",
    "add_target_tag_option",
    "check_destination_options",
    "wants_destinations",
]


def add_destination_options(parser: argparse.ArgumentParser, *, what: str) -> None:
    g = parser.add_argument_group(
        f"many {what}s (each: its own assumed role and pacers; which archived account-region goes "
        "where comes from --mapping's accounts and regions)"
    )
    g.add_argument(
        "--targets",
        type=Path,
        metavar="FILE",
        help=f"the {what} accounts and regions, with the role to assume in each, in the targets file "
        "format of backup --targets (schemas/targets.schema.json); every archived account-region goes to "
        "the one --mapping maps it to (unmapped: the same); accounts listing no regions take --region; see "
        "examples/restore-targets.yaml",
    )
    add_target_tag_option(g, help="with --targets: only the file's accounts tagged so")
    g.add_argument(
        "--max-targets",
        type=positive_int,
        default=16,
        metavar="N",
        help=f"with --targets: {what}s worked on at once (default: %(default)s)",
    )


def add_target_tag_option(group: argparse._ArgumentGroup, *, help: str) -> None:
    """``--target-tag KEY=VALUE``: the targets file's accounts to keep (backup's, restore's, drill's)."""
    group.add_argument(
        "--target-tag",
        action="append",
        default=[],
        type=key_value,
        metavar="KEY=VALUE",
        help=f"{help} (repeatable; all must match)",
    )


def wants_destinations(args: argparse.Namespace) -> bool:
    return getattr(args, "targets", None) is not None


def check_destination_options(args: argparse.Namespace) -> None:
    """What a run across destinations cannot take (it is per source or per destination)."""
    if not wants_destinations(args):
        for option, value in (("--target-tag", args.target_tag), ("--max-targets", args.max_targets != 16)):
            if value:
                raise UsageError(f"{option} goes with --targets")
        return
    if args.snapshot:
        raise UsageError(
            "--snapshot names one account-region's snapshot; with --targets each source's latest state "
            "is used, or that at --at TIME"
        )
    if args.account_id:
        raise UsageError("--account-id is for one destination; with --targets each names its own account")
