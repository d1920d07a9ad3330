"""Export URLs: presigned-style links served by the emulator, their expiry and download faults."""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from archiver.testing import Emulator, Faults
from tests.emulator_helpers import (  # noqa: F401
    create_active,
    emulator_fixture,
    make_zip,
    omics_fixture,
    problems_fixture,
)


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def test_export_urls_download_definition_and_readme(emulator: Emulator, omics: Any) -> None:
    data = make_zip({"main.wdl": "version 1.0\n" + "x" * 100_000})
    workflow_id = create_active(omics, definitionZip=data, readmeMarkdown="# Title\n\nbody")
    got = omics.get_workflow(id=workflow_id, export=["DEFINITION", "README"])
    assert got["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    url = got["definition"]
    assert url.startswith(emulator.url + "/_export/") and "/definition.zip?" in url
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"] and query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Credential"][0].startswith("123456789012/") and len(query["X-Amz-Signature"][0]) == 64
    status, headers, body = fetch(url)
    assert (status, body) == (200, data)
    assert headers["Content-Type"] == "application/zip" and headers["Content-Length"] == str(len(data))
    status, headers, body = fetch(got["readme"])
    assert (status, body) == (200, b"# Title\n\nbody")
    assert headers["Content-Type"].startswith("text/markdown")
    stats = emulator.stats()
    assert stats.downloads == 2
    assert stats.export_bytes == {"definition": len(data), "readme": len(b"# Title\n\nbody")}
    emulator.reset_stats()
    assert emulator.stats().downloads == 0


def test_version_export_and_no_readme(omics: Any) -> None:
    workflow_id = create_active(omics)
    omics.create_workflow_version(
        workflowId=workflow_id, versionName="v1", definitionZip=make_zip({"v.wdl": "v"})
    )
    got = omics.get_workflow_version(
        workflowId=workflow_id, versionName="v1", export=["DEFINITION", "README"]
    )
    assert "readme" not in got
    status, _, body = fetch(got["definition"])
    assert status == 200 and body == make_zip({"v.wdl": "v"})


def assert_access_denied(url: str, message: str) -> None:
    status, headers, body = fetch(url)
    assert status == 403
    assert headers["Content-Type"].startswith("application/xml")
    text = body.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "<Error><Code>AccessDenied</Code>" in text
    assert f"<Message>{message}</Message>" in text


def test_expired_and_tampered_urls_answer_403_xml(emulator: Emulator, omics: Any) -> None:
    workflow_id = create_active(omics)
    emulator.configure(url_ttl=0.2)
    url = omics.get_workflow(id=workflow_id, export=["DEFINITION"])["definition"]
    assert fetch(url)[0] == 200
    tampered = url.replace("X-Amz-Expires=1", "X-Amz-Expires=9")
    assert_access_denied(
        tampered, "The request signature we calculated does not match the signature you provided."
    )
    time.sleep(0.3)
    assert_access_denied(url, "Request has expired")
    assert_access_denied(
        url.split("?")[0], "Query-string authentication requires the X-Amz-Signature parameter"
    )


def test_expire_early_urls_state_the_normal_ttl(emulator: Emulator, omics: Any) -> None:
    workflow_id = create_active(omics)
    emulator.configure(faults=Faults(expire_early_rate=1.0))
    url = omics.get_workflow(id=workflow_id, export=["DEFINITION"])["definition"]
    assert "X-Amz-Expires=300" in url
    assert_access_denied(url, "Request has expired")


def test_truncated_download_sends_full_length_then_closes(emulator: Emulator, omics: Any) -> None:
    data = make_zip({"main.wdl": "y" * 300_000})
    workflow_id = create_active(omics, definitionZip=data)
    emulator.configure(faults=Faults(truncate_rate=1.0))
    url = urlsplit(omics.get_workflow(id=workflow_id, export=["DEFINITION"])["definition"])
    connection = http.client.HTTPConnection(url.netloc, timeout=10)
    try:
        connection.request("GET", f"{url.path}?{url.query}")
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Content-Length") == str(len(data))
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    finally:
        connection.close()
    assert emulator.stats().export_bytes["definition"] < len(data)


def test_slow_downloads_are_capped(emulator: Emulator, omics: Any) -> None:
    data = make_zip({"main.wdl": "z"}) + b""
    workflow_id = create_active(omics, definitionZip=data)
    emulator.configure(faults=Faults(slow_download_bps=len(data) * 4))
    url = omics.get_workflow(id=workflow_id, export=["DEFINITION"])["definition"]
    started = time.monotonic()
    assert fetch(url)[2] == data
    assert time.monotonic() - started >= 0.2


def test_export_refused_for_failed_definition_absent(omics: Any) -> None:
    created = omics.create_workflow(name="broken", definitionZip=b"not a zip")
    got = omics.get_workflow(id=created["id"], export=["DEFINITION"])
    assert got["status"] == "FAILED" and "definition" not in got
