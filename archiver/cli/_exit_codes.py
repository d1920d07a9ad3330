"""What each command's exit code means, in one table: the ``--help`` epilogs and the README come from it.

Why: the same situation must give the same code in every command (a script checks ``$?``, not our
wording), and a table in one place keeps the help, the README and the code from drifting apart
(tests/test_cli_help.py compares them). The codes:

    0  ok          1  the operation failed, or nothing could run
    2  the user's input is wrong (usage, a bad file, not found, refused as unsafe)
    3  partial (some items failed; the rest is done)
    129, 130, 143  stopped by SIGHUP, Ctrl-C, SIGTERM (128 + the signal)
"""

from __future__ import annotations

import argparse
import re

__all__ = ["EXIT_CODES", "SIGNALS", "HelpFormatter", "codes", "epilog"]

SIGNALS = "stopped by SIGHUP, Ctrl-C or SIGTERM; nothing half-written is left"

_USAGE = "bad arguments or configuration"
_STORE = "the store could not be read (missing, unreachable, access denied)"

EXIT_CODES: dict[str, list[tuple[str, str]]] = {
    "backup": [
        (
            "0",
            "every workflow archived (shared and Ready2Run workflows skipped with a warning); with "
            "--targets or --organization: every target ok",
        ),
        (
            "1",
            "nothing could run: AWS, credentials, the store, or another backup holds the lock; with many "
            "targets: none of them could run",
        ),
        ("2", _USAGE),
        (
            "3",
            "partial: some workflows failed or were quarantined; the rest is archived; with many "
            "targets: some target partial or failed",
        ),
    ],
    "restore": [
        ("0", "restored (or, with --dry-run, the plan is sound); with --targets: in every destination"),
        (
            "1",
            "failed or refused as not restorable (e.g. images missing): nothing was created; "
            f"with --targets: in no destination; {_STORE}",
        ),
        (
            "2",
            f"{_USAGE}; the snapshot or workflow is not found (also when the store holds no snapshot "
            "yet); a same-target restore refused",
        ),
        (
            "3",
            "partial: some workflows failed; the rest is restored; "
            "with --targets: some destination partial or failed",
        ),
    ],
    "delete": [
        ("0", "deleted (or, with --dry-run, the checks passed)"),
        ("1", "refused (the archive could not be proven good) or declined: nothing deleted"),
        ("2", f"{_USAGE}; the workflow is not found; no terminal to confirm on and no --yes"),
        ("3", "deletion stopped part-way; the archive holds everything"),
    ],
    "verify": [
        ("0", "the archive is sound (a store that refuses the result's record is warned about only)"),
        ("1", f"problems found, or verify could not run: {_STORE}"),
        ("2", _USAGE),
    ],
    "list": [("0", "listed (unreadable objects are warned about)"), ("1", _STORE), ("2", _USAGE)],
    "snapshots": [("0", "listed (unreadable objects are warned about)"), ("1", _STORE), ("2", _USAGE)],
    "show": [("0", "shown"), ("1", _STORE), ("2", f"{_USAGE}; no bundle matches, or several do")],
    "diff": [("0", "compared"), ("1", _STORE), ("2", f"{_USAGE}; no bundle matches, or several do")],
    "prune": [
        ("0", "pruned (objects S3 Object Lock still retains are reported and kept)"),
        ("1", "failed, e.g. a backup is still running after --lock-wait"),
        ("2", _USAGE),
    ],
    "report": [
        ("0", "shown or written (objects that cannot be read are shown and warned about)"),
        ("1", _STORE),
        ("2", _USAGE),
    ],
    "unlock": [("0", "done"), ("1", _STORE), ("2", _USAGE)],
    "drill": [
        (
            "0",
            "every check held (restored, ACTIVE, definition, template, README, images); "
            "with --targets or several account-regions: in every drill",
        ),
        (
            "1",
            f"a check failed, or the drill could not run: {_STORE}, or AWS; the result is recorded when "
            "it ran; with --targets or several account-regions: every drill",
        ),
        ("2", f"{_USAGE}; the snapshot is not found (also when the store holds no snapshot yet)"),
        (
            "3",
            "partial, with --targets or several account-regions: some drills failed or could not run, "
            "others passed (each is recorded when it ran)",
        ),
    ],
    "emulator": [("0", "stopped cleanly"), ("1", "could not start"), ("2", _USAGE)],
}

_DEFAULT = [("0", "done"), ("1", "the operation failed"), ("2", _USAGE)]


def codes(command: str) -> list[tuple[str, str]]:
    """The exit codes of ``command``, the signals last."""
    return [*EXIT_CODES.get(command, _DEFAULT), ("129/130/143", SIGNALS)]


def epilog(command: str) -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<12} {meaning}" for code, meaning in codes(command))


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that lines indented by two spaces (the exit-code table) are kept."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for line in text.splitlines():
            if re.match(r"^ {2}\S", line):
                out.append(indent + line)
            elif line.strip():
                out.append(super()._fill_text(line, width, indent))
        return "\n".join(out)
