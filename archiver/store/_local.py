"""Local file-system primitives shared by the file store and by S3 downloads.

Both backends write local files, and both must keep the store's first invariant: a reader never
sees half of a file. Following restic's "Read and Write Ordering", a file is written under a
temporary name in its destination directory, fsynced, published with ``os.link`` (which fails if
the name exists, so ``if_absent`` can never replace anything) or ``os.replace``, and then the
directory is fsynced so the new name survives a crash.

Blocking calls run in the default executor through :func:`in_thread`, one hop per step of a few
MiB. Unlike a bare ``asyncio.to_thread``, a cancelled :func:`in_thread` waits for its worker
thread to finish the step it is in before the cancellation propagates; so when a cancelled writer
returns, no thread is still writing to a temporary file the writer's cleanup already removed, and
a resource the step opened is closed instead of leaked.

Temporary names start with :data:`TEMP_PREFIX`. It contains ``~``, a character no key segment may
contain (:func:`archiver.store.check_key`), so no key can ever name a temporary file.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import os
import tempfile
from collections.abc import AsyncIterable, Callable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

__all__ = [
    "COPY_CHUNK",
    "TEMP_PREFIX",
    "AtomicFile",
    "copy_file_atomic",
    "copy_stream_atomic",
    "in_thread",
    "new_temp",
    "publish_bytes",
    "settle",
    "write_atomic",
]

T = TypeVar("T")

TEMP_PREFIX = ".~tmp-"
"""Prefix of every temporary file; invisible to ``list``/``stat``/``get`` since no key can match it."""

COPY_CHUNK = 8 << 20
"""Bytes moved per thread hop when copying or flushing a stream to disk."""

DIR_MODE = 0o700
# mkstemp's flags: a new file only, never through a symlink, not inherited by child processes
_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


async def in_thread(func: Callable[[], T], *, cleanup: Callable[[T], object] | None = None) -> T:
    """Run ``func()`` in the default executor and return its result.

    If the caller is cancelled, wait for the thread to finish first, pass a result that will never be
    delivered to ``cleanup`` (e.g. to close a file the thread opened), then propagate the
    cancellation.
    """
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    fut = loop.run_in_executor(None, ctx.run, func)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        await settle(fut)
        if not fut.cancelled() and fut.exception() is None and cleanup is not None:
            cleanup(fut.result())
        raise


async def settle(fut: asyncio.Future[Any]) -> bool:
    """Wait until ``fut`` is done, even through cancellations; return whether any arrived meanwhile.

    For cleanup that must finish (a worker thread's step, aborting a multipart upload). The caller
    re-raises :class:`asyncio.CancelledError` if this returns ``True`` and it is not already doing so.
    """
    cancelled = False
    while not fut.done():
        try:
            await asyncio.wait((fut,))
        except asyncio.CancelledError:
            cancelled = True
    return cancelled


def fsync_dir(path: str | Path) -> None:
    """Make a directory's entries (a new or renamed name) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, root: Path, *, sync_dir: Callable[[Path], None] = fsync_dir) -> None:
    """Create the missing directories from ``root`` (exclusive) down to ``path``, mode 0700, durably
    (``sync_dir`` makes each new entry durable: at once by default, or later, see ``FileStore``)."""
    missing: list[Path] = []
    p = path
    while p != root and not p.is_dir():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if d.is_dir():
                continue
            raise
        sync_dir(d.parent)


def new_temp(directory: str) -> tuple[int, str]:
    """Create a new temporary file (0600) in ``directory``: ``(fd, path)``, as ``tempfile.mkstemp``
    would, without its per-call Python (random name objects, path normalisation).
    ``FileNotFoundError`` if the directory is gone."""
    for _ in range(100):
        path = f"{directory}/{TEMP_PREFIX}{os.urandom(6).hex()}"
        try:
            return os.open(path, _TEMP_FLAGS, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no usable temporary file name found", directory)


def publish_bytes(
    fd: int, tmp: str, final: str, data: bytes, *, if_absent: bool, sync_dir: Callable[[str], None]
) -> bool:
    """Write ``data`` to the new temporary file ``fd``/``tmp``, fsync it, and publish it as ``final``
    (a link that refuses an existing name with ``if_absent``, else a replace); then ``sync_dir``
    the directory. The temporary file is gone afterwards, whatever happens. What
    :class:`AtomicFile` does for a stream, for bytes at hand and in one call."""
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)  # a failed close (EIO on NFS, say) is a failed write too
    except BaseException:
        _unlink(tmp)
        raise
    if if_absent:
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        finally:
            _unlink(tmp)
    else:
        try:
            os.replace(tmp, final)
        except BaseException:
            _unlink(tmp)
            raise
    sync_dir(os.path.dirname(final))
    return True


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class AtomicFile:
    """A temporary file next to ``final`` that becomes ``final`` only on :meth:`commit`.

    Synchronous: every method is meant to run in a worker thread via :func:`in_thread`. With a
    ``root``, missing directories between ``root`` and the destination are created (0700);
    without one the destination directory must exist. The temporary file is created 0600.
    ``sync_dir`` makes a directory's new entries durable (default: ``fsync`` at once); the data of
    the file itself is always fsynced before it is published.
    """

    def __init__(
        self, final: Path, *, root: Path | None = None, sync_dir: Callable[[Path], None] = fsync_dir
    ) -> None:
        self.final = final
        self._sync_dir = sync_dir
        parent = final.parent
        for attempt in range(3):
            if root is not None:
                make_dirs(parent, root, sync_dir=sync_dir)
            try:
                fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=parent)
                break
            except FileNotFoundError:
                # A concurrent delete pruned the directory between make_dirs and mkstemp: try again.
                if root is None or attempt == 2:
                    raise
        self.tmp = Path(name)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert self._file is not None, "AtomicFile already committed or discarded"
        self._file.write(data)

    def copy_from(self, src: BinaryIO, limit: int = COPY_CHUNK) -> int:
        """Copy at most ``limit`` bytes from ``src``; return how many (0 at end of file)."""
        data = src.read(limit)
        self.write(data)
        return len(data)

    def commit(self, *, if_absent: bool) -> bool:
        """Publish the file under its final name; return ``False`` if ``if_absent`` and it exists."""
        assert self._file is not None, "AtomicFile already committed or discarded"
        f, self._file = self._file, None
        try:
            f.flush()
            os.fsync(f.fileno())
        finally:
            f.close()
        if if_absent:
            try:
                os.link(self.tmp, self.final)
            except FileExistsError:
                return False
            finally:
                self.tmp.unlink(missing_ok=True)
        else:
            try:
                os.replace(self.tmp, self.final)
            except BaseException:
                self.tmp.unlink(missing_ok=True)
                raise
        self._sync_dir(self.final.parent)
        return True

    def discard(self) -> None:
        """Close and remove the temporary file; safe to call more than once."""
        f, self._file = self._file, None
        if f is not None:
            f.close()
        self.tmp.unlink(missing_ok=True)


async def write_atomic(
    final: Path, chunks: AsyncIterable[bytes], *, if_absent: bool, root: Path | None = None
) -> bool:
    """Write a stream of chunks to ``final`` atomically; buffer small chunks to hop threads rarely."""
    out = await in_thread(lambda: AtomicFile(final, root=root), cleanup=AtomicFile.discard)
    try:
        buf = bytearray()
        async for chunk in chunks:
            buf += chunk
            if len(buf) >= COPY_CHUNK:
                data, buf = bytes(buf), bytearray()
                await in_thread(partial(out.write, data))
        if buf:
            await in_thread(partial(out.write, buf))
        return await in_thread(partial(out.commit, if_absent=if_absent))
    except BaseException:
        await in_thread(out.discard)
        raise


async def copy_file_atomic(
    final: Path,
    source: Path,
    *,
    if_absent: bool,
    root: Path | None = None,
    sync_dir: Callable[[Path], None] = fsync_dir,
) -> bool:
    """Copy the file ``source`` to ``final`` atomically, :data:`COPY_CHUNK` bytes per thread hop."""

    def start() -> tuple[BinaryIO, AtomicFile]:
        src = source.open("rb")
        try:
            return src, AtomicFile(final, root=root, sync_dir=sync_dir)
        except BaseException:
            src.close()
            raise

    def abandon(pair: tuple[BinaryIO, AtomicFile]) -> None:
        pair[0].close()
        pair[1].discard()

    src, out = await in_thread(start, cleanup=abandon)
    try:
        while await in_thread(partial(out.copy_from, src)):
            pass
        return await in_thread(partial(out.commit, if_absent=if_absent))
    except BaseException:
        await in_thread(out.discard)
        raise
    finally:
        src.close()


async def copy_stream_atomic(
    final: Path, src: BinaryIO, *, if_absent: bool, root: Path | None = None
) -> bool:
    """Copy an open binary file to ``final`` atomically (the caller closes ``src``)."""
    out = await in_thread(lambda: AtomicFile(final, root=root), cleanup=AtomicFile.discard)
    try:
        while await in_thread(partial(out.copy_from, src)):
            pass
        return await in_thread(partial(out.commit, if_absent=if_absent))
    except BaseException:
        await in_thread(out.discard)
        raise
