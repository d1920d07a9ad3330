"""The image inventory of one workflow or version: what its bundle's manifest says about images.

:func:`build_inventory` puts the pieces together: the images the definition names (``_scan``), the
images the ``containerRegistryMap`` names (each ``imageMappings[].destinationImage``), which private
ECR image HealthOmics would pull for each (the reference itself when it is one; else the
destination of a matching image mapping; else the pull-through cache path of a matching registry
mapping), and that image's manifest digest now (``_resolve``). An image that cannot be resolved is
an entry with ``status: unresolved`` and the reason: the inventory never fails a backup. The result
is the JSON object documented in docs/format.md ("images"), bounded in size whatever the definition
holds: references over :data:`MAX_REFERENCE` characters are not looked up, at most
:data:`MAX_ENTRIES` entries, :data:`MAX_PLACES` places in all (:data:`MAX_PLACES_PER_IMAGE` per
entry) and :data:`MAX_PROBLEMS` problems are kept, and every text is clipped to
:data:`MAX_TEXT` characters, so a hostile definition cannot make the manifest large.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._found import Occurrence
from ._refs import EcrImage, normalize, parse_ecr, same_registry, split_registry
from ._scan import Scan, scan_definition

if TYPE_CHECKING:
    from ._resolve import EcrResolver

__all__ = ["MAX_ENTRIES", "MAX_REFERENCE", "build_inventory"]

MAX_REFERENCE = 512
MAX_ENTRIES = 1000
MAX_PLACES = 5000
MAX_PLACES_PER_IMAGE = 100
MAX_PROBLEMS = 100
MAX_TEXT = 1000
_MAP = "containerRegistryMap"


@dataclass(frozen=True, slots=True)
class _Pull:
    image: str | None
    mapped_by: str | None
    reason: str | None


def _mappings(metadata: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    registry_map = metadata.get(_MAP)
    entries = registry_map.get(key) if isinstance(registry_map, dict) else None
    return [e if isinstance(e, dict) else {} for e in entries] if isinstance(entries, list) else []


def _pull_image(image: str, metadata: Mapping[str, Any], account: str, region: str) -> _Pull:
    """The private ECR image HealthOmics pulls for ``image``, and which mapping says so."""
    full = normalize(image)
    for index, mapping in enumerate(_mappings(metadata, "imageMappings")):
        source = mapping.get("sourceImage")
        if isinstance(source, str) and normalize(source) == full:
            return _Pull(str(mapping.get("destinationImage") or ""), f"{_MAP}.imageMappings[{index}]", None)
    if parse_ecr(image) is not None:
        return _Pull(image, None, None)
    host, path = split_registry(full)
    for index, mapping in enumerate(_mappings(metadata, "registryMappings")):
        upstream, prefix = mapping.get("upstreamRegistryUrl"), mapping.get("ecrRepositoryPrefix")
        if not isinstance(upstream, str) or not isinstance(prefix, str) or not same_registry(host, upstream):
            continue
        upstream_prefix = mapping.get("upstreamRepositoryPrefix")
        if isinstance(upstream_prefix, str) and not path.startswith(upstream_prefix.strip("/") + "/"):
            continue
        owner = mapping.get("ecrAccountId") if isinstance(mapping.get("ecrAccountId"), str) else account
        pulled = f"{owner}.dkr.ecr.{region}.amazonaws.com/{prefix.strip('/')}/{path}"
        return _Pull(pulled, f"{_MAP}.registryMappings[{index}]", None)
    return _Pull(
        None,
        None,
        "not a private ECR image, and no containerRegistryMap entry maps it: HealthOmics cannot pull it",
    )


def _clip(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def _place(occurrence: Occurrence) -> dict[str, Any]:
    return {
        "syntax": occurrence.syntax,
        "file": _clip(occurrence.file),
        "line": occurrence.line,
        "field": None,
        "note": _clip(occurrence.note),
    }


async def build_inventory(
    definition: Path | bytes,
    metadata: Mapping[str, Any],
    *,
    account: str,
    region: str,
    resolver: EcrResolver | None,
    scan: Scan | None = None,
) -> dict[str, Any]:
    """The ``images`` object of a bundle manifest: ``{"entries": [...], "problems": [...]}``.

    ``resolver`` ``None`` records every private ECR image as unresolved (no ECR access configured).
    ``scan``: the definition's scan when the caller has it (``check_and_scan``), not scanned again.
    """
    if scan is None:
        scan = await asyncio.to_thread(scan_definition, definition)
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    problems = list(scan.problems)

    def entry(image: str | None, expression: str | None) -> dict[str, Any] | None:
        key = ("image", image) if image is not None else ("expression", expression or "")
        found = entries.get(key)
        if found is None:
            if len(entries) >= MAX_ENTRIES:
                return None
            found = entries[key] = {
                "image": image,
                "expression": expression,
                "foundIn": [],
                "mappedBy": None,
                "pullImage": None,
                "digest": None,
                "mediaType": None,
                "status": "unresolved",
                "reason": None,
            }
        return found

    places = 0
    for occurrence in scan.occurrences:
        image, expression, note = occurrence.image, occurrence.expression, _clip(occurrence.note)
        if image is not None and len(image) > MAX_REFERENCE:
            expression = image[:MAX_REFERENCE] + "..."
            image = None
            note = f"the reference is longer than {MAX_REFERENCE} characters"
            occurrence = Occurrence(
                occurrence.file, occurrence.line, occurrence.syntax, None, expression, note
            )
        found = entry(image, _clip(expression))
        if found is None:
            problems.append(f"more than {MAX_ENTRIES} distinct images: the rest are not listed")
            break
        if places >= MAX_PLACES:
            problems.append(f"more than {MAX_PLACES} places name images: the rest are not listed")
            break
        if len(found["foundIn"]) >= MAX_PLACES_PER_IMAGE:
            problems.append(
                f"an image is named in more than {MAX_PLACES_PER_IMAGE} places: the rest are not listed"
            )
            continue
        found["foundIn"].append(_place(occurrence))
        places += 1
        if image is None:
            found["reason"] = note
    for index, mapping in enumerate(_mappings(metadata, "imageMappings")):
        destination = mapping.get("destinationImage")
        if isinstance(destination, str) and 0 < len(destination) <= MAX_REFERENCE:
            found = entry(destination, None)
            if found is not None:
                field = f"{_MAP}.imageMappings[{index}].destinationImage"
                found["foundIn"].append(
                    {"syntax": "image-mapping", "file": None, "line": None, "field": field, "note": None}
                )
    await _resolve_all(entries.values(), metadata, account, region, resolver)
    listed = sorted(entries.values(), key=lambda e: (e["image"] is None, e["image"] or e["expression"] or ""))
    for item in listed:
        item["foundIn"].sort(key=lambda p: (p["file"] or "", p["line"] or 0, p["field"] or ""))
    kept = sorted({_clip(p) or "" for p in problems})
    if len(kept) > MAX_PROBLEMS:
        kept = [*kept[: MAX_PROBLEMS - 1], f"and {len(kept) - MAX_PROBLEMS + 1} more problems"]
    return {"entries": listed, "problems": kept}


async def _resolve_all(
    entries: Any, metadata: Mapping[str, Any], account: str, region: str, resolver: EcrResolver | None
) -> None:
    pending: list[tuple[dict[str, Any], EcrImage]] = []
    for item in entries:
        if item["image"] is None:
            continue
        pull = _pull_image(item["image"], metadata, account, region)
        if pull.image is not None and len(pull.image) > MAX_REFERENCE:
            pull = _Pull(None, pull.mapped_by, f"the mapped image is longer than {MAX_REFERENCE} characters")
        item["pullImage"], item["mappedBy"] = pull.image, pull.mapped_by
        if pull.image is None:
            item["reason"] = pull.reason
            continue
        target = parse_ecr(pull.image)
        if target is None:
            item["reason"] = f"the mapped image {pull.image!r} is not a private ECR image reference"
        elif resolver is None:
            item["reason"] = "ECR was not asked (no ECR access configured)"
        else:
            pending.append((item, target))
    if not pending or resolver is None:
        return
    answers = await asyncio.gather(*(resolver.resolve(target) for _, target in pending))
    for (item, _), answer in zip(pending, answers, strict=True):
        item["digest"], item["mediaType"], item["reason"] = answer.digest, answer.media_type, answer.reason
        item["status"] = "resolved" if answer.digest else "unresolved"
