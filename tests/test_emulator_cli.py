"""The emulator as a process (``python -m archiver.testing``) and the AWS CLI v1 pointed at it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator_helpers import make_zip


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "archiver.testing", "--port", "0", "--no-quotas", "--url-ttl", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read()
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=10) == 0
        finally:
            process.stdout.close()
            process.stderr.close()


def test_module_entry_prints_the_url_first_and_serves(server: str) -> None:
    with urllib.request.urlopen(server + "/_emulator/stats", timeout=10) as response:
        assert json.loads(response.read())["downloads"] == 0


def test_sigint_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "archiver.testing",
            "--port",
            "0",
            "--latency-ms",
            "5",
            "--quota",
            "GetWorkflow=2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    with process.stdout:
        assert process.stdout.readline().startswith("http://127.0.0.1:")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def find_aws() -> str | None:
    beside = Path(sys.executable).parent / "aws"
    return str(beside) if beside.exists() else shutil.which("aws")


AWS = find_aws()


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed")
def test_aws_cli_round_trip(server: str, tmp_path: Path) -> None:
    assert AWS is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="123456789012",
        AWS_SECRET_ACCESS_KEY="testing-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_ENDPOINT_URL_OMICS=server,
        AWS_DISABLE_HOST_PREFIX_INJECTION="true",
    )

    def aws(*args: str, account: str = "123456789012") -> Any:
        result = subprocess.run(
            [AWS, "omics", *args, "--output", "json"],
            env={**env, "AWS_ACCESS_KEY_ID": account},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    def aws_fails(*args: str) -> str:
        result = subprocess.run(
            [AWS, "omics", *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode != 0, result.stdout
        return result.stderr

    definition = tmp_path / "wf.zip"
    definition.write_bytes(make_zip())
    created = aws(
        "create-workflow",
        "--name",
        "cli-wf",
        "--engine",
        "WDL",
        "--definition-zip",
        f"fileb://{definition}",
        "--readme-markdown",
        "# CLI readme",
    )
    assert created["status"] == "CREATING"
    workflow_id = created["id"]
    assert [w["id"] for w in aws("list-workflows")["items"]] == [workflow_id]
    got = aws("get-workflow", "--id", workflow_id, "--export", "DEFINITION", "README")
    with urllib.request.urlopen(got["definition"], timeout=10) as response:
        assert response.read() == definition.read_bytes()
    with urllib.request.urlopen(got["readme"], timeout=10) as response:
        assert response.read() == b"# CLI readme"
    aws("update-workflow", "--id", workflow_id, "--description", "from the CLI")
    aws(
        "create-workflow-version",
        "--workflow-id",
        workflow_id,
        "--version-name",
        "v1",
        "--definition-zip",
        f"fileb://{definition}",
    )
    share = aws("create-share", "--resource-arn", got["arn"], "--principal-subscriber", "210987654321")
    accepted = aws("accept-share", "--share-id", share["shareId"], account="210987654321")
    assert accepted["status"] == "ACTIVATING"
    aws("delete-workflow-version", "--workflow-id", workflow_id, "--version-name", "v1")
    # the service refuses to delete a workflow with a share that is not DELETED
    refused = aws_fails("delete-workflow", "--id", workflow_id)
    assert "ConflictException" in refused and "no active shares" in refused
    assert aws("delete-share", "--share-id", share["shareId"])["status"] == "DELETING"
    time.sleep(0.1)  # share_deletion_delay (default 0.05 s)
    aws("delete-workflow", "--id", workflow_id)
    assert [w["status"] for w in aws("list-workflows")["items"]] in ([], ["DELETED"])


def test_latency_options_reach_the_config() -> None:
    import argparse

    from archiver.testing._cli import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(parser.parse_args(["--latency-ms", "50", "--download-latency-ms", "30"]))
    assert config.latency == pytest.approx(0.05) and config.download_latency == pytest.approx(0.03)
    assert config_from_args(parser.parse_args([])).download_latency == 0
