"""Repair notes: the record that a bundle's bytes were replaced by a repair, and by what.

Snapshots record each bundle's size and SHA-256. A repaired bundle holds the same state (the same
key) but, re-exported and recompressed, possibly other bytes. A note
``repairs/<bundle key without bundles/ and .tar.zst>/<new sha256>.json`` says "this key may also
hold these bytes": readers that compare a bundle with its snapshots (verify, restore) accept a
size and SHA-256 that a note for the key lists. A note is written before the bundle is replaced
(content first, then what it vouches for... here the note only widens what is accepted, so a crash
between the two leaves a damaged bundle that still fails its check) and deleted with the bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .._errors import ObjectNotFound, StoreError
from .._jsonutil import load_json_object, pretty_json, rfc3339
from .._layout import parse_bundle_key
from .._version import __version__
from ..store import Store
from ..store._small import get_small

__all__ = ["REPAIRS_PREFIX", "RepairNote", "accepted", "load_notes", "note_key", "notes_prefix", "write_note"]

REPAIRS_PREFIX = "repairs/"
_FORMAT = "omics-archiver-repair"
_LIMIT = 64 << 10
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RepairNote:
    key: str
    size: int
    sha256: str
    replaced_size: int | None
    replaced_sha256: str | None
    repaired_at: str


def notes_prefix(bundle_key: str) -> str:
    """Where the notes of ``bundle_key`` live (with the final ``/``)."""
    parse_bundle_key(bundle_key)
    return REPAIRS_PREFIX + bundle_key[len("bundles/") : -len(".tar.zst")] + "/"


def note_key(bundle_key: str, sha256: str) -> str:
    return notes_prefix(bundle_key) + f"{sha256}.json"


async def write_note(
    store: Store, bundle_key: str, *, size: int, sha256: str, replaced: tuple[int, str] | None, now: datetime
) -> str:
    doc = {
        "format": _FORMAT,
        "formatVersion": 1,
        "toolVersion": __version__,
        "key": bundle_key,
        "size": size,
        "sha256": sha256,
        "replaced": {"size": replaced[0], "sha256": replaced[1]} if replaced else None,
        "repairedAt": rfc3339(now),
    }
    key = note_key(bundle_key, sha256)
    await store.put_bytes(key, pretty_json(doc), if_absent=True)
    return key


def _parse(key: str, raw: bytes) -> RepairNote:
    doc: dict[str, Any] = load_json_object(raw, f"repair note {key}")
    size, sha = doc.get("size"), doc.get("sha256")
    bundle = doc.get("key")
    if (
        doc.get("format") != _FORMAT
        or doc.get("formatVersion") != 1
        or not isinstance(bundle, str)
        or not isinstance(size, int)
        or isinstance(size, bool)
        or size < 0
        or not isinstance(sha, str)
        or not _SHA256.match(sha)
    ):
        raise ValueError(f"repair note {key} is not a valid repair note")
    if note_key(bundle, sha) != key:
        raise ValueError(f"repair note {key} names another bundle or SHA-256 than its key")
    was = doc.get("replaced")
    replaced: dict[str, Any] = was if isinstance(was, dict) else {}
    return RepairNote(
        key=bundle,
        size=size,
        sha256=sha,
        replaced_size=replaced.get("size") if isinstance(replaced.get("size"), int) else None,
        replaced_sha256=replaced.get("sha256") if isinstance(replaced.get("sha256"), str) else None,
        repaired_at=str(doc.get("repairedAt", "")),
    )


async def load_notes(
    store: Store, bundle_key: str | None = None
) -> tuple[dict[str, list[RepairNote]], list[tuple[str, str]]]:
    """Every valid repair note (of one bundle, or all) by bundle key, and the notes that are not."""
    prefix = notes_prefix(bundle_key) if bundle_key else REPAIRS_PREFIX
    notes: dict[str, list[RepairNote]] = {}
    problems: list[tuple[str, str]] = []
    async for info in store.list(prefix):
        try:
            note = _parse(info.key, await get_small(store, info.key, _LIMIT, what="repair note"))
        except ObjectNotFound:
            continue
        except (ValueError, StoreError) as exc:
            problems.append((info.key, str(exc) if isinstance(exc, ValueError) else exc.message))
            continue
        notes.setdefault(note.key, []).append(note)
    return notes, problems


def accepted(notes: dict[str, list[RepairNote]], key: str, size: int, sha256: str | None = None) -> bool:
    """Whether a repair note lets ``key`` hold ``size`` bytes (with that SHA-256, if given)."""
    return any(n.size == size and (sha256 is None or n.sha256 == sha256) for n in notes.get(key, ()))
