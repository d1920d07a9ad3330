"""Archive stores, chosen by URL scheme: ``file://PATH`` (or a bare path) and ``s3://bucket/prefix``.

Use :func:`open_store` as ``async with open_store(url, StoreOptions(...)) as store``; every backend
implements the :class:`Store` protocol and its invariants (see ``_base``). Commands use
:func:`open_archive`, which also checks (readers) or writes (writers) the store's identity.
"""

from __future__ import annotations

from ._base import ObjectInfo, Store, check_key
from ._file import FileStore
from ._identity import CONFIG_KEY, NoArchive, StoreConfig, open_archive, read_config, require_archive
from ._open import open_store
from ._s3 import S3Store, StoreOptions

__all__ = [
    "CONFIG_KEY",
    "FileStore",
    "NoArchive",
    "ObjectInfo",
    "S3Store",
    "Store",
    "StoreConfig",
    "StoreOptions",
    "check_key",
    "open_archive",
    "open_store",
    "read_config",
    "require_archive",
]
