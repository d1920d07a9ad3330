"""Export URLs: presigned-style links to definitions and READMEs, served by the emulator itself.

GetWorkflow(export=...) answers with URLs shaped like S3 presigned URLs (``X-Amz-Algorithm``,
``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``, ``X-Amz-SignedHeaders``,
``X-Amz-Signature``, and ``X-Amz-Security-Token`` when the caller signed with a session token).
The signature is an HMAC over the path and those parameters with a key only this process knows,
so a client cannot forge or extend a URL; an expired, tampered or unknown URL answers 403 with
S3's XML error body. Each URL refers to a grant that holds a reference to the stored bytes (never a
copy), or to the file of an ECR layer (GetDownloadUrlForLayer); downloads stream them in chunks,
optionally slowed down or cut short. The URL text is a credential: nothing here logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import math
import secrets
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

__all__ = ["Exporter", "Grant", "access_denied", "stream_grant"]

_CHUNK = 256 * 1024
_CONTENT_TYPES = {
    "definition": "application/zip",
    "readme": "text/markdown; charset=utf-8",
    "layer": "application/octet-stream",
}
_FILENAMES = {"definition": "definition.zip", "readme": "README.md", "layer": "layer"}


@dataclass(frozen=True)
class Grant:
    """What one export URL gives access to, and until when (``expires_at`` may precede the stated TTL).

    ``data`` is the bytes themselves, or the path of an immutable file (an ECR layer blob).
    """

    kind: str
    data: bytes | Path
    expires_at: float

    @property
    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)


def access_denied(message: str, extra: dict[str, str] | None = None) -> web.Response:
    """S3's 403 answer to a bad or expired presigned URL."""
    fields = {"Code": "AccessDenied", "Message": message, **(extra or {})}
    fields["RequestId"] = uuid.uuid4().hex[:16].upper()
    fields["HostId"] = secrets.token_urlsafe(48)
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'
    return web.Response(status=403, body=body.encode(), content_type="application/xml")


class Exporter:
    """Issues and checks export URLs; the grants live as long as the URL could be valid."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._grants: dict[str, Grant] = {}
        self._pruned_at = 0.0

    def _sign(self, token: str, filename: str, params: dict[str, str]) -> str:
        text = "\n".join([token, filename, *(f"{k}={params[k]}" for k in sorted(params))])
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def issue(
        self,
        *,
        base_url: str,
        access_key: str,
        region: str,
        kind: str,
        data: bytes | Path,
        ttl: float,
        expire_early: bool,
        session_token: str | None = None,
    ) -> str:
        """A fresh URL for ``data``; with ``expire_early`` it is dead already though it states ``ttl``.

        A caller with a session token gets it back as ``X-Amz-Security-Token``, as S3 presigned URLs
        made with temporary credentials carry it.
        """
        now = time.time()
        self._prune(now)
        token = secrets.token_urlsafe(24)
        self._grants[token] = Grant(kind, data, now - 1.0 if expire_early else now + ttl)
        stamp = dt.datetime.fromtimestamp(now, dt.UTC)
        params = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{access_key}/{stamp:%Y%m%d}/{region}/s3/aws4_request",
            "X-Amz-Date": f"{stamp:%Y%m%dT%H%M%SZ}",
            "X-Amz-Expires": str(max(1, math.ceil(ttl))),
            "X-Amz-SignedHeaders": "host",
        }
        if session_token is not None:
            params["X-Amz-Security-Token"] = session_token
        filename = _FILENAMES[kind]
        params["X-Amz-Signature"] = self._sign(token, filename, params)
        return f"{base_url}/_export/{token}/{filename}?{urlencode(params)}"

    def _prune(self, now: float) -> None:
        # A scan of every grant costs O(issued URLs): do it at most every 10 s, not per URL.
        if now - self._pruned_at < 10.0:
            return
        self._pruned_at = now
        stale = [t for t, g in self._grants.items() if g.expires_at < now - 3600]
        for token in stale:
            del self._grants[token]

    def check(self, request: web.Request) -> Grant | web.Response:
        """The grant a download request may use, or the 403 response to send instead."""
        token = request.match_info.get("token", "")
        filename = request.match_info.get("filename", "")
        query = request.query
        names = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")
        if any(name not in query for name in (*names, "X-Amz-Signature")):
            return access_denied("Query-string authentication requires the X-Amz-Signature parameter")
        params = {name: query[name] for name in (*names, "X-Amz-Security-Token") if name in query}
        grant = self._grants.get(token)
        expected = self._sign(token, filename, params)
        if grant is None or _FILENAMES[grant.kind] != filename:
            return access_denied("Access Denied")
        if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
            return access_denied(
                "The request signature we calculated does not match the signature you provided."
            )
        now = time.time()
        issued = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        stated_end = issued.timestamp() + int(params["X-Amz-Expires"])
        if now > grant.expires_at or now > stated_end:
            server_time = dt.datetime.fromtimestamp(now, dt.UTC)
            return access_denied(
                "Request has expired",
                {
                    "X-Amz-Expires": params["X-Amz-Expires"],
                    "Expires": f"{dt.datetime.fromtimestamp(stated_end, dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
                    "ServerTime": f"{server_time:%Y-%m-%dT%H:%M:%SZ}",
                },
            )
        return grant


def _chunks(data: bytes | Path, end: int, chunk: int) -> Generator[bytes | memoryview, None, None]:
    """The first ``end`` bytes of ``data`` in pieces of ``chunk``; a file is read piece by piece."""
    if isinstance(data, bytes):
        view = memoryview(data)
        for offset in range(0, end, chunk):
            yield view[offset : min(offset + chunk, end)]
        return
    with open(data, "rb") as fh:
        offset = 0
        while offset < end and (piece := fh.read(min(chunk, end - offset))):
            offset += len(piece)
            yield piece


async def stream_grant(
    request: web.Request,
    grant: Grant,
    *,
    cut_at: int | None,
    bytes_per_second: int | None,
    on_bytes: Callable[[str, int], None],
) -> web.StreamResponse:
    """Send ``grant.data`` with its full Content-Length; stop after ``cut_at`` bytes and drop the socket.

    A file is read a chunk at a time, so memory does not grow with its size.
    """
    size = grant.size
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": _CONTENT_TYPES[grant.kind],
            "Content-Length": str(size),
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
        },
    )
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    end = size if cut_at is None else min(cut_at, size)
    chunk = _CHUNK if bytes_per_second is None else max(1, min(_CHUNK, bytes_per_second // 10 or 1))
    with contextlib.closing(_chunks(grant.data, end, chunk)) as pieces:  # closes a file at once
        for piece in pieces:
            on_bytes(grant.kind, len(piece))  # before the write, so stats never lag what a client read
            await response.write(piece)
            if bytes_per_second:
                await asyncio.sleep(len(piece) / bytes_per_second)
    if cut_at is not None and cut_at < size:
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError
    await response.write_eof()
    return response
