"""The options of an S3 store, apart from the S3 backend so that naming them imports no AWS SDK.

A command on a file store (``list``, ``show``, ``verify``...) builds a :class:`StoreOptions` from
its command line as every command does; the S3 backend (``_s3``, aiobotocore and botocore with it)
is imported only when a store URL chooses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._errors import UsageError

__all__ = ["MAX_PART_SIZE", "MIN_PART_SIZE", "StoreOptions"]

MIN_PART_SIZE = 5 << 20
MAX_PART_SIZE = 5 << 30


@dataclass(frozen=True, kw_only=True)
class StoreOptions:
    """Options for S3 stores (ignored by file stores).

    Memory bound: one ``put_file`` holds at most ``max_concurrency x part_size`` bytes of the file
    (64 MiB by default), whatever the file's size; ``open_read`` and ``download`` hold one chunk.
    Files above 10,000 x ``part_size`` use larger parts (S3 allows at most 10,000), raising the
    bound to ``max_concurrency x size / 10,000``.
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    kms_key_id: str | None = None
    object_lock_days: int | None = None
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "COMPLIANCE"
    part_size: int = 16 * 1024 * 1024
    max_concurrency: int = 4

    def __post_init__(self) -> None:
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise UsageError(f"part_size must be between 5 MiB and 5 GiB (S3 limits), not {self.part_size}")
        if self.max_concurrency < 1:
            raise UsageError(f"max_concurrency must be at least 1, not {self.max_concurrency}")
        if self.object_lock_days is not None and self.object_lock_days < 1:
            raise UsageError(f"object_lock_days must be at least 1, not {self.object_lock_days}")
        if self.object_lock_mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise UsageError(
                f"object_lock_mode must be GOVERNANCE or COMPLIANCE, not {self.object_lock_mode!r}"
            )
