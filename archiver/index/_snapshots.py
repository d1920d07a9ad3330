"""The snapshot index: every snapshot read once, kept as interned bundle entries in the local cache.

Why: a nightly archive holds hundreds of snapshots, each listing every item (unchanged ones
included), so reading them all on every ``list`` would cost the whole history each time (a year
of 4,000 items is ~1 GB of JSON and ~1.5 million entries). Night to night almost every entry is
the same, so the index keeps each distinct entry once and each snapshot as the list of its entry
numbers (4 bytes each), beside the rest of its document (counts, skipped, failed, filters).

A snapshot enters the index after it was read from the store and passed :func:`parse_snapshot`
(schema and key checks), so it is validated once. The index is a cache entry like the others
(:mod:`archiver._cache`): used only for keys the store has just listed, with the size the store
listed; a file whose checksum, format or schema fingerprint does not match is ignored and rebuilt
from the store; deleting it is always safe.

Materialized documents share their entry dicts (and identical entry lists share one list), so
callers must treat them as read-only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from array import array
from collections.abc import Iterable
from typing import Any

__all__ = ["SnapshotIndex"]

_FORMAT = "omics-archiver-index 1"
_ITEM = "I"  # unsigned 32-bit entry numbers


def _ids(values: Iterable[int]) -> array[int]:
    out = array(_ITEM, values)
    if out.itemsize != 4:  # pragma: no cover - every platform CPython supports has a 4-byte "I"
        raise RuntimeError("array('I') is not 4 bytes here")
    return out


def _text(entry: dict[str, Any]) -> bytes:
    """A 16-byte digest of the entry's canonical JSON: what makes two entries the same."""
    return hashlib.blake2b(
        json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8"), digest_size=16
    ).digest()


class SnapshotIndex:
    """Distinct bundle entries and, per snapshot key, its size, SHA-256, light document and entry ids."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.entries: list[dict[str, Any]] = []
        self._numbers: dict[bytes, int] | None = {}
        # One copy of each string value: the variants of one item's entry (a format-2 entry's
        # ``listedRuns`` changes every night) share their keys, uuids, digests and names.
        self._strings: dict[str, str] = {}
        # key -> (size, sha256 of the snapshot's bytes, document without "bundles", entry ids)
        self.snapshots: dict[str, tuple[int, str, dict[str, Any], array[int]]] = {}
        self._lists: dict[bytes, list[dict[str, Any]]] = {}
        self.changed = False

    # -- building ----------------------------------------------------------------------------

    def _intern(self, entry: dict[str, Any]) -> int:
        if self._numbers is None:  # loaded: numbered on the first snapshot added
            self._numbers = {_text(e): n for n, e in enumerate(self.entries)}
        text = _text(entry)
        n = self._numbers.get(text)
        if n is None:
            n = self._numbers[text] = len(self.entries)
            self.entries.append(self._share(entry))
        return n

    def _share(self, entry: dict[str, Any]) -> dict[str, Any]:
        pool = self._strings
        return {k: pool.setdefault(v, v) if isinstance(v, str) else v for k, v in entry.items()}

    def add(self, key: str, size: int, sha256: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Index a validated snapshot; return its document with entries shared with the index."""
        light = {k: v for k, v in doc.items() if k != "bundles"}
        ids = _ids(self._intern(e) for e in doc["bundles"])
        self.snapshots[key] = (size, sha256, light, ids)
        self.changed = True
        return self._materialize(light, ids)

    def retain(self, keys: Iterable[str]) -> None:
        """Forget snapshots whose key is not in ``keys`` (deleted from the store)."""
        keep = set(keys)
        for key in [k for k in self.snapshots if k not in keep]:
            del self.snapshots[key]
            self.changed = True

    # -- reading -----------------------------------------------------------------------------

    def doc(self, key: str, size: int) -> dict[str, Any] | None:
        """The indexed document of ``key`` if the index holds it with this ``size``, else ``None``."""
        got = self.snapshots.get(key)
        if got is None or got[0] != size:
            return None
        return self._materialize(got[2], got[3])

    def _materialize(self, light: dict[str, Any], ids: array[int]) -> dict[str, Any]:
        raw = ids.tobytes()
        bundles = self._lists.get(raw)
        if bundles is None:
            entries = self.entries
            bundles = self._lists[raw] = [entries[i] for i in ids]
        return {**light, "bundles": bundles}

    # -- persistence -------------------------------------------------------------------------

    def dump(self) -> bytes:
        """The index as bytes: a header line (format, checksum, schema), then compact JSON.

        Entries no snapshot lists any more are dropped and the rest renumbered.
        """
        used = sorted({i for _, _, _, ids in self.snapshots.values() for i in set(ids)})
        renumber = {old: new for new, old in enumerate(used)}
        body = json.dumps(
            {
                "entries": [self.entries[i] for i in used],
                "snapshots": {
                    key: {
                        "size": size,
                        "sha256": sha,
                        "doc": light,
                        "ids": base64.b64encode(_ids(renumber[i] for i in ids).tobytes()).decode("ascii"),
                    }
                    for key, (size, sha, light, ids) in sorted(self.snapshots.items())
                },
            },
            separators=(",", ":"),
        ).encode("utf-8")
        header = f"{_FORMAT} {hashlib.sha256(body).hexdigest()} {self.schema}\n".encode("ascii")
        return header + body

    @classmethod
    def load(cls, data: bytes, schema: str) -> SnapshotIndex:
        """Parse :meth:`dump`'s bytes; ``ValueError`` if they are damaged or of another format or schema."""
        header, sep, body = data.partition(b"\n")
        parts = header.decode("ascii", "replace").rsplit(" ", 2)
        if not sep or len(parts) != 3 or parts[0] != _FORMAT:
            raise ValueError("not a snapshot index of this format")
        if parts[2] != schema:
            raise ValueError("the index was built under another snapshot schema")
        if hashlib.sha256(body).hexdigest() != parts[1]:
            raise ValueError("the index does not match its checksum")
        doc = json.loads(body)
        index = cls(schema)
        if not all(isinstance(e, dict) for e in doc["entries"]):
            raise ValueError("an index entry is not an object")
        index.entries = [index._share(e) for e in doc["entries"]]
        count = len(index.entries)
        for key, snap in doc["snapshots"].items():
            ids = _ids(())
            ids.frombytes(base64.b64decode(snap["ids"], validate=True))
            if ids and max(ids) >= count:
                raise ValueError(f"index of {key} names an entry it does not hold")
            size, sha, light = int(snap["size"]), str(snap["sha256"]), snap["doc"]
            if not isinstance(light, dict):
                raise ValueError(f"index of {key} holds no document")
            index.snapshots[str(key)] = (size, sha, light, ids)
        index._numbers = None
        return index
