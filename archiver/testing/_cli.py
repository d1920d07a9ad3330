"""Command line entry of the emulator: ``omics-archiver emulator`` and ``python -m archiver.testing``.

This is the only part of the emulator that reads arguments, prints and handles signals. The first
line on stdout is the endpoint URL, printed and flushed once the port accepts connections, so a
parent process (bench, demo) can read one line and start talking; the server then runs until SIGINT
or SIGTERM and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ._auth import CredentialsError, load_credentials
from ._config import EmulatorConfig, Faults
from ._seed import SeedError

__all__ = ["add_arguments", "main", "run"]


def _pair(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected OP=NUMBER, got {text!r}")
    try:
        return name, float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected OP=NUMBER, got {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument(
        "--seed", type=Path, action="append", default=[], metavar="DIR", help="seed directory"
    )
    parser.add_argument(
        "--url-ttl",
        type=float,
        default=300.0,
        metavar="S",
        help="export URL lifetime, seconds (default: %(default)g)",
    )
    parser.add_argument("--create-delay", type=float, default=0.0, metavar="S", help="seconds in CREATING")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="N", help="added to every API call")
    parser.add_argument(
        "--download-latency-ms",
        type=float,
        default=0.0,
        metavar="N",
        help="added before the first byte of every export download (definition, README), as S3 would",
    )
    lifecycle = EmulatorConfig()
    for flag, default, text in (
        ("--update-delay", lifecycle.update_delay, "seconds in UPDATING after an update"),
        ("--deleted-linger", lifecycle.deleted_linger, "seconds a deleted resource still answers DELETED"),
        ("--consistency-lag", lifecycle.consistency_lag, "seconds reads may answer as before a write"),
        ("--share-activation-delay", lifecycle.share_activation_delay, "seconds a share is ACTIVATING"),
        ("--share-deletion-delay", lifecycle.share_deletion_delay, "seconds a share is DELETING"),
    ):
        help_text = f"{text} (default: {default:g})"
        parser.add_argument(flag, type=float, default=default, metavar="S", help=help_text)
    parser.add_argument(
        "--share-failure-rate", type=float, default=0.0, metavar="P", help="chance an accepted share FAILS"
    )
    parser.add_argument(
        "--quota",
        type=_pair,
        action="append",
        default=[],
        metavar="OP=RATE",
        help="requests/s for an operation",
    )
    parser.add_argument("--no-quotas", action="store_true", help="lift every quota")
    parser.add_argument(
        "--error-rate",
        type=_pair,
        action="append",
        default=[],
        metavar="OP=P",
        help="InternalServerException rate",
    )
    parser.add_argument(
        "--throttle-rate",
        type=_pair,
        action="append",
        default=[],
        metavar="OP=P",
        help="extra throttling rate",
    )
    parser.add_argument(
        "--truncate-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share of export downloads cut short after their Content-Length",
    )
    parser.add_argument(
        "--expire-early-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share of export URLs issued already expired (they state the normal lifetime)",
    )
    parser.add_argument(
        "--slow-download-bps", type=int, default=None, metavar="N", help="cap export downloads at N bytes/s"
    )
    parser.add_argument(
        "--random-seed", type=int, default=0, metavar="N", help="seed of every random draw (ids, faults)"
    )
    parser.add_argument(
        "--s3-endpoint-url",
        default=None,
        metavar="URL",
        help="S3 endpoint to fetch definitionUri, readmeUri and containerRegistryMapUri objects from",
    )
    parser.add_argument(
        "--list-shared-workflows",
        action="store_true",
        help="ListWorkflows also lists workflows shared with the caller (unknown in AWS)",
    )
    parser.add_argument(
        "--repositories",
        type=Path,
        default=None,
        metavar="DIR",
        help="Git repositories for definitionRepository: DIR/<owner>/<name> is <owner>/<name>",
    )
    auth = parser.add_argument_group("authentication (SigV4, on by default; see docs/emulator.md)")
    auth.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help='JSON {"<access key id>": {"secret_access_key": ..., "account_id": ..., "session_token": ...}}: '
        "only these keys are accepted and signatures are verified (default: any 12-digit access key id "
        "is its account; signatures are checked for shape, scope and date only)",
    )
    auth.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="REGION",
        help="serve only this region, as a regional endpoint does (repeatable; default: every region "
        "HealthOmics is offered in)",
    )
    auth.add_argument(
        "--deny-assume-role",
        action="append",
        default=[],
        metavar="ARN",
        help="STS AssumeRole of this role ARN answers AccessDenied (repeatable)",
    )
    auth.add_argument("--no-auth", action="store_true", help="serve unsigned requests too (not like AWS)")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    base = EmulatorConfig()
    quotas = None if args.no_quotas else {**(base.quotas or {}), **dict(args.quota)}
    return EmulatorConfig(
        url_ttl=args.url_ttl,
        create_delay=args.create_delay,
        update_delay=args.update_delay,
        deleted_linger=args.deleted_linger,
        consistency_lag=args.consistency_lag,
        share_activation_delay=args.share_activation_delay,
        share_deletion_delay=args.share_deletion_delay,
        share_failure_rate=args.share_failure_rate,
        latency=args.latency_ms / 1000.0,
        download_latency=args.download_latency_ms / 1000.0,
        quotas=quotas,
        faults=Faults(
            error_rate=dict(args.error_rate),
            throttle_rate=dict(args.throttle_rate),
            truncate_rate=args.truncate_rate,
            expire_early_rate=args.expire_early_rate,
            slow_download_bps=args.slow_download_bps,
        ),
        random_seed=args.random_seed,
        s3_endpoint_url=args.s3_endpoint_url,
        list_shared_workflows=args.list_shared_workflows,
        repositories_dir=None if args.repositories is None else str(args.repositories.resolve()),
        authentication=not args.no_auth,
        credentials=None if args.credentials is None else load_credentials(args.credentials),
        regions=frozenset(args.region) if args.region else None,
        deny_assume_role=frozenset(args.deny_assume_role),
    )


async def _serve(args: argparse.Namespace) -> None:
    from ._emulator import open_emulator  # the server, only when it is to run (see __init__)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with open_emulator(config_from_args(args), host=args.host, port=args.port) as emulator:
            for seed in args.seed:
                emulator.load_seed(seed)
            print(emulator.url, flush=True)
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 2 on a bad seed, credentials file or address."""
    try:
        asyncio.run(_serve(args))
    except SeedError as exc:
        print(f"omics-archiver emulator: bad seed: {exc}", file=sys.stderr)
        return 2
    except CredentialsError as exc:
        print(f"omics-archiver emulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"omics-archiver emulator: cannot listen: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m archiver.testing", description="Local HealthOmics emulator"
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
