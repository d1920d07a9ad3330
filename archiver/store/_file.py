"""The ``file://`` store: the archive as a directory tree on a local (POSIX) file system.

Why a file store: tests, air-gapped copies and a quick local backup need the same archive layout
without S3. A key ``a/b/c`` is the file ``ROOT/a/b/c``; directories exist only while they hold
objects (``delete`` prunes empty ones, never the root). The root and every directory are 0700,
every object 0600: an archive holds private workflow definitions.

Writes follow :mod:`archiver.store._local`: a temporary file (``.~tmp-*``) in the destination
directory, fsync, publish with ``os.link`` for ``if_absent=True`` (atomic, refuses an existing name)
or ``os.replace`` otherwise, fsync the directory. A crashed writer leaves only temporary files,
which no key can name, ``list`` skips, and :meth:`FileStore.cleanup_temporary` removes.

Symlinks: the store never follows one below its root (the root itself may be a symlink). Every
operation checks each directory on the way to its key with ``lstat`` and opens objects with
``O_NOFOLLOW``; a symlink met on the way, or listed, is refused with a :class:`StoreError` naming it.
``list`` yields every object it can reach and then raises naming what it could not (a symlink, a
special file), so a reader counts it as a problem and prune never decides on a partial listing.
This guards against a misconfigured or planted link, not against a concurrent attacker who can
already write to the store's directory.

Limits: the file system must support hard links (any local POSIX one does); a key cannot be both
an object and a prefix of other keys (``a`` and ``a/b``), which S3 allows; files and directories
whose names are not valid key segments are ignored by ``list``.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import itertools
import os
import stat as stat_mod
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO, NamedTuple, TypeVar

from .._errors import ObjectNotFound, StoreError, UsageError
from ._base import ObjectInfo, check_key
from ._hop import in_worker
from ._identity import NoArchive
from ._local import (
    DIR_MODE,
    TEMP_PREFIX,
    copy_file_atomic,
    copy_stream_atomic,
    fsync_dir,
    in_thread,
    make_dirs,
    new_temp,
    publish_bytes,
)
from ._open import check_prefix, is_key_segment

__all__ = ["FileStore"]

_READ_ALL_LIMIT = 1 << 30
_LIST_BATCH = 2000  # objects listed per thread hop
T = TypeVar("T")


class _Entry(NamedTuple):
    sort_key: str  # a directory sorts as "name/", so the walk yields keys in lexicographic order
    name: str
    is_dir: bool
    size: int
    mtime: float


def _scan(directory: Path, start: str, refused: builtins.list[str], rel: str) -> builtins.list[_Entry]:
    """The entries of one directory whose names start with ``start``, in key order.

    Symlinks and special files are not entries: their keys go to ``refused``.
    """
    entries: builtins.list[_Entry] = []
    try:
        it = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return entries
    with it:
        for e in it:
            if not e.name.startswith(start) or e.name.startswith(TEMP_PREFIX) or not is_key_segment(e.name):
                continue
            st = e.stat(follow_symlinks=False)
            if stat_mod.S_ISDIR(st.st_mode):
                entries.append(_Entry(e.name + "/", e.name, True, 0, st.st_mtime))
            elif stat_mod.S_ISREG(st.st_mode):
                entries.append(_Entry(e.name, e.name, False, st.st_size, st.st_mtime))
            else:
                refused.append(rel + e.name)
    entries.sort()
    return entries


def _walk(root: Path, base: str, start: str, refused: builtins.list[str]) -> Iterator[ObjectInfo]:
    """Every object below the directory ``base`` whose name there starts with ``start``, in key
    order (depth first); what is not a directory or regular file goes to ``refused``."""
    if base:
        _check_path(root, base, final=True)
    top = base + "/" if base else ""
    stack = [(top, iter(_scan(root / base if base else root, start, refused, top)))]
    while stack:
        rel, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        key = rel + entry.name
        if entry.is_dir:
            stack.append((key + "/", iter(_scan(root / key, "", refused, key + "/"))))
        else:
            yield ObjectInfo(key=key, size=entry.size, modified=_mtime(entry.mtime))


def _take(walk: Iterator[ObjectInfo], count: int) -> builtins.list[ObjectInfo]:
    return builtins.list(itertools.islice(walk, count))


def _refusal(root: Path, rel: str, key: str | None) -> StoreError:
    where = root / rel
    if where.is_symlink():
        return StoreError(
            f"refusing to follow the symlink {rel} in the store {root.as_uri()} "
            f"(it points to {os.readlink(where)}): a store holds only directories and regular files",
            key=key,
        )
    return StoreError(f"{rel} in the store {root.as_uri()} is not a regular file or directory", key=key)


def _check_path(root: Path, key: str, *, final: bool) -> None:
    """Refuse ``key`` if a directory on its way (and with ``final``, itself) is a symlink."""
    segments = key.split("/")
    upto = len(segments) if final else len(segments) - 1
    here = root
    for i in range(upto):
        here = here / segments[i]
        try:
            st = os.lstat(here)
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat_mod.S_ISLNK(st.st_mode):
            raise _refusal(root, "/".join(segments[: i + 1]), key)


def _mtime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class FileStore:
    """A :class:`~archiver.store.Store` kept in a local directory. Open it with ``open_store``."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._root_str = str(root)
        self._prefix = "" if self._root_str == "/" else self._root_str  # + "/" + a key: its path
        self._closed = False
        # Directories whose new entries are not yet durable (see defer_dir_sync), or None: at once.
        self._unsynced: set[str] | None = None
        self._deferring = 0  # runs in this process deferring (an org-wide backup runs several)

    @classmethod
    async def open(cls, root: Path, *, create: bool = True) -> FileStore:
        """Open the store at ``root`` (made absolute).

        With ``create``, a missing directory is made 0700, and so is every missing parent (never
        left to the umask). Without it (readers), nothing is created: a missing directory is
        :class:`~archiver.store.NoArchive`.
        """

        def find() -> Path:
            path = Path(os.path.abspath(root))
            if path.is_dir():
                return path
            if not create:
                raise NoArchive(f"no archive at {path.as_uri()}: there is no such directory")
            make_dirs(path, Path(path.anchor))
            os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
            return path

        with _errors(f"open the store at {root}"):
            return cls(await in_thread(find))

    @property
    def url(self) -> str:
        return self._root.as_uri()

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        return self._root / self._key(key)

    def _key(self, key: str) -> str:
        if self._closed:
            raise StoreError(f"store {self.url} is closed", key=key)
        return check_key(key)

    # -- writing --------------------------------------------------------------------------------

    async def put_file(self, key: str, path: Path, *, if_absent: bool = True) -> bool:
        final = self._path(key)
        with _errors(f"put {key}", key=key):
            await in_thread(partial(_check_path, self._root, key, final=True))
            if if_absent and await in_thread(partial(os.path.lexists, final)):
                return False  # saves copying a large file; the link in commit() is the real guard
            return await copy_file_atomic(
                final, Path(path), if_absent=if_absent, root=self._root, sync_dir=self._sync_dir
            )

    async def put_bytes(self, key: str, data: bytes, *, if_absent: bool = True) -> bool:
        self._key(key)
        with _errors(f"put {key}", key=key):
            written, _ = await in_thread(
                partial(self._put, key, partial(_as_built, data), if_absent=if_absent)
            )
            return written

    async def put_built(self, key: str, build: Callable[[], tuple[bytes, T]]) -> tuple[bool, T | None]:
        """``build()`` an object's bytes and write them if ``key`` is absent, in one thread hop.

        Returns ``(False, None)`` without building when the key exists already.
        """
        self._key(key)
        with _errors(f"put {key}", key=key):
            return await in_worker(partial(self._put, key, build, if_absent=True))

    def _put(
        self, key: str, build: Callable[[], tuple[bytes, T]], *, if_absent: bool
    ) -> tuple[bool, T | None]:
        """Write ``build()``'s bytes under ``key`` (in a worker thread, all file-system work of it).

        The way to ``key`` is checked as :func:`_check_path` does (no symlink on it, or at it);
        an existing ``key`` with ``if_absent`` is ``(False, None)`` before anything is built. The
        missing directories are made (0700) only once the bytes are built, each new entry synced
        with :meth:`_sync_dir`; the file is written as :func:`publish_bytes` says. Paths are
        strings here: this runs once per bundle, and pathlib's parsing cost more than the writing.
        """
        root = self._prefix
        segments = key.split("/")
        last = len(segments) - 1
        here = root
        missing = last  # the first segment (a directory, or the name itself) that does not exist
        for i, segment in enumerate(segments):
            here = f"{here}/{segment}"
            try:
                mode = os.lstat(here).st_mode
            except (FileNotFoundError, NotADirectoryError):
                missing = i
                break
            if stat_mod.S_ISLNK(mode):
                raise _refusal(self._root, "/".join(segments[: i + 1]), key)
            if i < last and not stat_mod.S_ISDIR(mode):
                raise FileExistsError(errno.EEXIST, "File exists", here)  # a file where a directory goes
        else:
            if if_absent:
                return False, None
        data, extra = build()
        directory = self._dir(segments, last)
        for attempt in range(3):
            self._make_dirs(segments, missing)
            try:
                fd, tmp = new_temp(directory)
                break
            except FileNotFoundError:
                # A concurrent delete pruned a directory between making it and now: make them again.
                if attempt == 2:
                    raise
                missing = 0
        final = f"{directory}/{segments[last]}"
        return publish_bytes(fd, tmp, final, data, if_absent=if_absent, sync_dir=self._sync_dir), extra

    def _dir(self, segments: builtins.list[str], upto: int) -> str:
        """The directory ``segments[:upto]`` below the root, as a string."""
        return f"{self._prefix}/{'/'.join(segments[:upto])}" if upto else self._root_str

    def _make_dirs(self, segments: builtins.list[str], first: int) -> None:
        """Make the directories ``segments[first:-1]`` below ``root`` (0700), syncing each new entry."""
        parent = self._dir(segments, first)
        for upto in range(first + 1, len(segments)):
            here = self._dir(segments, upto)
            try:
                os.mkdir(here, DIR_MODE)
            except FileExistsError:
                if not os.path.isdir(here):
                    raise
            else:
                self._sync_dir(parent)
            parent = here

    # -- durability of directory entries ---------------------------------------------------------

    def defer_dir_sync(self, defer: bool) -> None:
        """Start (or, with ``False``, end) deferring the fsync of directories that got a new entry:
        a backup makes them durable in one pass with :meth:`sync_dirs` before it writes its
        snapshot (docs/format.md, "Durability"). The data of every file is still fsynced before its
        name is published. Nested: deferral ends when the last run that started it ends it."""
        self._deferring = self._deferring + 1 if defer else max(self._deferring - 1, 0)
        if self._deferring and self._unsynced is None:
            self._unsynced = set()
        elif not self._deferring:
            self._unsynced = None

    def _sync_dir(self, path: str | Path) -> None:
        pending = self._unsynced
        if pending is None:
            fsync_dir(path)
        else:
            pending.add(os.fspath(path))

    async def sync_dirs(self, keys: Iterable[str] = ()) -> None:
        """Make durable every directory entry written while deferred, and every directory on the
        way to ``keys`` (objects other processes wrote), deepest first, in one thread hop."""
        pending, self._unsynced = self._unsynced, (set() if self._unsynced is not None else None)
        dirs = set(pending or ())
        for key in keys:
            segments = self._key(key).split("/")
            dirs.update(self._dir(segments, upto) for upto in range(len(segments)))

        def work() -> None:
            for path in sorted(dirs, key=lambda p: p.count("/"), reverse=True):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    fsync_dir(path)

        with _errors("make the store's new directory entries durable"):
            await in_thread(work)

    # -- reading --------------------------------------------------------------------------------

    def open_read(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise UsageError(f"chunk_size must be positive, not {chunk_size}")
        return self._read(key, self._path(key), chunk_size)

    async def _read(self, key: str, path: Path, chunk_size: int) -> AsyncIterator[bytes]:
        with _errors(f"read {key}", key=key, reading=True):
            f: BinaryIO = await in_thread(partial(self._open_object, key, path), cleanup=_close)
        try:
            while True:
                with _errors(f"read {key}", key=key):
                    chunk = await in_thread(partial(f.read, chunk_size))
                if not chunk:
                    return
                yield chunk
        finally:
            f.close()

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)

        def read() -> bytes:
            with self._open_object(key, path) as f:
                return f.read(_READ_ALL_LIMIT)

        with _errors(f"read {key}", key=key, reading=True):
            return await in_thread(read)

    async def read_with(self, key: str, reader: Callable[[BinaryIO], T]) -> T:
        """Open the object and return ``reader(stream)``, in one thread hop and without a copy.

        For readers that take the object whole (restore planning reads each bundle this way).
        The stream is the object's own file, opened as :meth:`open_read` opens it; a file-system
        error while opening or reading it is a store error (the reader should turn its own, such
        as writing elsewhere, into errors of its kind), and the reader's other errors propagate.
        """
        path = self._path(key)

        def work() -> T:
            with _errors(f"read {key}", key=key, reading=True):
                f = self._open_object(key, path)
            with f, _errors(f"read {key}", key=key):
                return reader(f)

        return await in_thread(work)

    async def download(self, key: str, path: Path) -> None:
        source = self._path(key)
        with _errors(f"download {key} to {path}", key=key, reading=True):
            src = await in_thread(partial(self._open_object, key, source), cleanup=_close)
        with _errors(f"download {key} to {path}", key=key), src:
            await copy_stream_atomic(Path(path), src, if_absent=False)

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not os.path.lexists(path):  # noqa: ASYNC240 (one lstat: cheaper than the hop it saves)
            # One lstat on the event loop instead of a thread hop (the backup asks this of every
            # new bundle): nothing there, so nothing to refuse either; a write still checks the way.
            return None

        def do_stat() -> ObjectInfo | None:
            _check_path(self._root, key, final=True)
            try:
                st = os.stat(path, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                return None
            if stat_mod.S_ISDIR(st.st_mode):
                return None  # a prefix of other keys, not an object
            if not stat_mod.S_ISREG(st.st_mode):
                raise _refusal(self._root, key, key)
            return ObjectInfo(key=key, size=st.st_size, modified=_mtime(st.st_mtime))

        with _errors(f"stat {key}", key=key):
            return await in_thread(do_stat)

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        check_prefix(prefix)
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        return self._list(prefix)

    async def _list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        # The walk runs in worker threads, up to _LIST_BATCH objects a hop (however many
        # directories that takes): memory is bounded by depth x directory size plus one batch.
        base, _, start = prefix.rpartition("/")
        refused: builtins.list[str] = []
        walk = _walk(self._root, base, start, refused)
        while True:
            with _errors(f"list {prefix!r}"):
                batch = await in_thread(partial(_take, walk, _LIST_BATCH))
            for info in batch:
                yield info
            if len(batch) < _LIST_BATCH:
                break
        if refused:
            first = await in_thread(partial(_refusal, self._root, refused[0], refused[0]))
            more = f" ({len(refused) - 1} more such entries)" if len(refused) > 1 else ""
            what = prefix or "the store"
            raise StoreError(f"cannot list {what} completely: {first.message}{more}", key=refused[0])

    # -- deleting -------------------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        path = self._path(key)

        def remove() -> None:
            _check_path(self._root, key, final=True)
            try:
                path.unlink()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return
            self._prune(path.parent)

        with _errors(f"delete {key}", key=key):
            await in_thread(remove)

    def _prune(self, directory: Path) -> None:
        """Remove empty directories from ``directory`` up to, not including, the root."""
        while directory != self._root and self._root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return  # not empty (or already gone): stop
            directory = directory.parent

    async def cleanup_temporary(self, older_than: float) -> int:
        """Remove temporary files a crashed writer left, if older than ``older_than`` seconds.

        Keep ``older_than`` well above the longest upload time: a live writer's temporary file must
        not be removed. Empty directories left behind are pruned. Returns how many files went.
        """
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        cutoff = time.time() - older_than

        def sweep() -> int:
            removed = 0
            for dirpath, _dirs, files in os.walk(self._root):
                for name in files:
                    if not name.startswith(TEMP_PREFIX):
                        continue
                    p = Path(dirpath, name)
                    try:
                        if p.lstat().st_mtime < cutoff:
                            p.unlink()
                            removed += 1
                            self._prune(p.parent)
                    except FileNotFoundError:
                        continue
            return removed

        with _errors("clean up temporary files"):
            return await in_thread(sweep)

    async def aclose(self) -> None:
        self._closed = True

    def _open_object(self, key: str, path: Path) -> BinaryIO:
        """Open an object for reading: a regular file, reached without following any symlink."""
        _check_path(self._root, key, final=False)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refusal(self._root, key, key) from exc
            raise
        f = os.fdopen(fd, "rb")
        try:
            mode = os.fstat(f.fileno()).st_mode
            if stat_mod.S_ISDIR(mode):
                raise FileNotFoundError(path)
            if not stat_mod.S_ISREG(mode):
                raise _refusal(self._root, key, key)
        except BaseException:
            f.close()
            raise
        return f


def _as_built(data: bytes) -> tuple[bytes, None]:
    return data, None


def _close(f: BinaryIO) -> None:
    f.close()


@contextmanager
def _errors(what: str, *, key: str | None = None, reading: bool = False) -> Iterator[None]:
    """Translate file-system errors into the archiver error tree (the only place that does).

    Only when ``reading`` the object ``key`` does a missing file mean :class:`ObjectNotFound`; when
    writing, a missing source file or destination directory is a plain :class:`StoreError`.
    """
    try:
        yield
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        if key is None or not reading:
            raise StoreError(f"cannot {what}: {exc.strerror or exc}", key=key) from exc
        raise ObjectNotFound(f"no object {key!r} in the store", key=key) from exc
    except OSError as exc:
        raise StoreError(f"cannot {what}: {exc.strerror or exc}", key=key) from exc
