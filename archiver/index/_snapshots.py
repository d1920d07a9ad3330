"""The snapshot index: every snapshot read and validated once, kept in SQLite in the local cache.

Why: a nightly archive holds hundreds of snapshots, each listing every item (unchanged ones
included), and an incremental run (snapshot format 2) records in every entry what changes night to
night (``confirmedBy``, ``listedRuns``; ``new`` changes once, after the first listing). Reading
them all on every ``list`` costs the whole history (a year of 4,000 items is ~1.3 GB of JSON and
~1.5 million entries). So the index splits each entry in two:

* its **stable part** (everything but :data:`VOLATILE`: key, uuids, digest, state, names, size,
  status, images...), kept once however many snapshots list it (table ``entries``);
* its **volatile fields**, kept per snapshot as one compressed array aligned with the snapshot's
  entry list (column ``snapshots.volatile``), read only by whoever needs a whole document back.

Each snapshot is a row with its size, SHA-256, document without ``bundles`` (``light``: times,
account, region, counts, filters...) and the number of its entry list (table ``lists``: the stable
entry ids in document order, 4 bytes each, shared by snapshots listing the very same entries).
``snapshots`` reads only the rows; ``list`` the rows, the lists and the stable entries; nothing
browses the volatile arrays. SQLite keeps reads bounded and lets two commands use the index at once
(its file locks with a busy timeout; every write is one short transaction; rows are only ever
inserted or deleted, so a reader never sees half a snapshot).

It is a cache, never a source (:mod:`archiver._cache`): used only for keys the store has just listed,
with the size the store listed; every row carries a BLAKE2b digest of its content, all checked when
the index is opened, and any mismatch, SQLite error, other format or other snapshot schema makes
the caller delete the file and rebuild it from the store (:class:`IndexDamaged`). Entries enter it
only after the snapshot passed the schema (see :mod:`archiver.index._check`), so each snapshot is
validated once. Documents and entries it returns are shared: treat them as read-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["VOLATILE", "IndexDamaged", "IndexedSnapshot", "SnapshotIndex"]

_FORMAT = "omics-archiver-index 3"
_ITEM = "I"  # unsigned 32-bit entry ids
_MAX_ID = 2**32 - 1
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # as json.dumps(separators=...), one encoder
VOLATILE = ("confirmedBy", "listedRuns")
"""Entry fields that change night to night for the same bundle (kept per snapshot, not per entry)."""

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, bundle TEXT NOT NULL, workflow TEXT NOT NULL,
    kind TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_bundle ON entries (bundle);
CREATE TABLE IF NOT EXISTS lists (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, ids BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL, sha256 TEXT NOT NULL, list INTEGER NOT NULL,
    count INTEGER NOT NULL, light TEXT NOT NULL, volatile BLOB NOT NULL, vdigest BLOB NOT NULL,
    digest BLOB NOT NULL
);
"""


class IndexDamaged(Exception):
    """The index file cannot be trusted (damaged, another format or schema): delete and rebuild it."""


def _digest(*parts: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


def _entry_digest(body: str, columns: Iterable[str]) -> bytes:
    """Of an entry's JSON and its columns: checking it proves both without parsing the JSON."""
    return _digest(body.encode("utf-8"), *(c.encode("utf-8") for c in columns))


def _row_digest(
    key: str, size: int, sha256: str, list_id: int, count: int, light: str, vdigest: bytes
) -> bytes:
    head = json.dumps([key, size, sha256, list_id, count]).encode("utf-8")
    return _digest(head, light.encode("utf-8"), vdigest)


def _columns(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """What ``list`` and ``show`` ask of entries without reading them whole: key, workflow uuid, kind."""
    return (str(entry.get("key")), str(entry.get("workflowUuid")), str(entry.get("kind")))


def _ids(values: Iterable[int] = ()) -> array[int]:
    out = array(_ITEM, values)
    if out.itemsize != 4:  # pragma: no cover - every platform CPython supports has a 4-byte "I"
        raise RuntimeError("array('I') is not 4 bytes here")
    return out


@dataclass(frozen=True)
class IndexedSnapshot:
    """One snapshot's row: what ``snapshots`` shows, and the number of its entry list."""

    key: str
    size: int
    sha256: str
    list_id: int
    count: int
    light: dict[str, Any]


class SnapshotIndex:
    """The index in one SQLite database (a file in the cache, or a private temporary one without)."""

    def __init__(self, conn: sqlite3.Connection, schema: str) -> None:
        self._conn = conn
        self.schema = schema
        self._entries: dict[int, dict[str, Any]] = {}
        self._lists: dict[int, array[int]] = {}
        self._known: dict[bytes, int] = {}  # entry digest -> id, learned while adding

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | None, schema: str) -> SnapshotIndex:
        """Open (or create) the index at ``path`` and check every row.

        ``None``: a private temporary database, which SQLite keeps in a temporary file (deleted when
        it is closed) once it outgrows its page cache, so a command without a cache (``verify``)
        does not hold a year of history in memory.

        :class:`IndexDamaged` if it cannot be trusted; the caller deletes it (:func:`remove`).
        """
        try:
            conn = sqlite3.connect("" if path is None else str(path), timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise IndexDamaged(f"cannot open the index: {exc}") from None
        index = cls(conn, schema)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            with index._write():
                for statement in _SCHEMA_SQL.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
                if not meta:
                    conn.executemany(
                        "INSERT INTO meta VALUES (?, ?)", [("format", _FORMAT), ("schema", schema)]
                    )
                elif meta != {"format": _FORMAT, "schema": schema}:
                    raise IndexDamaged("the index is of another format or snapshot schema")
            index._check()
        except (sqlite3.Error, IndexDamaged, ValueError, TypeError) as exc:
            conn.close()
            if isinstance(exc, IndexDamaged):
                raise
            raise IndexDamaged(f"the index is damaged: {exc}") from None
        return index

    @staticmethod
    def remove(path: Path) -> None:
        """Delete the index file and SQLite's companions (another process still using it keeps its copy)."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                Path(str(path) + suffix).unlink()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Any:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _check(self) -> None:
        """Every row's digest, every list's ids and every snapshot's list: or :class:`IndexDamaged`."""
        conn = self._conn
        ids: set[int] = set()
        query = "SELECT id, digest, bundle, workflow, kind, body FROM entries"
        for entry_id, digest, *columns, body in conn.execute(query):
            if not isinstance(body, str) or _entry_digest(body, columns) != digest:
                raise IndexDamaged(f"index entry {entry_id} does not match its digest")
            ids.add(entry_id)
        lists: set[int] = set()
        for list_id, digest, blob in conn.execute("SELECT id, digest, ids FROM lists"):
            if not isinstance(blob, bytes) or len(blob) % 4 or _digest(blob) != digest:
                raise IndexDamaged(f"index list {list_id} does not match its digest")
            got = _ids()
            got.frombytes(blob)
            if not ids.issuperset(got):
                raise IndexDamaged(f"index list {list_id} names an entry the index does not hold")
            lists.add(list_id)
        rows = conn.execute(
            "SELECT key, size, sha256, list, count, light, volatile, vdigest, digest FROM snapshots"
        )
        for key, size, sha, list_id, count, light, volatile, vdigest, digest in rows:
            if not isinstance(volatile, bytes) or _digest(volatile) != vdigest:
                raise IndexDamaged(f"index row of {key} does not match its digest")
            if _row_digest(key, size, sha, list_id, count, light, vdigest) != digest:
                raise IndexDamaged(f"index row of {key} does not match its digest")
            if list_id not in lists:
                raise IndexDamaged(f"index row of {key} names a list the index does not hold")

    # -- building ----------------------------------------------------------------------------

    def holds(self, key: str, size: int) -> bool:
        row = self._conn.execute("SELECT size FROM snapshots WHERE key = ?", (key,)).fetchone()
        return row is not None and row[0] == size

    def add(
        self,
        key: str,
        size: int,
        sha256: str,
        doc: Mapping[str, Any],
        *,
        stable_ok: Callable[[dict[str, Any]], bool],
        volatile_ok: Callable[[str, object], bool],
    ) -> bool:
        """Index the snapshot ``doc`` (whose document without ``bundles`` already passed the schema).

        Each entry's volatile fields must pass ``volatile_ok``, and its stable part ``stable_ok``
        unless the index already holds that very stable part (it passed before). Returns False,
        indexing nothing, if any entry does not pass: the caller reports the schema's verdict.
        """
        bundles = doc["bundles"]
        if not isinstance(bundles, list):
            return False
        light = json.dumps({k: v for k, v in doc.items() if k != "bundles"}, separators=(",", ":"))
        prepared: list[tuple[bytes, str | None, dict[str, Any]]] = []
        volatile: list[dict[str, Any]] = []
        known = self._known
        for entry in bundles:
            if not isinstance(entry, dict):
                return False
            stable = {k: v for k, v in entry.items() if k not in VOLATILE}
            vol = {k: entry[k] for k in VOLATILE if k in entry}
            for name, value in vol.items():
                if not volatile_ok(name, value):
                    return False
            body = _COMPACT.encode(stable)
            digest = _entry_digest(body, _columns(stable))
            prepared.append((digest, None if digest in known else body, stable))
            volatile.append(vol)
        vblob = zlib.compress(json.dumps(volatile, separators=(",", ":")).encode("utf-8"), 6)
        try:
            self._insert(key, size, sha256, light, prepared, vblob, stable_ok)
        except _Refused:
            return False
        return True

    def _insert(
        self,
        key: str,
        size: int,
        sha256: str,
        light: str,
        prepared: list[tuple[bytes, str | None, dict[str, Any]]],
        vblob: bytes,
        stable_ok: Callable[[dict[str, Any]], bool],
    ) -> None:
        conn, known, vdigest = self._conn, self._known, _digest(vblob)
        with self._write():
            ids = _ids()
            for digest, body, stable in prepared:
                entry_id = known.get(digest)
                if entry_id is None:
                    row = conn.execute("SELECT id FROM entries WHERE digest = ?", (digest,)).fetchone()
                    if row is None:
                        if not stable_ok(stable):
                            raise _Refused
                        cur = conn.execute(
                            "INSERT INTO entries (digest, bundle, workflow, kind, body)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (digest, *_columns(stable), body),
                        )
                        entry_id = cur.lastrowid
                    else:
                        entry_id = row[0]
                    assert isinstance(entry_id, int)
                    if entry_id > _MAX_ID:
                        raise IndexDamaged("the index ran out of entry numbers")
                    known[digest] = entry_id
                ids.append(entry_id)
            blob = ids.tobytes()
            list_digest = _digest(blob)
            row = conn.execute("SELECT id FROM lists WHERE digest = ?", (list_digest,)).fetchone()
            if row is None:
                list_id = conn.execute(
                    "INSERT INTO lists (digest, ids) VALUES (?, ?)", (list_digest, blob)
                ).lastrowid
            else:
                list_id = row[0]
            assert isinstance(list_id, int)
            count = len(ids)
            conn.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    size,
                    sha256,
                    list_id,
                    count,
                    light,
                    vblob,
                    vdigest,
                    _row_digest(key, size, sha256, list_id, count, light, vdigest),
                ),
            )

    def retain(self, keys: Iterable[str]) -> int:
        """Forget snapshots whose key is not in ``keys`` (gone from the store), then what only they used."""
        keep = set(keys)
        gone = [k for (k,) in self._conn.execute("SELECT key FROM snapshots") if k not in keep]
        if not gone:
            return 0
        with self._write():
            self._conn.executemany("DELETE FROM snapshots WHERE key = ?", [(k,) for k in gone])
            self._conn.execute("DELETE FROM lists WHERE id NOT IN (SELECT list FROM snapshots)")
            used: set[int] = set()
            for (blob,) in self._conn.execute("SELECT ids FROM lists"):
                got = _ids()
                got.frombytes(blob)
                used.update(got)
            stale = [(i,) for (i,) in self._conn.execute("SELECT id FROM entries") if i not in used]
            self._conn.executemany("DELETE FROM entries WHERE id = ?", stale)
        self._known.clear()
        self._entries.clear()
        self._lists.clear()
        return len(gone)

    # -- reading -----------------------------------------------------------------------------

    def rows(self, keys: Iterable[str]) -> dict[str, IndexedSnapshot]:
        """The rows of ``keys`` the index holds (without their volatile arrays)."""
        wanted = set(keys)
        out: dict[str, IndexedSnapshot] = {}
        query = "SELECT key, size, sha256, list, count, light FROM snapshots"
        for key, size, sha, list_id, count, light in self._conn.execute(query):
            if key in wanted:
                doc = json.loads(light)
                if not isinstance(doc, dict):
                    raise IndexDamaged(f"index row of {key} holds no document")
                out[key] = IndexedSnapshot(key, size, sha, list_id, count, doc)
        return out

    def entry_ids(self, list_id: int) -> array[int]:
        """The stable entry ids of a list, in document order (kept for the life of the index)."""
        got = self._lists.get(list_id)
        if got is None:
            row = self._conn.execute("SELECT ids FROM lists WHERE id = ?", (list_id,)).fetchone()
            if row is None:
                raise IndexDamaged(f"index list {list_id} is gone")
            got = self._lists[list_id] = _ids()
            got.frombytes(row[0])
        return got

    def entries(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The stable entries of ``ids`` (read once, then kept: at most the archive's distinct entries)."""
        cache = self._entries
        missing = sorted({i for i in ids if i not in cache})
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, digest, body, bundle, workflow, kind FROM entries WHERE id IN ({marks})"
            for entry_id, digest, body, *columns in self._conn.execute(query, chunk):
                cache[entry_id] = self._entry(entry_id, digest, body, columns)
        if len(missing) and any(i not in cache for i in missing):
            raise IndexDamaged("an index list names an entry the index does not hold")
        return cache

    @staticmethod
    def _entry(entry_id: int, digest: bytes, body: str, columns: Iterable[str]) -> dict[str, Any]:
        if _entry_digest(body, columns) != digest:
            raise IndexDamaged(f"index entry {entry_id} does not match its digest")
        entry = json.loads(body)
        if not isinstance(entry, dict):
            raise IndexDamaged(f"index entry {entry_id} is not an object")
        return entry

    def kinds(self, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """``(workflow uuid, kind)`` of the entries ``ids``, without reading the entries whole."""
        wanted = sorted(set(ids))
        out: dict[int, tuple[str, str]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, workflow, kind FROM entries WHERE id IN ({marks})"
            out.update((i, (w, k)) for i, w, k in self._conn.execute(query, chunk))
        if len(out) != len(wanted):
            raise IndexDamaged("an index list names an entry the index does not hold")
        return out

    def bundle_keys(self, ids: Iterable[int]) -> dict[int, str]:
        """The bundle key of the entries ``ids``, without reading the entries whole."""
        wanted = sorted(set(ids))
        out: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(self._conn.execute(f"SELECT id, bundle FROM entries WHERE id IN ({marks})", chunk))
        if len(out) != len(wanted):
            raise IndexDamaged("an index list names an entry the index does not hold")
        return out

    def read_entries(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The stable entries of ``ids``, for a caller that walks each once: those not already at
        hand are read and not kept (see :meth:`entries`)."""
        wanted = set(ids)
        out = {i: self._entries[i] for i in wanted if i in self._entries}
        missing = sorted(wanted - out.keys())
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, digest, body, bundle, workflow, kind FROM entries WHERE id IN ({marks})"
            for entry_id, digest, body, *columns in self._conn.execute(query, chunk):
                out[entry_id] = self._entry(entry_id, digest, body, columns)
        if len(out) != len(wanted):
            raise IndexDamaged("an index list names an entry the index does not hold")
        return out

    def ids_of_key(self, key: str) -> set[int]:
        """The ids of the stable entries of the bundle ``key`` (one, unless its writers disagreed)."""
        out = set()
        query = "SELECT id, digest, body, bundle, workflow, kind FROM entries WHERE bundle = ?"
        for entry_id, digest, body, *columns in self._conn.execute(query, (key,)):
            entry = self._entries.get(entry_id) or self._entry(entry_id, digest, body, columns)
            if entry.get("key") == key:
                out.add(entry_id)
        return out

    def stable_entries(self, list_id: int) -> list[dict[str, Any]]:
        ids = self.entry_ids(list_id)
        entries = self.entries(ids)
        return [entries[i] for i in ids]

    def bundles(self, key: str) -> list[dict[str, Any]] | None:
        """The whole ``bundles`` array of ``key`` (stable parts with the volatile fields laid back on)."""
        row = self._conn.execute(
            "SELECT list, volatile, vdigest FROM snapshots WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        list_id, vblob, vdigest = row
        if _digest(vblob) != vdigest:
            raise IndexDamaged(f"index row of {key} does not match its digest")
        volatile = json.loads(zlib.decompress(vblob))
        stable = self.stable_entries(list_id)
        if not isinstance(volatile, list) or len(volatile) != len(stable):
            raise IndexDamaged(f"index row of {key} does not match its list")
        return [{**s, **v} for s, v in zip(stable, volatile, strict=True)]


class _Refused(Exception):
    """An entry did not pass the schema (rolls the snapshot's transaction back)."""
