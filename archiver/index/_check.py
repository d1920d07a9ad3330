"""The snapshot schema, checked piece by piece for a stream of similar snapshots.

Why: a year of nightly snapshots of 4,000 items is ~1.5 million entries, nearly all repeated night
to night, and walking each with jsonschema cost ~5 s a snapshot. The snapshot schema checks each
entry on its own (``bundles.items``: no rule relates two entries, and its ``if/then`` rules read only
``kind``, ``versionName`` and ``key``), and each volatile field (:data:`~._snapshots.VOLATILE`,
optional properties) on its own. So a snapshot passes the schema exactly when its document with an
empty ``bundles`` passes, every entry's stable part passes ``bundles.items``, and every volatile value
passes its property's subschema. The index asks for the stable part only of entries it does not
already hold (they passed when indexed) and remembers the volatile values that passed (a handful).
The equivalence with the whole schema is tested (``tests/test_index.py``).
"""

from __future__ import annotations

from typing import Any

from .. import _schema

__all__ = ["VolatileCheck", "light_ok", "stable_ok"]

_ITEMS = ("properties", "bundles", "items")


def light_ok(doc: dict[str, Any]) -> bool:
    """Whether the snapshot without its entries passes the schema (``bundles`` must be a list)."""
    return isinstance(doc.get("bundles"), list) and _schema.part_is_clean(
        "snapshot", (), {**doc, "bundles": []}
    )


def stable_ok(entry: dict[str, Any]) -> bool:
    """Whether an entry's stable part passes ``bundles.items`` (its volatile fields are optional)."""
    return _schema.part_is_clean("snapshot", _ITEMS, entry)


class VolatileCheck:
    """``volatile_ok(name, value)``: the property's subschema, each distinct value checked once."""

    def __init__(self) -> None:
        self._passed: set[tuple[str, type, object]] = set()

    def __call__(self, name: str, value: object) -> bool:
        hashable = value is None or isinstance(value, str | int | float | bool)
        seen = (name, type(value), value)
        if hashable and seen in self._passed:
            return True
        if not _schema.part_is_clean("snapshot", (*_ITEMS, "properties", name), value):
            return False
        if hashable:
            self._passed.add(seen)
        return True
