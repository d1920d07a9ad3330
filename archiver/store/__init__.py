"""Archive stores, chosen by URL scheme: ``file://PATH`` (or a bare path) and ``s3://bucket/prefix``.

Use :func:`open_store` as ``async with open_store(url, StoreOptions(...)) as store``; every backend
implements the :class:`Store` protocol and its invariants (see ``_base``). Commands use
:func:`open_archive`, which also checks (readers) or writes (writers) the store's identity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ._base import ObjectInfo, Store, check_key
from ._file import FileStore
from ._identity import CONFIG_KEY, NoArchive, StoreConfig, open_archive, read_config, require_archive
from ._open import open_store
from ._options import StoreOptions

if TYPE_CHECKING:
    from ._s3 import S3Store


# the S3 backend imports aiobotocore and botocore, which a command on a file store never needs
__getattr__ = lazy_names(__name__, {"S3Store": "_s3"})


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
