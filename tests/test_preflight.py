"""Everything a run needs is checked before its first API call (issue 10, points 7 and 11)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"


@pytest.fixture(name="emu")
def emu_fixture() -> Emulator:
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        yield emu  # type: ignore[misc]


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], emu: Emulator) -> str:
    """Run ``argv``; assert exit 2 with no API call; return stderr."""
    emu.reset_stats()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    assert code == 2
    assert sum(emu.stats().calls.values()) == 0, "refused before the first call"
    return capsys.readouterr().err


def test_a_region_typo_is_refused_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emu: Emulator
) -> None:
    store = tmp_path / "archive"
    base = ["backup", "--store", str(store), "--endpoint-url", emu.url]
    err = _refused([*base, "--region", "us-esat-1"], capsys, emu)
    assert "us-esat-1" in err and "did you mean us-east-1" in err and "--allow-unknown-region" in err
    assert not store.exists() or not list(store.glob("snapshots/**/*.json"))
    # a region newer than botocore's data is allowed on request (here the emulator is told to serve it,
    # as it refuses a SigV4 scope for a region HealthOmics is not offered in)
    emu.configure(regions=frozenset({"us-east-1", "xx-newregion-1"}))
    assert main([*base, "--region", "xx-newregion-1", "--allow-unknown-region", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["region"] == "xx-newregion-1"


@pytest.mark.parametrize("rate", ["0", "-5", "nan", "inf"])
def test_rates_must_be_finite_and_positive(
    rate: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], emu: Emulator
) -> None:
    argv = [
        "backup",
        "--store",
        str(tmp_path / "a"),
        "--endpoint-url",
        emu.url,
        "--rate",
        f"GetWorkflow={rate}",
    ]
    err = _refused(argv, capsys, emu)
    assert "above 0" in err


def test_unwritable_paths_are_found_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emu: Emulator
) -> None:
    base = ["backup", "--store", str(tmp_path / "a"), "--endpoint-url", emu.url]
    err = _refused([*base, "--metrics-file", str(tmp_path / "missing" / "backup.prom")], capsys, emu)
    assert "--metrics-file" in err and "missing" in err and "Traceback" not in err
    err = _refused([*base, "--work-dir", str(tmp_path / "nowhere")], capsys, emu)
    assert "--work-dir" in err and "nowhere" in err
    blocked = tmp_path / "ro"
    blocked.mkdir(mode=0o500)
    if not __import__("os").access(blocked, __import__("os").W_OK):  # root may write anywhere
        err = _refused([*base, "--metrics-file", str(blocked / "backup.prom")], capsys, emu)
        assert "cannot write" in err
    assert not (tmp_path / "a").exists()
    err = _refused(
        ["verify", "--store", str(tmp_path / "a"), "--metrics-file", str(tmp_path / "x" / "v.prom")],
        capsys,
        emu,
    )
    assert "--metrics-file" in err
    nowhere = ["--work-dir", str(tmp_path / "nowhere")]
    restore = ["restore", "--store", str(tmp_path / "a"), "--all", "--endpoint-url", emu.url]
    assert "--work-dir" in _refused([*restore, *nowhere], capsys, emu)
    delete = [
        "delete",
        "--store",
        str(tmp_path / "a"),
        "--workflow-id",
        "1",
        "--yes",
        "--endpoint-url",
        emu.url,
    ]
    assert "--work-dir" in _refused([*delete, *nowhere], capsys, emu)


def test_missing_credentials_are_found_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    err = _refused(["backup", "--store", str(tmp_path / "a"), "--endpoint-url", emu.url], capsys, emu)
    assert "no AWS credentials" in err


def test_restore_asks_sts_where_the_endpoint_conventions_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "archive"
    assert main(["backup", "--store", str(store), "--endpoint-url", emu.url]) == 0
    capsys.readouterr()
    # only the environment names the endpoint, as for backup; STS is learned from it (the emulator)
    monkeypatch.setenv("AWS_ENDPOINT_URL_OMICS", emu.url)
    assert (
        main(["restore", "--store", str(store), "--all", "--dry-run", "--json", "--allow-same-target"]) == 0
    )
    plan = json.loads(capsys.readouterr().out)
    assert plan["target"]["account"] == "123456789012"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there any more: connections are refused


def test_an_unreachable_endpoint_fails_fast_and_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    code = main(["backup", "--store", str(tmp_path / "a"), "--endpoint-url", url, "--log-format", "json"])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    print(f"unreachable endpoint: exit {code} after {elapsed:.1f} s")
    assert code == 1
    assert elapsed < 20
    [error] = [line for line in err.splitlines() if line.startswith("omics-archiver: error:")]
    retries = [json.loads(line) for line in err.splitlines() if '"event": "retry"' in line]
    operation = retries[0]["operation"]  # the first call: GetCallerIdentity (STS, same endpoint)
    assert f"cannot reach {url} ({operation}, 4 attempts)" in error
    assert [(r["operation"], r["attempt"], r["level"]) for r in retries] == [
        (operation, n, "info") for n in (2, 3, 4)
    ]
    assert "Traceback" not in err
