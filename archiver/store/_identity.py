"""A store's identity: the ``config.json`` that says "an omics-archiver archive lives here".

Why: a reader pointed at a mistyped path or prefix must not report an empty archive as sound (a
weekly ``verify --store /typo`` would pass forever), and must not create the place it was asked to
read. So the first writer writes a small config object at the root of the store (format, format
version, a random id, when it was created), and every reader opens the store through
:func:`open_archive` with ``create=False``, which refuses a location without one, creating
nothing: "no archive at <url>".

Archives written before the config existed (format 1 without ``config.json``) are still archives:
a reader accepts a location that holds at least one object under ``snapshots/``, and the next
writer adds the config. The config is written with ``if_absent``, so two first writers agree on
one id. It is validated by ``schemas/store-config.schema.json``; a config that does not parse or
validate, or names a newer format version, is refused, not ignored.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import _schema
from .._errors import ObjectNotFound, StoreError
from .._jsonutil import load_json_object, pretty_json, rfc3339
from .._version import __version__
from ._base import Store
from ._small import get_small

if TYPE_CHECKING:
    from ._options import StoreOptions

__all__ = [
    "CONFIG_KEY",
    "STORE_FORMAT",
    "STORE_FORMAT_VERSION",
    "NoArchive",
    "StoreConfig",
    "ensure_config",
    "open_archive",
    "read_config",
    "require_archive",
]

CONFIG_KEY = "config.json"
STORE_FORMAT = "omics-archiver-store"
STORE_FORMAT_VERSION = 1
_CONFIG_LIMIT = 64 << 10
STALE_TEMPORARY = 24 * 3600.0
"""A temporary file (file store, judged by its last write) or multipart upload (S3, by when it
started) this old belongs to a killed run, not a live one: no write takes a day."""
log = logging.getLogger(__name__)


class NoArchive(StoreError):
    """The location holds no omics-archiver archive (no config, no snapshot)."""


@dataclass(frozen=True)
class StoreConfig:
    """What ``config.json`` says; ``None`` from :func:`require_archive` for a format-1 archive."""

    id: str
    created: str
    format_version: int


async def read_config(store: Store) -> StoreConfig | None:
    """The store's config, ``None`` if it has none; StoreError if it is damaged or too new."""
    try:
        raw = await get_small(store, CONFIG_KEY, _CONFIG_LIMIT, what="store config")
    except ObjectNotFound:
        return None
    where = f"{store.url}/{CONFIG_KEY}"
    try:
        doc = load_json_object(raw, where)
    except ValueError as exc:
        raise StoreError(f"{exc}: not an omics-archiver store config", key=CONFIG_KEY) from None
    version = doc.get("formatVersion")
    if doc.get("format") == STORE_FORMAT and isinstance(version, int) and version > STORE_FORMAT_VERSION:
        raise StoreError(
            f"the archive at {store.url} has store format {version}, newer than this tool supports "
            f"({STORE_FORMAT_VERSION}): upgrade omics-archiver",
            key=CONFIG_KEY,
        )
    found = _schema.problems("store-config", doc)
    if found:
        raise StoreError(
            f"{where} is not a valid store config at {found[0].path}: {found[0].message}", key=CONFIG_KEY
        )
    return StoreConfig(id=doc["id"], created=doc["created"], format_version=doc["formatVersion"])


def _new_config(now: datetime) -> dict[str, Any]:
    return {
        "format": STORE_FORMAT,
        "formatVersion": STORE_FORMAT_VERSION,
        "id": secrets.token_hex(16),
        "created": rfc3339(now),
        "toolVersion": __version__,
    }


async def ensure_config(store: Store, *, now: datetime | None = None) -> StoreConfig:
    """The store's config, writing a new one first if there is none (writers only)."""
    found = await read_config(store)
    if found is not None:
        return found
    doc = _new_config(now or datetime.now(UTC))
    _schema.check("store-config", doc)
    await store.put_bytes(CONFIG_KEY, pretty_json(doc), if_absent=True)
    again = await read_config(store)  # another first writer may have won: its id is the store's
    if again is None:
        raise StoreError(f"cannot read back {CONFIG_KEY} just written to {store.url}", key=CONFIG_KEY)
    return again


async def require_archive(store: Store) -> StoreConfig | None:
    """The config of the archive in ``store``; ``None`` for a format-1 archive without one.

    Raises :class:`NoArchive` if the location holds neither a config nor any snapshot.
    """
    config = await read_config(store)
    if config is not None:
        return config
    async for _ in store.list("snapshots/"):
        return None
    raise NoArchive(
        f"no archive at {store.url}: it has no {CONFIG_KEY} and no snapshot "
        "(check the path or prefix; the first backup creates an archive)"
    )


@asynccontextmanager
async def open_archive(
    url: str, options: StoreOptions | None = None, *, create: bool, clean: bool | None = None
) -> AsyncIterator[Store]:
    """Open the archive at ``url``: a writer (``create``) makes it if needed, a reader requires it.

    A reader creates nothing: a file store's directory is not made, and a location without an
    archive raises :class:`NoArchive` before anything else happens. With ``clean`` (default: the
    same as ``create``; prune passes it too) the leftovers of killed writers are removed first:
    temporary files and multipart uploads older than :data:`STALE_TEMPORARY` seconds.
    """
    from ._open import open_store

    async with open_store(url, options, create=create) as store:
        if create:
            await ensure_config(store)
        else:
            await require_archive(store)
        if create if clean is None else clean:
            try:
                removed = await store.cleanup_temporary(STALE_TEMPORARY)
            except StoreError as exc:  # e.g. no s3:ListBucketMultipartUploads: not worth failing the run
                log.warning(
                    "cannot remove what killed runs left: %s", exc.message, extra={"event": "leftovers"}
                )
                removed = 0
            if removed:
                log.info(
                    "removed %d temporary object(s) that killed runs left in %s",
                    removed,
                    store.url,
                    extra={"event": "leftover-removed", "count": removed},
                )
        yield store
