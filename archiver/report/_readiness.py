"""Image readiness: could each workflow of a target run again, as far as its container images go?

Why: HealthOmics runs only images from private ECR, so a restored workflow is only as runnable as
its images. A bundle's manifest records every image its definition names (the image inventory:
resolved with a digest, or unresolved with a reason); a ``backup --images copy`` run also lists,
per snapshot entry, the images it archived in the store (``images/``). This module turns one
snapshot, the manifests of its bundles and which image manifests the store holds into counts per
target and per workflow: images referenced, with a recorded digest, archived in the store, only
recorded (a digest but no copy), and the unresolved ones with their reasons. Pure: the reading
is :mod:`._sources`'s. Everything comes from the store (hostile), so every field is checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

__all__ = ["archived_digests", "image_readiness"]

_MAX_UNRESOLVED = 50  # per workflow
_TEXT = 512


def _text(value: object) -> str:
    text = str(value)
    return text if len(text) <= _TEXT else text[: _TEXT - 1] + "\u2026"


def archived_digests(doc: Mapping[str, Any]) -> set[str]:
    """The image digests a snapshot says its run archived in the store (``bundles[].images``)."""
    found: set[str] = set()
    for entry in doc.get("bundles") or []:
        images = entry.get("images") if isinstance(entry, dict) else None
        for image in images if isinstance(images, list) else []:
            digest = image.get("digest") if isinstance(image, dict) else None
            if isinstance(digest, str):
                found.add(digest)
    return found


class _Workflow:
    def __init__(self, workflow_id: str, name: str) -> None:
        self.workflow_id, self.name = workflow_id, name
        self.images: dict[str, dict[str, Any]] = {}  # reference -> best state seen
        self.inventories = 0
        self.without_inventory = 0

    def add(self, entry: Mapping[str, Any], version: str | None, listed: Set[str], present: Set[str]) -> None:
        reference = entry.get("pullImage") or entry.get("image") or entry.get("expression")
        if not isinstance(reference, str):
            return
        digest = entry.get("digest")
        resolved = entry.get("status") == "resolved" and isinstance(digest, str)
        state = {
            "image": _text(reference),
            "versionName": version,
            "digest": digest if resolved else None,
            "archived": resolved and digest in listed and digest in present,
            "missing": resolved and digest in listed and digest not in present,
            "reason": None if resolved else _text(entry.get("reason") or "unresolved"),
        }
        old = self.images.get(reference)
        rank = (state["archived"], state["digest"] is not None)
        if old is None or rank > (old["archived"], old["digest"] is not None):
            self.images[reference] = state

    def summary(self) -> dict[str, Any]:
        images = list(self.images.values())
        unresolved = [i for i in images if i["digest"] is None]
        return {
            "workflowId": self.workflow_id,
            "name": self.name,
            "referenced": len(images),
            "withDigest": len(images) - len(unresolved),
            "archived": sum(1 for i in images if i["archived"]),
            "missingFromStore": sorted(i["image"] for i in images if i["missing"]),
            "unresolved": [
                {"image": i["image"], "versionName": i["versionName"], "reason": i["reason"]}
                for i in sorted(unresolved, key=lambda i: i["image"])[:_MAX_UNRESOLVED]
            ],
            "unresolvedNotShown": max(0, len(unresolved) - _MAX_UNRESOLVED),
            "bundlesWithoutInventory": self.without_inventory,
        }


def image_readiness(
    doc: Mapping[str, Any],
    manifests: Mapping[str, Mapping[str, Any] | None],
    present: Set[str],
    *,
    max_workflows: int = 500,
) -> dict[str, Any]:
    """Readiness of one snapshot's workflows (``doc``, validated), per workflow and in total.

    ``manifests`` maps bundle keys to their manifests (``None``: could not be read; absent: not
    read); ``present`` holds the image digests whose manifest blob the store holds. An image is
    *archived* when the snapshot lists it as archived and its manifest is in the store (a manifest
    is written after every blob it names); *only recorded* when it has a digest but no copy.
    """
    listed = archived_digests(doc)
    workflows: dict[str, _Workflow] = {}
    unread = 0
    for entry in doc.get("bundles") or []:
        wf_id = str(entry.get("workflowId"))
        flow = workflows.setdefault(wf_id, _Workflow(wf_id, _text(entry.get("name") or "")))
        if entry.get("kind") == "workflow":
            flow.name = _text(entry.get("name") or "")
        manifest = manifests.get(str(entry.get("key")))
        if manifest is None:
            unread += 1
            continue
        inventory = manifest.get("images")
        entries = inventory.get("entries") if isinstance(inventory, dict) else None
        if not isinstance(entries, list):
            flow.without_inventory += 1
            continue
        flow.inventories += 1
        source = manifest.get("source")
        version = source.get("versionName") if isinstance(source, dict) else None
        for image in entries:
            if isinstance(image, dict):
                flow.add(image, version if isinstance(version, str) else None, listed, present)
    rows = [w.summary() for w in sorted(workflows.values(), key=lambda w: (w.name, w.workflow_id))]
    shown = [r for r in rows if r["referenced"] or r["bundlesWithoutInventory"]]
    images_cfg = doc.get("images")
    return {
        "copyRun": isinstance(images_cfg, dict) and images_cfg.get("mode") == "copy",
        "workflows": len(rows),
        "referenced": sum(r["referenced"] for r in rows),
        "withDigest": sum(r["withDigest"] for r in rows),
        "archived": sum(r["archived"] for r in rows),
        "recordedOnly": sum(r["withDigest"] - r["archived"] for r in rows),
        "unresolved": sum(r["referenced"] - r["withDigest"] for r in rows),
        "missingFromStore": sum(len(r["missingFromStore"]) for r in rows),
        "bundlesWithoutInventory": sum(r["bundlesWithoutInventory"] for r in rows),
        "bundlesNotRead": unread,
        "rows": shown[:max_workflows],
        "rowsNotShown": max(0, len(shown) - max_workflows),
    }
