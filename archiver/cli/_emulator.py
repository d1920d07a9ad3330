"""``omics-archiver emulator``: the local HealthOmics emulator (see ``archiver.testing``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    from ..testing import _cli

    parser = sub.add_parser(
        "emulator",
        help="run the local HealthOmics emulator (for tests, demos and benchmarks)",
        description=(
            "Run a local emulator of the HealthOmics workflow API. The first line printed on stdout is its "
            "endpoint URL, once it accepts connections. Point clients at it with --endpoint-url or "
            "AWS_ENDPOINT_URL_OMICS, with host-prefix injection disabled."
        ),
    )
    _cli.add_arguments(parser)
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from ..testing import _cli

    return _cli.run(args)
