"""``--shard INDEX/COUNT``: which targets this process backs up, with no coordination at all.

AWS Batch array jobs and Kubernetes Indexed Jobs start COUNT copies of the same command and give
each its index; every copy reads the same targets and must take a disjoint share whose union is
all of them. Each target goes to the shard with the highest hash of (target, shard) (rendezvous
hashing): the choice depends on nothing but the target's account and region and the count, so
adding or removing a target moves no other target, and going from COUNT to COUNT + 1 shards
moves only the targets the new shard wins (about 1 in COUNT + 1). That keeps each target on the
same shard night after night, so one shard's log and retries tell one target's story.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import UsageError
from ._model import Target

__all__ = ["Shard", "parse_shard", "select_shard", "shard_of"]


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``INDEX/COUNT``, 0 <= INDEX < COUNT (as ``--shard`` takes it)."""
    index, sep, count = text.partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        raise UsageError(f"--shard expects INDEX/COUNT such as 0/4, got {text!r}") from None
    if not sep:
        raise UsageError(f"--shard expects INDEX/COUNT such as 0/4, got {text!r}")
    return checked(shard, f"--shard {text}")


def checked(shard: Shard, where: str) -> Shard:
    if shard.count < 1:
        raise UsageError(f"{where}: the shard count must be at least 1")
    if not 0 <= shard.index < shard.count:
        raise UsageError(f"{where}: the shard index must be from 0 to {shard.count - 1}")
    return shard


def _score(key: str, index: int) -> int:
    digest = hashlib.sha256(f"{key}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def shard_of(target: Target, count: int) -> int:
    """The shard (0 to ``count - 1``) that backs ``target`` up."""
    return max(range(count), key=lambda i: _score(target.key, i))


def select_shard(targets: Sequence[Target], shard: Shard | None) -> tuple[Target, ...]:
    """The targets of ``shard`` (all of them without one), in their given order."""
    if shard is None or shard.count == 1:
        return tuple(targets)
    return tuple(t for t in targets if shard_of(t, shard.count) == shard.index)
