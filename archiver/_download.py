"""Downloading exported definitions and READMEs from their presigned URLs.

HealthOmics answers an export with presigned S3 URLs, not content. This module streams them to a
local file in bounded chunks (memory does not grow with the definition's size), hashes while it
writes, and checks the length against ``Content-Length`` so a connection cut short is noticed. An
object that announces a small ``Content-Length`` may be kept in memory instead (most definitions
are a few KiB: a file per download would cost more than the download). A
403 means the URL expired: :class:`ExportExpired` tells the caller to ask the service for a fresh
one. The URL itself never appears in an error message, a log line or a stored file: it carries
credentials in its query string.

A download is one HTTP exchange per definition and per README, so its CPU counts per archived
item: a body whose ``Content-Length`` fits in memory is read in one call rather than chunk by
chunk, its length still checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiohttp
from yarl import URL

from ._errors import ExportError, ExportExpired
from ._slots import Slots

__all__ = ["Downloaded", "Downloader"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A finished download: in the file ``path``, or in memory as ``data`` (then ``path`` is None)."""

    path: Path | None
    size: int
    sha256: str
    data: bytes | None = None


class Downloader:
    """Streams presigned URLs to files. Use as ``async with Downloader() as dl``.

    ``concurrency`` bounds the downloads in flight; each holds at most one chunk (1 MiB) in memory.
    """

    def __init__(self, *, concurrency: int = 4, timeout: float = 900.0) -> None:
        self._sem = Slots(concurrency)
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_read=60.0)
        self._session: aiohttp.ClientSession | None = None
        self.bytes_downloaded = 0

    async def __aenter__(self) -> Downloader:
        self._session = aiohttp.ClientSession(timeout=self._timeout, auto_decompress=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(
        self, url: str, dest: Path, *, resource: str, what: str, memory_limit: int = 0
    ) -> Downloaded:
        """Download ``url`` to ``dest``; raise ExportExpired on 403, ExportError on anything else.

        With ``memory_limit``, an object whose ``Content-Length`` is at most that many bytes is kept
        in memory (:attr:`Downloaded.data`) and ``dest`` is never created.
        """
        if self._session is None:
            raise RuntimeError("Downloader used outside 'async with'")
        async with self._sem:
            try:
                return await self._fetch(
                    self._session, url, dest, resource=resource, what=what, memory_limit=memory_limit
                )
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(dest)
                raise

    async def fetch_bytes(self, url: str, *, resource: str, what: str, limit: int) -> bytes:
        """Download a small object (a README) into memory; more than ``limit`` bytes is an error."""
        if self._session is None:
            raise RuntimeError("Downloader used outside 'async with'")
        buffer = _Buffer(limit, resource=resource, what=what)
        async with self._sem:
            await self._stream(self._session, url, lambda _: buffer, resource=resource, what=what)
        return buffer.whole if buffer.whole is not None else bytes(buffer.data)

    async def _fetch(
        self,
        session: aiohttp.ClientSession,
        url: str,
        dest: Path,
        *,
        resource: str,
        what: str,
        memory_limit: int,
    ) -> Downloaded:
        sinks: list[_FileSink | _Buffer] = []

        def open_sink(length: int | None) -> _Sink:
            if length is not None and length <= memory_limit:
                sinks.append(_Buffer(memory_limit, resource=resource, what=what))
            else:
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                sinks.append(_FileSink(os.fdopen(fd, "wb")))
            return sinks[0]

        try:
            await self._stream(session, url, open_sink, resource=resource, what=what)
        finally:
            if sinks and isinstance(sinks[0], _FileSink):
                sinks[0].close()
        sink = sinks[0]
        if isinstance(sink, _Buffer):
            data = sink.whole if sink.whole is not None else bytes(sink.data)
            return Downloaded(path=None, size=sink.size, sha256=hashlib.sha256(data).hexdigest(), data=data)
        return Downloaded(path=dest, size=sink.size, sha256=sink.digest.hexdigest())

    async def _stream(
        self,
        session: aiohttp.ClientSession,
        url: str,
        open_sink: Callable[[int | None], _Sink],
        *,
        resource: str,
        what: str,
    ) -> None:
        """GET ``url`` into the sink that ``open_sink(Content-Length)`` gives, checking the status
        and that every announced byte arrived."""
        try:
            # encoded=True: sent as signed, not re-quoted (yarl would turn %2F into / in the query)
            async with session.get(URL(url, encoded=True), allow_redirects=True) as resp:
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
                sink = open_sink(expected)
                if expected is not None and isinstance(sink, _Buffer):
                    # announced and bounded: refused before reading if too long, else one read
                    # (aiohttp reads no more than Content-Length, and fails if fewer arrive)
                    sink.check(expected)
                    body = await resp.read()
                    sink.take(body)
                    self.bytes_downloaded += len(body)
                else:
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        sink.write(chunk)
                        self.bytes_downloaded += len(chunk)
                if expected is not None and sink.size != expected:
                    raise ExportError(
                        f"the {what} download of {resource} was cut short: {sink.size} of {expected} bytes",
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


class _Sink:
    size = 0

    def write(self, chunk: bytes) -> None:
        raise NotImplementedError


class _FileSink(_Sink):
    """Writes to an open file, hashing as it goes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.digest = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self._out.write(chunk)

    def close(self) -> None:
        self._out.close()


class _Buffer(_Sink):
    """Collects a small object in memory; refuses to grow past ``limit``."""

    def __init__(self, limit: int, *, resource: str, what: str) -> None:
        self.data = bytearray()
        self._limit = limit
        self._resource = resource
        self._what = what

    whole: bytes | None = None  # the object, when it came in one piece (take)

    def write(self, chunk: bytes) -> None:
        self.check(self.size + len(chunk))
        self.size += len(chunk)
        self.data += chunk

    def check(self, size: int) -> None:
        """Refuse an object of ``size`` bytes if it is over the limit."""
        if size > self._limit:
            raise ExportError(
                f"the {self._what} of {self._resource} is over {self._limit} bytes: not downloaded",
                resource=self._resource,
                what=self._what,
            )

    def take(self, body: bytes) -> None:
        """The whole object, read at once (nothing written before)."""
        assert self.size == 0
        self.check(len(body))
        self.size = len(body)
        self.whole = body
