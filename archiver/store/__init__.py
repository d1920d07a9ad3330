"""Archive stores, chosen by URL scheme: ``file://PATH`` (or a bare path) and ``s3://bucket/prefix``."""

from __future__ import annotations

from ._base import ObjectInfo, Store, check_key

__all__ = ["ObjectInfo", "Store", "check_key"]
