"""What every command shares: AWS and store options, the environment, logging, progress, exit codes.

Logs go to stderr: JSON lines when stderr is not a terminal (for the nightly job's log collector),
short human lines when it is, with a progress line kept at the bottom. Every message passes
through :func:`archiver._errors.redact`, so no presigned URL or credential can reach a log.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .._errors import UsageError, redact
from .._ratelimit import DEFAULT_RATES
from .._settings import AwsSettings
from ..store import StoreOptions

if TYPE_CHECKING:  # rich is imported only when a terminal shows progress
    from ._terminal import Terminal

    Progress = Terminal  # the live area at the bottom of a terminal (see ._terminal)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def print_error(message: str) -> None:
    print(f"omics-archiver: error: {redact(message)}", file=sys.stderr)


# -- options --------------------------------------------------------------------------------------

_DEPRECATIONS: list[str] = []


class DeprecatedAlias(argparse.Action):
    """An old spelling of an option, hidden from ``--help``: it still works and warns once per run.

    The warning is queued and emitted by :func:`setup_logging`, so that it goes through the log
    (a JSON line when logs are JSON) rather than breaking a log collector's parsing.
    """

    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any) -> None:
        self.new = new
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        message = f"{option_string} is deprecated; use {self.new}"
        if message not in _DEPRECATIONS:
            _DEPRECATIONS.append(message)
        if self.nargs == 0:
            setattr(namespace, self.dest, True)
        elif isinstance(getattr(namespace, self.dest, None), list):
            getattr(namespace, self.dest).append(values)
        else:
            setattr(namespace, self.dest, values)


def add_alias(
    group: argparse.ArgumentParser | argparse._ArgumentGroup,
    old: str,
    new: str,
    *,
    flag: bool = False,
    **kwargs: Any,
) -> None:
    """Keep ``old`` working as a hidden, deprecated spelling of the option ``new``."""
    dest = new.lstrip("-").replace("-", "_")
    group.add_argument(old, dest=dest, action=DeprecatedAlias, new=new, nargs=0 if flag else None, **kwargs)


def add_aws_options(
    parser: argparse.ArgumentParser, *, omics: bool = True, what: str = ""
) -> argparse._ArgumentGroup:
    """``--profile`` and ``--region`` (every command: they reach the store's S3 too) and, for commands
    that call HealthOmics (``omics``), its endpoint, STS, ECR and the account id.

    ``what`` says in the help what the command talks to (e.g. "the target account"), if not the
    obvious one.
    """
    g = parser.add_argument_group("AWS")
    target = f" ({what})" if what else ""
    g.add_argument(
        "--profile",
        metavar="NAME",
        help=f"named profile from ~/.aws/config{target}, also used for an s3:// store unless "
        "--store-profile is given (default: AWS_PROFILE, else the default credential chain)",
    )
    g.add_argument(
        "--region",
        metavar="REGION",
        help=f"AWS region to talk to{target}, the store's S3 included; archived content is filtered "
        "by --source-region (default: the profile's, else AWS_REGION)",
    )
    if not omics:
        return g
    g.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="HealthOmics endpoint; host-prefix injection is disabled for a custom endpoint, as the "
        "emulator needs (default: AWS_ENDPOINT_URL_OMICS, else the regional endpoint)",
    )
    g.add_argument(
        "--sts-endpoint-url",
        metavar="URL",
        help="STS endpoint used to learn the account (default: AWS_ENDPOINT_URL_STS; with a custom "
        "HealthOmics endpoint and no STS endpoint, the HealthOmics endpoint, which the emulator answers)",
    )
    g.add_argument(
        "--allow-unknown-region",
        action="store_true",
        help="use a region botocore's partition data does not know (a region newer than this "
        "installation); without it such a region is refused as a likely typo",
    )
    g.add_argument(
        "--ecr-endpoint-url",
        metavar="URL",
        help="ECR endpoint, asked for the digests of the workflows' images (default: "
        "AWS_ENDPOINT_URL_ECR; with a custom HealthOmics endpoint and no ECR endpoint, the HealthOmics "
        "endpoint, which the emulator answers)",
    )
    g.add_argument(
        "--account-id",
        metavar="ID",
        help="the account's 12-digit id, to skip the STS GetCallerIdentity call (default: asked of STS)",
    )
    return g


def add_store_options(parser: argparse.ArgumentParser, *, required: bool = True, write: bool = False) -> None:
    """``--store`` and how to reach it; ``write`` adds the options that only matter when writing."""
    g = parser.add_argument_group("store")
    g.add_argument(
        "--store",
        required=required,
        metavar="URL",
        help="where the archive lives: file://PATH, a bare PATH, or s3://BUCKET/PREFIX",
    )
    g.add_argument(
        "--s3-endpoint-url",
        metavar="URL",
        help="S3 endpoint for an s3:// store (default: AWS_ENDPOINT_URL_S3, else the regional endpoint)",
    )
    g.add_argument(
        "--store-profile",
        metavar="NAME",
        help="named profile for an s3:// store in another account (default: --profile)",
    )
    if not write:
        return
    g.add_argument(
        "--kms-key-id", metavar="KEY", help="encrypt the S3 objects written with this KMS key (SSE-KMS)"
    )
    g.add_argument(
        "--object-lock-days",
        type=positive_int,
        metavar="DAYS",
        help="S3 Object Lock retention for every object written (the bucket must have Object Lock enabled)",
    )
    g.add_argument(
        "--object-lock-mode",
        choices=["GOVERNANCE", "COMPLIANCE"],
        default="COMPLIANCE",
        help="S3 Object Lock mode (default: %(default)s)",
    )


def add_filter_options(
    parser: argparse.ArgumentParser,
    *,
    workflows: bool = True,
    title: str = "filters on archived content",
) -> argparse._ArgumentGroup:
    """``--account`` and ``--source-region`` (and, with ``workflows``, ``--workflow-id`` and ``--name``):
    the same names for the same filters in every command."""
    g = parser.add_argument_group(title)
    g.add_argument("--account", metavar="ID", help="only the archive of this 12-digit account id")
    g.add_argument(
        "--source-region", metavar="REGION", help="only the archive of this region (where it was backed up)"
    )
    if workflows:
        g.add_argument(
            "--workflow-id",
            action="append",
            default=[],
            metavar="ID",
            help="only this workflow id (repeatable)",
        )
        g.add_argument(
            "--name",
            action="append",
            default=[],
            metavar="GLOB",
            help="only workflows whose name matches this shell-style pattern (repeatable)",
        )
    return g


def add_output_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print a machine-readable report on stdout")
    g.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="the least severe log messages shown (default: %(default)s)",
    )
    g.add_argument(
        "--log-format",
        choices=["auto", "json", "text"],
        default="auto",
        help="stderr log format: JSON lines, or text with a progress bar (default: auto, text on a terminal)",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="text logs also get a line per item (bundle archived or unchanged); JSON logs always do",
    )


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


positive_int = int_at_least(1)


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def rate_pair(text: str) -> tuple[str, float]:
    op, value = key_value(text)
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rate must be a number in {text!r}") from None
    if not (math.isfinite(rate) and rate > 0):
        raise argparse.ArgumentTypeError(
            f"rate must be a finite number of requests per second above 0 in {text!r} "
            "(--no-rate-limit lifts pacing)"
        )
    if op not in DEFAULT_RATES:
        raise argparse.ArgumentTypeError(
            f"unknown operation {op!r}; one of {', '.join(sorted(DEFAULT_RATES))}"
        )
    return op, rate


def add_rate_options(group: argparse._ArgumentGroup) -> None:
    """``--rate OP=RATE`` and ``--no-rate-limit``: how fast each HealthOmics operation may be called."""
    group.add_argument(
        "--rate",
        action="append",
        default=[],
        type=rate_pair,
        metavar="OPERATION=RATE",
        help="requests per second allowed for an operation, if your account's quota differs "
        "(defaults: the published quotas, e.g. GetWorkflow=10, ListShares=1)",
    )
    group.add_argument("--no-rate-limit", action="store_true", help="do not pace API calls (rely on retries)")


def rates_from(args: argparse.Namespace) -> dict[str, float] | None:
    """The per-operation rates ``add_rate_options`` asked for; ``None`` lifts pacing."""
    if args.no_rate_limit:
        return None
    return {**DEFAULT_RATES, **dict(args.rate)}


def aws_settings(
    args: argparse.Namespace,
    *,
    rates: Mapping[str, float] | None = DEFAULT_RATES,
    env: Mapping[str, str] | None = None,
) -> AwsSettings:
    """AwsSettings from the command line, then the environment.

    The same conventions hold for every command: ``--endpoint-url``, else ``AWS_ENDPOINT_URL_OMICS``;
    ``--sts-endpoint-url``, else ``AWS_ENDPOINT_URL_STS``, else a custom HealthOmics endpoint (the
    emulator answers STS too), else the public STS endpoint; ECR likewise (``--ecr-endpoint-url``,
    ``AWS_ENDPOINT_URL_ECR``).
    """
    env = os.environ if env is None else env
    endpoint = args.endpoint_url or env.get("AWS_ENDPOINT_URL_OMICS")
    sts = args.sts_endpoint_url or env.get("AWS_ENDPOINT_URL_STS")
    if endpoint and not sts:
        sts = endpoint
    ecr = getattr(args, "ecr_endpoint_url", None) or env.get("AWS_ENDPOINT_URL_ECR") or endpoint
    return AwsSettings(
        region=args.region,
        profile=args.profile,
        endpoint_url=endpoint,
        sts_endpoint_url=sts,
        ecr_endpoint_url=ecr,
        rates=dict(rates) if rates is not None else None,
        allow_unknown_region=bool(getattr(args, "allow_unknown_region", False)),
    )


def check_writable_dir(path: Path, option: str) -> None:
    """Refuse, before any work, a directory a run could not create temporary files in."""
    if not path.is_dir():
        raise UsageError(f"{option} {path}: no such directory")
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None


def check_writable_file(path: Path, option: str) -> None:
    """Refuse, before any work, a file path a run could not write at its end (it is written by
    a temporary file in the same directory and a rename)."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory")
    check_writable_dir(path.parent if str(path.parent) else Path("."), option)


def store_options(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> StoreOptions:
    env = os.environ if env is None else env
    return StoreOptions(
        region=getattr(args, "region", None),
        profile=getattr(args, "store_profile", None) or getattr(args, "profile", None),
        endpoint_url=args.s3_endpoint_url or env.get("AWS_ENDPOINT_URL_S3"),
        kms_key_id=getattr(args, "kms_key_id", None),
        object_lock_days=getattr(args, "object_lock_days", None),
        object_lock_mode=getattr(args, "object_lock_mode", "COMPLIANCE"),
    )


# -- logging and progress -------------------------------------------------------------------------


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:  # a record re-emitted from a worker process
            doc["exception"] = redact(record.exc_text)
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {redact(record.getMessage())}"
        if record.exc_info:
            text += "\n" + redact(self.formatException(record.exc_info))
        elif record.exc_text:  # a record re-emitted from a worker process
            text += "\n" + redact(record.exc_text)
        return text


# Per-item log lines (one per bundle): on a terminal only with -v, the progress bar counts them.
_PER_ITEM = frozenset({"bundle", "export-retry"})


class _ProgressAwareHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes log lines to the stream, or above the live area when a terminal has one."""

    def __init__(self, stream: TextIO, terminal: Terminal | None, *, per_item: bool = True) -> None:
        super().__init__(stream)
        self._terminal = terminal
        self._per_item = per_item

    def emit(self, record: logging.LogRecord) -> None:
        if not self._per_item and getattr(record, "event", None) in _PER_ITEM:
            return
        if self._terminal is None:
            super().emit(record)
            return
        try:
            self._terminal.print(self.format(record))
        except Exception:
            self.handleError(record)


# Libraries whose warnings reach the user. Left alone they would go to Python's last-resort handler
# with a traceback (botocore logs one when refreshing assumed-role credentials fails).
_LIBRARIES = ("botocore", "aiobotocore", "boto3", "s3transfer", "urllib3", "aiohttp")


class _OneLine(logging.Filter):
    """A library record's traceback becomes one line: what failed and why, never a stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


def setup_logging(args: argparse.Namespace, stream: TextIO | None = None) -> Terminal | None:
    """Configure the ``archiver`` logger; return the live area when stderr is a terminal.

    Text logs leave out per-item lines unless ``-v``; JSON logs keep every event.
    """
    stream = stream or sys.stderr
    fmt = getattr(args, "log_format", "auto")
    text = fmt == "text" or (fmt == "auto" and stream.isatty())
    progress: Terminal | None = None
    if text and stream.isatty():
        from ._terminal import Terminal  # rich, only for a terminal

        progress = Terminal(stream)
    verbose = bool(getattr(args, "verbose", False))
    handler = _ProgressAwareHandler(stream, progress, per_item=verbose or not text)
    handler.setFormatter(TextFormatter() if text else JsonLinesFormatter())
    logger = logging.getLogger("archiver")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(getattr(args, "log_level", "INFO"))
    logger.propagate = False
    libraries = _ProgressAwareHandler(stream, progress, per_item=True)  # their warnings: our format,
    libraries.setFormatter(handler.formatter)  # one line each
    libraries.addFilter(_OneLine())
    for name in _LIBRARIES:
        library = logging.getLogger(name)
        for old in list(library.handlers):
            library.removeHandler(old)
        library.addHandler(libraries)
        library.setLevel(logging.WARNING)
        library.propagate = False
    for message in _DEPRECATIONS:
        logging.getLogger("archiver.cli").warning("%s", message, extra={"event": "deprecated"})
    _DEPRECATIONS.clear()
    return progress


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)
