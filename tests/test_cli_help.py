"""Every command's ``--help`` works and every option in it says what it does."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from archiver.cli import build_parser, main
from archiver.cli._common import DeprecatedAlias, setup_logging
from archiver.cli._exit_codes import EXIT_CODES, codes


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _commands()
    assert {"backup", "restore", "verify", "list", "report", "emulator"} <= set(commands)
    missing = []
    for name, parser in commands.items():
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: omics-archiver {name}")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, DeprecatedAlias):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def _help_of(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text of ``action`` as ``--help`` prints it (``%(default)s`` filled in), on one line."""
    formatter = parser._get_formatter()
    return " ".join(formatter._expand_help(action).split())


def test_every_default_is_shown_once() -> None:
    """An option with a default says it once, as "(default: ...)"; none says "(default: None)"."""
    wrong = []
    for name, parser in _commands().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            text = _help_of(parser, action)
            shown = text.count("(default:")
            option = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if "default: None" in text or "default: []" in text or shown > 1:
                wrong.append(f"{option}: {text}")
            has_default = action.default not in (None, False, [], argparse.SUPPRESS)
            if action.option_strings and has_default and shown != 1:
                wrong.append(f"{option} (default {action.default!r}) does not show it: {text}")
    assert wrong == []


def test_every_command_documents_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` ends with the exit codes, and the README's table says the same for each command."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name in _commands():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        out = capsys.readouterr().out
        section = out[out.index("exit codes:") :]
        for code, meaning in codes(name):
            assert f"  {code}" in section and " ".join(meaning.split()[:4]) in " ".join(section.split())
            assert f"| `{name}` | {code} | {meaning} |" in readme, (name, code)
    # one meaning of each code across commands: 2 is always the user's input, 3 always partial
    for name, rows in EXIT_CODES.items():
        table = dict(rows)
        assert "bad arguments" in table["2"], name
        assert table.get("3", "partial").startswith(("partial", "deletion stopped part-way")), name


def test_old_spellings_still_work_and_warn_once(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(
        ["restore", "--store", "x", "--from-account", "123456789012", "--to-region", "eu-west-1", "--all"]
    )
    assert (args.account, args.region) == ("123456789012", "eu-west-1")
    setup_logging(argparse.Namespace(log_format="text", log_level="INFO"))
    err = capsys.readouterr().err
    assert "--from-account is deprecated; use --account" in err
    assert "--to-region is deprecated; use --region" in err
    setup_logging(argparse.Namespace(log_format="text", log_level="INFO"))
    assert capsys.readouterr().err == ""  # once


def test_region_is_never_a_filter() -> None:
    """``--region`` is where the command talks to; archived content is filtered by ``--source-region``."""
    for name in ("list", "snapshots", "prune", "report"):
        args = build_parser().parse_args([name, "--store", "x", "--region", "eu-west-1"])
        assert args.region == "eu-west-1" and args.source_region is None, name


def test_write_options_only_on_writers() -> None:
    writers = {"backup", "delete", "verify"}  # verify --repair rewrites damaged bundles
    for name, parser in _commands().items():
        options = {o for a in parser._actions for o in a.option_strings}
        assert ("--kms-key-id" in options) == (name in writers), name
        assert ("--object-lock-days" in options) == (name in writers), name


def test_every_command_that_reaches_aws_takes_profile_and_region() -> None:
    for name, parser in _commands().items():
        if name == "emulator":
            continue
        options = {o for a in parser._actions for o in a.option_strings}
        assert {"--profile", "--region"} <= options, name
        if {"--account", "--source-region"} & options:
            assert {"--account", "--source-region"} <= options, name
        assert not {"--from-account", "--from-region"} & {
            o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings
        }, name


def test_drill_and_restore_share_their_common_options() -> None:
    """An option both take means the same in both: same default, type and help (one definition)."""
    commands = _commands()
    drill = {o: a for a in commands["drill"]._actions for o in a.option_strings}
    restore = {o: a for a in commands["restore"]._actions for o in a.option_strings}
    shared = [
        "--wait-timeout",
        "--poll-interval",
        "--map-account",
        "--map-region",
        "--mapping",
        "--rewrite-images",
        "--push-images",
    ]
    for option in shared:
        d, r = drill[option], restore[option]
        assert (d.default, d.type, d.help) == (r.default, r.type, r.help), option
    assert drill["--poll-interval"].default == 1.0
    parsed = build_parser().parse_args(["drill", "--store", "x", "--at", "2026-01-02T03:04:05"])
    assert parsed.at.tzinfo is not None
