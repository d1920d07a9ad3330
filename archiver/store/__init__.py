"""Archive stores, chosen by URL scheme: ``file://PATH`` (or a bare path) and ``s3://bucket/prefix``.

Use :func:`open_store` as ``async with open_store(url, StoreOptions(...)) as store``; every backend
implements the :class:`Store` protocol and its invariants (see ``_base``).
"""

from __future__ import annotations

from ._base import ObjectInfo, Store, check_key
from ._file import FileStore
from ._open import open_store
from ._s3 import S3Store, StoreOptions

__all__ = ["FileStore", "ObjectInfo", "S3Store", "Store", "StoreOptions", "check_key", "open_store"]
