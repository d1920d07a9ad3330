"""The ``omics-archiver`` command line.

The CLI is the only place that reads the environment, prints, and maps errors to exit codes
(0 ok, 1 failed, 2 the user's input is wrong, 3 partial, 129/130/143 signals; each command's
meanings are in :mod:`._exit_codes` and its ``--help``).

Each command lives in its own module with ``add_parser(subparsers)`` registering a ``run``
function that returns the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from .._errors import ArchiverError, UsageError
from .._version import __version__
from ._common import EXIT_FAILURE, EXIT_USAGE, print_error
from ._exit_codes import HelpFormatter, epilog

__all__ = ["main"]

# The command modules, in the order ``--help`` lists them, and the commands each registers. Only
# the module of the command being run is imported (each brings its own dependencies: a restore
# need not load the emulator or the archive browser); without a known command, all of them.
_COMMANDS: dict[str, tuple[str, ...]] = {
    "_backup": ("backup",),
    "_restore": ("restore",),
    "_delete": ("delete",),
    "_drill": ("drill",),
    "_archive": ("verify", "list", "snapshots", "show", "diff", "prune"),
    "_report": ("report",),
    "_unlock": ("unlock",),
    "_emulator": ("emulator",),
}


def _command_modules(argv: Sequence[str] | None) -> list[str]:
    """The module of the command ``argv`` starts with (the top level takes only ``--help`` and
    ``--version``, which come before any command), or every module."""
    if argv:
        for module, names in _COMMANDS.items():
            if argv[0] in names:
                return [module]
    return list(_COMMANDS)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser: of every command, or (``argv`` given) of the command ``argv`` runs only."""
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
    for name in _command_modules(argv):
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    for name, command in sub.choices.items():
        command.formatter_class = HelpFormatter
        command.epilog = "\n".join(filter(None, [command.epilog, epilog(name)]))
    return parser


# SIGTERM is what systemd, docker and timeout send; SIGHUP what a closed terminal sends.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _stop_like_ctrl_c(received: list[int]) -> Iterator[None]:
    """Treat SIGTERM and SIGHUP exactly as Ctrl-C while the command runs.

    The handler hands the signal to whatever handles SIGINT at that moment: inside ``asyncio.run``
    that cancels the main task, so every ``finally`` runs (temporary files removed, the lock
    released, no snapshot written) before ``KeyboardInterrupt`` comes out; outside, it raises
    ``KeyboardInterrupt`` at once. ``received`` records which signal it was.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        on_sigint = signal.getsignal(signal.SIGINT)
        if callable(on_sigint):
            on_sigint(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # here, so that a reader gone away is noticed while it can be handled
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as a pipeline expects, with the code a
        # shell gives for SIGPIPE; stdout goes to /dev/null so the exit-time flush cannot complain.
        _drop_stdout()
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    received: list[int] = []
    try:
        with _stop_like_ctrl_c(received):
            return run(args)
    except UsageError as exc:
        print_error(exc.message)
        return EXIT_USAGE
    except ArchiverError as exc:
        print_error(exc.message)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        if received:
            name = signal.Signals(received[0]).name
            print_error(
                f"stopped by {name}; nothing half-written is left in the store, and its lock is released"
            )
            return 128 + received[0]
        print_error("interrupted; nothing half-written is left in the store")
        return 130


EXIT_BROKEN_PIPE = 128 + 13


def _drop_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
