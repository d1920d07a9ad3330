"""A local cache of small immutable store objects (snapshots, bundle summaries), never a source of truth.

Why: ``list``, ``snapshots``, ``show`` and ``report`` read every snapshot of a store. Callers also
keep what they derived from exactly those bytes (a snapshot's schema check, a bundle's manifest).
Snapshots and bundles are immutable once written (``put_*(if_absent=True)``), so a copy kept on
disk stays correct for as long as its key exists in the store. The store stays the only source of truth:

* an entry is used only for a key the store has just *listed*, and only if its size matches what
  the store listed (for whole objects); a key the store no longer lists is dropped from the cache;
* entries are written atomically (temporary file, then rename), so a crash leaves a miss, not a
  half-written entry; an entry that fails to parse is a miss;
* deleting the whole cache directory at any time is always safe: it is rebuilt from the store.

The default location is ``$XDG_CACHE_HOME/omics-archiver/<hash of the store URL>`` (the CLI resolves
the environment; this module takes a path). A ``STORE`` file in it names the store URL, so two
stores never share entries even if a directory is reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["Cache", "cache_dir_for"]

_STORE_FILE = "STORE"
_FORMAT = "omics-archiver-cache 1"


def cache_dir_for(store_url: str, base: Path) -> Path:
    """``base / <first 16 hex digits of SHA-256(store URL)>``: one directory per store."""
    return base / hashlib.sha256(store_url.encode("utf-8")).hexdigest()[:16]


class Cache:
    """Files under ``root/<namespace>/<store key>``; ``Cache(None)`` caches nothing.

    Synchronous and small: entries are a few KiB each, read and written from the event loop
    thread (the cost is dwarfed by the store round trip each entry saves).
    """

    def __init__(self, root: Path | None, *, store_url: str = "") -> None:
        self.root = root
        self.hits = 0
        self.misses = 0
        if root is not None:
            self._claim(root, store_url)

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _claim(self, root: Path, store_url: str) -> None:
        """Make ``root`` this store's cache; entries of another store or format are discarded."""
        marker = root / _STORE_FILE
        expected = f"{_FORMAT}\n{store_url}\n"
        try:
            current = marker.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
            current = None
        if current == expected:
            return
        if root.exists():
            self._wipe(root)
        for attempt in range(3):  # another command claiming it at the same moment may wipe our temp file
            _private_dirs(root)
            try:
                _write_atomic(marker, expected.encode("utf-8"))
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise

    @staticmethod
    def _wipe(root: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(root, topdown=False):
            for name in filenames:
                with contextlib.suppress(FileNotFoundError):
                    Path(dirpath, name).unlink()
            for name in dirnames:
                with contextlib.suppress(OSError):
                    Path(dirpath, name).rmdir()

    def _path(self, namespace: str, key: str) -> Path:
        assert self.root is not None
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
            raise ValueError(f"not a store key: {key!r}")
        return self.root / namespace / key

    def get(self, namespace: str, key: str, *, size: int | None = None) -> bytes | None:
        """The cached bytes of ``key``, or ``None``; with ``size``, only an entry of that size."""
        if self.root is None:
            return None
        try:
            data = self._path(namespace, key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self.misses += 1
            return None
        if size is not None and len(data) != size:
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, namespace: str, key: str, data: bytes) -> None:
        """Store an entry atomically; a cache that cannot be written is silently not used."""
        if self.root is None:
            return
        path = self._path(namespace, key)
        with contextlib.suppress(OSError):
            _private_dirs(path.parent)
            _write_atomic(path, data)

    def file(self, namespace: str, name: str) -> Path | None:
        """A path in the cache for a file its user manages itself (``None``: no usable cache)."""
        if self.root is None:
            return None
        path = self._path(namespace, name)
        with contextlib.suppress(OSError):
            _private_dirs(path.parent)
        return path if path.parent.is_dir() else None

    def discard(self, namespace: str, key: str) -> None:
        if self.root is None:
            return
        with contextlib.suppress(OSError):
            self._path(namespace, key).unlink()

    def retain(self, namespace: str, keys: Iterable[str], *, under: str = "") -> int:
        """Drop the entries of ``namespace`` (below key prefix ``under``) whose key is not in ``keys``."""
        if self.root is None:
            return 0
        keep = set(keys)
        top = self.root / namespace
        removed = 0
        for dirpath, _dirs, filenames in os.walk(top):
            for name in filenames:
                path = Path(dirpath, name)
                key = path.relative_to(top).as_posix()
                if key.startswith(under) and key not in keep:
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed += 1
        return removed


def _private_dirs(path: Path) -> None:
    """Make ``path`` and every missing parent 0700 (``mkdir(parents=True)`` leaves parents to the umask)."""
    missing: list[Path] = []
    p = path
    while not p.is_dir() and p.parent != p:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".~tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
