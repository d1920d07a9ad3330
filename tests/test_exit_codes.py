"""The same situation gives the same exit code in every command (archiver/cli/_exit_codes.py).

A location with no archive is "the store could not be read" (1) for every reader; an archive that
holds no snapshot yet is "not found" (2) for the commands that need one (restore, drill), as a
snapshot id that is not there is, and nothing for the report (0: it says nothing was backed up).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from archiver.cli import main
from archiver.store import open_archive
from archiver.testing import Emulator, EmulatorConfig


def _empty_archive(path: Path) -> None:
    async def create() -> None:
        async with open_archive(str(path), create=True):
            pass

    asyncio.run(create())


def test_missing_and_empty_stores_agree_across_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    _empty_archive(empty)
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        aws = ["--endpoint-url", emu.url]
        needs = {
            "restore": ["restore", "--all", *aws],
            "drill": ["drill", *aws],
            "restore --snapshot": ["restore", "--all", "--snapshot", "20260101T000000000000Z-0000beef", *aws],
            "drill --snapshot": ["drill", "--snapshot", "20260101T000000000000Z-0000beef", *aws],
        }
        readers = {"report": ["report"], "verify": ["verify", "--no-record"], "list": ["list"]}
        got = {}
        for name, argv in {**needs, **readers}.items():
            for where in (missing, empty):
                code = main([*argv, "--store", str(where)])
                err = capsys.readouterr().err
                got[(name, where.name)] = code
                if where is missing:
                    assert "no archive at" in err, (name, err)
                elif name in needs:
                    assert "holds no snapshot" in err, (name, err)
    assert {k: v for k, v in got.items() if k[1] == "missing"} == {
        (n, "missing"): 1 for n in {**needs, **readers}
    }
    assert {k: v for k, v in got.items() if k[1] == "empty"} == {
        **{(n, "empty"): 2 for n in needs},
        **{(n, "empty"): 0 for n in readers},
    }
    assert not missing.exists()
