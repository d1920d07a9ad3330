"""The archived images in a store: an OCI image layout under ``images/``.

Keys (docs/format.md, "Container images")::

    images/oci-layout                      {"imageLayoutVersion": "1.0.0"}
    images/blobs/sha256/<hex>              every blob: layers, image configs, manifests, indexes

A blob's key is its SHA-256, so a blob is written once whatever the number of workflows,
versions and nights that use it, and a reader can check any blob against its key. The index of
one backup run (an OCI image index listing every image manifest the run archived, each annotated
with the reference HealthOmics pulls) is a blob too; the snapshot names it (``images.index``).

Everything read from the store is hostile: :func:`children` parses a manifest or index defensively
(bounded size, digests checked against the ``sha256:<64 hex>`` form, sizes non-negative) and
raises :class:`~archiver.BundleError` with the key on anything else. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .._errors import BundleError

__all__ = [
    "BLOBS",
    "INDEX_LIMIT",
    "INDEX_MEDIA_TYPES",
    "LAYOUT_KEY",
    "MANIFEST_LIMIT",
    "MAX_CHILDREN",
    "OCI_INDEX",
    "REF_NAME",
    "Child",
    "blob_key",
    "children",
    "digest_of_key",
    "index_document",
    "is_digest",
]

PREFIX = "images/"
LAYOUT_KEY = "images/oci-layout"
BLOBS = "images/blobs/sha256/"
MANIFEST_LIMIT = 4 * 1024 * 1024  # ECR's limit for a manifest (PutImage's imageManifest)
INDEX_LIMIT = 16 * 1024 * 1024  # a run's index: MAX_CHILDREN entries of a reference and a digest
MAX_CHILDREN = 10_000
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_MEDIA_TYPES = (OCI_INDEX, DOCKER_LIST)
REF_NAME = "org.opencontainers.image.ref.name"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def blob_key(digest: str) -> str:
    """``images/blobs/sha256/<hex>`` of ``sha256:<hex>``; refuses anything else."""
    if not is_digest(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return BLOBS + digest.split(":", 1)[1]


def digest_of_key(key: str) -> str | None:
    """The digest a blob key stands for, or ``None`` for any other key."""
    if not key.startswith(BLOBS):
        return None
    digest = "sha256:" + key[len(BLOBS) :]
    return digest if is_digest(digest) else None


@dataclass(frozen=True, slots=True)
class Child:
    """A blob a manifest names: a layer or config (``manifest`` False), or a manifest of an index."""

    digest: str
    size: int
    media_type: str | None
    manifest: bool


def _media_type(doc: dict[str, Any], declared: str | None) -> str | None:
    inner = doc.get("mediaType")
    if isinstance(inner, str):
        return inner
    return declared


def children(raw: bytes, *, key: str, media_type: str | None = None) -> list[Child]:
    """The blobs the manifest or index ``raw`` names (config first, then layers; or manifests)."""
    if len(raw) > INDEX_LIMIT:
        raise BundleError(f"the manifest is {len(raw)} bytes, over {INDEX_LIMIT}", key=key)
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BundleError(f"the manifest is not JSON: {type(exc).__name__}", key=key) from None
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
        raise BundleError("the manifest is not a schemaVersion 2 image manifest or index", key=key)
    kind = _media_type(doc, media_type)
    is_index = kind in INDEX_MEDIA_TYPES or (kind is None and "manifests" in doc)
    if is_index:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise BundleError("the image index has no manifests list", key=key)
        return _children(entries, key=key, manifest=True)
    config, layers = doc.get("config"), doc.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        raise BundleError("the image manifest has no config and layers", key=key)
    return _children([config, *layers], key=key, manifest=False)


def _children(entries: list[Any], *, key: str, manifest: bool) -> list[Child]:
    if len(entries) > MAX_CHILDREN:
        raise BundleError(f"the manifest names {len(entries)} blobs, over {MAX_CHILDREN}", key=key)
    found: list[Child] = []
    for entry in entries:
        if not isinstance(entry, dict) or not is_digest(entry.get("digest")):
            raise BundleError("the manifest names a blob without a sha256 digest", key=key)
        size = entry.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BundleError(f"the manifest gives {entry['digest']} no valid size", key=key)
        kind = entry.get("mediaType")
        found.append(Child(entry["digest"], size, kind if isinstance(kind, str) else None, manifest))
    return found


@dataclass(frozen=True, slots=True)
class Archived:
    """One image manifest a run archived, and the reference it was archived for."""

    reference: str
    digest: str
    size: int
    media_type: str


def index_document(archived: Iterable[Archived]) -> bytes:
    """The OCI image index of a run: one entry per (reference, digest), sorted; canonical bytes."""
    seen = sorted(
        {(a.reference, a.digest): a for a in archived}.values(), key=lambda a: (a.reference, a.digest)
    )
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": a.media_type,
                "digest": a.digest,
                "size": a.size,
                "annotations": {REF_NAME: a.reference},
            }
            for a in seen
        ],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def index_entries(raw: bytes, *, key: str) -> list[tuple[str, str]]:
    """``(reference, digest)`` of each manifest a run's index lists (hostile input: checked)."""
    entries = children(raw, key=key, media_type=OCI_INDEX)
    doc = json.loads(raw)
    out = []
    for child, entry in zip(entries, doc["manifests"], strict=True):
        notes = entry.get("annotations") if isinstance(entry, dict) else None
        ref = notes.get(REF_NAME) if isinstance(notes, dict) else None
        out.append((ref if isinstance(ref, str) else "", child.digest))
    return out
