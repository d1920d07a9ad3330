"""Every command's ``--help`` works and every option in it says what it does."""

from __future__ import annotations

import argparse

import pytest

from archiver.cli import build_parser, main


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
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []
