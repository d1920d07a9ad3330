"""Reading one bundle for a restore plan: once, in place, in one thread hop.

Planning reads every selected bundle before anything is created, so its cost is paid up front by
the whole restore. Each bundle is therefore read in a single pass in one worker thread: the stored
object is read where it lies (a file store's own file; other stores download it to the work
directory first), hashed while it is read (its SHA-256 is checked against the snapshot), walked
and checked member by member, and its definition ZIP is kept in memory (up to a per-definition
limit, within a budget for the whole plan) or written to the work directory beyond that. The
definition is then checked as a ZIP and searched for image references while still at hand.

Everything read here is hostile: sizes are bounded by the bundle reader and the ZIP checks
(:mod:`archiver._bundle`, :mod:`archiver._zipsafe`), and a problem is returned, not raised, so
that the plan can report it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from .._bundle import BundleContents, read_bundle_from
from .._errors import BundleError, RestoreError
from .._slots import Slots
from .._zipsafe import ZIP_ERRORS, zip_problem
from ..store import FileStore, Store
from ._rewrite import EcrReference, find_references

__all__ = ["BundleRead", "BundleReads", "MemoryBudget", "read_for_plan"]

_CHUNK = 1 << 20


class MemoryBudget:
    """How many bytes of definitions the plan may still keep in memory (the rest goes to disk).

    Used from the event loop only: a read reserves its share before its thread starts and gives
    back what it did not keep.
    """

    def __init__(self, total: int, per_item: int) -> None:
        self.left = total
        self.per_item = per_item

    def reserve(self) -> int:
        share = max(0, min(self.per_item, self.left))
        self.left -= share
        return share

    def give_back(self, share: int, kept: int) -> None:
        self.left += share - kept


class _Hashing:
    """A read-only stream that hashes what passes through it (the bundle as stored)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha256.update(data)
        return data

    def drain(self) -> str:
        while self.read(_CHUNK):
            pass
        return self.sha256.hexdigest()


class _Definition:
    """Where the definition ZIP goes while the bundle is read: memory up to ``limit`` bytes, then
    the file ``spill`` (written from its first byte). Hashed on the way."""

    def __init__(self, spill: Path, limit: int) -> None:
        self.spill = spill
        self.limit = limit
        self.buffer = bytearray()
        self.file: BinaryIO | None = None
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        try:
            if self.file is None and self.size > self.limit:
                self.file = open(self.spill, "wb")  # noqa: SIM115 (closed in finish/discard)
                self.file.write(self.buffer)
                self.buffer = bytearray()
            if self.file is not None:
                self.file.write(data)
            else:
                self.buffer += data
        except OSError as exc:
            raise RestoreError(
                f"cannot write a definition to the work directory ({self.spill}): {exc.strerror or exc}"
            ) from exc
        return len(data)

    def finish(self) -> None:
        try:
            if self.file is None and self.limit == 0:  # nothing may stay in memory: a file, even empty
                self.file = open(self.spill, "wb")  # noqa: SIM115 (closed below)
            if self.file is not None:
                self.file.close()
        except OSError as exc:
            raise RestoreError(
                f"cannot write a definition to the work directory ({self.spill}): {exc.strerror or exc}"
            ) from exc

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
            self.spill.unlink(missing_ok=True)
        self.buffer = bytearray()

    def open(self) -> Path | IO[bytes]:
        return self.spill if self.file is not None else io.BytesIO(self.buffer)


@dataclass(kw_only=True)
class BundleRead:
    """One bundle as planning needs it. ``error``: it could not be read; ``zip_problem``: its
    definition is not a sound ZIP. In both cases no definition is kept (in memory or on disk)."""

    sha256: str
    error: BundleError | None = None
    contents: BundleContents | None = None
    definition: Path | None = None  # the definition on disk, or
    data: bytes | None = field(default=None, repr=False)  # the definition in memory
    size: int = 0
    definition_sha256: str = ""
    zip_problem: str | None = None
    references: list[EcrReference] = field(default_factory=list)

    def discard(self) -> None:
        if self.definition is not None:
            self.definition.unlink(missing_ok=True)
        self.data = None


def _read(stream: IO[bytes], key: str, spill: Path, limit: int, references: bool) -> BundleRead:
    hashing = _Hashing(stream)
    sink = _Definition(spill, limit)
    try:
        contents = read_bundle_from(hashing, definition_to=sink, label=key)  # type: ignore[arg-type]
        sink.finish()
    except BundleError as exc:
        sink.discard()
        return BundleRead(sha256=hashing.drain(), error=exc)
    except BaseException:
        sink.discard()
        raise
    read = BundleRead(
        sha256=hashing.drain(),
        contents=contents,
        definition=spill if sink.file is not None else None,
        data=None if sink.file is not None else bytes(sink.buffer),
        size=sink.size,
        definition_sha256=sink.sha256.hexdigest(),
    )
    try:
        read.zip_problem = zip_problem(sink.open())
        if read.zip_problem is None and references:
            read.references = find_references(sink.open())
    except ZIP_ERRORS as exc:
        read.zip_problem = f"cannot be read as a ZIP: {exc}"
    if read.zip_problem is not None:
        read.discard()
    return read


async def read_for_plan(
    store: Store, key: str, *, spill: Path, memory: MemoryBudget, references: bool = True
) -> BundleRead:
    """Read bundle ``key`` (see the module docstring); its definition goes to memory or ``spill``.

    The definition is checked as a ZIP (``zip_problem``; then nothing is kept) and, with
    ``references``, searched for image references. Raises
    :class:`archiver._errors.StoreError` when the store cannot give the object, and
    :class:`RestoreError` when the work directory cannot take the definition.
    """
    share = memory.reserve()
    read: BundleRead | None = None
    try:
        if isinstance(store, FileStore):
            read = await store.read_with(key, lambda stream: _read(stream, key, spill, share, references))
        else:
            read = await _downloaded(store, key, spill, share, references)
    finally:
        memory.give_back(share, len(read.data) if read is not None and read.data is not None else 0)
    return read


async def _downloaded(store: Store, key: str, spill: Path, limit: int, references: bool) -> BundleRead:
    bundle = spill.with_name(spill.name + ".bundle")
    await store.download(key, bundle)  # written whole or not at all

    def work() -> BundleRead:
        try:
            with open(bundle, "rb") as fh:
                return _read(fh, key, spill, limit, references)
        finally:
            bundle.unlink(missing_ok=True)

    return await asyncio.to_thread(work)


class BundleReads:
    """The reads of a plan's bundles, ``concurrency`` at a time: started as soon as the selection
    is known (while the target's account is still being asked), taken by the plan as it needs them.

    Definitions are kept in memory within ``memory`` bytes in all, each at most ``per_item``; with
    ``rewrite`` all go to ``work`` (as ``<stem>.source.zip``, to be rewritten to ``<stem>.zip``)
    and image references are not searched (the rewritten definition is).
    """

    def __init__(
        self, store: Store, work: Path, *, concurrency: int, memory: int, per_item: int, rewrite: bool
    ) -> None:
        self.store = store
        self.work = work
        self.rewrite = rewrite
        self.memory = MemoryBudget(0 if rewrite else memory, 0 if rewrite else per_item)
        self.slots = Slots(concurrency)
        self.tasks: dict[str, asyncio.Task[BundleRead]] = {}

    def spill(self, entry: Mapping[str, Any]) -> Path:
        stem = str(entry["uuid"]) + "-" + str(entry["stateId"])
        return self.work / (f"{stem}.source.zip" if self.rewrite else f"{stem}.zip")

    def start(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries:
            key = str(entry["key"])
            if key not in self.tasks:
                self.tasks[key] = asyncio.ensure_future(self._read(key, self.spill(entry)))

    async def _read(self, key: str, spill: Path) -> BundleRead:
        async with self.slots:
            return await read_for_plan(
                self.store, key, spill=spill, memory=self.memory, references=not self.rewrite
            )

    async def take(self, entry: Mapping[str, Any]) -> BundleRead:
        """The read of ``entry``'s bundle (started now if it was not); raises as :func:`read_for_plan`."""
        self.start([entry])
        return await self.tasks[str(entry["key"])]

    async def close(self) -> None:
        """Stop the reads no one took (a plan that stopped early); their files go with ``work``."""
        pending = [t for t in self.tasks.values() if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
