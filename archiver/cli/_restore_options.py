"""The options ``restore`` and ``drill`` share, defined once: the source time, the migration mapping,
images, and how long to wait for ACTIVE.

Why: a drill is a restore into a sandbox, so the same option must mean the same thing and have the
same default in both; two copies had drifted apart (``--poll-interval`` 1s in one and 3s in the other,
help text "as restore" in one). Both commands read the parsed values back with the functions here.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import UsageError
from ..restore import EcrMapping
from ._common import key_value
from ._duration import positive_duration_arg

if TYPE_CHECKING:
    from ..mapping import MappingFile

__all__ = [
    "ACCOUNT_ID",
    "account_pair",
    "add_images_options",
    "add_mapping_options",
    "add_wait_options",
    "check_rewrite",
    "ecr_mapping",
    "images_mode",
    "region_pair",
    "timestamp",
]

ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")


def timestamp(text: str) -> datetime:
    """An ISO 8601 time for ``--at``; UTC unless it carries an offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def account_pair(text: str) -> tuple[str, str]:
    src, dst = key_value(text)
    if not (ACCOUNT_ID.match(src) and ACCOUNT_ID.match(dst)):
        raise argparse.ArgumentTypeError(f"expected two 12-digit account ids as SRC=DST, got {text!r}")
    return src, dst


def region_pair(text: str) -> tuple[str, str]:
    src, dst = key_value(text)
    if not (_REGION.match(src) and _REGION.match(dst)):
        raise argparse.ArgumentTypeError(f"expected two region names as SRC=DST, got {text!r}")
    return src, dst


def add_mapping_options(group: argparse._ArgumentGroup) -> None:
    """``--map-account``, ``--map-region``, ``--mapping``, ``--rewrite-images``."""
    group.add_argument(
        "--map-account",
        action="append",
        default=[],
        type=account_pair,
        metavar="SRC=DST",
        help="move private ECR references of account SRC to DST in container registry maps (repeatable)",
    )
    group.add_argument(
        "--map-region",
        action="append",
        default=[],
        type=region_pair,
        metavar="SRC=DST",
        help="move private ECR references in region SRC to DST in container registry maps (repeatable)",
    )
    group.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE",
        help="a YAML mapping file (schemas/restore-mapping.schema.json, examples/restore-mapping.yaml) of "
        "accounts, regions, ECR registries and repository prefixes, credentialArn secrets, connectionArns "
        "and the staging bucket; --map-account/--map-region/--staging-* add to it and win",
    )
    group.add_argument(
        "--rewrite-images",
        action="store_true",
        help="also rewrite the private ECR image URIs inside the definition files (changes the digest; "
        "every rewritten reference is reported with file and line)",
    )


def add_images_options(group: argparse._ArgumentGroup, *, checks: str = "") -> None:
    """``--push-images`` / ``--allow-missing-images`` (one or the other)."""
    img = group.add_mutually_exclusive_group()
    img.add_argument(
        "--push-images",
        action="store_true",
        help="push the archived images (backup --images copy) that the target's ECR lacks, creating "
        "repositories as needed, and point the workflows at them; without it (or "
        "--allow-missing-images) a restore refuses, creating nothing, while images are missing",
    )
    img.add_argument(
        "--allow-missing-images",
        action="store_true",
        help="restore even though images the workflows use are missing from the target's ECR (each is "
        f"reported: runs will fail at the tasks that use them){checks}",
    )


def add_wait_options(group: argparse._ArgumentGroup) -> None:
    """``--wait-timeout`` and ``--poll-interval``: waiting for what was created to become ACTIVE."""
    group.add_argument(
        "--wait-timeout",
        type=positive_duration_arg,
        default=900.0,
        metavar="DURATION",
        help="how long to wait for each workflow and version to become ACTIVE (default: 15m)",
    )
    group.add_argument(
        "--poll-interval",
        type=positive_duration_arg,
        default=1.0,
        metavar="DURATION",
        help="longest gap between status polls (the first comes 0.1 s after a create, then the gaps "
        "double up to this); one List call answers for every workflow awaited, one per workflow for "
        "its versions (default: 1s)",
    )


def check_rewrite(args: argparse.Namespace) -> None:
    """``--rewrite-images`` needs somewhere to rewrite to (restore and drill)."""
    if args.rewrite_images and not (args.map_account or args.map_region or args.mapping):
        raise UsageError("--rewrite-images needs --mapping, --map-account and/or --map-region")


def ecr_mapping(loaded: MappingFile, args: argparse.Namespace) -> EcrMapping:
    """The mapping file's values, with ``--map-account``/``--map-region`` winning (restore and drill)."""
    return EcrMapping(
        accounts={**loaded.accounts, **dict(args.map_account)},
        regions={**loaded.regions, **dict(args.map_region)},
        registries=loaded.registries,
        repository_prefixes=loaded.repository_prefixes,
        credentials=loaded.credentials,
        connections=loaded.connections,
    )


def images_mode(args: argparse.Namespace) -> str:
    """``--push-images`` / ``--allow-missing-images`` as the config's ``images`` value."""
    return "push" if args.push_images else "allow-missing" if args.allow_missing_images else "require"
