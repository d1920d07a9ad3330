"""What libraries log reaches the user in our format, one line, never a traceback: botocore logs
one when refreshing assumed-role credentials fails during a long org-wide run."""

from __future__ import annotations

import argparse
import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from botocore.credentials import RefreshableCredentials

from archiver.cli._common import setup_logging


def _expired_role_credentials() -> RefreshableCredentials:
    def refresh() -> dict[str, str]:
        raise RuntimeError("AssumeRole denied for arn:aws:iam::222222222222:role/Reader")

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return RefreshableCredentials.create_from_metadata(
        {"access_key": "AKIDEXAMPLE", "secret_key": "s3cr3t", "token": "tok", "expiry_time": past},
        refresh_using=refresh,
        method="assume-role",
    )


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_failed_credential_refresh_is_one_line_without_traceback(fmt: str) -> None:
    stream = io.StringIO()
    setup_logging(argparse.Namespace(log_format=fmt, log_level="INFO", verbose=False), stream)
    try:
        with pytest.raises(RuntimeError):
            _expired_role_credentials().get_frozen_credentials()  # botocore's own refresh and log
    finally:
        for name in ("botocore", "archiver"):
            for handler in list(logging.getLogger(name).handlers):
                logging.getLogger(name).removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in stream.getvalue() and "s3cr3t" not in stream.getvalue()
    text = json.loads(lines[0])["message"] if fmt == "json" else lines[0]
    assert "Refreshing temporary credentials failed" in text
    assert "RuntimeError: AssumeRole denied for arn:aws:iam::222222222222:role/Reader" in text
