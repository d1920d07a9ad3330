"""Validation of ``list`` prefixes, shared by every backend.

:func:`archiver.store.check_key` validates whole keys; ``list`` takes a prefix that may end inside a
segment (``bundles/ab`` matches ``bundles/abc/...``) or at a ``/``. Every backend must reject the
same prefixes (``../``, ``/abs``, ``a//b``) with :class:`~archiver.UsageError`, so the check lives here
rather than in each backend.
"""

from __future__ import annotations

import re

from .._errors import UsageError
from ._base import check_key

__all__ = ["check_prefix", "is_key", "is_key_segment"]

_PARTIAL = re.compile(r"^[A-Za-z0-9._=+@,-]*$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._=+@,-]+$")


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
