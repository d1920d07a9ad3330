"""What store names mean, and opening a store from its URL: the one swap point between backends.

Names: :func:`archiver.store.check_key` validates whole keys; ``list`` takes a prefix that may end
inside a segment (``bundles/ab`` matches ``bundles/abc/...``) or at a ``/``. Every backend must
reject the same prefixes (``../``, ``/abs``, ``a//b``) with :class:`~archiver.UsageError` and skip
the same foreign names, so :func:`check_prefix` and :func:`is_key` live here, not in each backend.

As cloud-custodian's ``c7n/output.py`` does, the URL scheme selects the backend: ``file:///abs/path``
or a bare local path (relative or absolute) opens a :class:`FileStore`; ``s3://bucket/prefix`` an
:class:`S3Store`. A bare path that starts like a URL scheme (``s3:bucket``) is taken for a typo:
write ``./s3:bucket`` for such a directory. Anything else is a :class:`~archiver.UsageError` naming
the URL (without any ``user:password@`` part) and the supported schemes. The store, and for S3 its
aiobotocore client, lives exactly as long as the ``async with open_store(...)`` block. Backends are
imported when chosen (they import the name checks from here).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .._errors import UsageError
from ._base import Store, check_key
from ._options import StoreOptions

if TYPE_CHECKING:
    from ._file import FileStore
    from ._s3 import S3Store

__all__ = ["check_prefix", "is_key", "is_key_segment", "open_store", "parse_store_url"]

_PARTIAL = re.compile(r"^[A-Za-z0-9._=+@,-]*$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._=+@,-]+$")
_SUPPORTED = "file:///absolute/path, a local path, or s3://bucket/prefix"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")


def is_key_segment(name: str) -> bool:
    """Whether ``name`` may be one segment of a key (so a file or S3 name is listable)."""
    return name not in (".", "..") and _SEGMENT.match(name) is not None


def is_key(name: str) -> bool:
    """Whether ``name`` is a valid key (as :func:`check_key` would accept), without raising."""
    return all(is_key_segment(seg) for seg in name.split("/"))


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if every complete segment is a valid key segment, else raise UsageError."""
    base, _, partial = prefix.rpartition("/")
    if base or prefix.startswith("/"):
        try:
            check_key(base)
        except UsageError:
            raise UsageError(f"invalid list prefix {prefix!r}: bad directory part {base!r}") from None
    if not _PARTIAL.match(partial):
        raise UsageError(f"invalid list prefix {prefix!r}: bad last segment {partial!r}")
    return prefix


def _safe(url: str) -> str:
    """The URL without a ``user:password@`` part, fit for an error message."""
    return _USERINFO.sub(r"\1", url)


def parse_store_url(url: str) -> tuple[str, str, str]:
    """Split a store URL into ``("file", path, "")`` or ``("s3", bucket, prefix)``; prefix ends in "/"."""
    if not url:
        raise UsageError(f"empty store URL: use {_SUPPORTED}")
    if "://" not in url:
        if _SCHEME.match(url):  # "s3:bucket", "s3:/bucket": a mistyped URL, not a directory name
            raise UsageError(
                f"unsupported store URL {_safe(url)!r}: use {_SUPPORTED} (write ./{url} for a path)"
            )
        return "file", url, ""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("file", "s3"):
        raise UsageError(f"unsupported store URL {_safe(url)!r}: use {_SUPPORTED}")
    if "@" in parts.netloc:
        raise UsageError(f"store URL {_safe(url)!r} must not contain credentials")
    if parts.query or parts.fragment:
        raise UsageError(f"store URL {_safe(url)!r} must not have a query or fragment")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"file URL {url!r} must be file:///absolute/path (no host)")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise UsageError(f"file URL {url!r} must hold an absolute path")
        return "file", path, ""
    bucket = parts.netloc
    if not _BUCKET.match(bucket):
        raise UsageError(f"invalid S3 bucket name {bucket!r} in store URL {url!r}")
    prefix = unquote(parts.path).lstrip("/")
    if prefix:
        prefix = prefix.rstrip("/")
        try:
            check_key(prefix)
        except UsageError:
            raise UsageError(f"invalid prefix {prefix!r} in store URL {url!r}") from None
        prefix += "/"
    return "s3", bucket, prefix


@asynccontextmanager
async def open_store(
    url: str, options: StoreOptions | None = None, *, create: bool = True
) -> AsyncIterator[Store]:
    """Open the store at ``url`` for the duration of an ``async with`` block.

    ``create=False`` opens without making anything (a file store's missing directory is
    :class:`~archiver.store.NoArchive`). Commands open an archive with
    :func:`~archiver.store.open_archive`, which also checks or writes the store's identity.

    ``options`` apply to S3 stores and are ignored by file stores. Raises UsageError for a URL it
    does not understand, StoreError if the store cannot be opened (e.g. the bucket does not exist).
    """
    from ._file import FileStore

    options = options if options is not None else StoreOptions()
    kind, where, prefix = parse_store_url(url)
    store: FileStore | S3Store
    if kind == "file":
        store = await FileStore.open(Path(where), create=create)
    else:
        from ._s3 import S3Store  # the AWS SDK only for a store that needs it

        store = await S3Store.open(where, prefix, options)
    try:
        yield store
    finally:
        await store.aclose()
