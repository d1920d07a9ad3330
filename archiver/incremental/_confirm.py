"""The rules of confirming an item by its listing, and of the rotating sweep (see the package)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .._jsonutil import rfc3339

__all__ = ["Sweep", "confirmed_entry", "listing_matches", "seen_fields"]

# An item whose listing shows a change in flight (UPDATING, CREATING) or no export (FAILED,
# DELETED) is always read with a Get call: only settled states are confirmed by listing.
_SETTLED = frozenset({"ACTIVE", "INACTIVE"})


@dataclass(frozen=True, slots=True)
class Sweep:
    """Which unchanged items this run reads in full anyway.

    ``night`` counts the runs of the account and region (the previous snapshot's plus one).
    An item is swept when ``(h + night) % full_every == 0``, ``h`` a stable hash of its uuid, so
    the items are spread evenly over the nights and each is read once every ``full_every`` runs;
    an item confirmed by listing ``full_every - 1`` runs in a row is swept whatever its hash (the
    guarantee holds when ``full_every`` changes between runs). ``full`` sweeps everything.
    """

    night: int = 0
    full_every: int = 1
    full: bool = True

    def due(self, entry: Mapping[str, Any]) -> bool:
        if self.full or self.full_every <= 1:
            return True
        if _count(entry.get("listedRuns")) >= self.full_every - 1:
            return True
        digest = hashlib.sha256(str(entry.get("uuid", "")).encode()).digest()
        return (int.from_bytes(digest[:8], "big") + self.night) % self.full_every == 0

    def as_dict(self) -> dict[str, Any]:
        return {"night": self.night, "fullEvery": self.full_every, "full": self.full}


def seen_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What a snapshot entry records of a Get response, for the next run's listing to compare."""
    seen: dict[str, Any] = {"status": str(meta.get("status", "")), "description": meta.get("description")}
    created = _time(meta.get("creationTime"))
    if created is not None:
        seen["creationTime"] = created
    return seen


def listing_matches(listed: Mapping[str, Any], entry: Mapping[str, Any], *, workflow: bool) -> bool:
    """Whether a ListWorkflows / ListWorkflowVersions item shows the state ``entry`` recorded.

    A field the listing lacks is never taken as equal: without a digest, a status or a creation
    time (or, for a workflow, a name) the item is read with a Get call. An entry written before
    snapshots recorded status and creation time (format 1) never matches.
    """
    status = listed.get("status")
    if status not in _SETTLED or status != entry.get("status"):
        return False
    digest = listed.get("digest")
    if not digest or str(digest) != entry.get("digest"):
        return False
    created = _time(listed.get("creationTime"))
    if created is None or created != _time(entry.get("creationTime")):
        return False
    if workflow:
        if "name" not in listed or str(listed["name"]) != entry.get("name"):
            return False
        # ListWorkflows items carry no description; should they one day, it must match too.
        return "description" not in listed or listed["description"] == entry.get("description")
    # ListWorkflowVersions items carry the description; absent means the version has none.
    return listed.get("description") == entry.get("description")


def confirmed_entry(entry: Mapping[str, Any], *, name: str) -> dict[str, Any]:
    """The snapshot entry of an item confirmed by listing: the archived one, marked so."""
    return {
        **entry,
        "name": name,
        "new": False,
        "confirmedBy": "list",
        "listedRuns": _count(entry.get("listedRuns")) + 1,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _time(value: Any) -> str | None:
    """A creation time as RFC 3339 UTC text, from botocore's datetime or a JSON string."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, str) and value:
        try:
            return rfc3339(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None
