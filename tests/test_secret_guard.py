"""A workflow whose description or tags merely mention ``X-Amz-Signature=`` is archived and can be
deleted; one that really carries a presigned URL fails cleanly, without a traceback or the URL
being stored (issue 10, point 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver._bundle import read_manifest
from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

from .emulator_helpers import create_active, omics_client

_TEXT = "rotate when X-Amz-Signature= shows up in logs"
_PRESIGNED = (
    "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAX/20260101/us-east-1/s3/aws4_request&X-Amz-Date=20260101T000000Z"
    "&X-Amz-Signature=" + "0123abcd" * 8
)


def test_the_words_x_amz_signature_in_metadata_are_archived_and_deletable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        problems: list[str] = []
        omics = omics_client(emu.url, problems)
        typed = create_active(omics, "typed", description=_TEXT, tags={"note": "X-Amz-Signature="})
        leaked = create_active(omics, "leaked", description=f"see {_PRESIGNED}")
        base = ["--store", str(store), "--endpoint-url", emu.url, "--log-format", "json"]
        code = main(["backup", *base, "--json"])
        captured = capsys.readouterr()
        report = json.loads(captured.out)
        assert code == 3  # the real presigned URL is refused, the typed text is not
        assert [(f["workflowId"], f["stage"]) for f in report["failed"]] == [(leaked, "validate")]
        assert "Traceback" not in captured.err and '"event": "bug"' not in captured.err
        [entry] = [b for b in report["bundles"] if b["workflowId"] == typed]
        meta = read_manifest(store / entry["key"])
        assert meta["source"]["workflowId"] == typed
        for path in store.rglob("*"):
            if path.is_file() and path.suffix == ".json":
                assert "0123abcd" * 8 not in path.read_text(), path

        assert main(["delete", *base, "--workflow-id", typed, "--yes"]) == 0
        capsys.readouterr()
        assert [w["id"] for w in omics.list_workflows()["items"]] == [leaked]
        omics.close()
