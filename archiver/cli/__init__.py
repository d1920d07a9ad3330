"""The ``omics-archiver`` command line.

The CLI is the only place that reads the environment, prints, and maps errors to exit codes:

    0  everything done (skipped shared or Ready2Run workflows included)
    3  partial: some workflows failed or were quarantined; the rest is archived
    1  failure: nothing could be done (or verification found problems)
    2  usage error: bad arguments or configuration

Each command lives in its own module with ``add_parser(subparsers)`` registering a ``run``
function that returns the exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .._errors import ArchiverError, UsageError
from .._version import __version__
from . import _archive, _backup, _delete, _emulator, _report, _restore
from ._common import EXIT_FAILURE, EXIT_USAGE, print_error

__all__ = ["main"]

_COMMANDS = (_backup, _restore, _delete, _archive, _report, _emulator)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omics-archiver",
        description=(
            "Back up AWS HealthOmics private workflows and their versions into immutable, verifiable "
            "bundles (zstd-compressed tar files) in a local directory or S3, and restore them."
        ),
        epilog="Run 'omics-archiver COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"omics-archiver {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except UsageError as exc:
        print_error(exc.message)
        return EXIT_USAGE
    except ArchiverError as exc:
        print_error(exc.message)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print_error("interrupted; nothing half-written is left in the store")
        return 130


if __name__ == "__main__":
    sys.exit(main())
