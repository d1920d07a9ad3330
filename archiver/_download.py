"""Downloading exported definitions and READMEs from their presigned URLs.

HealthOmics answers an export with presigned S3 URLs, not content. This module streams them to a
local file in bounded chunks (memory does not grow with the definition's size), hashes while it
writes, and checks the length against ``Content-Length`` so a connection cut short is noticed. A
403 means the URL expired: :class:`ExportExpired` tells the caller to ask the service for a fresh
one. The URL itself never appears in an error message, a log line or a stored file: it carries
credentials in its query string.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from ._errors import ExportError, ExportExpired

__all__ = ["Downloaded", "Downloader"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Downloaded:
    path: Path
    size: int
    sha256: str


class Downloader:
    """Streams presigned URLs to files. Use as ``async with Downloader() as dl``.

    ``concurrency`` bounds the downloads in flight; each holds at most one chunk (1 MiB) in memory.
    """

    def __init__(self, *, concurrency: int = 4, timeout: float = 900.0, max_bytes: int | None = None) -> None:
        self._sem = asyncio.Semaphore(concurrency)
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_read=60.0)
        self._session: aiohttp.ClientSession | None = None
        self._max_bytes = max_bytes
        self.bytes_downloaded = 0

    async def __aenter__(self) -> Downloader:
        self._session = aiohttp.ClientSession(timeout=self._timeout, auto_decompress=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, dest: Path, *, resource: str, what: str) -> Downloaded:
        """Download ``url`` to ``dest``; raise ExportExpired on 403, ExportError on anything else."""
        if self._session is None:
            raise RuntimeError("Downloader used outside 'async with'")
        async with self._sem:
            try:
                return await self._fetch(self._session, url, dest, resource=resource, what=what)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(dest)
                raise

    async def _fetch(
        self, session: aiohttp.ClientSession, url: str, dest: Path, *, resource: str, what: str
    ) -> Downloaded:
        digest = hashlib.sha256()
        size = 0
        try:
            async with session.get(url, allow_redirects=True) as resp:
                if resp.status == 403:
                    raise ExportExpired(
                        f"the exported {what} URL of {resource} was refused (403): it has expired",
                        resource=resource,
                        what=what,
                    )
                if resp.status != 200:
                    raise ExportError(
                        f"downloading the {what} of {resource} failed: HTTP {resp.status}",
                        resource=resource,
                        what=what,
                    )
                expected = resp.content_length
                if self._max_bytes is not None and expected is not None and expected > self._max_bytes:
                    raise ExportError(
                        f"the {what} of {resource} is {expected} bytes, over the limit of {self._max_bytes}",
                        resource=resource,
                        what=what,
                    )
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                        self.bytes_downloaded += len(chunk)
                if expected is not None and size != expected:
                    raise ExportError(
                        f"the {what} download of {resource} was cut short: {size} of {expected} bytes",
                        resource=resource,
                        what=what,
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Never include str(exc): aiohttp puts the request URL (with its signature) in messages.
            raise ExportError(
                f"downloading the {what} of {resource} failed: {type(exc).__name__}",
                resource=resource,
                what=what,
            ) from None
        return Downloaded(path=dest, size=size, sha256=digest.hexdigest())
