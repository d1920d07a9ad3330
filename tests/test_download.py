"""The downloader streams, hashes, notices truncation and expiry, and never leaks the URL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from archiver._download import Downloader
from archiver._errors import ExportError, ExportExpired, redact

PAYLOAD = bytes(range(256)) * 8192  # 2 MiB


async def _full(request: web.Request) -> web.Response:
    return web.Response(body=PAYLOAD, content_type="application/zip")


async def _expired(request: web.Request) -> web.Response:
    body = (
        "<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    )
    return web.Response(status=403, text=body, content_type="application/xml")


async def _truncated(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Length": str(len(PAYLOAD))})
    await resp.prepare(request)
    await resp.write(PAYLOAD[: len(PAYLOAD) // 3])
    assert request.transport is not None
    request.transport.close()
    return resp


_SEEN: list[str] = []


async def _echo(request: web.Request) -> web.Response:
    _SEEN.append(request.raw_path)
    return web.Response(body=b"ok", content_type="application/zip")


async def _chunked(request: web.Request) -> web.StreamResponse:
    """No Content-Length: the length is known only at the end."""
    resp = web.StreamResponse()
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for start in range(0, len(PAYLOAD), 1 << 18):
        await resp.write(PAYLOAD[start : start + (1 << 18)])
    await resp.write_eof()
    return resp


async def _announced_huge(request: web.Request) -> web.StreamResponse:
    """Announces far more than any limit, sends a little, then stalls."""
    resp = web.StreamResponse(headers={"Content-Length": str(1 << 40)})
    await resp.prepare(request)
    await resp.write(b"x" * 1000)
    await asyncio.sleep(1.0)  # reading on would end in a cut-short error, not the size refusal
    return resp


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/chunked", _chunked)
    app.router.add_get("/huge", _announced_huge)
    app.router.add_get("/full", _full)
    app.router.add_get("/echo/{name}", _echo)
    app.router.add_get("/expired", _expired)
    app.router.add_get("/truncated", _truncated)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


SECRET = "?X-Amz-Credential=AKIDEXAMPLE%2F20261124&X-Amz-Signature=deadbeef"


async def test_download_streams_and_hashes(server: str, tmp_path: Path) -> None:
    async with Downloader() as dl:
        got = await dl.fetch(
            server + "/full" + SECRET, tmp_path / "d.zip", resource="wf 1", what="definition"
        )
    assert got.size == len(PAYLOAD)
    assert got.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert (tmp_path / "d.zip").read_bytes() == PAYLOAD
    assert (tmp_path / "d.zip").stat().st_mode & 0o777 == 0o600


async def test_the_url_goes_out_byte_for_byte_as_the_service_signed_it(server: str) -> None:
    """No re-quoting: ``%2F`` in the credential and the token stays ``%2F`` and ``+`` stays ``%2B``.
    S3 canonicalizes the query before checking the signature, but a proxy or an S3-compatible
    endpoint need not, and the signature was made over these bytes."""
    path = "/echo/a%20b.zip" + SECRET + "&X-Amz-Security-Token=IQo%2Bab%2Fc%3D%3D"
    async with Downloader() as dl:
        assert await dl.fetch_bytes(server + path, resource="wf 1", what="README", limit=10) == b"ok"
    assert _SEEN[-1] == path


async def test_expired_url_raises_export_expired(server: str, tmp_path: Path) -> None:
    async with Downloader() as dl:
        with pytest.raises(ExportExpired) as info:
            await dl.fetch(
                server + "/expired" + SECRET, tmp_path / "d.zip", resource="wf 1", what="definition"
            )
    assert "X-Amz" not in str(info.value) and "deadbeef" not in str(info.value)
    assert not (tmp_path / "d.zip").exists()


async def test_truncated_download_is_an_error_and_leaves_no_file(server: str, tmp_path: Path) -> None:
    async with Downloader() as dl:
        with pytest.raises(ExportError) as info:
            await dl.fetch(
                server + "/truncated" + SECRET, tmp_path / "d.zip", resource="wf 1", what="definition"
            )
    assert "deadbeef" not in str(info.value)
    assert "deadbeef" not in repr(info.value.__cause__)
    assert not (tmp_path / "d.zip").exists()


async def test_concurrency_is_bounded(server: str, tmp_path: Path) -> None:
    async with Downloader(concurrency=2) as dl:
        results = await asyncio.gather(
            *(
                dl.fetch(server + "/full", tmp_path / f"{i}.zip", resource="wf", what="definition")
                for i in range(6)
            )
        )
    assert {r.size for r in results} == {len(PAYLOAD)}


def test_redact_removes_query_strings_and_credentials() -> None:
    text = "GET https://bucket.s3.amazonaws.com/k.zip?X-Amz-Signature=abc&X-Amz-Credential=AKID failed"
    out = redact(text)
    assert "abc" not in out and "AKID" not in out
    assert "https://bucket.s3.amazonaws.com/k.zip" in out
    assert (
        redact("token X-Amz-Security-Token=SESSION123 here") == "token X-Amz-Security-Token=<redacted> here"
    )


async def test_fetch_bytes_reads_small_objects_and_refuses_large_ones(server: str) -> None:
    async with Downloader() as dl:
        data = await dl.fetch_bytes(
            server + "/full" + SECRET, resource="wf 1", what="README", limit=len(PAYLOAD)
        )
        assert data == PAYLOAD
        with pytest.raises(ExportError, match="over 1000 bytes") as info:
            await dl.fetch_bytes(server + "/full" + SECRET, resource="wf 1", what="README", limit=1000)
        assert "deadbeef" not in str(info.value)
        with pytest.raises(ExportExpired):
            await dl.fetch_bytes(server + "/expired", resource="wf 1", what="README", limit=1000)


async def test_a_small_object_is_kept_in_memory(server: str, tmp_path: Path) -> None:
    async with Downloader() as dl:
        small = await dl.fetch(
            server + "/full", tmp_path / "s.zip", resource="wf", what="definition", memory_limit=len(PAYLOAD)
        )
        large = await dl.fetch(
            server + "/full",
            tmp_path / "l.zip",
            resource="wf",
            what="definition",
            memory_limit=len(PAYLOAD) - 1,
        )
    assert small.path is None and small.data == PAYLOAD and small.size == len(PAYLOAD)
    assert small.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert not (tmp_path / "s.zip").exists()
    assert large.data is None and large.path == tmp_path / "l.zip" and large.path.read_bytes() == PAYLOAD


async def test_a_truncated_object_in_memory_is_an_error(server: str, tmp_path: Path) -> None:
    async with Downloader() as dl:
        with pytest.raises(ExportError, match="definition of wf"):
            await dl.fetch(
                server + "/truncated",
                tmp_path / "d.zip",
                resource="wf",
                what="definition",
                memory_limit=1 << 30,
            )
    assert not (tmp_path / "d.zip").exists()


async def test_an_announced_body_in_memory_is_one_read_and_a_chunked_one_is_streamed(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Content-Length known and within the bound: read at once; unknown: streamed and bounded."""
    import aiohttp

    streamed: list[int] = []
    real = aiohttp.StreamReader.iter_chunked

    def spy(self: aiohttp.StreamReader, n: int) -> object:
        streamed.append(n)
        return real(self, n)

    monkeypatch.setattr(aiohttp.StreamReader, "iter_chunked", spy)
    async with Downloader() as dl:
        readme = await dl.fetch_bytes(server + "/full", resource="wf", what="README", limit=len(PAYLOAD))
        small = await dl.fetch(
            server + "/full", tmp_path / "s.zip", resource="wf", what="definition", memory_limit=len(PAYLOAD)
        )
        assert streamed == []
        assert readme == PAYLOAD and small.data == PAYLOAD and small.size == len(PAYLOAD)
        assert dl.bytes_downloaded == 2 * len(PAYLOAD)
        chunked = await dl.fetch_bytes(server + "/chunked", resource="wf", what="README", limit=len(PAYLOAD))
        assert chunked == PAYLOAD and len(streamed) == 1
        with pytest.raises(ExportError, match="over 1000 bytes"):
            await dl.fetch_bytes(server + "/chunked", resource="wf", what="README", limit=1000)
        in_file = await dl.fetch(
            server + "/chunked",
            tmp_path / "c.zip",
            resource="wf",
            what="definition",
            memory_limit=len(PAYLOAD),
        )
        assert in_file.path is not None and in_file.path.read_bytes() == PAYLOAD  # unknown length: a file
        assert in_file.sha256 == hashlib.sha256(PAYLOAD).hexdigest()


async def test_an_announced_length_over_the_limit_is_refused_before_reading(server: str) -> None:
    async with Downloader() as dl:
        with pytest.raises(ExportError, match="over 4096 bytes"):
            await asyncio.wait_for(
                dl.fetch_bytes(server + "/huge" + SECRET, resource="wf 1", what="README", limit=4096), 10
            )
        assert dl.bytes_downloaded == 0
